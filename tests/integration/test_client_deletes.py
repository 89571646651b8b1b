"""Catalog and deletes of the client against the real registries (the ground for retention_prune)."""

import os

import pytest

from ansible_collections.regops.registry.plugins.module_utils._errors import UnsupportedError
from tests.integration.test_client_blobs import client_for
from tests.integration.test_tag_set import Log
from tests.support.images import raw_tag_digest, skopeo_tags
from tests.support.registry import TestRegistry


@pytest.fixture(scope='module')
def no_delete_registry(workdir):
    reg = TestRegistry(os.path.join(workdir, 'no-delete'), delete=False).start()
    yield reg
    reg.stop()


def test_catalog_pages_through_every_repository(registry, images, repo):
    names = ['%s-%d' % (repo, i) for i in range(3)]
    for name in names:
        images.push(name, 'x')
    listed = client_for(registry).list_repositories(page_size=2)
    assert set(names) <= set(listed)
    assert len(listed) == len(set(listed))


def test_delete_by_digest_takes_every_tag_with_it(registry, images, repo):
    digest = images.push(repo, 'one')
    images.push(repo, 'keep')
    client = client_for(registry)
    client.put_manifest(repo, 'two', client.get_manifest(repo, digest))  # the same image under a second tag
    assert raw_tag_digest(registry, repo, 'two') == digest
    client.delete_manifest(repo, digest)
    assert skopeo_tags(registry, repo) == ['keep']
    assert client.head_manifest(repo, digest) is None


def test_tag_delete_is_reported_impossible_on_distribution_2(registry, images, repo):
    digest = images.push(repo, 'v1')
    assert client_for(registry).delete_tag(repo, 'v1') is False
    assert raw_tag_digest(registry, repo, 'v1') == digest


def test_deletes_probe_changes_nothing(registry, images, repo):
    images.push(repo, 'v1')
    log = Log(registry)
    assert client_for(registry).deletes_enabled(repo) is True
    log.freeze()
    assert [(m, s) for m, _p, s in log.entries() if s != 401] == [('DELETE', 404)]
    assert skopeo_tags(registry, repo) == ['v1']


def test_deletes_disabled_is_detected_and_explained(no_delete_registry, workdir, repo):
    from tests.integration.conftest import Images
    path = os.path.join(workdir, 'no-delete-images')
    os.makedirs(path, exist_ok=True)
    digest = Images(no_delete_registry, path).push(repo, 'v1')
    client = client_for(no_delete_registry)
    assert client.deletes_enabled(repo) is False
    with pytest.raises(UnsupportedError, match='storage.delete.enabled') as err:
        client.delete_manifest(repo, digest)
    assert err.value.status == 405 and no_delete_registry.host in str(err.value)
    assert raw_tag_digest(no_delete_registry, repo, 'v1') == digest


def test_delete_with_bearer_tokens_asks_the_delete_scope(token_registry, issuer, workdir, repo):
    from tests.integration.conftest import Images
    path = os.path.join(workdir, 'token-delete-images')
    os.makedirs(path, exist_ok=True)
    digest = Images(token_registry, path).push(repo, 'v1')
    issuer.issued.clear()
    client_for(token_registry).delete_manifest(repo, digest)
    assert issuer.issued == [(token_registry.username, ['repository:%s:delete' % repo], False)]
    assert client_for(token_registry).head_manifest(repo, 'v1') is None
