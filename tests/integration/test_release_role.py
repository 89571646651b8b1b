"""The release role on paths the main job (test_main_job.py) does not take: a service that fails while it is
written, against a registry with bearer tokens whose issuer lets the releasing user push to some repositories only;
and settings refused before any request."""

import os
import re

import pytest

from tests.support.images import make_layout, raw_tag_digest, skopeo_tags

ROLE = 'regops.registry.release'
ARCHES = ('amd64', 'arm64')


def layouts(workdir, service, version):
    sources = {}
    for arch in ARCHES:
        path = os.path.join(workdir, '%s-%s-%s' % (service, version, arch))
        make_layout(path, tag='build', arch=arch, layers=2, layer_size=2048)
        sources[arch] = {'oci_layout': path, 'ref': 'build'}
    return sources


def role_vars(registry, organization, services, version, username, password):
    return {'release_registry': registry.host, 'release_ca_path': registry.ca_path, 'release_organization': organization,
            'release_version': version, 'release_username': username, 'release_password': password,
            'release_services': services}


def test_a_service_that_fails_while_written_leaves_the_others_whole(ansible, token_registry, issuer, workdir):
    organization = 'rel%s' % os.urandom(3).hex()
    blocked = set(['%s/b' % organization])
    issuer.users['releaser'] = ('releaser-pw-1', lambda name: {'pull'} if name in blocked else {'pull', 'push'})
    services = [{'name': name, 'sources': layouts(workdir, organization + name, '1.0.0')} for name in ('a', 'b', 'c')]
    variables = role_vars(token_registry, organization, services, 'v1.0.0', 'releaser', 'releaser-pw-1')

    run = ansible.role(ROLE, variables)
    assert run.rc != 0
    # b is refused at its first write (a blob); a and c, released before and after it, are complete.
    assert re.search(r'1 of 3 services failed while written \(b: .*b.*\)\. The others are released', run.stdout), run.stdout[-3000:]
    for name in ('a', 'c'):  # the summary shows the services released
        assert re.search(r'"%s/%s/%s  index sha256:' % (re.escape(token_registry.host), organization, name), run.stdout)
    assert token_registry.raw('GET', '/v2/%s/b/tags/list' % organization).status_code == 404  # not even a repository
    full = sorted(['v1.0.0', 'v1.0', 'v1', 'latest'] + ['%s-%s' % (t, a) for t in ('v1.0.0', 'v1.0', 'v1', 'latest') for a in ARCHES])
    for name in ('a', 'c'):
        assert sorted(skopeo_tags(token_registry, '%s/%s' % (organization, name))) == full, name

    # With the right to push, a rerun finishes b and changes nothing else.
    before = dict((t, raw_tag_digest(token_registry, '%s/a' % organization, t)) for t in full)
    blocked.clear()
    rerun = ansible.role(ROLE, variables)
    assert rerun.rc == 0, rerun.stdout[-3000:]
    written = rerun.stdout.split('TASK [regops.registry.release : Release each service]', 1)[1].split('TASK [', 1)[0]
    assert re.findall(r'^(\w+): \[localhost\] => \(item=(\w)\)', written, re.M) == [('skipping', 'a'), ('changed', 'b'), ('skipping', 'c')]
    assert sorted(skopeo_tags(token_registry, '%s/b' % organization)) == full
    assert dict((t, raw_tag_digest(token_registry, '%s/a' % organization, t)) for t in full) == before
    del issuer.users['releaser']


@pytest.mark.parametrize('change, message', [
    ({'release_services': []}, 'release_services is empty'),
    ({'release_architectures': ['amd64', 'Arm64']}, 'architectures are lower-case names'),
    ({'release_organization': 'Battlescope'}, 'is not a repository path'),
    ({'release_services': [{'name': 'x', 'sources': {'amd64': {'oci_layout': '/l'}}}]},
     r'exactly one of oci_layout, docker_archive, docker_image, image; wrong or missing: x \(arm64\)'),
    ({'release_services': [{'name': 'x', 'sources': {'amd64': {'oci_layout': '/l', 'image': 'a:b'}, 'arm64': {'image': 'a:c'}}}]},
     r'wrong or missing: x \(amd64\)'),
    ({'release_services': [{'name': 'x', 'sources': {'amd64': {'image': 'a:1'}, 'arm64': {'image': 'a:2'}}}] * 2},
     'service names must be unique'),
])
def test_settings_are_refused_before_any_request(ansible, registry, change, message):
    variables = role_vars(registry, 'battlescope', [{'name': 'x', 'sources': {}}], 'v1.0.0', registry.username, registry.password)
    variables.update(change)
    run = ansible.role(ROLE, variables)
    assert run.rc != 0
    assert re.search(message, run.stdout), run.stdout[-2000:]
    assert 'Plan every service' not in run.stdout  # no module ran: nothing was asked of the registry
