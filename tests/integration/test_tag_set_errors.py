"""Bad input to tag_set: a clear error naming what was wrong, no secret in it, and nothing written."""

import base64
import json

import pytest

from tests.integration.test_tag_set import FQCN, Log
from tests.support.images import skopeo_tags
from tests.support.registry import TestRegistry


def failing(ansible, args, registry=None):
    out = ansible.module(FQCN, args)
    result = out.result
    assert result.get('failed') is True, result
    return result


@pytest.mark.parametrize('field,value,expect', [
    ('repository', 'Team/Service', 'invalid repository name'),
    ('repository', 'team//service', 'invalid repository name'),
    ('repository', 'a' * 256, 'the limit is 255'),
    ('source', 'bad tag!', 'invalid tag'),
    ('source', 'sha256:1234', 'invalid sha256 digest'),
    ('tags', ['ok', '-bad'], "invalid tag '-bad'"),
    ('tags', ['x' * 129], 'invalid tag'),
    ('version', 'v3.0', 'invalid semantic version'),
    ('version', 'v3.0.0+build.5', 'build metadata'),
    ('suffix', '-amd 64', 'invalid suffix'),
    ('immutable', ['('], 'not a valid regular expression'),
    ('timeout', 0, 'timeout must be a positive number of seconds'),
    ('registry', 'ftp://127.0.0.1:5000', 'only https:// (the default) and http:// are supported'),
])
def test_malformed_input_is_refused_before_any_request(ansible, conn, registry, repo, field, value, expect):
    args = dict(conn, repository=repo, source='src', version='v1.0.0')
    args[field] = value
    log = Log(registry)
    result = failing(ansible, args, registry)
    assert expect in result['msg']
    assert result['error'] == 'InvalidInputError'
    assert log.entries() == []


def test_unknown_repository(ansible, conn, registry, repo):
    result = failing(ansible, dict(conn, repository=repo, source='v1', tags=['x']), registry)
    assert result['error'] == 'RepositoryNotFoundError'
    assert '%s/%s:v1' % (registry.host, repo) in result['msg'] and 'repository not found' in result['msg']


def test_unknown_source(ansible, conn, registry, images, repo):
    images.push(repo, 'exists')
    log = Log(registry)
    result = failing(ansible, dict(conn, repository=repo, source='missing', tags=['x']), registry)
    assert result['error'] == 'ManifestNotFoundError'
    assert '%s/%s:missing: source not found' % (registry.host, repo) in result['msg']
    assert 'Push the image first' in result['msg']
    assert log.writes() == []
    assert skopeo_tags(registry, repo) == ['exists']


def test_wrong_password(ansible, conn, registry, repo):
    wrong = 'not-the-password-' + registry.password[-6:]
    result = failing(ansible, dict(conn, password=wrong, repository=repo, source='v1', tags=['x']), registry)
    assert result['error'] == 'AuthenticationError'
    assert "rejected the credentials of user 'regops'" in result['msg']
    assert wrong not in result['msg']


def test_missing_credentials(ansible, conn, registry, repo, tmp_path):
    args = dict(conn, repository=repo, source='v1', tags=['x'])
    del args['username'], args['password']
    out = ansible.module(FQCN, args, env={'DOCKER_CONFIG': str(tmp_path)})
    assert out.result['error'] == 'AuthenticationError'
    assert 'requires authentication' in out.result['msg'] and 'docker login' in out.result['msg']


def test_untrusted_certificate_suggests_ca_path(ansible, conn, registry, repo):
    args = dict(conn, repository=repo, source='v1', tags=['x'])
    del args['ca_path']
    result = failing(ansible, args, registry)
    assert result['error'] == 'TLSError'
    assert 'CERTIFICATE_VERIFY_FAILED' in result['msg'] and 'ca_path' in result['msg']


def test_validate_certs_false_connects(ansible, conn, registry, images, repo):
    images.push(repo, 'src')
    args = dict(conn, repository=repo, source='src', tags=['insecure'], validate_certs=False)
    del args['ca_path']
    assert ansible.module(FQCN, args).result['changed'] is True


def test_plain_http_only_when_written(ansible, workdir, repo):
    plain = TestRegistry(workdir + '/plain', tls=False, auth=False).start()
    try:
        result = failing(ansible, dict(registry=plain.host, repository=repo, source='v1', tags=['x']))
        assert result['error'] == 'TLSError' and 'http://%s' % plain.host in result['msg']
        result = failing(ansible, dict(registry='http://' + plain.host, repository=repo, source='v1', tags=['x']))
        assert result['error'] == 'RepositoryNotFoundError'
    finally:
        plain.stop()


def test_nothing_listening(ansible, repo):
    result = failing(ansible, dict(registry='127.0.0.1:9', repository=repo, source='v1', tags=['x'], timeout=2))
    assert result['error'] == 'RegistryConnectionError'
    assert '127.0.0.1:9' in result['msg'] and 'Connection refused' in result['msg']


def test_registry_with_path(ansible, conn, repo):
    result = failing(ansible, dict(conn, registry=conn['registry'] + '/team', repository=repo, source='v1', tags=['x']))
    assert 'contains a path' in result['msg']


def test_missing_ca_file(ansible, conn, repo):
    result = failing(ansible, dict(conn, ca_path='/nonexistent/ca.crt', repository=repo, source='v1', tags=['x']))
    assert 'ca_path /nonexistent/ca.crt is not a file' in result['msg']


def test_nothing_to_tag(ansible, conn, repo):
    result = failing(ansible, dict(conn, repository=repo, source='v1'))
    assert 'nothing to tag' in result['msg']


def test_secrets_never_appear_in_output_even_with_vvv(ansible, registry, images, repo, tmp_path):
    """Credentials from a Docker config file are not masked by Ansible's no_log: the module itself must not leak them."""
    images.push(repo, 'src')
    wrong = 'wrong-' + registry.password[::-1]
    secrets = []
    outputs = []
    for password in (registry.password, wrong):
        encoded = base64.b64encode(('%s:%s' % (registry.username, password)).encode()).decode()
        secrets += [password, encoded]
        config = tmp_path / ('config-%d.json' % len(outputs))
        config.write_text(json.dumps({'auths': {registry.host: {'auth': encoded}}}))
        play = [{'hosts': 'localhost', 'gather_facts': False, 'tasks': [{
            'name': 'tag', 'ignore_errors': True, 'register': 'out',
            FQCN: {'registry': registry.host, 'ca_path': registry.ca_path, 'docker_config': str(config),
                   'repository': repo, 'source': 'src', 'version': 'v1.0.%d' % len(outputs)}}, {
            'name': 'show everything the module returned', 'ansible.builtin.debug': {'var': 'out'}}]}]
        run = ansible.playbook(play, diff=True, extra_args=['-vvv'], callback='ansible.builtin.default')
        outputs.append(run.stdout + run.stderr)
    assert 'created' in outputs[0] and 'AuthenticationError' in outputs[1], outputs
    for text in outputs:
        for secret in secrets:
            assert secret not in text
