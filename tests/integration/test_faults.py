"""The modules under network faults: a fault-injecting proxy (tests/support/fault_proxy.py) between them and the real
registry answers chosen requests with 500/502/503, 429 + Retry-After, resets (before the registry sees the request,
or after it did the work), stalls past the client's timeout, or bodies cut short.

For every case: a transient fault (fewer than the client's 5 attempts) must be survived, the run succeeding; a
persistent one must fail with a message naming the registry and the repository. Either way the faults must really
have been injected, a rerun without faults converges (``changed: false`` once the state is reached), and the
inventory of every kept tag's digest, read from the registry directly, is the same before and after.
"""

import os
import threading
import time

import pytest

from tests.support.fault_proxy import Fault, FaultProxy, REPORT
from tests.support.images import make_layout, raw_manifest, tag_digests
from tests.support.registry import TestRegistry, docker
from tests.support.seed import Seeder, days_ago

TIMEOUT = 3  # the modules' timeout option here: a stall holds an answer for 7 s


@pytest.fixture(scope='module')
def proxy(registry, workdir):
    server = FaultProxy(registry, os.path.join(workdir, 'fault-proxy'), client_timeout=TIMEOUT).start()
    yield server
    server.stop()


@pytest.fixture
def via(proxy):
    """Connection options through the proxy (its own CA), with a short timeout."""
    proxy.clear()
    yield proxy.connection(timeout=TIMEOUT)
    proxy.clear()


def under_fault(ansible, proxy, registry, fqcn, args, faults, persistent=False, check_rerun=True, between=None):
    """Run ``fqcn`` with ``faults`` in force, then again without; returns (faulted result, rerun result).
    ``between(result)`` runs after the faulted run, before the rerun."""
    faults = proxy.inject(*faults)
    before = len(proxy.injected)
    out = ansible.module(fqcn, args)
    proxy.clear()
    injected = len(proxy.injected) - before
    REPORT['injected'] += injected
    result = out.result
    assert injected > 0, 'no fault was injected: %r matched nothing' % (faults,)
    if persistent:
        assert result.get('failed') is True, result
        assert registry_named(result, proxy, args), result['msg']
        REPORT['failed_clearly'] += 1
    else:
        assert not result.get('failed'), result
        REPORT['survived'] += 1
    if between is not None:
        between(result)
    rerun = ansible.module(fqcn, args).result
    assert not rerun.get('failed'), rerun
    if check_rerun:
        assert rerun['changed'] is False or persistent, rerun
    REPORT['runs'] += 2
    return result, rerun


def registry_named(result, proxy, args):
    repository = args.get('repository')
    names = [repository] if isinstance(repository, str) else list(repository or [])
    return proxy.host in result['msg'] and all(name in result['msg'] for name in names[:1])


def assert_kept(before, after):
    lost = dict((tag, digest) for tag, digest in before.items() if after.get(tag) != digest)
    REPORT['kept_lost'] += len(lost)
    assert lost == {}, 'kept tags lost or moved: %s' % lost


# ---------------------------------------------------------------- tag_set

TRANSIENT = [
    ('500', Fault('status', status=500, times=2)),
    ('502', Fault('status', status=502, times=2)),
    ('503', Fault('status', status=503, times=3)),
    ('429', Fault('throttle', times=2, retry_after=1)),
    ('reset', Fault('reset', times=2)),
    ('reset-after-work', Fault('reset_after', times=1)),
    ('stall', Fault('stall', times=1)),
]

TAG_SET_CASES = [('write-' + name, fault, ['PUT'], '/manifests/') for name, fault in TRANSIENT] + [
    ('read-503', Fault('status', status=503, times=2), ['HEAD'], '/manifests/'),
    ('read-reset', Fault('reset', times=2), ['HEAD'], '/manifests/'),
    ('read-stall', Fault('stall', times=1), ['HEAD'], '/manifests/'),
    ('read-truncated', Fault('truncate', times=2), ['GET'], '/manifests/'),
    ('read-429', Fault('throttle', times=1, retry_after=2), ['GET'], '/manifests/'),
]


