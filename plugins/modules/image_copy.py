#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) regops.registry contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: image_copy
short_description: Copy an image or a multi-arch index between repositories or registries (promotion)
version_added: 0.2.0
description:
  - Copies an image, or a multi-arch index with every image it lists, from a repository of this registry or of
    another registry into O(repository) of O(registry), through the registries' HTTP APIs. No Docker daemon, no
    pull. This is how a release is promoted from dev to staging to production.
  - The manifests are copied byte for byte, so the copy has the same digests as the source, and signatures made
    for the source's digest hold for the copy.
  - The plan comes first and reads only. The target is asked, by digest, for the source manifest; when it has it,
    nothing but tags is written. Otherwise every image of an index the target lacks is read, and every blob they
    name is checked with a C(HEAD). A blob the target repository has is skipped. On the same registry a missing
    blob is mounted from the source repository (copied if the registry declines). From another registry it is
    streamed through a temporary file, one blob at a time per worker, so memory stays small whatever its size.
  - Every tag is planned before the first write, and an immutable one that would move (see O(immutable)) fails the
    task with nothing written. Then blobs go first, the images of an index by digest, and the top manifest last
    under its tags (a new immutable tag written first and read back, aliases last, as M(regops.registry.tag_set)
    does), so a tag never points at something incomplete.
  - A rerun finds everything in place, writes nothing and reports C(changed=false).
author:
  - regops.registry maintainers (@regops)
extends_documentation_fragment:
  - regops.registry._connection
  - regops.registry._source
  - regops.registry._immutable
  - regops.registry._version
  - regops.registry._attributes
attributes:
  check_mode:
    support: full
    details:
      - Reports what would be copied (blobs, manifests, bytes) and every tag change, and writes nothing.
  diff_mode:
    support: full
    details:
      - The diff shows, per tag, the digest before and after.
options:
  source:
    description:
      - The image or index to copy, as C(repository:tag) or C(repository@sha256:...) on O(registry), or
        C(other-registry.example.com:5000/repository:tag) on another registry (credentials in O(source_username),
        O(source_password), or the Docker config file).
      - A bare tag or digest names one in O(repository) itself, to point more tags at it.
    type: str
    required: true
  repository:
    description:
      - The repository of O(registry) to copy into, for example C(battlescope-prod/ingestion-service).
    type: str
    required: true
  tags:
    description:
      - Tags to point at the copy.
      - When neither O(tags) nor O(version) is given, the copy gets the source's tag. A source given by digest is
        then copied by digest only, untagged (a registry's garbage collection with C(--delete-untagged) removes
        such manifests).
    type: list
    elements: str
    default: []
  suffix:
    description:
      - In semver mode (O(version)), a suffix of the release tag and its aliases, for example C(-amd64) to promote
        one architecture's image. Leave it out for a multi-arch index.
    type: str
    default: ''
  parallel:
    description:
      - How many blobs are copied, and how many requests of the plan run, at once (1 to 32).
    type: int
    default: 4
