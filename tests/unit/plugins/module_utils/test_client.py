"""Pure logic of the client (retries, auth flow, pagination, digest checks), faked at the requests transport.

Everything the user sees is also tested against a real registry in tests/integration.
"""

import base64
import hashlib
import io
import json

import pytest
import requests
import urllib3
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from ansible_collections.regops.registry.plugins.module_utils._auth import Credentials
from ansible_collections.regops.registry.plugins.module_utils._client import (
    MANIFEST_ACCEPT,
    OCI_MANIFEST,
    Manifest,
    RegistryClient,
    parse_retry_after,
)
from ansible_collections.regops.registry.plugins.module_utils._errors import (
    AuthenticationError,
    AuthorizationError,
    ManifestNotFoundError,
    NotFoundError,
    RegistryConnectionError,
    RegistryProtocolError,
    RepositoryNotFoundError,
    TLSError,
    UnsupportedError,
)
from ansible_collections.regops.registry.plugins.module_utils._reference import parse_registry

SECRET = 'hunter2-very-secret'
TOKEN = 'tok-abcdef-secret'


def response(status=200, body=b'', headers=None, url=''):
    r = requests.Response()
    r.status_code = status
    r._content = body if isinstance(body, bytes) else json.dumps(body).encode()
    r._content_consumed = True  # iter_content serves _content
    r.headers = CaseInsensitiveDict(headers or {})
    r.url = url
    return r


class ScriptedAdapter(BaseAdapter):
    """Answers each request with the next scripted response (or exception); records requests."""

    def __init__(self, script):
        super(ScriptedAdapter, self).__init__()
        self.script = list(script)
        self.requests = []

    def send(self, request, **kwargs):
        self.requests.append(request)
        item = self.script.pop(0)
        if callable(item):
            item = item(request)
        if isinstance(item, Exception):
            raise item
        item.request = request
        item.url = request.url
        return item

    def close(self):
        pass


def make_client(script, credentials=None, retries=4):
    session = requests.Session()
    adapter = ScriptedAdapter(script)
    session.mount('https://', adapter)
    sleeps = []
    client = RegistryClient(parse_registry('r.example:5000'), credentials=credentials, session=session,
                            retries=retries, sleep=sleeps.append)
    return client, adapter, sleeps


def manifest_body():
    return json.dumps({'schemaVersion': 2, 'mediaType': OCI_MANIFEST, 'config': {}, 'layers': []}).encode()


def digest(data):
    return 'sha256:' + hashlib.sha256(data).hexdigest()


def test_get_manifest_sends_every_media_type_and_keeps_bytes():
    body = manifest_body()
    client, adapter, _sleeps = make_client([response(200, body, {'Content-Type': OCI_MANIFEST, 'Docker-Content-Digest': digest(body)})])
    manifest = client.get_manifest('a/b', 'v1')
    assert manifest.content == body and manifest.digest == digest(body) and manifest.media_type == OCI_MANIFEST
    accept = adapter.requests[0].headers['Accept']
    assert accept == MANIFEST_ACCEPT
    for media_type in ('manifest.v2+json', 'manifest.list.v2+json', 'image.manifest.v1+json', 'image.index.v1+json'):
        assert media_type in accept


def test_digest_header_mismatch_is_refused():
    body = manifest_body()
    client, _adapter, _sleeps = make_client([response(200, body, {'Content-Type': OCI_MANIFEST, 'Docker-Content-Digest': 'sha256:' + '0' * 64})])
    with pytest.raises(RegistryProtocolError, match='does not match the Docker-Content-Digest header'):
        client.get_manifest('a/b', 'v1')


def test_requested_digest_mismatch_is_refused():
    body = manifest_body()
    client, _adapter, _sleeps = make_client([response(200, body, {'Content-Type': OCI_MANIFEST})])
    with pytest.raises(RegistryProtocolError, match='requested digest'):
        client.get_manifest('a/b', 'sha256:' + '1' * 64)


def test_schema1_is_refused():
    body = json.dumps({'schemaVersion': 1, 'name': 'a/b'}).encode()
    client, _adapter, _sleeps = make_client([response(200, body, {'Content-Type': 'application/vnd.docker.distribution.manifest.v1+prettyjws'})])
    with pytest.raises(UnsupportedError, match='schema 1'):
        client.get_manifest('a/b', 'v1')