def fresh(fault, methods, path):
    """A new Fault like ``fault`` on ``methods`` and ``path`` (a case's Fault is a template: it counts)."""
    return Fault(fault.kind, methods=methods, path=path, times=fault.times, skip=fault.skip, status=fault.status,
                 retry_after=fault.retry_after, stall=fault.stall)


@pytest.mark.parametrize('name,fault,methods,path', TAG_SET_CASES, ids=[c[0] for c in TAG_SET_CASES])
def test_tag_set_under_fault(ansible, via, proxy, registry, images, repo, name, fault, methods, path):
    old = images.push(repo, 'v1.0.0')
    new = images.push(repo, 'build-2')
    kept = tag_digests(registry, repo)
    args = dict(via, repository=repo, source='build-2', version='v1.1.0')
    under_fault(ansible, proxy, registry, 'regops.registry.tag_set', args, [fresh(fault, methods, path)])
    after = tag_digests(registry, repo)
    assert_kept(kept, after)
    for tag in ('v1.1.0', 'v1.1', 'v1', 'latest'):
        assert after[tag] == new, (tag, after)
    assert after['v1.0.0'] == old


def test_tag_set_persistent_failure_is_clear_and_rerun_converges(ansible, via, proxy, registry, images, repo):
    new = images.push(repo, 'build')
    kept = tag_digests(registry, repo)
    args = dict(via, repository=repo, source='build', version='v2.0.0')
    # The first tag goes up, every later write is refused: a half-done run.
    result, _rerun = under_fault(ansible, proxy, registry, 'regops.registry.tag_set', args,
                                 [Fault('status', ['PUT'], '/manifests/', status=503, times=99, skip=1)], persistent=True)
    assert result['error'] == 'RegistryConnectionError'
    assert 'HTTP 503 after 5 attempts' in result['msg'] and 'tags already written: v2.0.0' in result['msg']
    assert result['changed'] is True
    after = tag_digests(registry, repo)
    assert_kept(kept, after)
    assert all(after[tag] == new for tag in ('v2.0.0', 'v2.0', 'v2', 'latest'))


# ---------------------------------------------------------------- manifest_push

PUSH_CASES = [
    ('blob-start-500', Fault('status', status=500, times=2), ['POST'], '/blobs/uploads/'),
    ('blob-start-reset-after-work', Fault('reset_after', times=2), ['POST'], '/blobs/uploads/'),
    ('blob-put-reset', Fault('reset', times=2), ['PUT'], '/blobs/uploads/'),
    ('blob-put-reset-after-work', Fault('reset_after', times=1), ['PUT'], '/blobs/uploads/'),
    ('blob-put-stall', Fault('stall', times=1), ['PUT'], '/blobs/uploads/'),
    ('blob-head-503', Fault('status', status=503, times=3), ['HEAD'], '/blobs/'),
    ('manifest-put-502', Fault('status', status=502, times=2), ['PUT'], '/manifests/'),
    ('manifest-put-reset-after-work', Fault('reset_after', times=2), ['PUT'], '/manifests/'),
    ('manifest-put-429', Fault('throttle', times=2, retry_after=1), ['PUT'], '/manifests/'),
    ('manifest-head-reset', Fault('reset', times=2), ['HEAD'], '/manifests/'),
]


def layout(tmp_path, name, arch):
    path = str(tmp_path / name)
    make_layout(path, tag='app', arch=arch, layers=2, layer_size=256 * 1024)
    return path


