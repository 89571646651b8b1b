"""regops.registry.retention_prune against the real TLS + htpasswd registry (distribution 2.8), through ansible.

The repository is seeded over raw HTTP with releases across three majors, per-arch tags, multi-arch indexes, dev
tags of various ages, tags that share a digest, and signatures. The expected decision of every tag is written
down here, and the registry is checked tag by tag afterwards with raw HTTP, skopeo and a real Docker engine.
"""

import os

import pytest

from ansible_collections.regops.registry.plugins.module_utils._retention import Policy
from ansible_collections.regops.registry.plugins.module_utils._retention_prune import execute_repository, plan_repository
from tests.integration.test_client_blobs import client_for
from tests.integration.test_tag_set import Log
from tests.support.images import _tls_args, raw_exists, raw_tag_digest, skopeo, skopeo_tags
from tests.support.registry import TestRegistry, docker
from tests.support.seed import Seeder, days_ago

FQCN = 'regops.registry.retention_prune'

POLICY = {
    'protect': ['^prod-'],
    'rules': [
        {'name': 'releases', 'semver': {'minors': 10, 'patches': 5}},
        {'name': 'dev', 'match': '-dev-', 'older_than_days': 30},
        {'name': 'features', 'prefixes': ['feature-'], 'keep_newest': 2},
    ],
}

# Releases: 1.x and 2.x are older majors (only their newest release stays); the current major 3 has 11 minor
# versions (3.0 falls out of the last 10) and 3.10 has 7 patches (3.10.0 and 3.10.1 fall out of the last 5).
RELEASES = ['1.0.0', '1.0.1', '1.1.0', '2.0.0', '2.1.0', '2.1.1'] + ['3.%d.0' % m for m in range(10)] + [
    '3.10.%d' % p for p in range(7)]
KEPT_RELEASES = {'1.1.0', '2.1.1'} | set('3.%d.0' % m for m in range(1, 10)) | set('3.10.%d' % p for p in range(2, 7))

# The expected action of every tag that is not a release tag (those follow KEPT_RELEASES, with the exceptions below).
EXPECTED_OTHERS = {
    '2.0.0': 'delete',              # the same index as v2.0.0, in the other prefix style
    'v1': 'keep', 'v1.0': 'delete',  # v1.0 is an alias of 1.0, whose releases are all condemned
    'v2': 'keep', 'v2.1': 'keep',
    'v3.0': 'stay',                 # condemned alias on the index prod-2026-11 keeps
    'v3': 'keep', 'v3.10': 'keep', 'latest': 'keep', 'latest-amd64': 'keep', 'v3.10-arm64': 'keep',
    'prod-2026-11': 'keep',         # protected; it keeps the v3.0.0 index and its children
    '3.11.0-dev-aaa': 'delete',     # 45 days old
    '3.11.0-dev-bbb': 'keep',       # 10 days old
    'feature-x-dev-ccc': 'delete',  # the dev rule comes first: 60 days old
    'nightly-dev-epoch': 'keep',    # created at the epoch (reproducible build): age unknown
    '3.9.0-dev-hotfix': 'stay',     # 40 days old, but the same image as v3.9.0-amd64, which is kept
    'dev-label-dev-x': 'delete',    # config says 1 day, the org.opencontainers.image.created label 50 days: the label wins
    'feature-a': 'keep', 'feature-d': 'keep',  # one image, the newest
    'feature-b': 'keep',            # the second newest image
    'feature-c': 'delete',          # the third
    'custom': 'keep',               # no rule selects it
    'v3.11.0-rc.1': 'keep',         # a prerelease: the semver rule leaves it, no other rule selects it
}
# Release tags on kept images although their release is condemned.
STAY_RELEASE_TAGS = {'v3.0.0', 'v3.0.0-amd64', 'v3.0.0-arm64',  # the index prod-2026-11 names, and its children
                     'v2.1.0-arm64'}                           # a child of the kept v2.1.1 index too


