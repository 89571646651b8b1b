"""regops.registry.image_copy through ansible-playbook against real registries: promotions inside one registry (blobs
mounted) and from another one (a token-auth registry with its own CA: blobs copied), checked byte for byte with raw
HTTP and skopeo, with a real `docker pull`, and with the registry's access log (what was written, and that a
rerun, a check run and a refused run write nothing)."""

import json
import os

from tests.integration.conftest import Images
from tests.integration.test_manifest_push import config_digest, pull_platform
from tests.integration.test_tag_set import Log, actions
from tests.support.images import raw_exists, raw_manifest, raw_tag_digest, skopeo_raw, tag_digests

FQCN = 'regops.registry.image_copy'


def copy(ansible, conn, check=False, diff=False, **args):
    return ansible.module(FQCN, dict(conn, **args), check=check, diff=diff).result


def source_conn(token_registry):
    return {'source_username': token_registry.username, 'source_password': token_registry.password,
            'source_ca_path': token_registry.ca_path}


def children_of(registry, repo, digest):
    return [m['digest'] for m in raw_manifest(registry, repo, digest).json()['manifests']]


def test_promotion_of_an_index_inside_the_registry_mounts_every_blob(ansible, conn, registry, images, repo, docker_login):
    staging = repo + '-staging'
    digest = images.push(staging, 'v3.0.0', platforms=['amd64', 'arm64'])
    args = dict(source='%s:v3.0.0' % staging, repository=repo)

    log = Log(registry)
    planned = copy(ansible, conn, check=True, diff=True, **args)
    log.freeze()
    assert log.writes() == []
    assert planned['changed'] is True and planned['manifests_written'] == 3, planned
    assert planned['blobs'] == {'present': 0, 'uploaded': 0, 'mounted': 6, 'bytes_sent': 0}
    assert planned['diff']['after'] == {'v3.0.0': digest}

    log = Log(registry)
    result = copy(ansible, conn, **args)
    log.freeze()
    assert result['changed'] is True and result['digest'] == digest, result
    assert actions(result) == {'v3.0.0': 'created'}  # the source's tag, when no tags are given
    assert result['blobs'] == planned['blobs'] and result['manifests_written'] == 3
    assert result['source'] == {'registry': registry.host, 'repository': staging, 'reference': 'v3.0.0', 'digest': digest}
    # Blobs mounted (POST ...?mount=), the two images by digest, then the index under its tag; no blob bytes sent.
    writes = [(m, p.split('?')[0].rsplit('/', 1)[-1] if m == 'PUT' else p.split('/blobs/')[1][:16]) for m, p, _s in log.writes()]
    assert [w for w in writes if w[0] == 'POST'] == [('POST', 'uploads/?mount=s')] * 6
    puts = [name for method, name in writes if method == 'PUT']
    assert sorted(puts[:2]) == sorted(children_of(registry, staging, digest)) and puts[2:] == ['v3.0.0'], writes
    assert log.count('PATCH') == 0
    assert skopeo_raw(registry, repo, 'v3.0.0') == skopeo_raw(registry, staging, 'v3.0.0')
    for arch, child in zip(('amd64', 'arm64'), children_of(registry, repo, digest)):
        assert pull_platform(registry, repo, 'v3.0.0', arch, docker_login) == (config_digest(registry, repo, child), arch)

    log = Log(registry)
    again = copy(ansible, conn, **args)
    log.freeze()
    assert again['changed'] is False and log.writes() == [], again
    assert again['blobs'] == {'present': 0, 'uploaded': 0, 'mounted': 0, 'bytes_sent': 0}
    assert again['msg'].startswith('%s/%s: already has index %s' % (registry.host, repo, digest)), again['msg']


def test_promotion_from_another_registry_copies_only_what_is_missing(ansible, conn, registry, token_registry, workdir, repo):
    staging = Images(token_registry, os.path.join(workdir, 'copy-staging-images'))
    digest = staging.push(repo, 'v1.2.0', platforms=['amd64', 'arm64'], layers=2, layer_size=200000)
    amd64, arm64 = children_of(token_registry, repo, digest)
    source = '%s/%s:v1.2.0' % (token_registry.host, repo)

    # The target already has the amd64 image (copied by digest, untagged): only arm64's blobs are sent afterwards.
    first = copy(ansible, conn, source='%s/%s@%s' % (token_registry.host, repo, amd64), repository=repo,
                 **source_conn(token_registry))
    assert first['changed'] is True and first['tags'] == [] and first['blobs']['uploaded'] == 3, first
    assert raw_exists(registry, repo, amd64) and tag_digests(registry, repo) == {}
    assert 'copied by digest' in first['msg']

    log = Log(registry)
    result = copy(ansible, conn, source=source, repository=repo, version='v1.2.0', **source_conn(token_registry))
    log.freeze()
    assert result['changed'] is True and result['digest'] == digest, result
    assert actions(result) == {'v1.2.0': 'created', 'v1.2': 'created', 'v1': 'created', 'latest': 'created'}
    assert result['blobs']['present'] == 0 and result['blobs']['uploaded'] == 3 and result['blobs']['mounted'] == 0
    assert result['blobs']['bytes_sent'] == sum(d['size'] for d in [raw_manifest(token_registry, repo, arm64).json()['config']]
                                                + raw_manifest(token_registry, repo, arm64).json()['layers'])
    assert result['manifests_written'] == 2  # arm64 by digest; the index (amd64 was there)
    assert log.count('PUT', 201) == 3 + 1 + 4  # 3 blobs, arm64 by digest, the index under 4 tags
    for tag in ('v1.2.0', 'v1.2', 'v1', 'latest'):
        assert raw_tag_digest(registry, repo, tag) == digest
    for child in (amd64, arm64):
        assert raw_manifest(registry, repo, child).content == raw_manifest(token_registry, repo, child).content
    assert token_registry.password not in json.dumps(result)

    log = Log(registry)
    again = copy(ansible, conn, source=source, repository=repo, version='v1.2.0', **source_conn(token_registry))
    log.freeze()
    assert again['changed'] is False and log.writes() == [] and again['blobs']['bytes_sent'] == 0, again