@pytest.mark.parametrize('name,fault,methods,path', PUSH_CASES, ids=[c[0] for c in PUSH_CASES])
def test_manifest_push_from_disk_under_fault(ansible, via, proxy, registry, images, repo, tmp_path, name, fault,
                                             methods, path):
    old = images.push(repo, 'v0.9.0')
    kept = tag_digests(registry, repo)
    args = dict(via, repository=repo, version='v1.0.0', manifests=[
        {'src': layout(tmp_path, 'amd64', 'amd64'), 'src_ref': 'app', 'suffix': '-amd64'},
        {'src': layout(tmp_path, 'arm64', 'arm64'), 'src_ref': 'app', 'suffix': '-arm64'}])
    result, _rerun = under_fault(ansible, proxy, registry, 'regops.registry.manifest_push', args,
                                 [fresh(fault, methods, path)])
    after = tag_digests(registry, repo)
    assert_kept(kept, after)
    assert after['v0.9.0'] == old
    assert after['v1.0.0'] == result['digest'] and after['latest'] == result['digest']
    assert after['v1.0.0-amd64'] and after['v1.0.0-arm64']


INDEX_CASES = [
    ('config-truncated', Fault('truncate', times=2), ['GET'], '/blobs/'),
    ('config-stall', Fault('stall', times=1), ['GET'], '/blobs/'),
    ('child-truncated', Fault('truncate', times=2), ['GET'], '/manifests/'),
    ('child-500', Fault('status', status=500, times=4), ['GET'], '/manifests/'),
]


@pytest.mark.parametrize('name,fault,methods,path', INDEX_CASES, ids=[c[0] for c in INDEX_CASES])
def test_manifest_push_index_under_fault(ansible, via, proxy, registry, images, repo, name, fault, methods, path):
    amd = images.push(repo, '1.0.0-amd64', arch='amd64')
    arm = images.push(repo, '1.0.0-arm64', arch='arm64')
    kept = tag_digests(registry, repo)
    args = dict(via, repository=repo, manifests=[{'ref': '1.0.0-amd64'}, {'ref': '1.0.0-arm64'}], tags=['1.0.0'])
    result, _rerun = under_fault(ansible, proxy, registry, 'regops.registry.manifest_push', args,
                                 [fresh(fault, methods, path)])
    after = tag_digests(registry, repo)
    assert_kept(kept, after)
    assert after['1.0.0'] == result['digest']
    assert sorted(m['digest'] for m in result['children']) == sorted([amd, arm])


# image_copy between the registry reached directly and through the proxy, which makes them two registries to the
# module: "from" faults the source's reads (blobs streamed through the host), "to" the target's writes and reads.
COPY_CASES = [
    ('from-blob-truncated', 'from', Fault('truncate', times=2), ['GET'], '/blobs/'),
    ('from-blob-stall', 'from', Fault('stall', times=1), ['GET'], '/blobs/'),
    ('from-child-503', 'from', Fault('status', status=503, times=3), ['GET'], '/manifests/sha256:'),
    ('to-blob-put-reset-after-work', 'to', Fault('reset_after', times=1), ['PUT'], '/blobs/uploads/'),
    ('to-child-put-502', 'to', Fault('status', status=502, times=2), ['PUT'], '/manifests/sha256:'),
    ('to-head-reset', 'to', Fault('reset', times=2), ['HEAD'], '/manifests/'),
]


@pytest.mark.parametrize('name,direction,fault,methods,path', COPY_CASES, ids=[c[0] for c in COPY_CASES])
def test_image_copy_between_registries_under_fault(ansible, via, proxy, registry, images, repo, name, direction, fault,
                                                   methods, path):
    source_repo = repo + '-staging'
    digest = images.push(source_repo, 'v2.0.0', platforms=['amd64', 'arm64'])
    images.push(repo, 'v1.0.0')
    kept = tag_digests(registry, repo)
    direct = {'registry': registry.host, 'ca_path': registry.ca_path, 'username': registry.username,
              'password': registry.password}
    if direction == 'from':
        target, source_host, source_ca = direct, proxy.host, proxy.ca_path
    else:
        target, source_host, source_ca = via, registry.host, registry.ca_path
    args = dict(target, source='%s/%s:v2.0.0' % (source_host, source_repo), repository=repo, version='v2.0.0',
                source_username=registry.username, source_password=registry.password, source_ca_path=source_ca)
    result, _rerun = under_fault(ansible, proxy, registry, 'regops.registry.image_copy', args, [fresh(fault, methods, path)])
    assert result['digest'] == digest and result['blobs']['uploaded'] == 6, result
    after = tag_digests(registry, repo)
    assert_kept(kept, after)
    assert after['v2.0.0'] == after['latest'] == digest
    assert raw_manifest(registry, repo, digest).content == raw_manifest(registry, source_repo, digest).content


