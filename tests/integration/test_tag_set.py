"""regops.registry.tag_set through ansible-playbook against the real TLS + htpasswd registry.

Every result is checked independently: raw HTTP, skopeo as a second client, the registry's access log for
the requests made, and a real Docker engine for pulls.
"""

import hashlib
import subprocess

from tests.support.images import raw_manifest, raw_tag_digest, skopeo_raw, skopeo_tags

FQCN = 'regops.registry.tag_set'


def sha256(data):
    return 'sha256:' + hashlib.sha256(data).hexdigest()


class Log(object):
    """The registry's access log from a mark on: what a run really sent."""

    def __init__(self, registry):
        self.registry = registry
        self.mark = len(registry.access_log())
        self.frozen = None

    def freeze(self):
        """Keep what was logged so far; later reads (the test's own checks) are not counted."""
        self.frozen = self.registry.access_log()[self.mark:]
        return self

    def entries(self):
        return self.frozen if self.frozen is not None else self.registry.access_log()[self.mark:]

    def count(self, method, status=None):
        return sum(1 for m, _p, s in self.entries() if m == method and (status is None or s == status))

    def writes(self):
        """Write requests the registry served (an authentication challenge, 401, writes nothing)."""
        return [e for e in self.entries() if e[0] in ('PUT', 'POST', 'PATCH', 'DELETE') and e[2] != 401]


def by_tag(result):
    """The tags entries of a result, by tag, and their order."""
    return dict((e['tag'], e) for e in result['tags'])


def order(result):
    return [e['tag'] for e in result['tags']]


def actions(result):
    return dict((e['tag'], e['action']) for e in result['tags'])


def run(ansible, conn, check=False, diff=False, **args):
    args = dict(conn, **args)
    return ansible.module(FQCN, args, check=check, diff=diff)


def assert_tags_point_at(registry, repo, tags, digest):
    """Each tag has ``digest`` by raw HEAD, and skopeo reads the exact same bytes."""
    source_bytes = raw_manifest(registry, repo, digest).content
    for tag in tags:
        assert raw_tag_digest(registry, repo, tag) == digest, tag
        raw = skopeo_raw(registry, repo, tag)
        assert raw == source_bytes, tag
        assert sha256(raw) == digest, tag


def test_release_creates_release_tag_and_aliases(ansible, conn, registry, images, repo):
    digest = images.push(repo, '3.0.0-amd64')
    log = Log(registry)
    out = run(ansible, conn, repository=repo, source='3.0.0-amd64', version='v3.0.0', suffix='-amd64')
    log.freeze()
    result = out.result
    assert not result.get('failed'), result
    assert result['changed'] is True
    assert result['digest'] == digest
    assert result['media_type'] == 'application/vnd.oci.image.manifest.v1+json'
    assert order(result) == ['v3.0.0-amd64', 'v3.0-amd64', 'v3-amd64', 'latest-amd64']
    assert set(actions(result).values()) == {'created'}
    assert all(e['before'] is None and e['after'] == digest for e in result['tags'])
    assert_tags_point_at(registry, repo, order(result), digest)
    assert skopeo_tags(registry, repo) == sorted(['3.0.0-amd64', 'v3.0.0-amd64', 'v3.0-amd64', 'v3-amd64', 'latest-amd64'])
    # Cost: source fetched once, the tag listing (two GETs on distribution 2.8: everything, then nothing new
    # after the last tag), one HEAD per tag, one PUT per new tag (plus the auth challenge), and the claim of the new
    # release tag: read again just before its PUT, and read back after it.
    assert log.count('GET', 200) == 3
    assert log.count('HEAD') == 4 + 2
    assert log.count('PUT', 201) == 4
    assert [m for m, _p, _s in log.writes()] == ['PUT'] * 4
    assert [p.rsplit('/', 1)[1] for _m, p, _s in log.writes()] == order(result)  # release tag first
    assert out.stats['changed'] == 1


def test_rerun_writes_nothing(ansible, conn, registry, images, repo):
    images.push(repo, 'build-1')
    first = run(ansible, conn, repository=repo, source='build-1', version='1.4.2')
    assert first.result['changed'] is True
    log = Log(registry)
    again = run(ansible, conn, repository=repo, source='build-1', version='1.4.2')
    log.freeze()
    assert again.result['changed'] is False
    assert set(actions(again.result).values()) == {'unchanged'}
    assert order(again.result) == ['1.4.2', '1.4', '1', 'latest']  # prefix style kept
    assert log.writes() == []
    assert log.count('HEAD') == 4 and log.count('GET', 200) == 3
    assert again.stats['changed'] == 0


