#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) regops.registry contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: image_info
short_description: Inspect a registry, a repository, or an image or multi-arch index
version_added: 0.2.0
description:
  - Reads from a registry's HTTP API and reports what it holds. Never changes anything, and always reports
    C(changed=false).
  - Without O(repository), lists the registry's catalog, every page of it.
  - With O(repository) only, lists the repository's tags (every page), and with O(resolve_tags) the digest each
    tag points at.
  - With O(repository) and O(reference) (a tag or a digest), describes what it points at, as stored. For an image
    this is its manifest, digest, media type, platform, created time, labels and size. For a multi-arch index
    it is the same for the index and for every image it lists.
  - A repository, tag or digest that does not exist is not an error. The result then has RV(exists=false).
author:
  - regops.registry maintainers (@regops)
extends_documentation_fragment:
  - regops.registry._connection
  - regops.registry._attributes
attributes:
  check_mode:
    support: full
    details:
      - The module only reads, in check mode as otherwise.
  diff_mode:
    support: none
options:
  repository:
    description:
      - The repository to inspect, for example C(battlescope/ingestion-service).
      - Without it, the module lists the catalog.
    type: str
  reference:
    description:
      - A tag or digest (C(sha256:...)) in O(repository) to describe.
      - Without it, the module lists the repository's tags.
    type: str
  resolve_tags:
    description:
      - When listing tags, also read the digest each tag points at (one C(HEAD) per tag, O(parallel) at a time),
        returned in RV(digests).
    type: bool
    default: false
  page_size:
    description:
      - How many entries to ask for per page of the catalog or tag list (1 to 10000). Every page is read, whatever
        the size; a registry that caps pages silently is asked again from the last entry, and one that refuses
        this size (above its limit, 1000 by default in distribution) is asked again without one, for its own.
    type: int
    default: 1000
  parallel:
    description:
      - How many requests run at once when reading the images of an index or the digests of tags (1 to 32).
    type: int
    default: 4
notes:
  - The image config's C(Env) is not reported, because it often holds values baked into images that do not belong
    in a job's output.
  - Reading the catalog needs a user the registry lets list it. Docker Hub has no catalog.
seealso:
  - module: regops.registry.image_copy
  - module: regops.registry.tag_set
'''

EXAMPLES = r'''
- name: List every repository of the registry
  regops.registry.image_info:
    registry: registry.example.com:5000
    username: ci
    password: "{{ registry_password }}"
  register: catalog

- name: The tags of a repository, with the digest of each
  regops.registry.image_info:
    registry: registry.example.com:5000
    username: ci
    password: "{{ registry_password }}"
    repository: battlescope/ingestion-service
    resolve_tags: true
  register: service

- name: Show which tags point at the same image as latest
  ansible.builtin.debug:
    msg: "{{ service.digests | dict2items | selectattr('value', 'equalto', service.digests['latest']) | map(attribute='key') | list }}"
  when: "'latest' in service.digests"

- name: Set the connection options once for every module of the collection
  module_defaults:
    group/regops.registry.registry:
      registry: registry.example.com:5000
      username: ci
      password: "{{ registry_password }}"
  block:
    - name: Describe a release's multi-arch index
      regops.registry.image_info:
        repository: battlescope/ingestion-service
        reference: v3.0.0
      register: release

    - name: Fail when an architecture is missing from the release
      ansible.builtin.assert:
        that:
          - release.exists
          - "'linux/amd64' in release.platforms"
          - "'linux/arm64' in release.platforms"
        fail_msg: "v3.0.0 has {{ release.platforms | default([]) | join(', ') }}"

    - name: Print when each image of the release was built
      ansible.builtin.debug:
        msg: "{{ item.platform.architecture | default('?') }}: {{ item.created }} ({{ item.size }} bytes)"
      loop: "{{ release.images }}"
      loop_control:
        label: "{{ item.digest }}"
'''

RETURN = r'''
msg:
  description: A one-line summary of what was found.
  returned: always
  type: str
  sample: "registry.example.com:5000/battlescope/ingestion-service:v3.0.0: index sha256:9b2e... of 2 images (linux/amd64, linux/arm64), 58215733 bytes"
registry:
  description: The registry, as C(host:port).
  returned: success
  type: str
  sample: registry.example.com:5000
repositories:
  description: Every repository of the catalog, in the registry's order.
  returned: when O(repository) is not given
  type: list
  elements: str
  sample: [battlescope/api, battlescope/ingestion-service]