def test_manifest_push_persistent_failure_is_clear_and_rerun_converges(ansible, via, proxy, registry, images, repo,
                                                                       tmp_path):
    images.push(repo, 'v0.9.0')
    kept = tag_digests(registry, repo)
    args = dict(via, repository=repo, version='v1.0.0', manifests=[
        {'src': layout(tmp_path, 'amd64', 'amd64'), 'src_ref': 'app', 'suffix': '-amd64'},
        {'src': layout(tmp_path, 'arm64', 'arm64'), 'src_ref': 'app', 'suffix': '-arm64'}])
    half = {}

    def stopped(result):
        assert result['error'] == 'RegistryConnectionError' and 'v1.0.0' in result['msg']
        half.update(tag_digests(registry, repo))

    # The images go up by digest; the index, which claims the release first, is refused every time.
    _result, rerun = under_fault(ansible, proxy, registry, 'regops.registry.manifest_push', args,
                                 [Fault('status', ['PUT'], '/manifests/v1.0.0$', status=503, times=99)],
                                 persistent=True, check_rerun=False, between=stopped)
    # Nothing of the release was tagged: no index tag, no image tag, no alias.
    assert set(half) == {'v0.9.0'}, half
    assert_kept(kept, half)
    assert rerun['changed'] is True
    after = tag_digests(registry, repo)
    assert after['v1.0.0'] == rerun['digest'] == after['latest']
    assert sorted([after['v1.0.0-amd64'], after['v1.0.0-arm64']]) == sorted(c['digest'] for c in rerun['children'])


# ---------------------------------------------------------------- retention_prune

POLICY = {'rules': [{'name': 'releases', 'semver': {'minors': 2, 'patches': 1}},
                    {'name': 'dev', 'match': '-dev-', 'older_than_days': 30}]}


def seed_prune(registry, repo):
    """Releases 1.0.0 .. 1.3.1 (indexes of two images with per-arch tags), aliases, old and new dev builds."""
    s = Seeder(registry, repo)
    for version in ('1.0.0', '1.1.0', '1.2.0', '1.2.1', '1.3.0', '1.3.1'):
        amd = s.image('v%s-amd64' % version, 'amd64', created=days_ago(60))
        arm = s.image('v%s-arm64' % version, 'arm64', created=days_ago(60))
        index = s.index([(amd, 'amd64'), (arm, 'arm64')], 'v%s' % version)
    for alias in ('latest', 'v1', 'v1.3'):
        s.tag(alias, index)
    for name, days in (('a', 90), ('b', 45), ('c', 5), ('d', 1)):
        s.image('1.4.0-dev-%s' % name, created=days_ago(days))


def planned(ansible, registry, repo):
    """The tags the policy keeps (a check-mode run straight at the registry) and their digests."""
    conn = {'registry': registry.host, 'ca_path': registry.ca_path, 'username': registry.username,
            'password': registry.password}
    result = ansible.module('regops.registry.retention_prune', dict(conn, repository=repo, **POLICY), check=True).result
    assert not result.get('failed'), result
    (entry,) = result['repositories']
    doomed = set(t['tag'] for t in entry['tags'] if t['action'] == 'delete')
    return doomed


