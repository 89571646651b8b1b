"""The roles' conventions: every public variable is documented and validated in meta/argument_specs.yml with the
same default as defaults/main.yml (written twice, so checked here; a required variable has neither), names are prefixed with the role's name,
templates say they are managed, and ansible-doc renders each role."""

import glob
import os

import pytest
import yaml

from tests.conftest import ROOT
from tests.quality.test_collection import run

ROLES = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, 'roles', '*')))


def load(role, *path):
    full = os.path.join(ROOT, 'roles', role, *path)
    if not os.path.exists(full):
        return {}
    with open(full) as f:
        return yaml.safe_load(f) or {}


def options(role):
    return load(role, 'meta', 'argument_specs.yml')['argument_specs']['main']['options']


@pytest.mark.parametrize('role', ROLES)
def test_defaults_and_argument_specs_agree(role):
    defaults = load(role, 'defaults', 'main.yml')
    specs = options(role)
    optional = dict((name, spec) for name, spec in specs.items() if not spec.get('required'))
    assert not [name for name, spec in specs.items() if spec.get('required') and 'default' in spec]
    assert sorted(defaults) == sorted(optional), 'optional variables in only one of defaults/main.yml and argument_specs.yml'
    for name, spec in optional.items():
        assert spec.get('default') == defaults[name], '%s: argument_specs default %r, defaults/main.yml %r' % (
            name, spec.get('default'), defaults[name])


@pytest.mark.parametrize('role', ROLES)
def test_every_option_is_typed_and_described(role):
    def check(name, spec):
        assert spec.get('type'), '%s has no type' % name
        assert spec.get('description'), '%s has no description' % name
        if spec['type'] == 'list':
            assert spec.get('elements'), '%s has no elements type' % name
        for sub, subspec in (spec.get('options') or {}).items():
            check('%s.%s' % (name, sub), subspec)
    for name, spec in options(role).items():
        check(name, spec)


@pytest.mark.parametrize('role', ROLES)
def test_variable_names_are_prefixed(role):
    for name in load(role, 'defaults', 'main.yml'):
        assert name.startswith(role + '_'), name
    for name in load(role, 'vars', 'main.yml'):
        assert name.startswith('_%s_' % role), name


@pytest.mark.parametrize('role', ROLES)
def test_templates_say_they_are_managed(role):
    for path in glob.glob(os.path.join(ROOT, 'roles', role, 'templates', '*.j2')):
        with open(path) as f:
            head = f.read().splitlines()[:2]
        assert '{{ ansible_managed | comment }}' in head, path


@pytest.mark.parametrize('role', ROLES)
def test_ansible_doc_renders_the_role(role):
    proc = run(['ansible-doc', '-t', 'role', 'regops.registry.%s' % role])
    assert proc.returncode == 0, proc.stderr
    for name in options(role):
        assert name in proc.stdout
