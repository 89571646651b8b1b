# -*- coding: utf-8 -*-
# Copyright (c) regops.registry contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module util is PRIVATE to the collection: it may change at any time.
"""What the modules that write images share about blobs: counting what a push did, the blob descriptors of an
image manifest, and bringing blobs in from another repository (mounted) or registry (copied, streamed)."""

from __future__ import annotations

import os
import tempfile

from ansible_collections.regops.registry.plugins.module_utils._errors import InvalidInputError, reporting_partial_writes
from ansible_collections.regops.registry.plugins.module_utils._image_source import descriptor, load_json
from ansible_collections.regops.registry.plugins.module_utils._parallel import run_parallel


class Stats(object):
    """What a push or copy did (or would do, in check mode) with blobs and manifests."""

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

    def summary(self):
        return 'blobs %d present, %d uploaded (%d bytes), %d mounted; %d manifests written' % (
            self.present, self.uploaded, self.bytes_sent, self.mounted, self.manifests_written)


def writing(stats, action):
    """Run the writes; a failure after some of them says so and reports ``changed: true``."""
    with reporting_partial_writes(lambda: stats.wrote and 'already written: %d blobs uploaded, %d mounted, %d manifests' % (
            stats.uploaded, stats.mounted, stats.manifests_written)):
        action()


def image_descriptors(manifest, what):
    """The config and layer descriptors of an image manifest, checked; typed errors for malformed documents."""
    doc = load_json(manifest.content, what)
    if not isinstance(doc.get('config'), dict) or not isinstance(doc.get('layers') or [], list):
        raise InvalidInputError('%s has no valid config or layers' % what)
    descriptors = [doc['config']] + list(doc.get('layers') or [])
    for desc in descriptors:
        descriptor(desc, what)
    return descriptors


def copy_blob(source, from_repository, client, repository, digest):
    """A blob the registry would not mount, or one from another registry (``source``), streamed through a temporary
    file (downloaded in 1 MiB pieces, its digest checked, then uploaded from the file), so memory does not grow with
    its size and an upload retried after a network error does not fetch it again."""
    handle, path = tempfile.mkstemp(prefix='regops-blob-')
    os.close(handle)
    try:
        size = source.download_blob(from_repository, digest, path)
        client.upload_blob(repository, digest, size, lambda: open(path, 'rb'))
    finally:
        os.unlink(path)


def bring_blobs(client, repository, copies, parallel, stats):
    """Bring in ``copies``, a list of (descriptor, client holding it, repository it is in), ``parallel`` at a time:
    from the same registry it is mounted (copied if the registry declines), from another one copied (``copy_blob``).
    Every blob brought is counted in ``stats``, also when another fails."""
    def bring(copy):
        desc, holder, from_repository = copy
        if holder is client and client.mount_blob(repository, desc['digest'], from_repository):
            return True
        copy_blob(holder, from_repository, client, repository, desc['digest'])
        return False

    def count(copy, mounted):
        if mounted:
            stats.mounted += 1
        else:
            stats.uploaded += 1
            stats.bytes_sent += copy[0]['size']

    run_parallel(copies, bring, parallel, done=count)


def count_planned_copies(client, copies, stats):
    """Check mode: what ``bring_blobs`` would do; a blob of the same registry counts as mounted (or copied, if the
    registry declines the mount), one of another registry as uploaded."""
    for desc, holder, _from_repository in copies:
        if holder is client:
            stats.mounted += 1
        else:
            stats.uploaded += 1
            stats.bytes_sent += desc['size']
