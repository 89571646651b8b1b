"""regops.registry.manifest_push through ansible-playbook against the real TLS + htpasswd registry.

Checked with raw HTTP, skopeo, the registry's access log (write requests, bytes) and docker pull --platform.
"""

import json
import os
import secrets
import subprocess

import pytest

from tests.integration.conftest import Images
from tests.integration.test_tag_set import Log, actions
from tests.support.images import make_layout, raw_manifest, raw_tag_digest, skopeo_raw

FQCN = 'regops.registry.manifest_push'
OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json'


def push(ansible, conn, check=False, diff=False, **args):
    return ansible.module(FQCN, dict(conn, **args), check=check, diff=diff)


def docker(*args, **kwargs):
    return subprocess.run(['docker'] + list(args), capture_output=True, text=True, check=True, **kwargs).stdout.strip()


def config_digest(registry, repo, digest):
    return raw_manifest(registry, repo, digest).json()['config']['digest']


def pull_platform(registry, repo, tag, arch, docker_login):
    """docker pull --platform; returns (image ID, architecture) as the engine sees them."""
    ref = '%s/%s:%s' % (registry.host, repo, tag)
    try:
        docker('--config', docker_login, 'pull', '--platform', 'linux/' + arch, ref)
        return tuple(docker('image', 'inspect', '-f', '{{.Id}} {{.Architecture}}', ref).split())
    finally:
        subprocess.run(['docker', 'rmi', '-f', ref], capture_output=True, check=False)


def test_index_of_two_architectures(ansible, conn, registry, images, repo, docker_login):
    amd = images.push(repo, 'v1.0.0-amd64', arch='amd64')
    arm = images.push(repo, 'v1.0.0-arm64', arch='arm64')
    log = Log(registry)
    out = push(ansible, conn, repository=repo, tags=['v1.0.0', 'latest'],
               manifests=[{'ref': 'v1.0.0-amd64'}, {'ref': 'v1.0.0-arm64'}])
    log.freeze()
    result = out.result
    assert result['changed'] is True, result
    assert result['media_type'] == OCI_INDEX
    assert actions(result) == {'v1.0.0': 'created', 'latest': 'created'}
    # Same repository: nothing to bring in; the index is the only thing written, once per tag.
    assert [(m, p.rsplit('/', 1)[1]) for m, p, _s in log.writes()] == [('PUT', 'v1.0.0'), ('PUT', 'latest')]
    raw = skopeo_raw(registry, repo, 'v1.0.0')
    index = json.loads(raw)
    assert index['mediaType'] == OCI_INDEX
    assert [(d['digest'], d['platform']) for d in index['manifests']] == [
        (amd, {'architecture': 'amd64', 'os': 'linux'}), (arm, {'architecture': 'arm64', 'os': 'linux'})]
    assert raw_tag_digest(registry, repo, 'latest') == result['digest']
    for arch, child in (('amd64', amd), ('arm64', arm)):
        assert pull_platform(registry, repo, 'v1.0.0', arch, docker_login) == (config_digest(registry, repo, child), arch)

    log = Log(registry)
    again = push(ansible, conn, repository=repo, tags=['v1.0.0', 'latest'],
                 manifests=[{'ref': 'v1.0.0-amd64'}, {'ref': 'v1.0.0-arm64'}])
    log.freeze()
    assert again.result['changed'] is False and again.result['digest'] == result['digest']
    assert log.writes() == []


def test_docker_schema2_children_make_a_manifest_list_with_platform_override(ansible, conn, registry, images, repo):
    images.push(repo, 'a', fmt='v2s2', arch='amd64')
    images.push(repo, 'b', fmt='v2s2', arch='arm64')
    out = push(ansible, conn, repository=repo, tags=['multi'],
               manifests=[{'ref': 'a'}, {'ref': 'b', 'platform': {'os': 'linux', 'architecture': 'arm64', 'variant': 'v8'}}])
    assert out.result['media_type'] == DOCKER_LIST, out.result
    index = json.loads(skopeo_raw(registry, repo, 'multi'))
    assert index['manifests'][1]['platform'] == {'architecture': 'arm64', 'os': 'linux', 'variant': 'v8'}


def test_mixed_formats_and_nested_indexes_are_refused_unwritten(ansible, conn, registry, images, repo):
    images.push(repo, 'oci', arch='amd64')
    images.push(repo, 'docker', fmt='v2s2', arch='arm64')
    images.push(repo, 'index', platforms=['amd64', 'arm64'])
    log = Log(registry)
    mixed = push(ansible, conn, repository=repo, tags=['x'], manifests=[{'ref': 'oci'}, {'ref': 'docker'}]).result
    nested = push(ansible, conn, repository=repo, tags=['x'], manifests=[{'ref': 'index'}]).result
    log.freeze()
    assert mixed['error'] == 'UnsupportedError' and 'mix Docker schema 2 and OCI' in mixed['msg']
    assert nested['error'] == 'UnsupportedError' and 'is an index' in nested['msg'] and 'manifests[1]' in nested['msg']
    assert log.writes() == []


