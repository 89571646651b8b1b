"""Packaging for Galaxy and execution environments: galaxy.yml and requirements.yml agree with each other and with
what the roles and playbooks use; requirements.txt and bindep.txt hold exactly what the code needs, each line
saying what for; ansible-builder reads them from the built tarball; the changelog lints, CHANGELOG.rst is generated
from changelogs/changelog.yaml, and a release of galaxy.yml's version would go through."""

import ast
import glob
import os
import re
import shutil
import subprocess
import sys
import sysconfig

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

from ansible.galaxy.dependency_resolution.versioning import meets_requirements
from bindep.depends import Depends
from tests.conftest import ROOT
from tests.quality.test_collection import run

# The collections the `ansible` package of requirements-dev.txt bundles: the versions tested.
BUNDLED = os.path.join(sysconfig.get_paths()['purelib'], 'ansible_collections')
# What the collection ships of the roles and playbooks (Molecule scenarios are tests, not run by users).
SHIPPED_CODE = [p for pattern in ('roles/*/tasks/*.yml', 'roles/*/handlers/*.yml', 'roles/*/vars/*.yml',
                                  'roles/*/defaults/*.yml', 'roles/*/templates/*', 'playbooks/*.yml')
                for p in sorted(glob.glob(os.path.join(ROOT, pattern)))]
# A module import that another requirement brings: requests depends on urllib3 (checked below in its metadata).
PROVIDED_BY = {'urllib3': 'requests'}
# Filters run on the controller (in AWX, the execution environment) that need a Python library there.
CONTROLLER_FILTERS = {
    r"password_hash\(": ['passlib'],
    r"password_hash\(\s*['\"]bcrypt['\"]": ['bcrypt'],
    r"\|\s*(?:community\.general\.)?json_query\b": ['jmespath'],
    r"\|\s*(?:ansible\.utils\.)?(?:ipaddr|ipv4|ipv6|ipwrap|ipmath|ipsubnet|hwaddr|macaddr)\b": ['netaddr'],
}
# Modules of these collections, run on localhost (delegated there, or in a play on localhost), need these.
LOCAL_MODULE_NEEDS = {
    'community.crypto': ['cryptography'],
    'community.docker': ['requests'],  # the Docker API modules use requests, not the Docker SDK
    'regops.registry': ['requests'],
}


def read(*path):
    with open(os.path.join(ROOT, *path)) as f:
        return f.read()


def load(*path):
    return yaml.safe_load(read(*path))


def requirement_lines(path):
    """(line number, text) of every requirement of a pip or bindep file, without comments."""
    lines = read(path).splitlines()
    return [(n, line.split(' #')[0].strip()) for n, line in enumerate(lines)
            if line.strip() and not line.lstrip().startswith('#')]


def requirements():
    return dict((Requirement(line).name.lower(), Requirement(line)) for _n, line in requirement_lines('requirements.txt'))


def assert_each_line_says_what_for(path):
    lines = read(path).splitlines()
    for n, line in requirement_lines(path):
        # A comment on the line, or the comment block just above it (requirements of one need may share one).
        above = n - 1
        while above >= 0 and lines[above].strip() and not lines[above].lstrip().startswith('#'):
            above -= 1
        assert ' #' in lines[n] or (above >= 0 and lines[above].lstrip().startswith('#')), \
            '%s: %r has no comment saying what needs it' % (path, line)


def galaxy():
    return load('galaxy.yml')


def dev_pins():
    return dict((line.split('==')[0].split('[')[0].strip().lower(), line.split('==')[1].strip())
                for _n, line in requirement_lines('requirements-dev.txt') if '==' in line)


