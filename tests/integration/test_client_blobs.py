"""Blob operations of the client against the real registries (the ground for manifest_push)."""

import hashlib
import io
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from ansible_collections.regops.registry.plugins.module_utils._auth import Credentials
from ansible_collections.regops.registry.plugins.module_utils._client import RegistryClient
from ansible_collections.regops.registry.plugins.module_utils._errors import RegistryProtocolError
from ansible_collections.regops.registry.plugins.module_utils._reference import parse_registry
from tests.integration.test_tag_set import Log


def client_for(registry):
    return RegistryClient(parse_registry(registry.host), Credentials(registry.username, registry.password, 'test'),
                          ca_path=registry.ca_path)


def blob(size):
    data = os.urandom(size)
    return data, 'sha256:' + hashlib.sha256(data).hexdigest()


def opener(data):
    return lambda: io.BytesIO(data)


def test_small_blob_goes_up_in_one_put(registry, repo):
    client = client_for(registry)
    data, digest = blob(100 * 1024)
    assert client.blob_size(repo, digest) is None
    log = Log(registry)
    client.upload_blob(repo, digest, len(data), opener(data))
    log.freeze()
    assert [(m, s) for m, _p, s in log.writes()] == [('POST', 202), ('PUT', 201)]
    assert client.blob_size(repo, digest) == len(data)
    assert registry.raw('GET', '/v2/%s/blobs/%s' % (repo, digest)).content == data


def test_large_blob_goes_up_in_ordered_chunks(registry, repo, tmp_path):
    client = client_for(registry)
    data, digest = blob(1024 * 1024 + 17)
    path = tmp_path / 'blob'
    path.write_bytes(data)
    log = Log(registry)
    client.upload_blob(repo, digest, len(data), lambda: open(path, 'rb'), chunk_size=256 * 1024, monolithic_limit=512 * 1024)
    log.freeze()
    assert [m for m, _p, _s in log.writes()] == ['POST'] + ['PATCH'] * 5 + ['PUT']
    assert registry.raw('GET', '/v2/%s/blobs/%s' % (repo, digest)).content == data


def test_mount_from_a_sibling_sends_no_bytes(registry, repo):
    client = client_for(registry)
    data, digest = blob(64 * 1024)
    client.upload_blob(repo + '-a', digest, len(data), opener(data))
    log = Log(registry)
    assert client.mount_blob(repo + '-b', digest, repo + '-a') is True
    log.freeze()
    assert [(m, s) for m, _p, s in log.writes()] == [('POST', 201)]
    assert client.blob_size(repo + '-b', digest) == len(data)


def test_failed_mount_cancels_its_session_and_upload_follows(registry, repo):
    client = client_for(registry)
    data, digest = blob(1000)
    log = Log(registry)
    assert client.mount_blob(repo, digest, 'test/does-not-have-it') is False
    log.freeze()
    assert [(m, s) for m, _p, s in log.writes()] == [('POST', 202), ('DELETE', 204)]
    client.upload_blob(repo, digest, len(data), opener(data))
    assert client.blob_size(repo, digest) == len(data)


def test_wrong_digest_is_refused_by_the_registry(registry, repo):
    client = client_for(registry)
    data, _digest = blob(1000)
    wrong = 'sha256:' + hashlib.sha256(b'other').hexdigest()
    with pytest.raises(RegistryProtocolError, match='DIGEST_INVALID'):
        client.upload_blob(repo, wrong, len(data), opener(data))
    assert client.blob_size(repo, wrong) is None


def test_parallel_uploads_share_one_client(registry, repo):
    client = client_for(registry)
    blobs = [blob(32 * 1024 + i) for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda b: client.upload_blob(repo, b[1], len(b[0]), opener(b[0])), blobs))
    assert [client.blob_size(repo, digest) for data, digest in blobs] == [len(data) for data, digest in blobs]


def test_get_blob_reads_a_config(registry, repo):
    client = client_for(registry)
    data, digest = blob(2000)
    client.upload_blob(repo, digest, len(data), opener(data))
    assert client.get_blob(repo, digest) == data


def test_mount_with_bearer_tokens_asks_both_scopes_at_once(token_registry, issuer, repo):
    client = client_for(token_registry)
    data, digest = blob(4096)
    client.upload_blob(repo + '-a', digest, len(data), opener(data))
    issuer.issued.clear()
    assert client.mount_blob(repo + '-b', digest, repo + '-a') is True
    assert issuer.issued == [(token_registry.username, ['repository:%s-b:pull,push' % repo, 'repository:%s-a:pull' % repo],
                              False)]


def test_download_blob_streams_to_a_file_and_checks_the_digest(registry, repo, tmp_path):
    client = client_for(registry)
    data, digest = blob(3 * 1024 * 1024 + 5)
    client.upload_blob(repo, digest, len(data), opener(data))
    target = tmp_path / 'blob'
    assert client.download_blob(repo, digest, str(target)) == len(data)
    assert target.read_bytes() == data


def test_an_empty_blob_goes_up(registry, repo):
    client = client_for(registry)
    data, digest = blob(0)
    client.upload_blob(repo, digest, 0, opener(data))
    assert client.blob_size(repo, digest) == 0


@pytest.mark.parametrize('size,bound', [(30 * 1024 * 1024, 4 * 1024 * 1024), (80 * 1024 * 1024, 24 * 1024 * 1024)])
def test_memory_stays_bounded_whatever_the_blob_size(registry, repo, tmp_path, size, bound):
    """A 30 MiB blob goes in one streamed PUT, an 80 MiB one in 16 MiB chunks: Python's peak allocation stays
    near one chunk, not the blob size."""
    import tracemalloc
    path = tmp_path / 'big'
    hasher = hashlib.sha256()
    with open(path, 'wb') as f:
        for _i in range(size // (1024 * 1024)):
            piece = os.urandom(1024 * 1024)
            hasher.update(piece)
            f.write(piece)
    digest = 'sha256:' + hasher.hexdigest()
    client = client_for(registry)
    client.blob_size(repo, digest)  # authenticate first: only the upload is measured
    tracemalloc.start()
    try:
        client.upload_blob(repo, digest, size, lambda: open(path, 'rb'))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert client.blob_size(repo, digest) == size
    assert peak < bound, peak
