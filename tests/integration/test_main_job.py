"""The main job end to end, as scripts/demo.py (make demo) runs it: the collection's playbooks by FQCN against an
inventory, the server role standing up a TLS + htpasswd registry on this machine, and the release role releasing four
services for amd64 and arm64, one from each kind of source (the Docker engine, an OCI layout, a docker save archive,
and a promotion from a staging repository).

What the release wrote is read back with skopeo, raw HTTP and the Docker engine (`docker pull --platform`), never
with the collection's own client. The tests run in order on one registry: a release, its rerun, a refused overwrite,
a hotfix on an older major, check mode.
"""

import hashlib
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess

import pytest

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location('regops_demo', os.path.join(ROOT, 'scripts', 'demo.py'))
demo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(demo)

SOURCES = {'ingestion-service': 'docker_image', 'api': 'oci_layout', 'worker': 'docker_archive', 'scheduler': 'image'}
ARCHES = demo.ARCHES
ORG = demo.ORGANIZATION


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def job(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp('main-job'))
    job = demo.MainJob(workdir, name='regops-e2e', port=free_port(), echo=False, services=SOURCES)
    job.install_collection()
    job.write_inventory()
    job.server()
    yield job
    job.server('absent')
    for service in SOURCES:
        for arch in ARCHES:
            subprocess.run(['docker', 'rmi', '-f', job.image(service, arch)], capture_output=True, check=False)


@pytest.fixture(scope='module')
def docker_config(job):
    """`docker login` into a private config dir, with the registry's CA trusted by the engine."""
    certs_d = '/etc/docker/certs.d/%s' % job.registry
    os.makedirs(certs_d, exist_ok=True)
    shutil.copy(job.ca_path, os.path.join(certs_d, 'ca.crt'))
    config_dir = os.path.join(job.workdir, 'docker-config')
    os.makedirs(config_dir, exist_ok=True)
    subprocess.run(['docker', '--config', config_dir, 'login', '-u', job.username, '--password-stdin', job.registry],
                   input=job.password, text=True, check=True, capture_output=True)
    yield config_dir
    shutil.rmtree(certs_d, ignore_errors=True)


def raw(job, repository, reference):
    """The manifest bytes and their digest, as skopeo (a second client) reads them."""
    body = job.skopeo('inspect', '--raw', 'docker://%s/%s:%s' % (job.registry, repository, reference)).stdout
    return json.loads(body), 'sha256:' + hashlib.sha256(body.encode('utf-8')).hexdigest()


def source_digest(job, service, arch, version):
    """What the release must have pushed for ``service``/``arch``, from the source itself: the image config digest
    for builds from the Docker engine and archives, the manifest digest for layouts and promotions."""
    kind = SOURCES[service]
    if kind in ('docker_image', 'docker_archive'):
        return 'config', subprocess.run(['docker', 'image', 'inspect', '-f', '{{.Id}}', job.image(service, arch)],
                                        capture_output=True, text=True, check=True).stdout.strip()
    if kind == 'oci_layout':
        with open(os.path.join(job.source(service, arch)['oci_layout'], 'index.json')) as f:
            return 'manifest', json.load(f)['manifests'][0]['digest']
    return 'manifest', raw(job, job.staging(service), '%s-%s' % (version, arch))[1]


def assert_release(job, version, aliases):
    """Every tag of ``version`` (and the ``aliases`` expected on it) for every service, checked against its sources."""
    tags = dict((service, job.tags('%s/%s' % (ORG, service))) for service in SOURCES)
    for service in SOURCES:
        repository = '%s/%s' % (ORG, service)
        found = tags[service]
        index, index_digest = raw(job, repository, 'v' + version)
        assert [m['platform']['architecture'] for m in index['manifests']] == list(ARCHES), service
        for alias in aliases:
            assert found[alias] == index_digest, '%s:%s should be the index of %s' % (service, alias, version)
        for arch, child in zip(ARCHES, index['manifests']):
            manifest, digest = raw(job, repository, 'v%s-%s' % (version, arch))
            assert child['digest'] == digest, '%s: the index lists another %s image than v%s-%s' % (service, arch, version, arch)
            what, expected = source_digest(job, service, arch, version)
            assert (manifest['config']['digest'] if what == 'config' else digest) == expected, (service, arch)
            for alias in aliases:
                assert found['%s-%s' % (alias, arch)] == digest, (service, alias, arch)
    return tags


