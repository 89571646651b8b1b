import ssl

from ansible_collections.regops.registry.plugins.module_utils._errors import InvalidInputError
from ansible_collections.regops.registry.plugins.module_utils._module import (
    CONNECTION_OPTIONS,
    SOURCE_OPTIONS,
    registry_client,
    scrub,
    scrub_result,
)
from ansible_collections.regops.registry.plugins.module_utils._reference import parse_registry


def test_scrub_replaces_every_secret_longest_first():
    text = 'Authorization: Basic Y2k6cHc= bearer tok-123 and pw tok'
    assert scrub(text, ['tok', 'tok-123', 'Y2k6cHc=', None, '']) == 'Authorization: Basic ******** bearer ******** and pw ********'


def test_scrub_result_reaches_every_string_of_a_result():
    """A registry's error text quoted in a result fact, a warning or a diff is scrubbed too, not only ``msg``."""
    result = {'changed': True, 'count': 3, 'ok': None,
              'repositories': [{'repository': 'a', 'error': 'HTTP 500: UNKNOWN: Authorization: Basic Y2k6cHc9PQ=='}],
              'warnings': ['could not ask (denied: Bearer tok-12345)'], 'diff': {'before': 'x\n', 'after': 'tok-12345\n'},
              'tags': ('pw', 'tok-123456')}
    assert scrub_result(result, ['tok-12345', 'Y2k6cHc9PQ==']) == {
        'changed': True, 'count': 3, 'ok': None,
        'repositories': [{'repository': 'a', 'error': 'HTTP 500: UNKNOWN: Authorization: Basic ********'}],
        'warnings': ['could not ask (denied: Bearer ********)'], 'diff': {'before': 'x\n', 'after': '********\n'},
        'tags': ['pw', '********6']}


def test_scrub_result_leaves_keys_and_short_secrets_alone():
    """A short password would mangle digests and tag names it happens to appear in; keys are the module's own names."""
    result = {'v1.2.3': 'sha256:1234abcd', 'digest': 'sha256:1234abcd'}
    assert scrub_result(result, ['1234', 'v1.2.3']) == result


def test_every_connection_option_has_a_type_and_an_environment_fallback():
    for name, spec in CONNECTION_OPTIONS.items():
        assert spec['type'], name
        assert spec['fallback'][1][0].startswith('REGOPS_'), name
    assert CONNECTION_OPTIONS['password']['no_log'] is True


def test_hints_name_the_options_the_client_was_built_from():
    """A copy's source registry is reached with the source_* options: its hints name those, not the target's."""
    params = dict((name, spec.get('default')) for name, spec in list(CONNECTION_OPTIONS.items()) + list(SOURCE_OPTIONS.items()))
    params.update(registry='target.example:5000', username='ci', password='pw-target-123', source_username='promoter',
                  source_password='pw-source-123')
    client = registry_client(params)
    peer = client.peer(parse_registry('staging.example:5000'))
    assert (client.option_prefix, peer.option_prefix) == ('', 'source_')
    assert peer.credentials.source == 'the source_username and source_password options or their environment variables'
    assert 'source_ca_path' in peer._tls_error(ssl.SSLError('CERTIFICATE_VERIFY_FAILED'), 'a/b', 'v1').hint
    assert 'source_ca_path' not in client._tls_error(ssl.SSLError('CERTIFICATE_VERIFY_FAILED'), 'a/b', 'v1').hint
    assert 'Check source_username and source_password' in peer._auth_failure('a/b', 'v1').hint
    params.update(source_ca_path='/nonexistent/ca.pem')
    try:
        registry_client(params).peer(parse_registry('staging.example:5000'))
    except InvalidInputError as exc:
        assert str(exc).startswith('staging.example:5000: source_ca_path /nonexistent/ca.pem is not a file')
    else:
        raise AssertionError('a missing source_ca_path file was accepted')
