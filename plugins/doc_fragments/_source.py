# -*- coding: utf-8 -*-
# Copyright (c) regops.registry contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This doc fragment is PRIVATE to the collection: it may change at any time.

from __future__ import annotations


class ModuleDocFragment(object):

    # Options for copying from another registry (SOURCE_OPTIONS in module_utils/_module.py).
    DOCUMENTATION = r'''
options:
  source_username:
    description:
      - User on the registry images are copied from, when a reference names another registry.
      - Without it, credentials for that registry come from the Docker config file (O(docker_config)), as for the
        target; otherwise anonymous.
      - If not set, the value of the E(REGOPS_SOURCE_REGISTRY_USERNAME) environment variable is used.
    type: str
  source_password:
    description:
      - Password of O(source_username).
      - If not set, the value of the E(REGOPS_SOURCE_REGISTRY_PASSWORD) environment variable is used.
    type: str
  source_validate_certs:
    description:
      - Whether to check the TLS certificate of the registry copied from. Turn off for tests only; prefer
        O(source_ca_path) for a private CA.
      - When false, O(source_ca_path) is not used.
      - If not set, the value of the E(REGOPS_SOURCE_REGISTRY_VALIDATE_CERTS) environment variable is used.
    type: bool
    default: true
  source_ca_path:
    description:
      - CA certificate (PEM) that signed the certificate of the registry copied from.
      - If not set, the value of the E(REGOPS_SOURCE_REGISTRY_CA_PATH) environment variable is used.
    type: path
'''