notes:
  - Foreign layers (Windows base layers with C(urls)) are not stored by registries and are not copied.
  - Referrers of the source (signatures and attestations by C(subject), cosign's C(.sig) tags) are not copied.
    Copy them with a task of their own.
seealso:
  - module: regops.registry.image_info
  - module: regops.registry.manifest_push
  - module: regops.registry.tag_set
'''

EXAMPLES = r'''
- name: Promote a release from staging to production on the same registry (blobs are mounted, not sent)
  regops.registry.image_copy:
    registry: registry.example.com:5000
    username: ci
    password: "{{ registry_password }}"
    source: battlescope-staging/ingestion-service:v3.0.0
    repository: battlescope/ingestion-service

- name: Promote from another registry, with the release's aliases on the target
  regops.registry.image_copy:
    registry: registry.example.com:5000
    username: ci
    password: "{{ registry_password }}"
    source: staging.example.com:5000/battlescope/ingestion-service:v3.0.0
    source_username: promoter
    source_password: "{{ staging_password }}"
    repository: battlescope/ingestion-service
    version: v3.0.0
  register: promoted

- name: Show what the promotion sent
  ansible.builtin.debug:
    msg: "{{ promoted.blobs.uploaded }} blobs ({{ promoted.blobs.bytes_sent }} bytes), {{ promoted.manifests_written }} manifests"

- name: Set the connection options once for every module of the collection
  module_defaults:
    group/regops.registry.registry:
      registry: registry.example.com:5000
      username: ci
      password: "{{ registry_password }}"
  block:
    - name: Copy the image a build job reported, by its digest, and tag it
      regops.registry.image_copy:
        source: "battlescope-staging/ingestion-service@{{ build_digest }}"
        repository: battlescope/ingestion-service
        tags:
          - v3.0.0-amd64
'''

RETURN = r'''
msg:
  description: A one-line summary of what was copied (or would be, in check mode).
  returned: always
  type: str
  sample: >-
    registry.example.com:5000/battlescope/ingestion-service: copied index sha256:9b2e... from
    staging.example.com:5000/battlescope/ingestion-service; blobs 0 present, 6 uploaded (58213921 bytes), 0 mounted;
    3 manifests written; tags 4 created, 0 moved, 0 unchanged, 0 skipped
registry:
  description: The target registry, as C(host:port).
  returned: success
  type: str
  sample: registry.example.com:5000
repository:
  description: The target repository.
  returned: success
  type: str
  sample: battlescope/ingestion-service
digest:
  description: The digest of the image or index copied, the same in the source and the target.
  returned: success
  type: str
  sample: sha256:9b2e1c4dd7f0a28bcf1a0aa0e1f4f4a9e5b8f7fd0d0f6e2b8c2a0d5c3b1e4f7a
media_type:
  description: Its media type.
  returned: success
  type: str
  sample: application/vnd.oci.image.index.v1+json
source:
  description: Where it was copied from.
  returned: success
  type: dict
  sample: {registry: "staging.example.com:5000", repository: battlescope/ingestion-service, reference: v3.0.0,
           digest: "sha256:9b2e..."}
  contains:
    registry:
      description: The source registry, as C(host:port).
      type: str
      returned: always
    repository:
      description: The source repository.
      type: str
      returned: always
    reference:
      description: The source tag or digest, as given.
      type: str
      returned: always
    digest:
      description: The source's digest.
      type: str
      returned: always
tags:
  description: One entry per target tag, as returned by M(regops.registry.tag_set).
  returned: success
  type: list
  elements: dict
  contains:
    tag:
      description: The tag.
      type: str
      returned: always
    action:
      description: C(created), C(moved), C(unchanged), or C(skipped) for an alias held back in semver mode.
      type: str
      returned: always
    kind:
      description: C(tag) for a tag of O(tags) or the source's tag; in semver mode C(release), C(minor), C(major) or C(latest).
      type: str
      returned: always
    reason:
      description: Why an alias was held back.
      type: str
      returned: when skipped
    before:
      description: The tag's digest before, or null.
      type: str
      returned: always
    after:
      description: The tag's digest after.
      type: str
      returned: always
blobs:
  description: What was done with the blobs of the manifests the target lacked (or would be, in check mode).
  returned: success
  type: dict
  sample: {present: 2, uploaded: 4, mounted: 0, bytes_sent: 41234567}
  contains:
    present:
      description: Blobs the target repository had already.
      type: int
      returned: always
    uploaded:
      description: Blobs copied (sent).
      type: int
      returned: always
    mounted:
      description: Blobs mounted from the source repository on the same registry.
      type: int
      returned: always
    bytes_sent:
      description: Bytes of the blobs copied.
      type: int
      returned: always
manifests_written:
  description: Manifests written (images of an index by digest, and the top manifest once however many tags it got).
  returned: success
  type: int
  sample: 3
diff:
  description: The tags' digests before and after, with C(--diff).
  returned: when diff mode is on
  type: dict
error:
  description: The type of error, when the module fails (for example C(ImmutableTagError), C(ManifestNotFoundError)).
  returned: failure
  type: str
  sample: ImmutableTagError
'''

from ansible_collections.regops.registry.plugins.module_utils._image_copy import run_image_copy
from ansible_collections.regops.registry.plugins.module_utils._module import SOURCE_OPTIONS, registry_module, run
from ansible_collections.regops.registry.plugins.module_utils._tags import IMMUTABLE_OPTION, VERSION_OPTIONS


def main():
    module = registry_module(
        dict(
            source=dict(type='str', required=True),
            repository=dict(type='str', required=True),
            tags=dict(type='list', elements='str', default=[]),
            suffix=dict(type='str', default=''),
            parallel=dict(type='int', default=4),
            immutable=IMMUTABLE_OPTION,
            **dict(VERSION_OPTIONS, **SOURCE_OPTIONS)
        ),
        supports_check_mode=True,
    )
    run(module, lambda client, m: run_image_copy(client, m.params, check_mode=m.check_mode, diff=m._diff))


if __name__ == '__main__':
    main()