PRUNE_CASES = [
    ('list-500', Fault('status', status=500, times=2), ['GET'], '/tags/list'),
    ('list-truncated', Fault('truncate', times=1), ['GET'], '/tags/list'),
    ('head-reset', Fault('reset', times=3), ['HEAD'], '/manifests/'),
    ('index-truncated', Fault('truncate', times=2), ['GET'], '/manifests/'),
    ('config-truncated', Fault('truncate', times=2), ['GET'], '/blobs/'),
    ('config-stall', Fault('stall', times=1), ['GET'], '/blobs/'),
    # skip=1: the first DELETE of a run is the probe that asks whether deletes are enabled; these fault real deletes.
    ('delete-503', Fault('status', status=503, times=2, skip=1), ['DELETE'], '/manifests/'),
    ('delete-429', Fault('throttle', times=2, retry_after=1, skip=1), ['DELETE'], '/manifests/'),
    ('delete-reset', Fault('reset', times=2, skip=1), ['DELETE'], '/manifests/'),
    ('delete-reset-after-work', Fault('reset_after', times=3, skip=1), ['DELETE'], '/manifests/'),
    ('delete-stall', Fault('stall', times=1, skip=2), ['DELETE'], '/manifests/'),
]


@pytest.mark.parametrize('name,fault,methods,path', PRUNE_CASES, ids=[c[0] for c in PRUNE_CASES])
def test_retention_prune_under_fault(ansible, via, proxy, registry, repo, name, fault, methods, path):
    seed_prune(registry, repo)
    before = tag_digests(registry, repo)
    doomed = planned(ansible, registry, repo)
    assert doomed and doomed < set(before)
    kept = dict((tag, digest) for tag, digest in before.items() if tag not in doomed)
    args = dict(via, repository=repo, **POLICY)
    result, rerun = under_fault(ansible, proxy, registry, 'regops.registry.retention_prune', args,
                                [fresh(fault, methods, path)])
    after = tag_digests(registry, repo)
    assert_kept(kept, after)
    assert set(after) == set(kept), 'left undeleted: %s' % (set(after) - set(kept))
    assert result['changed'] is True


def test_retention_prune_persistent_failure_is_clear_and_rerun_converges(ansible, via, proxy, registry, repo):
    seed_prune(registry, repo)
    before = tag_digests(registry, repo)
    doomed = planned(ansible, registry, repo)
    kept = dict((tag, digest) for tag, digest in before.items() if tag not in doomed)
    args = dict(via, repository=repo, **POLICY)
    # The probe and the first two deletes pass; every later delete is refused.
    result, rerun = under_fault(ansible, proxy, registry, 'regops.registry.retention_prune', args,
                                [Fault('status', ['DELETE'], '/manifests/', status=503, times=99, skip=3)],
                                persistent=True, check_rerun=False)
    assert result['error'] == 'RegistryConnectionError', result['msg']
    assert 'HTTP 503 after 5 attempts' in result['msg']
    assert_kept(kept, tag_digests(registry, repo))
    assert rerun['changed'] is True
    after = tag_digests(registry, repo)
    assert_kept(kept, after)
    assert set(after) == set(kept)


# ---------------------------------------------------------------- registry restarts

@pytest.fixture(scope='module')
def restarting(workdir):
    """A registry of its own (restarting the shared one would disturb other tests) behind a proxy that stays up:
    while the registry restarts, the proxy answers 502, as a load balancer does. Its HTTP secret is fixed, as
    the server role sets it, so upload sessions survive a restart."""
    reg = TestRegistry(os.path.join(workdir, 'restarting'), env={'REGISTRY_HTTP_SECRET': 'regops-test-secret'}).start()
    front = FaultProxy(reg, os.path.join(workdir, 'restarting-proxy'), client_timeout=TIMEOUT).start()
    yield reg, front
    front.stop()
    reg.stop()


def restart_when(registry, proxy, ready, run):
    """Run ``run()`` in a thread; restart the registry once ``ready(proxy.forwarded)`` holds; return run()'s value
    and how many requests had been forwarded when the restart began."""
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.setdefault('value', run()))
    worker.start()
    deadline = time.time() + 300
    while not ready(list(proxy.forwarded)):
        assert worker.is_alive() and time.time() < deadline, 'the run ended before the restart point'
        time.sleep(0.05)
    at = len(proxy.forwarded)
    docker('restart', '-t', '2', registry.container)
    registry.started_again()  # its published port may have changed: the proxy follows it
    worker.join(600)
    REPORT['restarts'] += 1
    return outcome['value'], at