def test_media_type_from_document_when_content_type_is_generic():
    body = manifest_body()
    client, _adapter, _sleeps = make_client([response(200, body, {'Content-Type': 'application/json'})])
    assert client.get_manifest('a/b', 'v1').media_type == OCI_MANIFEST


def end_of_list():
    """The answer to the closing ``last=`` request: nothing new."""
    return response(200, {'tags': []})


def test_retries_5xx_with_bounded_exponential_backoff():
    script = [response(503), response(502), response(500), response(200, {'tags': ['a']}), end_of_list()]
    client, adapter, sleeps = make_client(script)
    assert client.list_tags('a/b') == ['a']
    assert len(adapter.requests) == 5
    assert adapter.requests[-1].url.endswith('last=a')
    assert len(sleeps) == 3
    for attempt, delay in enumerate(sleeps):
        assert 0.5 * 2 ** attempt * 0.75 <= delay <= 0.5 * 2 ** attempt * 1.25


def test_retry_after_is_honoured_and_capped():
    script = [response(429, headers={'Retry-After': '7'}), response(429, headers={'Retry-After': '3600'}),
              response(200, {'tags': []})]
    client, _adapter, sleeps = make_client(script)
    client.list_tags('a/b')
    assert sleeps == [7.0, 30.0]


def test_parse_retry_after_date():
    assert parse_retry_after('Wed, 21 Oct 2015 07:28:10 GMT', now=1445412480) == 10.0
    assert parse_retry_after('soon') is None


def test_gives_up_after_retries():
    client, adapter, sleeps = make_client([response(503)] * 3, retries=2)
    with pytest.raises(RegistryConnectionError, match='HTTP 503 after 3 attempts'):
        client.list_tags('a/b')
    assert len(adapter.requests) == 3 and len(sleeps) == 2


def test_network_errors_are_retried_then_reported_without_secrets():
    # The exception text carries the credentials, as some transport errors quote request headers.
    header = 'Basic ' + base64.b64encode(('ci:' + SECRET).encode()).decode()
    error = requests.exceptions.ConnectionError('[Errno 111] Connection refused (Authorization: %s %s)' % (header, SECRET))
    client, adapter, _sleeps = make_client([error] * 5, credentials=Credentials('ci', SECRET, 'test'))
    with pytest.raises(RegistryConnectionError) as err:
        client.list_tags('a/b')
    assert 'Connection refused' in str(err.value) and '5 attempts' in str(err.value)
    assert SECRET not in str(err.value) and header[6:] not in str(err.value)


def test_other_request_errors_do_not_quote_their_text():
    error = requests.exceptions.InvalidHeader('Invalid return character or leading space in header: Authorization %s' % TOKEN)
    client, _adapter, _sleeps = make_client([error])
    with pytest.raises(RegistryConnectionError) as err:
        client.list_tags('a/b')
    assert TOKEN not in str(err.value) and 'InvalidHeader' in str(err.value)


def test_secrets_lists_what_scrubbing_needs():
    script = [bearer_challenge('repository:a/b:pull'), response(200, {'token': TOKEN}), response(200, {'tags': []})]
    client, _adapter, _sleeps = make_client(script, credentials=Credentials('ci', SECRET, 'test'))
    client.list_tags('a/b')
    assert TOKEN in client.secrets() and SECRET in client.secrets()


def test_tls_error_suggests_ca_path():
    error = requests.exceptions.SSLError('[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed (_ssl.c:1006)')
    client, adapter, _sleeps = make_client([error])
    with pytest.raises(TLSError, match='ca_path') as err:
        client.list_tags('a/b')
    assert len(adapter.requests) == 1
    assert 'CERTIFICATE_VERIFY_FAILED' in str(err.value)


def bearer_challenge(scope):
    return response(401, {'errors': [{'code': 'UNAUTHORIZED'}]}, {
        'WWW-Authenticate': 'Bearer realm="https://r.example:5000/token",service="reg",scope="%s"' % scope})


def test_bearer_flow_scopes_and_reuse():
    def token_request(request):
        assert request.url.startswith('https://r.example:5000/token?service=reg&scope=repository%3Aa%2Fb%3Apull')
        assert request.headers['Authorization'] == 'Basic ' + base64.b64encode(('ci:' + SECRET).encode()).decode()
        return response(200, {'token': TOKEN, 'expires_in': 300})

    def authorized(request):
        assert request.headers['Authorization'] == 'Bearer ' + TOKEN
        return response(200, {'tags': ['v1']})

    client, adapter, _sleeps = make_client([bearer_challenge('repository:a/b:pull'), token_request] + [authorized] * 4,
                                           credentials=Credentials('ci', SECRET, 'test'))
    assert client.list_tags('a/b') == ['v1']
    assert client.list_tags('a/b') == ['v1']  # token reused: no new token request
    assert len(adapter.requests) == 6