repository:
  description: The repository.
  returned: when O(repository) is given
  type: str
  sample: battlescope/ingestion-service
exists:
  description: Whether the repository (when listing tags), or the tag or digest, exists.
  returned: when O(repository) is given
  type: bool
  sample: true
missing:
  description: What does not exist, C(repository) or C(reference).
  returned: when O(reference) is given and RV(exists) is false
  type: str
  sample: reference
tags:
  description: Every tag of the repository, in the registry's order (empty when the repository does not exist).
  returned: when O(repository) is given without O(reference)
  type: list
  elements: str
  sample: [v3.0.0, v3.0, v3, latest]
digests:
  description: The digest each tag points at; null for a tag deleted between the listing and its C(HEAD).
  returned: when O(resolve_tags) is true and the repository exists
  type: dict
  sample: {v3.0.0: "sha256:9b2e...", latest: "sha256:9b2e..."}
reference:
  description: The tag or digest described.
  returned: when O(reference) is given
  type: str
  sample: v3.0.0
digest:
  description: The digest of the manifest or index (sha256 of its exact bytes).
  returned: when O(reference) exists
  type: str
  sample: sha256:9b2e1c4dd7f0a28bcf1a0aa0e1f4f4a9e5b8f7fd0d0f6e2b8c2a0d5c3b1e4f7a
media_type:
  description: The media type of the manifest or index.
  returned: when O(reference) exists
  type: str
  sample: application/vnd.oci.image.index.v1+json
kind:
  description: C(image) for an image manifest, C(index) for a multi-arch index (OCI index or Docker manifest list).
  returned: when O(reference) exists
  type: str
  sample: index
size:
  description:
    - Bytes the registry stores for it. That is the manifest, and for an index every image manifest it lists,
      plus every config and layer blob (compressed), each blob counted once. Foreign layers (with C(urls)) are not
      counted, since registries do not store them.
    - An index listed inside the index counts with its own manifest only; its images are not opened.
  returned: when O(reference) exists
  type: int
  sample: 58215733
platforms:
  description: The platforms, as C(os/architecture[/variant]), of the images of an index (or of the image).
  returned: when O(reference) exists
  type: list
  elements: str
  sample: [linux/amd64, linux/arm64]
created:
  description: The image's creation time from its config (null for an index; see RV(images) for each image's).
  returned: when O(reference) exists
  type: str
  sample: "2026-11-20T09:14:03Z"
labels:
  description: The image's labels from its config (null for an index; see RV(images) for each image's).
  returned: when O(reference) exists
  type: dict
  sample: {org.opencontainers.image.version: 3.0.0}
manifest:
  description: The manifest or index document itself.
  returned: when O(reference) exists
  type: dict
images:
  description: The image (or each image the index lists, in its order).
  returned: when O(reference) exists
  type: list
  elements: dict
  contains:
    digest:
      description: The image manifest's digest.
      type: str
      returned: always
    media_type:
      description: Its media type.
      type: str
      returned: always
    platform:
      description: >-
        Its platform (C(os), C(architecture), and C(variant), C(os.version), C(os.features) if any), as the index
        lists it or from its config; null for an artifact without one.
      type: dict
      returned: always
    size:
      description: Its manifest, config and layers, in bytes.
      type: int
      returned: always
    layers:
      description: How many layers it has (null for an index listed inside the index, which is not opened).
      type: int
      returned: always
    created:
      description: Its creation time from the config, or null.
      type: str
      returned: always
    labels:
      description: Its labels from the config (null for an index listed inside the index).
      type: dict
      returned: always
    config:
      description: >-
        The config's digest, media type, author, entrypoint, cmd, user, working_dir and exposed_ports (each null when
        absent; the whole null for an index listed inside the index). Env is not reported.
      type: dict
      returned: always
error:
  description: The type of error, when the module fails (for example C(AuthorizationError)).
  returned: failure
  type: str
  sample: AuthorizationError
'''

from ansible_collections.regops.registry.plugins.module_utils._image_info import run_image_info
from ansible_collections.regops.registry.plugins.module_utils._module import registry_module, run


def main():
    module = registry_module(
        dict(
            repository=dict(type='str'),
            reference=dict(type='str'),
            resolve_tags=dict(type='bool', default=False),
            page_size=dict(type='int', default=1000),
            parallel=dict(type='int', default=4),
        ),
        supports_check_mode=True,
    )
    run(module, lambda client, m: run_image_info(client, m.params))


if __name__ == '__main__':
    main()