def test_children_from_another_repository_are_mounted_first(ansible, conn, registry, images, repo):
    source_repo = repo + '-builds'
    amd = images.push(source_repo, 'amd64', arch='amd64')
    arm = images.push(source_repo, 'arm64', arch='arm64')
    children = [{'ref': '%s:amd64' % source_repo}, {'ref': '%s/%s@%s' % (registry.host, source_repo, arm)}]
    planned = push(ansible, conn, check=True, repository=repo, tags=['v2.0.0'], manifests=children).result
    log = Log(registry)
    out = push(ansible, conn, repository=repo, tags=['v2.0.0'], manifests=children)
    log.freeze()
    result = out.result
    assert (planned['blobs'], planned['manifests_written'], planned['digest']) == (
        result['blobs'], result['manifests_written'], result['digest'])
    assert result['changed'] is True, result
    assert result['blobs'] == {'present': 0, 'uploaded': 0, 'mounted': 6, 'bytes_sent': 0}
    assert result['manifests_written'] == 3
    writes = [(m, s) for m, _p, s in log.writes()]
    assert writes == [('POST', 201)] * 6 + [('PUT', 201)] * 3  # every blob mounted, then the two images, then the index
    assert not [e for e in log.entries() if e[0] == 'PATCH']
    for child in (amd, arm):
        assert raw_manifest(registry, repo, child).content == raw_manifest(registry, source_repo, child).content


def test_promotion_from_another_registry_copies_only_missing_blobs(ansible, conn, registry, token_registry, workdir, repo):
    """A release promoted from a staging registry (bearer tokens, its own CA) into the fixture registry, in semver mode."""
    staging = Images(token_registry, os.path.join(workdir, 'staging-images'))
    built = dict((arch, staging.push(repo + '-staging', '1.0.0-' + arch, arch=arch, layers=2)) for arch in ('amd64', 'arm64'))
    children = [{'ref': '%s/%s-staging:1.0.0-%s' % (token_registry.host, repo, arch), 'suffix': '-' + arch}
                for arch in ('amd64', 'arm64')]
    source = {'source_username': token_registry.username, 'source_password': token_registry.password,
              'source_ca_path': token_registry.ca_path}
    args = dict(source, repository=repo, version='v1.0.0', manifests=children)
    planned = push(ansible, conn, check=True, **args).result
    assert planned['changed'] is True and planned['blobs']['uploaded'] == 6, planned
    log = Log(registry)
    result = push(ansible, conn, **args).result
    log.freeze()
    assert (result['blobs'], result['digest']) == (planned['blobs'], planned['digest']), result
    assert result['blobs']['mounted'] == 0 and result['blobs']['bytes_sent'] > 0
    # 6 blobs; the two images by digest (before the index names them); v1.0.0, v1.0, v1, latest for each image and
    # the index
    assert log.count('PUT', 201) == 6 + 2 + 2 * 4 + 4
    for arch, digest in built.items():
        assert raw_tag_digest(registry, repo, 'v1.0.0-' + arch) == digest  # the very manifest of staging
        assert raw_tag_digest(registry, repo, 'latest-' + arch) == digest
    index = raw_manifest(registry, repo, 'v1.0.0').json()
    assert [m['digest'] for m in index['manifests']] == [built['amd64'], built['arm64']]
    assert raw_tag_digest(registry, repo, 'latest') == result['digest']
    assert password_not_in(result, token_registry.password)

    # Promoting the same release again reads staging and writes nothing.
    again = Log(registry)
    rerun = push(ansible, conn, **args).result
    assert rerun['changed'] is False and rerun['blobs']['bytes_sent'] == 0
    assert again.freeze().writes() == []


def password_not_in(result, password):
    return password not in json.dumps(result)


def docker_saved_image(tmp_path, arch='amd64'):
    """A FROM scratch image of ``arch`` built by the engine and written by `docker save`; returns (path, image ID)."""
    context = tmp_path / ('context-' + arch)
    context.mkdir()
    (context / 'payload.bin').write_bytes(os.urandom(256 * 1024))
    (context / 'Dockerfile').write_text('FROM scratch\nCOPY payload.bin /payload.bin\n')
    local = 'regops-test/pushed:%s' % secrets.token_hex(4)
    docker('build', '-q', '--platform', 'linux/' + arch, '-t', local, str(context), env=dict(os.environ, DOCKER_BUILDKIT='0'))
    image_id = docker('image', 'inspect', '-f', '{{.Id}}', local)
    path = str(tmp_path / ('image-%s.tar' % arch))
    docker('save', '-o', path, local)
    docker('rmi', local)
    return path, image_id


