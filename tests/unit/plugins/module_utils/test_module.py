from ansible_collections.regops.registry.plugins.module_utils._module import CONNECTION_OPTIONS, scrub, scrub_result


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
