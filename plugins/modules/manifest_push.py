#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) regops.registry contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: manifest_push
short_description: Push multi-arch indexes, and images from OCI layouts or docker archives, without a Docker daemon
version_added: 0.1.0
description:
  - Replaces C(docker manifest create/push) and C(docker push) in a release pipeline, through the registry's HTTP API.
  - With O(manifests), assembles a multi-arch index and points O(tags) at it. Its images are in the registry
    (O(manifests[].ref)) or on disk (O(manifests[].src)), and each can get tags of its own (O(manifests[].tags)), so
    one task pushes a whole multi-arch release (C(v3.0.0-amd64), C(v3.0.0-arm64) and the index C(v3.0.0)).
    Docker schema 2 images make a Docker manifest list, OCI images an OCI image index; mixing them, or listing an
    index, is refused. Images from disk go up as with O(src); images from another repository of the same registry
    are brought in first (their blobs mounted, or copied when the registry declines). Then each image manifest is
    written (under its tags, or by digest), and the index goes up last.
  - Images on another registry (a promotion from staging) are copied blob by blob, each streamed from that registry
    through a temporary file to this one; blobs the repository already has are skipped.
  - With O(src), pushes an image from disk, an OCI image layout directory or a C(docker save) tarball. A layout
    whose image is an index pushes every child and then the index.
  - Everything is read and verified first (every blob of O(src) is hashed; a corrupt source is refused before
    anything is written), then blobs go up, then manifests, then tags. Blobs the repository has are skipped;
    the same input gives the same bytes, so a rerun transfers nothing and reports C(changed=false).
  - Full release tags are immutable as in M(regops.registry.tag_set). Every tag, of the index and of its images, is
    checked before anything is written, so a release that would move one writes nothing.
  - In semver mode (O(version)), the images of the index go up, then the index under its fixed tag, then the images
    under theirs; only then do the floating aliases move, so a consumer of C(latest) never gets a release with an
    image missing.
  - The first new immutable tag (the index's, or an image's when the index has none to create) is claimed before
    the others. It is read again just before it is written, written, left to settle (4 times as long as the write
    took, 0.25 to 5 seconds) and read back; every other new immutable tag is read again just before it is written,
    and all of them once more before any alias moves. Of two jobs releasing the same version at once, one goes on
    and the other fails with C(ConflictError). A registry has no conditional write, so a competing write held up
    longer than the settle time is seen only by the late job, which then fails with C(ConflictError).
author:
  - regops.registry maintainers (@regops)
extends_documentation_fragment:
  - regops.registry._connection
  - regops.registry._immutable
  - regops.registry._version
  - regops.registry._source
  - regops.registry._attributes
attributes:
  check_mode:
    support: full
    details:
      - Reports what would be uploaded (count and bytes), mounted and written, and every tag's action.
      - A missing blob of an image from disk counts as mounted when one of the O(mount_from) repositories has it.
        The missing blobs of images from other repositories count as mounted (a registry that declines a mount
        has them copied instead), and those of images on another registry as uploaded.
  diff_mode:
    support: full
    details:
      - The diff shows, per tag, the digest before and after.
options:
  repository:
    description:
      - The repository to push to, for example C(battlescope/ingestion-service).
    type: str
    required: true
  tags:
    description:
      - Tags to point at the pushed image or index.
      - At least one, unless O(version) gives the release tags.
    type: list
    elements: str
    default: []
  manifests:
    description:
      - Images for a multi-arch index, in the order they are listed in it.
      - Mutually exclusive with O(src); one of the two is required.
    type: list
    elements: dict
    suboptions:
      ref:
        description:
          - A tag or digest in O(repository), a reference to another repository of the same registry
            (C(team/app:v1), C(team/app@sha256:...), C(registry.example.com:5000/team/app:v1)), or an image on another
            registry (C(staging.example.com:5000/team/app:3.0.0-amd64)), which is copied (see O(source_username)).
          - Exactly one of O(manifests[].ref) and O(manifests[].src) is required.
        type: str
      src:
        description:
          - An image on disk, as O(src) takes it (an OCI layout directory or a C(docker save) tarball), pushed
            before the index. It must be one image, not an index (see O(manifests[].src_ref)).
        type: path
      src_ref:
        description:
          - When O(manifests[].src) holds several images, the one to push, as O(src_ref) takes it.
        type: str
      tags:
        description:
          - Tags to point at this image. Immutable ones are checked with the others.
        type: list
        elements: str
        default: []
      suffix:
        description:
          - In semver mode (O(version)), this image gets the release tag and aliases with this suffix, for example
            C(-amd64) gives C(v3.0.0-amd64), C(v3.0-amd64), C(v3-amd64) and C(latest-amd64), while the index gets
            C(v3.0.0), C(v3.0), C(v3) and C(latest).
          - It starts with C(-) and a letter. Without it, the image gets only its O(manifests[].tags).
        type: str
      platform:
        description:
          - The platform of this image in the index, with keys C(os) and C(architecture) (required) and
            C(variant), C(os.version), C(os.features).
          - Read from the image's config when not given.
        type: dict
  src:
    description:
      - An OCI image layout directory (for example what C(skopeo copy ... oci:DIR) or an unpacked
        C(docker buildx build --output type=oci) writes), or a C(docker save) tarball.
      - The layers of a docker archive are compressed with gzip and described by a Docker schema 2 manifest, so the
        image ID stays the same. The compression is reproducible for a given zlib; rerunning the same push from a
        host with another zlib build (zlib-ng, hardware deflate) gives other layer digests, and an immutable tag then
        refuses the new manifest.
    type: path
  src_ref:
    description:
      - When O(src) holds several images, the one to push, by its name in the layout
        (C(org.opencontainers.image.ref.name)) or one of its C(RepoTags) in a docker archive.
      - In a layout, also a manifest digest, for example one platform of an index whose other platforms were not exported.
    type: str
  mount_from:
    description:
      - With O(src) or O(manifests[].src), repositories of the same registry that may already hold some of the
        blobs; they are mounted from there instead of uploaded.
    type: list
    elements: str
    default: []
  parallel:
    description:
      - With O(src) or O(manifests[].src), how many blobs are uploaded at once (1 to 32).
    type: int
    default: 4
