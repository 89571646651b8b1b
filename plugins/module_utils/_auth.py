# -*- coding: utf-8 -*-
# Copyright (c) regops.registry contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module util is PRIVATE to the collection: it may change at any time.
"""Credentials and authentication challenges.

Credentials come, in this order, from the module options (or their
environment fallbacks), then from a Docker ``config.json``: its ``auths``
entries, ``credHelpers`` and ``credsStore``, so that an existing
``docker login`` just works.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess

from ansible_collections.regops.registry.plugins.module_utils._errors import AuthenticationError, InvalidInputError

_CHALLENGE_PARAM_RE = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*(?:,|$)')


class Credentials(object):
    """A username and password, and where they came from (for messages); ``from_options`` when the module's options
    (or their environment variables) gave them, not a Docker config file."""

    __slots__ = ('username', 'password', 'source', 'from_options')

    def __init__(self, username, password, source, from_options=False):
        self.username = username
        self.password = password
        self.source = source
        self.from_options = from_options

    def __repr__(self):
        return 'Credentials(username=%r, source=%r)' % (self.username, self.source)


def parse_challenge(header):
    """Parse a ``WWW-Authenticate`` header into ``(scheme, params)``.

    Only the first challenge is read; registries send one.
    """
    if not header:
        return None, {}
    header = header.strip()
    scheme, _sep, rest = header.partition(' ')
    params = {}
    pos = 0
    while pos < len(rest):
        match = _CHALLENGE_PARAM_RE.match(rest, pos)
        if not match or match.end() == pos:
            break
        value = match.group(2)
        if value is None:
            value = match.group(3)
        else:
            value = re.sub(r'\\(.)', r'\1', value)
        params[match.group(1).lower()] = value
        pos = match.end()
    return scheme.lower(), params


def default_docker_config_path():
    base = os.environ.get('DOCKER_CONFIG') or os.path.join(os.path.expanduser('~'), '.docker')
    return os.path.join(base, 'config.json')


def _config_file(path):
    if path and os.path.isdir(path):
        return os.path.join(path, 'config.json')
    return path


def _run_credential_helper(helper, server, registry_name):
    program = 'docker-credential-%s' % helper
    try:
        proc = subprocess.run([program, 'get'], input=server.encode('utf-8'), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=60, check=False)
        rc, out, err = proc.returncode, proc.stdout.decode('utf-8', 'replace'), proc.stderr.decode('utf-8', 'replace')
    except (OSError, subprocess.SubprocessError) as exc:
        raise AuthenticationError('the Docker credential helper %s could not be run: %s' % (program, exc), registry=registry_name,
                                  hint='Install it, or give username and password')
    if rc != 0:
        if 'credentials not found' in (out + err).lower():
            return None
        raise AuthenticationError('the Docker credential helper %s failed (exit %d)' % (program, rc), registry=registry_name,
                                  hint='Run "docker login %s" again, or give username and password' % registry_name)
    try:
        data = json.loads(out)
        return data['Username'], data['Secret']
    except (ValueError, KeyError, TypeError):
        raise AuthenticationError('the Docker credential helper %s returned an unreadable answer' % program, registry=registry_name)


def credentials_from_docker_config(address, path=None, required=False):
    """Look up ``address`` (a RegistryAddress) in a Docker config file.

    Returns Credentials or None. ``required`` makes a missing or unreadable
    file an error (the user named it explicitly).
    """
    config_path = _config_file(path) if path else default_docker_config_path()
    if not os.path.exists(config_path):
        if required:
            raise InvalidInputError('docker_config %s does not exist' % config_path, registry=address.name)
        return None
    try:
        with open(config_path, 'rb') as f:
            config = json.loads(f.read().decode('utf-8'))
        if not isinstance(config, dict):
            raise ValueError('not a JSON object')
    except (OSError, IOError, ValueError) as exc:
        raise InvalidInputError('docker_config %s cannot be read as JSON: %s' % (config_path, exc), registry=address.name)

    for section in ('auths', 'credHelpers'):
        if not isinstance(config.get(section) or {}, dict):
            raise InvalidInputError('docker_config %s: "%s" is not a JSON object' % (config_path, section), registry=address.name)
    if not isinstance(config.get('credsStore') or '', str):
        raise InvalidInputError('docker_config %s: "credsStore" is not a string' % config_path, registry=address.name)
    keys = address.config_keys()
    helpers = config.get('credHelpers') or {}
    for key in keys:
        if isinstance(helpers.get(key), str):
            found = _run_credential_helper(helpers[key], key, address.name)
            if found:
                return Credentials(found[0], found[1], 'credential helper %s' % helpers[key])

    auths = config.get('auths') or {}
    for key in keys:
        entry = auths.get(key)
        if not isinstance(entry, dict):
            continue
        if entry.get('identitytoken'):
            raise AuthenticationError(
                'the entry for %s in %s holds an identity token, which this collection does not use' % (key, config_path),
                registry=address.name, hint='Give username and password instead')
        if entry.get('auth'):
            try:
                decoded = base64.b64decode(entry['auth']).decode('utf-8')
                username, password = decoded.split(':', 1)
            except (ValueError, TypeError, UnicodeDecodeError):
                raise InvalidInputError('the "auth" entry for %s in %s is not base64 of "user:password"' % (key, config_path),
                                        registry=address.name)
            return Credentials(username, password, config_path)
        if entry.get('username') and entry.get('password'):
            return Credentials(entry['username'], entry['password'], config_path)

    store = config.get('credsStore')
    if store:
        for key in keys[:2]:
            found = _run_credential_helper(store, key, address.name)
            if found:
                return Credentials(found[0], found[1], 'credential store %s' % store)
    return None


def resolve_credentials(address, username=None, password=None, docker_config=None, prefix=''):
    """Credentials for ``address``: explicit options first (``<prefix>username``, ``<prefix>password``, set in the
    task or by their environment variables), then the Docker config."""
    if username or password:
        if not (username and password):
            raise InvalidInputError('%susername and %spassword must be given together' % (prefix, prefix), registry=address.name)
        return Credentials(username, password, 'the %susername and %spassword options or their environment variables'
                           % (prefix, prefix), from_options=True)
    return credentials_from_docker_config(address, docker_config, required=bool(docker_config))
