"""Passwords and tokens never appear in what Ansible shows: module results, diffs, warnings, errors, -vvv output.

Every module and the release role run through ansible-playbook at -vvv with --diff, every result registered and
printed in full by ``debug: var=``, in runs that succeed and runs that fail (a wrong password; a registry that
answers 500 quoting the Authorization header it got). The whole output (stdout and stderr) is searched for every
password given, base64 of each ``user:password`` (what a Basic header carries), and every bearer token the test
issuer signed, whole and its signature alone. Ansible masks the values of ``no_log`` options; base64 forms and
tokens are the collection's own business. The playbooks assert the outcome of each task themselves (failed or
not, the error type), so a run that did not do what it should fails its test before the search.

Elsewhere: tag_set with credentials from a Docker config file (test_tag_set_errors.py), the server role's
validation and config.yml (test_server_role_validation.py), daemon_mirrors' logins (test_daemon_mirrors_files.py).
"""

import base64
import json
import os
import re
import secrets

import pytest

from tests.integration.conftest import Images
from tests.support.images import make_layout
from tests.support.loopback import LoopbackServer
from tests.support.registry import make_server_cert
from tests.support.seed import Seeder, days_ago

TAG_SET = 'regops.registry.tag_set'
PUSH = 'regops.registry.manifest_push'
COPY = 'regops.registry.image_copy'
INFO = 'regops.registry.image_info'
PRUNE = 'regops.registry.retention_prune'
RELEASE = 'regops.registry.release'
ARCHES = ('amd64', 'arm64')
POLICY = {'rules': [{'name': 'releases', 'semver': {'minors': 1, 'patches': 1}},
                    {'name': 'dev', 'prefixes': ['dev-'], 'keep_newest': 1}]}

# What every test searched, for the summary printed at the end of the module (pytest -s).
LEDGER = []


def basic(username, password):
    return base64.b64encode(('%s:%s' % (username, password)).encode()).decode()


def wrong(password):
    return 'wrong-' + password[::-1]


class Secrets(object):
    """The values that must never be shown, by label; the issuer's tokens are read at search time."""

    def __init__(self, issuer):
        self.issuer = issuer
        self.values = {}

    def user(self, label, username, password):
        self.values[label + ' password'] = password
        self.values[label + ' base64(user:password)'] = basic(username, password)
        return password

    def all(self):
        values = dict(self.values)
        for number, token in enumerate(self.issuer.tokens):
            values['token #%d' % number] = token
            values['token #%d signature' % number] = token.rsplit('.', 1)[1]
        return values

    def where(self, text, width=300):
        """The text before each place a secret is found, for the failure message."""
        places = []
        for label, value in self.all().items():
            start = text.find(value)
            while start >= 0:
                places.append('...%s<%s>' % (text[max(0, start - width):start], label))
                start = text.find(value, start + 1)
        return places

    def leaks(self, text):
        """{label: occurrences} of every secret found in ``text``."""
        return dict((label, text.count(value)) for label, value in self.all().items() if value in text)


@pytest.fixture
def hidden(issuer, registry, token_registry):
    found = Secrets(issuer)
    found.user('registry', registry.username, registry.password)
    found.user('token registry', token_registry.username, token_registry.password)
    found.user('wrong registry', registry.username, wrong(registry.password))
    found.user('wrong token registry', token_registry.username, wrong(token_registry.password))
    return found


def conn(registry, password=None):
    return {'registry': registry.host, 'ca_path': registry.ca_path, 'username': registry.username,
            'password': password or registry.password}


def source_conn(registry, password=None):
    return {'source_ca_path': registry.ca_path, 'source_username': registry.username,
            'source_password': password or registry.password}


def task(module, args, expect, check=False):
    """A module task and what must be true of its registered result ``r`` (a Jinja test, ``r`` replaced)."""
    body = {'name': '%s %s' % (module.rsplit('.', 1)[1], expect), module: args}
    if check:
        body['check_mode'] = True
    return body, expect


def succeeded(changed=None):
    return 'r is succeeded' + ('' if changed is None else ' and r.changed == %s' % changed)


