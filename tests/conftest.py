"""Make the collection importable as ansible_collections.regops.registry for the tests."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TREE = os.path.join(ROOT, '.cache', 'collections')
_LINK = os.path.join(_TREE, 'ansible_collections', 'regops', 'registry')
if not os.path.islink(_LINK):
    os.makedirs(os.path.dirname(_LINK), exist_ok=True)
    os.symlink(ROOT, _LINK)
if _TREE not in sys.path:
    sys.path.insert(0, _TREE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# Subprocesses (ansible-playbook, ansible-galaxy, ansible-test) come from the same environment as pytest.
_BIN = os.path.dirname(sys.executable)
if _BIN not in os.environ.get('PATH', '').split(os.pathsep):
    os.environ['PATH'] = _BIN + os.pathsep + os.environ.get('PATH', '')
