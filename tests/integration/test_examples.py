"""Every module's EXAMPLES, exactly as `ansible-doc` shows them, run as the tasks of one play (issue 10).

The examples are read from the module file with the loader ansible-doc uses (``read_docstring``). The only
rewriting is the table below: the names the examples give to things a user has (a registry host, a CA file, a
Docker config, files under /build/, the organization) are replaced, as text, by their stand-ins here, and the
play gets the variables the examples use. Everything else runs as written, in order, in one play against the
real registry fixture:

* the host that runs the play trusts the registries' CAs (``REQUESTS_CA_BUNDLE``, as a system trust store would)
  and has a ``docker login`` of them (``DOCKER_CONFIG``: a real config.json with each registry's auth), so the
  examples that give neither ``ca_path`` nor credentials work as they would on a CI host;
* each module's entry seeds what its examples read (images and tags in the registry, OCI layouts and
  ``docker save`` archives under /build/), states which of its tasks must report ``changed``, and checks one or
  two effects on the registry itself (raw HTTP), not only the module's report;
* every task must run (none skipped) and succeed, and every task of a module of this collection must return a
  non-empty ``msg``.

A module in plugins/modules without an entry in EXAMPLE_RUNS fails here: add one (see the existing entries).
"""

import base64
import functools
import json
import os
import secrets
import shutil
import subprocess
import textwrap

import pytest
import yaml
from ansible.parsing.plugin_docs import read_docstring

from tests.conftest import ROOT
from tests.support.images import make_layout, push_layout, raw_exists, raw_manifest, tag_digests
from tests.support.seed import Seeder, days_ago

MODULE_DIR = os.path.join(ROOT, 'plugins', 'modules')
MODULES = sorted(f[:-3] for f in os.listdir(MODULE_DIR) if f.endswith('.py') and not f.startswith('_'))
COLLECTION = 'regops.registry.'

# The names every module's examples use for what a user has, and what stands for each here ({field}: see the
# Context.field_<field> methods). Applied where they occur; an entry's own `substitutions` come first and must occur.
COMMON_SUBSTITUTIONS = [
    ('registry.example.com:5000', '{host}'),                   # the registry fixture
    ('staging.example.com:5000', '{staging_host}'),            # a second registry: the token_registry fixture
    ('/etc/regops/ca.crt', '{ca_path}'),                       # the registry fixture's CA
    ('/home/ci/.docker/config.json', '{docker_config}'),       # a config.json with an auth for each registry
    ('/build/', '{build}/'),                                   # where the seed writes layouts and archives
    ('battlescope', '{org}'),                                  # organizations of this run's own (-staging, ...)
    ('username: ci\n', 'username: {username}\n'),              # the registry's user (password: registry_password)
]
# The environment of the host that runs the play (see the module docstring).
COMMON_ENVIRONMENT = {'REQUESTS_CA_BUNDLE': '{trust_bundle}', 'DOCKER_CONFIG': '{docker_config_dir}'}
COMMON_VARS = {'registry_password': '{password}'}


# --- tag_set -------------------------------------------------------------------------------------------------

def seed_tag_set(ctx):
    ctx.seeded['3.0.0-amd64'] = ctx.images.push(ctx.repo('ingestion-service'), '3.0.0-amd64', arch='amd64')
    ctx.seeded['3.1.0-rc.1-arm64'] = ctx.images.push(ctx.repo('ingestion-service'), '3.1.0-rc.1-arm64', arch='arm64')


def check_tag_set(ctx):
    tags = tag_digests(ctx.registry, ctx.repo('ingestion-service'))
    release = ctx.seeded['3.0.0-amd64']
    for tag in ('v3.0.0-amd64', 'v3.0-amd64', 'v3-amd64', 'latest-amd64', 'stable', 'prod-2026-11'):
        assert tags.get(tag) == release, (tag, tags)
    assert tags['v3.1.0-rc.1-arm64'] == ctx.seeded['3.1.0-rc.1-arm64'], tags
    assert not {'v3.1-arm64', 'v3-arm64', 'latest-arm64'} & set(tags), 'a prerelease got aliases: %s' % sorted(tags)
    assert ctx.results['Release v3.0.0 of the amd64 image with its per-architecture aliases']['digest'] == release