def failed_with(error):
    return "r is failed and r.error == '%s'" % error


def run_vvv(ansible, hidden, tasks, label):
    """One playbook: each task registered, printed by debug var=, and its outcome asserted; -vvv, --diff."""
    steps = []
    for number, (body, expect) in enumerate(tasks):
        name = 'out%d' % number
        steps.append(dict(body, register=name, ignore_errors=True))
        steps.append({'name': 'show %s' % name, 'ansible.builtin.debug': {'var': name}})
        steps.append({'name': 'check %s: %s' % (name, expect), 'ansible.builtin.assert': {
            'that': [re.sub(r'\br\b', name, expect)], 'quiet': True}})
    play = [{'hosts': 'localhost', 'gather_facts': False, 'tasks': steps}]
    run = ansible.playbook(play, diff=True, extra_args=['-vvv'], callback='ansible.builtin.default')
    assert run.rc == 0, run.stdout[-6000:]
    return check_output(hidden, run, label)


def check_output(hidden, run, label):
    text = run.stdout + run.stderr
    leaks = hidden.leaks(text)
    LEDGER.append((label, len(hidden.all()), len(text), leaks))
    assert leaks == {}, '%s: secrets in the output: %s\n%s' % (label, leaks, '\n'.join(hidden.where(text)))
    return text


@pytest.fixture(scope='module', autouse=True)
def summary():
    yield
    print('\nsecrets: %d -vvv runs' % len(LEDGER))
    for label, searched, size, leaks in LEDGER:
        found = sum(leaks.values())
        print('  %-50s %3d secrets searched in %7d characters: %d found %s' % (label, searched, size, found, leaks or ''))


@pytest.fixture(scope='module')
def token_images(token_registry, workdir):
    path = os.path.join(workdir, 'secrets-token-images')
    os.makedirs(path, exist_ok=True)
    return Images(token_registry, path)


def staged(images, repo):
    """Both architectures of 1.0.0 in ``repo``-staging; their refs as manifest_push's manifests."""
    for arch in ARCHES:
        images.push(repo + '-staging', '1.0.0-' + arch, arch=arch, layers=1)
    return [{'ref': '%s/%s-staging:1.0.0-%s' % (images.registry.host, repo, arch), 'suffix': '-' + arch} for arch in ARCHES]


# ------------------------------------------------------------------ modules against real registries

@pytest.mark.parametrize('direction', ['token_from_basic', 'basic_from_token'])
def test_manifest_push_copy_between_registries(
        ansible, hidden, registry, token_registry, images, token_images, repo, direction):
    """A release copied from another registry: the target's and the source's credentials, one of them bearer."""
    target, source, source_images = ((token_registry, registry, images) if direction == 'token_from_basic'
                                     else (registry, token_registry, token_images))
    manifests = staged(source_images, repo)
    release = dict(repository=repo, manifests=manifests)
    tasks = [
        task(PUSH, dict(conn(target), **dict(source_conn(source), version='v1.0.0', **release)), succeeded(True), check=True),
        task(PUSH, dict(conn(target), **dict(source_conn(source), version='v1.0.0', **release)), succeeded(True)),
        task(PUSH, dict(conn(target), **dict(source_conn(source), version='v1.0.0', **release)), succeeded(False)),
        task(PUSH, dict(conn(target, wrong(target.password)), **dict(source_conn(source), version='v1.0.1', **release)),
             failed_with('AuthenticationError')),
        task(PUSH, dict(conn(target), **dict(source_conn(source, wrong(source.password)), version='v1.0.1', **release)),
             failed_with('AuthenticationError')),
    ]
    run_vvv(ansible, hidden, tasks, 'manifest_push %s' % direction)


def test_manifest_push_index_on_a_token_registry(ansible, hidden, token_registry, token_images, repo):
    for arch in ARCHES:
        token_images.push(repo, 'build-' + arch, arch=arch, layers=1)
    args = dict(repository=repo, manifests=[{'ref': 'build-' + arch} for arch in ARCHES], tags=['multi'])
    run_vvv(ansible, hidden, [
        task(PUSH, dict(conn(token_registry), **args), succeeded(True)),
        task(PUSH, dict(conn(token_registry, wrong(token_registry.password)), **args), failed_with('AuthenticationError')),
    ], 'manifest_push index, bearer')


