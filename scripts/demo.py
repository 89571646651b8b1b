#!/usr/bin/env python
"""The main job, on this machine: a local TLS + htpasswd registry, sample release images, the
regops.registry.tag_release playbook run by FQCN (twice: the second run changes nothing), and the
resulting tags and digests as a second client (skopeo) sees them.

Run it through `make demo`, which installs and starts what it needs first.
Pass --keep to leave the registry running afterwards.
"""

import argparse
import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.support.ansible import AnsibleRunner, install_collection  # noqa: E402
from tests.support.images import make_layout, push_layout, raw_tag_digest, skopeo_tags  # noqa: E402
from tests.support.registry import TestRegistry  # noqa: E402

REPOSITORY = 'battlescope/ingestion-service'
ARCHES = ('amd64', 'arm64')


def release(ansible, registry, version):
    extra = {'registry': registry.host, 'registry_ca_path': registry.ca_path, 'repository': REPOSITORY, 'version': version,
             'architectures': list(ARCHES)}
    env = {'REGOPS_REGISTRY_USERNAME': registry.username, 'REGOPS_REGISTRY_PASSWORD': registry.password}
    extra_file = os.path.join(ansible.workdir, 'release-%s.json' % version)
    with open(extra_file, 'w') as f:
        json.dump(extra, f)
    print('\n$ ansible-playbook regops.registry.tag_release -e @%s' % os.path.basename(extra_file), flush=True)
    run = ansible.playbook('regops.registry.tag_release', extra_args=['-e', '@' + extra_file], env=env,
                           callback='ansible.builtin.default')
    print(run.stdout.strip())
    if run.rc != 0:
        print(run.stderr, file=sys.stderr)
        raise SystemExit('the playbook failed (rc %d)' % run.rc)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--keep', action='store_true', help='leave the registry running')
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix='regops-demo-')
    registry = TestRegistry(os.path.join(work, 'registry')).start()
    print('registry %s up (TLS with CA %s, htpasswd user %s)' % (registry.url, registry.ca_path, registry.username))
    try:
        for version in ('3.0.0', '3.0.1'):
            for arch in ARCHES:
                layout = os.path.join(work, 'layout-%s-%s' % (version, arch))
                make_layout(layout, tag='build', arch=arch, layers=3, layer_size=64 * 1024)
                digest = push_layout(registry, layout, 'build', REPOSITORY, '%s-%s' % (version, arch))
                print('pushed %s/%s:%s-%s  %s' % (registry.host, REPOSITORY, version, arch, digest))

        ansible = AnsibleRunner(install_collection(ROOT, os.path.join(work, 'collection')), os.path.join(work, 'ansible'))
        release(ansible, registry, 'v3.0.0')
        release(ansible, registry, 'v3.0.1')
        release(ansible, registry, 'v3.0.1')  # idempotent: changed=0

        print('\nTags in %s/%s, as skopeo sees them:' % (registry.host, REPOSITORY))
        for tag in skopeo_tags(registry, REPOSITORY):
            print('  %-16s %s' % (tag, raw_tag_digest(registry, REPOSITORY, tag)))
    finally:
        if args.keep:
            print('\nregistry left running: %s (container %s); stop it with: docker rm -f -v %s'
                  % (registry.url, registry.container[:12], registry.container[:12]))
            print('credentials: %s / %s, CA: %s' % (registry.username, registry.password, registry.ca_path))
        else:
            registry.stop()


if __name__ == '__main__':
    main()
