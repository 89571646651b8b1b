import base64
import json
import os
import stat

import pytest

from ansible_collections.regops.registry.plugins.module_utils._auth import (
    credentials_from_docker_config,
    parse_challenge,
    resolve_credentials,
)
from ansible_collections.regops.registry.plugins.module_utils._errors import AuthenticationError, InvalidInputError
from ansible_collections.regops.registry.plugins.module_utils._reference import parse_registry

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures')


def test_parse_bearer_challenge():
    with open(os.path.join(FIXTURES, 'challenges.json')) as f:
        cases = json.load(f)
    for case in cases:
        assert parse_challenge(case['header']) == (case['scheme'], case['params']), case['header']


def test_parse_empty_challenge():
    assert parse_challenge(None) == (None, {})


def write_config(tmp_path, data):
    path = tmp_path / 'config.json'
    path.write_text(json.dumps(data))
    return str(path)


def auth(user, password):
    return base64.b64encode(('%s:%s' % (user, password)).encode()).decode()


@pytest.mark.parametrize('key', ['r.example:5000', 'https://r.example:5000', 'http://r.example:5000', 'https://r.example:5000/v1/'])
def test_config_auths_keys(tmp_path, key):
    path = write_config(tmp_path, {'auths': {'other:1': {'auth': auth('x', 'y')}, key: {'auth': auth('ci', 'p:w')}}})
    creds = credentials_from_docker_config(parse_registry('r.example:5000'), path)
    assert (creds.username, creds.password, creds.source) == ('ci', 'p:w', path)


def test_config_directory_and_docker_hub(tmp_path):
    write_config(tmp_path, {'auths': {'https://index.docker.io/v1/': {'auth': auth('hub', 'tok')}}})
    creds = credentials_from_docker_config(parse_registry('docker.io'), str(tmp_path))
    assert creds.username == 'hub'


def test_config_without_entry_is_anonymous(tmp_path):
    path = write_config(tmp_path, {'auths': {'other:1': {'auth': auth('x', 'y')}}})
    assert credentials_from_docker_config(parse_registry('r.example:5000'), path) is None


def test_default_config_missing_is_anonymous(tmp_path, monkeypatch):
    monkeypatch.setenv('DOCKER_CONFIG', str(tmp_path / 'none'))
    assert resolve_credentials(parse_registry('r.example')) is None


def test_default_config_from_docker_config_env(tmp_path, monkeypatch):
    write_config(tmp_path, {'auths': {'r.example': {'auth': auth('env', 'pw')}}})
    monkeypatch.setenv('DOCKER_CONFIG', str(tmp_path))
    assert resolve_credentials(parse_registry('r.example')).username == 'env'


def test_named_config_missing_is_an_error(tmp_path):
    with pytest.raises(InvalidInputError, match='does not exist'):
        resolve_credentials(parse_registry('r.example'), docker_config=str(tmp_path / 'nope.json'))


def test_config_unreadable(tmp_path):
    path = tmp_path / 'config.json'
    path.write_text('{not json')
    with pytest.raises(InvalidInputError, match='cannot be read as JSON'):
        credentials_from_docker_config(parse_registry('r.example'), str(path))


def test_bad_auth_entry_does_not_leak(tmp_path):
    path = write_config(tmp_path, {'auths': {'r.example': {'auth': 'bm9jb2xvbg=='}}})  # "nocolon"
    with pytest.raises(InvalidInputError) as err:
        credentials_from_docker_config(parse_registry('r.example'), path)
    assert 'nocolon' not in str(err.value) and 'bm9jb2xvbg' not in str(err.value)


def test_identity_token_is_refused_clearly(tmp_path):
    path = write_config(tmp_path, {'auths': {'r.example': {'identitytoken': 'secret-refresh'}}})
    with pytest.raises(AuthenticationError, match='identity token') as err:
        credentials_from_docker_config(parse_registry('r.example'), path)
    assert 'secret-refresh' not in str(err.value)


def test_options_win_and_must_come_together(tmp_path):
    path = write_config(tmp_path, {'auths': {'r.example': {'auth': auth('cfg', 'pw')}}})
    address = parse_registry('r.example')
    assert resolve_credentials(address, 'opt', 'pw2', path).username == 'opt'
    with pytest.raises(InvalidInputError, match='together'):
        resolve_credentials(address, 'opt', None, path)


def make_helper(tmp_path, name, body):
    bindir = tmp_path / 'bin'
    bindir.mkdir(exist_ok=True)
    helper = bindir / ('docker-credential-' + name)
    helper.write_text('#!/bin/sh\n' + body)
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    return str(bindir)


def test_credential_helper(tmp_path, monkeypatch):
    bindir = make_helper(tmp_path, 'test', 'read server\n[ "$1" = get ] || exit 9\n'
                         'printf \'{"ServerURL":"%s","Username":"helper","Secret":"s3cret"}\' "$server"\n')
    monkeypatch.setenv('PATH', bindir + os.pathsep + os.environ['PATH'])
    path = write_config(tmp_path, {'credHelpers': {'r.example:5000': 'test'}})
    creds = credentials_from_docker_config(parse_registry('r.example:5000'), path)
    assert (creds.username, creds.password) == ('helper', 's3cret')
    assert 'credential helper test' in creds.source


def test_credential_store_not_found_is_anonymous(tmp_path, monkeypatch):
    bindir = make_helper(tmp_path, 'store', 'echo "credentials not found in native keychain"; exit 1\n')
    monkeypatch.setenv('PATH', bindir + os.pathsep + os.environ['PATH'])
    path = write_config(tmp_path, {'credsStore': 'store'})
    assert credentials_from_docker_config(parse_registry('r.example'), path) is None


def test_credential_helper_missing(tmp_path):
    path = write_config(tmp_path, {'credHelpers': {'r.example': 'does-not-exist-here'}})
    with pytest.raises(AuthenticationError, match='could not be run'):
        credentials_from_docker_config(parse_registry('r.example'), path)