def test_bearer_push_scope_requests_pull_and_push():
    body = manifest_body()
    seen = []

    def token_request(request):
        seen.append(request.url)
        return response(200, {'access_token': TOKEN})

    script = [bearer_challenge('repository:a/b:pull,push'), token_request,
              response(201, headers={'Docker-Content-Digest': digest(body)})]
    client, _adapter, _sleeps = make_client(script, credentials=Credentials('ci', SECRET, 'test'))
    from ansible_collections.regops.registry.plugins.module_utils._client import Manifest
    client.put_manifest('a/b', 'v1', Manifest(body, OCI_MANIFEST))
    assert 'scope=repository%3Aa%2Fb%3Apull%2Cpush' in seen[0]


def test_expired_token_is_refreshed():
    script = [bearer_challenge('repository:a/b:pull'), response(200, {'token': 'first', 'expires_in': 1}),
              response(200, {'tags': []}), response(200, {'token': 'second', 'expires_in': 300}),
              lambda r: response(200, {'tags': [r.headers['Authorization']]}), end_of_list()]
    client, _adapter, _sleeps = make_client(script, credentials=Credentials('ci', SECRET, 'test'))
    client.list_tags('a/b')
    client._tokens[('a/b', ())] = (client._tokens[('a/b', ())][0], 'first', 0)  # expired
    assert client.list_tags('a/b') == ['Bearer second']


def test_bad_credentials_at_token_service():
    script = [bearer_challenge('repository:a/b:pull'), response(401)]
    client, _adapter, _sleeps = make_client(script, credentials=Credentials('ci', SECRET, 'module options'))
    with pytest.raises(AuthenticationError, match="rejected the credentials of user 'ci'") as err:
        client.list_tags('a/b')
    assert SECRET not in str(err.value)


def test_anonymous_without_credentials_asks_for_them():
    client, _adapter, _sleeps = make_client([response(401, headers={'WWW-Authenticate': 'Basic realm="x"'})])
    with pytest.raises(AuthenticationError, match='requires authentication'):
        client.list_tags('a/b')


def test_basic_flow_is_preemptive_after_first_challenge():
    def ok(request):
        return response(200, {'tags': [request.headers.get('Authorization', '')[:6]]})

    script = [response(401, headers={'WWW-Authenticate': 'Basic realm="x"'}), ok, ok, ok, ok]
    client, adapter, _sleeps = make_client(script, credentials=Credentials('ci', SECRET, 'test'))
    assert client.list_tags('a/b') == ['Basic ']
    assert client.list_tags('a/b') == ['Basic ']
    assert len(adapter.requests) == 5
    assert all(r.headers['Authorization'].startswith('Basic ') for r in adapter.requests[1:])


def test_status_errors_are_typed():
    unknown_name = response(404, {'errors': [{'code': 'NAME_UNKNOWN', 'message': 'repository name not known'}]})
    unknown_manifest = response(404, {'errors': [{'code': 'MANIFEST_UNKNOWN', 'message': 'manifest unknown'}]})
    not_registry = response(404, b'<html>nope</html>', {'Content-Type': 'text/html'})
    client, _adapter, _sleeps = make_client([unknown_name, unknown_manifest, not_registry])
    with pytest.raises(RepositoryNotFoundError):
        client.get_manifest('a/b', 'v1')
    with pytest.raises(ManifestNotFoundError) as err:
        client.get_manifest('a/b', 'v1')
    assert str(err.value).startswith('r.example:5000/a/b:v1: ')
    with pytest.raises(NotFoundError, match='Is r.example:5000 a container registry'):
        client.get_manifest('a/b', 'v1')


def test_head_missing_tag_is_none_with_or_without_the_api_version_header():
    client, _adapter, _sleeps = make_client([response(404, headers={'Docker-Distribution-Api-Version': 'registry/2.0'}),
                                             response(404)])
    assert client.head_manifest('a/b', 'nope') is None
    assert client.head_manifest('a/b', 'nope') is None


