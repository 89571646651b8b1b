# -*- coding: utf-8 -*-
# Copyright (c) regops.registry contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module util is PRIVATE to the collection: it may change at any time.
"""What every module of the collection shares with Ansible: the connection
options (documented once in the ``regops.registry._connection`` doc
fragment), building the client from them, and turning typed errors into
``fail_json``.
"""

from __future__ import annotations

import copy
import os
import traceback

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.regops.registry.plugins.module_utils._auth import resolve_credentials
from ansible_collections.regops.registry.plugins.module_utils._client import HAS_REQUESTS, REQUESTS_IMPORT_ERROR, RegistryClient
from ansible_collections.regops.registry.plugins.module_utils._errors import InvalidInputError, RegistryError
from ansible_collections.regops.registry.plugins.module_utils._reference import parse_registry

CONNECTION_OPTIONS = dict(
    registry=dict(type='str', required=True, fallback=(env_fallback, ['REGOPS_REGISTRY'])),
    username=dict(type='str', fallback=(env_fallback, ['REGOPS_REGISTRY_USERNAME'])),
    password=dict(type='str', no_log=True, fallback=(env_fallback, ['REGOPS_REGISTRY_PASSWORD'])),
    docker_config=dict(type='path', fallback=(env_fallback, ['REGOPS_DOCKER_CONFIG'])),
    validate_certs=dict(type='bool', default=True, fallback=(env_fallback, ['REGOPS_REGISTRY_VALIDATE_CERTS'])),
    ca_path=dict(type='path', fallback=(env_fallback, ['REGOPS_REGISTRY_CA_PATH'])),
    timeout=dict(type='float', default=30.0, fallback=(env_fallback, ['REGOPS_REGISTRY_TIMEOUT'])),
)


# Where a module copies from another registry (a promotion): documented once in the regops.registry._source fragment.
SOURCE_OPTIONS = dict(
    source_username=dict(type='str', fallback=(env_fallback, ['REGOPS_SOURCE_REGISTRY_USERNAME'])),
    source_password=dict(type='str', no_log=True, fallback=(env_fallback, ['REGOPS_SOURCE_REGISTRY_PASSWORD'])),
    source_validate_certs=dict(type='bool', default=True, fallback=(env_fallback, ['REGOPS_SOURCE_REGISTRY_VALIDATE_CERTS'])),
    source_ca_path=dict(type='path', fallback=(env_fallback, ['REGOPS_SOURCE_REGISTRY_CA_PATH'])),
)


def registry_module(argument_spec, **kwargs):
    """An AnsibleModule with the connection options added to ``argument_spec``."""
    spec = copy.deepcopy(CONNECTION_OPTIONS)
    spec.update(argument_spec)
    together = list(kwargs.pop('required_together', [])) + [['username', 'password']]
    if 'source_username' in spec:
        together.append(['source_username', 'source_password'])
    module = AnsibleModule(argument_spec=spec, required_together=together, **kwargs)
    if not HAS_REQUESTS:
        module.fail_json(msg=missing_required_lib('requests'), exception=REQUESTS_IMPORT_ERROR)
    return module


def registry_client(params):
    """Build the client from the connection options (as CONNECTION_OPTIONS fills them). Raises RegistryError on bad input."""
    address = parse_registry(params['registry'])
    if params['timeout'] <= 0:
        raise InvalidInputError('timeout must be a positive number of seconds, got %s' % params['timeout'], registry=address.name)
    client = _client(address, params, '')
    if 'source_username' in params:
        client.peer_factory = lambda other: _client(other, params, 'source_')
    return client


def _client(address, params, prefix):
    """A client of ``address``, from the options named ``<prefix>username`` and so on: the target's
    (CONNECTION_OPTIONS, prefix ''), or those of a registry copied from (SOURCE_OPTIONS, prefix 'source_').
    Credentials not given come from the Docker config file."""
    ca_path, validate_certs = params[prefix + 'ca_path'], params[prefix + 'validate_certs']
    if ca_path and validate_certs and not os.path.isfile(ca_path):
        raise InvalidInputError('%sca_path %s is not a file; give the CA certificate (PEM) that signed the certificate of %s'
                                % (prefix, ca_path, address.name), registry=address.name)
    credentials = resolve_credentials(address, params[prefix + 'username'], params[prefix + 'password'], params['docker_config'],
                                      prefix)
    return RegistryClient(address, credentials=credentials, validate_certs=validate_certs, ca_path=ca_path,
                          timeout=params['timeout'], option_prefix=prefix)


def scrub(text, secrets):
    """``text`` with every secret value replaced."""
    for secret in sorted(set(s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, '********')
    return text


# Shorter secrets are not searched for in results: they would mangle digests and tags by chance. Ansible masks the
# password options themselves; what only the module knows (the Basic value, tokens) is always longer.
SCRUB_MIN_LENGTH = 8


def scrub_result(value, secrets):
    """A module result (dicts, lists, strings) with every secret value of ``SCRUB_MIN_LENGTH`` characters or more
    replaced in every string value (keys are names the module chose, and stay)."""
    secrets = [s for s in secrets if s and len(s) >= SCRUB_MIN_LENGTH]
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, dict):
        return dict((k, scrub_result(v, secrets)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [scrub_result(v, secrets) for v in value]
    return value


def run(module, operation):
    """Build the client, run ``operation(client, module)``, exit with its result or fail with a clear message.

    Typed errors carry messages built without secrets, but some quote the registry's own error text, which a
    broken registry or proxy can fill with the request's Authorization header; anything else is unexpected and
    is reported by type. So every credential value the client holds (passwords, Basic header values, bearer
    tokens, of the registry and of those copied from) is scrubbed from the whole result: message, facts,
    warnings, diff.
    """
    client = None
    try:
        client = registry_client(module.params)
        result = operation(client, module)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        secrets = _secrets(module, client)
        if isinstance(exc, RegistryError):
            module.fail_json(msg=scrub(str(exc), secrets), **scrub_result(exc.to_result(), secrets))
        module.fail_json(msg=scrub('unexpected %s: %s' % (type(exc).__name__, exc), secrets),
                         exception=scrub(traceback.format_exc(), secrets))
    module.exit_json(**scrub_result(result, _secrets(module, client)))


def _secrets(module, client):
    return [module.params.get('password'), module.params.get('source_password')] + (
        client.secrets() if client is not None else [])
