# -*- coding: utf-8 -*-
# Copyright (c) regops.registry contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module util is PRIVATE to the collection: it may change at any time.
"""Planner and executor of ``image_copy``: an image or a whole multi-arch index, from a repository of this
registry or of another one, into a repository of this registry, byte for byte (so every digest stays the same).

The plan reads everything first: the source manifest, and unless the target already has it by digest, every image
an index lists (those the target lacks), and which of their blobs the target lacks (one HEAD each); the target's
tags, with every immutable one checked. Then the writes go in dependency order: blobs (mounted from the source
repository on the same registry, else copied), the images of an index by digest, and the top manifest under its
tags (``_tags.apply_tag_changes``: a new immutable tag claimed first, aliases last), or by digest when no tag is
asked for. Check mode stops after the plan.
"""

from __future__ import annotations

from ansible_collections.regops.registry.plugins.module_utils._blobs import (
    Stats,
    bring_blobs,
    count_planned_copies,
    image_descriptors,
    writing,
)
from ansible_collections.regops.registry.plugins.module_utils._client import INDEX_MEDIA_TYPES
from ansible_collections.regops.registry.plugins.module_utils._errors import InvalidInputError, NotFoundError
from ansible_collections.regops.registry.plugins.module_utils._index import index_children
from ansible_collections.regops.registry.plugins.module_utils._parallel import map_parallel, run_parallel, validate_parallel
from ansible_collections.regops.registry.plugins.module_utils._reference import is_digest, parse_any_reference, validate_repository, validate_tag
from ansible_collections.regops.registry.plugins.module_utils._tags import (
    apply_tag_changes,
    compile_immutable,
    existing_tags,
    head_references,
    parse_release,
    plan_tag_changes,
    tag_result,
    tag_summary,
    tags_changed,
    wanted_tags,
)

# An index may list indexes (nested); deeper than this is refused rather than followed.
MAX_DEPTH = 4


class CopyPlan(object):
    """What a copy reads and would write."""

    def __init__(self, holder, source_repository, reference, top):
        self.holder = holder  # the client of the registry copied from (the target's own, or a peer)
        self.source_repository = source_repository
        self.reference = reference
        self.top = top  # the source Manifest
        self.top_present = False  # the target repository has it by digest already
        self.levels = []  # manifests below the top the target lacks, to put by digest: lists, by height (see _plan_content)
        self.copies = []  # (descriptor, holder, source repository) of blobs the target lacks
        self.present = 0  # blobs of the missing manifests the target has already
        self.changes = []  # TagChange of every target tag

    @property
    def manifests(self):
        return [manifest for level in self.levels for manifest in level]


def _validate(client, params):
    registry = client.address.name
    repository = validate_repository(params['repository'], registry=registry)
    tags = list(dict.fromkeys(params['tags'] or []))
    for tag in tags:
        validate_tag(tag, registry=registry, repository=repository)
    version = None
    if params.get('version') is not None:
        version = parse_release(params['version'], params['aliases'], registry, repository, params['suffix'])
    elif params['suffix']:
        raise InvalidInputError('suffix is used with version only', registry=registry, repository=repository)
    return repository, tags, version, compile_immutable(params['immutable']), validate_parallel(params['parallel'])


def plan_copy(client, params):
    """Read the source and the target and work out every write. Reads only; raises before any write is possible."""
    repository, tags, version, patterns, parallel = _validate(client, params)
    address, source_repository, reference = parse_any_reference(params['source'], client.address)
    holder = client.client_for(address)
    source_repository = source_repository or repository
    same_place = holder is client and source_repository == repository
    if not tags and version is None and not is_digest(reference):
        tags = [reference]  # the source's tag, as a promotion usually wants
    if same_place and not tags and version is None:
        raise InvalidInputError('the source %s is in %s itself: give tags (or version) to point at it, or another '
                                'repository to copy to' % (params['source'], repository),
                                registry=client.address.name, repository=repository)
    try:
        top = holder.get_existing_manifest(source_repository, reference)
    except NotFoundError as exc:
        exc.message = 'the source %s: %s' % (params['source'], exc.message)
        exc.hint = exc.hint or 'Check the source reference and the source registry'
        raise
    plan = CopyPlan(holder, source_repository, reference, top)

    existing = ()
    if version is not None or holder is not client:
        # Also the one GET of the target when everything else it is asked is a HEAD: a server that answers 404 to
        # everything (not a registry) must fail the plan, not pass for an empty registry.
        existing = existing_tags(client, repository)
    wanted = wanted_tags(tags, version, existing, params['suffix'], params['aliases'])
    heads = head_references(client, repository, list(wanted) + [top.digest], parallel)
    plan.changes = plan_tag_changes(client, repository, top.digest, wanted, patterns, heads=heads)
    plan.top_present = heads[top.digest] is not None
    if not plan.top_present:
        _plan_content(client, repository, plan, parallel)
    return plan, patterns, parallel