# --- manifest_push -------------------------------------------------------------------------------------------

def docker_save(path, arch):
    """A FROM scratch image of ``arch`` built by the Docker engine and written by `docker save` to ``path``."""
    context = path + '.context'
    os.makedirs(context)
    with open(os.path.join(context, 'payload.bin'), 'wb') as f:
        f.write(os.urandom(64 * 1024))
    with open(os.path.join(context, 'Dockerfile'), 'w') as f:
        f.write('FROM scratch\nCOPY payload.bin /payload.bin\n')
    local = 'regops-test/examples:%s' % secrets.token_hex(4)
    env = dict(os.environ, DOCKER_BUILDKIT='0')
    for cmd in (['build', '-q', '--platform', 'linux/' + arch, '-t', local, context], ['save', '-o', path, local],
                ['rmi', local]):
        subprocess.run(['docker'] + cmd, env=env, check=True, capture_output=True, text=True)
    shutil.rmtree(context)


def seed_manifest_push(ctx):
    service = ctx.repo('ingestion-service')
    for arch in ('amd64', 'arm64'):
        ctx.seeded['v3.0.0-' + arch] = ctx.images.push(service, 'v3.0.0-' + arch, arch=arch)
        docker_save(os.path.join(ctx.build, 'ingestion-service-%s.tar' % arch), arch)
    layout = os.path.join(ctx.build, 'oci-layout')
    ctx.seeded['oci-layout'] = make_layout(layout, tag='3.0.0', platforms=['amd64', 'arm64'])
    push_layout(ctx.registry, layout, '3.0.0', ctx.repo('base'), '1.0.0', workdir=ctx.build)
    ctx.log_mark = len(ctx.registry.access_log())


def check_manifest_push(ctx):
    service = ctx.repo('ingestion-service')
    tags = tag_digests(ctx.registry, service)
    index = raw_manifest(ctx.registry, service, 'v3.0.0').json()
    assert [(m['digest'], m['platform']['architecture']) for m in index['manifests']] == [
        (ctx.seeded['v3.0.0-amd64'], 'amd64'), (ctx.seeded['v3.0.0-arm64'], 'arm64')], index
    release = raw_manifest(ctx.registry, service, 'v3.1.0').json()
    assert [m['digest'] for m in release['manifests']] == [tags['v3.1.0-amd64'], tags['v3.1.0-arm64']], (release, tags)
    for alias in ('v3.1', 'v3', 'latest'):
        assert tags[alias] == tags['v3.1.0'], (alias, tags)
        assert tags[alias + '-arm64'] == tags['v3.1.0-arm64'], (alias, tags)
    # The docker save archive pushed again under another tag: the same image, nothing new.
    assert tags['3.0.0-amd64'] == tags['v3.1.0-amd64'] == ctx.results['Push an image saved with docker save']['digest']
    # The OCI layout: its index, whose blobs were mounted from the base repository, not uploaded.
    assert tags['3.0.0'] == ctx.seeded['oci-layout'], tags
    assert mounts(ctx, service), 'no blob was mounted from %s' % ctx.repo('base')


def mounts(ctx, repository):
    """The cross-repository mounts into ``repository`` since the seed, if all of them succeeded (201)."""
    posts = [(path, status) for method, path, status in ctx.registry.access_log()[ctx.log_mark:]
             if method == 'POST' and path.startswith('/v2/%s/blobs/uploads/?mount=' % repository)]
    assert all(status == 201 for _path, status in posts), posts
    return posts


# --- retention_prune -----------------------------------------------------------------------------------------

# The tags of the repository the first example prunes, by age in days, and what its policy does with each.
RETENTION_SEED = {
    'v2.0.0': (400, 'delete'),          # superseded by v2.0.1, an older major
    'v2.0.1': (380, 'keep'),            # the newest release of major 2
    'v3.0.0': (200, 'keep'),
    'v3.1.0': (100, 'keep'),            # also under v3 and latest
    'main-dev-0815': (90, 'delete'),    # a dev build older than 30 days
    'main-dev-0901': (75, 'stay'),      # as old, but `stable` (protected) names the same image
    'main-dev-1120': (2, 'keep'),
    'feature-1': (30, 'delete'),        # beyond the newest 5 feature builds and older than 14 days
    'feature-2': (29, 'delete'),
    'feature-3': (28, 'keep'),          # older than 14 days, but among the newest 5
    'feature-4': (27, 'keep'),
    'feature-5': (3, 'keep'),
    'feature-6': (2, 'keep'),
    'feature-7': (1, 'keep'),
    'prod-2026-10': (60, 'keep'),       # protected
}
RETENTION_ALIASES = {'v3': 'v3.1.0', 'latest': 'v3.1.0', 'stable': 'main-dev-0901'}
PULL_REQUEST_TAGS = ['pr-%d-build' % n for n in range(100, 122)]  # 22: the preview keeps the newest 20


