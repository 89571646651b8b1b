# -*- coding: utf-8 -*-
# Copyright (c) regops.registry contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module util is PRIVATE to the collection: it may change at any time.
"""The one registry client every module uses.

It speaks the OCI distribution / Docker Registry HTTP API V2 over a single
``requests.Session`` and owns authentication (anonymous, basic, bearer
tokens with per-call scopes), TLS settings, timeouts, retries with bounded
backoff, status checks and decoding. It raises the typed errors of
``_errors`` and never puts a credential into a message.

Manifests are kept as the exact bytes received: their digest is computed
over those bytes and checked against the registry's ``Docker-Content-Digest``
and any digest asked for; a retag sends the same bytes back.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import os
import random
import re
import threading
import time
import traceback

from ansible_collections.regops.registry.plugins.module_utils._errors import (
    AuthenticationError,
    AuthorizationError,
    InvalidInputError,
    ManifestNotFoundError,
    NotFoundError,
    RegistryConnectionError,
    RegistryError,
    RegistryProtocolError,
    RepositoryNotFoundError,
    TLSError,
    UnsupportedError,
)
from ansible_collections.regops.registry.plugins.module_utils._auth import parse_challenge
from ansible_collections.regops.registry.plugins.module_utils._reference import DIGEST_ALGORITHMS, is_digest

from urllib.parse import quote, urlencode, urljoin

try:
    import requests
    import requests.adapters
    import requests.exceptions
    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - depends on the target's Python
    requests = None
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = traceback.format_exc()

DOCKER_MANIFEST_V2 = 'application/vnd.docker.distribution.manifest.v2+json'
DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json'
OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
MANIFEST_MEDIA_TYPES = (DOCKER_MANIFEST_V2, DOCKER_MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX)
SCHEMA1_MEDIA_TYPES = ('application/vnd.docker.distribution.manifest.v1+prettyjws',
                       'application/vnd.docker.distribution.manifest.v1+json')
INDEX_MEDIA_TYPES = (DOCKER_MANIFEST_LIST, OCI_INDEX)
IMAGE_MEDIA_TYPES = (DOCKER_MANIFEST_V2, OCI_MANIFEST) + SCHEMA1_MEDIA_TYPES
# Every manifest type in Accept: without them distribution 2.x converts a
# manifest fetched by tag to schema 1, and its digest changes.
MANIFEST_ACCEPT = ', '.join(MANIFEST_MEDIA_TYPES)

RETRY_STATUS = (429, 500, 502, 503, 504)
# Blobs up to this size go up in one PUT; larger ones in PATCH chunks of DEFAULT_CHUNK_SIZE.
MONOLITHIC_LIMIT = 32 * 1024 * 1024
DEFAULT_CHUNK_SIZE = 16 * 1024 * 1024
USER_AGENT = 'regops.registry'
# The digest of no manifest (sha256 of "regops.registry deletes probe"), for asking whether deletes are enabled.
PROBE_DIGEST = 'sha256:' + hashlib.sha256(b'regops.registry deletes probe').hexdigest()
MAX_PARALLEL = 32
TOKEN_EXPIRY_MARGIN = 10.0


def compute_digest(data, algorithm='sha256'):
    return '%s:%s' % (algorithm, hashlib.new(algorithm, data).hexdigest())


class Manifest(object):
    """A manifest as the exact bytes the registry holds, with their sha256 digest and media type."""

    __slots__ = ('content', 'media_type', 'digest')

    def __init__(self, content, media_type):
        self.content = content
        self.media_type = media_type
        self.digest = compute_digest(content)

    @property
    def size(self):
        return len(self.content)


class ManifestHead(object):
    """What a HEAD request tells about a manifest."""

    __slots__ = ('digest', 'media_type', 'size')

    def __init__(self, digest, media_type, size):
        self.digest = digest
        self.media_type = media_type
        self.size = size


def _strip_params(content_type):
    return (content_type or '').split(';', 1)[0].strip().lower()


def _media_type_of(content_type, content):
    """The manifest's media type: the Content-Type, else the document's own mediaType."""
    media_type = _strip_params(content_type)
    if media_type in ('', 'application/json', 'application/octet-stream', 'text/plain'):
        try:
            doc = json.loads(content.decode('utf-8'))
        except (ValueError, UnicodeDecodeError):
            doc = {}
        media_type = doc.get('mediaType') if isinstance(doc, dict) else None
        if not media_type and isinstance(doc, dict):
            if doc.get('schemaVersion') == 1:
                media_type = SCHEMA1_MEDIA_TYPES[1]
            elif 'manifests' in doc:
                media_type = OCI_INDEX
            elif 'layers' in doc:
                media_type = OCI_MANIFEST
    return media_type or ''


def _registry_errors(response):
    """The ``errors`` of a registry error body, as 'CODE: message' strings."""
    try:
        body = response.json()
        errors = body.get('errors') or []
        codes = [str(e.get('code', '')) for e in errors if isinstance(e, dict)]
        texts = ['%s: %s' % (e.get('code', 'UNKNOWN'), str(e.get('message', ''))[:200]) for e in errors if isinstance(e, dict)]
        return codes, texts
    except (ValueError, AttributeError, TypeError):
        return [], []


def _short_reason(exc):
    """A one-line reason from a requests exception, rebuilt from codes and fixed phrases.

    Exception texts can quote URLs and request headers, so no free text is copied: an errno becomes
    ``os.strerror``'s wording, a TLS failure keeps OpenSSL's code and its lower-case reason.
    """
    text = str(exc)
    match = re.search(r'\[SSL: ([A-Z0-9_]+)\]( [a-z][a-z :]*[a-z])?', text)
    if match:
        return ('[SSL: %s]%s' % (match.group(1), match.group(2) or '')).strip()
    match = re.search(r'\[Errno (-?\d+)\]', text)
    if match:
        number = int(match.group(1))
        return '[Errno %d] %s' % (number, os.strerror(number) if number > 0 else 'name resolution failed')
    for phrase in ('Read timed out', 'Connect timeout', 'timed out', 'RemoteDisconnected', 'Connection aborted',
                   'Connection reset by peer', 'certificate verify failed', 'Name or service not known'):
        if phrase in text:
            return phrase
    return type(exc).__name__


def _may_have_arrived(exc):
    """Whether a request that failed with ``exc`` may have reached the server (not when the connection was refused
    or never made)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return False
    reason = getattr(exc.args[0], 'reason', None) if exc.args else None
    return not (reason is not None and type(reason).__name__ == 'NewConnectionError')


