# -*- coding: utf-8 -*-
# Copyright (c) regops.registry contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module util is PRIVATE to the collection: it may change at any time.
"""Pointing tags at a manifest: the plan (one HEAD per tag, immutable tags checked before any write), the
writes (the manifest's exact bytes, one PUT per new or moved tag, in order) and the result every module reports.
"""

from __future__ import annotations

import re
import time

from ansible_collections.regops.registry.plugins.module_utils._errors import (
    ConflictError,
    ImmutableTagError,
    InvalidInputError,
    RepositoryNotFoundError,
    reporting_partial_writes,
)
from ansible_collections.regops.registry.plugins.module_utils._parallel import map_parallel, run_parallel
from ansible_collections.regops.registry.plugins.module_utils._reference import validate_tag
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
ACTIONS = (CREATED, MOVED, UNCHANGED, SKIPPED)

# How many tags a plan reads at once (HEAD requests), where the module has no parallel option.
PLAN_PARALLEL = 4
# A claim (``Release.claim``) is read back after this many times as long as its write took, within these seconds.
CLAIM_SETTLE_FACTOR = 4
CLAIM_SETTLE_BOUNDS = (0.25, 5.0)

# The immutable option of every module that sets tags (documented once in the regops.registry._immutable fragment).
IMMUTABLE_OPTION = dict(type='list', elements='str', default=list(DEFAULT_IMMUTABLE))
# The version and aliases options of the modules that set release tags (the regops.registry._version fragment).
VERSION_OPTIONS = dict(
    version=dict(type='str'),
    aliases=dict(type='list', elements='str', choices=list(ALIASES), default=list(ALIASES)),
)


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


def compile_pattern(pattern, what):
    """A regular expression given by the user, compiled; InvalidInputError naming ``what`` it is for."""
    try:
        return re.compile(pattern)
    except (re.error, TypeError) as exc:
        raise InvalidInputError('%s %r is not a valid regular expression: %s' % (what, pattern, exc))


def compile_immutable(patterns):
    return [compile_pattern(pattern, 'immutable pattern') for pattern in patterns]


def parse_release(version, aliases, registry, repository, suffix=''):
    """Semver mode's options (VERSION_OPTIONS) checked before any request: the parsed version, once its aliases are
    known kinds and its release tag ``<version><suffix>`` is a valid tag."""
    parsed = parse_version(version)
    validate_suffix(suffix)
    unknown = [a for a in aliases if a not in ALIASES]
    if unknown:
        raise InvalidInputError('unknown aliases %s; choose from %s' % (', '.join(unknown), ', '.join(ALIASES)),
                                registry=registry, repository=repository)
    validate_tag('%s%s' % (version, suffix), registry=registry, repository=repository)
    return parsed


def wanted_tags(tags, version=None, existing=(), suffix='', aliases=ALIASES):
    """The tags to set, in write order, as ``plan_tag_changes`` takes them: tag -> (kind, reason held back or None).

    With a parsed ``version``, its release tag and aliases (``plan_release_tags``, against the ``existing`` tags of
    the repository) come first; then ``tags`` as given. A tag asked for explicitly is written even when it is an
    alias semver mode would hold back, and keeps its place.
    """
    wanted = {}
    if version is not None:
        for tag, kind, reason in plan_release_tags(version, existing, suffix=suffix or '', aliases=aliases):
            wanted[tag] = (kind, reason)
    for tag in tags:
        wanted[tag] = (wanted[tag][0] if tag in wanted else 'tag', None)
    return wanted


def existing_tags(client, repository):
    """Every tag of ``repository``; none for a repository that does not exist yet (the first write creates it)."""
    try:
        return client.list_tags(repository)
    except RepositoryNotFoundError:
        return []


def head_references(client, repository, references, parallel=PLAN_PARALLEL):
    """``{reference: digest or None}`` for tags or digests of ``repository``, ``parallel`` HEADs at a time."""
    def head(reference):
        found = client.head_manifest(repository, reference)
        return found.digest if found else None
    return map_parallel(list(dict.fromkeys(references)), head, parallel)


