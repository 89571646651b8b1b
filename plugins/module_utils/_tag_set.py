# -*- coding: utf-8 -*-
# Copyright (c) regops.registry contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module util is PRIVATE to the collection: it may change at any time.
"""Planner and executor of ``tag_set``: point tags at one image, server-side.

The whole change is worked out first (one GET of the source, one tag listing
in semver mode, one HEAD per tag); immutable tags are checked before anything
is written; then each new or moved tag costs one PUT of the source's exact
manifest bytes. The full release tag is written before its aliases.
"""

from __future__ import annotations

import re

from ansible_collections.regops.registry.plugins.module_utils._errors import (
    ImmutableTagError,
    InvalidInputError,
    ManifestNotFoundError,
    RegistryError,
    RepositoryNotFoundError,
)
from ansible_collections.regops.registry.plugins.module_utils._reference import validate_reference, validate_repository, validate_tag
from ansible_collections.regops.registry.plugins.module_utils._semver import (
    ALIASES,
    DEFAULT_IMMUTABLE,
    parse_version,
    plan_release_tags,
    validate_suffix,
)

CREATED = 'created'
MOVED = 'moved'
UNCHANGED = 'unchanged'
SKIPPED = 'skipped'


class TagChange(object):
    __slots__ = ('tag', 'kind', 'action', 'before', 'after', 'reason')

    def __init__(self, tag, kind, action, before, after, reason=None):
        self.tag = tag
        self.kind = kind
        self.action = action
        self.before = before
        self.after = after
        self.reason = reason

    def as_dict(self):
        entry = {'tag': self.tag, 'action': self.action, 'before': self.before, 'after': self.after, 'kind': self.kind}
        if self.reason:
            entry['reason'] = self.reason
        return entry


def compile_immutable(patterns):
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise InvalidInputError('immutable pattern %r is not a valid regular expression: %s' % (pattern, exc))
    return compiled


def validate_request(registry_name, repository, source, tags, version, suffix, aliases, immutable):
    """Check every input before any request; return (version or None, compiled immutable patterns)."""
    validate_repository(repository, registry=registry_name)
    validate_reference(source, registry=registry_name, repository=repository)
    for tag in tags:
        validate_tag(tag, registry=registry_name, repository=repository)
    parsed = None
    if version is not None:
        parsed = parse_version(version)
        validate_suffix(suffix)
        unknown = [a for a in aliases if a not in ALIASES]
        if unknown:
            raise InvalidInputError('unknown aliases %s; choose from %s' % (', '.join(unknown), ', '.join(ALIASES)))
        validate_tag('%s%s' % (version, suffix), registry=registry_name, repository=repository)
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
        manifest = client.get_manifest(repository, source)
    except ManifestNotFoundError as exc:
        # distribution answers MANIFEST_UNKNOWN for an unknown repository too; its tag list tells them apart.
        try:
            client.list_tags(repository)
        except RepositoryNotFoundError as missing:
            missing.reference = source
            raise missing
        exc.message = 'source not found'
        exc.hint = 'Push the image first, or check the source tag or digest'
        raise

    wanted = {}  # tag: (kind, reason held back), in write order
    if parsed is not None:
        for tag, kind, reason in plan_release_tags(parsed, client.list_tags(repository), suffix=suffix or '', aliases=aliases):
            wanted[tag] = (kind, reason)
    for tag in tags:
        # An explicit request wins over an alias held back (and keeps its place).
        wanted[tag] = (wanted[tag][0] if tag in wanted else 'tag', None)

    changes = []
    for tag, (kind, reason) in wanted.items():
        head = client.head_manifest(repository, tag)
        before = head.digest if head else None
        if reason:
            changes.append(TagChange(tag, kind, SKIPPED, before, before, reason))
        elif before is None:
            changes.append(TagChange(tag, kind, CREATED, None, manifest.digest))
        elif before == manifest.digest:
            changes.append(TagChange(tag, kind, UNCHANGED, before, before))
        else:
            changes.append(TagChange(tag, kind, MOVED, before, manifest.digest))

    refused = [c for c in changes if c.action == MOVED and any(p.search(c.tag) for p in patterns)]
    if refused:
        details = '; '.join('%s is %s, requested %s' % (c.tag, c.before, c.after) for c in refused)
        raise ImmutableTagError(
            'refusing to move immutable tag%s (%s); nothing was written' % ('s' if len(refused) > 1 else '', details),
            registry=registry_name, repository=repository,
            hint='A full release tag never moves: release a new version instead (or narrow the immutable option)')
    return manifest, changes


def apply(client, repository, manifest, changes, check_mode=False):
    """Write the planned changes (nothing in check mode).

    If a write fails after others succeeded, the error says which tags were
    already written and the failure result reports ``changed: true``.
    """
    if check_mode:
        return
    written = []
    try:
        for change in changes:
            if change.action in (CREATED, MOVED):
                client.put_manifest(repository, change.tag, manifest)
                written.append(change.tag)
    except RegistryError as exc:
        if written:
            exc.message = '%s (tags already written before this failure: %s; run again to finish)' % (
                exc.message, ', '.join(written))
            exc.facts.update(changed=True, written=written)
        raise


def run_tag_set(client, params, check_mode=False, diff=False):
    """Plan, apply and build the module result."""
    repository = params['repository']
    manifest, changes = plan(
        client, repository, params['source'],
        tags=params.get('tags') or [],
        version=params.get('version'),
        suffix=params.get('suffix') or '',
        aliases=params['aliases'] if params.get('aliases') is not None else ALIASES,
        immutable=params['immutable'] if params.get('immutable') is not None else DEFAULT_IMMUTABLE,
    )
    apply(client, repository, manifest, changes, check_mode=check_mode)

    counts = dict((action, 0) for action in (CREATED, MOVED, UNCHANGED, SKIPPED))
    for change in changes:
        counts[change.action] += 1
    changed = bool(counts[CREATED] or counts[MOVED])
    place = '%s/%s' % (client.address.name, repository)
    msg = '%s: %s%d created, %d moved, %d unchanged, %d skipped (source %s)' % (
        place, 'would be ' if check_mode and changed else '', counts[CREATED], counts[MOVED], counts[UNCHANGED],
        counts[SKIPPED], manifest.digest)
    result = {
        'changed': changed,
        'msg': msg,
        'registry': client.address.name,
        'repository': repository,
        'digest': manifest.digest,
        'media_type': manifest.media_type,
        'tags': [c.as_dict() for c in changes],
    }
    if diff:
        result['diff'] = {
            'before_header': '%s (tag: digest)' % place,
            'after_header': '%s (tag: digest)' % place,
            'before': dict((c.tag, c.before) for c in changes if c.before),
            'after': dict((c.tag, c.after) for c in changes if c.after),
        }
    return result