def seed_retention_prune(ctx):
    service = Seeder(ctx.registry, ctx.repo('ingestion-service'))
    for tag, (age, _action) in RETENTION_SEED.items():
        ctx.seeded[tag] = service.image(tag, created=days_ago(age))
    for alias, tag in RETENTION_ALIASES.items():
        ctx.seeded[alias] = service.tag(alias, ctx.seeded[tag])
    api = Seeder(ctx.registry, ctx.repo('api'))
    for age, tag in enumerate(reversed(PULL_REQUEST_TAGS)):
        api.image(tag, created=days_ago(age + 1))
    ctx.seeded['api'] = tag_digests(ctx.registry, ctx.repo('api'))


def check_retention_prune(ctx):
    tags = tag_digests(ctx.registry, ctx.repo('ingestion-service'))
    pruned = ctx.results["Nightly retention of a service's images"]['repositories'][0]['tags']
    # A condemned tag on a kept image stays on distribution 2.x, and is untagged where the registry can delete a tag.
    gone = set(e['tag'] for e in pruned if e['action'] == 'untag') & set(t for t, (_a, a) in RETENTION_SEED.items() if a == 'stay')
    kept = dict((tag, ctx.seeded[tag]) for tag, (_age, action) in RETENTION_SEED.items() if action != 'delete' and tag not in gone)
    kept.update((alias, ctx.seeded[alias]) for alias in RETENTION_ALIASES)
    assert tags == kept, 'deleted: %s, left: %s' % (sorted(set(ctx.seeded) - set(tags)), sorted(set(tags) - set(kept)))
    for tag, (_age, action) in RETENTION_SEED.items():
        if action == 'delete':
            assert not raw_exists(ctx.registry, ctx.repo('ingestion-service'), ctx.seeded[tag]), tag
    # The preview (check mode) planned the two oldest pull-request builds and deleted nothing.
    assert tag_digests(ctx.registry, ctx.repo('api')) == ctx.seeded['api']
    preview = ctx.results['Preview the policy over every repository of a team (check mode deletes nothing)']
    planned = dict((r['repository'], r) for r in preview['repositories'])
    assert sorted(t['tag'] for t in planned[ctx.repo('api')]['tags'] if t['action'] == 'delete') == PULL_REQUEST_TAGS[:2]


# --- image_info ----------------------------------------------------------------------------------------------

def retag(registry, repository, tag, new_tag):
    """Point ``new_tag`` at the manifest ``tag`` names (its exact bytes), over raw HTTP."""
    manifest = raw_manifest(registry, repository, tag)
    registry.raw('PUT', '/v2/%s/manifests/%s' % (repository, new_tag), data=manifest.content,
                 headers={'Content-Type': manifest.headers['Content-Type']}).raise_for_status()


def seed_image_info(ctx):
    service = ctx.repo('ingestion-service')
    ctx.images.push(service, 'v3.0.0', platforms=['amd64', 'arm64'])
    retag(ctx.registry, service, 'v3.0.0', 'latest')
    ctx.images.push(service, 'v2.9.5', arch='amd64')
    ctx.seeded = tag_digests(ctx.registry, service)
    ctx.log_mark = len(ctx.registry.access_log())


def check_image_info(ctx):
    service = ctx.repo('ingestion-service')
    assert tag_digests(ctx.registry, service) == ctx.seeded
    writes = [e for e in ctx.registry.access_log()[ctx.log_mark:] if e[0] in ('PUT', 'POST', 'PATCH', 'DELETE')]
    assert not writes, 'image_info wrote: %s' % writes
    # What it reported is what the registry holds.
    assert service in ctx.results['List every repository of the registry']['repositories']
    assert ctx.results['The tags of a repository, with the digest of each']['digests'] == ctx.seeded
    release = ctx.results["Describe a release's multi-arch index"]
    index = raw_manifest(ctx.registry, service, 'v3.0.0').json()
    assert release['digest'] == ctx.seeded['v3.0.0']
    assert [i['digest'] for i in release['images']] == [m['digest'] for m in index['manifests']]