def plan_tag_changes(client, repository, digest, wanted, patterns, check=True, heads=None):
    """``wanted`` maps tag to (kind, reason it is held back or None), in write order. Reads only.

    ``heads`` are the tags' digests if the caller read them already (``head_references``); else they are read here.
    Raises ImmutableTagError, naming every offending tag, before anything is written; with ``check=False`` the
    caller checks the changes of several plans together with ``refuse_immutable``.
    """
    if heads is None:
        heads = head_references(client, repository, wanted)
    changes = []
    for tag, (kind, reason) in wanted.items():
        before = heads[tag]
        if reason:
            changes.append(TagChange(tag, kind, SKIPPED, before, before, reason))
        elif before is None:
            changes.append(TagChange(tag, kind, CREATED, None, digest))
        elif before == digest:
            changes.append(TagChange(tag, kind, UNCHANGED, before, before))
        else:
            changes.append(TagChange(tag, kind, MOVED, before, digest))
    if check:
        refuse_immutable(client, repository, changes, patterns)
    return changes


def refuse_immutable(client, repository, changes, patterns):
    """Raise ImmutableTagError naming every change that would move an immutable tag, if any."""
    refused = [c for c in changes if c.action == MOVED and any(p.search(c.tag) for p in patterns)]
    if refused:
        details = '; '.join('%s is %s, requested %s' % (c.tag, c.before, c.after) for c in refused)
        raise ImmutableTagError(
            'refusing to move immutable tag%s (%s); nothing was written' % ('s' if len(refused) > 1 else '', details),
            registry=client.address.name, repository=repository,
            hint='A full release tag never moves: release a new version instead (or narrow the immutable option)')


def fixed_changes(changes):
    """The changes of tags that are not floating aliases (release tags, tags asked for by name)."""
    return [c for c in changes if c.kind not in ALIASES]


def floating_changes(changes):
    return [c for c in changes if c.kind in ALIASES]


def apply_tag_changes(client, repository, manifest, changes, patterns):
    """Write the new and moved tags of ``manifest`` in order (see ``put_tags``): its first new immutable tag claimed
    first (``Release``), the other fixed tags, then the aliases once the fixed ones are confirmed."""
    release = Release(client, repository, patterns)
    fixed = [(manifest, change) for change in fixed_changes(changes)]
    claimed = release.claim(fixed)
    release.put([write for write in fixed if write not in claimed], 1)
    release.confirm()
    release.put([(manifest, change) for change in floating_changes(changes)], 1)


