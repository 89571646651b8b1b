# -*- coding: utf-8 -*-
# Copyright (c) regops.registry contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module util is PRIVATE to the collection: it may change at any time.
"""The distribution reference grammar, and registry addresses.

Names, tags and digests are checked here before any request is sent, so bad
input fails early with a message that says which rule it broke.
"""

from __future__ import annotations

import re

from ansible_collections.regops.registry.plugins.module_utils._errors import InvalidInputError

from urllib.parse import urlsplit

# OCI distribution spec / distribution's reference package.
_PATH_COMPONENT = r'[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*'
REPOSITORY_RE = re.compile(r'^%s(?:/%s)*\Z' % (_PATH_COMPONENT, _PATH_COMPONENT))
TAG_RE = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z')
DIGEST_RE = re.compile(r'^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+\Z')
# Digest algorithms the collection can verify, with the length of their hex encoding.
DIGEST_ALGORITHMS = {'sha256': 64, 'sha512': 128}
REPOSITORY_MAX_LENGTH = 255
_HOST_RE = re.compile(r'^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\Z')

DOCKER_HUB_NAMES = ('docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com')
DOCKER_HUB_API = 'registry-1.docker.io'
DOCKER_HUB_CONFIG_KEY = 'https://index.docker.io/v1/'


def validate_repository(name, registry=None):
    """Return ``name`` if it is a valid repository path, else raise InvalidInputError."""
    if not isinstance(name, str) or not name:
        raise InvalidInputError('repository name is empty', registry=registry)
    if len(name) > REPOSITORY_MAX_LENGTH:
        raise InvalidInputError(
            'repository name %r is %d characters long; the limit is %d' % (name[:40] + '...', len(name), REPOSITORY_MAX_LENGTH),
            registry=registry)
    if not REPOSITORY_RE.match(name):
        hint = None
        if name != name.lower():
            hint = 'Repository names are lower case'
        elif ':' in name or '@' in name:
            hint = 'Give the repository path only, without a tag, digest or registry host'
        elif name.startswith('/') or name.endswith('/') or '//' in name:
            hint = 'Path components are separated by single slashes'
        raise InvalidInputError(
            'invalid repository name %r: each path component must be lower-case letters and digits, '
            'separated by ".", "_", "__" or dashes' % name,
            registry=registry, hint=hint)
    return name


def validate_tag(tag, registry=None, repository=None):
    """Return ``tag`` if it is a valid tag, else raise InvalidInputError."""
    if not isinstance(tag, str) or not TAG_RE.match(tag):
        shown = tag if isinstance(tag, str) and len(tag) <= 140 else '%s...' % str(tag)[:60]
        raise InvalidInputError(
            'invalid tag %r: a tag is 1 to 128 characters of letters, digits, "_", "." and "-", '
            'and does not start with "." or "-"' % shown,
            registry=registry, repository=repository)
    return tag


def is_digest(reference):
    return isinstance(reference, str) and ':' in reference and DIGEST_RE.match(reference) is not None


def validate_digest(digest, registry=None, repository=None):
    """Return ``digest`` if it is a well-formed digest of a supported algorithm."""
    if not is_digest(digest):
        raise InvalidInputError('invalid digest %r: expected "<algorithm>:<hex>", for example "sha256:" and 64 hex digits' % digest,
                                registry=registry, repository=repository)
    algorithm, encoded = digest.split(':', 1)
    if algorithm not in DIGEST_ALGORITHMS:
        raise InvalidInputError('unsupported digest algorithm %r; supported: %s' % (algorithm, ', '.join(sorted(DIGEST_ALGORITHMS))),
                                registry=registry, repository=repository)
    if len(encoded) != DIGEST_ALGORITHMS[algorithm] or not re.match(r'^[a-f0-9]+\Z', encoded):
        raise InvalidInputError('invalid %s digest %r: expected %d lower-case hex digits' % (algorithm, digest, DIGEST_ALGORITHMS[algorithm]),
                                registry=registry, repository=repository)
    return digest


def validate_reference(reference, registry=None, repository=None):
    """A reference inside a repository: a tag or a digest."""
    if isinstance(reference, str) and ':' in reference:
        return validate_digest(reference, registry=registry, repository=repository)
    return validate_tag(reference, registry=registry, repository=repository)