# --- image_copy ----------------------------------------------------------------------------------------------

def seed_image_copy(ctx):
    """The release v3.0.0, one multi-arch index, in the staging repository of the registry and on the staging registry."""
    layout = os.path.join(ctx.build, 'release')
    make_layout(layout, tag='v3.0.0', platforms=['amd64', 'arm64'])
    staging = '%s-staging/ingestion-service' % ctx.org
    ctx.seeded['v3.0.0'] = push_layout(ctx.registry, layout, 'v3.0.0', staging, 'v3.0.0', workdir=ctx.build)
    assert push_layout(ctx.staging, layout, 'v3.0.0', ctx.repo('ingestion-service'), 'v3.0.0', workdir=ctx.build) == ctx.seeded['v3.0.0']
    index = raw_manifest(ctx.registry, staging, 'v3.0.0').json()
    ctx.seeded['amd64'] = index['manifests'][0]['digest']
    ctx.log_mark = len(ctx.registry.access_log())


def check_image_copy(ctx):
    tags = tag_digests(ctx.registry, ctx.repo('ingestion-service'))
    for tag in ('v3.0.0', 'v3.0', 'v3', 'latest'):
        assert tags.get(tag) == ctx.seeded['v3.0.0'], (tag, tags)
    assert tags['v3.0.0-amd64'] == ctx.seeded['amd64'], tags
    for child in raw_manifest(ctx.registry, ctx.repo('ingestion-service'), 'v3.0.0').json()['manifests']:
        assert raw_exists(ctx.registry, ctx.repo('ingestion-service'), child['digest']), child
    # The promotion on the same registry mounted the blobs from the staging repository.
    assert mounts(ctx, ctx.repo('ingestion-service')), 'no blob was mounted'


# --- the table: one entry per module ------------------------------------------------------------------------
#
# substitutions  [(text in the examples, its stand-in)]: this module's own, before COMMON_SUBSTITUTIONS; each must occur
#                ({field} templates, filled after the seed: {seeded[name]} is what the seed put in ctx.seeded)
# vars           play vars, added to COMMON_VARS ({field} templates)
# environment    added to COMMON_ENVIRONMENT
# seed           seed(ctx): what the examples read, before the run (ctx.images.push, Seeder, files under ctx.build)
# changed        {task name: whether it must report changed}, for every task of a module of this collection
# check          check(ctx): effects on the registry after the run (ctx.results: task name -> result)
EXAMPLE_RUNS = {
    'tag_set': {
        'seed': seed_tag_set,
        'changed': {
            'Release v3.0.0 of the amd64 image with its per-architecture aliases': True,
            'Point extra tags at the image just released, by its digest, trusting a private CA': True,
            'Release a prerelease (only its own tag is written)': True,
        },
        'check': check_tag_set,
    },
    'manifest_push': {
        'seed': seed_manifest_push,
        'changed': {
            'Assemble the multi-arch index of a release from its per-architecture images': True,
            'Release v3.1.0 for two architectures from docker save archives, in one task': True,
            'Push an image saved with docker save': True,
            'Push a two-platform OCI layout, mounting shared layers from the base image repository': True,
        },
        'check': check_manifest_push,
    },
    'retention_prune': {
        'substitutions': [('username: housekeeping\n', 'username: {username}\n')],
        'seed': seed_retention_prune,
        'changed': {
            'Nightly retention of a service\'s images': True,
            'Preview the policy over every repository of a team (check mode deletes nothing)': True,
        },
        'check': check_retention_prune,
    },
    'image_info': {
        'seed': seed_image_info,
        'changed': {
            'List every repository of the registry': False,
            'The tags of a repository, with the digest of each': False,
            "Describe a release's multi-arch index": False,
        },
        'check': check_image_info,
    },
    'image_copy': {
        'substitutions': [('source_username: promoter\n', 'source_username: {staging_username}\n')],
        # build_digest: the digest a build job hands over; here the amd64 image the seed made.
        'vars': {'staging_password': '{staging_password}', 'build_digest': '{seeded[amd64]}'},
        'seed': seed_image_copy,
        'changed': {
            'Promote a release from staging to production on the same registry (blobs are mounted, not sent)': True,
            'Promote from another registry, with the release\'s aliases on the target': True,
            'Copy the image a build job reported, by its digest, and tag it': True,
        },
        'check': check_image_copy,
    },
}