class Release(object):
    """The writes of one run, made so that of two jobs releasing the same version at once only one goes on.

    A registry has no conditional write. So the first new immutable tag is claimed (``claim``): read again just
    before it is written (it must still be absent), written, left to settle (``CLAIM_SETTLE_FACTOR`` times as long
    as the write took, within ``CLAIM_SETTLE_BOUNDS``) and read back. A job that read it absent in time writes it
    within that while too; the last write stands, and the job that reads back another digest stops there. Every
    other new immutable tag is read again just before it is written (``put``), and all of them once more after the
    last of them (``confirm``). A competing write that lands later than all that (held up longer than the settle
    time) is not seen by this run; the late job then finds this one's tags and stops. Each failure is a
    ConflictError that names the tags and digests, and says which tags this run had written (``written``).
    """

    def __init__(self, client, repository, patterns, written=None):
        self.client = client
        self.repository = repository
        self.patterns = patterns
        self.written = [] if written is None else written
        self.created = []  # (Manifest, TagChange) of every new immutable tag this run wrote
        self._confirmed = 0  # how many of them were read back since the last write of one

    def _new_immutable(self, writes):
        return [(manifest, change) for manifest, change in writes
                if change.action == CREATED and any(p.search(change.tag) for p in self.patterns)]

    def _check(self, writes, what, written_by_this_run=False):
        """Read the tags of ``writes`` again; raise the conflict if one points at another digest than this run's."""
        heads = head_references(self.client, self.repository, [change.tag for _manifest, change in writes])
        found = [(change, heads[change.tag]) for _manifest, change in writes if heads[change.tag] not in (None, change.after)]
        if found:
            if written_by_this_run:
                for change, _now in found:
                    self.written.remove(change.tag)  # the other job's write stands
            with _reporting_written(self.written):
                details = ', '.join('%s (now %s, this run has %s)' % (change.tag, now, change.after) for change, now in found)
                raise ConflictError('another job released %s %s' % (details, what), registry=self.client.address.name,
                                    repository=self.repository,
                                    hint='Check which release is meant to stand before running again')

    def claim(self, writes):
        """Claim the first new immutable tag of ``writes``; returns the writes made (none if there is no such tag)."""
        claims = self._new_immutable(writes)[:1]
        if not claims:
            return []
        self._check(claims, 'while this one ran; this run stops before that tag')
        started = time.time()
        put_tags(self.client, self.repository, claims, 1, self.written)
        self.client.settle(min(max(CLAIM_SETTLE_FACTOR * (time.time() - started), CLAIM_SETTLE_BOUNDS[0]),
                               CLAIM_SETTLE_BOUNDS[1]))
        self._check(claims, 'at the same time, and its write stands; this run stops here', written_by_this_run=True)
        self.created.extend(claims)
        self._confirmed = len(self.created)
        return claims

    def put(self, writes, parallel):
        """``put_tags``, the new immutable tags among ``writes`` read again just before (still absent, or this digest)."""
        fresh = self._new_immutable(writes)
        if fresh:
            self._check(fresh, 'while this one ran; this run stops before those tags')
        put_tags(self.client, self.repository, writes, parallel, self.written)
        self.created.extend(fresh)

    def confirm(self):
        """After the last new immutable tag: every one this run wrote still points where it wrote it (unless none
        was written since the claim was read back)."""
        if len(self.created) > self._confirmed:
            self._check(self.created, 'at the same time, over tags this run had written; this run stops here')
            self._confirmed = len(self.created)


def _reporting_written(written):
    """``reporting_partial_writes`` for a list of the tags written so far."""
    return reporting_partial_writes(lambda: written and 'tags already written: %s' % ', '.join(written),
                                    facts=lambda: {'written': written})


def put_tags(client, repository, writes, parallel, written=None):
    """Write the new and moved tags of ``writes``, a list of (Manifest, TagChange), ``parallel`` at a time.

    If a write fails after others succeeded, the error says which tags were
    already written (``written``, which a caller may share between several
    calls) and the failure result reports ``changed: true``.
    """
    written = [] if written is None else written
    with _reporting_written(written):
        run_parallel([(manifest, change) for manifest, change in writes if change.action in (CREATED, MOVED)],
                     lambda write: client.put_manifest(repository, write[1].tag, write[0]), parallel,
                     done=lambda write, _result: written.append(write[1].tag))


def tags_changed(changes):
    return any(c.action in (CREATED, MOVED) for c in changes)


def tag_summary(changes):
    counts = dict((action, 0) for action in ACTIONS)
    for change in changes:
        counts[change.action] += 1
    return '%d created, %d moved, %d unchanged, %d skipped' % tuple(counts[a] for a in ACTIONS)


def tag_result(client, repository, manifest, changes, diff=False):
    """The result facts every module reports about the tags it set."""
    result = {
        'registry': client.address.name,
        'repository': repository,
        'digest': manifest.digest,
        'media_type': manifest.media_type,
        'tags': [c.as_dict() for c in changes],
    }
    if diff:
        place = '%s/%s' % (client.address.name, repository)
        result['diff'] = {
            'before_header': '%s (tag: digest)' % place,
            'after_header': '%s (tag: digest)' % place,
            'before': dict((c.tag, c.before) for c in changes if c.before),
            'after': dict((c.tag, c.after) for c in changes if c.after),
        }
    return result
