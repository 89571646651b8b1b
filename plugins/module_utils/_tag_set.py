# -*- coding: utf-8 -*-
# Copyright (c) regops.registry contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module util is PRIVATE to the collection: it may change at any time.
"""Planner of ``tag_set``: point tags at one image, server-side.

The whole change is worked out first (one GET of the source, the tag listing
in semver mode, one HEAD per tag); immutable tags are checked before anything
is written; then each new or moved tag costs one PUT of the source's exact
manifest bytes (``_tags``). The full release tag is written before its aliases.
"""

from __future__ import annotations

from ansible_collections.regops.registry.plugins.module_utils._client import INDEX_MEDIA_TYPES
from ansible_collections.regops.registry.plugins.module_utils._errors import (
    InvalidInputError,
    ManifestNotFoundError,
    NotFoundError,
    RegistryProtocolError,
)
from ansible_collections.regops.registry.plugins.module_utils._image_source import load_json
from ansible_collections.regops.registry.plugins.module_utils._index import index_children
from ansible_collections.regops.registry.plugins.module_utils._reference import is_digest, validate_reference, validate_repository, validate_tag
from ansible_collections.regops.registry.plugins.module_utils._semver import ALIASES, DEFAULT_IMMUTABLE
from ansible_collections.regops.registry.plugins.module_utils._tags import (
    apply_tag_changes,
    compile_immutable,
    parse_release,
    plan_tag_changes,
    tag_result,
    tag_summary,
    tags_changed,
    wanted_tags,
)


def validate_request(registry_name, repository, source, tags, version, suffix, aliases, immutable):
    """Check every input before any request; return (version or None, compiled immutable patterns)."""
    validate_repository(repository, registry=registry_name)
    validate_reference(source, registry=registry_name, repository=repository)
    for tag in tags:
        validate_tag(tag, registry=registry_name, repository=repository)
    parsed = None
    if version is not None:
        parsed = parse_release(version, aliases, registry_name, repository, suffix)
    elif not tags:
        raise InvalidInputError('nothing to tag: give tags, or version for the release tags and aliases')
    return parsed, compile_immutable(immutable)


def plan(client, repository, source, tags=(), version=None, suffix='', aliases=ALIASES, immutable=DEFAULT_IMMUTABLE):
    """Work out every tag change. Reads only; raises before any write is possible.

    Returns ``(source_manifest, [TagChange, ...])``.
    """
    registry_name = client.address.name
    parsed, patterns = validate_request(registry_name, repository, source, tags, version, suffix, aliases, immutable)

    try:
        manifest = client.get_existing_manifest(repository, source)
    except ManifestNotFoundError as exc:
        exc.message = 'source not found'
        exc.hint = 'Push the image first, or check the source tag or digest'
        raise

    existing = client.list_tags(repository) if parsed is not None else ()
    wanted = wanted_tags(tags, parsed, existing, suffix, aliases)
    return manifest, plan_tag_changes(client, repository, manifest.digest, wanted, patterns)


def run_tag_set(client, params, check_mode=False, diff=False):
    """Plan, apply and build the module result; ``params`` as the module's argument spec fills them."""
    repository = params['repository']
    manifest, changes = plan(client, repository, params['source'], tags=params['tags'], version=params['version'],
                             suffix=params['suffix'], aliases=params['aliases'], immutable=params['immutable'])
    if not check_mode:
        try:
            apply_tag_changes(client, repository, manifest, changes, compile_immutable(params['immutable']))
        except RegistryProtocolError as exc:
            if 'MANIFEST_BLOB_UNKNOWN' not in exc.codes:
                raise
            _refuse_incomplete_source(client, repository, params['source'], manifest, exc)
    changed = tags_changed(changes)
    result = tag_result(client, repository, manifest, changes, diff=diff)
    result['changed'] = changed
    result['msg'] = '%s/%s: %s%s (source %s)' % (client.address.name, repository, 'would be ' if check_mode and changed else '',
                                                 tag_summary(changes), manifest.digest)
    return result


def _refuse_incomplete_source(client, repository, source, manifest, exc):
    """The registry refused the source under a new tag because something it names is gone (MANIFEST_BLOB_UNKNOWN):
    say what, read only now, on this failure. Raises ``exc`` itself when nothing is found missing."""
    what = 'the source %s (%s)' % (source, manifest.digest)
    if manifest.media_type in INDEX_MEDIA_TYPES:
        kind = 'images'
        missing = [digest for digest, _type in index_children(manifest, what) if client.head_manifest(repository, digest) is None]
    else:
        kind = 'blobs'
        doc = load_json(manifest.content, what)
        descriptors = [doc.get('config')] + list(doc.get('layers') or [])
        missing = [d['digest'] for d in descriptors if isinstance(d, dict) and is_digest(d.get('digest')) and not d.get('urls')
                   and client.blob_size(repository, d['digest']) is None]
    if not missing:
        raise exc
    error = NotFoundError('%s names %s the repository no longer has (%s), so the registry refuses it under a new tag'
                          % (what, kind, ', '.join(missing)), registry=client.address.name, repository=repository,
                          hint='Push the image again: its parts were deleted or garbage-collected since it was pushed')
    error.facts.update(exc.facts)
    raise error