def parse_retry_after(value, now=None):
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


class RegistryClient(object):
    """A client for one registry.

    :param address: a ``RegistryAddress`` (from ``_reference.parse_registry``)
    :param credentials: ``_auth.Credentials`` or None for anonymous access
    :param validate_certs: verify the server certificate
    :param ca_path: a CA bundle to verify against (implies verification)
    :param timeout: connect and read timeout, in seconds
    :param retries: how many times a request is retried on 429, 5xx and network errors
    :param backoff: the first retry delay; it doubles each time, up to ``max_delay``
    """

    def __init__(self, address, credentials=None, validate_certs=True, ca_path=None, timeout=30.0,
                 retries=4, backoff=0.5, max_delay=30.0, session=None, sleep=time.sleep, option_prefix=''):
        if not HAS_REQUESTS:  # pragma: no cover
            raise UnsupportedError('the Python library "requests" is required on the host that runs the module',
                                   registry=address.name, hint='Install it with "pip install requests"')
        self.address = address
        self.credentials = credentials
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_delay = max_delay
        self._sleep = sleep
        if session is None:
            session = requests.Session()
            # Room for the largest number of parallel uploads a module allows.
            for prefix in ('https://', 'http://'):
                session.mount(prefix, requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=MAX_PARALLEL))
        self.session = session
        self.session.headers['User-Agent'] = USER_AGENT
        # Passed on every request: a session-level verify loses to REQUESTS_CA_BUNDLE in requests.
        # An explicit validate_certs: false wins over ca_path.
        self._verify = (ca_path or True) if validate_certs else False
        if not validate_certs:
            try:
                import urllib3
                urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            except Exception:  # pragma: no cover - cosmetic only
                pass
        self._ca_path = ca_path
        # Clients of other registries (the sources of a promotion), made by peer_factory(address) on first use.
        self.peer_factory = None
        # The prefix of the options this client was built from, for hints: '' (the target), 'source_' (copied from).
        self.option_prefix = option_prefix
        self._peers = {}
        # What the registry asked for: None until the first 401, then 'basic' or 'bearer'.
        self._auth_scheme = None
        self._bearer = {}
        # Bearer tokens by (repository or '' for registry-wide scopes, extra scopes): (actions, token, expires_at)
        self._tokens = {}
        # Token state is shared by the threads of a parallel upload.
        self._lock = threading.RLock()
        # The latest upload session URL of each blob being sent in chunks (to cancel it on failure).
        self._last_session = {}

    # ------------------------------------------------------------------ auth

    def _scope(self, repository, actions):
        if repository is None:
            return 'registry:catalog:*'
        return 'repository:%s:%s' % (repository, ','.join(sorted(actions)))

    @staticmethod
    def _covers(scope, other):
        """Whether ``scope`` grants everything ``other`` asks (actions in any order, as registries send them)."""
        def split(value):
            resource, _sep, actions = value.rpartition(':')
            return resource, set(actions.split(','))
        mine, theirs = split(scope), split(other)
        return mine[0] == theirs[0] and theirs[1] <= mine[1]

    def _basic_header(self):
        raw = ('%s:%s' % (self.credentials.username, self.credentials.password)).encode('utf-8')
        return 'Basic ' + base64.b64encode(raw).decode('ascii')

    def _auth_header(self, repository, actions, extra=()):
        """The Authorization header for a call; ``extra`` are further scopes it needs (a mount's source)."""
        with self._lock:
            if self._auth_scheme == 'basic' and self.credentials:
                return self._basic_header()
            if self._auth_scheme == 'bearer':
                held = self._tokens.get((repository or '', extra))
                if held and set(actions) <= held[0] and held[2] > time.time():
                    return 'Bearer ' + held[1]
                token = self._fetch_token(repository, set(actions) | (held[0] if held else set()), extra=extra)
                return 'Bearer ' + token
            return None

    def _fetch_token(self, repository, actions, challenge_scope=None, extra=()):
        realm = self._bearer.get('realm')
        if not realm:
            raise RegistryProtocolError('the registry asked for a bearer token but named no realm to get it from',
                                        registry=self.address.name, repository=repository)
        params = []
        if self._bearer.get('service'):
            params.append(('service', self._bearer['service']))
        scopes = [self._scope(repository, actions)] + list(extra)
        for asked in (challenge_scope or '').split():
            if not any(self._covers(scope, asked) for scope in scopes):
                scopes.append(asked)
        for scope in scopes:
            params.append(('scope', scope))
        headers = {}
        if self.credentials:
            if realm.lower().startswith('http://') and self.address.scheme == 'https':
                raise AuthenticationError(
                    'the registry sends clients to a plain-HTTP token service (%s); refusing to send credentials there'
                    % realm.split('?', 1)[0], registry=self.address.name, repository=repository,
                    hint='Configure the registry with an https:// token realm')
            headers['Authorization'] = self._basic_header()
        url = realm + ('&' if '?' in realm else '?') + urlencode(params)
        response = self._send_with_retries('GET', url, headers, None, repository=repository)
        if response.status_code == 401:
            raise self._auth_failure(repository, None, token_service=True)
        if response.status_code == 403:
            raise AuthorizationError('the token service refused access (%s)' % ', '.join(scopes),
                                     registry=self.address.name, repository=repository, status=403)
        if response.status_code != 200:
            raise RegistryProtocolError('the token service answered HTTP %d' % response.status_code,
                                        registry=self.address.name, repository=repository, status=response.status_code)
        try:
            body = response.json()
        except ValueError:
            body = None
        token = (body.get('token') or body.get('access_token')) if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryProtocolError('the token service answered without a token', registry=self.address.name,
                                        repository=repository)
        try:
            expires_in = float(body.get('expires_in') or 60)
        except (TypeError, ValueError):
            expires_in = 60.0
        expires_at = time.time() + max(1.0, expires_in - TOKEN_EXPIRY_MARGIN)
        self._tokens[(repository or '', extra)] = (set(actions), token, expires_at)
        return token

    def _learn_challenge(self, response, repository, actions, extra=(), sent=None):
        """Handle a 401 to a request sent with Authorization ``sent``. Returns False when retrying cannot help."""
        with self._lock:
            return self._learn_challenge_locked(response, repository, actions, extra, sent)

    def _learn_challenge_locked(self, response, repository, actions, extra, sent):
        scheme, params = parse_challenge(response.headers.get('WWW-Authenticate'))
        if scheme == 'basic':
            if not self.credentials or (sent or '').startswith('Basic '):
                return False  # no credentials, or these very credentials were refused
            self._auth_scheme = 'basic'
            return True
        if scheme == 'bearer':
            key = (repository or '', extra)
            held = self._tokens.get(key)
            usable = bool(held and set(actions) <= held[0] and held[2] > time.time())
            if self._auth_scheme == 'bearer' and usable and sent != 'Bearer ' + held[1]:
                return True  # another thread of a parallel upload already holds a newer token
            fresh = self._auth_scheme != 'bearer' or params.get('error') == 'invalid_token'
            if not fresh and usable:
                # A token we just used for these actions was refused: the credentials lack them.
                return False
            self._auth_scheme = 'bearer'
            self._bearer = {'realm': params.get('realm'), 'service': params.get('service')}
            self._tokens.pop(key, None)
            self._fetch_token(repository, set(actions) | (held[0] if held else set()), params.get('scope'), extra)
            return True
        return False

    def _auth_failure(self, repository, reference, token_service=False):
        where = 'the token service' if token_service else 'the registry'
        if self.credentials:
            if self.credentials.from_options:
                hint = 'Check %susername and %spassword (or the credential that sets them)' % (self.option_prefix, self.option_prefix)
            else:
                hint = 'Run "docker login %s" again, or give %susername and %spassword' % (
                    self.address.name, self.option_prefix, self.option_prefix)
            return AuthenticationError(
                '%s rejected the credentials of user %r (from %s)' % (where, self.credentials.username, self.credentials.source),
                registry=self.address.name, repository=repository, reference=reference, status=401, hint=hint)
        variables = 'REGOPS_SOURCE_REGISTRY' if self.option_prefix else 'REGOPS_REGISTRY'
        return AuthenticationError(
            'the registry requires authentication and no credentials were found',
            registry=self.address.name, repository=repository, reference=reference, status=401,
            hint='Give %susername and %spassword (or %s_USERNAME and %s_PASSWORD), or run "docker login %s" on the host '
                 'that runs the module' % (self.option_prefix, self.option_prefix, variables, variables, self.address.name))

    # ------------------------------------------------------------- transport

    def _delay(self, attempt, response=None):
        if response is not None:
            retry_after = parse_retry_after(response.headers.get('Retry-After'))
            if retry_after is not None:
                return min(retry_after, self.max_delay)
        delay = min(self.max_delay, self.backoff * (2 ** attempt))
        return delay * (0.75 + random.random() * 0.5)

    def _send_with_retries(self, method, url, headers, data, repository=None, reference=None, stream=False):
        """Send one request, retrying network errors, 429 and 5xx with bounded backoff."""
        attempt = 0
        resent = False  # whether an earlier attempt may have reached the registry, its answer lost
        while True:
            body = data() if callable(data) else data
            try:
                response = self.session.request(method, url, headers=headers, data=body, stream=stream, verify=self._verify,
                                                timeout=(self.timeout, self.timeout), allow_redirects=True)
            except requests.exceptions.SSLError as exc:
                raise self._tls_error(exc, repository, reference)
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                    requests.exceptions.ChunkedEncodingError) as exc:
                if attempt >= self.retries:
                    raise RegistryConnectionError(
                        'cannot reach the registry (%s) after %d attempts' % (_short_reason(exc), attempt + 1),
                        registry=self.address.name, repository=repository, reference=reference,
                        hint='Check the registry address and that it is running; raise timeout for slow links')
                resent = resent or _may_have_arrived(exc)
                self._sleep(self._delay(attempt))
                attempt += 1
                continue
            except requests.exceptions.RequestException as exc:
                raise RegistryConnectionError('request failed: %s' % _short_reason(exc), registry=self.address.name,
                                              repository=repository, reference=reference)
            finally:
                if body is not data and hasattr(body, 'close'):
                    body.close()
            if response.status_code in RETRY_STATUS and attempt < self.retries:
                delay = self._delay(attempt, response)
                response.close()
                self._sleep(delay)
                attempt += 1
                continue
            response.regops_resent = resent
            return response

    def _tls_error(self, exc, repository, reference):
        reason = _short_reason(exc)
        if 'expired' in reason:
            hint = ('The certificate of %s has expired (or the clock of the host that runs the module is wrong): '
                    'renew the certificate' % self.address.name)
        elif 'WRONG_VERSION_NUMBER' in str(exc) or 'wrong version number' in str(exc):
            hint = 'The registry seems to speak plain HTTP: if that is intended, write "http://%s" in the registry option' % self.address.name
        elif self._ca_path:
            hint = 'The certificate is not signed by the CA in %sca_path %s' % (self.option_prefix, self._ca_path)
        else:
            hint = ('If the registry uses a private CA, give its certificate in %sca_path '
                    '(%svalidate_certs: false turns verification off, for tests only)' % (self.option_prefix, self.option_prefix))
        return TLSError('TLS connection failed: %s' % reason, registry=self.address.name, repository=repository,
                        reference=reference, hint=hint)

    def request(self, method, path, repository, actions, headers=None, data=None, expected=(200,), reference=None,
                stream=False, extra_scopes=()):
        """Send an API request with authentication, retries and status checks.

        ``path`` is relative to the registry (``/v2/...``) or an absolute URL on
        the same registry. ``actions`` are the token scope actions the call needs
        (``pull``, ``push``, ``delete``). Returns the response when its status is
        in ``expected``, else raises a typed error.
        """
        url = path if '://' in path else self.address.base_url + path
        headers = dict(headers or {})
        # At most two authentication rounds per request: the first challenge, and a token
        # the registry then calls invalid (expired on its clock) fetched once more.
        rounds = 0
        while True:
            auth = self._auth_header(repository, actions, tuple(extra_scopes))
            if auth:
                headers['Authorization'] = auth
            response = self._send_with_retries(method, url, headers, data, repository=repository,
                                               reference=reference, stream=stream)
            if response.status_code == 401 and rounds < 2:
                rounds += 1
                if self._learn_challenge(response, repository, actions, tuple(extra_scopes), sent=auth):
                    response.close()
                    continue
            break
        if response.status_code not in expected:
            if (method == 'DELETE' and response.status_code == 404 and getattr(response, 'regops_resent', False)
                    and 'MANIFEST_UNKNOWN' in _registry_errors(response)[0]):
                # An earlier attempt reached the registry and its answer was lost: what it deleted is gone, as asked.
                return response
            raise self._status_error(response, method, repository, reference, actions)
        if (method in ('GET', 'HEAD') and response.status_code < 300 and 'Docker-Distribution-Api-Version' not in response.headers
                and _strip_params(response.headers.get('Content-Type')) == 'text/html'):
            # No registry API answer is a web page: a portal, a login page or a proxy stands at this address.
            response.close()
            raise RegistryProtocolError(
                'the server answered %s with a web page (HTTP %d, text/html), not a registry answer' % (method, response.status_code),
                registry=self.address.name, repository=repository, reference=reference, status=response.status_code,
                hint='Is %s a container registry (OCI distribution API)? Check the registry option' % self.address.name)
        return response

    def _status_error(self, response, method, repository, reference, actions):
        error = self._status_error_for(response, method, repository, reference, actions)
        error.codes = tuple(_registry_errors(response)[0])
        return error

    def _status_error_for(self, response, method, repository, reference, actions):
        status = response.status_code
        codes, texts = _registry_errors(response)
        detail = '; '.join(texts)
        where = dict(registry=self.address.name, repository=repository, reference=reference, status=status)
        if status == 401:
            if self._auth_scheme == 'bearer' and self.credentials:
                return AuthorizationError('the registry refused a token for %s' % ', '.join(sorted(actions)), **where)
            return self._auth_failure(repository, reference)
        if status == 403 or 'DENIED' in codes:
            return AuthorizationError('access denied for %s (%s)' % (', '.join(sorted(actions)), detail or 'HTTP 403'),
                                      hint='Check that the user may %s this repository' % '/'.join(sorted(actions)), **where)
        if status == 404:
            # A HEAD answer has no body by design: only other methods can show a non-registry server.
            looks_like_registry = bool(codes) or 'Docker-Distribution-Api-Version' in response.headers or method == 'HEAD'
            if 'NAME_UNKNOWN' in codes:
                return RepositoryNotFoundError('repository not found', hint='Check the repository name', **where)
            if 'MANIFEST_UNKNOWN' in codes:
                return ManifestNotFoundError('manifest not found', **where)
            if not looks_like_registry:
                return NotFoundError(
                    'the server answered 404 without a registry error',
                    hint='Is %s a container registry (OCI distribution API)? Check the registry option' % self.address.name, **where)
            return NotFoundError('not found (%s)' % (detail or 'HTTP 404'), **where)
        if status == 405:
            return UnsupportedError('the registry does not allow %s here (HTTP 405%s)' % (method, ': ' + detail if detail else ''),
                                    hint='For deletes, the registry must run with storage.delete.enabled: true', **where)
        if status in RETRY_STATUS:
            return RegistryConnectionError('the registry answered HTTP %d after %d attempts%s' % (
                status, self.retries + 1, ': ' + detail if detail else ''), hint='Try again later', **where)
        return RegistryProtocolError('unexpected answer to %s: HTTP %d%s' % (method, status, ': ' + detail if detail else ''), **where)

    # ------------------------------------------------------------- manifests

    def _manifest_path(self, repository, reference):
        return '/v2/%s/manifests/%s' % (repository, reference)

    def _fetch_manifest(self, repository, reference):
        """GET a manifest's exact bytes, verified against the digests the request and the registry name."""
        response = self.request('GET', self._manifest_path(repository, reference), repository, ('pull',),
                                headers={'Accept': MANIFEST_ACCEPT}, reference=reference)
        content = response.content
        self.verify_digest(content, reference, response.headers.get('Docker-Content-Digest'), repository=repository)
        return Manifest(content, _media_type_of(response.headers.get('Content-Type'), content))

    def get_manifest(self, repository, reference):
        """GET an image manifest or index by tag or digest; verify its digest; return a Manifest.

        The digest of the result is always the sha256 of its bytes, whatever algorithm a reference used.
        """
        manifest = self._fetch_manifest(repository, reference)
        where = dict(registry=self.address.name, repository=repository, reference=reference)
        if manifest.media_type in SCHEMA1_MEDIA_TYPES:
            raise UnsupportedError('the manifest is in the deprecated Docker schema 1 format, which cannot be retagged or indexed',
                                   hint='Push the image again with a current Docker, buildah or skopeo', **where)
        if manifest.media_type not in MANIFEST_MEDIA_TYPES:
            raise UnsupportedError('the registry answered %r, which is not an image manifest or index' % manifest.media_type[:100],
                                   hint='Check that the reference names a container image', **where)
        return manifest

    def get_existing_manifest(self, repository, reference):
        """``get_manifest``, telling a missing repository (RepositoryNotFoundError) from a missing tag or digest
        (ManifestNotFoundError): distribution answers MANIFEST_UNKNOWN for both, and its tag list tells them apart."""
        try:
            return self.get_manifest(repository, reference)
        except ManifestNotFoundError:
            try:
                self.list_tags(repository)
            except RepositoryNotFoundError as missing:
                missing.reference = reference
                raise missing
            raise

    def verify_digest(self, content, reference, header_digest, repository=None):
        """Check ``content`` against the requested digest and the registry's header, each in its own algorithm."""
        expected = [('the requested digest', reference)] if is_digest(reference) else []
        if header_digest:
            expected.append(('the Docker-Content-Digest header', header_digest.strip()))
        for source, wanted in expected:
            algorithm = wanted.split(':', 1)[0]
            if algorithm not in DIGEST_ALGORITHMS:
                continue
            actual = compute_digest(content, algorithm)
            if actual != wanted:
                raise RegistryProtocolError(
                    'the content received does not match %s (%s, content is %s)' % (source, wanted, actual),
                    registry=self.address.name, repository=repository, reference=reference,
                    hint='The registry or a proxy altered the manifest; nothing was written')

    def head_manifest(self, repository, reference):
        """HEAD a manifest: a ManifestHead, or None when the tag or digest does not exist.

        Any manifest counts here, schema 1 included: a tag is compared by digest, not read.
        """
        try:
            response = self.request('HEAD', self._manifest_path(repository, reference), repository, ('pull',),
                                    headers={'Accept': MANIFEST_ACCEPT}, reference=reference)
        except NotFoundError as exc:
            if isinstance(exc, RepositoryNotFoundError):
                raise
            return None
        digest = (response.headers.get('Docker-Content-Digest') or '').strip()
        media_type = _strip_params(response.headers.get('Content-Type'))
        if not digest.startswith('sha256:'):
            # Some registries omit the digest on HEAD: fall back to reading it.
            manifest = self._fetch_manifest(repository, reference)
            return ManifestHead(manifest.digest, manifest.media_type, manifest.size)
        try:
            size = int(response.headers.get('Content-Length') or 0)
        except ValueError:
            size = 0
        return ManifestHead(digest, media_type, size)

    def put_manifest(self, repository, reference, manifest):
        """PUT ``manifest``'s exact bytes under ``reference``; return the digest the registry stored."""
        response = self.request('PUT', self._manifest_path(repository, reference), repository, ('pull', 'push'),
                                headers={'Content-Type': manifest.media_type}, data=manifest.content,
                                expected=(200, 201), reference=reference)
        stored = (response.headers.get('Docker-Content-Digest') or '').strip()
        algorithm = stored.split(':', 1)[0]
        if stored and algorithm in DIGEST_ALGORITHMS and stored != compute_digest(manifest.content, algorithm):
            raise RegistryProtocolError(
                'the registry stored the manifest as %s, not %s' % (stored, manifest.digest),
                registry=self.address.name, repository=repository, reference=reference,
                hint='The registry changed the manifest bytes; check the registry version')
        return manifest.digest

    # ------------------------------------------------------------------ blobs

    def _blob_path(self, repository, digest):
        return '/v2/%s/blobs/%s' % (repository, digest)

    def _session_url(self, response, repository, digest):
        """The upload session URL of a 202 answer, on this registry only (credentials go nowhere else)."""
        location = response.headers.get('Location')
        if not location:
            raise RegistryProtocolError('the registry opened an upload without saying where (no Location header)',
                                        registry=self.address.name, repository=repository, reference=digest)
        url = urljoin(self.address.base_url + '/', location)
        if not self.address.same_origin(url):
            raise RegistryProtocolError(
                'the registry sends the upload to another host (%s); refusing to send credentials there' % url.split('?')[0],
                registry=self.address.name, repository=repository, reference=digest)
        return url

    def blob_size(self, repository, digest):
        """The size of a blob in ``repository``, or None when it is not there."""
        try:
            response = self.request('HEAD', self._blob_path(repository, digest), repository, ('pull',), reference=digest)
        except NotFoundError:
            return None
        try:
            return int(response.headers.get('Content-Length') or 0)
        except ValueError:
            return 0

    def get_blob(self, repository, digest, max_size=4 * 1024 * 1024):
        """A small blob (an image config) as bytes, verified against its digest."""
        def read(response):
            content = b''
            for chunk in response.iter_content(64 * 1024):
                content += chunk
                if len(content) > max_size:
                    raise UnsupportedError('the blob is larger than %d bytes, too large to read here' % max_size,
                                           registry=self.address.name, repository=repository, reference=digest)
            return content
        content = self._read_blob(repository, digest, read)
        if compute_digest(content, digest.split(':', 1)[0]) != digest:
            raise RegistryProtocolError('the blob received does not match its digest', registry=self.address.name,
                                        repository=repository, reference=digest)
        return content

    def download_blob(self, repository, digest, path):
        """Stream a blob into the file ``path``, verifying its digest; returns its size."""
        def read(response):
            hasher = hashlib.new(digest.split(':', 1)[0])
            size = 0
            with open(path, 'wb') as out:
                for chunk in response.iter_content(1024 * 1024):
                    hasher.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            if '%s:%s' % (digest.split(':', 1)[0], hasher.hexdigest()) != digest:
                raise RegistryProtocolError('the blob received does not match its digest', registry=self.address.name,
                                            repository=repository, reference=digest)
            return size
        return self._read_blob(repository, digest, read)

    def _read_blob(self, repository, digest, read):
        """GET a blob and ``read(response)`` its body as it streams in; a body that breaks off (cut short, reset,
        stalled) is fetched again from the start, with the same retries and backoff as a request."""
        attempt = 0
        while True:
            response = self.request('GET', self._blob_path(repository, digest), repository, ('pull',), reference=digest,
                                    stream=True)
            try:
                return read(response)
            except requests.exceptions.RequestException as exc:
                if attempt >= self.retries:
                    raise RegistryConnectionError(
                        'the blob download broke off (%s) %d times' % (_short_reason(exc), attempt + 1),
                        registry=self.address.name, repository=repository, reference=digest,
                        hint='Check the network to the registry and run again; raise timeout for slow links')
                self._sleep(self._delay(attempt))
                attempt += 1
            finally:
                response.close()

    def mount_blob(self, repository, digest, from_repository):
        """Ask the registry to link ``digest`` from ``from_repository`` into ``repository``; True when it did.

        A registry that cannot mount answers with an upload session instead (202); it is cancelled.
        """
        path = '/v2/%s/blobs/uploads/?mount=%s&from=%s' % (repository, quote(digest, safe=''), quote(from_repository, safe=''))
        response = self.request('POST', path, repository, ('pull', 'push'), expected=(201, 202), reference=digest,
                                extra_scopes=(self._scope(from_repository, ('pull',)),))
        if response.status_code == 201:
            return True
        self._cancel_upload(self._session_url(response, repository, digest), repository, digest)
        return False

    def _start_upload(self, repository, digest):
        response = self.request('POST', '/v2/%s/blobs/uploads/' % repository, repository, ('pull', 'push'),
                                expected=(202,), reference=digest)
        return self._session_url(response, repository, digest)

    def _upload_chunks(self, repository, digest, size, open_blob, chunk_size, url):
        """PATCH the blob in order, ``chunk_size`` bytes at a time; returns the session URL to close.

        A refused chunk cancels the session (best effort) before the error goes up.
        """
        try:
            return self._patch_chunks(repository, digest, size, open_blob, chunk_size, url)
        except RegistryError:
            self._cancel_upload(self._last_session.get(digest, url), repository, digest)
            raise

    def _cancel_upload(self, url, repository, digest):
        try:
            self.request('DELETE', url, repository, ('pull', 'push'), expected=(200, 202, 204, 404), reference=digest)
        except RegistryError:
            pass  # an abandoned session expires on the registry

    def _patch_chunks(self, repository, digest, size, open_blob, chunk_size, url):
        with open_blob() as blob:
            offset = 0
            while offset < size:
                chunk = blob.read(min(chunk_size, size - offset))
                if not chunk:
                    raise InvalidInputError('the blob ended after %d of %d bytes' % (offset, size),
                                            registry=self.address.name, repository=repository, reference=digest)
                headers = {'Content-Type': 'application/octet-stream',
                           'Content-Range': '%d-%d' % (offset, offset + len(chunk) - 1)}
                response = self.request('PATCH', url, repository, ('pull', 'push'), headers=headers, data=chunk,
                                        expected=(202,), reference=digest)
                # Position is what was sent: some registries report a stale Range.
                offset += len(chunk)
                url = self._last_session[digest] = self._session_url(response, repository, digest)
                # One chunk in memory at a time: the response holds its request, whose body is this chunk.
                chunk = response = None
        return url

    def upload_blob(self, repository, digest, size, open_blob, chunk_size=DEFAULT_CHUNK_SIZE,
                    monolithic_limit=MONOLITHIC_LIMIT):
        """Upload a blob from ``open_blob()`` (a callable returning a new binary file at offset 0).

        Blobs up to ``monolithic_limit`` bytes go in one streamed PUT; larger ones in ordered PATCH chunks of
        ``chunk_size`` bytes, so memory stays bounded by the chunk size whatever the blob size; a registry that
        refuses a chunk gets the whole blob in one streamed PUT instead. The registry's digest of the result is checked.
        """
        url = self._start_upload(repository, digest)
        chunked = False
        if size > monolithic_limit:
            try:
                url = self._upload_chunks(repository, digest, size, open_blob, chunk_size, url)
                chunked = True
            except (RegistryProtocolError, UnsupportedError) as exc:
                if exc.status == 413:
                    raise  # too large already in chunks: one bigger PUT cannot do better
                # The registry refused a chunk (400, 405, 416...): send it all in one PUT, in a new session.
                url = self._start_upload(repository, digest)
        final = url + ('&' if '?' in url else '?') + urlencode({'digest': digest})
        headers = {'Content-Type': 'application/octet-stream'}
        if not chunked:
            headers['Content-Length'] = str(size)
        # An empty body goes as bytes: requests would send an empty file object chunked, with no terminator.
        body = b'' if chunked or size == 0 else open_blob
        try:
            response = self.request('PUT', final, repository, ('pull', 'push'), headers=headers, data=body,
                                    expected=(201,), reference=digest)
        except NotFoundError:
            # The upload session is gone: a PUT whose answer was lost (reset, timeout) closed it, and the retry found
            # nothing to close. The blob is then there, under its digest (content-addressed: nothing else can be).
            if self.blob_size(repository, digest) is None:
                raise
            return
        stored = (response.headers.get('Docker-Content-Digest') or '').strip()
        if stored and stored != digest:
            raise RegistryProtocolError('the registry stored the blob as %s' % stored, registry=self.address.name,
                                        repository=repository, reference=digest)

    # ------------------------------------------------------------------ tags

    def list_tags(self, repository, page_size=1000):
        """Every tag of ``repository``, following pagination (see ``_paginate``)."""
        return self._paginate('/v2/%s/tags/list' % repository, 'tags', 'tag', repository, page_size)

    def list_repositories(self, page_size=1000):
        """Every repository in the registry's catalog, following pagination (see ``_paginate``)."""
        return self._paginate('/v2/_catalog', 'repositories', 'repository', None, page_size)

    def _paginate(self, base_path, key, what, repository, page_size):
        """Every string in ``key`` of the pages of a listing (of ``what``: tag, repository).

        Follows ``Link: <...>; rel="next"`` on the same registry only. Without
        a ``Link``, the registry is asked again from the last entry (``last``):
        one that ignores paging (distribution 2.8 for tags) answers nothing new,
        which ends the listing; one that capped the page silently gives the rest.
        """
        entries = []
        seen = set()

        def page_path(last=None):
            query = ([] if page_size is None else ['n=%d' % page_size]) + ([] if last is None else ['last=' + quote(last, safe='')])
            return base_path + ('?' + '&'.join(query) if query else '')

        path = page_path()
        while path:
            try:
                response = self.request('GET', path, repository, ('pull',) if repository else ('*',))
            except RegistryProtocolError as exc:
                # A page size above the registry's limit (distribution's catalog.maxentries, 1000 by default) is
                # refused: ask again without one, for the registry's own page size, and follow its pages.
                if 'PAGINATION_NUMBER_INVALID' not in exc.codes or entries or page_size is None:
                    raise
                page_size = None
                path = page_path()
                continue
            try:
                body = response.json()
                page = body.get(key) or []
                if not isinstance(page, list) or not all(isinstance(entry, str) for entry in page):
                    raise ValueError('"%s" is not a list of strings' % key)
            except (ValueError, AttributeError) as exc:
                raise RegistryProtocolError('the %s list is not valid (%s)' % (what, exc), registry=self.address.name,
                                            repository=repository)
            new = [entry for entry in page if entry not in seen]
            entries.extend(new)
            seen.update(new)
            following = self._next_page(response, repository)
            if not new:
                path = None
            elif following:
                path = following
            else:
                path = page_path(page[-1])
        return entries

    def _next_page(self, response, repository):
        """The URL of the next page (``Link: <...>; rel="next"``), on this registry only; None on the last page."""
        following = (response.links or {}).get('next', {}).get('url')
        if not following:
            return None
        url = urljoin(self.address.base_url + '/', following)
        if not self.address.same_origin(url):
            raise RegistryProtocolError(
                'the listing continues on another host (%s); refusing to send credentials there' % url.split('?')[0],
                registry=self.address.name, repository=repository)
        return url

    # --------------------------------------------------------------- deletes

    def delete_manifest(self, repository, digest):
        """Delete a manifest by digest (every tag pointing at it goes with it).

        A registry with deletes disabled answers 405: UnsupportedError, saying how to enable them.
        """
        self.request('DELETE', self._manifest_path(repository, digest), repository, ('delete',), expected=(202,),
                     reference=digest)

    def delete_tag(self, repository, tag):
        """Remove only a tag (the OCI tag delete). False when the registry cannot untag.

        distribution 2.x answers 400 (it reads the tag as a digest) or, with deletes disabled, 405.
        """
        try:
            self.request('DELETE', self._manifest_path(repository, tag), repository, ('delete',), expected=(202,),
                         reference=tag)
        except (RegistryProtocolError, UnsupportedError) as exc:
            if exc.status == 405 or (exc.status == 400 and set(exc.codes) & {'DIGEST_INVALID', 'UNSUPPORTED'}):
                return False
            raise
        return True

    def deletes_enabled(self, repository):
        """Whether the registry accepts manifest deletes, asked without deleting anything.

        A delete of a digest no manifest has is answered 404 where deletes are enabled and 405 where they are not.
        """
        try:
            self.delete_manifest(repository, PROBE_DIGEST)
        except UnsupportedError as exc:
            if exc.status == 405:
                return False
            raise
        except NotFoundError:
            return True
        return True  # pragma: no cover - nothing has the probe digest

    def tag_deletes_supported(self, repository, absent_tag):
        """Whether the registry can remove a tag alone, asked with a tag the repository does not have.

        A registry with the OCI tag delete answers 404 for an unknown tag; distribution 2.x reads the tag as a
        digest (400 DIGEST_INVALID), or answers 405 with deletes disabled.
        """
        try:
            return self.delete_tag(repository, absent_tag)
        except NotFoundError:
            return True

    def list_referrers(self, repository, digest):
        """The descriptors of the manifests whose ``subject`` is ``digest`` (the OCI referrers API), every page.

        None when the registry has no referrers API: it answers 404 (which a registry that has one never does for
        a valid digest), 400, 405 or 501.
        """
        referrers = []
        path = '%s/v2/%s/referrers/%s' % (self.address.base_url, repository, digest)
        seen = set()
        while path and path not in seen:  # a page linking back to one already read ends the listing
            seen.add(path)
            response = self.request('GET', path, repository, ('pull',), headers={'Accept': OCI_INDEX},
                                    expected=(200, 400, 404, 405, 501), reference=digest)
            if response.status_code != 200:
                return None
            try:
                manifests = response.json().get('manifests') or []
                if not isinstance(manifests, list) or not all(isinstance(m, dict) and is_digest(m.get('digest')) for m in manifests):
                    raise ValueError('"manifests" is not a list of descriptors')
            except (ValueError, AttributeError) as exc:
                raise RegistryProtocolError('the referrers list is not valid (%s)' % exc, registry=self.address.name,
                                            repository=repository, reference=digest)
            referrers.extend(manifests)
            path = self._next_page(response, repository)
        return referrers

    def client_for(self, address):
        """This client for its own registry, else the one of ``address`` (``peer``)."""
        return self if address is self.address else self.peer(address)

    def peer(self, address):
        """The client of another registry (``address``), to copy from; one per registry, made by ``peer_factory``."""
        with self._lock:  # the images of an index are read in parallel
            if address.name not in self._peers:
                if self.peer_factory is None:
                    raise UnsupportedError('copying from another registry (%s) is not available here' % address.name,
                                           registry=self.address.name)
                self._peers[address.name] = self.peer_factory(address)
            return self._peers[address.name]

    def settle(self, seconds):
        """Wait ``seconds`` for writes other clients may have in flight (see ``_tags.Release.claim``)."""
        self._sleep(seconds)

    def secrets(self):
        """Every credential value this client (and its peers) holds, for scrubbing unexpected error text."""
        values = [held[1] for held in self._tokens.values()]
        if self.credentials:
            values.append(self.credentials.password)
            values.append(self._basic_header()[len('Basic '):])
        for peer in self._peers.values():
            values.extend(peer.secrets())
        return [v for v in values if v]
