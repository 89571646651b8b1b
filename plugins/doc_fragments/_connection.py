# -*- coding: utf-8 -*-
# Copyright (c) regops.registry contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This doc fragment is PRIVATE to the collection: it may change at any time.

from __future__ import annotations


class ModuleDocFragment(object):

    # The connection options of every module (CONNECTION_OPTIONS in module_utils/_module.py).
    DOCUMENTATION = r'''
options:
  registry:
    description:
      - The registry to talk to, as C(host), C(host:port), C(https://host:port) or C(http://host:port).
      - HTTPS is used unless the value starts with C(http://). A path, query or user name in the address is refused.
      - C(docker.io) means Docker Hub.
      - If not set, the value of the E(REGOPS_REGISTRY) environment variable is used.
    type: str
    required: true
  username:
    description:
      - User name for HTTP basic authentication or for the registry's token service.
      - When neither O(username) nor O(password) is given, credentials come from the Docker config file
        (see O(docker_config)), so that an existing C(docker login) just works. Without either, access is anonymous.
      - If not set, the value of the E(REGOPS_REGISTRY_USERNAME) environment variable is used.
    type: str
  password:
    description:
      - Password (or access token) for O(username). Required together with O(username).
      - If not set, the value of the E(REGOPS_REGISTRY_PASSWORD) environment variable is used.
    type: str
  docker_config:
    description:
      - Path of a Docker C(config.json), or of the directory that holds it, to read credentials from when
        O(username) and O(password) are not given. Its C(auths) entries, C(credHelpers) and C(credsStore) are used.
      - Defaults to C($DOCKER_CONFIG/config.json), else C(~/.docker/config.json) of the user that runs the module;
        a missing default file means anonymous access, a missing file named here is an error.
      - If not set, the value of the E(REGOPS_DOCKER_CONFIG) environment variable is used.
    type: path
  validate_certs:
    description:
      - Verify the registry's TLS certificate. Turn off for tests only; prefer O(ca_path) for a private CA.
      - When false, O(ca_path) is not used.
      - If not set, the value of the E(REGOPS_REGISTRY_VALIDATE_CERTS) environment variable is used.
    type: bool
    default: true
  ca_path:
    description:
      - A PEM file with the CA certificate(s) to verify the registry's certificate against, for registries signed
        by a private CA.
      - If not set, the value of the E(REGOPS_REGISTRY_CA_PATH) environment variable is used.
    type: path
  timeout:
    description:
      - Connect and read timeout of each request, in seconds. Requests that fail with a network error, HTTP 429
        or 5xx are retried 4 times with exponential backoff (honouring C(Retry-After)).
      - If not set, the value of the E(REGOPS_REGISTRY_TIMEOUT) environment variable is used.
    type: float
    default: 30
requirements:
  - requests (Python library, on the host that runs the module)
notes:
  - The modules talk to the registry's HTTP API (OCI distribution / Docker Registry V2) directly. No Docker daemon is needed.
  - Passwords and tokens never appear in results or messages.
'''