def seed(registry, repo):
    """Seed the release repository; returns (tag: digest, extra facts)."""
    s = Seeder(registry, repo)
    indexes = {}
    children = {}
    for version in RELEASES:
        if version == '2.1.1':
            # a patch release that rebuilt only amd64: its index reuses the 2.1.0 arm64 image
            amd = s.image('v2.1.1-amd64', 'amd64', created=days_ago(200))
            arm = children['2.1.0'][1]
            s.tag('v2.1.1-arm64', arm)
        elif version == '1.0.0':
            # an old release pushed without per-arch tags: its images are untagged children
            amd = s.image(None, 'amd64', created=days_ago(400), name='1.0.0-amd64')
            arm = s.image(None, 'arm64', created=days_ago(400), name='1.0.0-arm64')
        else:
            amd = s.image('v%s-amd64' % version, 'amd64', created=days_ago(40))
            arm = s.image('v%s-arm64' % version, 'arm64', created=days_ago(40))
        children[version] = (amd, arm)
        indexes[version] = s.index([(amd, 'amd64'), (arm, 'arm64')], 'v%s' % version)
    s.tag('2.0.0', indexes['2.0.0'])
    for alias, version in (('v1', '1.1.0'), ('v1.0', '1.0.1'), ('v2', '2.1.1'), ('v2.1', '2.1.1'), ('v3.0', '3.0.0'),
                           ('v3', '3.10.6'), ('v3.10', '3.10.6'), ('latest', '3.10.6'), ('prod-2026-11', '3.0.0')):
        s.tag(alias, indexes[version])
    s.tag('latest-amd64', children['3.10.6'][0])
    s.tag('v3.10-arm64', children['3.10.6'][1])
    s.image('3.11.0-dev-aaa', created=days_ago(45))
    s.image('3.11.0-dev-bbb', created=days_ago(10))
    s.image('feature-x-dev-ccc', created=days_ago(60))
    s.image('nightly-dev-epoch', created='1970-01-01T00:00:00Z')
    s.tag('3.9.0-dev-hotfix', children['3.9.0'][0])
    s.image('dev-label-dev-x', created=days_ago(1), label_created=days_ago(50))
    s.tag('feature-d', s.image('feature-a', created=days_ago(1)))
    s.image('feature-b', created=days_ago(5))
    s.image('feature-c', created=days_ago(20))
    s.image('custom', created=days_ago(900))
    s.image('v3.11.0-rc.1', created=days_ago(2))
    signatures = {
        'condemned': s.signature(indexes['1.0.1']),       # goes with v1.0.1
        'kept': s.signature(indexes['3.10.6']),           # stays with v3.10.6
        'kept_att': s.signature(indexes['3.0.0'], '.att'),  # its subject is kept by prod-2026-11
        'orphan': s.signature('sha256:' + 'ab' * 32),     # its subject is not here: left alone
    }
    tags = dict((tag, raw_tag_digest(registry, repo, tag)) for tag in skopeo_tags(registry, repo))
    return tags, {'indexes': indexes, 'children': children, 'signatures': signatures}


def expected_actions(tags, facts):
    expected = {}
    for tag in tags:
        if tag in EXPECTED_OTHERS:
            expected[tag] = EXPECTED_OTHERS[tag]
        elif tag.startswith('sha256-'):
            continue
        else:
            version = tag.lstrip('v').replace('-amd64', '').replace('-arm64', '')
            assert version in RELEASES, tag
            if tag in STAY_RELEASE_TAGS:
                expected[tag] = 'stay'
            else:
                expected[tag] = 'keep' if version in KEPT_RELEASES else 'delete'
    sig = dict((name, '%s%s' % (subject.replace(':', '-'), '.att' if name == 'kept_att' else '.sig'))
               for name, subject in (('condemned', facts['indexes']['1.0.1']), ('kept', facts['indexes']['3.10.6']),
                                     ('kept_att', facts['indexes']['3.0.0']), ('orphan', 'sha256:' + 'ab' * 32)))
    expected.update({sig['condemned']: 'delete', sig['kept']: 'keep', sig['kept_att']: 'keep', sig['orphan']: 'keep'})
    assert set(expected) == set(tags)
    return expected


