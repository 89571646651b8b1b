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
* ``manifests``: a multi-arch index (``_index``) of images already in the registry. Children from other
  repositories are brought in first: their blobs mounted (or copied when the registry declines), then the child
  manifest by digest. The index goes up last, under the tags.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from ansible_collections.regops.registry.plugins.module_utils._errors import InvalidInputError, UnsupportedError, reporting_partial_writes
from ansible_collections.regops.registry.plugins.module_utils._image_source import descriptor, load_json, load_source
from ansible_collections.regops.registry.plugins.module_utils._index import INDEX_FOR, build_index, platform_of, validate_platform
from ansible_collections.regops.registry.plugins.module_utils._parallel import run_parallel, validate_parallel
from ansible_collections.regops.registry.plugins.module_utils._reference import (
    parse_image_reference,
    validate_repository,
    validate_tag,
)
from ansible_collections.regops.registry.plugins.module_utils._tags import (
    apply_tag_changes,
    compile_immutable,
    plan_tag_changes,
    tag_result,
    tag_summary,
    tags_changed,
)


class Stats(object):
    """What a push did (or would do, in check mode) with blobs and manifests."""

    def __init__(self):
        self.present = 0
        self.uploaded = 0
        self.mounted = 0
        self.bytes_sent = 0
        self.manifests_written = 0

    def as_dict(self):
        return {'present': self.present, 'uploaded': self.uploaded, 'mounted': self.mounted, 'bytes_sent': self.bytes_sent}

    @property
    def wrote(self):
        return bool(self.uploaded or self.mounted or self.manifests_written)


def _validate_common(client, params):
    repository = validate_repository(params['repository'], registry=client.address.name)
    tags = params['tags']
    if not tags:
        raise InvalidInputError('give at least one tag for the pushed image', registry=client.address.name, repository=repository)
    for tag in tags:
        validate_tag(tag, registry=client.address.name, repository=repository)
    return repository, list(dict.fromkeys(tags)), compile_immutable(params['immutable']), validate_parallel(params['parallel'])


def run_manifest_push(client, params, check_mode=False, diff=False):
    """Validate, plan, write (unless in check mode) and build the module result."""
    repository, tags, patterns, parallel = _validate_common(client, params)
    mount_from = [validate_repository(r, registry=client.address.name) for r in params['mount_from']]
    stats = Stats()
    if params['src'] is not None:
        workdir = tempfile.mkdtemp(prefix='regops-push-')
        try:
            top, changes = _push_source(client, repository, tags, patterns, params['src'], params['src_ref'], mount_from,
                                        parallel, stats, workdir, check_mode)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    else:
        top, changes = _push_index(client, repository, tags, patterns, params['manifests'], stats, check_mode)

    changed = stats.wrote or tags_changed(changes)
    result = tag_result(client, repository, top, changes, diff=diff)
    result['changed'] = changed
    result['blobs'] = stats.as_dict()
    result['manifests_written'] = stats.manifests_written
    result['msg'] = '%s/%s: %s%s %s; blobs %d present, %d uploaded (%d bytes), %d mounted; %d manifests written; tags %s' % (
        client.address.name, repository, 'would push' if check_mode else 'pushed', 'image' if top.media_type in INDEX_FOR else 'index',
        top.digest, stats.present, stats.uploaded, stats.bytes_sent, stats.mounted, stats.manifests_written, tag_summary(changes))
    return result


def _writing(stats, action):
    """Run the writes; a failure after some of them says so and reports ``changed: true``."""
    with reporting_partial_writes(lambda: stats.wrote and 'already written: %d blobs uploaded, %d mounted, %d manifests' % (
            stats.uploaded, stats.mounted, stats.manifests_written)):
        action()


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


def _push_source(client, repository, tags, patterns, src, src_ref, mount_from, parallel, stats, workdir, check_mode):
    source = load_source(src, os.path.join(workdir, 'layers'), src_ref)

    missing = []
    for blob in source.blobs.values():
        if client.blob_size(repository, blob.digest) is None:
            missing.append(blob)
        else:
            stats.present += 1
    children = [m for m in source.manifests[:-1] if client.head_manifest(repository, m.digest) is None]
    changes = plan_tag_changes(client, repository, source.top.digest, dict((t, ('tag', None)) for t in tags), patterns)

    if check_mode:
        for blob in missing:
            if any(client.blob_size(other, blob.digest) is not None for other in mount_from):
                stats.mounted += 1
            else:
                stats.uploaded += 1
                stats.bytes_sent += blob.size
        stats.manifests_written = len(children) + (1 if tags_changed(changes) else 0)
        return source.top, changes

    def push_blob(blob):
        for other in mount_from:
            if client.mount_blob(repository, blob.digest, other):
                return True
        try:
            client.upload_blob(repository, blob.digest, blob.size, blob.open)
        except (IOError, OSError) as exc:
            raise InvalidInputError('%s: blob %s could not be read: %s' % (source.description, blob.digest, exc.strerror or exc),
                                    registry=client.address.name, repository=repository)
        return False

    def write():
        _push_blobs_in_parallel(missing, push_blob, parallel, stats)
        for manifest in children:
            client.put_manifest(repository, manifest.digest, manifest)
            stats.manifests_written += 1
        apply_tag_changes(client, repository, source.top, changes)
        if tags_changed(changes):
            stats.manifests_written += 1

    _writing(stats, write)
    return source.top, changes