seealso:
  - module: regops.registry.tag_set
'''

EXAMPLES = r'''
- name: Assemble the multi-arch index of a release from its per-architecture images
  regops.registry.manifest_push:
    registry: registry.example.com:5000
    ca_path: /etc/regops/ca.crt
    repository: battlescope/ingestion-service
    manifests:
      - ref: v3.0.0-amd64
      - ref: v3.0.0-arm64
    tags:
      - v3.0.0

- name: Release v3.1.0 for two architectures from docker save archives, in one task
  # v3.1.0-amd64, v3.1.0-arm64 and the index v3.1.0 are written first (and refused, with nothing written, if one
  # exists with other content); then the aliases that move forward: vX.Y-<arch>, vX-<arch>, latest-<arch>, vX.Y, vX, latest.
  regops.registry.manifest_push:
    registry: registry.example.com:5000
    repository: battlescope/ingestion-service
    version: v3.1.0
    manifests:
      - src: /build/ingestion-service-amd64.tar
        suffix: -amd64
      - src: /build/ingestion-service-arm64.tar
        suffix: -arm64

- name: Push an image saved with docker save
  regops.registry.manifest_push:
    registry: registry.example.com:5000
    repository: battlescope/ingestion-service
    src: /build/ingestion-service-amd64.tar
    tags:
      - 3.0.0-amd64
  register: pushed

- name: Push a two-platform OCI layout, mounting shared layers from the base image repository
  regops.registry.manifest_push:
    registry: registry.example.com:5000
    repository: battlescope/ingestion-service
    src: /build/oci-layout
    mount_from:
      - battlescope/base
    tags:
      - 3.0.0
'''

RETURN = r'''
msg:
  description: A one-line summary of what was pushed (or would be, in check mode).
  returned: always
  type: str
registry:
  description: The registry, as C(host:port).
  returned: success
  type: str
repository:
  description: The repository.
  returned: success
  type: str
digest:
  description: The digest of the pushed image or index, which the tags point at.
  returned: success
  type: str
  sample: sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945
media_type:
  description: Its media type.
  returned: success
  type: str
  sample: application/vnd.oci.image.index.v1+json
tags:
  description: One entry per tag, as returned by M(regops.registry.tag_set).
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
      description: C(tag) for a tag given in O(tags); in semver mode C(release), C(minor), C(major) or C(latest).
      type: str
      returned: always
    reason:
      description: Why an alias was held back (the newer release it stays on).
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
children:
  description: With O(manifests), the images of the index, in its order.
  returned: success
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
      description: Its platform in the index.
      type: dict
      returned: always
      sample: {os: linux, architecture: arm64}
    tags:
      description: Its own tags (O(manifests[].tags)), each as in RV(tags).
      type: list
      elements: dict
      returned: always
blobs:
  description: What happened to the blobs (in check mode, what would).
  returned: success
  type: dict
  contains:
    present:
      description: Blobs the repository already had.
      type: int
      returned: always
    uploaded:
      description: Blobs uploaded (or copied through this host when a mount was declined).
      type: int
      returned: always
    mounted:
      description: Blobs mounted from another repository, with no bytes sent.
      type: int
      returned: always
    bytes_sent:
      description: Blob bytes sent.
      type: int
      returned: always
manifests_written:
  description: Manifests written, the children of an index and the index or image itself.
  returned: success
  type: int
error:
  description: The type of error, when the module fails.
  returned: failure
  type: str
'''

from ansible_collections.regops.registry.plugins.module_utils._manifest_push import run_manifest_push
from ansible_collections.regops.registry.plugins.module_utils._module import SOURCE_OPTIONS, registry_module, run
from ansible_collections.regops.registry.plugins.module_utils._tags import IMMUTABLE_OPTION, VERSION_OPTIONS


def main():
    module = registry_module(
        dict(
            repository=dict(type='str', required=True),
            tags=dict(type='list', elements='str', default=[]),
            manifests=dict(type='list', elements='dict', options=dict(
                ref=dict(type='str'),
                src=dict(type='path'),
                src_ref=dict(type='str'),
                tags=dict(type='list', elements='str', default=[]),
                suffix=dict(type='str'),
                platform=dict(type='dict'),
            ), mutually_exclusive=[('ref', 'src')], required_one_of=[('ref', 'src')], required_by={'src_ref': 'src'}),
            src=dict(type='path'),
            src_ref=dict(type='str'),
            mount_from=dict(type='list', elements='str', default=[]),
            parallel=dict(type='int', default=4),
            immutable=IMMUTABLE_OPTION,
            **dict(VERSION_OPTIONS, **SOURCE_OPTIONS)
        ),
        supports_check_mode=True,
        mutually_exclusive=[('manifests', 'src')],
        required_one_of=[('manifests', 'src')],
        required_by={'src_ref': 'src'},
    )
    run(module, lambda client, m: run_manifest_push(client, m.params, check_mode=m.check_mode, diff=m._diff))


if __name__ == '__main__':
    main()