class RegistryAddress(object):
    """Where a registry's API lives and how it is named in credentials stores.

    ``name`` is what users write and what errors show (``host:port``);
    ``base_url`` is the API origin (``https://host:port``).
    """

    def __init__(self, scheme, host, port=None):
        self.scheme = scheme
        self.host = host
        self.port = port
        host_part = '[%s]' % host if ':' in host else host
        self.name = '%s:%d' % (host_part, port) if port else host_part
        api_name = DOCKER_HUB_API if host in DOCKER_HUB_NAMES and not port else self.name
        self.base_url = '%s://%s' % (scheme, api_name)
        self.is_docker_hub = host in DOCKER_HUB_NAMES and not port

    def same_origin(self, url):
        """Whether ``url`` is on this registry's API origin (scheme, host and port; case and default ports folded)."""
        def origin(value):
            parts = urlsplit(value)
            try:
                port = parts.port
            except ValueError:
                return None
            return parts.scheme.lower(), (parts.hostname or '').lower(), port or {'https': 443, 'http': 80}.get(parts.scheme.lower())
        return origin(url) == origin(self.base_url)

    def config_keys(self):
        """Keys under which a Docker ``config.json`` may hold this registry's credentials."""
        if self.is_docker_hub:
            return [DOCKER_HUB_CONFIG_KEY, 'index.docker.io', 'docker.io', 'registry-1.docker.io']
        return [self.name, 'https://%s' % self.name, 'http://%s' % self.name,
                'https://%s/v1/' % self.name, 'https://%s/v2/' % self.name]

    def __repr__(self):
        return 'RegistryAddress(%r)' % self.base_url


def parse_registry(value):
    """Parse the ``registry`` option: ``host``, ``host:port`` or ``http(s)://host[:port]``.

    Plain HTTP is used only when the user writes ``http://``.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError('the registry option is empty; give a host name such as "registry.example.com:5000"')
    text = value.strip()
    if '://' not in text:
        if '/' in text:
            raise InvalidInputError(
                'registry %r contains a path; give only the host and port (the repository goes in the repository option)' % text)
        text = 'https://' + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidInputError('registry %r is not a valid address: %s' % (value, exc))
    if parts.scheme not in ('http', 'https'):
        raise InvalidInputError('registry %r uses the scheme %r; only https:// (the default) and http:// are supported' % (value, parts.scheme))
    if parts.username is not None or parts.password is not None or '@' in parts.netloc:
        raise InvalidInputError('the registry address must not contain credentials; use the username and password options')
    if parts.path not in ('', '/') or parts.query or parts.fragment:
        raise InvalidInputError(
            'registry %r contains a path or query; give only the scheme, host and port '
            '(the repository goes in the repository option)' % value)
    host = parts.hostname
    if not host:
        raise InvalidInputError('registry %r has no host name' % value)
    if ':' not in host and not _HOST_RE.match(host):
        raise InvalidInputError('registry %r: %r is not a valid host name' % (value, host))
    return RegistryAddress(parts.scheme, host, port)


def parse_any_reference(value, address):
    """A reference on the registry at ``address`` or on another one: returns ``(registry, repository or None, tag or digest)``.

    ``registry`` is ``address`` itself unless the reference names another registry
    (``staging.example.com:5000/team/app:v1``). ``v1`` or ``sha256:...`` name a tag or digest of the repository at
    hand (repository None); ``team/app:v1`` and ``team/app@sha256:...`` another repository of ``address``.
    """
    if not isinstance(value, str) or not value:
        raise InvalidInputError('an image reference is empty', registry=address.name)
    if value.partition(':')[0] in DIGEST_ALGORITHMS or not any(c in value for c in '/:@'):
        return address, None, validate_reference(value, registry=address.name)
    name, sep, reference = value.partition('@')
    if not sep:
        head, colon, tail = value.rpartition(':')
        if not colon or '/' in tail:
            raise InvalidInputError('image reference %r has no tag or digest; write repository:tag or repository@digest' % value,
                                    registry=address.name)
        name, reference = head, tail
    registry = address
    first, slash, rest = name.partition('/')
    if slash and ('.' in first or ':' in first or first == 'localhost'):
        domain = parse_registry(first)
        if (domain.host, domain.port) != (address.host, address.port) and domain.base_url != address.base_url:
            registry = domain
        name = rest
    validate_repository(name, registry=registry.name)
    return registry, name, validate_reference(reference, registry=registry.name, repository=name)