# --- the harness -------------------------------------------------------------------------------------------

def examples_of(module):
    """The module's EXAMPLES as ansible-doc reads them."""
    return read_docstring(os.path.join(MODULE_DIR, module + '.py'), verbose=False).get('plainexamples') or ''


def leaf_tasks(tasks):
    """The tasks of a task list in the order they run, blocks opened."""
    for task in tasks:
        if 'block' in task:
            for section in ('block', 'rescue', 'always'):
                yield from leaf_tasks(task.get(section) or [])
        else:
            yield task


def collection_module(task):
    actions = [key for key in task if key.startswith(COLLECTION)]
    return actions[0] if actions else None


class Fields(dict):
    """The {field} values of the templates, computed when first used (a second registry only when asked for)."""

    def __init__(self, ctx):
        super(Fields, self).__init__()
        self.ctx = ctx

    def __missing__(self, key):
        value = getattr(self.ctx, 'field_' + key)()
        self[key] = value
        return value


class Context(object):
    """What one module's run has: the registries, its organization and /build/ directory, seeds and results."""

    def __init__(self, request, module, base):
        self.request = request
        self.module = module
        self.base = base
        self.registry = request.getfixturevalue('registry')
        self.images = request.getfixturevalue('images')
        self.org = 'examples-%s-%s' % (module.replace('_', '-'), secrets.token_hex(3))
        self.build = os.path.join(base, 'build')
        os.makedirs(self.build)
        self.seeded = {}
        self.results = {}
        self.log_mark = None
        self.fields = Fields(self)

    def repo(self, name):
        return '%s/%s' % (self.org, name)

    def template(self, text):
        return text.format_map(self.fields)

    @functools.cached_property
    def staging(self):
        return self.request.getfixturevalue('token_registry')

    def registries(self):
        return [self.registry] + ([self.staging] if 'staging' in self.__dict__ else [])

    # {field}s
    def field_host(self):
        return self.registry.host

    def field_ca_path(self):
        return self.registry.ca_path

    def field_username(self):
        return self.registry.username

    def field_password(self):
        return self.registry.password

    def field_staging_host(self):
        return self.staging.host

    def field_staging_ca_path(self):
        return self.staging.ca_path

    def field_staging_username(self):
        return self.staging.username

    def field_staging_password(self):
        return self.staging.password

    def field_build(self):
        return self.build

    def field_org(self):
        return self.org

    def field_seeded(self):
        return self.seeded

    def field_docker_config_dir(self):
        return os.path.join(self.base, 'docker')

    def field_docker_config(self):
        return os.path.join(self.field_docker_config_dir(), 'config.json')

    def field_trust_bundle(self):
        return os.path.join(self.base, 'trusted-cas.pem')

    def write_host_files(self):
        """The Docker config (an auth for each registry in use) and the trust store (their CAs)."""
        os.makedirs(self.field_docker_config_dir(), exist_ok=True)
        auths = dict((r.host, {'auth': base64.b64encode(('%s:%s' % (r.username, r.password)).encode()).decode()})
                     for r in self.registries())
        with open(self.field_docker_config(), 'w') as f:
            json.dump({'auths': auths}, f)
        with open(self.field_trust_bundle(), 'w') as f:
            for path in sorted(set(r.ca_path for r in self.registries())):
                with open(path) as ca:
                    f.write(ca.read())


def substitute(module, entry, text, ctx):
    """The examples with the table applied; the table used, for messages."""
    table = []
    for old, new in entry.get('substitutions', []):
        assert old in text, ('EXAMPLE_RUNS[%r] substitutes %r, which its EXAMPLES do not have: take it out of the table'
                             % (module, old))
        table.append((old, new))
    table += [(old, new) for old, new in COMMON_SUBSTITUTIONS if old in text]
    for old, new in table:
        text = text.replace(old, ctx.template(new))
    assert 'example.com' not in text, 'EXAMPLES of %s still name a placeholder host; add a substitution:\n%s' % (module, text)
    return text, table


