from ansible_collections.regops.registry.plugins.module_utils._module import CONNECTION_OPTIONS, scrub


def test_scrub_replaces_every_secret_longest_first():
    text = 'Authorization: Basic Y2k6cHc= bearer tok-123 and pw tok'
    assert scrub(text, ['tok', 'tok-123', 'Y2k6cHc=', None, '']) == 'Authorization: Basic ******** bearer ******** and pw ********'


def test_every_connection_option_has_a_type_and_an_environment_fallback():
    for name, spec in CONNECTION_OPTIONS.items():
        assert spec['type'], name
        assert spec['fallback'][1][0].startswith('REGOPS_'), name
    assert CONNECTION_OPTIONS['password']['no_log'] is True
