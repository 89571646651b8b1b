"""The AWX custom credential types of extensions/awx/credential_types: their structure as AWX validates it, their
injectors against the modules' environment fallbacks, and real runs against the fixture registries with the
credentials injected the way AWX injects them, with no connection option in any task."""

import glob
import json
import os
import re
import secrets
import stat
import tempfile
import types
from urllib.parse import parse_qs

import jsonschema
import pytest
import yaml
from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ansible_collections.regops.registry.plugins.module_utils import _module
from tests.conftest import ROOT
from tests.integration.conftest import Images
from tests.support.images import make_layout, raw_tag_digest, skopeo_tags
from tests.support.loopback import LoopbackServer

TYPES_DIR = os.path.join(ROOT, 'extensions', 'awx', 'credential_types')
DOC = os.path.join(ROOT, 'docs', 'awx.md')
TARGET, SOURCE = 'registry.yml', 'source_registry.yml'
# Which options each credential type stands for, by the fallbacks of those options.
OPTIONS_OF = {TARGET: _module.CONNECTION_OPTIONS, SOURCE: _module.SOURCE_OPTIONS}
SET_BY = {TARGET: 'registry credential', SOURCE: 'source registry credential'}


def load(name):
    with open(os.path.join(TYPES_DIR, name)) as f:
        return yaml.safe_load(f)


def fallbacks(options):
    """{environment variable: option} of an argument spec's env fallbacks."""
    found = {}
    for option, spec in options.items():
        if 'fallback' in spec:
            function, names = spec['fallback']
            assert function is _module.env_fallback, option
            for name in names:
                found[name] = option
    return found


# ------------------------------------------------------------------ what AWX requires of a credential type
# awx/main/fields.py (CredentialTypeInputField, CredentialTypeInjectorField), written out as AWX checks them when a
# credential type is created: a JSON schema each, then the checks the schema cannot express.

INPUTS_SCHEMA = {
    'type': 'object', 'additionalProperties': False,
    'properties': {
        'required': {'type': 'array', 'items': {'type': 'string'}},
        'fields': {'type': 'array', 'items': {
            'type': 'object', 'additionalProperties': False, 'required': ['id', 'label'],
            'properties': {
                'type': {'enum': ['string', 'boolean']},
                'format': {'enum': ['ssh_private_key', 'url']},
                'choices': {'type': 'array', 'minItems': 1, 'items': {'type': 'string'}, 'uniqueItems': True},
                'id': {'type': 'string', 'pattern': '^[a-zA-Z_]+[a-zA-Z0-9_]*$'},
                'label': {'type': 'string'}, 'help_text': {'type': 'string'}, 'multiline': {'type': 'boolean'},
                'secret': {'type': 'boolean'}, 'ask_at_runtime': {'type': 'boolean'}, 'default': {},
            }}},
    }}

INJECTORS_SCHEMA = {
    'type': 'object', 'additionalProperties': False,
    'properties': {
        'file': {'type': 'object', 'additionalProperties': False,
                 'patternProperties': {r'^template(\.[a-zA-Z_]+[a-zA-Z0-9_]*)?$': {'type': 'string'}}},
        'env': {'type': 'object', 'additionalProperties': False,
                'patternProperties': {'^[a-zA-Z_]+[a-zA-Z0-9_]*$': {'type': 'string', 'pattern': '^[\x00-\x7F]*$'}}},
        'extra_vars': {'type': 'object', 'additionalProperties': False,
                       'patternProperties': {'^[a-zA-Z_]+[a-zA-Z0-9_]*$': {'type': 'string'}}},
    }}

# Some of AWX's ENV_BLOCKLIST (awx/main/constants.py); the REGOPS_ names can meet none of them, nor ANSIBLE_*.
ENV_BLOCKED = {'VIRTUAL_ENV', 'PATH', 'PYTHONPATH', 'JOB_ID', 'INVENTORY_ID', 'INVENTORY_SOURCE_ID', 'INVENTORY_UPDATE_ID',
               'AD_HOC_COMMAND_ID', 'REST_API_URL', 'REST_API_TOKEN', 'MAX_EVENT_RES', 'CALLBACK_QUEUE',
               'CALLBACK_CONNECTION', 'CACHE', 'JOB_CALLBACK_DEBUG', 'INVENTORY_HOSTVARS', 'AWX_HOST', 'PROJECT_REVISION',
               'SUPERVISOR_CONFIG_PATH'}


