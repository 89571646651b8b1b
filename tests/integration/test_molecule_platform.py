"""The Molecule instance the roles will be tested on (molecule/base.yml), started with exactly its settings:
systemd runs as PID 1, the inner Docker engine runs, and an image loaded into it (the registry:2 stand-in)
serves. Ground for the role scenarios; the image is built offline by scripts/build-molecule-image.sh."""

import os
import secrets
import subprocess
import time

import pytest
import yaml

from tests.conftest import ROOT
from tests.support.registry import IMAGE, docker


@pytest.fixture(scope='module')
def platform():
    with open(os.path.join(ROOT, 'molecule', 'base.yml')) as f:
        platform = yaml.safe_load(f)['platforms'][0]
    if subprocess.run(['docker', 'image', 'inspect', platform['image']], capture_output=True, check=False).returncode:
        pytest.fail('%s is missing: run "make setup" (scripts/build-molecule-image.sh builds it)' % platform['image'])
    return platform


def run_args(platform):
    """``docker run`` arguments for the platform's settings, as Molecule's docker driver applies them."""
    assert platform['pre_build_image'] is True and platform['privileged'] is False
    args = ['--cgroupns=%s' % platform['cgroupns_mode']]
    args += [a for cap in platform['capabilities'] for a in ('--cap-add', cap)]
    args += [a for opt in platform['security_opts'] for a in ('--security-opt', opt)]
    args += [a for volume in platform['volumes'] for a in ('-v', volume)]
    args += [a for path in platform['tmpfs'] for a in ('--tmpfs', path)]
    return args


def wait_for(command, container, want, timeout=60):
    deadline = time.time() + timeout
    out = None
    while time.time() < deadline:
        proc = subprocess.run(['docker', 'exec', container] + command, capture_output=True, text=True, check=False)
        out = proc.stdout.strip()
        if proc.returncode == 0 and want(out):
            return out
        time.sleep(1)
    raise AssertionError('%s never gave what was wanted (last: %r)' % (' '.join(command), out))


def test_instance_runs_systemd_and_its_own_docker_engine(platform):
    assert 'SYS_RESOURCE' not in platform['capabilities']
    name = 'regops-molecule-%s' % secrets.token_hex(3)
    docker('run', '-d', '--name', name, '--label', 'io.regops.test=1', *run_args(platform), platform['image'],
           platform['command'])
    try:
        assert wait_for(['systemctl', 'is-system-running', '--wait'], name, lambda out: out in ('running', 'degraded'))
        assert wait_for(['docker', 'info', '--format', '{{.Driver}}'], name, lambda out: out == 'vfs') == 'vfs'
        # Images reach the inner engine by docker save | docker load, as the role scenarios will load registry:2.
        save = subprocess.Popen(['docker', 'save', IMAGE], stdout=subprocess.PIPE)
        load = subprocess.run(['docker', 'exec', '-i', name, 'docker', 'load'], stdin=save.stdout, capture_output=True,
                              text=True, check=False)
        save.stdout.close()
        assert save.wait() == 0 and load.returncode == 0, load.stderr
        docker('exec', name, 'docker', 'run', '-d', '-p', '127.0.0.1:5000:5000', IMAGE)
        answer = wait_for(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', 'http://127.0.0.1:5000/v2/'], name,
                          lambda out: out == '200')
        assert answer == '200'
    finally:
        docker('rm', '-f', '-v', name, check=False)