def run(ansible, conn, repo, check=False, diff=False, **extra):
    args = dict(conn, repository=repo, **dict(POLICY, **extra))
    return ansible.module(FQCN, args, check=check, diff=diff)


def actions(result):
    (entry,) = result['repositories']
    return dict((t['tag'], t['action']) for t in entry['tags'])


def docker_pull(registry, reference, platform=None):
    args = ['pull', '-q'] + (['--platform', platform] if platform else []) + ['%s/%s' % (registry.host, reference)]
    docker(*args)
    docker('rmi', '%s/%s' % (registry.host, reference))


@pytest.fixture
def trusted(registry):
    """The Docker engine trusts the fixture registry's CA (for pulls; the engine's config has the login)."""
    certs_d = '/etc/docker/certs.d/%s' % registry.host
    os.makedirs(certs_d, exist_ok=True)
    with open(registry.ca_path, 'rb') as src, open(os.path.join(certs_d, 'ca.crt'), 'wb') as dst:
        dst.write(src.read())
    docker('login', '-u', registry.username, '--password-stdin', registry.host, input=registry.password)
    yield
    docker('logout', registry.host, check=False)


def test_full_policy_keeps_exactly_what_it_should(ansible, conn, registry, repo, trusted):
    tags, facts = seed(registry, repo)
    expected = expected_actions(tags, facts)
    log = Log(registry)
    out = run(ansible, conn, repo, diff=True)
    log.freeze()
    result = out.result
    assert not result.get('failed'), result.get('msg')
    assert result['changed'] is True
    assert actions(result) == expected

    # Tag by tag: what stays resolves to its original digest, what went is gone.
    remaining = sorted(t for t, a in expected.items() if a in ('keep', 'stay'))
    assert skopeo_tags(registry, repo) == remaining
    for tag in remaining:
        assert raw_tag_digest(registry, repo, tag) == tags[tag], tag
    # Every image a kept index uses is still there, the shared 2.1.0 arm64 image among them.
    kept_digests = set(tags[t] for t in remaining)
    for version, index in facts['indexes'].items():
        assert raw_exists(registry, repo, index) is (index in kept_digests), version
        if index in kept_digests:
            for child in facts['children'][version]:
                assert raw_exists(registry, repo, child), (version, child)
    # The untagged children of the condemned 1.0.0 index went with it (delete_untagged), after it.
    (entry,) = result['repositories']
    children_deleted = [m for m in entry['manifests'] if m['kind'] == 'child']
    assert sorted(m['digest'] for m in children_deleted) == sorted(facts['children']['1.0.0'])
    assert all(m['outcome'] == 'deleted' for m in entry['manifests'])
    assert entry['deleted']['manifests'] == sorted(m['digest'] for m in entry['manifests'])
    deletes = [p for m, p, s in log.entries() if m == 'DELETE' and s == 202]
    assert len(deletes) == len(entry['manifests'])
    first_child = min(i for i, p in enumerate(deletes) if p.rsplit('/', 1)[1] in facts['children']['1.0.0'])
    assert deletes.index('/v2/%s/manifests/%s' % (repo, facts['indexes']['1.0.0'])) < first_child
    # Why each stays is said.
    stay = dict((t['tag'], t['reason']) for t in entry['tags'] if t['action'] == 'stay')
    assert 'cannot delete a tag without its image' in stay['v3.0']
    assert 'prod-2026-11' in stay['v3.0']
    # The diff shows the tag sets before and after.
    assert result['diff']['before'] == ''.join('%s:%s\n' % (repo, t) for t in sorted(tags))
    assert result['diff']['after'] == ''.join('%s:%s\n' % (repo, t) for t in remaining)

    # Every kept tag pulls with Docker (indexes for both platforms).
    for tag in remaining:
        if tag.startswith('sha256-'):
            continue  # signatures are not runnable images
        docker_pull(registry, '%s:%s' % (repo, tag))
    docker_pull(registry, '%s:v3.10.6' % repo, platform='linux/arm64')

    # A rerun deletes nothing more.
    log = Log(registry)
    again = run(ansible, conn, repo).result
    log.freeze()
    assert not again.get('failed'), again.get('msg')
    assert again['changed'] is False
    assert [e for e in log.writes() if e[0] == 'DELETE' and e[2] == 202] == []
    assert skopeo_tags(registry, repo) == remaining
    assert set(actions(again).values()) <= {'keep', 'stay'}