@pytest.mark.parametrize('direction', ['token_from_basic', 'basic_from_token'])
def test_image_copy_and_image_info_between_registries(
        ansible, hidden, registry, token_registry, images, token_images, repo, direction):
    """An index promoted from another registry with image_copy, and inspected on both with image_info."""
    target, source, source_images = ((token_registry, registry, images) if direction == 'token_from_basic'
                                     else (registry, token_registry, token_images))
    source_images.push(repo + '-staging', 'v1.0.0', platforms=list(ARCHES), layers=1)
    copy = dict(source='%s/%s-staging:v1.0.0' % (source.host, repo), repository=repo, version='v1.0.0')
    tasks = [
        task(COPY, dict(conn(target), **dict(source_conn(source), **copy)), succeeded(True), check=True),
        task(COPY, dict(conn(target), **dict(source_conn(source), **copy)), succeeded(True)),
        task(COPY, dict(conn(target), **dict(source_conn(source), **copy)), succeeded(False)),
        task(COPY, dict(conn(target, wrong(target.password)), **dict(source_conn(source), **copy)),
             failed_with('AuthenticationError')),
        task(COPY, dict(conn(target), **dict(source_conn(source, wrong(source.password)), **copy)),
             failed_with('AuthenticationError')),
        task(INFO, dict(conn(target), repository=repo, reference='v1.0.0'), succeeded(False)),
        task(INFO, dict(conn(source), repository=repo + '-staging', resolve_tags=True), succeeded(False)),
        task(INFO, dict(conn(target, wrong(target.password)), repository=repo), failed_with('AuthenticationError')),
    ]
    run_vvv(ansible, hidden, tasks, 'image_copy + image_info %s' % direction)


def seed_for_prune(registry, repo):
    s = Seeder(registry, repo)
    for version in ('1.0.0', '1.0.1', '1.1.0', '2.0.0'):
        digest = s.image('v' + version, created=days_ago(10))
        if version == '2.0.0':
            s.signature(digest)
    for number, age in enumerate((5, 4, 3)):
        s.image('dev-%d' % number, created=days_ago(age), name='dev-%d' % number)


@pytest.mark.parametrize('which', ['basic', 'bearer'])
def test_retention_prune_plan_and_deletes(ansible, hidden, registry, token_registry, repo, which):
    target = registry if which == 'basic' else token_registry
    seed_for_prune(target, repo)
    args = dict(POLICY, repository=repo)
    refused = "r is failed and 'rejected the credentials' in r.repositories[0].error"
    run_vvv(ansible, hidden, [
        task(PRUNE, dict(conn(target), **args), succeeded(True), check=True),
        task(PRUNE, dict(conn(target), **args), succeeded(True) + " and r.repositories[0].summary.delete > 0 and r.diff.before != r.diff.after"),
        task(PRUNE, dict(conn(target), **args), succeeded(False)),
        # Each repository's error is in the result; the module's own is RegistryError ('1 of 1 repositories failed').
        task(PRUNE, dict(conn(target, wrong(target.password)), **args), refused, check=True),
        task(PRUNE, dict(conn(target, wrong(target.password)), **args), refused),
    ], 'retention_prune %s' % which)


def test_tag_set_on_a_token_registry(ansible, hidden, registry, token_registry, token_images, images, repo):
    token_images.push(repo, 'build', layers=1)
    images.push(repo, 'build', layers=1)
    tasks = []
    for target in (token_registry, registry):
        args = dict(repository=repo, source='build', version='v1.0.0')
        tasks += [
            task(TAG_SET, dict(conn(target), **args), succeeded(True), check=True),
            task(TAG_SET, dict(conn(target), **args), succeeded(True)),
            task(TAG_SET, dict(conn(target), **dict(args, tags=['extra'])), succeeded(True)),
            task(TAG_SET, dict(conn(target, wrong(target.password)), **args), failed_with('AuthenticationError')),
        ]
    run_vvv(ansible, hidden, tasks, 'tag_set bearer and basic')


