from ansible_collections.regops.registry.plugins.module_utils._module import CONNECTION_OPTIONS, scrub, scrub_result


def test_scrub_replaces_every_secret_longest_first():
    text = 'Authorization: Basic Y2k6cHc= bearer tok-123 and pw tok'
    assert scrub(text, ['tok', 'tok-123', 'Y2k6cHc=', None, '']) == 'Authorization: Basic ******** bearer ******** and pw ********'


def test_scrub_result_reaches_every_string_of_a_result():
    """A registry's error text quoted in a result fact, a warning or a diff is scrubbed too, not only ``msg``."""
    result = {'changed': True, 'count': 3, 'ok': None,
              'repositories': [{'repository': 'a', 'error': 'HTTP 500: UNKNOWN: Authorization: Basic Y2k6cHc='}],
              'warnings': ['could not ask (denied: Bearer tok-123)'], 'diff': {'before': 'x\n', 'after': 'tok-123\n'},
              'tok-123': ('pw', 'tok-1234')}
    assert scrub_result(result, ['tok-123', 'Y2k6cHc=']) == {
        'changed': True, 'count': 3, 'ok': None,
        'repositories': [{'repository': 'a', 'error': 'HTTP 500: UNKNOWN: Authorization: Basic ********'}],
        'warnings': ['could not ask (denied: Bearer ********)'], 'diff': {'before': 'x\n', 'after': '********\n'},
        '********': ['pw', '********4']}


def test_every_connection_option_has_a_type_and_an_environment_fallback():
    for name, spec in CONNECTION_OPTIONS.items():
        assert spec['type'], name
        assert spec['fallback'][1][0].startswith('REGOPS_'), name
    assert CONNECTION_OPTIONS['password']['no_log'] is True