def test_registry_restart_in_the_middle_of_a_large_push(ansible, restarting, tmp_path, repo):
    registry, front = restarting
    conn = front.connection(timeout=TIMEOUT)
    Seeder(registry, repo).image('v0.9.0', created=days_ago(10))
    kept = tag_digests(registry, repo)
    source = str(tmp_path / 'big')
    make_layout(source, tag='app', layers=1, layer_size=96 * 1024 * 1024)  # chunked: 16 MiB PATCHes
    args = dict(conn, repository=repo, src=source, src_ref='app', tags=['v1.0.0'])
    out, at = restart_when(registry, front, lambda seen: sum(1 for m, p, _s in seen if m == 'PATCH') >= 2,
                           lambda: ansible.module('regops.registry.manifest_push', args).result)
    REPORT['runs'] += 1
    if out.get('failed'):
        assert registry.host.split(':')[0] in out['msg'] and repo in out['msg'], out['msg']
    rerun = ansible.module('regops.registry.manifest_push', args).result
    REPORT['runs'] += 1
    assert not rerun.get('failed'), rerun
    after = tag_digests(registry, repo)
    assert_kept(kept, after)
    assert after['v1.0.0'] == rerun['digest']
    # The restart really came in the middle: requests went on after it.
    assert len(front.forwarded) > at
    REPORT['restart_outcomes'].append('push: %s' % ('failed clearly, rerun completed' if out.get('failed') else 'survived'))


def test_registry_restart_in_the_middle_of_a_prune(ansible, restarting, repo):
    registry, front = restarting
    conn = front.connection(timeout=TIMEOUT)
    s = Seeder(registry, repo)
    for n in range(60):
        s.image('1.0.0-dev-%02d' % n, created=days_ago(40 + n))
    for n in range(10):
        s.image('1.0.0-dev-new-%02d' % n, created=days_ago(n))
    s.image('v1.0.0', created=days_ago(90))
    before = tag_digests(registry, repo)
    kept = dict((tag, digest) for tag, digest in before.items() if not tag.startswith('1.0.0-dev-') or 'new' in tag)
    args = dict(conn, repository=repo, **POLICY)
    out, at = restart_when(registry, front, lambda seen: sum(1 for m, p, _s in seen if m == 'DELETE') >= 10,
                           lambda: ansible.module('regops.registry.retention_prune', args).result)
    REPORT['runs'] += 1
    assert_kept(kept, tag_digests(registry, repo))
    if out.get('failed'):
        assert front.host in out['msg'] and repo in out['msg'], out['msg']
    rerun = ansible.module('regops.registry.retention_prune', args).result
    REPORT['runs'] += 1
    assert not rerun.get('failed'), rerun
    after = tag_digests(registry, repo)
    assert_kept(kept, after)
    # A registry stopped in the middle of its own delete can leave the tag listed with no manifest behind it
    # (distribution 2.8 deletes the manifest, then its tags): it holds nothing, and the rerun says so.
    dangling = sorted(tag for tag, digest in after.items() if digest is None)
    assert set(after) - set(dangling) == set(kept)
    (entry,) = rerun['repositories']
    if dangling:
        assert any('point at no manifest (%s' % ', '.join(dangling) in note for note in entry['notes']), entry['notes']
        REPORT['restart_outcomes'].append('prune left %d dangling tag(s), noted' % len(dangling))
    assert len(front.forwarded) > at
    REPORT['restart_outcomes'].append('prune: %s' % ('failed clearly, rerun completed' if out.get('failed') else 'survived'))


# ---------------------------------------------------------------- two release jobs at once