def _plan_content(client, repository, plan, parallel):
    """The manifests and blobs of ``plan.top`` the target lacks, read level by level (the images an index lists, the
    images of an index it lists, ...). A manifest the target has by digest is complete there (a registry accepts a
    manifest only once it has everything it names), so it is not opened.

    ``plan.levels`` orders the missing manifests so that each goes up after everything it lists: by height (an
    image 0, an index one more than the highest manifest it lists that is missing), whatever level it was first
    seen at (an image can be listed by the top index and by an index inside it)."""
    holder, source_repository = plan.holder, plan.source_repository
    where = '%s/%s' % (holder.address.name, source_repository)
    blobs = {}
    fetched = {}  # digest: Manifest, of every manifest below the top the target lacks
    lists = {}  # digest of an index: the missing manifests it lists
    seen = set()
    frontier = [plan.top]
    depth = 0
    while frontier:
        if depth > MAX_DEPTH:
            raise InvalidInputError('%s nests indexes more than %d deep; refusing to follow it' % (where, MAX_DEPTH),
                                    registry=holder.address.name, repository=source_repository, reference=plan.reference)
        listed = {}  # digest: the index that lists it (the first one)
        for manifest in frontier:
            what = 'the manifest %s@%s' % (where, manifest.digest)
            if manifest.media_type in INDEX_MEDIA_TYPES:
                children = [digest for digest, _type in index_children(manifest, what)]
                lists[manifest.digest] = children
                for digest in children:
                    if digest not in seen:
                        listed.setdefault(digest, manifest)
            else:
                for desc in image_descriptors(manifest, what):
                    if not desc.get('urls'):  # a foreign layer (urls) is not stored by registries, and not copied
                        blobs.setdefault(desc['digest'], desc)
        seen.update(listed)
        present = head_references(client, repository, list(listed), parallel) if listed else {}
        missing = [digest for digest in listed if present[digest] is None]
        found = map_parallel(missing, lambda digest: _source_child(holder, source_repository, digest, listed[digest], plan),
                             parallel)
        fetched.update(found)
        frontier = [found[digest] for digest in missing]
        depth += 1

    heights = {}

    def height(digest):
        if digest not in heights:
            below = [child for child in lists.get(digest, ()) if child in fetched]
            heights[digest] = 1 + max(height(child) for child in below) if below else 0
        return heights[digest]

    for digest in fetched:
        height(digest)
    plan.levels = [[fetched[digest] for digest in fetched if heights[digest] == level]
                   for level in sorted(set(heights[digest] for digest in fetched))]
    sizes = map_parallel(list(blobs), lambda digest: client.blob_size(repository, digest), parallel)
    plan.present = len([digest for digest in blobs if sizes[digest] is not None])
    plan.copies = [(desc, holder, source_repository) for digest, desc in blobs.items() if sizes[digest] is None]


def _source_child(holder, source_repository, digest, parent, plan):
    try:
        return holder.get_manifest(source_repository, digest)
    except NotFoundError as exc:
        exc.message = 'the index %s lists %s, which the source repository does not have' % (
            plan.reference if parent is plan.top else parent.digest, digest)
        exc.hint = 'The source index is incomplete (an image deleted or garbage-collected): push it again'
        raise


def run_image_copy(client, params, check_mode=False, diff=False):
    """Plan, copy (unless in check mode) and build the module result."""
    plan, patterns, parallel = plan_copy(client, params)
    repository = params['repository']
    stats = Stats()
    stats.present = plan.present
    put_top = not plan.top_present and not tags_changed(plan.changes)  # untagged copy, by digest
    if check_mode:
        count_planned_copies(client, plan.copies, stats)
        stats.manifests_written = len(plan.manifests) + (1 if put_top or tags_changed(plan.changes) else 0)
    else:
        def count(*_args):
            stats.manifests_written += 1

        def write():
            bring_blobs(client, repository, plan.copies, parallel, stats)
            for level in plan.levels:
                run_parallel(level, lambda manifest: client.put_manifest(repository, manifest.digest, manifest), parallel,
                             done=count)
            if put_top:
                client.put_manifest(repository, plan.top.digest, plan.top)
                count()
            elif tags_changed(plan.changes):
                apply_tag_changes(client, repository, plan.top, plan.changes, patterns)
                count()

        writing(stats, write)

    result = tag_result(client, repository, plan.top, plan.changes, diff=diff)
    result['changed'] = stats.wrote or tags_changed(plan.changes)
    result['source'] = {'registry': plan.holder.address.name, 'repository': plan.source_repository,
                        'reference': plan.reference, 'digest': plan.top.digest}
    result['blobs'] = stats.as_dict()
    result['manifests_written'] = stats.manifests_written
    kind = 'index' if plan.top.media_type in INDEX_MEDIA_TYPES else 'image'
    result['msg'] = '%s/%s: %s %s %s from %s/%s; %s; tags %s' % (
        client.address.name, repository, 'would copy' if check_mode and result['changed'] else
        ('copied' if result['changed'] else 'already has'), kind, plan.top.digest, plan.holder.address.name,
        plan.source_repository, stats.summary(), tag_summary(plan.changes) if plan.changes else 'none asked (copied by digest)')
    return result