def test_token_refused_by_the_registry_as_invalid_is_fetched_again():
    """A token the registry calls invalid (expired on its clock) is replaced once, mid-run."""
    invalid = response(401, headers={'WWW-Authenticate': 'Bearer realm="https://r.example:5000/token",service="reg",'
                                                         'scope="repository:a/b:pull",error="invalid_token"'})
    script = [bearer_challenge('repository:a/b:pull'), response(200, {'token': 'first', 'expires_in': 300}),
              response(200, {'tags': []}),
              invalid, response(200, {'token': 'second', 'expires_in': 300}),
              lambda r: response(200, {'tags': [r.headers['Authorization']]}), end_of_list()]
    client, _adapter, _sleeps = make_client(script, credentials=Credentials('ci', SECRET, 'test'))
    client.list_tags('a/b')
    assert client.list_tags('a/b') == ['Bearer second']


def test_validate_certs_false_wins_over_ca_path():
    client = RegistryClient(parse_registry('r.example'), validate_certs=False, ca_path='/some/ca.pem')
    assert client._verify is False
    assert RegistryClient(parse_registry('r.example'), ca_path='/some/ca.pem')._verify == '/some/ca.pem'
    assert RegistryClient(parse_registry('r.example'))._verify is True


def test_pagination_follows_link_on_same_registry():
    script = [response(200, {'tags': ['a', 'b']}, {'Link': '</v2/x/tags/list?n=2&last=b>; rel="next"'}),
              response(200, {'tags': ['c']}, {'Link': '<https://R.EXAMPLE:5000/v2/x/tags/list?n=2&last=c>; rel="next"'}),
              end_of_list()]
    client, adapter, _sleeps = make_client(script)
    assert client.list_tags('x', page_size=2) == ['a', 'b', 'c']
    assert adapter.requests[1].url == 'https://r.example:5000/v2/x/tags/list?n=2&last=b'
    assert adapter.requests[2].url.lower() == 'https://r.example:5000/v2/x/tags/list?n=2&last=c'


def test_pagination_refuses_links_to_other_hosts():
    script = [response(200, {'tags': ['a', 'b']}, {'Link': '<https://evil.example/v2/x/tags/list?last=b>; rel="next"'})]
    client, _adapter, _sleeps = make_client(script)
    with pytest.raises(RegistryProtocolError, match='another host'):
        client.list_tags('x', page_size=2)


def test_pagination_without_link_uses_last():
    script = [response(200, {'tags': ['a', 'b']}), response(200, {'tags': ['c', 'd']}), response(200, {'tags': []})]
    client, adapter, _sleeps = make_client(script)
    assert client.list_tags('x', page_size=2) == ['a', 'b', 'c', 'd']
    assert adapter.requests[1].url.endswith('last=b') and adapter.requests[2].url.endswith('last=d')


def test_registry_ignoring_paging_is_read_twice():
    """Everything at once (distribution 2.8); the closing last= request brings nothing new."""
    everything = response(200, {'tags': ['a', 'b', 'c']})
    client, adapter, _sleeps = make_client([everything, response(200, {'tags': ['a', 'b', 'c']})])
    assert client.list_tags('x', page_size=2) == ['a', 'b', 'c']
    assert len(adapter.requests) == 2


def test_registry_capping_the_page_silently_is_read_to_the_end():
    script = [response(200, {'tags': ['a', 'b']}), response(200, {'tags': ['c']}), end_of_list()]
    client, _adapter, _sleeps = make_client(script)
    assert client.list_tags('x', page_size=1000) == ['a', 'b', 'c']


def test_a_page_size_above_the_registrys_limit_is_asked_again_without_one():
    """distribution refuses n above catalog.maxentries (400 PAGINATION_NUMBER_INVALID): ask again without n, for the
    registry's own page size, and read its pages (by Link, else from the last entry)."""
    refused = response(400, {'errors': [{'code': 'PAGINATION_NUMBER_INVALID', 'message': 'invalid number of results requested'}]})
    script = [refused, response(200, {'repositories': ['a', 'b']}, {'Link': '</v2/_catalog?n=2&last=b>; rel="next"'}),
              response(200, {'repositories': ['c']}), response(200, {'repositories': []})]
    client, adapter, _sleeps = make_client(script)
    assert client.list_repositories(page_size=5000) == ['a', 'b', 'c']
    assert [r.url.split('/v2/')[1] for r in adapter.requests] == [
        '_catalog?n=5000', '_catalog', '_catalog?n=2&last=b', '_catalog?last=c']
    client, adapter, _sleeps = make_client([response(200, {'repositories': ['a']}), refused])
    with pytest.raises(RegistryProtocolError, match='HTTP 400'):  # refused later on: not a page size matter
        client.list_repositories(page_size=1)