def test_check_mode_plans_everything_and_deletes_nothing(ansible, conn, registry, repo):
    tags, facts = seed(registry, repo)
    expected = expected_actions(tags, facts)
    log = Log(registry)
    result = run(ansible, conn, repo, check=True, diff=True).result
    log.freeze()
    assert not result.get('failed'), result.get('msg')
    assert result['changed'] is True
    assert actions(result) == expected
    (entry,) = result['repositories']
    assert 'deleted' not in entry
    assert all('outcome' not in m for m in entry['manifests'])
    assert all(t['reason'] for t in entry['tags'])
    assert sorted(t['tag'] for t in entry['tags'] if t['rule'] is None) == ['custom', 'v3.11.0-rc.1']
    # Only the probes (a digest and a tag nothing has) were sent as DELETE; none deleted anything.
    assert [s for m, _p, s in log.entries() if m == 'DELETE' and s != 401] == [400, 404]
    assert skopeo_tags(registry, repo) == sorted(tags)
    remaining = sorted(t for t, a in expected.items() if a in ('keep', 'stay'))
    assert result['diff']['after'] == ''.join('%s:%s\n' % (repo, t) for t in remaining)


def _small_repo(registry, repo):
    s = Seeder(registry, repo)
    digests = {
        'old': s.image('old-dev-1', created=days_ago(90)),
        'old2': s.image('old-dev-2', created=days_ago(80)),
        'old3': s.image('old-dev-3', created=days_ago(70)),
        'new': s.image('new-dev-1', created=days_ago(1)),
        'stable': s.image('stable', created=days_ago(100)),
    }
    return s, digests


DEV_POLICY = {'rules': [{'name': 'dev', 'match': '-dev-', 'older_than_days': 30}]}


def test_tags_that_move_or_appear_between_plan_and_delete_are_respected(registry, repo):
    s, d = _small_repo(registry, repo)
    d['old4'] = s.image('old-dev-4', created=days_ago(60))
    d['release'] = s.image('v1.2.3', created=days_ago(1))
    client = client_for(registry)
    policy = Policy(rules=DEV_POLICY['rules'])
    plan = plan_repository(client, repo, policy, parallel=4)
    assert sorted(m.digest for m in plan.manifests) == sorted([d['old'], d['old2'], d['old3'], d['old4']])

    s.tag('old-dev-1', d['new'])      # a condemned tag moved to an image the plan keeps
    s.tag('rollback', d['old2'])      # a new tag on a condemned image
    s.tag('stable', d['old3'])        # a kept floating tag moved onto a condemned image
    s.tag('v1.2.3', d['old4'])        # a kept release tag too: other tools can move it
    execute_repository(client, plan, parallel=4)

    outcomes = dict((m.digest, m.outcome) for m in plan.manifests)
    assert outcomes[d['old']].startswith('skipped: its tags moved')
    assert 'rollback appeared after planning' in outcomes[d['old2']]
    assert 'stable moved to it after planning' in outcomes[d['old3']]
    assert raw_tag_digest(registry, repo, 'old-dev-1') == d['new']
    assert raw_tag_digest(registry, repo, 'rollback') == d['old2']
    assert raw_tag_digest(registry, repo, 'old-dev-2') == d['old2']
    assert raw_tag_digest(registry, repo, 'stable') == d['old3']
    assert 'v1.2.3 moved to it after planning' in outcomes[d['old4']]
    assert raw_tag_digest(registry, repo, 'v1.2.3') == d['old4']
    # The image the moved tag left is still there (nothing condemned it any more); nothing was deleted.
    assert raw_exists(registry, repo, d['old'])
    assert plan.deleted_manifests == 0
    by_tag = dict((t.tag, t) for t in plan.tags)
    assert by_tag['old-dev-1'].outcome == 'skipped: moved to %s after planning' % d['new']


