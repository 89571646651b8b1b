"""Fixtures for tests against a real registry, a real Docker engine and the built collection."""

import os
import secrets
import shutil
import subprocess

import pytest

from tests.conftest import ROOT
from tests.support.ansible import AnsibleRunner, install_collection
from tests.support.images import make_layout, push_layout
from tests.support.registry import TestRegistry
from tests.support.token_server import TokenServer


def _require_docker():
    proc = subprocess.run(['docker', 'info'], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.exit('No Docker engine is running: run "make setup" (make test does it) first.\n' + proc.stderr[-500:], returncode=3)


@pytest.fixture(scope='session')
def workdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp('regops'))


@pytest.fixture(scope='session')
def collection(workdir):
    """The collection built into a tarball and installed from it; returns the collections path."""
    return install_collection(ROOT, workdir)


@pytest.fixture(scope='session')
def ansible(collection, workdir):
    return AnsibleRunner(collection, os.path.join(workdir, 'ansible'))


@pytest.fixture(scope='session')
def registry(workdir):
    """The fixture registry: registry:2 behind TLS (generated CA) and htpasswd (bcrypt) on loopback."""
    _require_docker()
    reg = TestRegistry(os.path.join(workdir, 'registry')).start()
    yield reg
    reg.stop()


@pytest.fixture(scope='session')
def issuer(workdir):
    """A token issuer (HTTPS) with a pull-only user 'reader' besides the registry's own user."""
    server = TokenServer(os.path.join(workdir, 'token'), users={'reader': ('reader-pw-123', {'pull'})}).start()
    yield server
    server.stop()


@pytest.fixture(scope='session')
def token_registry(workdir, issuer):
    """registry:2 behind TLS with `auth: token`, trusting the issuer's signing certificate."""
    _require_docker()
    reg = TestRegistry(os.path.join(workdir, 'token-registry'), token_server=issuer).start()
    yield reg
    reg.stop()


@pytest.fixture
def repo(request):
    """A repository name of this test's own."""
    name = request.node.name.split('[')[0].replace('test_', '').replace('_', '-')[:40].strip('-')
    return 'test/%s-%s' % (name, secrets.token_hex(3))


class Images(object):
    """Makes images with random layers and pushes them with skopeo."""

    def __init__(self, registry, workdir):
        self.registry = registry
        self.workdir = workdir

    def push(self, repository, tag, arch='amd64', fmt='oci', **kwargs):
        layout = os.path.join(self.workdir, secrets.token_hex(6))
        make_layout(layout, tag='src', arch=arch, **kwargs)
        try:
            return push_layout(self.registry, layout, 'src', repository, tag, fmt=fmt)
        finally:
            shutil.rmtree(layout, ignore_errors=True)


@pytest.fixture(scope='session')
def images(registry, workdir):
    path = os.path.join(workdir, 'images')
    os.makedirs(path, exist_ok=True)
    return Images(registry, path)


@pytest.fixture
def conn(registry):
    """Connection options for the fixture registry."""
    return {'registry': registry.host, 'username': registry.username, 'password': registry.password,
            'ca_path': registry.ca_path}


@pytest.fixture
def docker_login(registry, workdir):
    """A real `docker login` into a private config dir, with the registry's CA trusted by the engine."""
    certs_d = '/etc/docker/certs.d/%s' % registry.host
    os.makedirs(certs_d, exist_ok=True)
    shutil.copy(registry.ca_path, os.path.join(certs_d, 'ca.crt'))
    config_dir = os.path.join(workdir, 'docker-config')
    os.makedirs(config_dir, exist_ok=True)
    subprocess.run(['docker', '--config', config_dir, 'login', '-u', registry.username, '--password-stdin', registry.host],
                   input=registry.password, text=True, check=True, capture_output=True)
    yield config_dir
    shutil.rmtree(certs_d, ignore_errors=True)


def pytest_terminal_summary(terminalreporter):
    """The fault suite's numbers (tests/integration/test_faults.py), when it ran."""
    from tests.support.fault_proxy import REPORT
    if REPORT['runs'] or REPORT['races']:
        terminalreporter.write_line(
            'fault suite: %(injected)d faults injected; %(survived)d faulted runs succeeded through retries, '
            '%(failed_clearly)d failed with a clear message; %(runs)d module runs; kept tags lost or moved: '
            '%(kept_lost)d' % REPORT)
    if REPORT['races']:
        terminalreporter.write_line('concurrent releases: %d; the job that lost was told by %s' % (
            len(REPORT['races']), ', '.join(REPORT['races'])))
    if REPORT['restarts']:
        terminalreporter.write_line('registry restarts: %d (%s)' % (REPORT['restarts'], '; '.join(REPORT['restart_outcomes'])))