def third_party_imports():
    """Top-level modules imported by plugins/ that are neither the standard library nor Ansible's, with the files."""
    found = {}
    for path in sorted(glob.glob(os.path.join(ROOT, 'plugins', '**', '*.py'), recursive=True)):
        for node in ast.walk(ast.parse(read(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split('.')[0]
                if top not in sys.stdlib_module_names and top not in ('ansible', 'ansible_collections', '__future__'):
                    found.setdefault(top, set()).add(os.path.relpath(path, ROOT))
    return found


def test_plugins_import_only_requests_and_the_standard_library():
    """The modules stay light on whatever host runs them: requests (with its urllib3) and the standard library."""
    assert set(third_party_imports()) <= {'requests', 'urllib3'}, third_party_imports()


def tasks_of(node):
    """Every task of a task list or play list, blocks and handlers included."""
    for item in node or []:
        if not isinstance(item, dict):
            continue
        for key in ('block', 'rescue', 'always', 'tasks', 'pre_tasks', 'post_tasks', 'handlers'):
            yield from tasks_of(item.get(key))
        yield item


def module_of(task):
    for key in task:
        if re.match(r'^[a-z0-9_]+\.[a-z0-9_]+\.[a-z0-9_]+$', key):
            return key
    return None


def local_modules():
    """Modules that run on localhost: delegated there, or in a play whose hosts default to localhost. Returns
    {collection: set of 'file: module'}."""
    found = {}
    for path in SHIPPED_CODE:
        if not path.endswith('.yml'):
            continue
        data = yaml.safe_load(read(path))
        if not isinstance(data, list):
            continue
        rel = os.path.relpath(path, ROOT)
        for item in data:
            on_localhost = isinstance(item, dict) and 'hosts' in item and 'localhost' in str(item['hosts'])
            for task in tasks_of([item]):
                module = module_of(task)
                local = on_localhost or str(task.get('delegate_to', '')) in ('localhost', '127.0.0.1') or 'local_action' in task
                if module and local:
                    found.setdefault(module.rsplit('.', 1)[0], set()).add('%s: %s' % (rel, module))
    return found


def collections_used():
    """Collections other than ansible.builtin and this one that the shipped roles and playbooks name, with the files."""
    found = {}
    for path in SHIPPED_CODE:
        for ns, name in re.findall(r'\b([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\.[a-z][a-z0-9_]*\b', read(path)):
            fqcn = '%s.%s' % (ns, name)
            if fqcn not in ('ansible.builtin', 'regops.registry') and (
                    os.path.isdir(os.path.join(BUNDLED, ns, name)) or ns == 'ansible'):
                found.setdefault(fqcn, set()).add(os.path.relpath(path, ROOT))
    return found


# -- galaxy.yml and requirements.yml

def test_galaxy_metadata_is_complete():
    meta = galaxy()
    for key in ('namespace', 'name', 'version', 'readme', 'authors', 'description', 'license', 'tags', 'dependencies',
                'repository', 'documentation', 'homepage', 'issues'):
        assert meta.get(key), 'galaxy.yml has no %s' % key
    for key in ('repository', 'documentation', 'homepage', 'issues'):
        assert meta[key].startswith('https://'), key
    assert len(meta['description']) <= 255, 'Galaxy keeps 255 characters of the description'
    # Galaxy's importer: lower-case letters, digits and underscores, at most 20 tags.
    assert len(meta['tags']) <= 20 and all(re.match(r'^[a-z0-9_]{1,64}$', t) for t in meta['tags']), meta['tags']
    assert re.match(r'^\d+\.\d+\.\d+$', meta['version'])
    released = [Version(v) for v in (load('changelogs', 'changelog.yaml').get('releases') or {})]
    assert all(Version(meta['version']) >= v for v in released), 'galaxy.yml version is older than a release'


def test_galaxy_dependencies_are_what_the_roles_and_playbooks_use():
    used = collections_used()
    assert sorted(galaxy()['dependencies']) == sorted(used), 'used: %s' % used


@pytest.mark.parametrize('fqcn', sorted(galaxy()['dependencies']))
def test_dependency_range_holds_the_tested_version_below_its_next_major(fqcn):
    """The lower bound is requirements.yml's; the upper bound is the major after the version the test environment
    bundles (the one every test ran with), which the range must hold."""
    spec = galaxy()['dependencies'][fqcn]
    with open(os.path.join(BUNDLED, *fqcn.split('.'), 'MANIFEST.json')) as f:
        bundled = yaml.safe_load(f)['collection_info']['version']
    assert meets_requirements(bundled, spec), '%s %s is outside %s' % (fqcn, bundled, spec)
    upper = [c for c in spec.split(',') if c.strip().startswith('<')]
    assert len(upper) == 1 and [c for c in spec.split(',') if c.strip().startswith('>=')], '%s: %s' % (fqcn, spec)
    assert Version(upper[0].strip().lstrip('<')) == Version('%d.0.0' % (Version(bundled).major + 1)), (
        '%s: upper bound %s, but the tested version is %s: the range ends at its next major' % (fqcn, upper[0], bundled))


def test_requirements_yml_agrees_with_galaxy_yml():
    listed = dict((c['name'], str(c.get('version', '*'))) for c in load('requirements.yml')['collections'])
    assert listed == galaxy()['dependencies']


def test_installing_the_tarball_resolves_dependencies_offline(tarball, tmp_path):
    """galaxy.yml's ranges resolve against the bundled dependencies as already installed, with no Galaxy: what
    `make demo` (scripts/demo.py) relies on. tests/integration/test_fresh_install.py installs them from scratch."""
    proc = subprocess.run(['ansible-galaxy', 'collection', 'install', '--offline', '-p', str(tmp_path / 'c'), tarball],
                          capture_output=True, text=True, check=False, cwd=str(tmp_path),
                          env=dict(os.environ, ANSIBLE_HOME=str(tmp_path / 'home'), ANSIBLE_COLLECTIONS_PATH=str(tmp_path / 'c')))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'regops.registry:%s was installed successfully' % galaxy()['version'] in proc.stdout, proc.stdout
    for fqcn in galaxy()['dependencies']:
        assert "'%s:" % fqcn in proc.stdout and 'already installed' in proc.stdout, proc.stdout


# -- requirements.txt

def test_requirements_are_what_the_code_needs():
    """Every third-party import of plugins/, every controller-side filter that needs a library and every module run
    on localhost maps to a requirements.txt line, and every line is needed by one of them."""
    needs = {}
    for module, files in third_party_imports().items():
        needs.setdefault(PROVIDED_BY.get(module, module).lower(), set()).update('%s imports %s' % (f, module) for f in files)
    for pattern, libraries in CONTROLLER_FILTERS.items():
        for path in SHIPPED_CODE:
            if re.search(pattern, read(path)):
                for library in libraries:
                    needs.setdefault(library, set()).add('%s: %s' % (os.path.relpath(path, ROOT), pattern))
    for collection, uses in local_modules().items():
        for library in LOCAL_MODULE_NEEDS.get(collection, []):
            needs.setdefault(library, set()).update(uses)
    assert sorted(requirements()) == sorted(needs), 'needed: %s' % needs
    # Each import that another requirement brings is a dependency of that requirement.
    from importlib.metadata import requires
    for module, requirement in PROVIDED_BY.items():
        assert any(Requirement(r).name.lower() == module for r in requires(requirement)), (module, requirement)
    # The server role hashes on the controller: the check is not vacuous.
    assert 'passlib' in needs and 'roles/server/tasks/users.yml' in str(needs['passlib'])


def test_requirements_say_what_needs_them():
    assert_each_line_says_what_for('requirements.txt')
    assert_each_line_says_what_for('bindep.txt')


def test_requirements_hold_the_versions_tested():
    """The pins of requirements-dev.txt (what every test ran with) meet requirements.txt, and bcrypt stays below 5:
    passlib 1.7.4 fails with bcrypt 5."""
    pins = dev_pins()
    for name, requirement in requirements().items():
        assert name in pins, '%s is not pinned in requirements-dev.txt' % name
        assert requirement.specifier.contains(pins[name]), '%s==%s is outside %s' % (name, pins[name], requirement)
    assert not requirements()['bcrypt'].specifier.contains('5.0.0')


def test_development_tools_are_pinned():
    pins = dev_pins()
    for tool in ('ansible-builder', 'antsibull-changelog', 'ansible', 'ansible-core'):
        assert tool in pins, tool


# -- bindep.txt and meta/execution-environment.yml

def test_execution_environment_metadata():
    assert load('meta', 'execution-environment.yml') == {
        'version': 1, 'dependencies': {'python': 'requirements.txt', 'system': 'bindep.txt'}}


def test_bindep_parses_and_installs_nothing_unasked():
    depends = Depends(read('bindep.txt'))

    def packages(*profiles):
        return sorted(rule[0] for rule in depends.active_rules(list(profiles)))

    dpkg = ('platform:dpkg', 'platform:debian')
    rpm = ('platform:rpm', 'platform:redhat', 'platform:centos')
    # ansible-builder installs the default profile only: nothing, as the modules need Python alone.
    assert packages('default', *dpkg) == [] and packages('default', *rpm) == []
    # The release role's docker_image sources: the Docker CLI, in its own profile.
    assert packages('docker-image', *dpkg) == ['docker.io']
    assert packages('docker-image', *rpm) == ['docker-ce-cli']
    assert re.search(r'argv: \[docker, save\b', read('roles', 'release', 'tasks', 'export.yml'))
    # bindep itself reads it, on this machine (Debian).
    proc = run(['bindep', '-f', 'bindep.txt', '-l', 'newline', 'docker-image'])
    assert proc.returncode == 0 and proc.stdout.split() == ['docker.io'], proc.stdout + proc.stderr


@pytest.fixture(scope='module')
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp('build')
    proc = run(['ansible-galaxy', 'collection', 'build', '--output-path', str(out), ROOT])
    assert proc.returncode == 0, proc.stderr
    return glob.glob(str(out / 'regops-registry-*.tar.gz'))[0]


def introspect(collections):
    """ansible-builder's own reading of the collections installed under ``collections``."""
    proc = run(['ansible-builder', 'introspect', '--sanitize', collections])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return yaml.safe_load(proc.stdout[proc.stdout.index('---'):])


def install(source, collections, cwd=ROOT):
    proc = subprocess.run(['ansible-galaxy', 'collection', 'install', '--no-deps', '-p', collections] + source,
                          capture_output=True, text=True, cwd=cwd, check=False,
                          env=dict(os.environ, ANSIBLE_HOME=os.path.join(collections, '.home')))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ansible_builder_reads_our_requirements_from_the_tarball(tarball, tmp_path):
    install([tarball], str(tmp_path / 'collections'))
    data = introspect(str(tmp_path / 'collections'))
    suffix = '  # from collection regops.registry'
    assert data['python'] == [line + suffix for _n, line in requirement_lines('requirements.txt')]
    assert data['system'] == [line + suffix for _n, line in requirement_lines('bindep.txt')]


def test_ansible_builder_creates_the_documented_execution_environment(tarball, tmp_path):
    """docs/execution-environment.yml as a user builds it (the collection from Galaxy), and the same definition with
    the built tarball instead: `ansible-builder create` writes the build context offline, and the tarball installs from
    it the way the Containerfile's galaxy stage does (in _build), with ansible-builder reading our requirements."""
    definition = load('docs', 'execution-environment.yml')
    assert definition['version'] == 3
    wanted = definition['dependencies']['galaxy']['collections']
    assert [c['name'] for c in wanted] == ['regops.registry']
    assert meets_requirements(galaxy()['version'], wanted[0]['version'])
    core = Requirement(definition['dependencies']['ansible_core']['package_pip'])
    assert core.name == 'ansible-core' and core.specifier.contains(dev_pins()['ansible-core'])
    assert core.specifier.contains(load('meta', 'runtime.yml')['requires_ansible'].lstrip('>='))

    context = tmp_path / 'context'
    proc = run(['ansible-builder', 'create', '-f', os.path.join(ROOT, 'docs', 'execution-environment.yml'),
                '-c', str(context), '--output-filename', 'Containerfile'])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert yaml.safe_load((context / '_build' / 'requirements.yml').read_text()) == definition['dependencies']['galaxy']
    containerfile = (context / 'Containerfile').read_text()
    assert definition['images']['base_image']['name'] in containerfile and 'introspect' in containerfile

    local = dict(definition, additional_build_files=[{'src': tarball, 'dest': 'collections'}])
    local['dependencies'] = dict(definition['dependencies'], galaxy={'collections': [
        {'name': 'collections/' + os.path.basename(tarball), 'type': 'file'}]})
    (tmp_path / 'local.yml').write_text(yaml.safe_dump(local))
    context = tmp_path / 'local-context'
    proc = run(['ansible-builder', 'create', '-f', str(tmp_path / 'local.yml'), '-c', str(context),
                '--output-filename', 'Containerfile'])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    build = context / '_build'
    assert (build / 'collections' / os.path.basename(tarball)).is_file()
    install(['-r', 'requirements.yml'], str(tmp_path / 'ee-collections'), cwd=str(build))
    assert introspect(str(tmp_path / 'ee-collections'))['python'] == [
        line + '  # from collection regops.registry' for _n, line in requirement_lines('requirements.txt')]


# -- the changelog

def changelog_env(tmp_path):
    return {'ANSIBLE_HOME': str(tmp_path / 'home')}


def test_changelog_fragments_lint():
    assert os.path.isdir(os.path.join(ROOT, 'changelogs', 'fragments'))
    proc = run(['antsibull-changelog', 'lint'])
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr
    proc = run(['antsibull-changelog', 'lint-changelog-yaml', os.path.join('changelogs', 'changelog.yaml')])
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_changelog_rst_is_generated_from_changelog_yaml(tmp_path):
    """CHANGELOG.rst is what `antsibull-changelog generate` writes from changelogs/changelog.yaml (run it after a
    release or an edit of changelog.yaml)."""
    work = tmp_path / 'collection'
    shutil.copytree(os.path.join(ROOT, 'changelogs'), str(work / 'changelogs'))
    shutil.copy(os.path.join(ROOT, 'galaxy.yml'), str(work))
    proc = subprocess.run(['antsibull-changelog', 'generate'], capture_output=True, text=True, cwd=str(work),
                          env=dict(os.environ, **changelog_env(tmp_path)), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (work / 'CHANGELOG.rst').read_text() == read('CHANGELOG.rst'), 'CHANGELOG.rst is stale: antsibull-changelog generate'


def module_versions_added():
    found = {}
    for path in sorted(glob.glob(os.path.join(ROOT, 'plugins', 'modules', '*.py'))):
        for node in ast.parse(read(path)).body:
            if isinstance(node, ast.Assign) and [t.id for t in node.targets if isinstance(t, ast.Name)] == ['DOCUMENTATION']:
                found[os.path.basename(path)[:-3]] = str(yaml.safe_load(node.value.value)['version_added'])
    return found


def test_a_release_of_the_galaxy_version_would_go_through(tmp_path):
    """antsibull-changelog release of galaxy.yml's version, in a copy: the fragments become its changes and every
    module whose version_added is that version is listed as new. Once that version is released, galaxy.yml must be
    bumped before new fragments come."""
    version = galaxy()['version']
    released = load('changelogs', 'changelog.yaml').get('releases') or {}
    fragments = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, 'changelogs', 'fragments', '*.y*ml')))
    added = module_versions_added()
    for module, since in added.items():
        assert since in released or since == version, '%s: version_added %s is neither released nor %s' % (
            module, since, version)
    if version in released:
        assert not fragments, 'galaxy.yml version %s is released: bump it for %s' % (version, ', '.join(fragments))
        return
    work = tmp_path / 'ansible_collections' / 'regops' / 'registry'
    for name in ('changelogs', 'plugins', 'meta', 'roles', 'playbooks'):
        shutil.copytree(os.path.join(ROOT, name), str(work / name), ignore=shutil.ignore_patterns('molecule', '__pycache__'))
    shutil.copy(os.path.join(ROOT, 'galaxy.yml'), str(work))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(tmp_path), **changelog_env(tmp_path))
    proc = subprocess.run(['antsibull-changelog', 'release', '--date', '2000-01-01'], capture_output=True, text=True,
                          cwd=str(work), env=env, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    release = yaml.safe_load((work / 'changelogs' / 'changelog.yaml').read_text())['releases'][version]
    changes = sum((v for k, v in release.get('changes', {}).items() if isinstance(v, list)), [])
    for fragment in fragments:
        for section, entries in load('changelogs', 'fragments', fragment).items():
            for entry in entries if isinstance(entries, list) else [entries]:
                assert entry in changes or entry == release.get('changes', {}).get(section), (fragment, entry)
    new = sorted(m['name'] for m in release.get('modules', []))
    assert new == sorted(m for m, since in added.items() if since == version)