def test_tag_list_with_non_string_tags_is_a_protocol_error():
    client, _adapter, _sleeps = make_client([response(200, {'tags': ['a', 5]})])
    with pytest.raises(RegistryProtocolError, match='not a list of strings'):
        client.list_tags('x', page_size=2)


def test_registry_repeating_the_same_page_stops():
    client, adapter, _sleeps = make_client([response(200, {'tags': ['a', 'b']}), response(200, {'tags': ['a', 'b']})])
    assert client.list_tags('x', page_size=2) == ['a', 'b']
    assert len(adapter.requests) == 2


def test_null_tag_list():
    client, _adapter, _sleeps = make_client([response(200, {'name': 'x', 'tags': None})])
    assert client.list_tags('x') == []


def test_reauthentication_is_bounded():
    """A registry that calls every token invalid gets two authentication rounds, then a clear error."""
    invalid = response(401, headers={'WWW-Authenticate': 'Bearer realm="https://r.example:5000/token",service="reg",'
                                                         'error="invalid_token"'})
    token = response(200, {'token': TOKEN})
    script = [bearer_challenge('repository:a/b:pull'), token, invalid, token, invalid]
    client, adapter, _sleeps = make_client(script, credentials=Credentials('ci', SECRET, 'test'))
    with pytest.raises(AuthorizationError) as err:
        client.list_tags('a/b')
    assert len(adapter.requests) == 5
    assert TOKEN not in str(err.value) and SECRET not in str(err.value)


def test_token_service_answers_without_a_usable_token():
    for body in ({'token': 12345}, {'expires_in': 300}, ['x']):
        client, _adapter, _sleeps = make_client([bearer_challenge('repository:a/b:pull'), response(200, body)],
                                                credentials=Credentials('ci', SECRET, 'test'))
        with pytest.raises(RegistryProtocolError, match='without a token'):
            client.list_tags('a/b')


def test_unparsable_expiry_keeps_the_token():
    script = [bearer_challenge('repository:a/b:pull'), response(200, {'token': TOKEN, 'expires_in': 'soon'}),
              response(200, {'tags': []})]
    client, _adapter, _sleeps = make_client(script, credentials=Credentials('ci', SECRET, 'test'))
    assert client.list_tags('a/b') == []


def test_no_credentials_to_a_plain_http_realm():
    challenge = response(401, headers={'WWW-Authenticate': 'Bearer realm="http://r.example/token",service="reg"'})
    client, adapter, _sleeps = make_client([challenge], credentials=Credentials('ci', SECRET, 'test'))
    with pytest.raises(AuthenticationError, match='plain-HTTP token service'):
        client.list_tags('a/b')
    assert len(adapter.requests) == 1


def test_sha512_reference_keeps_a_sha256_digest():
    body = manifest_body()
    sha512 = 'sha512:' + hashlib.sha512(body).hexdigest()
    client, _adapter, _sleeps = make_client([response(200, body, {'Content-Type': OCI_MANIFEST, 'Docker-Content-Digest': sha512})])
    assert client.get_manifest('a/b', sha512).digest == digest(body)


def test_schema1_target_tag_is_compared_by_digest():
    client, _adapter, _sleeps = make_client([response(200, headers={
        'Content-Type': 'application/vnd.docker.distribution.manifest.v1+prettyjws', 'Docker-Content-Digest': 'sha256:' + 'c' * 64})])
    assert client.head_manifest('a/b', 'old').digest == 'sha256:' + 'c' * 64


def test_non_manifest_content_is_refused():
    client, _adapter, _sleeps = make_client([response(200, b'{"kind": "helm chart"}', {'Content-Type': 'application/vnd.cncf.helm.chart'})])
    with pytest.raises(UnsupportedError, match='not an image manifest'):
        client.get_manifest('a/b', 'v1')


def test_a_web_page_where_a_registry_answer_belongs_asks_whether_this_is_a_registry():
    client, _adapter, _sleeps = make_client([response(200, b'<html>Sign in</html>', {'Content-Type': 'text/html; charset=utf-8'})])
    with pytest.raises(RegistryProtocolError, match=r'answered HEAD with a web page .* Is r\.example:5000 a container registry'):
        client.blob_size('a/b', 'sha256:' + 'a' * 64)