# ------------------------------------------------------------------ the release role

def release_play(blocks):
    """A play of ``blocks`` (variables, should fail): each runs the role, shows what it registered, and checks."""
    tasks = []
    for number, (variables, should_fail) in enumerate(blocks):
        flag = '_failed_%d' % number
        tasks.append({'name': 'release %d' % number, 'block': [
            {'name': 'run the role', 'ansible.builtin.include_role': {'name': RELEASE}, 'vars': variables}],
            'rescue': [
                {'name': 'show the failure', 'ansible.builtin.debug': {'var': 'ansible_failed_result'}},
                {'name': 'note it', 'ansible.builtin.set_fact': {flag: True}}]})
        for name in ('_release_plan', '_release_push', 'release_results'):
            tasks.append({'name': 'show %s' % name, 'ansible.builtin.debug': {'var': name}})
        tasks.append({'name': 'check release %d' % number, 'ansible.builtin.assert': {
            'that': ['(%s | default(false)) == %s' % (flag, should_fail)]}})
    return [{'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}]


def release_vars(target, source, organization, version, layouts, password=None, source_password=None):
    return {'release_registry': target.host, 'release_ca_path': target.ca_path, 'release_organization': organization,
            'release_version': version, 'release_username': target.username,
            'release_password': password or target.password,
            'release_source_username': source.username, 'release_source_password': source_password or source.password,
            'release_source_ca_path': source.ca_path,
            'release_services': [
                {'name': 'promoted', 'sources': dict(
                    (arch, {'image': '%s/%s-staging:1.0.0-%s' % (source.host, organization + '/promoted', arch)})
                    for arch in ARCHES)},
                {'name': 'built', 'sources': dict(
                    (arch, {'oci_layout': os.path.join(layouts, arch), 'ref': 'build'}) for arch in ARCHES)}]}


def test_release_role(ansible, hidden, registry, token_registry, token_images, workdir):
    """Promotion from the token registry into the basic one: release_password and release_source_password, in a
    check-mode plan, a release, a rerun, and runs refused for a wrong password on either side."""
    organization = 'sec%s' % secrets.token_hex(3)
    staged(token_images, organization + '/promoted')
    layouts = os.path.join(workdir, 'secrets-layouts', organization)
    for arch in ARCHES:
        make_layout(os.path.join(layouts, arch), tag='build', arch=arch, layers=1, layer_size=1024)
    good = release_vars(registry, token_registry, organization, 'v1.0.0', layouts)
    plan = ansible.playbook(release_play([(good, False)]), check=True, diff=True, extra_args=['-vvv'],
                            callback='ansible.builtin.default')
    assert plan.rc == 0, plan.stdout[-6000:]
    check_output(hidden, plan, 'release role --check')
    run = ansible.playbook(release_play([(good, False), (good, False)]), diff=True, extra_args=['-vvv'],
                           callback='ansible.builtin.default')
    assert run.rc == 0, run.stdout[-6000:]
    assert 'index sha256:' in run.stdout
    check_output(hidden, run, 'release role, release and rerun')
    refused = ansible.playbook(release_play([
        (release_vars(registry, token_registry, organization, 'v1.0.1', layouts, password=wrong(registry.password)), True),
        (release_vars(registry, token_registry, organization, 'v1.0.1', layouts,
                      source_password=wrong(token_registry.password)), True),
    ]), diff=True, extra_args=['-vvv'], callback='ansible.builtin.default')
    assert refused.rc == 0, refused.stdout[-6000:]
    assert refused.stdout.count('stopped before anything was written') >= 2, refused.stdout[-6000:]
    assert "rejected the credentials of user 'regops'" in refused.stdout
    check_output(hidden, refused, 'release role, wrong passwords')


# ------------------------------------------------------------------ a registry that echoes Authorization

class EchoRegistry(object):
    """Wants credentials (Basic, or Bearer tokens from ``issuer``), then answers every request that carries them
    with HTTP 500 (Retry-After: 0) whose registry error message quotes the Authorization header, as a broken proxy
    might. Its certificate is signed by the issuer's CA, so the issuer's ca_path trusts both."""

    def __init__(self, issuer, workdir, bearer):
        self.issuer = issuer
        self.bearer = bearer
        self.seen = []
        certs = os.path.join(workdir, 'echo-%s' % ('bearer' if bearer else 'basic'))
        os.makedirs(certs, exist_ok=True)
        cert_path, key_path = make_server_cert(certs, issuer.ca[1], issuer.ca[2])
        self.ca_path = issuer.ca[0]
        self.server = LoopbackServer(self.answer, tls=(cert_path, key_path)).start()
        self.host = self.server.host
        self.stop = self.server.stop

    def answer(self, request):
        length = int(request.headers.get('Content-Length') or 0)
        if length:
            request.rfile.read(length)
        auth = request.headers.get('Authorization')
        self.seen.append((request.command, request.path, auth))
        if not auth:
            status = 401
            if self.bearer:
                challenge = 'Bearer realm="%s",service="regops-test-registry"' % self.issuer.realm
            else:
                challenge = 'Basic realm="echo"'
            headers = {'WWW-Authenticate': challenge}
            errors = [{'code': 'UNAUTHORIZED', 'message': 'authentication required'}]
        else:
            status = 500
            headers = {'Retry-After': '0'}
            errors = [{'code': 'UNKNOWN', 'message': 'Authorization: %s' % auth}]
        body = json.dumps({'errors': errors}).encode()
        request.send_response(status)
        headers.update({'Content-Type': 'application/json', 'Content-Length': str(len(body)), 'Connection': 'close',
                        'Docker-Distribution-Api-Version': 'registry/2.0'})
        for name, value in headers.items():
            request.send_header(name, value)
        request.end_headers()
        if request.command != 'HEAD':
            request.wfile.write(body)
        request.close_connection = True


@pytest.mark.parametrize('bearer', [False, True], ids=['basic', 'bearer'])
def test_registry_echoing_the_authorization_header(ansible, hidden, issuer, registry, workdir, bearer):
    """Every module against a registry that quotes the Authorization header in its 500 answers."""
    echo = EchoRegistry(issuer, workdir, bearer)
    password = hidden.user('echo registry', 'echo', 'echo-pw-' + secrets.token_urlsafe(12))
    issuer.users['echo'] = (password, {'pull', 'push', 'delete'})
    target = {'registry': echo.host, 'ca_path': echo.ca_path, 'username': 'echo', 'password': password}
    unavailable = failed_with('RegistryConnectionError')
    try:
        tasks = [
            task(TAG_SET, dict(target, repository='team/app', source='build', tags=['v1']), unavailable),
            task(TAG_SET, dict(target, repository='team/app', source='sha256:' + 'a' * 64, tags=['v1']), unavailable),
            task(PUSH, dict(target, repository='team/app', manifests=[{'ref': 'build-amd64'}], tags=['v1']), unavailable),
            # A copy from it into the fixture registry: the source credentials are the ones echoed.
            task(PUSH, dict(conn(registry), **dict(source_conn(_Registry(echo, password)), repository='team/app',
                                                   tags=['v1'], manifests=[{'ref': '%s/team/src:1' % echo.host}])),
                 unavailable),
            task(PRUNE, dict(target, **dict(POLICY, repository='team/app')), 'r is failed', check=True),
            task(PRUNE, dict(target, **dict(POLICY, repository='team/app')), 'r is failed'),
        ]
        run_vvv(ansible, hidden, tasks, 'echo registry (%s)' % ('bearer' if bearer else 'basic'))
    finally:
        echo.stop()
        del issuer.users['echo']
    # The header was sent and echoed: the modules had secrets to leak.
    sent = [auth for _method, _path, auth in echo.seen if auth]
    assert sent and all(auth.startswith('Bearer ' if bearer else 'Basic ') for auth in sent), echo.seen


class _Registry(object):
    """What source_conn reads of a registry, for the echo registry."""

    def __init__(self, echo, password):
        self.ca_path = echo.ca_path
        self.username = 'echo'
        self.password = password