def two_releases(ansible, conns, repo, tmp_path, version):
    """Start two jobs releasing ``version`` of one service from different builds at the same moment, job i through
    ``conns[i]``; their results, and each job's image digests by architecture."""
    jobs = []
    builds = []
    for job, conn in zip(('a', 'b'), conns):
        manifests = []
        builds.append({})
        for arch in ('amd64', 'arm64'):
            path = str(tmp_path / ('%s-%s' % (job, arch)))
            builds[-1][arch] = make_layout(path, tag='app', arch=arch, layers=1, layer_size=64 * 1024)
            manifests.append({'src': path, 'src_ref': 'app', 'suffix': '-' + arch})
        jobs.append(dict(conn, repository=repo, version=version, manifests=manifests))
    results = [None, None]
    barrier = threading.Barrier(2)

    def release(i):
        barrier.wait()
        results[i] = ansible.module('regops.registry.manifest_push', jobs[i]).result

    workers = [threading.Thread(target=release, args=(i,)) for i in (0, 1)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(300)
    return results, builds


@pytest.mark.parametrize('version,delay', [('v1.0.0', 0), ('v1.1.0', 1.0), ('v2.0.0', 1.0)])
def test_two_release_jobs_for_the_same_version_at_once(ansible, via, proxy, registry, repo, tmp_path, version, delay):
    """Two jobs release the same version of a service from different builds, started together: one wins, the other
    reports the conflict, and every tag of the release points at the winner's images.

    Directly, one job is often done planning before the other; with every manifest PUT held for ``delay`` seconds
    (a slow link), both plan an absent release and both write: the claim decides."""
    if delay:
        proxy.inject(Fault('delay', ['PUT'], '/manifests/', times=1000, stall=delay))
    results, _builds = two_releases(ansible, [via, via], repo, tmp_path, version)
    won = [r for r in results if not r.get('failed')]
    lost = [r for r in results if r.get('failed')]
    assert len(won) == 1 and len(lost) == 1, [r.get('msg') for r in results]
    (winner,), (loser,) = won, lost
    assert loser['error'] in (('ConflictError',) if delay else ('ConflictError', 'ImmutableTagError')), loser['msg']
    assert version in loser['msg'] and proxy.host in loser['msg'], loser['msg']
    REPORT['races'].append(loser['error'])
    after = tag_digests(registry, repo)
    children = dict((c['platform']['architecture'], c['digest']) for c in winner['children'])
    line = version.rsplit('.', 1)[0]
    assert after[version] == after[line] == after['latest'] == winner['digest']
    for arch, digest in children.items():
        assert after['%s-%s' % (version, arch)] == after['%s-%s' % (line, arch)] == digest


def test_a_release_write_held_up_longer_than_the_claim_waits(ansible, via, proxy, registry, workdir, repo, tmp_path):
    """The limit of a registry without conditional writes: job b's claim of v3.0.0 is held up 2 s on its way (longer
    than job a waits for competing writes). Job b always stops with the conflict: at its claim's read-back when a's
    write landed last, or at a's image tags when its own did (a's v3.0.0 is then replaced by b's index, and a, done
    by then, does not know). No tag points at a digest neither job intended, and every image an index names is
    there."""
    slow = FaultProxy(registry, os.path.join(workdir, 'slow-proxy'), client_timeout=TIMEOUT).start()
    try:
        slow.inject(Fault('delay', ['PUT'], '/manifests/v3.0.0$', times=1, stall=2.0))
        late = slow.connection(timeout=TIMEOUT)
        results, builds = two_releases(ansible, [via, late], repo, tmp_path, 'v3.0.0')
    finally:
        slow.stop()
    a, b = results
    assert b.get('failed') and b['error'] == 'ConflictError' and 'v3.0.0' in b['msg'], b
    REPORT['races'].append('%s (held up)' % b['error'])
    # Every tag names one job's image, or an index of one job's images, all of which the repository has.
    images = [set(build.values()) for build in builds]
    for tag, digest in tag_digests(registry, repo).items():
        if tag.endswith(('-amd64', '-arm64')):
            assert any(digest in own for own in images), (tag, digest)
            continue
        index = raw_manifest(registry, repo, digest).json()
        named = set(child['digest'] for child in index['manifests'])
        assert named in images, (tag, named, images)
        for child in named:
            assert raw_manifest(registry, repo, child).status_code == 200
