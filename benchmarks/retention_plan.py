"""How long retention_prune takes to plan a repository of 5,000 tags, against a real registry (TLS + htpasswd).

    make bench-retention             # or: python benchmarks/retention_plan.py --tags 5000 --parallel 4 8 16

Seeds one repository over raw HTTP: releases across three majors (per-arch images, a multi-arch index and the
aliases of each), dev builds of spread-out ages, and feature-branch tags that share images. Then it plans it
with the module's planner, in this process, for each ``--parallel`` (what check mode does, without Ansible's
start-up); then once more to read the planner's peak Python memory; then through ``ansible-playbook`` in check
mode, for real (the deletes), and again (nothing left to delete). It prints wall time and the requests the
registry served (from its access log).
"""

import argparse
import os
import random
import sys
import tempfile
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.conftest import ROOT  # noqa: E402  (importing it makes the collection importable as ansible_collections)
from ansible_collections.regops.registry.plugins.module_utils._retention import Policy  # noqa: E402
from ansible_collections.regops.registry.plugins.module_utils._retention_prune import plan_repository  # noqa: E402
from tests.integration.test_client_blobs import client_for  # noqa: E402
from tests.support.ansible import AnsibleRunner, install_collection  # noqa: E402
from tests.support.registry import TestRegistry  # noqa: E402
from tests.support.seed import Seeder, days_ago  # noqa: E402

RULES = [
    {'name': 'releases', 'semver': {'minors': 10, 'patches': 5}},
    {'name': 'dev', 'match': '-dev-', 'older_than_days': 30},
    {'name': 'features', 'prefixes': ['feature-'], 'keep_newest': 20},
]


def seed(registry, repository, total, workers=16):
    """About ``total`` tags: returns the number written."""
    s = Seeder(registry, repository)
    rng = random.Random(5000)
    versions = ['%d.%d.%d' % (major, minor, patch) for major in (1, 2, 3) for minor in range(12) for patch in range(6)]
    releases_tags = len(versions) * 3 + 3 * 12 + 3 + 1  # per-arch images and index; minor, major, latest aliases
    dev = max(0, (total - releases_tags) * 3 // 4)
    features = max(0, total - releases_tags - dev)

    def release(version):
        amd = s.image('v%s-amd64' % version, 'amd64', created=days_ago(rng.randint(30, 900)))
        arm = s.image('v%s-arm64' % version, 'arm64', created=days_ago(rng.randint(30, 900)))
        return version, s.index([(amd, 'amd64'), (arm, 'arm64')], 'v%s' % version)

    with ThreadPoolExecutor(workers) as pool:
        indexes = dict(pool.map(release, versions))
        for major in (1, 2, 3):
            for minor in range(12):
                newest = '%d.%d.5' % (major, minor)
                s.tag('v%d.%d' % (major, minor), indexes[newest])
        for major in (1, 2, 3):
            s.tag('v%d' % major, indexes['%d.11.5' % major])
        s.tag('latest', indexes['3.11.5'])
        ages = [rng.randint(0, 90) for _i in range(dev)]
        list(pool.map(lambda i: s.image('build-%05d-dev-%d' % (i, ages[i]), created=days_ago(ages[i])), range(dev)))
        images = list(pool.map(lambda i: s.image('feature-%05d' % i, created=days_ago(rng.randint(0, 60))),
                               range(features // 2)))
        list(pool.map(lambda i: s.tag('feature-%05d-b' % i, images[i]), range(len(images))))
    return len(s.session.get(registry.url + '/v2/%s/tags/list' % repository, verify=registry.verify).json()['tags'])


def requests_since(registry, mark):
    """The requests the registry served since ``mark`` (an access log length), by method."""
    by_method = {}
    for method, _path, _status in registry.access_log()[mark:]:
        by_method[method] = by_method.get(method, 0) + 1
    return ' '.join('%s=%d' % kv for kv in sorted(by_method.items()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--tags', type=int, default=5000)
    parser.add_argument('--parallel', type=int, nargs='+', default=[4, 8, 16])
    parser.add_argument('--no-ansible', action='store_true', help='skip the ansible-playbook check-mode run')
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix='regops-bench-')
    registry = TestRegistry(os.path.join(workdir, 'registry')).start()
    try:
        repository = 'bench/service'
        started = time.time()
        written = seed(registry, repository, args.tags)
        print('seeded %d tags in %.1f s' % (written, time.time() - started))
        policy = Policy(rules=RULES)
        for parallel in args.parallel:
            mark = len(registry.access_log())
            started = time.perf_counter()
            plan = plan_repository(client_for(registry), repository, policy, parallel)
            elapsed = time.perf_counter() - started
            print('plan parallel=%-2d %6.1f s  %5d tags: %d keep, %d delete, %d stay; %d manifests to delete; requests %s' % (
                parallel, elapsed, len(plan.tags), plan.count('keep'), plan.count('delete'), plan.count('stay'),
                len(plan.manifests), requests_since(registry, mark)))
        tracemalloc.start()  # a pass of its own: tracing every allocation slows Python down
        plan_repository(client_for(registry), repository, policy, args.parallel[0])
        print('plan peak Python memory (tracemalloc): %.1f MiB' % (tracemalloc.get_traced_memory()[1] / 2.0 ** 20))
        tracemalloc.stop()
        if not args.no_ansible:
            runner = AnsibleRunner(install_collection(ROOT, workdir), os.path.join(workdir, 'ansible'))
            conn = {'registry': registry.host, 'username': registry.username, 'password': registry.password,
                    'ca_path': registry.ca_path}
            for what, check in (('check mode', True), ('real run', False), ('rerun', False)):
                mark = len(registry.access_log())
                started = time.perf_counter()
                out = runner.module('regops.registry.retention_prune', dict(conn, repository=repository, rules=RULES),
                                    check=check)
                elapsed = time.perf_counter() - started
                result = out.result
                if result.get('failed'):
                    raise SystemExit(result.get('msg'))
                print('ansible-playbook %-10s (parallel=4, whole run with start-up) %6.1f s  requests %s\n  %s' % (
                    what, elapsed, requests_since(registry, mark), result['msg']))
    finally:
        registry.stop()


if __name__ == '__main__':
    main()
