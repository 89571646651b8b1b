#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) regops.registry contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: retention_prune
short_description: Delete what a semver-aware retention policy condemns, never what it keeps
version_added: 0.1.0
description:
  - Applies a retention policy to repositories of a registry through its HTTP API, for example every night from
    a playbook or an AWX job.
  - B(Plan.) Every tag is resolved to its digest and decided by the policy (keep or delete, and the rule that
    decided). Then it marks and sweeps by digest. A digest is kept when any kept tag points at it. Every child of
    a kept multi-arch index is kept. A signature or attestation (tags C(sha256-<digest>.sig), C(.att), C(.sbom),
    C(sha256-<digest>)) is kept when its subject is kept, is deleted only after its subject was deleted, and is
    left alone (kept) when its subject is not deleted here. An image whose OCI C(subject) field names a kept
    manifest (a signature or attestation pushed as a referrer) is kept too, also under a tag a rule condemns.
    Only digests that nothing kept uses are deleted.
  - B(Deleting a manifest removes every tag that points at it.) A condemned tag whose image is kept through
    another tag is only untagged on registries that can delete a tag alone (the OCI tag delete). On registries
    that cannot (distribution 2.x), that tag stays (action C(stay)), and its C(reason) says why.
  - B(Fail closed.) If a kept index cannot be read, nothing is deleted in that repository. Nothing is deleted
    anywhere unless the registry accepts deletes; with deletes disabled (HTTP 405) the module fails before
    deleting anything. In check mode it warns instead.
  - B(Just before deleting), the tags of each repository are listed again and every tag not planned to go is
    resolved again. A new tag, or a kept tag that moved, protects the image it points at now. The tags planned
    with each digest are resolved again right before its delete; a tag that moved is not deleted, and neither is
    the image it moved to. Per-platform images go only after their index, signatures only after their subject.
    The registry API has no compare-and-swap, so a tag moved between that last check and the delete itself
    cannot be seen.
  - B(Image age) comes from the image's C(org.opencontainers.image.created) label, then the same annotation on
    the manifest, then the image config's C(created). A registry records no push time. For an index, the age is
    its own annotation, else the newest of its images. An image with none of these, or with the epoch time of a
    reproducible build, has no known age, and no rule condemns it for its age.
  - B(Disk space is not freed) by deleting manifests. Run the registry's garbage collection afterwards, with the
    registry read-only or stopped. The safe procedure is in the collection's C(docs/garbage-collection.md).
    Never use C(--delete-untagged) with distribution 2.x, because it also deletes the images of tagged multi-arch
    indexes. This module deletes the untagged children it creates itself (O(delete_untagged)).
  - B(Scale.) Planning costs one tag listing and one request per tag (a C(HEAD), or a C(GET) for a tag whose
    age a rule needs, plus one read of that image's config), one read of each kept or condemned index, one
    C(GET) of each condemned image not read for its age (for its C(subject)), and, where the registry has the
    referrers API, one request per manifest to delete. They run O(parallel) at a time. A real run then lists
    the tags again, resolves every tag again, and sends one C(DELETE) per manifest. Memory grows with the number
    of tags. The collection's C(benchmarks/retention_plan.py) measures a 5,000-tag repository.
author:
  - regops.registry maintainers (@regops)
extends_documentation_fragment:
  - regops.registry._connection
  - regops.registry._attributes
attributes:
  check_mode:
    support: full
    details:
      - Returns the full plan and deletes nothing. To tell untag from stay, and whether deletes are enabled, the
        module sends C(DELETE) requests for a digest and a tag that do not exist. These delete nothing. A user who
        may not delete gets the plan and a warning; the plan then assumes tags cannot be deleted alone.
  diff_mode:
    support: full
    details:
      - The diff shows the tags of every repository (C(repository:tag)) before and after.
options:
  repository:
    description:
      - The repositories to prune, one or a list, for example C(battlescope/ingestion-service).
      - Exactly one of O(repository) and O(repository_pattern) is required.
    type: list
    elements: str
  repository_pattern:
    description:
      - A regular expression matched against the whole name of each repository in the registry's catalog
        (C(/v2/_catalog)), for example C(battlescope/.*).
      - The user needs catalog access (with token authentication, the C(registry:catalog:*) scope).
    type: str
  protect:
    description:
      - Regular expressions (searched, so anchor them) for tags that are always kept, whatever the rules say.
        For example C(^prod-) or C(^stable$).
    type: list
    elements: str
    default: []
  rules:
    description:
      - The retention rules, in order. The first rule that selects a tag decides it. A tag that no rule selects
        is kept.
      - A rule selects the tags that match all the selectors it has (O(rules[].match), O(rules[].prefixes),
        O(rules[].semver)). It needs at least one selector. O(rules[].match=.*) selects every tag.
      - A O(rules[].semver) rule keeps by version lines. Any other rule keeps the newest O(rules[].keep_newest)
        images, or condemns those older than O(rules[].older_than_days), or both. With both, a tag is condemned
        only when both conditions hold.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - A name for the rule, used in every decision it makes. The default is C(rule <position>).
        type: str
      match:
        description:
          - A regular expression that the tag must contain (searched), for example C(-dev-).
        type: str
      prefixes:
        description:
          - The tag must start with one of these, as in ECR's C(tagPrefixList).
        type: list
        elements: str
      semver:
        description:
          - Selects release tags C([v]X.Y.Z[-prerelease]<suffix>) and their aliases C([v]X.Y<suffix>),
            C([v]X<suffix>) and C(latest<suffix>), where the suffix is one of O(suffixes). A per-architecture tag
            (C(v3.0.0-amd64)) follows its release.
          - Keeps the newest release of each major version (or of the newest O(rules[].semver.majors)).
          - Keeps the last O(rules[].semver.minors) minor versions of the current (highest) major, and the last
            O(rules[].semver.patches) patch versions of each of them.
          - Keeps every C(latest) tag. An alias is kept when its version line has a kept release, and condemned
            when all releases of its line are condemned.
          - Condemns every other stable release (superseded patches, minor versions beyond the count, older
            releases of older majors).
          - Prereleases are selected only when O(rules[].semver.prereleases) is set.
          - C(v3.0.0) and C(3.0.0) are the same version.
        type: dict
        suboptions:
          majors:
            description:
              - Keep the newest release of only this many major versions, the newest ones. When not given, every
                major version keeps its newest release.
            type: int
          minors:
            description:
              - How many minor versions of the current major to keep, the newest ones.
            type: int
            default: 10
          patches:
            description:
              - How many patch versions of each kept minor version to keep, the newest ones.
            type: int
            default: 5
          prereleases:
            description:
              - Select prereleases too. Keep the newest this many of those newer than every stable release, and
                condemn the others. A prerelease older than a stable release is condemned as superseded.
              - When not given, prereleases are left to the next rules.
            type: int
      keep_newest:
        description:
          - Keep the newest this many images (distinct digests), as ECR's C(imageCountMoreThan) does, and condemn
            the rest. With O(rules[].order=semver), versions are counted instead. The per-architecture tags of
            one version count once.
          - C(0) condemns every tag the rule selects, unless O(rules[].older_than_days) is also given.
        type: int
      older_than_days:
        description:
          - Condemn images created more than this many days ago (see the description for how age is read).
        type: int
      order:
        description:
          - How O(rules[].keep_newest) ranks the selected tags. C(created) ranks images by creation time and is
            used when this is not given. An image of unknown age cannot be ranked. It is kept and does not count
            among the newest, except that O(rules[].keep_newest=0) condemns it like every image the rule selects.
          - C(semver) ranks by version, and such a rule selects only tags that read as a version.
        type: str
        choices: [created, semver]
  suffixes:
    description:
      - Per-architecture tag suffixes. A tag such as C(v3.0.0-amd64) is read as release C(v3.0.0) of that
        architecture, not as a prerelease.
      - Each starts with C(-) and a letter.
    type: list
    elements: str
    default: [-amd64, -arm64, -armv7, -armv6, -arm, -ppc64le, -s390x, -riscv64]
  delete_untagged:
    description:
      - Also delete the manifests that deleting the condemned ones leaves untagged and unused. These are the
        children (per-architecture images) of condemned indexes that no kept index uses and no tag names, and,
        where the registry has the OCI referrers API, the referrers of condemned manifests.
      - The distribution API cannot list other untagged manifests, so those are left to garbage collection.
    type: bool
    default: true
  parallel:
    description:
      - How many requests run at once while planning and deleting (1 to 32).
    type: int
    default: 4
notes:
  - A repository that cannot be planned or pruned (a kept index that cannot be read, a repository that does not
    exist) is reported in its entry. Its siblings are still pruned, and the module then fails, naming each failed
    repository.
seealso:
  - module: regops.registry.tag_set
  - name: Garbage collection
    description: The registry's garbage collection, which frees the disk space of deleted manifests.
    link: https://distribution.github.io/distribution/about/garbage-collection/
'''

EXAMPLES = r'''
- name: Nightly retention of a service's images
  regops.registry.retention_prune:
    registry: registry.example.com:5000
    username: housekeeping
    password: "{{ registry_password }}"
    repository: battlescope/ingestion-service
    protect:
      - ^prod-
      - ^stable$
    rules:
      - name: releases
        semver:            # newest of each major, last 10 minors of the current major, last 5 patches of each
          minors: 10
          patches: 5
      - name: dev builds
        match: -dev-
        older_than_days: 30
      - name: feature branches
        prefixes: [feature-]
        keep_newest: 5
        older_than_days: 14
  register: pruned

- name: Show what was decided and why
  ansible.builtin.debug:
    msg: "{{ item.tag }}: {{ item.action }} ({{ item.rule }}: {{ item.reason }})"
  loop: "{{ pruned.repositories[0].tags }}"
  loop_control:
    label: "{{ item.tag }}"

- name: Preview the policy over every repository of a team (check mode deletes nothing)
  regops.registry.retention_prune:
    registry: registry.example.com:5000
    docker_config: /home/ci/.docker/config.json
    repository_pattern: battlescope/.*
    rules:
      - name: pull requests
        match: ^pr-[0-9]+-
        keep_newest: 20
  check_mode: true
  diff: true
'''

RETURN = r'''
msg:
  description: A one-line summary of the plan (and, in a real run, of what was deleted).
  returned: always
  type: str
  sample: >-
    registry.example.com:5000: 1 repositories: 96 tags kept, 41 deleted, 0 untagged, 2 stay; 30 manifests to delete;
    deleted 30 manifests, untagged 0 tags
registry:
  description: The registry, as C(host:port).
  returned: always
  type: str
  sample: registry.example.com:5000
repositories:
  description:
    - One entry per repository, in the order planned. In check mode, the plan. In a real run, the same plan with
      the outcome of each delete.
  returned: always
  type: list
  elements: dict
  contains:
    repository:
      description: The repository.
      type: str
      returned: always
    tags:
      description: Every tag, by name, with what the policy decided.
      type: list
      elements: dict
      returned: always
      sample:
        - {tag: v2.9.5, digest: "sha256:0a1b...", action: keep, rule: releases, reason: the newest release of major 2}
        - {tag: v3.0.1, digest: "sha256:3c4d...", action: delete, rule: releases, outcome: deleted,
           reason: "superseded: 3.0.1 is beyond the last 5 patches of 3.0"}
      contains:
        tag:
          description: The tag.
          type: str
          returned: always
        digest:
          description: The digest the tag pointed at when planned.
          type: str
          returned: always
        action:
          description:
            - C(keep), C(delete) (it goes with its image), C(untag) (its image is kept, only the tag is removed),
              or C(stay) (condemned, but its image is kept and the registry cannot delete a tag alone).
          type: str
          returned: always
        rule:
          description:
            - The rule that decided, C(protect), C(subject) for a signature or attestation, or null when no rule
              selected the tag.
          type: str
          returned: always
        reason:
          description: Why.
          type: str
          returned: always
        outcome:
          description:
            - In a real run, for a tag that was to go. C(deleted), C(untagged), C(gone before the delete), or
              C(skipped) followed by the reason, for example a tag that moved after planning.
          type: str
          returned: when something was done or skipped
    manifests:
      description: The manifests to delete, by digest.
      type: list
      elements: dict
      returned: always
      contains:
        digest:
          description: The manifest's digest.
          type: str
          returned: always
        kind:
          description:
            - C(tagged) for the image of condemned tags, C(child) for an image of condemned indexes,
              C(referrer) for a referrer of a condemned manifest.
          type: str
          returned: always
        tags:
          description: The condemned tags that point at it.
          type: list
          elements: str
          returned: always
        parents:
          description:
            - The deleted manifests it goes with, and is deleted after. These are the indexes of a child, or the
              subject of a signature or referrer.
          type: list
          elements: str
          returned: when it goes with other manifests
        reason:
          description: Why it is deleted.
          type: str
          returned: always
        outcome:
          description: In a real run, C(deleted), C(gone before the delete), or C(skipped) followed by the reason.
          type: str
          returned: in a real run, for each manifest a delete was attempted or skipped for
    summary:
      description: The number of tags for each action, and of manifests to delete.
      type: dict
      returned: always
      sample: {keep: 96, delete: 41, untag: 0, stay: 2, manifests: 30}
    deleted:
      description: What was deleted, C(manifests) (digests) and C(tags) (deleted or untagged).
      type: dict
      returned: in a real run
    notes:
      description: Things the plan could not do, for example referrers left to garbage collection.
      type: list
      elements: str
      returned: always
    error:
      description: Why this repository was not planned or pruned (in a failure result).
      type: str
      returned: when the repository failed
error:
  description: The type of error, when the module fails (for example C(UnsupportedError) when deletes are disabled).
  returned: failure
  type: str
  sample: UnsupportedError
'''

from ansible_collections.regops.registry.plugins.module_utils._module import registry_module, run
from ansible_collections.regops.registry.plugins.module_utils._retention import DEFAULT_SUFFIXES, ORDERS, SEMVER_DEFAULTS
from ansible_collections.regops.registry.plugins.module_utils._retention_prune import run_retention_prune


def main():
    module = registry_module(
        dict(
            repository=dict(type='list', elements='str'),
            repository_pattern=dict(type='str'),
            protect=dict(type='list', elements='str', default=[]),
            rules=dict(type='list', elements='dict', required=True, options=dict(
                name=dict(type='str'),
                match=dict(type='str'),
                prefixes=dict(type='list', elements='str'),
                semver=dict(type='dict', options=dict(
                    majors=dict(type='int'),
                    minors=dict(type='int', default=SEMVER_DEFAULTS['minors']),
                    patches=dict(type='int', default=SEMVER_DEFAULTS['patches']),
                    prereleases=dict(type='int'),
                )),
                keep_newest=dict(type='int'),
                older_than_days=dict(type='int'),
                order=dict(type='str', choices=list(ORDERS)),
            )),
            suffixes=dict(type='list', elements='str', default=list(DEFAULT_SUFFIXES)),
            delete_untagged=dict(type='bool', default=True),
            parallel=dict(type='int', default=4),
        ),
        supports_check_mode=True,
        mutually_exclusive=[('repository', 'repository_pattern')],
        required_one_of=[('repository', 'repository_pattern')],
    )
    run(module, lambda client, m: run_retention_prune(client, m.params, check_mode=m.check_mode, diff=m._diff))


if __name__ == '__main__':
    main()