def playbook(module, text, play_vars, path):
    header = yaml.safe_dump([{'name': 'EXAMPLES of %s%s' % (COLLECTION, module), 'hosts': 'localhost',
                              'gather_facts': False, 'vars': play_vars}], sort_keys=False)
    with open(path, 'w') as f:
        f.write(header + '  tasks:\n' + textwrap.indent(text.strip('\n') + '\n', '    '))
    return path


def failures_of(result):
    """Why a task result (or an item of a loop) is not a success that ran."""
    problems = []
    for item in result.get('results') or [result]:
        if item.get('failed') or item.get('unreachable'):
            problems.append('failed: %s' % item.get('msg'))
        if item.get('skipped'):
            problems.append('skipped (every task of the examples must run)')
    return problems


def test_every_entry_names_a_module():
    stale = sorted(set(EXAMPLE_RUNS) - set(MODULES))
    assert not stale, 'EXAMPLE_RUNS has entries for modules that are not in plugins/modules: %s' % stale


@pytest.mark.parametrize('module', MODULES)
def test_examples_run_as_written(module, request, tmp_path):
    entry = EXAMPLE_RUNS.get(module)
    assert entry is not None, (
        'plugins/modules/%s.py has no entry in EXAMPLE_RUNS (tests/integration/test_examples.py): add one with what '
        'its EXAMPLES need (substitutions, vars, a seed), which tasks change something and a check of their effects '
        'on the registry, so that its EXAMPLES are run like every other module\'s' % module)
    examples = examples_of(module)
    assert examples.strip(), 'plugins/modules/%s.py has no EXAMPLES' % module
    tasks = list(leaf_tasks(yaml.safe_load(examples)))
    names = [t.get('name') for t in tasks]
    assert all(names) and len(set(names)) == len(names), 'every task of the EXAMPLES needs a name of its own: %s' % names
    ours = [t['name'] for t in tasks if collection_module(t)]
    assert sorted(ours) == sorted(entry['changed']), (
        'EXAMPLE_RUNS[%r]["changed"] must name every task of a module of the collection, and only those: %s'
        % (module, ours))

    ctx = Context(request, module, str(tmp_path))
    entry['seed'](ctx)
    text, table = substitute(module, entry, examples, ctx)
    play_vars = dict((k, ctx.template(v)) for k, v in dict(COMMON_VARS, **entry.get('vars', {})).items())
    environment = dict((k, ctx.template(v)) for k, v in dict(COMMON_ENVIRONMENT, **entry.get('environment', {})).items())
    ctx.write_host_files()
    path = playbook(module, text, play_vars, str(tmp_path / 'examples.yml'))

    run = request.getfixturevalue('ansible').playbook(path, env=environment)
    where = '\nsubstitutions: %s\nplaybook: %s' % (table, path)
    assert run.data is not None, 'ansible-playbook gave no JSON (rc %d)%s\n%s' % (run.rc, where, (run.stdout + run.stderr)[-4000:])
    ran = [t for play in run.data['plays'] for t in play['tasks']]
    # Task names as run, substituted (a name may mention a host or a repository).
    assert [t['task']['name'] for t in ran] == [t['name'] for t in leaf_tasks(yaml.safe_load(text))], (
        'not every task ran%s\n%s' % (where, run.stderr[-4000:]))
    for task, source in zip(ran, tasks):
        result = task['hosts']['localhost']
        problems = failures_of(result)
        assert not problems, 'EXAMPLES of %s, task %r: %s%s\nresult: %s' % (
            module, source['name'], problems, where, json.dumps(result, indent=1)[:3000])
        ctx.results[source['name']] = result
        if collection_module(source):
            assert isinstance(result.get('msg'), str) and result['msg'].strip(), '%r returned no msg%s' % (source['name'], where)
            expected = entry['changed'][source['name']]
            assert result.get('changed') is expected, '%r: changed is %s, the table says %s: %s' % (
                source['name'], result.get('changed'), expected, result['msg'])
    assert run.rc == 0 and run.stats['failures'] == 0, where
    entry['check'](ctx)
