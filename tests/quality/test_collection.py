"""The collection as a whole: metadata, packaging, documentation, sanity and lint."""

import glob
import os
import subprocess
import sys
import tarfile

import pytest
import yaml

from tests.conftest import ROOT, _TREE

MODULES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, 'plugins', 'modules', '*.py')))


def run(cmd, **kwargs):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=_TREE, ANSIBLE_NOCOLOR='1', **kwargs.pop('env', {}))
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, check=False, **kwargs)


def test_action_group_holds_every_module():
    with open(os.path.join(ROOT, 'meta', 'runtime.yml')) as f:
        runtime = yaml.safe_load(f)
    assert sorted(runtime['action_groups']['registry']) == MODULES
    assert runtime['requires_ansible']


@pytest.mark.parametrize('module', MODULES)
def test_ansible_doc_renders(module):
    proc = run(['ansible-doc', '-t', 'module', 'regops.registry.%s' % module])
    assert proc.returncode == 0, proc.stderr
    for section in ('OPTIONS', 'EXAMPLES', 'RETURN VALUES', 'group/regops.registry.registry'):
        assert section in proc.stdout


def test_sanity_ignore_files_are_empty():
    for path in glob.glob(os.path.join(ROOT, 'tests', 'sanity', 'ignore-*.txt')):
        assert os.path.getsize(path) == 0, path


def test_built_tarball_ships_the_collection_and_no_development_files(tmp_path):
    proc = run(['ansible-galaxy', 'collection', 'build', '--output-path', str(tmp_path), ROOT])
    assert proc.returncode == 0, proc.stderr
    tarball = glob.glob(str(tmp_path / 'regops-registry-*.tar.gz'))[0]
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
    for needed in ('MANIFEST.json', 'meta/runtime.yml', 'plugins/modules/tag_set.py', 'plugins/module_utils/_client.py',
                   'plugins/doc_fragments/_connection.py', 'playbooks/tag_release.yml', 'README.md', 'requirements.txt',
                   'meta/execution-environment.yml', 'bindep.txt', 'changelogs/changelog.yaml', 'CHANGELOG.rst',
                   'docs/execution-environment.yml'):
        assert needed in names, needed
    for name in names:
        assert not name.startswith(('.venv', '.cache', 'scripts', '.ci', '.hypothesis')), name


def test_sanity():
    """ansible-test sanity, offline, with empty ignore files."""
    proc = run([os.path.join(ROOT, 'scripts', 'sanity.sh')], env={'PYTHON': sys.executable})
    tail = '\n'.join((proc.stdout + proc.stderr).splitlines()[-60:])
    assert proc.returncode == 0, tail
    assert 'ERROR' not in proc.stdout, tail


def test_ansible_lint_production_profile():
    proc = run(['ansible-lint', '--nocolor'])
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "Profile 'production' was required, and it passed" in output
