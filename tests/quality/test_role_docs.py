"""The role pages of docs/roles: what scripts/role_docs.py writes from each role's meta/argument_specs.yml (so they
cannot drift from it), and example playbooks that Ansible parses, that ansible-lint passes, and whose role
variables the role's argument spec accepts."""

import glob
import importlib.util
import os

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from tests.conftest import ROOT
from tests.quality.test_collection import run
from tests.quality.test_roles import ROLES, options

_SPEC = importlib.util.spec_from_file_location('role_docs', os.path.join(ROOT, 'scripts', 'role_docs.py'))
role_docs = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(role_docs)

EXAMPLES = os.path.join(ROOT, 'docs', 'roles', 'examples')


def example(role):
    return os.path.join(EXAMPLES, role + '.yml')


def test_every_role_has_a_page_and_an_example_and_nothing_else():
    assert role_docs.roles() == ROLES
    assert sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, 'docs', 'roles', '*.md'))) == \
        ['%s.md' % role for role in ROLES]
    assert sorted(os.path.basename(p) for p in glob.glob(os.path.join(EXAMPLES, '*'))) == ['%s.yml' % r for r in ROLES]


@pytest.mark.parametrize('role', ROLES)
def test_page_is_what_the_generator_writes(role):
    with open(role_docs.page(role)) as f:
        committed = f.read()
    assert committed == role_docs.render(role), (
        'docs/roles/%s.md is out of date: run `make docs` (python scripts/role_docs.py)' % role)


@pytest.mark.parametrize('role', ROLES)
def test_page_lists_every_variable_and_sub_option(role):
    text = role_docs.render(role)

    def walk(specs, prefix=''):
        for name, spec in specs.items():
            row = [line for line in text.splitlines() if line.startswith('| `%s%s` |' % (prefix, name))]
            assert len(row) == 1, prefix + name
            assert ('| yes |' if spec.get('required') else '| no |') in row[0]
            walk(spec.get('options') or {}, prefix + name + ('[].' if spec.get('type') == 'list' else '.'))
    walk(options(role))
    with open(example(role)) as f:
        assert f.read().rstrip('\n') in text


def test_generator_check_mode_finds_a_stale_page(tmp_path, monkeypatch):
    monkeypatch.setattr(role_docs, 'DOCS', str(tmp_path))
    monkeypatch.setattr(role_docs, 'EXAMPLES', EXAMPLES)
    assert role_docs.main(['--check']) == 1  # no pages at all
    assert role_docs.main([]) == 0
    assert role_docs.main(['--check']) == 0
    with open(str(tmp_path / ('%s.md' % ROLES[0])), 'a') as f:
        f.write('hand edit\n')
    assert role_docs.main(['--check']) == 1


def test_markup_becomes_markdown():
    assert role_docs.markup('C(a) O(b=c) V(d) E(E_F) M(x.y.z) I(it) B(bold) U(https://e.x) L(t, https://l.x) '
                            'R(ref, anchor) P(a.b.c#filter)') == (
        '`a` `b=c` `d` `E_F` `x.y.z` *it* **bold** <https://e.x> [t](https://l.x) ref `a.b.c#filter`')


@pytest.mark.parametrize('role', ROLES)
def test_example_passes_syntax_check(role):
    proc = run(['ansible-playbook', '--syntax-check', '-i', 'localhost,', example(role)])
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize('role', ROLES)
def test_example_role_variables_are_ones_the_role_accepts(role):
    """Each use of the role in its example passes the role's argument spec (names, types, choices, required)."""
    with open(example(role)) as f:
        plays = yaml.safe_load(f)
    uses = [entry for play in plays for entry in play.get('roles', []) if entry['role'] == 'regops.registry.' + role]
    assert uses
    for entry in uses:
        result = ArgumentSpecValidator(options(role)).validate(entry.get('vars', {}))
        assert not result.error_messages, result.error_messages


def test_examples_pass_ansible_lint_production_profile():
    """tests/quality/test_collection.py lints the whole repository; this makes sure docs/roles/examples is part of
    it (not excluded) and that each example is linted as a playbook."""
    with open(os.path.join(ROOT, '.ansible-lint')) as f:
        config = yaml.safe_load(f)
    assert not [p for p in config.get('exclude_paths', []) if 'docs' in p]
    proc = run(['ansible-lint', '--nocolor', '--offline', '-f', 'pep8', '-v', EXAMPLES])
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "Profile 'production' was required, and it passed" in output
    for role in ROLES:
        assert 'Executing syntax check on playbook docs/roles/examples/%s.yml' % role in output, output[-3000:]
