"""regops.registry.image_info through ansible-playbook against the real TLS + htpasswd registry: what it reports is
checked against raw HTTP, and the registry's access log shows it never writes."""

import json

from tests.integration.test_tag_set import Log
from tests.support.images import raw_manifest, tag_digests

FQCN = 'regops.registry.image_info'


def info(ansible, conn, check=False, **args):
    return ansible.module(FQCN, dict(conn, **args), check=check).result


def test_catalog_reads_every_page(ansible, conn, registry, images, repo):
    names = ['%s-%d' % (repo, i) for i in range(5)]
    for name in names:
        images.push(name, 'v1', layers=1, layer_size=64)
    log = Log(registry)
    result = info(ansible, conn, page_size=2)
    log.freeze()
    assert result['changed'] is False and 'failed' not in result, result
    assert [r for r in result['repositories'] if r.startswith(repo)] == names
    catalog = registry.raw('GET', '/v2/_catalog?n=1000').json()['repositories']
    assert result['repositories'] == catalog
    # Two entries a page: every page was asked for.
    pages = [p for m, p, s in log.entries() if m == 'GET' and p.startswith('/v2/_catalog') and s == 200]
    assert len(pages) >= len(catalog) // 2, pages
    assert log.writes() == []
    assert result['msg'] == '%s: %d repositories in the catalog' % (registry.host, len(catalog))


def test_tags_and_their_digests(ansible, conn, registry, images, repo):
    first = images.push(repo, 'v1.0.0', layers=1)
    images.push(repo, 'v1.1.0', layers=1)
    images.push(repo, 'latest', layers=1)
    registry.raw('PUT', '/v2/%s/manifests/stable' % repo, data=raw_manifest(registry, repo, first).content,
                 headers={'Content-Type': 'application/vnd.oci.image.manifest.v1+json'}).raise_for_status()
    result = info(ansible, conn, repository=repo)
    assert result['exists'] is True and sorted(result['tags']) == ['latest', 'stable', 'v1.0.0', 'v1.1.0']
    assert 'digests' not in result
    resolved = info(ansible, conn, repository=repo, resolve_tags=True)
    assert resolved['digests'] == tag_digests(registry, repo)
    assert resolved['digests']['stable'] == resolved['digests']['v1.0.0'] == first
    assert resolved['msg'] == '%s/%s: 4 tags pointing at 3 digests' % (registry.host, repo)


def test_index_platforms_config_and_size(ansible, conn, registry, images, repo):
    labels = {'org.opencontainers.image.version': '3.0.0', 'team': 'battlescope'}
    digest = images.push(repo, 'v3.0.0', platforms=['amd64', 'arm64'], created='2026-11-20T09:14:03Z', labels=labels)
    log = Log(registry)
    result = info(ansible, conn, repository=repo, reference='v3.0.0')
    checked = info(ansible, conn, check=True, repository=repo, reference='v3.0.0')
    log.freeze()
    assert log.writes() == []
    assert checked == result
    index = raw_manifest(registry, repo, digest)
    assert (result['exists'], result['kind'], result['digest']) == (True, 'index', digest), result
    assert result['media_type'] == 'application/vnd.oci.image.index.v1+json'
    assert result['manifest'] == index.json()
    assert result['platforms'] == ['linux/amd64', 'linux/arm64']
    assert (result['created'], result['labels']) == (None, None)
    # Size: the index, each image manifest, each config and layer (as the registry stores them).
    size = len(index.content)
    for child in index.json()['manifests']:
        image = raw_manifest(registry, repo, child['digest'])
        size += len(image.content) + sum(d['size'] for d in [image.json()['config']] + image.json()['layers'])
    assert result['size'] == size
    for image, child, arch in zip(result['images'], index.json()['manifests'], ('amd64', 'arm64')):
        assert image['digest'] == child['digest'] and image['platform'] == {'os': 'linux', 'architecture': arch}
        assert (image['created'], image['labels'], image['layers']) == ('2026-11-20T09:14:03Z', labels, 2)
        assert image['config']['cmd'] == ['/layer0/arch'] and 'env' not in image['config']
    assert result['msg'] == '%s/%s:v3.0.0: index %s of 2 images (linux/amd64, linux/arm64), %d bytes' % (
        registry.host, repo, digest, size)


def test_image_by_digest(ansible, conn, registry, images, repo):
    digest = images.push(repo, 'build-7', arch='arm64', fmt='v2s2', labels={'commit': 'abc123'}, created='2026-02-03T04:05:06Z')
    result = info(ansible, conn, repository=repo, reference=digest)
    assert (result['kind'], result['digest'], result['platforms']) == ('image', digest, ['linux/arm64']), result
    assert result['media_type'] == 'application/vnd.docker.distribution.manifest.v2+json'
    assert (result['created'], result['labels']) == ('2026-02-03T04:05:06Z', {'commit': 'abc123'})
    manifest = raw_manifest(registry, repo, digest)
    doc = json.loads(manifest.content)
    assert result['size'] == len(manifest.content) + doc['config']['size'] + sum(layer['size'] for layer in doc['layers'])
    assert result['images'][0]['config']['digest'] == doc['config']['digest']


def test_what_does_not_exist_is_reported_not_failed(ansible, conn, registry, images, repo):
    images.push(repo, 'v1', layers=1, layer_size=64)
    missing_tag = info(ansible, conn, repository=repo, reference='v2')
    assert missing_tag['exists'] is False and missing_tag['missing'] == 'reference' and 'failed' not in missing_tag
    assert missing_tag['msg'] == '%s/%s: v2 does not exist' % (registry.host, repo)
    missing_digest = info(ansible, conn, repository=repo, reference='sha256:' + '0' * 64)
    assert (missing_digest['exists'], missing_digest['missing']) == (False, 'reference')
    missing_repo = info(ansible, conn, repository=repo + '-nothing', reference='v1')
    assert (missing_repo['exists'], missing_repo['missing']) == (False, 'repository')
    no_tags = info(ansible, conn, repository=repo + '-nothing')
    assert (no_tags['exists'], no_tags['tags']) == (False, [])


def test_bad_input_fails_naming_it(ansible, conn, registry, repo):
    result = info(ansible, conn, reference='v1')
    assert result['failed'] and 'reference v1 needs the repository' in result['msg'], result
    result = info(ansible, conn, repository='Not/Valid')
    assert result['failed'] and result['error'] == 'InvalidInputError' and 'Not/Valid' in result['msg'], result
    result = info(ansible, conn, repository=repo, page_size=0)
    assert result['failed'] and 'page_size must be between 1 and 10000' in result['msg'], result
    wrong = dict(conn, password='wrong-password-123')
    result = info(ansible, wrong, repository=repo)
    assert result['failed'] and result['error'] == 'AuthenticationError' and registry.host in result['msg'], result
    assert 'wrong-password-123' not in json.dumps(result)