def test_deletes_disabled_is_reported_up_front(ansible, workdir, repo):
    reg = TestRegistry(os.path.join(workdir, 'prune-no-delete'), delete=False).start()
    try:
        _small_repo(reg, repo)
        conn = {'registry': reg.host, 'username': reg.username, 'password': reg.password, 'ca_path': reg.ca_path}
        log = Log(reg)
        result = ansible.module(FQCN, dict(conn, repository=repo, **DEV_POLICY)).result
        log.freeze()
        assert result['failed'] is True
        assert result['error'] == 'UnsupportedError'
        assert 'deletes are disabled on the registry' in result['msg']
        assert 'nothing was deleted' in result['msg']
        assert 'storage.delete.enabled: true' in result['msg']
        assert [s for m, _p, s in log.entries() if m == 'DELETE' and s != 401] == [405]  # the probe, once
        assert len(skopeo_tags(reg, repo)) == 5

        checked = ansible.module(FQCN, dict(conn, repository=repo, **DEV_POLICY), check=True).result
        assert not checked.get('failed'), checked.get('msg')
        assert any('deletes are disabled' in w for w in checked.get('warnings', []))
        assert checked['repositories'][0]['summary']['delete'] == 3
    finally:
        reg.stop()


def test_repository_pattern_prunes_only_matching_repositories(ansible, conn, registry, repo):
    for name in ('%s/a' % repo, '%s/b' % repo, '%s-other' % repo):
        _small_repo(registry, name)
    result = ansible.module(FQCN, dict(conn, repository_pattern='%s/.*' % repo, **DEV_POLICY)).result
    assert not result.get('failed'), result.get('msg')
    assert [r['repository'] for r in result['repositories']] == ['%s/a' % repo, '%s/b' % repo]
    for name in ('%s/a' % repo, '%s/b' % repo):
        assert skopeo_tags(registry, name) == ['new-dev-1', 'stable']
    assert len(skopeo_tags(registry, '%s-other' % repo)) == 5


def test_a_missing_repository_fails_but_the_others_are_pruned(ansible, conn, registry, repo):
    _small_repo(registry, repo)
    result = ansible.module(FQCN, dict(conn, repository=[repo, repo + '-missing'], **DEV_POLICY)).result
    assert result['failed'] is True
    assert result['changed'] is True
    assert '1 of 2 repositories failed' in result['msg'] and 'repository not found' in result['msg']
    assert skopeo_tags(registry, repo) == ['new-dev-1', 'stable']


def test_invalid_policy_is_refused_before_any_request(ansible, conn, registry, repo):
    log = Log(registry)
    result = ansible.module(FQCN, dict(conn, repository=repo, rules=[{'name': 'oops', 'match': '-dev-'}])).result
    log.freeze()
    assert result['failed'] is True
    assert 'oops: say what the rule keeps' in result['msg']
    assert log.entries() == []


