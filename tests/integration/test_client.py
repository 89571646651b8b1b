"""The registry client itself against the real registry (what modules build on)."""

import pytest

from ansible_collections.regops.registry.plugins.module_utils._auth import Credentials
from ansible_collections.regops.registry.plugins.module_utils._client import RegistryClient
from ansible_collections.regops.registry.plugins.module_utils._errors import RepositoryNotFoundError
from ansible_collections.regops.registry.plugins.module_utils._reference import parse_registry
from tests.integration.test_tag_set import FQCN, Log
from tests.support.images import skopeo_raw, skopeo_tags


@pytest.fixture
def client(registry):
    return RegistryClient(parse_registry(registry.host), Credentials(registry.username, registry.password, 'test'),
                          ca_path=registry.ca_path)


def test_tag_listing_on_a_registry_that_ignores_paging(ansible, conn, client, registry, images, repo):
    images.push(repo, 'src')
    tags = ['t%02d' % i for i in range(25)]
    assert ansible.module(FQCN, dict(conn, repository=repo, source='src', tags=tags)).result['changed']
    log = Log(registry)
    listed = client.list_tags(repo, page_size=10)
    log.freeze()
    assert sorted(listed) == sorted(tags + ['src']) == skopeo_tags(registry, repo)
    # distribution 2.8 answers all 26 tags to n=10 (in storage order) and sends no Link; asking from the last
    # tag it answered brings nothing new.
    served = [(m, p) for m, p, s in log.entries() if s == 200]
    assert served[0] == ('GET', '/v2/%s/tags/list?n=10' % repo)
    assert len(served) == 2 and served[1][1].startswith('/v2/%s/tags/list?n=10&last=t' % repo)


@pytest.mark.parametrize('fmt,platforms', [('oci', None), ('v2s2', None), ('oci', ['amd64', 'arm64'])])
def test_manifest_bytes_and_digest_match_skopeo(client, registry, images, repo, fmt, platforms):
    digest = images.push(repo, 'img', fmt=fmt, platforms=platforms)
    manifest = client.get_manifest(repo, 'img')
    assert manifest.digest == digest
    assert manifest.content == skopeo_raw(registry, repo, 'img')
    head = client.head_manifest(repo, 'img')
    assert (head.digest, head.media_type, head.size) == (digest, manifest.media_type, manifest.size)
    assert client.get_manifest(repo, digest).content == manifest.content


def test_unknown_repository_tag_listing(client, repo):
    with pytest.raises(RepositoryNotFoundError):
        client.list_tags(repo)


def test_one_session_keeps_the_connection(client, registry, images, repo):
    """Keep-alive: the whole run is served over one TCP connection (one remote port in the registry's log)."""
    images.push(repo, 'img')
    for _i in range(5):
        client.head_manifest(repo, 'img')
    client.list_tags(repo)
    ports = set()
    for line in registry.logs().splitlines():
        if 'useragent=regops.registry' in line and 'response completed' in line and repo in line:
            ports.add(line.split('http.request.remoteaddr="', 1)[1].split('"', 1)[0].rsplit(':', 1)[1])
    assert len(ports) == 1, ports