def test_large_blob_from_another_registry_goes_up_in_chunks(ansible, conn, registry, token_registry, workdir, repo):
    """A 40 MiB layer (over the 32 MiB single-PUT limit) is streamed through a file and sent in ordered chunks."""
    staging = Images(token_registry, os.path.join(workdir, 'copy-large-images'))
    digest = staging.push(repo, 'big', layers=1, layer_size=40 * 1024 * 1024)
    log = Log(registry)
    result = copy(ansible, conn, source='%s/%s:big' % (token_registry.host, repo), repository=repo,
                  **source_conn(token_registry))
    log.freeze()
    assert result['changed'] is True and result['digest'] == digest, result
    assert result['blobs']['bytes_sent'] > 40 * 1024 * 1024
    assert log.count('PATCH', 202) >= 3
    layer = raw_manifest(registry, repo, 'big').json()['layers'][0]
    response = registry.raw('HEAD', '/v2/%s/blobs/%s' % (repo, layer['digest']))
    assert response.status_code == 200 and int(response.headers['Content-Length']) == layer['size']


def test_immutable_tags_are_respected_and_nothing_is_written(ansible, conn, registry, images, repo):
    staging = repo + '-staging'
    images.push(staging, 'v2.0.0', fmt='v2s2')
    other = images.push(repo, 'v2.0.0', fmt='v2s2')
    log = Log(registry)
    result = copy(ansible, conn, source='%s:v2.0.0' % staging, repository=repo)
    log.freeze()
    assert result['failed'] and result['error'] == 'ImmutableTagError', result
    assert 'v2.0.0 is %s' % other in result['msg'] and registry.host in result['msg'] and repo in result['msg']
    assert log.writes() == []
    assert raw_tag_digest(registry, repo, 'v2.0.0') == other
    # A tag the immutable patterns do not match moves; the copy's content goes in first.
    images.push(repo, 'stable', fmt='v2s2')
    moved = copy(ansible, conn, source='%s:v2.0.0' % staging, repository=repo, tags=['stable'])
    assert moved['changed'] is True and actions(moved) == {'stable': 'moved'}, moved
    assert raw_tag_digest(registry, repo, 'stable') == raw_tag_digest(registry, staging, 'v2.0.0')
    assert raw_tag_digest(registry, repo, 'v2.0.0') == other


def test_tags_inside_one_repository_and_missing_sources(ansible, conn, registry, images, repo):
    digest = images.push(repo, 'build-5')
    log = Log(registry)
    result = copy(ansible, conn, source='build-5', repository=repo, tags=['qa', 'prod-2026-11'])
    log.freeze()
    assert result['changed'] is True and actions(result) == {'qa': 'created', 'prod-2026-11': 'created'}, result
    assert [m for m, _p, _s in log.writes()] == ['PUT', 'PUT']  # tags only: the content is there
    assert raw_tag_digest(registry, repo, 'qa') == digest

    itself = copy(ansible, conn, source='build-5', repository=repo)  # its own tag: nothing to do
    assert itself['changed'] is False and actions(itself) == {'build-5': 'unchanged'}, itself
    refused = copy(ansible, conn, source=digest, repository=repo)
    assert refused['failed'] and 'give tags (or version)' in refused['msg'], refused

    missing = copy(ansible, conn, source='%s-nothing:v1' % repo, repository=repo)
    assert missing['failed'] and missing['error'] == 'RepositoryNotFoundError', missing
    assert 'the source %s-nothing:v1' % repo in missing['msg'] and registry.host in missing['msg']
    missing = copy(ansible, conn, source='%s:v9' % repo, repository=repo + '-prod')
    assert missing['failed'] and missing['error'] == 'ManifestNotFoundError' and 'v9' in missing['msg'], missing