def test_check_mode_reports_and_writes_nothing(ansible, conn, registry, images, repo):
    digest = images.push(repo, 'build')
    log = Log(registry)
    out = run(ansible, conn, check=True, diff=True, repository=repo, source='build', version='v1.0.0', tags=['stable'])
    result = out.result
    assert result['changed'] is True
    assert actions(result) == {'v1.0.0': 'created', 'v1.0': 'created', 'v1': 'created', 'latest': 'created', 'stable': 'created'}
    assert 'would be' in result['msg']
    assert result['diff']['before'] == {}
    assert result['diff']['after'] == dict.fromkeys(order(result), digest)
    assert log.writes() == []
    assert skopeo_tags(registry, repo) == ['build']


def test_diff_shows_before_and_after(ansible, conn, registry, images, repo):
    old = images.push(repo, 'old')
    new = images.push(repo, 'new')
    run(ansible, conn, repository=repo, source='old', tags=['stable', 'keep'])
    out = run(ansible, conn, diff=True, repository=repo, source='new', tags=['stable', 'keep', 'fresh'], immutable=[])
    diff = out.result['diff']
    assert diff['before'] == {'stable': old, 'keep': old}
    assert diff['after'] == {'stable': new, 'keep': new, 'fresh': new}
    assert raw_tag_digest(registry, repo, 'stable') == new


def test_new_release_moves_floating_aliases(ansible, conn, registry, images, repo):
    first = images.push(repo, 'build-1')
    second = images.push(repo, 'build-2')
    run(ansible, conn, repository=repo, source='build-1', version='v3.0.0')
    out = run(ansible, conn, repository=repo, source='build-2', version='v3.0.1')
    tags = by_tag(out.result)
    assert tags['v3.0.1']['action'] == 'created'
    for alias, kind in (('v3.0', 'minor'), ('v3', 'major'), ('latest', 'latest')):
        assert tags[alias] == {'tag': alias, 'action': 'moved', 'kind': kind, 'before': first, 'after': second}
    assert raw_tag_digest(registry, repo, 'v3.0.0') == first
    assert_tags_point_at(registry, repo, ['v3.0.1', 'v3.0', 'v3', 'latest'], second)


def test_hotfix_moves_only_its_own_series(ansible, conn, registry, images, repo):
    d294 = images.push(repo, 'b294')
    d300 = images.push(repo, 'b300')
    d295 = images.push(repo, 'b295')
    for source, version in (('b294', 'v2.9.4'), ('b300', 'v3.0.0')):
        assert run(ansible, conn, repository=repo, source=source, version=version, suffix='-amd64').result['changed']
    assert raw_tag_digest(registry, repo, 'v2-amd64') == d294
    out = run(ansible, conn, repository=repo, source='b295', version='v2.9.5', suffix='-amd64')
    tags = by_tag(out.result)
    assert actions(out.result) == {
        'v2.9.5-amd64': 'created', 'v2.9-amd64': 'moved', 'v2-amd64': 'moved', 'latest-amd64': 'skipped'}
    assert tags['latest-amd64']['reason'] == 'held back: v3.0.0-amd64 is newer'
    assert_tags_point_at(registry, repo, ['v2.9.5-amd64', 'v2.9-amd64', 'v2-amd64'], d295)
    assert_tags_point_at(registry, repo, ['v3.0.0-amd64', 'v3.0-amd64', 'v3-amd64', 'latest-amd64'], d300)


def test_prerelease_gets_only_its_own_tag(ansible, conn, registry, images, repo):
    stable = images.push(repo, 'stable-build')
    rc = images.push(repo, 'rc-build')
    run(ansible, conn, repository=repo, source='stable-build', version='v3.0.0')
    out = run(ansible, conn, repository=repo, source='rc-build', version='v3.1.0-rc.1')
    assert actions(out.result) == {'v3.1.0-rc.1': 'created'}
    assert raw_tag_digest(registry, repo, 'v3.1.0-rc.1') == rc
    assert_tags_point_at(registry, repo, ['v3.0', 'v3', 'latest'], stable)


def test_immutable_release_tag_refused_before_anything_is_written(ansible, conn, registry, images, repo):
    original = images.push(repo, 'build-1')
    other = images.push(repo, 'build-2')
    run(ansible, conn, repository=repo, source='build-1', version='v3.0.0', suffix='-amd64')
    log = Log(registry)
    out = run(ansible, conn, repository=repo, source='build-2', version='v3.0.0', suffix='-amd64', tags=['brand-new'])
    result = out.result
    assert result['failed'] is True
    assert result['error'] == 'ImmutableTagError'
    msg = result['msg']
    assert 'v3.0.0-amd64' in msg and original in msg and other in msg and registry.host in msg and repo in msg
    assert 'nothing was written' in msg
    assert log.writes() == []
    assert raw_tag_digest(registry, repo, 'brand-new') is None
    assert_tags_point_at(registry, repo, ['v3.0.0-amd64', 'v3.0-amd64', 'v3-amd64', 'latest-amd64'], original)