def test_challenge_scope_in_another_order_is_not_asked_twice():
    """distribution lists a scope's actions in any order (push,pull or pull,push)."""
    seen = []

    def token_request(request):
        seen.append(request.url)
        return response(200, {'token': TOKEN})

    body = manifest_body()
    script = [bearer_challenge('repository:a/b:push,pull'), token_request,
              response(201, headers={'Docker-Content-Digest': digest(body)})]
    client, _adapter, _sleeps = make_client(script, credentials=Credentials('ci', SECRET, 'test'))
    from ansible_collections.regops.registry.plugins.module_utils._client import Manifest
    client.put_manifest('a/b', 'v1', Manifest(body, OCI_MANIFEST))
    assert seen[0].count('scope=') == 1


def test_a_challenge_answered_by_another_thread_is_retried_not_failed():
    """Parallel requests of a fresh client all meet the first challenge; only one of them learns the scheme."""
    challenge = response(401, headers={'WWW-Authenticate': 'Basic realm="x"'})
    client, _adapter, _sleeps = make_client([], credentials=Credentials('ci', SECRET, 'test'))
    client._auth_scheme = 'basic'  # learnt meanwhile by another thread
    assert client._learn_challenge(challenge, 'a/b', ('pull',), sent=None) is True  # went out before: retry
    assert client._learn_challenge(challenge, 'a/b', ('pull',), sent='Basic eHl6') is False  # these were refused


def test_refused_chunk_falls_back_to_one_put():
    import io
    data = b'x' * 300
    blob_digest = digest(data)
    session = {'Location': '/v2/a/b/blobs/uploads/u1'}
    script = [response(202, headers=session),
              response(202, headers={'Location': '/v2/a/b/blobs/uploads/u1?state=1'}),
              response(416, {'errors': [{'code': 'BLOB_UPLOAD_INVALID', 'message': 'bad range'}]}),
              response(204),
              response(202, headers={'Location': '/v2/a/b/blobs/uploads/u2'}),
              response(201, headers={'Docker-Content-Digest': blob_digest})]
    client, adapter, _sleeps = make_client(script)
    client.upload_blob('a/b', blob_digest, len(data), lambda: io.BytesIO(data), chunk_size=100, monolithic_limit=100)
    assert [r.method for r in adapter.requests] == ['POST', 'PATCH', 'PATCH', 'DELETE', 'POST', 'PUT']
    assert adapter.requests[3].url.endswith('/uploads/u1?state=1')  # the refused session is cancelled
    final = adapter.requests[-1]
    assert '/uploads/u2?digest=sha256' in final.url and final.headers['Content-Length'] == '300'


def test_chunk_too_large_is_not_retried_as_a_bigger_put():
    import io
    data = b'y' * 300
    script = [response(202, headers={'Location': '/v2/a/b/blobs/uploads/u1'}),
              response(413, {'errors': [{'code': 'SIZE_INVALID', 'message': 'too large'}]}), response(204)]
    client, adapter, _sleeps = make_client(script)
    with pytest.raises(RegistryProtocolError, match='413'):
        client.upload_blob('a/b', digest(data), len(data), lambda: io.BytesIO(data), chunk_size=100, monolithic_limit=100)
    assert [r.method for r in adapter.requests] == ['POST', 'PATCH', 'DELETE']


def test_download_with_wrong_content_is_refused(tmp_path):
    client, _adapter, _sleeps = make_client([response(200, b'not what was asked')])
    with pytest.raises(RegistryProtocolError, match='does not match its digest'):
        client.download_blob('a/b', 'sha256:' + 'a' * 64, str(tmp_path / 'blob'))


def test_tag_delete_is_impossible_only_for_the_codes_that_say_so():
    digest_invalid = response(400, {'errors': [{'code': 'DIGEST_INVALID', 'message': 'provided digest did not match'}]})
    name_invalid = response(400, {'errors': [{'code': 'NAME_INVALID', 'message': 'invalid repository name'}]})
    client, _adapter, _sleeps = make_client([digest_invalid, name_invalid])
    assert client.delete_tag('a/b', 'v1') is False
    with pytest.raises(RegistryProtocolError, match='NAME_INVALID') as err:
        client.delete_tag('a/b', 'v1')
    assert err.value.codes == ('NAME_INVALID',)


