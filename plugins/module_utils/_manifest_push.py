# -*- coding: utf-8 -*-
# Copyright (c) regops.registry contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module util is PRIVATE to the collection: it may change at any time.
"""Planner and executor of ``manifest_push``.

Two modes share one shape: read and verify everything, work out every write (blobs missing from the target,
manifests missing by digest, tags to create or move, immutable tags checked), then write in dependency order:
blobs, then the manifests that use them, then the tags. Check mode stops after the plan.

* ``src``: an image from disk (``_image_source``). Blobs the target has are skipped (HEAD); the others are
  mounted from ``mount_from`` repositories that have them, else uploaded, in parallel.
* ``manifests``: a multi-arch index (``_index``) of images in the registry or on disk, each with tags of its own
  if asked (``v3.0.0-amd64``). Children from disk go up as ``src`` does; children from other repositories are
  brought in first (their blobs mounted, or copied when the registry declines), then each child manifest (by
  digest, or under its tags); the index goes up last, under the tags. Every tag of the index and of its children
  is planned, and every immutable one checked, before the first write.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from ansible_collections.regops.registry.plugins.module_utils._blobs import (
    Stats,
    bring_blobs,
    count_planned_copies,
    image_descriptors,
    writing,
)
from ansible_collections.regops.registry.plugins.module_utils._errors import (
    InvalidInputError,
    NotFoundError,
    UnsupportedError,
)
from ansible_collections.regops.registry.plugins.module_utils._image_source import load_source
from ansible_collections.regops.registry.plugins.module_utils._index import INDEX_FOR, build_index, platform_of, validate_platform
from ansible_collections.regops.registry.plugins.module_utils._parallel import map_parallel, run_parallel, validate_parallel
from ansible_collections.regops.registry.plugins.module_utils._reference import (
    parse_any_reference,
    validate_repository,
    validate_tag,
)
from ansible_collections.regops.registry.plugins.module_utils._semver import ALIASES, validate_suffix
from ansible_collections.regops.registry.plugins.module_utils._tags import (
    SKIPPED,
    Release,
    apply_tag_changes,
    compile_immutable,
    existing_tags,
    fixed_changes,
    floating_changes,
    head_references,
    parse_release,
    plan_tag_changes,
    put_tags,
    refuse_immutable,
    tag_result,
    tag_summary,
    tags_changed,
    wanted_tags,
)


class _TagPlanner(object):
    """Plans the tags of the pushed image or index and of each image of an index, against one immutable list.

    In semver mode (``version``) the top gets the release tag and aliases with no suffix, and an image of an index
    with a ``suffix`` gets them with its suffix; the repository's tags are listed once, for all of them.
    """

    def __init__(self, client, repository, tags, patterns, version, aliases, parallel):
        self.client = client
        self.repository = repository
        self.tags = tags
        self.patterns = patterns
        self.version = version
        self.aliases = aliases
        self.parallel = parallel
        self._existing = None

    def existing(self):
        if self._existing is None:
            self._existing = existing_tags(self.client, self.repository)
        return self._existing

    def wanted(self, tags, suffix=None):
        """The tags to set (``wanted_tags``): ``tags``, and in semver mode with a suffix the release tags."""
        if self.version is None or suffix is None:
            return wanted_tags(tags)
        return wanted_tags(tags, self.version, self.existing(), suffix, self.aliases)

    def heads(self, references):
        """What ``references`` (tags, digests) point at in the repository, read ``parallel`` at a time."""
        return head_references(self.client, self.repository, references, self.parallel)

    def changes(self, digest, wanted, heads):
        """``TagChange``s of ``wanted`` for ``digest``, from ``heads``; checked later, with the others (``check``)."""
        return plan_tag_changes(self.client, self.repository, digest, wanted, self.patterns, check=False, heads=heads)

    def check(self, plans):
        """Before any write: every immutable tag that would move, of every plan (a list of (digest, changes)), in one
        error; and no tag asked for two images."""
        every = [change for _digest, changes in plans for change in changes]
        refuse_immutable(self.client, self.repository, every, self.patterns)
        claimed = {}
        for digest, changes in plans:
            for change in changes:
                if change.action != SKIPPED and claimed.setdefault(change.tag, digest) != digest:
                    raise InvalidInputError('the tag %s is asked for two images (%s and %s): give each image its own '
                                            'tags and suffix' % (change.tag, claimed[change.tag], digest),
                                            registry=self.client.address.name, repository=self.repository)


def _validate_common(client, params):
    registry = client.address.name
    repository = validate_repository(params['repository'], registry=registry)
    tags = list(dict.fromkeys(params['tags'] or []))
    version = None
    aliases = list(ALIASES) if params.get('aliases') is None else params['aliases']
    if params.get('version') is not None:
        version = parse_release(params['version'], aliases, registry, repository)
    elif not tags:
        raise InvalidInputError('give at least one tag for the pushed image, or version for its release tags',
                                registry=registry, repository=repository)
    for tag in tags:
        validate_tag(tag, registry=registry, repository=repository)
    parallel = validate_parallel(params['parallel'])
    planner = _TagPlanner(client, repository, tags, compile_immutable(params['immutable']), version, aliases, parallel)
    return repository, planner, parallel


def run_manifest_push(client, params, check_mode=False, diff=False):
    """Validate, plan, write (unless in check mode) and build the module result."""
    repository, planner, parallel = _validate_common(client, params)
    mount_from = [validate_repository(r, registry=client.address.name) for r in params['mount_from']]
    stats = Stats()
    children = []
    workdir = tempfile.mkdtemp(prefix='regops-push-')
    try:
        if params['src'] is not None:
            top, changes = _push_source(client, repository, planner, params['src'], params['src_ref'], mount_from,
                                        parallel, stats, os.path.join(workdir, 'layers'), check_mode)
        else:
            top, changes, children = _push_index(client, repository, planner, params['manifests'], mount_from,
                                                 parallel, stats, workdir, check_mode)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    every_change = changes + [c for child in children for c in child.changes]
    changed = stats.wrote or tags_changed(every_change)
    result = tag_result(client, repository, top, changes, diff=diff)
    result['children'] = [child.as_dict() for child in children]
    if diff:
        for child in children:
            result['diff']['before'].update((c.tag, c.before) for c in child.changes if c.before)
            result['diff']['after'].update((c.tag, c.after) for c in child.changes if c.after)
    result['changed'] = changed
    result['blobs'] = stats.as_dict()
    result['manifests_written'] = stats.manifests_written
    result['msg'] = '%s/%s: %s %s %s; %s; tags %s' % (
        client.address.name, repository, 'would push' if check_mode else 'pushed', 'image' if top.media_type in INDEX_FOR else 'index',
        top.digest, stats.summary(), tag_summary(every_change))
    return result


# ------------------------------------------------------------- src: from disk

def _push_blobs_in_parallel(blobs, push_blob, parallel, stats):
    """Run ``push_blob(blob)`` (True when mounted) for every blob, ``parallel`` at a time.

    Every blob that went up is counted, also when another fails (``run_parallel``).
    """
    def count(blob, mounted):
        if mounted:
            stats.mounted += 1
        else:
            stats.uploaded += 1
            stats.bytes_sent += blob.size

    run_parallel(blobs, push_blob, parallel, done=count)


def _count_planned_uploads(client, blobs, mount_from, stats):
    """Check mode: a missing blob counts as mounted when a ``mount_from`` repository has it, else as uploaded."""
    for blob in blobs:
        if any(client.blob_size(other, blob.digest) is not None for other in mount_from):
            stats.mounted += 1
        else:
            stats.uploaded += 1
            stats.bytes_sent += blob.size


def _blob_pusher(client, repository, mount_from, what):
    """``push_blob(blob)`` for ``_push_blobs_in_parallel``: mounted from a ``mount_from`` repository, else uploaded."""
    def push_blob(blob):
        for other in mount_from:
            if client.mount_blob(repository, blob.digest, other):
                return True
        try:
            client.upload_blob(repository, blob.digest, blob.size, blob.open)
        except (IOError, OSError) as exc:
            raise InvalidInputError('%s: blob %s could not be read: %s' % (what, blob.digest, exc.strerror or exc),
                                    registry=client.address.name, repository=repository)
        return False
    return push_blob


def _push_source(client, repository, planner, src, src_ref, mount_from, parallel, stats, workdir, check_mode):
    source = load_source(src, workdir, src_ref)

    sizes = map_parallel(list(source.blobs), lambda digest: client.blob_size(repository, digest), parallel)
    missing = [blob for digest, blob in source.blobs.items() if sizes[digest] is None]
    stats.present += len(source.blobs) - len(missing)
    wanted = planner.wanted(planner.tags, suffix='')
    heads = planner.heads(list(wanted) + [m.digest for m in source.manifests[:-1]])
    children = [m for m in source.manifests[:-1] if heads[m.digest] is None]
    changes = planner.changes(source.top.digest, wanted, heads)
    planner.check([(source.top.digest, changes)])

    if check_mode:
        _count_planned_uploads(client, missing, mount_from, stats)
        stats.manifests_written = len(children) + (1 if tags_changed(changes) else 0)
        return source.top, changes

    def write():
        _push_blobs_in_parallel(missing, _blob_pusher(client, repository, mount_from, source.description), parallel, stats)
        for manifest in children:
            client.put_manifest(repository, manifest.digest, manifest)
            stats.manifests_written += 1
        apply_tag_changes(client, repository, source.top, changes, planner.patterns)
        if tags_changed(changes):
            stats.manifests_written += 1

    writing(stats, write)
    return source.top, changes


# ------------------------------------------------------- manifests: an index

class _Child(object):
    """One image of an index: its manifest and platform, where its blobs come from, and its own tags."""

    __slots__ = ('manifest', 'platform', 'registry', 'repository', 'descriptors', 'source', 'tags', 'suffix', 'changes')

    def __init__(self, manifest, platform, registry, repository, descriptors, source, tags, suffix):
        self.manifest = manifest
        self.platform = platform
        self.registry = registry  # the client of the registry holding it (the target's, or a peer's), or None
        self.repository = repository  # the repository there, or None for a source on disk
        self.descriptors = descriptors
        self.source = source  # ImageSource, for a child from disk
        self.tags = tags
        self.suffix = suffix  # in semver mode, the suffix of its release tags (-amd64); None: only its own tags
        self.changes = []

    def as_dict(self):
        return {'digest': self.manifest.digest, 'media_type': self.manifest.media_type, 'platform': self.platform,
                'tags': [c.as_dict() for c in self.changes]}


def _load_child(client, repository, spec, where, workdir):
    """An entry of ``manifests``: an image of the registry (``ref``) or from disk (``src``), read and checked."""
    tags = list(dict.fromkeys(spec.get('tags') or []))
    for tag in tags:
        validate_tag(tag, registry=client.address.name, repository=repository)
    if spec.get('suffix') is not None and not (spec['suffix'] and validate_suffix(spec['suffix'])):
        raise InvalidInputError('%sthe suffix is empty; give one such as -amd64, or leave it out' % where,
                                registry=client.address.name, repository=repository)
    platform = validate_platform(spec['platform'], where) if spec.get('platform') else None
    if bool(spec.get('ref')) == bool(spec.get('src')):
        raise InvalidInputError('%sgive either ref (an image in the registry) or src (an image on disk)' % where,
                                registry=client.address.name, repository=repository)
    if spec.get('src'):
        source = load_source(spec['src'], workdir, spec.get('src_ref'))
        manifest = source.top
        if len(source.manifests) > 1:
            raise UnsupportedError('%s%s holds an index (%s), not one image: give src_ref, the digest of one platform'
                                   % (where, spec['src'], manifest.digest), registry=client.address.name, repository=repository)
        descriptors = image_descriptors(manifest, '%s%s' % (where, source.description))
        if platform is None:
            with source.blobs[descriptors[0]['digest']].open() as f:
                platform = platform_of(f.read(), where)
        return _Child(manifest, platform, None, None, descriptors, source, tags, spec.get('suffix'))

    address, other, reference = parse_any_reference(spec['ref'], client.address)
    holder = client.client_for(address)  # a promotion from another registry: a peer
    child_repo = other or repository
    try:
        manifest = holder.get_existing_manifest(child_repo, reference)
    except NotFoundError as exc:
        exc.message = '%s%s' % (where, exc.message)
        exc.hint = exc.hint or 'Push the image first, or check the reference'
        raise
    if manifest.media_type not in INDEX_FOR:
        raise UnsupportedError('%sis an index (%s), not an image manifest: list the images of each platform instead'
                               % (where, manifest.media_type), registry=holder.address.name, repository=child_repo,
                               reference=reference)
    descriptors = image_descriptors(manifest, 'the manifest %s/%s@%s (%s)' % (holder.address.name, child_repo, manifest.digest, reference))
    if platform is None:
        try:
            config = holder.get_blob(child_repo, descriptors[0]['digest'])
        except NotFoundError:
            raise NotFoundError('%sthe image config %s of %s is missing from the repository' % (
                where, descriptors[0]['digest'], manifest.digest), registry=holder.address.name, repository=child_repo,
                reference=reference, hint='Push the image again: its parts were deleted or garbage-collected since')
        platform = platform_of(config, where)
    return _Child(manifest, platform, holder, child_repo, descriptors, None, tags, spec.get('suffix'))


def _push_index(client, repository, planner, specs, mount_from, parallel, stats, workdir, check_mode):
    if not specs:
        raise InvalidInputError('give at least one manifest for the index', registry=client.address.name, repository=repository)
    loaded = map_parallel(list(range(len(specs))), lambda i: _load_child(
        client, repository, specs[i], 'manifests[%d]: ' % (i + 1), os.path.join(workdir, 'child-%d' % (i + 1))), parallel)
    children = [loaded[i] for i in range(len(specs))]
    index = build_index([(child.manifest, child.platform) for child in children])

    # Every tag of every image and of the index, and whether each image is there, read in one parallel pass; every
    # immutable tag is checked before anything is written.
    elsewhere = [child for child in children if not (child.registry is client and child.repository == repository)]
    wanted = [planner.wanted(child.tags, child.suffix) for child in children]
    top_wanted = planner.wanted(planner.tags, suffix='')
    heads = planner.heads([tag for each in wanted for tag in each] + list(top_wanted) +
                          [child.manifest.digest for child in elsewhere])
    for child, each in zip(children, wanted):
        child.changes = planner.changes(child.manifest.digest, each, heads)
    changes = planner.changes(index.digest, top_wanted, heads)
    planner.check([(child.manifest.digest, child.changes) for child in children] + [(index.digest, changes)])

    missing_children = [child for child in elsewhere if heads[child.manifest.digest] is None]
    needed = {}  # blobs shared by several children are brought in once
    for child in missing_children:
        for desc in child.descriptors:
            needed.setdefault(desc['digest'], (desc, child))
    sizes = map_parallel(list(needed), lambda digest: client.blob_size(repository, digest), parallel)
    uploads = []  # BlobSource of children from disk, missing from the repository
    copies = []   # (descriptor, client, repository it is in) of children from other repositories or registries
    for digest, (desc, child) in needed.items():
        if sizes[digest] is not None:
            stats.present += 1
        elif child.source is not None:
            uploads.append(child.source.blobs[digest])
        else:
            copies.append((desc, child.registry, child.repository))
    rewritten = [child for child in children if child in missing_children or tags_changed(child.changes)]

    if check_mode:
        _count_planned_uploads(client, uploads, mount_from, stats)
        count_planned_copies(client, copies, stats)
        stats.manifests_written = len(rewritten) + (1 if tags_changed(changes) else 0)
        return index, changes, children

    def write():
        _push_blobs_in_parallel(uploads, _blob_pusher(client, repository, mount_from, 'manifests'), parallel, stats)
        bring_blobs(client, repository, copies, parallel, stats)
        # The images the repository lacks go up by digest: an index can only name manifests the repository has.
        run_parallel(missing_children, lambda child: client.put_manifest(repository, child.manifest.digest, child.manifest),
                     parallel)
        stats.manifests_written += len(missing_children)
        # Then the fixed tags: the release is claimed by the index's first new immutable tag (an image's when the
        # index has none to create), so that of two jobs releasing this version at once only one goes on; then the
        # rest, each new immutable one read again just before, and all of them once more before any alias moves.
        # Floating aliases move last, onto a complete release.
        release = Release(client, repository, planner.patterns)
        written = release.written  # every tag written, for the report of a failure
        index_fixed = [(index, c) for c in fixed_changes(changes)]
        images_fixed = [(child.manifest, c) for child in children for c in fixed_changes(child.changes)]
        claimed = release.claim(index_fixed) or release.claim(images_fixed)
        tagged = [child for child in rewritten if tags_changed(fixed_changes(child.changes))]
        # A failure inside put_tags reports every tag in ``written`` so far (and changed: true if there is one).
        release.put([write for write in images_fixed if write not in claimed], parallel)
        stats.manifests_written += len([child for child in tagged if child not in missing_children])
        release.put([write for write in index_fixed if write not in claimed], 1)
        if tags_changed(fixed_changes(changes)):
            stats.manifests_written += 1
        release.confirm()
        # Not the index's alongside its images': distribution 2.8 re-links an image manifest written again under
        # another tag, and an index PUT checking that image meanwhile is refused (MANIFEST_BLOB_UNKNOWN).
        put_tags(client, repository, [(child.manifest, c) for child in children for c in floating_changes(child.changes)], parallel,
                 written)
        stats.manifests_written += len([child for child in rewritten if child not in tagged and child not in missing_children])
        put_tags(client, repository, [(index, c) for c in floating_changes(changes)], parallel, written)
        if tags_changed(changes) and not tags_changed(fixed_changes(changes)):
            stats.manifests_written += 1

    writing(stats, write)
    return index, changes, children
