"""Every module's documentation as users read it (issue 10): EXAMPLES that parse as tasks, call modules by FQCN
and are what `ansible-doc` shows; a RETURN that documents ``msg`` as returned always.

Fast and offline: no registry. tests/integration/test_examples.py runs the same EXAMPLES against a real one.
"""

import os
import subprocess

import pytest
import yaml
from ansible.parsing.plugin_docs import read_docstring
from ansible.playbook.block import Block
from ansible.playbook.task import Task

from tests.conftest import ROOT, _TREE

MODULE_DIR = os.path.join(ROOT, 'plugins', 'modules')
MODULES = sorted(f[:-3] for f in os.listdir(MODULE_DIR) if f.endswith('.py') and not f.startswith('_'))
COLLECTION = 'regops.registry.'
# Task and block keywords; anything else in a task is its action. `action:` / `local_action:` hide the module's name.
KEYWORDS = (set(Task.fattributes) | set(Block.fattributes)) - {'action'}


def docs(module):
    return read_docstring(os.path.join(MODULE_DIR, module + '.py'), verbose=False)


def leaf_tasks(tasks):
    for task in tasks:
        assert isinstance(task, dict), 'not a task: %r' % (task,)
        if 'block' in task:
            for section in ('block', 'rescue', 'always'):
                yield from leaf_tasks(task.get(section) or [])
        else:
            yield task


def examples(module):
    text = docs(module).get('plainexamples') or ''
    assert text.strip(), 'plugins/modules/%s.py has no EXAMPLES' % module
    tasks = yaml.safe_load(text)
    assert isinstance(tasks, list) and tasks, 'the EXAMPLES of %s are not a list of tasks' % module
    return text, list(leaf_tasks(tasks))


@pytest.mark.parametrize('module', MODULES)
def test_examples_are_named_tasks_of_fqcn_modules(module):
    _text, tasks = examples(module)
    names = [t.get('name') for t in tasks]
    assert all(names) and len(set(names)) == len(names), 'every task needs a name of its own: %s' % names
    used = []
    for task in tasks:
        actions = [k for k in task if k not in KEYWORDS and not k.startswith('with_')]
        assert len(actions) == 1, '%r: one module per task, found %s' % (task['name'], actions)
        action = actions[0]
        if action.startswith(COLLECTION):
            assert action[len(COLLECTION):] in MODULES, '%r: %s is not a module of the collection' % (task['name'], action)
        else:
            assert action.startswith('ansible.builtin.'), (
                '%r: %s: EXAMPLES use only regops.registry.<module> and ansible.builtin.<module>, by FQCN'
                % (task['name'], action))
        used.append(action)
    assert COLLECTION + module in used, 'the EXAMPLES of %s never use it' % module


@pytest.mark.parametrize('module', MODULES)
def test_return_documents_msg_as_returned_always(module):
    returned = docs(module).get('returndocs') or {}  # parsed by the loader
    if isinstance(returned, str):
        returned = yaml.safe_load(returned) or {}
    assert 'msg' in returned, 'the RETURN of %s does not document msg' % module
    assert returned['msg'].get('returned') == 'always', 'the RETURN of %s: msg is returned %r, not always' % (
        module, returned['msg'].get('returned'))


@pytest.mark.parametrize('module', MODULES)
def test_ansible_doc_shows_the_examples(module):
    text, _tasks = examples(module)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=_TREE, ANSIBLE_NOCOLOR='1')
    proc = subprocess.run(['ansible-doc', '-t', 'module', COLLECTION + module], capture_output=True, text=True,
                          cwd=ROOT, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    assert text.strip() in proc.stdout, 'ansible-doc %s%s does not show its EXAMPLES as written' % (COLLECTION, module)