def test_any_405_to_a_tag_delete_means_it_cannot_untag():
    client, _adapter, _sleeps = make_client([response(405, b'method not allowed')])
    assert client.delete_tag('a/b', 'v1') is False


def test_tag_delete_probe_reads_404_as_supported():
    unknown = response(404, {'errors': [{'code': 'MANIFEST_UNKNOWN', 'message': 'manifest unknown'}]})
    digest_invalid = response(400, {'errors': [{'code': 'DIGEST_INVALID', 'message': 'provided digest did not match'}]})
    client, adapter, _sleeps = make_client([unknown, digest_invalid])
    assert client.tag_deletes_supported('a/b', 'regops-probe') is True
    assert client.tag_deletes_supported('a/b', 'regops-probe') is False
    assert [r.method for r in adapter.requests] == ['DELETE', 'DELETE']
    assert adapter.requests[0].url.endswith('/v2/a/b/manifests/regops-probe')


REF = 'sha256:' + 'c' * 64


def test_referrers_are_read_page_by_page():
    first = {'schemaVersion': 2, 'manifests': [{'mediaType': OCI_MANIFEST, 'digest': 'sha256:' + '1' * 64, 'size': 9}]}
    second = {'schemaVersion': 2, 'manifests': [{'mediaType': OCI_MANIFEST, 'digest': 'sha256:' + '2' * 64, 'size': 9}]}
    script = [response(200, first, {'Link': '</v2/a/b/referrers/%s?page=2>; rel="next"' % REF}), response(200, second)]
    client, adapter, _sleeps = make_client(script)
    assert [m['digest'][-1] for m in client.list_referrers('a/b', REF)] == ['1', '2']
    assert adapter.requests[0].headers['Accept'] == 'application/vnd.oci.image.index.v1+json'
    assert adapter.requests[1].url == 'https://r.example:5000/v2/a/b/referrers/%s?page=2' % REF


@pytest.mark.parametrize('status', [400, 404, 405, 501])
def test_no_referrers_api(status):
    client, _adapter, _sleeps = make_client([response(status, b'404 page not found\n')])
    assert client.list_referrers('a/b', REF) is None


def test_malformed_referrers_and_foreign_links_are_refused():
    client, _adapter, _sleeps = make_client([response(200, {'manifests': [{'digest': 'nope'}]})])
    with pytest.raises(RegistryProtocolError, match='referrers list is not valid'):
        client.list_referrers('a/b', REF)
    client, _adapter, _sleeps = make_client([response(200, {'manifests': []}, {'Link': '<https://evil.example/x>; rel="next"'})])
    with pytest.raises(RegistryProtocolError, match='another host'):
        client.list_referrers('a/b', REF)


def test_a_referrers_page_linking_back_to_itself_ends_the_listing():
    page = {'manifests': [{'mediaType': OCI_MANIFEST, 'digest': 'sha256:' + '1' * 64, 'size': 9}]}
    link = {'Link': '</v2/a/b/referrers/%s>; rel="next"' % REF}
    client, adapter, _sleeps = make_client([response(200, page, link), response(200, page, link)])
    assert len(client.list_referrers('a/b', REF)) == 1
    assert len(adapter.requests) == 1  # the first page's own address was already read


# ---- writes whose answer was lost, and bodies cut short

def test_a_delete_resent_after_a_lost_answer_counts_when_the_manifest_is_gone():
    digest = 'sha256:' + 'a' * 64
    client, adapter, sleeps = make_client([requests.exceptions.ConnectionError('Connection reset by peer'),
                                           response(404, {'errors': [{'code': 'MANIFEST_UNKNOWN'}]})])
    client.delete_manifest('a/b', digest)
    assert [r.method for r in adapter.requests] == ['DELETE', 'DELETE'] and len(sleeps) == 1


def test_a_delete_of_what_is_not_there_still_fails_when_nothing_was_lost():
    client, _adapter, _sleeps = make_client([response(404, {'errors': [{'code': 'MANIFEST_UNKNOWN'}]})])
    with pytest.raises(ManifestNotFoundError):
        client.delete_manifest('a/b', 'sha256:' + 'a' * 64)


