"""The built tarball in a fresh environment, as a user installs it: a new virtual environment with only the
ansible-core of requirements-dev.txt and the collection's requirements.txt (from PyPI), then
`ansible-galaxy collection install` of the tarball WITH its dependencies resolved from galaxy.yml's ranges. Galaxy
is not reachable here, so the dependencies are offered as local directories (the copies the `ansible` package of
the test environment bundles) and the install runs with --offline: the resolver still has to find every range of
galaxy.yml, and of the dependencies' own MANIFEST.json, satisfied by those versions. Then the collection runs by
FQCN from that environment against the real registry of the test suite.

One environment per session (module scope: only this file uses it); pip's cache makes the installs fast after the
first run. The time of each step is printed."""

import glob
import json
import os
import subprocess
import sys
import sysconfig
import time

import pytest
import yaml

from tests.conftest import ROOT
from tests.support.images import tag_digests

BUNDLED = os.path.join(sysconfig.get_paths()['purelib'], 'ansible_collections')


def _pinned(name):
    with open(os.path.join(ROOT, 'requirements-dev.txt')) as f:
        for line in f:
            if line.split('==')[0].strip() == name:
                return line.strip()
    raise AssertionError('%s is not pinned in requirements-dev.txt' % name)


def _manifest(path):
    with open(os.path.join(path, 'MANIFEST.json')) as f:
        return json.load(f)['collection_info']


def _bundled_dependencies():
    """galaxy.yml's dependencies and theirs, as directories of the test environment's bundled copies."""
    with open(os.path.join(ROOT, 'galaxy.yml')) as f:
        todo = list((yaml.safe_load(f).get('dependencies') or {}).keys())
    found = {}
    while todo:
        fqcn = todo.pop()
        if fqcn in found:
            continue
        path = os.path.join(BUNDLED, *fqcn.split('.'))
        assert os.path.isfile(os.path.join(path, 'MANIFEST.json')), '%s is not in %s' % (fqcn, BUNDLED)
        found[fqcn] = path
        todo.extend(_manifest(path).get('dependencies') or {})
    return found


class Fresh(object):
    """A fresh virtual environment with the collection installed from its tarball, and its dependencies."""

    def __init__(self, base):
        self.base = base
        self.venv = os.path.join(base, 'venv')
        self.collections = os.path.join(base, 'collections')
        self.home = os.path.join(base, 'home')
        self.times = {}

    def pip(self, *args):
        return [sys.executable, '-m', 'pip', '--python', self.bin('python'), '--disable-pip-version-check'] + list(args)

    def bin(self, name):
        return os.path.join(self.venv, 'bin', name)

    def env(self, extra=None):
        # Nothing of the project's .venv: its bin directory is taken off PATH, and Ansible looks only at the fresh
        # collections path and home.
        project_bin = os.path.dirname(sys.executable)
        path = [os.path.join(self.venv, 'bin')] + [p for p in os.environ.get('PATH', '').split(os.pathsep)
                                                   if p and os.path.abspath(p) != os.path.abspath(project_bin)]
        env = dict((k, v) for k, v in os.environ.items() if not k.startswith(('ANSIBLE_', 'PYTHON', 'VIRTUAL_ENV')))
        env.update({'PATH': os.pathsep.join(path), 'ANSIBLE_HOME': self.home, 'ANSIBLE_NOCOLOR': '1',
                    'ANSIBLE_COLLECTIONS_PATH': self.collections, 'ANSIBLE_LOCAL_TEMP': os.path.join(self.home, 'tmp'),
                    'ANSIBLE_RETRY_FILES_ENABLED': '0'})
        env.update(extra or {})
        return env

    def run(self, cmd, step=None, env=None, check=True):
        started = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=self.base, env=self.env(env), check=False,
                              stdin=subprocess.DEVNULL)
        if step:
            self.times[step] = self.times.get(step, 0) + time.monotonic() - started
        if check:
            assert proc.returncode == 0, '%s failed (rc %d):\n%s\n%s' % (
                ' '.join(cmd[:4]), proc.returncode, proc.stdout[-6000:], proc.stderr[-6000:])
        return proc


@pytest.fixture(scope='module')
def fresh(tmp_path_factory):
    env = Fresh(str(tmp_path_factory.mktemp('fresh-install')))
    os.makedirs(env.home)
    # A new virtual environment from the base interpreter (no system site-packages, nothing of .venv). pip is not
    # installed into it (ensurepip takes 5 to 10 s): the project's pip installs there (--python).
    env.run([sys.executable, '-m', 'venv', '--without-pip', env.venv], step='venv')
    env.run(env.pip('install', '-q', _pinned('ansible-core'), '-r', os.path.join(ROOT, 'requirements.txt')),
            step='pip install')
    # The tarball, built as users build it.
    out = os.path.join(env.base, 'build')
    env.run([env.bin('ansible-galaxy'), 'collection', 'build', '--output-path', out, ROOT], step='galaxy build')
    tarball = glob.glob(os.path.join(out, 'regops-registry-*.tar.gz'))[0]
    # The tarball with its dependencies resolved, offline: each dependency offered as a local directory.
    requirements = os.path.join(env.base, 'requirements.yml')
    with open(requirements, 'w') as f:
        yaml.safe_dump({'collections': [{'name': tarball, 'type': 'file'}] + [
            {'name': path, 'type': 'dir'} for path in sorted(_bundled_dependencies().values())]}, f)
    proc = env.run([env.bin('ansible-galaxy'), 'collection', 'install', '--offline', '-p', env.collections,
                    '-r', requirements], step='galaxy install')
    env.install_output = proc.stdout
    yield env
    print('fresh install: %s' % ', '.join('%s %.1f s' % item for item in env.times.items()))