def test_release_of_four_services_for_two_architectures(job, docker_config):
    job.build_images('2.9.0')
    job.release('v2.9.0')
    job.build_images('3.0.0')
    run = job.release('v3.0.0')
    assert demo.recap_changed(run.stdout) > 0
    tags = assert_release(job, '3.0.0', ['v3.0', 'v3', 'latest'])
    assert tags['api']['v2'] != tags['api']['v3']  # the older major keeps its own aliases

    # Docker pulls each architecture of the index and gets the image that was built for it.
    for service in ('ingestion-service', 'worker'):
        for arch in ARCHES:
            ref = '%s/%s/%s:v3.0.0' % (job.registry, ORG, service)
            subprocess.run(['docker', '--config', docker_config, 'pull', '--quiet', '--platform', 'linux/' + arch, ref],
                           capture_output=True, text=True, check=True)
            pulled = subprocess.run(['docker', 'image', 'inspect', '-f', '{{.Id}} {{.Architecture}}', ref],
                                    capture_output=True, text=True, check=True).stdout.split()
            assert pulled == [source_digest(job, service, arch, '3.0.0')[1], arch]
            subprocess.run(['docker', 'rmi', ref], capture_output=True, check=False)


def test_rerun_changes_nothing(job):
    before = dict((service, job.tags('%s/%s' % (ORG, service))) for service in SOURCES)
    run = job.release('v3.0.0')
    assert demo.recap_changed(run.stdout) == 0
    assert len(re.findall(r'blobs: 0 uploaded \(0 bytes\), 0 mounted', run.stdout)) == len(SOURCES)
    assert dict((service, job.tags('%s/%s' % (ORG, service))) for service in SOURCES) == before


def test_check_mode_reports_the_plan_and_writes_nothing(job):
    job.build_images('3.1.0')
    before = dict((service, job.tags('%s/%s' % (ORG, service))) for service in SOURCES)
    run = job.release('v3.1.0', '--check')
    assert demo.recap_changed(run.stdout) > 0
    assert re.search(r'v3\.1\.0-arm64 +created', run.stdout) and re.search(r'latest +moved', run.stdout)
    assert dict((service, job.tags('%s/%s' % (ORG, service))) for service in SOURCES) == before


def test_overwriting_a_release_is_refused_with_nothing_written(job):
    # New builds of every service under the version already released: api's own v3.0.0 is only rebuilt, but the
    # release must stop for every service, before anything is written.
    job.build_images('3.0.0')
    before = dict((service, job.tags('%s/%s' % (ORG, service))) for service in SOURCES)
    run = job.release('v3.0.0', check=False)
    assert run.returncode != 0
    assert 'stopped before anything was written for any service' in run.stdout
    for service in SOURCES:
        # Every full tag of the service is named, with both digests: both architectures and the index.
        assert re.search(r'%s: [^;]*refusing to move immutable tags \(v3\.0\.0-amd64 is sha256:[0-9a-f]{64}, requested '
                         r'sha256:[0-9a-f]{64}; v3\.0\.0-arm64 is sha256:[0-9a-f]{64}, requested sha256:[0-9a-f]{64}; '
                         r'v3\.0\.0 is sha256:[0-9a-f]{64}, requested sha256:[0-9a-f]{64}\)' % service, run.stdout), service
    assert 'Release each service' not in run.stdout
    assert dict((service, job.tags('%s/%s' % (ORG, service))) for service in SOURCES) == before


def test_hotfix_on_an_older_major_moves_only_its_own_aliases(job):
    before = dict((service, job.tags('%s/%s' % (ORG, service))) for service in SOURCES)
    job.build_images('2.9.1')
    run = job.release('v2.9.1')
    assert re.search(r'latest +skipped +held back: v3\.0\.0 is newer', run.stdout)
    tags = assert_release(job, '2.9.1', ['v2.9', 'v2'])
    for service in SOURCES:
        for tag in ['latest', 'v3', 'v3.0', 'v3.0.0'] + ['%s-%s' % (t, a) for t in ('latest', 'v3', 'v3.0') for a in ARCHES]:
            assert tags[service][tag] == before[service][tag], (service, tag)
        assert tags[service]['v2.9.0'] == before[service]['v2.9.0']