def awx_problems(credential_type):
    """What AWX would refuse in a credential type (an empty list when it would create it)."""
    problems = []
    keys = set(credential_type)
    if keys != {'name', 'kind', 'description', 'inputs', 'injectors'}:
        problems.append('keys %s' % sorted(keys))
    if credential_type.get('kind') not in ('cloud', 'net'):  # the only kinds a custom type may have
        problems.append('kind %r' % credential_type.get('kind'))
    inputs, injectors = credential_type.get('inputs') or {}, credential_type.get('injectors') or {}
    problems += ['inputs: %s' % e.message for e in jsonschema.Draft4Validator(INPUTS_SCHEMA).iter_errors(inputs)]
    problems += ['injectors: %s' % e.message for e in jsonschema.Draft4Validator(INJECTORS_SCHEMA).iter_errors(injectors)]
    if problems:
        return problems
    ids = [field['id'] for field in inputs.get('fields', [])]
    if len(set(ids)) != len(ids) or 'tower' in ids:
        problems.append('field ids must be unique and not "tower": %s' % ids)
    for field in inputs.get('fields', []):
        kind = field.get('type', 'string')
        if 'default' in field and not isinstance(field['default'], {'string': str, 'boolean': bool}[kind]):
            problems.append('%s: default %r is not a %s' % (field['id'], field['default'], kind))
        for key in ('choices', 'multiline', 'format', 'secret'):
            if key in field and kind != 'string':
                problems.append('%s: %s not allowed for a %s' % (field['id'], key, kind))
    if set(inputs.get('required', [])) - set(ids):
        problems.append('required names no field: %s' % (set(inputs['required']) - set(ids)))
    for name in injectors.get('env', {}):
        if name.startswith('ANSIBLE_') or name in ENV_BLOCKED:
            problems.append('%s may not be set by a credential' % name)
    # Every template renders with every field defined and tower.filename as the file injectors declare it.
    files = list(injectors.get('file', {}))
    if 'template' in files and len(files) > 1:
        problems.append('single and multi-file syntax mixed')
    tower = types.SimpleNamespace(filename='EXAMPLE_FILENAME' if files == ['template'] else types.SimpleNamespace(
        **dict((label.split('.')[1], 'EXAMPLE_FILENAME') for label in files)))
    namespace = dict((field_id, 'EXAMPLE') for field_id in ids)
    namespace['tower'] = tower
    for kind, templates in injectors.items():
        for key, template in templates.items():
            try:
                ImmutableSandboxedEnvironment(undefined=StrictUndefined).from_string(template).render(namespace)
            except Exception as exc:  # pylint: disable=broad-exception-caught
                problems.append('%s %s: %s' % (kind, key, exc))
    return problems