# ------------------------------------------------------- manifests: an index

def _push_index(client, repository, tags, patterns, specs, stats, check_mode):
    parsed = []
    for number, spec in enumerate(specs, 1):
        where = 'manifests[%d]: ' % number
        other, reference = parse_image_reference(spec.get('ref'), client.address)
        platform = validate_platform(spec['platform'], where) if spec.get('platform') else None
        parsed.append((other or repository, reference, platform, where))
    if not parsed:
        raise InvalidInputError('give at least one manifest for the index', registry=client.address.name, repository=repository)

    children = []
    for child_repo, reference, platform, where in parsed:
        manifest = client.get_manifest(child_repo, reference)
        if manifest.media_type not in INDEX_FOR:
            raise UnsupportedError('%sis an index (%s), not an image manifest: list the images of each platform instead'
                                   % (where, manifest.media_type), registry=client.address.name, repository=child_repo,
                                   reference=reference)
        descriptors = _image_descriptors(client, child_repo, reference, manifest)
        if platform is None:
            platform = platform_of(client.get_blob(child_repo, descriptors[0]['digest']), where)
        children.append((manifest, platform, child_repo, descriptors))
    index = build_index([(m, p) for m, p, _repo, _descriptors in children])

    copies = []
    planned = set()  # blobs shared by several children are brought in once
    for manifest, _platform, child_repo, descriptors in children:
        if child_repo == repository or client.head_manifest(repository, manifest.digest) is not None:
            continue
        missing = []
        for desc in descriptors:
            if desc['digest'] in planned:
                continue
            planned.add(desc['digest'])
            if client.blob_size(repository, desc['digest']) is None:
                missing.append(desc)
            else:
                stats.present += 1
        copies.append((manifest, child_repo, missing))
    changes = plan_tag_changes(client, repository, index.digest, dict((t, ('tag', None)) for t in tags), patterns)

    if check_mode:
        for manifest, child_repo, missing in copies:
            stats.mounted += len(missing)
        stats.manifests_written = len(copies) + (1 if tags_changed(changes) else 0)
        return index, changes

    def write():
        for manifest, child_repo, missing in copies:
            for desc in missing:
                if client.mount_blob(repository, desc['digest'], child_repo):
                    stats.mounted += 1
                else:
                    _copy_blob(client, child_repo, repository, desc['digest'])
                    stats.uploaded += 1
                    stats.bytes_sent += desc['size']
            client.put_manifest(repository, manifest.digest, manifest)
            stats.manifests_written += 1
        apply_tag_changes(client, repository, index, changes)
        if tags_changed(changes):
            stats.manifests_written += 1

    _writing(stats, write)
    return index, changes


def _image_descriptors(client, repository, reference, manifest):
    """The config and layer descriptors of an image manifest, checked; typed errors for malformed documents."""
    what = '%s/%s@%s' % (client.address.name, repository, manifest.digest)
    doc = load_json(manifest.content, 'the manifest %s' % what)
    if not isinstance(doc.get('config'), dict) or not isinstance(doc.get('layers') or [], list):
        raise InvalidInputError('the manifest %s (%s) has no valid config or layers' % (what, reference))
    descriptors = [doc['config']] + list(doc.get('layers') or [])
    for desc in descriptors:
        descriptor(desc, 'the manifest %s' % what)
    return descriptors


def _copy_blob(client, from_repository, repository, digest):
    """A blob the registry would not mount: through a temporary file, so memory does not grow with its size."""
    handle, path = tempfile.mkstemp(prefix='regops-blob-')
    os.close(handle)
    try:
        size = client.download_blob(from_repository, digest, path)
        client.upload_blob(repository, digest, size, lambda: open(path, 'rb'))
    finally:
        os.unlink(path)
