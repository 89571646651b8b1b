"""Every Molecule scenario of the collection's roles, run the way a contributor runs it:

    cd roles/<role> && molecule -c ../../molecule/base.yml test -s <scenario>

with the collection installed from its built tarball. Each scenario's instance is a Debian 12 container running
systemd and its own Docker engine (scripts/build-molecule-image.sh); the sequence is Molecule's default one
(create, prepare, converge, idempotence, verify, destroy). The wall time of each scenario is printed."""

import glob
import os
import subprocess
import time

import pytest

from tests.conftest import ROOT

SCENARIOS = sorted(
    (path.split(os.sep)[-4], path.split(os.sep)[-2])
    for path in glob.glob(os.path.join(ROOT, 'roles', '*', 'molecule', '*', 'molecule.yml')))


SECRETS = ('alice-secret-1', 'alice-secret-2', 'bob-secret-1', 'carol-secret', 'ci-secret')


def test_every_role_has_scenarios():
    roles = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, 'roles', '*')))
    assert roles and sorted({scenario[0] for scenario in SCENARIOS}) == roles


@pytest.mark.parametrize('role,scenario', SCENARIOS, ids=['%s-%s' % s for s in SCENARIOS])
def test_molecule_scenario(role, scenario, collection, workdir):
    env = dict(os.environ,
               ANSIBLE_COLLECTIONS_PATH=collection,
               ANSIBLE_FORCE_COLOR='0', PY_COLORS='0', NO_COLOR='1',
               ANSIBLE_HOME=os.path.join(workdir, 'molecule-home'))
    started = time.monotonic()
    proc = subprocess.run(
        ['molecule', '-c', os.path.join(ROOT, 'molecule', 'base.yml'), 'test', '-s', scenario],
        cwd=os.path.join(ROOT, 'roles', role), env=env, capture_output=True, text=True, check=False,
        stdin=subprocess.DEVNULL)
    elapsed = time.monotonic() - started
    print('molecule %s/%s: %.0f s' % (role, scenario, elapsed))
    assert proc.returncode == 0, 'molecule test -s %s failed (rc %d):\n%s\n%s' % (
        scenario, proc.returncode, proc.stdout[-12000:], proc.stderr[-4000:])
    # No password of the scenarios' users, and no bcrypt hash, in anything Molecule and Ansible printed.
    for secret in SECRETS + ('$2b$', '$2y$', '$2a$'):
        assert secret not in proc.stdout + proc.stderr, secret