def inject(credential_type, inputs, private_data_dir):
    """(env, safe_env) of a job with a credential of ``credential_type`` holding ``inputs``, as AWX builds them
    (CredentialType.inject_credential in awx/main/models/credential.py): empty inputs are left out of the template
    namespace, unset booleans are false, each file template is rendered into a file of its own (mode 0600) whose path
    is tower.filename.<label>, and the env templates are rendered with that namespace, and again with secrets hidden
    for what AWX stores and shows."""
    fields = credential_type['inputs']['fields']
    secret = set(f['id'] for f in fields if f.get('secret'))
    tower = types.SimpleNamespace()
    namespace, safe = {'tower': tower}, {'tower': tower}
    for name, value in inputs.items():
        if isinstance(value, bool):
            namespace[name] = safe[name] = value
            continue
        if value:
            namespace[name] = value
            safe[name] = '**********' if name in secret else value
    for field in fields:
        if field.get('type') == 'boolean' and field['id'] not in inputs:
            namespace[field['id']] = safe[field['id']] = False
    sandbox = ImmutableSandboxedEnvironment()
    env_dir = os.path.join(private_data_dir, 'env')
    os.makedirs(env_dir, exist_ok=True)
    for label, template in credential_type['injectors'].get('file', {}).items():
        handle, path = tempfile.mkstemp(dir=env_dir)
        with os.fdopen(handle, 'w') as f:
            f.write(sandbox.from_string(template).render(**namespace))
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        if '.' not in label:
            tower.filename = path
        else:
            if not hasattr(tower, 'filename'):
                tower.filename = types.SimpleNamespace()
            setattr(tower.filename, label.split('.')[1], path)
    env, safe_env = {}, {}
    for name, template in credential_type['injectors'].get('env', {}).items():
        env[name] = sandbox.from_string(template).render(**namespace)
        safe_env[name] = sandbox.from_string(template).render(**safe)
    return env, safe_env


def pem(path):
    with open(path) as f:
        return f.read()


def target_inputs(registry, **change):
    inputs = {'registry': registry.host, 'username': registry.username, 'password': registry.password,
              'ca_certificate': pem(registry.ca_path)}
    inputs.update(change)
    return inputs


def source_inputs(registry, **change):
    inputs = {'username': registry.username, 'password': registry.password, 'ca_certificate': pem(registry.ca_path)}
    inputs.update(change)
    return inputs


@pytest.fixture
def job_env(tmp_path):
    """Injects credentials as AWX does for one job (one private data directory); returns the environment."""
    def build(*credentials):
        env = {}
        for name, inputs in credentials:
            env.update(inject(load(name), inputs, str(tmp_path))[0])
        return env
    return build


# ------------------------------------------------------------------ the files

@pytest.mark.parametrize('name', [TARGET, SOURCE])
def test_credential_type_is_one_awx_accepts(name):
    credential_type = load(name)
    assert awx_problems(credential_type) == []
    assert credential_type['kind'] == 'cloud'
    fields = dict((f['id'], f) for f in credential_type['inputs']['fields'])
    for field in fields.values():
        assert field.get('type') in ('string', 'boolean') and field['label'], field
    assert fields['password'].get('secret') is True
    assert not [f for f in fields.values() if f.get('secret') and f['id'] != 'password']
    assert fields['ca_certificate'].get('multiline') is True
    # No default: AWX treats an unset boolean as false, and older AWX input schemas refuse a default property.
    assert fields['skip_tls_verify']['type'] == 'boolean' and 'default' not in fields['skip_tls_verify']
    assert set(credential_type['inputs']['required']) >= {'username', 'password'}
    assert list(credential_type['injectors']['file']) == ['template.ca']
    assert credential_type['injectors']['file']['template.ca'] == '{{ ca_certificate }}'
    # The checker itself refuses what AWX refuses.
    broken = yaml.safe_load(yaml.safe_dump(credential_type))
    broken['injectors']['env']['ANSIBLE_CONFIG'] = '{{ nothing_defined }}'
    broken['inputs']['fields'].append({'id': 'flag', 'label': 'Flag', 'type': 'boolean', 'multiline': True})
    assert len(awx_problems(broken)) == 3


@pytest.mark.parametrize('name', [TARGET, SOURCE])
def test_injected_variables_are_the_fallbacks_of_the_options(name):
    """Every variable set is one the modules read, for the options the type stands for; and all of those options'
    variables are set, except the ones docs/awx.md says are not injected, and why."""
    injected = set(load(name)['injectors']['env'])
    read = fallbacks(OPTIONS_OF[name])
    assert injected <= set(read), injected - set(read)
    with open(DOC) as f:
        rows = dict((m.group(1), m.group(2)) for m in re.finditer(r'^\| `(REGOPS_\w+)` \|.*\| ([^|]+) \|$', f.read(), re.M))
    for variable in read:
        assert variable in rows, '%s is not in the table of docs/awx.md' % variable
        if variable in injected:
            assert rows[variable].startswith(SET_BY[name] + ' ('), (variable, rows[variable])
        else:
            assert rows[variable].startswith('not injected: '), (variable, rows[variable])
    # Only the connection options that are no credential are left out.
    assert set(read) - injected == ({'REGOPS_DOCKER_CONFIG', 'REGOPS_REGISTRY_TIMEOUT'} if name == TARGET else set())
    # Both types together cover every option the modules read from the environment, and nothing else.
    every = set(fallbacks(_module.CONNECTION_OPTIONS)) | set(fallbacks(_module.SOURCE_OPTIONS))
    assert set(rows) == every