def test_garbage_collection_after_prune_keeps_every_kept_image(ansible, workdir, repo, tmp_path):
    """The documented procedure (docs/garbage-collection.md), by the garbage_collect playbook: stopped registry,
    garbage-collect without --delete-untagged, start again. Disk is freed and every image of every kept index
    still copies. The registry's storage is set by a REGISTRY_* variable, which the collector must get too."""
    reg = TestRegistry(os.path.join(workdir, 'prune-gc'),
                       env={'REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY': '/var/lib/registry/from-env'}).start()
    try:
        tags, facts = seed(reg, repo)
        expected = expected_actions(tags, facts)
        conn = {'registry': reg.host, 'username': reg.username, 'password': reg.password, 'ca_path': reg.ca_path}
        result = ansible.module(FQCN, dict(conn, repository=repo, **POLICY)).result
        assert not result.get('failed'), result.get('msg')

        before = reg.blob_count()
        dry = ansible.playbook('regops.registry.garbage_collect',
                               extra_args=['-e', 'registry_container=%s' % reg.name, '-e', 'garbage_collect_dry_run=true'])
        assert dry.rc == 0, dry.stdout[-3000:]
        assert reg.blob_count() == before
        eligible = int(dry.result['msg'].split('Dry run: ', 1)[1].split()[0])
        assert eligible > 0, dry.result

        run = ansible.playbook('regops.registry.garbage_collect', extra_args=['-e', 'registry_container=%s' % reg.name])
        assert run.rc == 0, run.stdout[-3000:]
        reg.started_again()
        after = reg.blob_count()
        assert int(run.result['msg'].split()[0]) == eligible == before - after, run.result

        remaining = sorted(t for t, a in expected.items() if a in ('keep', 'stay'))
        assert skopeo_tags(reg, repo) == remaining
        for tag in remaining:
            if tag.startswith('sha256-'):
                continue
            # skopeo copies every blob of every platform: nothing a kept tag needs was collected.
            skopeo(reg, 'copy', '--quiet', '--all', *_tls_args(reg, 'src-'), 'docker://%s/%s:%s' % (reg.host, repo, tag),
                   'dir:%s' % (tmp_path / tag))

        # Why the procedure leaves out --delete-untagged: on distribution 2.x it collects the images of a tagged
        # multi-arch index that have no tag of their own (distribution issues 3004, 3178).
        s = Seeder(reg, repo)
        children = [s.image(None, arch, name='multi-only-%s' % arch) for arch in ('amd64', 'arm64')]
        s.index([(children[0], 'amd64'), (children[1], 'arm64')], 'multi-only')
        reg.garbage_collect('--delete-untagged')
        assert raw_tag_digest(reg, repo, 'multi-only') is not None
        assert not raw_exists(reg, repo, children[0])
        broken = skopeo(reg, 'copy', '--quiet', '--all', *_tls_args(reg, 'src-'), 'docker://%s/%s:multi-only' % (reg.host, repo),
                        'dir:%s' % (tmp_path / 'multi-only'), check=False)
        assert broken.returncode != 0
    finally:
        reg.stop()


def test_check_mode_result_has_the_documented_keys(ansible, conn, registry, repo):
    _small_repo(registry, repo)
    result = ansible.module(FQCN, dict(conn, repository=repo, **DEV_POLICY), check=True).result
    assert set(result) >= {'changed', 'msg', 'registry', 'repositories'}
    entry = result['repositories'][0]
    assert set(entry) == {'repository', 'tags', 'manifests', 'summary', 'notes'}
    assert entry['summary'] == {'keep': 2, 'delete': 3, 'untag': 0, 'stay': 0, 'manifests': 3}
    assert set(entry['tags'][0]) == {'tag', 'digest', 'action', 'rule', 'reason'}
    assert set(entry['manifests'][0]) == {'digest', 'kind', 'tags', 'reason'}
    assert any('no referrers API' in n for n in entry['notes'])


def test_check_mode_works_for_a_user_who_may_only_pull(ansible, token_registry, issuer, repo):
    """Bearer tokens: the pull-only user plans in check mode (the delete probes are refused) and is warned."""
    s = Seeder(token_registry, repo)
    s.image('old-dev-1', created=days_ago(90))
    s.image('stable', created=days_ago(90))
    reader = {'registry': token_registry.host, 'username': 'reader', 'password': issuer.users['reader'][0],
              'ca_path': token_registry.ca_path}
    result = ansible.module(FQCN, dict(reader, repository=repo, **DEV_POLICY), check=True).result
    assert not result.get('failed'), result.get('msg')
    assert result['repositories'][0]['summary']['delete'] == 1
    assert any('could not ask whether deletes are enabled' in w for w in result['warnings'])
    real = ansible.module(FQCN, dict(reader, repository=repo, **DEV_POLICY)).result
    assert real['failed'] is True and real['error'] == 'AuthorizationError'
    assert 'reader-pw' not in real['msg']
    assert skopeo_tags(token_registry, repo) == ['old-dev-1', 'stable']