def test_release_from_docker_save_archives_per_architecture(ansible, conn, registry, repo, docker_login, tmp_path):
    """The pipeline: docker save per architecture, push each with src, then the index of both under the release tag."""
    ids = {}
    for arch in ('amd64', 'arm64'):
        archive, ids[arch] = docker_saved_image(tmp_path, arch)
        assert push(ansible, conn, repository=repo, src=archive, tags=['3.0.0-' + arch]).result['changed'] is True
    out = push(ansible, conn, diff=True, repository=repo, tags=['v3.0.0'],
               manifests=[{'ref': '3.0.0-amd64'}, {'ref': '3.0.0-arm64'}])
    result = out.result
    assert result['media_type'] == DOCKER_LIST, result
    assert result['diff']['before'] == {} and result['diff']['after'] == {'v3.0.0': result['digest']}
    platforms = [d['platform'] for d in json.loads(skopeo_raw(registry, repo, 'v3.0.0'))['manifests']]
    assert platforms == [{'architecture': 'amd64', 'os': 'linux'}, {'architecture': 'arm64', 'os': 'linux'}]
    for arch in ('amd64', 'arm64'):
        assert pull_platform(registry, repo, 'v3.0.0', arch, docker_login) == (ids[arch], arch)


def test_docker_save_archive_push_rerun_and_pull(ansible, conn, registry, repo, docker_login, tmp_path):
    archive, image_id = docker_saved_image(tmp_path)
    log = Log(registry)
    out = push(ansible, conn, repository=repo, src=archive, tags=['1.0.0-amd64'])
    log.freeze()
    result = out.result
    assert result['changed'] is True, result
    assert result['media_type'] == 'application/vnd.docker.distribution.manifest.v2+json'
    assert result['blobs']['uploaded'] == 2 and result['blobs']['present'] == 0  # config + one layer
    assert result['blobs']['bytes_sent'] > 256 * 1024
    # Two blobs (in parallel: POST then PUT each), then the manifest under its tag, last.
    writes = [m for m, _p, _s in log.writes()]
    assert sorted(writes[:-1]) == ['POST', 'POST', 'PUT', 'PUT'] and writes[-1] == 'PUT'
    assert log.writes()[-1][1].endswith('/manifests/1.0.0-amd64')
    ref = '%s/%s:1.0.0-amd64' % (registry.host, repo)
    try:
        docker('--config', docker_login, 'pull', ref)
        assert docker('image', 'inspect', '-f', '{{.Id}}', ref) == image_id
    finally:
        subprocess.run(['docker', 'rmi', '-f', ref], capture_output=True, check=False)

    log = Log(registry)
    again = push(ansible, conn, repository=repo, src=archive, tags=['1.0.0-amd64'])
    log.freeze()
    assert again.result['changed'] is False, again.result
    assert again.result['blobs'] == {'present': 2, 'uploaded': 0, 'mounted': 0, 'bytes_sent': 0}
    assert again.result['digest'] == result['digest']
    assert log.writes() == []