def test_page_names_the_modules_that_read_each_variable():
    """Every module takes the connection options; those with the _source doc fragment the source ones."""
    modules, with_source = [], []
    for path in sorted(glob.glob(os.path.join(ROOT, 'plugins', 'modules', '*.py'))):
        name = os.path.basename(path)[:-3]
        modules.append(name)
        with open(path) as f:
            if '- regops.registry._source\n' in f.read():
                with_source.append(name)
    with open(DOC) as f:
        text = f.read()
    every = re.search(r'^"Every module" is (.*?): the connection', text, re.M | re.S).group(1)
    assert sorted(re.findall(r'`(\w+)`', every)) == modules
    for variable in fallbacks(_module.SOURCE_OPTIONS):
        row = re.search(r'^\| `%s` \| `\w+` \| ([^|]+) \|' % variable, text, re.M).group(1)
        assert sorted(re.findall(r'`(\w+)`', row)) == with_source, (variable, row)


def test_injectors_render_as_awx_renders_them(tmp_path):
    registry = types.SimpleNamespace(host='registry.example.com:5000', username='ci', password='s3cret-pw-123456',
                                     ca_path=None)
    inputs = {'registry': registry.host, 'username': 'ci', 'password': registry.password,
              'ca_certificate': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'}
    env, safe_env = inject(load(TARGET), inputs, str(tmp_path / 'a'))
    assert env['REGOPS_REGISTRY'] == 'registry.example.com:5000'
    assert env['REGOPS_REGISTRY_PASSWORD'] == registry.password
    assert env['REGOPS_REGISTRY_VALIDATE_CERTS'] == 'true'  # the boolean unset: verification stays on
    assert pem(env['REGOPS_REGISTRY_CA_PATH']) == inputs['ca_certificate']
    assert stat.S_IMODE(os.stat(env['REGOPS_REGISTRY_CA_PATH']).st_mode) == 0o600
    assert safe_env['REGOPS_REGISTRY_PASSWORD'] == '**********' and registry.password not in json.dumps(safe_env)
    # No CA given: AWX still writes the (empty) file, but no path is injected; ticked, verification is off.
    env, _safe = inject(load(TARGET), dict(inputs, ca_certificate='', skip_tls_verify=True), str(tmp_path / 'b'))
    assert env['REGOPS_REGISTRY_CA_PATH'] == '' and env['REGOPS_REGISTRY_VALIDATE_CERTS'] == 'false'
    assert len(os.listdir(str(tmp_path / 'b' / 'env'))) == 1
    env, _safe = inject(load(SOURCE), {'username': 'u', 'password': 'p', 'skip_tls_verify': False}, str(tmp_path / 'c'))
    assert env == {'REGOPS_SOURCE_REGISTRY_USERNAME': 'u', 'REGOPS_SOURCE_REGISTRY_PASSWORD': 'p',
                   'REGOPS_SOURCE_REGISTRY_CA_PATH': '', 'REGOPS_SOURCE_REGISTRY_VALIDATE_CERTS': 'true'}


# ------------------------------------------------------------------ real runs, credentials only in the environment

def play(*tasks, **extra):
    return [dict({'name': 'AWX job', 'hosts': 'localhost', 'gather_facts': False, 'tasks': list(tasks)}, **extra)]


def short(msg, *names):
    assert len(msg) < 400 and '\n' not in msg, msg
    for name in names:
        assert name in msg, (name, msg)


def test_tag_set_with_the_registry_credential_only(ansible, registry, images, repo, job_env):
    digest = images.push(repo, 'build')
    task = {'name': 'Tag the build', 'regops.registry.tag_set': {'repository': repo, 'source': 'build', 'tags': ['awx']},
            'ignore_errors': True}
    # The task alone cannot reach the registry: it is the credential's environment that connects it.
    alone = ansible.playbook(play(task))
    assert 'registry' in alone.result['msg'] and alone.result['failed'] is True, alone.result
    run = ansible.playbook(play(task), env=job_env((TARGET, target_inputs(registry))))
    result = run.result
    assert result['changed'] is True and not result.get('failed'), result
    assert raw_tag_digest(registry, repo, 'awx') == digest
    short(result['msg'], registry.host, repo)
    assert registry.password not in run.stdout + run.stderr


def test_wrong_password_in_the_credential_fails_without_showing_it(ansible, registry, repo, job_env):
    wrong = 'wrong-%s' % secrets.token_urlsafe(12)
    task = {'name': 'Tag', 'regops.registry.tag_set': {'repository': repo, 'source': 'build', 'tags': ['x']},
            'ignore_errors': True}
    env = job_env((TARGET, target_inputs(registry, password=wrong)))
    run = ansible.playbook(play(task), env=env)
    assert run.result['failed'] is True and run.result['error'] == 'AuthenticationError', run.result
    short(run.result['msg'], registry.host)
    assert wrong not in run.stdout + run.stderr
    # As a job's output shows it, at the highest verbosity.
    run = ansible.playbook(play(task), env=env, extra_args=['-vvv'], callback='ansible.builtin.default')
    assert re.search(r'fatal: \[localhost\]: FAILED! => .*"error": "AuthenticationError"', run.stdout, re.S), run.stdout[-2000:]
    assert wrong not in run.stdout + run.stderr
    assert registry.password not in run.stdout + run.stderr


def test_ca_left_empty_trusts_what_the_environment_trusts(ansible, registry, images, repo, job_env, tmp_path):
    """Without a CA in the credential, the modules use the CAs the execution environment trusts (here the fixture's
    CA, through requests' REQUESTS_CA_BUNDLE); injecting the path of AWX's empty file instead would break TLS."""
    digest = images.push(repo, 'build')
    env = job_env((TARGET, target_inputs(registry, ca_certificate='')))
    task = {'name': 'Tag', 'regops.registry.tag_set': {'repository': repo, 'source': 'build', 'tags': ['trusted']},
            'ignore_errors': True}
    run = ansible.playbook(play(task), env=dict(env, REQUESTS_CA_BUNDLE=registry.ca_path))
    assert run.result['changed'] is True and not run.result.get('failed'), run.result
    assert raw_tag_digest(registry, repo, 'trusted') == digest
    naive = load(TARGET)
    naive['injectors']['env']['REGOPS_REGISTRY_CA_PATH'] = '{{ tower.filename.ca }}'
    naive_env = inject(naive, target_inputs(registry, ca_certificate=''), str(tmp_path / 'naive'))[0]
    assert os.path.getsize(naive_env['REGOPS_REGISTRY_CA_PATH']) == 0
    broken = ansible.playbook(play(task), env=dict(naive_env, REQUESTS_CA_BUNDLE=registry.ca_path))
    assert broken.result['failed'] is True and 'TLS connection failed' in broken.result['msg'], broken.result


@pytest.fixture(scope='module')
def token_images(token_registry, workdir):
    path = os.path.join(workdir, 'awx-token-images')
    os.makedirs(path, exist_ok=True)
    return Images(token_registry, path)


def test_copy_from_another_registry_with_both_credentials(ansible, registry, token_registry, token_images, repo, job_env):
    """manifest_push into the fixture registry (basic auth, its CA) of an image on the token registry (bearer tokens,
    another CA): both credentials only in the environment."""
    source_digest = token_images.push(repo, '1.0.0-amd64')
    task = {'name': 'Promote', 'regops.registry.manifest_push': {
        'repository': repo, 'tags': ['1.0.0'],
        'manifests': [{'ref': '%s/%s:1.0.0-amd64' % (token_registry.host, repo), 'tags': ['1.0.0-amd64']}]},
        'ignore_errors': True}
    env = job_env((TARGET, target_inputs(registry)), (SOURCE, source_inputs(token_registry)))
    assert env['REGOPS_REGISTRY_CA_PATH'] != env['REGOPS_SOURCE_REGISTRY_CA_PATH']
    run = ansible.playbook(play(task), env=env)
    result = run.result
    assert result['changed'] is True and not result.get('failed'), result
    assert raw_tag_digest(registry, repo, '1.0.0-amd64') == source_digest
    assert raw_tag_digest(registry, repo, '1.0.0') == result['digest']
    short(result['msg'], registry.host, repo)
    for secret in (registry.password, token_registry.password):
        assert secret not in run.stdout + run.stderr
    # The source credential's password is the one the token service checks.
    wrong = 'wrong-%s' % secrets.token_urlsafe(12)
    refused = ansible.playbook(play(dict(task, **{'regops.registry.manifest_push': dict(
        task['regops.registry.manifest_push'], tags=['1.0.1'])})),
        env=job_env((TARGET, target_inputs(registry)), (SOURCE, source_inputs(token_registry, password=wrong))))
    assert refused.result['failed'] is True and refused.result['error'] == 'AuthenticationError', refused.result
    short(refused.result['msg'], token_registry.host)
    assert wrong not in refused.stdout + refused.stderr
    assert raw_tag_digest(registry, repo, '1.0.1') is None


def test_release_role_with_the_credentials_only(ansible, registry, token_registry, token_images, workdir, job_env):
    """The release role with no connection variable: registry from the credential's REGOPS_REGISTRY, one service
    from OCI layouts and one promoted from the token registry, whose credential skips TLS verification (which the
    role leaves to the modules' environment fallbacks when release_source_validate_certs is unset)."""
    organization = 'awx%s' % secrets.token_hex(3)
    sources = {}
    for arch in ('amd64', 'arm64'):
        path = os.path.join(workdir, 'awx-layouts', organization, arch)
        make_layout(path, tag='build', arch=arch, layers=1, layer_size=1024)
        sources[arch] = {'oci_layout': path, 'ref': 'build'}
        token_images.push(organization + '/staging', '1.0.0-' + arch, arch=arch, layers=1)
    variables = {
        'release_registry': "{{ lookup('ansible.builtin.env', 'REGOPS_REGISTRY') }}",
        'release_organization': organization, 'release_version': 'v1.0.0',
        'release_services': [
            {'name': 'built', 'sources': sources},
            {'name': 'promoted', 'sources': dict(
                (arch, {'image': '%s/%s/staging:1.0.0-%s' % (token_registry.host, organization, arch)})
                for arch in ('amd64', 'arm64'))}]}
    task = {'name': 'Release', 'ansible.builtin.include_role': {'name': 'regops.registry.release'}, 'vars': variables}
    env = job_env((TARGET, target_inputs(registry)),
                  (SOURCE, source_inputs(token_registry, ca_certificate='', skip_tls_verify=True)))
    assert env['REGOPS_SOURCE_REGISTRY_CA_PATH'] == '' and env['REGOPS_SOURCE_REGISTRY_VALIDATE_CERTS'] == 'false'
    run = ansible.playbook(play(task), env=env, callback='ansible.builtin.default')
    assert run.rc == 0, run.stdout[-3000:]
    versions = ('v1.0.0', 'v1.0', 'v1', 'latest')
    full = sorted(list(versions) + ['%s-%s' % (t, a) for t in versions for a in ('amd64', 'arm64')])
    for name in ('built', 'promoted'):
        assert skopeo_tags(registry, '%s/%s' % (organization, name)) == full, name
    for secret in (registry.password, token_registry.password):
        assert secret not in run.stdout + run.stderr
    rerun = ansible.playbook(play(task), env=env, callback='ansible.builtin.default')
    assert rerun.rc == 0 and re.search(r'changed=0\b', rerun.stdout), rerun.stdout[-2000:]


# ------------------------------------------------------------------ loading the types with awx.awx.credential_type

class FakeAWX(object):
    """The credential type endpoints of the AWX API (v2), refusing what AWX would refuse (awx_problems)."""

    def __init__(self, token):
        self.token = token
        self.types = []
        self.posted = []
        self.server = LoopbackServer(self.handle)

    def reply(self, request, status, body):
        data = json.dumps(body).encode()
        request.send_response(status)
        request.send_header('Content-Type', 'application/json')
        request.send_header('Content-Length', str(len(data)))
        request.send_header('X-API-Product-Name', 'AWX')
        request.send_header('X-API-Product-Version', '24.6.1')
        request.end_headers()
        request.wfile.write(data)

    def handle(self, request):
        if request.headers.get('Authorization') != 'Bearer ' + self.token:
            return self.reply(request, 401, {'detail': 'Authentication credentials were not provided.'})
        path, _sep, query = request.path.partition('?')
        body = json.loads(request.rfile.read(int(request.headers.get('Content-Length') or 0)) or b'{}')
        if request.command == 'GET' and path == '/api/v2/credential_types/':
            name = parse_qs(query).get('name', [None])[0]
            found = [t for t in self.types if t['name'] == name]
            return self.reply(request, 200, {'count': len(found), 'results': found})
        if request.command == 'POST' and path == '/api/v2/credential_types/':
            self.posted.append(body)
            problems = awx_problems(dict((k, body.get(k)) for k in ('name', 'kind', 'description', 'inputs', 'injectors')))
            if problems or body.get('managed') is not False:
                return self.reply(request, 400, {'__all__': problems or ['managed']})
            item = dict(body, id=len(self.types) + 1, type='credential_type',
                        url='/api/v2/credential_types/%d/' % (len(self.types) + 1))
            self.types.append(item)
            return self.reply(request, 201, item)
        if request.command == 'PATCH' and path.startswith('/api/v2/credential_types/'):
            self.posted.append(body)
            return self.reply(request, 400, {'__all__': ['unexpected update %s' % body]})
        return self.reply(request, 404, {'detail': 'Not found.'})


def doc_blocks():
    with open(DOC) as f:
        return re.findall(r'^```yaml\n(.*?)^```$', f.read(), re.M | re.S)


def test_every_yaml_example_of_the_page_parses():
    blocks = doc_blocks()
    assert len(blocks) >= 5
    for block in blocks:
        assert yaml.safe_load(block), block


def test_documented_play_loads_both_types_into_awx(ansible, tmp_path):
    """The play of docs/awx.md, with the awx.awx collection, against a stand-in of the AWX API: each type arrives as
    the file has it (its injectors' templates untouched) and passes AWX's checks; a rerun changes nothing."""
    block = [b for b in doc_blocks() if 'awx.awx.credential_type:' in b]
    assert len(block) == 1
    playbook = tmp_path / 'load-credential-types.yml'
    playbook.write_text(block[0])
    awx = FakeAWX(secrets.token_hex(16))
    awx.server.start()
    try:
        env = {'CONTROLLER_HOST': 'http://%s' % awx.server.host, 'CONTROLLER_OAUTH_TOKEN': awx.token}
        args = ['-e', 'regops_credential_types=%s' % TYPES_DIR]
        first = ansible.playbook(str(playbook), env=env, extra_args=args)
        rerun = ansible.playbook(str(playbook), env=env, extra_args=args)
    finally:
        awx.server.stop()
    results = first.task_results()[-1]['results']
    assert [r['changed'] for r in results] == [True, True], results
    assert len(awx.posted) == 2
    for posted, name in zip(awx.posted, (TARGET, SOURCE)):
        expected = load(name)
        assert dict((k, posted[k]) for k in expected) == expected
    assert [r['changed'] for r in rerun.task_results()[-1]['results']] == [False, False], rerun.stdout[-2000:]
    assert len(awx.posted) == 2
