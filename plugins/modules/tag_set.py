#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) regops.registry contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: tag_set
short_description: Point release tags and floating aliases at an image, server-side
version_added: 0.1.0
description:
  - Points a set of tags at one image that is already in a registry, through the registry's HTTP API.
    No pull, no push of layers, no Docker daemon.
  - The source manifest is fetched once and its exact bytes are written under each new or moved tag, so every
    tag has the source's digest. Each tag costs one C(HEAD), plus one C(PUT) only when it changes.
  - In semver mode (O(version)) the module derives the release tag and its floating aliases from the version, and
    moves an alias only forward, working from the tags the repository already has.
  - Full release tags are immutable by default (see O(immutable)). If any requested change would move an immutable
    tag, the module fails before it writes anything. A new immutable tag is written first, left to settle and read
    back, so of two jobs creating it at once with different images, one goes on and the other fails with
    C(ConflictError) before it writes any other tag (as M(regops.registry.manifest_push) describes).
author:
  - regops.registry maintainers (@regops)
extends_documentation_fragment:
  - regops.registry._connection
  - regops.registry._immutable
  - regops.registry._version
  - regops.registry._attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows, per tag, the digest before and after.
options:
  repository:
    description:
      - The repository inside the registry, for example C(battlescope/ingestion-service).
      - Checked against the distribution reference grammar before any request.
    type: str
    required: true
  source:
    description:
      - The image to point the tags at, as a tag or a digest (C(sha256:...)) in O(repository).
    type: str
    required: true
  tags:
    description:
      - Tags to point at O(source), as given.
      - Can be combined with O(version); at least one of the two is required.
      - A tag listed here is written even when it is also an alias that semver mode would hold back.
    type: list
    elements: str
    default: []
  suffix:
    description:
      - In semver mode, a suffix appended to the release tag and every alias, for example C(-amd64) gives
        C(v3.0.0-amd64), C(v3.0-amd64), C(v3-amd64) and C(latest-amd64).
      - It starts with C(-) and a letter, so that it can never be read as part of the version.
    type: str
    default: ''
seealso:
  - name: OCI distribution specification
    description: The registry HTTP API this module uses.
    link: https://github.com/opencontainers/distribution-spec/blob/main/spec.md
'''

EXAMPLES = r'''
- name: Release v3.0.0 of the amd64 image with its per-architecture aliases
  regops.registry.tag_set:
    registry: registry.example.com:5000
    username: ci
    password: "{{ registry_password }}"
    repository: battlescope/ingestion-service
    source: 3.0.0-amd64
    version: v3.0.0
    suffix: -amd64
  register: release

- name: Show where each tag points
  ansible.builtin.debug:
    msg: "{{ item.tag }} {{ item.action }} -> {{ item.after }}"
  loop: "{{ release.tags }}"
  loop_control:
    label: "{{ item.tag }}"

- name: Point extra tags at the image just released, by its digest, trusting a private CA
  regops.registry.tag_set:
    registry: registry.example.com:5000
    ca_path: /etc/regops/ca.crt
    repository: battlescope/ingestion-service
    source: "{{ release.digest }}"
    tags:
      - stable
      - prod-2026-11

- name: Set the connection options once for every module of the collection
  module_defaults:
    group/regops.registry.registry:
      registry: registry.example.com:5000
      docker_config: /home/ci/.docker/config.json
  block:
    - name: Release a prerelease (only its own tag is written)
      regops.registry.tag_set:
        repository: battlescope/ingestion-service
        source: 3.1.0-rc.1-arm64
        version: v3.1.0-rc.1
        suffix: -arm64
'''

RETURN = r'''
msg:
  description: A one-line summary of what was done (or would be done, in check mode).
  returned: always
  type: str
  sample: "registry.example.com:5000/battlescope/ingestion-service: 3 created, 1 moved, 0 unchanged, 0 skipped (source sha256:4f53...)"
registry:
  description: The registry, as C(host:port).
  returned: success
  type: str
  sample: registry.example.com:5000
repository:
  description: The repository.
  returned: success
  type: str
  sample: battlescope/ingestion-service
digest:
  description: The digest of the source manifest, which every written tag now has.
  returned: success
  type: str
  sample: sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945
media_type:
  description: The media type of the source manifest.
  returned: success
  type: str
  sample: application/vnd.oci.image.manifest.v1+json
tags:
  description:
    - One entry per tag, in the order they are written (the release tag first).
    - In check mode the action is what would be done.
  returned: success
  type: list
  elements: dict
  sample:
    - {tag: v3.0.0-amd64, action: created, kind: release, before: null, after: "sha256:4f53..."}
    - {tag: v3.0-amd64, action: moved, kind: minor, before: "sha256:0a1b...", after: "sha256:4f53..."}
    - {tag: v3-amd64, action: unchanged, kind: major, before: "sha256:4f53...", after: "sha256:4f53..."}
    - {tag: latest-amd64, action: skipped, kind: latest, before: "sha256:9c8d...", after: "sha256:9c8d...",
       reason: "held back: v4.0.0-amd64 is newer"}
  contains:
    tag:
      description: The tag.
      type: str
      returned: always
    action:
      description: C(created), C(moved), C(unchanged), or C(skipped) for an alias held back by a newer release.
      type: str
      returned: always
    kind:
      description: C(release), C(minor), C(major), C(latest) in semver mode, C(tag) for a tag from O(tags).
      type: str
      returned: always
    before:
      description: The tag's digest before, or null if it did not exist.
      type: str
      returned: always
    after:
      description: The tag's digest after.
      type: str
      returned: always
    reason:
      description: Why a tag was skipped.
      type: str
      returned: when action is skipped
error:
  description: The type of error, when the module fails (for example C(ImmutableTagError), C(AuthenticationError)).
  returned: failure
  type: str
  sample: ImmutableTagError
'''

from ansible_collections.regops.registry.plugins.module_utils._module import registry_module, run
from ansible_collections.regops.registry.plugins.module_utils._tag_set import run_tag_set
from ansible_collections.regops.registry.plugins.module_utils._tags import IMMUTABLE_OPTION, VERSION_OPTIONS


def main():
    module = registry_module(
        dict(
            repository=dict(type='str', required=True),
            source=dict(type='str', required=True),
            tags=dict(type='list', elements='str', default=[]),
            suffix=dict(type='str', default=''),
            immutable=IMMUTABLE_OPTION,
            **VERSION_OPTIONS
        ),
        supports_check_mode=True,
    )
    run(module, lambda client, m: run_tag_set(client, m.params, check_mode=m.check_mode, diff=m._diff))


if __name__ == '__main__':
    main()