def test_oci_layout_with_two_platforms_check_mode_push_rerun_and_mount(ansible, conn, registry, repo, docker_login, tmp_path):
    layout = str(tmp_path / 'layout')
    index_digest = make_layout(layout, platforms=['amd64', 'arm64'], layer_size=64 * 1024)
    total = sum(os.path.getsize(os.path.join(layout, 'blobs', 'sha256', f)) for f in os.listdir(os.path.join(layout, 'blobs', 'sha256')))

    log = Log(registry)
    planned = push(ansible, conn, check=True, repository=repo, src=layout, tags=['2.0.0'])
    log.freeze()
    assert planned.result['changed'] is True and planned.result['blobs']['uploaded'] == 6
    assert planned.result['manifests_written'] == 3
    assert log.writes() == []
    assert raw_tag_digest(registry, repo, '2.0.0') is None

    log = Log(registry)
    out = push(ansible, conn, repository=repo, src=layout, tags=['2.0.0'])
    log.freeze()
    result = out.result
    assert result['digest'] == index_digest and result['media_type'] == OCI_INDEX
    assert result['blobs']['uploaded'] == 6 and result['manifests_written'] == 3
    # Every blob byte of the layout except the manifests themselves went up once.
    manifest_bytes = sum(len(raw_manifest(registry, repo, d['digest']).content)
                         for d in json.loads(skopeo_raw(registry, repo, '2.0.0'))['manifests']) + len(skopeo_raw(registry, repo, '2.0.0'))
    assert result['blobs']['bytes_sent'] == total - manifest_bytes
    assert planned.result['blobs']['bytes_sent'] == result['blobs']['bytes_sent']
    for arch in ('amd64', 'arm64'):
        assert pull_platform(registry, repo, '2.0.0', arch, docker_login)[1] == arch

    log = Log(registry)
    again = push(ansible, conn, repository=repo, src=layout, tags=['2.0.0'])
    log.freeze()
    assert again.result['changed'] is False and log.writes() == []

    sibling = repo + '-sibling'
    log = Log(registry)
    mounted = push(ansible, conn, repository=sibling, src=layout, tags=['2.0.0'], mount_from=[repo])
    log.freeze()
    assert mounted.result['blobs'] == {'present': 0, 'uploaded': 0, 'mounted': 6, 'bytes_sent': 0}
    assert not [e for e in log.entries() if e[0] == 'PATCH'] and [m for m, _p, s in log.writes() if m == 'POST'] == ['POST'] * 6
    assert raw_tag_digest(registry, sibling, '2.0.0') == index_digest


def test_corrupt_layout_is_refused_before_any_request(ansible, conn, registry, repo, tmp_path):
    layout = str(tmp_path / 'layout')
    make_layout(layout)
    blobs = os.path.join(layout, 'blobs', 'sha256')
    biggest = max((os.path.join(blobs, f) for f in os.listdir(blobs)), key=os.path.getsize)
    with open(biggest, 'r+b') as f:
        f.write(b'corrupt')
    log = Log(registry)
    result = push(ansible, conn, repository=repo, src=layout, tags=['x']).result
    log.freeze()
    assert result['error'] == 'InvalidInputError' and 'does not match its digest' in result['msg']
    assert log.entries() == []


def test_immutable_tag_refused_before_any_blob_goes_up(ansible, conn, registry, images, repo, tmp_path):
    images.push(repo, 'v1.0.0')
    layout = str(tmp_path / 'layout')
    make_layout(layout)
    log = Log(registry)
    result = push(ansible, conn, repository=repo, src=layout, tags=['v1.0.0']).result
    log.freeze()
    assert result['error'] == 'ImmutableTagError' and 'v1.0.0 is sha256:' in result['msg']
    assert log.writes() == []


@pytest.mark.parametrize('args,message', [
    ({'tags': []}, 'at least one tag'),
    ({'manifests': [{'ref': 'other.example/team/app:v1'}]}, 'other.example/team/app:v1: cannot reach the registry'),
    ({'manifests': [{'ref': 'nope'}]}, 'manifest not found'),
    ({'manifests': [{'ref': 'x', 'platform': {'os': 'linux'}}]}, 'needs architecture and os'),
    ({'src': '/nonexistent/layout'}, 'does not exist'),
    ({'src': '/etc/hostname'}, 'cannot be read as a tar archive'),
    ({'src': '/tmp', 'manifests': [{'ref': 'x'}]}, 'mutually exclusive'),
    ({'src': '/tmp', 'parallel': 0}, 'parallel must be between 1 and 32'),
])
def test_bad_input(ansible, conn, registry, images, repo, args, message):
    images.push(repo, 'x')
    full = dict({'repository': repo, 'tags': ['t'], 'manifests': [{'ref': 'x'}]}, **args)
    if 'src' in args and 'manifests' not in args:
        del full['manifests']
    log = Log(registry)
    result = push(ansible, conn, **full).result
    log.freeze()
    assert result.get('failed') is True and message in result['msg'], result
    assert log.writes() == []


def test_a_large_layer_goes_up_in_chunks_through_the_module(ansible, conn, registry, repo, tmp_path):
    layout = str(tmp_path / 'layout')
    make_layout(layout, layers=1, layer_size=40 * 1024 * 1024)
    log = Log(registry)
    out = push(ansible, conn, repository=repo, src=layout, tags=['big'])
    log.freeze()
    assert out.result['changed'] is True, out.result
    patches = [e for e in log.entries() if e[0] == 'PATCH']
    assert len(patches) == 3 and all(status == 202 for _m, _p, status in patches)  # 16 + 16 + ~8 MiB
    layer = json.loads(raw_manifest(registry, repo, 'big').content)['layers'][0]
    assert registry.raw('HEAD', '/v2/%s/blobs/%s' % (repo, layer['digest'])).headers['Content-Length'] == str(layer['size'])