def test_immutable_can_be_widened_and_narrowed(ansible, conn, registry, images, repo):
    images.push(repo, 'a')
    second = images.push(repo, 'b')
    run(ansible, conn, repository=repo, source='a', tags=['prod', 'v1.0.0'])
    refused = run(ansible, conn, repository=repo, source='b', tags=['prod'], immutable=['^prod$'])
    assert refused.result['failed'] and 'prod is' in refused.result['msg']
    allowed = run(ansible, conn, repository=repo, source='b', tags=['v1.0.0'], immutable=[])
    assert actions(allowed.result) == {'v1.0.0': 'moved'}
    assert raw_tag_digest(registry, repo, 'v1.0.0') == second


def test_source_by_digest_and_docker_schema2_and_index(ansible, conn, registry, images, repo):
    docker_digest = images.push(repo, 'docker-build', fmt='v2s2')
    index_digest = images.push(repo, 'multi', platforms=['amd64', 'arm64'])
    out = run(ansible, conn, repository=repo, source=docker_digest, tags=['d1'])
    assert out.result['media_type'] == 'application/vnd.docker.distribution.manifest.v2+json'
    assert_tags_point_at(registry, repo, ['d1'], docker_digest)
    out = run(ansible, conn, repository=repo, source='multi', version='v5.0.0')
    assert out.result['media_type'] == 'application/vnd.oci.image.index.v1+json'
    assert_tags_point_at(registry, repo, ['v5.0.0', 'v5.0', 'v5', 'latest'], index_digest)
    assert raw_manifest(registry, repo, 'v5').headers['Content-Type'] == 'application/vnd.oci.image.index.v1+json'


def test_docker_schema2_digest_survives_the_accept_header(ansible, conn, registry, images, repo):
    """Without every media type in Accept, distribution 2.x rewrites the manifest to schema 1 (another digest)."""
    digest = images.push(repo, 'src', fmt='v2s2')
    bare = registry.raw('GET', '/v2/%s/manifests/src' % repo)
    assert bare.headers['Content-Type'].startswith('application/vnd.docker.distribution.manifest.v1')
    assert bare.headers['Docker-Content-Digest'] != digest
    out = run(ansible, conn, repository=repo, source='src', tags=['copy'])
    assert out.result['digest'] == digest
    assert_tags_point_at(registry, repo, ['copy'], digest)


def test_connection_options_from_module_defaults_and_environment(ansible, conn, registry, images, repo):
    digest = images.push(repo, 'src')
    play = [{'hosts': 'localhost', 'gather_facts': False,
             'module_defaults': {'group/regops.registry.registry': {'registry': registry.host, 'ca_path': registry.ca_path}},
             'tasks': [{'name': 'tag', FQCN: {'repository': repo, 'source': 'src', 'tags': ['via-defaults']}}]}]
    out = ansible.playbook(play, env={'REGOPS_REGISTRY_USERNAME': registry.username, 'REGOPS_REGISTRY_PASSWORD': registry.password})
    assert out.result['changed'] is True, out.result
    assert raw_tag_digest(registry, repo, 'via-defaults') == digest


def test_docker_login_just_works_and_engine_pulls_the_result(ansible, registry, images, repo, docker_login):
    digest = images.push(repo, 'src', fmt='v2s2')
    args = {'registry': registry.host, 'ca_path': registry.ca_path, 'docker_config': docker_login,
            'repository': repo, 'source': 'src', 'version': 'v1.2.3'}
    out = ansible.module(FQCN, args)
    assert out.result['changed'] is True, out.result
    ref = '%s/%s:v1.2' % (registry.host, repo)
    pulled = subprocess.run(['docker', '--config', docker_login, 'pull', ref], capture_output=True, text=True, check=False)
    try:
        assert pulled.returncode == 0, pulled.stderr
        repo_digests = subprocess.run(['docker', 'image', 'inspect', '-f', '{{json .RepoDigests}}', ref],
                                      capture_output=True, text=True, check=True).stdout
        assert digest in repo_digests
        config_digest = raw_manifest(registry, repo, digest).json()['config']['digest']
        image_id = subprocess.run(['docker', 'image', 'inspect', '-f', '{{.Id}}', ref], capture_output=True, text=True,
                                  check=True).stdout.strip()
        assert image_id == config_digest
    finally:
        subprocess.run(['docker', 'rmi', '-f', ref], capture_output=True, check=False)