def test_the_environment_is_fresh(fresh):
    """Only ansible-core: no `ansible` package and no bundled collections, so the dependencies came from the
    install."""
    proc = fresh.run(fresh.pip('list', '--format=json'))
    installed = dict((p['name'].lower(), p['version']) for p in json.loads(proc.stdout))
    assert 'ansible' not in installed and installed['ansible-core'] == _pinned('ansible-core').split('==')[1]
    for name in ('requests', 'passlib', 'bcrypt'):
        assert name in installed, name
    assert int(installed['bcrypt'].split('.')[0]) < 5
    proc = fresh.run([fresh.bin('python'), '-c', 'import ansible_collections'], check=False)
    assert proc.returncode != 0, 'the fresh environment has bundled collections'


def test_dependencies_resolve_from_galaxy_ranges(fresh):
    """Every dependency of galaxy.yml (and theirs) installed at the version offered, which meets its range."""
    from ansible.galaxy.dependency_resolution.versioning import meets_requirements
    with open(os.path.join(ROOT, 'galaxy.yml')) as f:
        galaxy = yaml.safe_load(f)
    expected = _bundled_dependencies()
    manifests = glob.glob(os.path.join(fresh.collections, 'ansible_collections', '*', '*', 'MANIFEST.json'))
    installed = dict(('%s.%s' % (m['namespace'], m['name']), m['version'])
                     for m in (_manifest(os.path.dirname(p)) for p in manifests))
    assert installed.pop('%s.%s' % (galaxy['namespace'], galaxy['name'])) == galaxy['version']
    assert sorted(installed) == sorted(expected), fresh.install_output
    for fqcn, version in installed.items():
        assert version == _manifest(expected[fqcn])['version'], fqcn
        if fqcn in galaxy['dependencies']:
            assert meets_requirements(version, galaxy['dependencies'][fqcn]), (fqcn, version)
    proc = fresh.run([fresh.bin('ansible-galaxy'), 'collection', 'list', '--format', 'json'])
    listed = json.loads(proc.stdout)[os.path.join(fresh.collections, 'ansible_collections')]
    assert dict((k, v['version']) for k, v in listed.items()) == dict(installed, **{'regops.registry': galaxy['version']})


def test_ansible_doc_renders_a_module(fresh):
    proc = fresh.run([fresh.bin('ansible-doc'), 'regops.registry.tag_set'], step='ansible-doc')
    assert 'OPTIONS' in proc.stdout and 'EXAMPLES' in proc.stdout and 'RETURN VALUES' in proc.stdout
    assert 'group/regops.registry.registry' in proc.stdout


def test_password_hash_of_the_server_role_works(fresh):
    """requirements.txt's passlib and bcrypt (the newest below 5) hash as the server role does, on the controller."""
    proc = fresh.run([fresh.bin('ansible'), 'localhost', '-m', 'ansible.builtin.debug', '-a',
                      "msg={{ 'secret' | password_hash('bcrypt', rounds=5) }}"], step='password_hash')
    assert '"msg": "$2b$05$' in proc.stdout, proc.stdout


def test_tag_release_playbook_by_fqcn(fresh, registry, images, repo):
    """regops.registry.tag_release from the fresh environment: both architectures' builds get their release tags
    and aliases, checked by raw HTTP (a rerun's idempotence is tested in test_tag_set.py)."""
    builds = dict((arch, images.push(repo, '4.2.0-%s' % arch, arch=arch, layers=1, layer_size=256))
                  for arch in ('amd64', 'arm64'))
    proc = fresh.run([fresh.bin('ansible-playbook'), 'regops.registry.tag_release',
                      '-e', 'registry=%s' % registry.host, '-e', 'repository=%s' % repo, '-e', 'version=v4.2.0',
                      '-e', 'registry_ca_path=%s' % registry.ca_path],
                     env={'REGOPS_REGISTRY_USERNAME': registry.username, 'REGOPS_REGISTRY_PASSWORD': registry.password},
                     step='tag_release')
    assert 'ok=2 ' in proc.stdout and 'changed=1 ' in proc.stdout and 'failed=0' in proc.stdout, proc.stdout
    tags = tag_digests(registry, repo)
    for arch, digest in builds.items():
        for tag in ('v4.2.0', 'v4.2', 'v4', 'latest'):
            assert tags['%s-%s' % (tag, arch)] == digest, (tag, arch, tags)