def test_a_blob_put_whose_answer_was_lost_counts_when_the_blob_is_there():
    data = b'layer bytes'
    digest = 'sha256:' + hashlib.sha256(data).hexdigest()
    client, adapter, _sleeps = make_client([
        response(202, headers={'Location': '/v2/a/b/blobs/uploads/u1'}),
        requests.exceptions.ReadTimeout('Read timed out'),
        response(404, {'errors': [{'code': 'BLOB_UPLOAD_UNKNOWN'}]}),
        response(200, headers={'Content-Length': str(len(data))})])
    client.upload_blob('a/b', digest, len(data), lambda: io.BytesIO(data))
    assert [r.method for r in adapter.requests] == ['POST', 'PUT', 'PUT', 'HEAD']


def test_a_blob_put_refused_for_a_lost_session_fails_when_the_blob_is_not_there():
    data = b'layer bytes'
    digest = 'sha256:' + hashlib.sha256(data).hexdigest()
    client, _adapter, _sleeps = make_client([
        response(202, headers={'Location': '/v2/a/b/blobs/uploads/u1'}),
        response(404, {'errors': [{'code': 'BLOB_UPLOAD_UNKNOWN'}]}),
        response(404, {'errors': [{'code': 'BLOB_UNKNOWN'}]})])
    with pytest.raises(NotFoundError):
        client.upload_blob('a/b', digest, len(data), lambda: io.BytesIO(data))


class _BrokenBody(object):
    """A response body that breaks off after its first bytes, as a reset mid-transfer does."""

    def __init__(self, data):
        self.data = data

    def __call__(self, _request):
        r = response(200, headers={'Content-Length': str(len(self.data))})
        r._content_consumed = False
        r._content = False

        class Raw(object):
            def stream(self, _amount, decode_content=True):
                yield b'{"arch'
                raise requests.exceptions.ChunkedEncodingError('Connection broken: IncompleteRead')

            def close(self):
                pass
        r.raw = Raw()
        return r


def test_a_config_cut_short_is_fetched_again():
    data = b'{"architecture": "arm64"}'
    digest = 'sha256:' + hashlib.sha256(data).hexdigest()
    client, adapter, sleeps = make_client([_BrokenBody(data), response(200, data)])
    assert client.get_blob('a/b', digest) == data
    assert [r.method for r in adapter.requests] == ['GET', 'GET'] and len(sleeps) == 1


def test_a_download_that_keeps_breaking_off_fails_clearly(tmp_path):
    data = b'x' * 100
    digest = 'sha256:' + hashlib.sha256(data).hexdigest()
    client, adapter, _sleeps = make_client([_BrokenBody(data), _BrokenBody(data), _BrokenBody(data)], retries=2)
    with pytest.raises(RegistryConnectionError, match='the blob download broke off .* 3 times') as failure:
        client.download_blob('a/b', digest, str(tmp_path / 'blob'))
    assert 'r.example:5000/a/b@' + digest in str(failure.value)


def test_a_resent_delete_answered_404_by_something_else_than_the_registry_still_fails():
    client, _adapter, _sleeps = make_client([requests.exceptions.ReadTimeout('Read timed out'),
                                            response(404, b'<html>not found</html>', {'Content-Type': 'text/html'})])
    with pytest.raises(NotFoundError):
        client.delete_manifest('a/b', 'sha256:' + 'a' * 64)


def test_a_refused_connection_does_not_count_as_a_delete_that_may_have_happened():
    refused = requests.exceptions.ConnectionError(
        urllib3.exceptions.MaxRetryError(None, '/v2/', urllib3.exceptions.NewConnectionError(None, 'refused')))
    client, _adapter, _sleeps = make_client([refused, response(404, {'errors': [{'code': 'MANIFEST_UNKNOWN'}]})])
    with pytest.raises(ManifestNotFoundError):
        client.delete_manifest('a/b', 'sha256:' + 'a' * 64)


def test_a_registry_that_labels_its_answers_text_html_is_still_a_registry():
    """Quay answers writes, and some reads, with Flask's default text/html; it also says it speaks the registry API."""
    client, _adapter, _sleeps = make_client([
        response(201, b'OK', {'Content-Type': 'text/html; charset=utf-8'}),
        response(200, headers={'Content-Type': 'text/html', 'Content-Length': '7', 'Docker-Distribution-Api-Version': 'registry/2.0'})])
    client.put_manifest('a/b', 'v1', Manifest(b'{}', OCI_MANIFEST))
    assert client.blob_size('a/b', 'sha256:' + 'a' * 64) == 7
