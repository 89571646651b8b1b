# -*- coding: utf-8 -*-
# Copyright (c) regops.registry contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module util is PRIVATE to the collection: it may change at any time.
"""Planner and executor of ``retention_prune``: mark and sweep by digest.

Plan (reads only, ``parallel`` requests at a time): list the tags, decide by name which rules select them,
resolve each tag to its digest (one HEAD, or one GET when a rule needs the image's age, which the config then
gives), decide every tag (``_retention``), then mark: a digest is kept when a kept tag points at it, every child
of a kept index is kept (an index that cannot be read fails the repository closed: nothing is deleted there),
and a signature or attestation is kept with its subject, goes after it, or is left alone when its subject
stays; a condemned image whose OCI ``subject`` is kept is kept too (one GET of each condemned image not read
yet). The sweep set is every condemned tag's digest that is not kept; with ``delete_untagged`` also the
children of condemned indexes that nothing kept uses, and the referrers of condemned manifests where the
registry lists them. A condemned tag on a kept digest is only untagged where the registry can delete a tag
alone; otherwise it stays and the plan says why.

Execute: nothing starts unless the registry accepts deletes. Per repository the tags are listed again and every
tag not planned to go is resolved again: a new tag, or one that moved, pins the image it points at now. Deletes
go in waves: a manifest goes only after every index or subject it goes with was deleted, and just before each
wave the tags planned with its digests are resolved again; one that moved is not deleted and pins its new image.
"""

from __future__ import annotations

import secrets

from ansible_collections.regops.registry.plugins.module_utils._errors import (
    AuthenticationError,
    AuthorizationError,
    InvalidInputError,
    ManifestNotFoundError,
    NotFoundError,
    RegistryError,
    RegistryProtocolError,
    RepositoryNotFoundError,
    UnsupportedError,
    reporting_partial_writes,
)
from ansible_collections.regops.registry.plugins.module_utils._client import IMAGE_MEDIA_TYPES, INDEX_MEDIA_TYPES, SCHEMA1_MEDIA_TYPES
from ansible_collections.regops.registry.plugins.module_utils._image_source import load_json
from ansible_collections.regops.registry.plugins.module_utils._index import index_children
from ansible_collections.regops.registry.plugins.module_utils._parallel import map_parallel, run_parallel, validate_parallel
from ansible_collections.regops.registry.plugins.module_utils._reference import validate_repository
from ansible_collections.regops.registry.plugins.module_utils._retention import DELETE, KEEP, Decision, Policy, parse_created
from ansible_collections.regops.registry.plugins.module_utils._tags import compile_pattern

UNTAG = 'untag'
STAY = 'stay'
CREATED_LABEL = 'org.opencontainers.image.created'
TAGGED, CHILD, REFERRER = 'tagged', 'child', 'referrer'
# What a manifest that cannot be read as an image raises (schema 1, malformed, missing): it has no known age, and no
# subject.
UNREADABLE = (UnsupportedError, InvalidInputError, NotFoundError)
GONE = ('deleted', 'untagged', 'gone before the delete')  # outcomes after which a tag or manifest is not there


class TagPlan(object):
    __slots__ = ('tag', 'digest', 'action', 'rule', 'reason', 'outcome')

    def __init__(self, tag, digest, action, rule, reason):
        self.tag = tag
        self.digest = digest
        self.action = action
        self.rule = rule
        self.reason = reason
        self.outcome = None

    def as_dict(self):
        entry = {'tag': self.tag, 'digest': self.digest, 'action': self.action, 'rule': self.rule, 'reason': self.reason}
        if self.outcome:
            entry['outcome'] = self.outcome
        return entry


class ManifestPlan(object):
    """A manifest to delete: ``kind`` is tagged, child (of condemned indexes ``parents``) or referrer (of ``parents``)."""

    __slots__ = ('digest', 'kind', 'tags', 'parents', 'reason', 'outcome')

    def __init__(self, digest, kind, reason, tags=(), parents=()):
        self.digest = digest
        self.kind = kind
        self.tags = list(tags)
        self.parents = set(parents)
        self.reason = reason
        self.outcome = None

    def as_dict(self):
        entry = {'digest': self.digest, 'kind': self.kind, 'tags': sorted(self.tags), 'reason': self.reason}
        if self.parents:
            entry['parents'] = sorted(self.parents)
        if self.outcome:
            entry['outcome'] = self.outcome
        return entry


class RepositoryPlan(object):
    def __init__(self, repository):
        self.repository = repository
        self.tags = []  # TagPlan, by tag name
        self.manifests = []  # ManifestPlan, tagged first, then children, then referrers
        self.kept = set()  # every digest that must survive
        self.media_types = {}  # digest: media type, of what was resolved or read
        self.children = {}  # index digest: child digests, of every index read
        self.subjects = {}  # digest: its kept subject, of every condemned referrer kept with its subject
        self.notes = []
        self.error = None
        self.error_class = None  # the RegistryError subclass of ``error``
        self.deleted_manifests = 0

    @property
    def work(self):
        return bool(self.manifests) or any(t.action == UNTAG for t in self.tags)

    def count(self, action):
        return sum(1 for t in self.tags if t.action == action)

    def as_dict(self, check_mode):
        result = {
            'repository': self.repository,
            'tags': [t.as_dict() for t in self.tags],
            'manifests': [m.as_dict() for m in self.manifests],
            'summary': dict((a, self.count(a)) for a in (KEEP, DELETE, UNTAG, STAY)),
            'notes': list(self.notes),
        }
        result['summary']['manifests'] = len(self.manifests)
        if not check_mode:
            result['deleted'] = {
                'manifests': sorted(m.digest for m in self.manifests if m.outcome == 'deleted'),
                'tags': sorted(t.tag for t in self.tags if t.outcome in ('deleted', 'untagged')),
            }
        if self.error:
            result['error'] = self.error
        return result

    def tags_after(self, check_mode):
        gone = (DELETE, UNTAG) if check_mode else ()
        return sorted(t.tag for t in self.tags if t.action not in gone and t.outcome not in GONE)


# ------------------------------------------------------------------ reading

def _resolve(client, repository, tag, read):
    """``(digest, media type, Manifest or None)`` of a tag, or None when it is gone.

    With ``read`` (a rule needs the image's age) one GET brings the manifest too; otherwise one HEAD.
    """
    if read:
        try:
            manifest = client.get_manifest(repository, tag)
            return manifest.digest, manifest.media_type, manifest
        except NotFoundError as exc:
            if isinstance(exc, RepositoryNotFoundError):
                raise
            return None
        except UnsupportedError:
            pass  # schema 1, or not an image: resolved by HEAD, and of unknown age
    head = client.head_manifest(repository, tag)
    return (head.digest, head.media_type, None) if head is not None else None


def _created(client, repository, digest, manifest=None):
    """The creation time of an image or index (see ``parse_created``), or None when it has none.

    An image whose manifest, config or images cannot be read as such (schema 1, malformed, missing) has no known
    age, which never condemns it.
    """
    try:
        return _read_created(client, repository, digest, manifest)
    except UNREADABLE:
        return None


def _read_created(client, repository, digest, manifest=None):
    manifest = manifest or client.get_manifest(repository, digest)
    what = '%s/%s@%s' % (client.address.name, repository, digest)
    doc = load_json(manifest.content, 'the manifest %s' % what)
    annotated = parse_created((doc.get('annotations') or {}).get(CREATED_LABEL))
    if manifest.media_type in INDEX_MEDIA_TYPES:
        if annotated:
            return annotated
        ages = [_read_created(client, repository, child) for child, _type in index_children(manifest, 'the index %s' % what)]
        ages = [a for a in ages if a is not None]
        return max(ages) if ages else None
    config_desc = doc.get('config')
    if not isinstance(config_desc, dict) or not isinstance(config_desc.get('digest'), str):
        return annotated
    config = load_json(client.get_blob(repository, config_desc['digest']), 'the image config of %s' % what)
    labels = (config.get('config') or {}).get('Labels') or {}
    return parse_created(labels.get(CREATED_LABEL)) or annotated or parse_created(config.get('created'))


def _read_children(client, repository, plan, digests, parallel):
    """Read the indexes among ``digests`` (media type unknown counts as maybe an index); record their children."""
    to_read = [d for d in digests if d not in plan.children and plan.media_types.get(d) not in IMAGE_MEDIA_TYPES]
    if not to_read:
        return

    def read(digest):
        try:
            manifest = client.get_manifest(repository, digest)
        except UnsupportedError:
            return plan.media_types.get(digest) or '', []  # schema 1 or an artifact manifest: not an index
        if manifest.media_type not in INDEX_MEDIA_TYPES:
            return manifest.media_type, []
        children = index_children(manifest, 'the index %s/%s@%s' % (client.address.name, repository, digest))
        for child, _type in children:
            if not child.startswith('sha256:'):
                # Tags resolve to sha256 digests: a child named otherwise could not be matched with them.
                raise UnsupportedError('the index names an image by %s, not sha256' % child.split(':', 1)[0],
                                       registry=client.address.name, repository=repository, reference=digest)
        return manifest.media_type, children

    def record(digest, found):
        media_type, children = found
        plan.media_types[digest] = media_type
        plan.children[digest] = [child for child, _type in children]
        for child, child_type in children:
            plan.media_types.setdefault(child, child_type)

    run_parallel(to_read, read, parallel, done=record)


def _close(client, repository, plan, roots, parallel):
    """Every digest reachable from ``roots`` through index children (reading the indexes not read yet)."""
    reached = set()
    frontier = set(roots)
    while frontier:
        reached |= frontier
        _read_children(client, repository, plan, frontier, parallel)
        frontier = set(c for d in frontier for c in plan.children.get(d, ())) - reached
    return reached


def _mark(client, repository, plan, roots, parallel):
    """Add ``roots`` and everything they use to the kept set. A kept index that cannot be read fails closed."""
    try:
        plan.kept |= _close(client, repository, plan, roots, parallel)
    except RegistryError as exc:
        raise type(exc)(
            'cannot read a kept manifest (%s), so what it uses is unknown; nothing is deleted in this repository' % exc,
            registry=client.address.name, repository=repository, hint='Fix or delete the broken manifest, then run again')


# ------------------------------------------------------------------ plan

def plan_repository(client, repository, policy, parallel, delete_untagged=True, check_mode=False, now=None):
    """Work out what to delete in one repository. Reads only (and probes that delete nothing).

    In check mode a probe the user may not send (no delete permission) is noted instead of failing the plan.
    """
    plan = RepositoryPlan(repository)
    names = client.list_tags(repository)
    assignment = policy.assign(names)
    needing_age = assignment.tags_needing_age()
    resolved = map_parallel(names, lambda tag: _resolve(client, repository, tag, tag in needing_age), parallel)
    tags, fetched = {}, {}
    dangling = sorted(tag for tag in names if resolved[tag] is None)
    if dangling:
        plan.notes.append('%d listed tags point at no manifest (%s%s): deleted meanwhile, or left behind by a delete the '
                          'registry did not finish (stopped in the middle); they hold nothing' % (
                              len(dangling), ', '.join(dangling[:10]), ', ...' if len(dangling) > 10 else ''))
    for tag in names:
        if resolved[tag] is not None:
            digest, media_type, manifest = resolved[tag]
            tags[tag] = digest
            plan.media_types[digest] = media_type
            if manifest is not None:
                fetched[digest] = manifest
    ages = map_parallel(sorted(set(tags[t] for t in needing_age if t in tags)),
                        lambda digest: _created(client, repository, digest, fetched.get(digest)), parallel)
    decisions = assignment.decide(tags, ages.get, now)

    artefacts = dict((t, subject) for t, subject in assignment.artefacts.items() if t in tags)
    decisions.update(_decide_artefacts(client, plan, tags, decisions, artefacts, fetched, parallel, delete_untagged))

    _plan_tags(client, plan, tags, decisions, names, check_mode)
    by_digest = {}
    for entry in plan.tags:
        if entry.action == DELETE:
            by_digest.setdefault(entry.digest, []).append(entry)
    for digest in sorted(by_digest):
        entries = by_digest[digest]
        reason = '; '.join(sorted(set('%s: %s' % (e.tag, e.reason) for e in entries)))
        plan.manifests.append(ManifestPlan(digest, TAGGED, reason, tags=[e.tag for e in entries]))
    if delete_untagged:
        _plan_children(plan)
    planned = dict((m.digest, m) for m in plan.manifests)
    for entry in plan.manifests:
        # A signature or attestation goes after its subject, and only if the subject went.
        entry.parents.update(artefacts[t] for t in entry.tags
                             if t in artefacts and artefacts[t] in planned and artefacts[t] != entry.digest)
    if delete_untagged:
        _plan_referrers(client, plan, parallel)
    return plan


def _decide_artefacts(client, plan, tags, decisions, artefacts, fetched, parallel, delete_untagged):
    """Mark what the kept tags use, and decide the signature and attestation tags: each is kept when its subject
    is kept, deleted when its subject is deleted, and left alone (kept) otherwise. A condemned image whose OCI
    ``subject`` is kept is kept too (a referrer under a plain tag of its own). A kept artefact or referrer keeps
    what it uses, which can save more, so this goes round until nothing changes. Returns the artefacts' decisions.
    """
    _mark(client, plan.repository, plan, set(tags[t] for t, d in decisions.items() if d.action == KEEP), parallel)
    subjects = {}  # condemned image digest: the digest its OCI subject names (or None), read once
    while True:
        decided = {}
        following = True
        while following:  # a signature of a kept signature is kept too
            following = [t for t, subject in artefacts.items() if t not in decided and subject in plan.kept]
            for tag in following:
                decided[tag] = Decision(KEEP, 'subject', 'signature or attestation of %s, which is kept' % artefacts[tag])
            _mark(client, plan.repository, plan, set(tags[t] for t in following), parallel)
        doomed = _doomed(client, plan, set(tags[t] for t, d in decisions.items() if d.action == DELETE), parallel,
                         delete_untagged)
        going = True
        while going:  # a signature of a condemned signature goes too
            going = [t for t, subject in artefacts.items() if t not in decided and subject in doomed]
            for tag in going:
                decided[tag] = Decision(DELETE, 'subject', 'signature or attestation of %s, which is deleted' % artefacts[tag])
            doomed |= _doomed(client, plan, set(tags[t] for t in going), parallel, delete_untagged)
        alone = [t for t in artefacts if t not in decided]
        for tag in alone:
            decided[tag] = Decision(KEEP, 'subject', 'signature or attestation of %s, which is not deleted here; left alone'
                                    % artefacts[tag])
        unmarked = set(tags[t] for t in alone) - plan.kept
        condemned = set(tags[t] for t, d in list(decisions.items()) + list(decided.items()) if d.action == DELETE)
        unmarked |= _referrers_of_kept(client, plan, condemned - plan.kept, fetched, subjects, parallel)
        if not unmarked:
            return decided
        _mark(client, plan.repository, plan, unmarked, parallel)


def _referrers_of_kept(client, plan, condemned, fetched, subjects, parallel):
    """The ``condemned`` images whose OCI ``subject`` is kept; each one's subject goes in ``plan.subjects``. Reads
    (in parallel) only the image manifests not read yet: those ``fetched`` by tag for their age are reused."""
    to_read = sorted(d for d in condemned if d not in subjects
                     and plan.media_types.get(d) not in INDEX_MEDIA_TYPES + SCHEMA1_MEDIA_TYPES)
    subjects.update(map_parallel(to_read, lambda digest: _subject(client, plan.repository, digest, fetched.get(digest)),
                                 parallel))
    referrers = set(d for d in condemned if subjects.get(d) in plan.kept)
    plan.subjects.update((d, subjects[d]) for d in referrers)
    return referrers


def _subject(client, repository, digest, manifest=None):
    """The digest the OCI ``subject`` of an image manifest names, or None (none, or not readable as an image)."""
    try:
        manifest = manifest or client.get_manifest(repository, digest)
        doc = load_json(manifest.content, 'the manifest %s/%s@%s' % (client.address.name, repository, digest))
    except UNREADABLE:
        return None
    subject = doc.get('subject') if manifest.media_type not in INDEX_MEDIA_TYPES else None
    return subject.get('digest') if isinstance(subject, dict) and isinstance(subject.get('digest'), str) else None


def _doomed(client, plan, condemned, parallel, delete_untagged):
    """What deleting the ``condemned`` digests takes: those not kept, and with ``delete_untagged`` what only they use."""
    doomed = set(condemned) - plan.kept
    if not delete_untagged:
        return doomed
    try:
        return doomed | (_close(client, plan.repository, plan, doomed, parallel) - plan.kept)
    except RegistryError as exc:
        note = 'a condemned index could not be read, so what it uses stays: %s' % exc
        if note not in plan.notes:
            plan.notes.append(note)
        return doomed


def _plan_tags(client, plan, tags, decisions, names, check_mode):
    """One TagPlan per tag. A condemned tag on a kept digest is untagged where the registry can, else it stays."""
    keepers = {}
    for tag in sorted(tags):
        if decisions[tag].action == KEEP:
            keepers.setdefault(tags[tag], tag)
    untag = None
    for tag in sorted(tags):
        digest, decision = tags[tag], decisions[tag]
        if decision.action == KEEP or digest not in plan.kept:
            plan.tags.append(TagPlan(tag, digest, decision.action, decision.rule, decision.reason))
            continue
        if untag is None:
            untag = _tag_deletes_supported(client, plan, names, check_mode)
        keeper = 'the kept tag %s points at it' % keepers[digest] if digest in keepers else 'a kept index uses it'
        if digest not in keepers and digest in plan.subjects:
            keeper = 'it is a referrer of the kept %s' % plan.subjects[digest]
        if untag:
            plan.tags.append(TagPlan(tag, digest, UNTAG, decision.rule, '%s; its image stays (%s), only the tag is removed' % (
                decision.reason, keeper)))
        else:
            plan.tags.append(TagPlan(tag, digest, STAY, decision.rule, (
                '%s; but its image is kept (%s) and this registry cannot delete a tag without its image '
                '(distribution 2.x), so the tag stays') % (decision.reason, keeper)))


def _tag_deletes_supported(client, plan, names, check_mode):
    try:
        return client.tag_deletes_supported(plan.repository, _absent_tag(names))
    except (AuthenticationError, AuthorizationError) as exc:
        if not check_mode:
            raise
        plan.notes.append('could not ask whether the registry deletes a tag alone (%s); the plan assumes it cannot' % exc)
        return False


def _absent_tag(names):
    existing = set(names)
    while True:
        tag = 'regops-tag-delete-probe-%s' % secrets.token_hex(6)
        if tag not in existing:
            return tag


def _plan_following(plan, kind, related, reason):
    """Plan what goes with the planned manifests: ``related(digests)`` maps each digest to those that go with it
    (the children of an index, the referrers of a subject). Each goes after all it goes with, and only if nothing
    kept uses it and no tag names it (a condemned tag of its own has planned it already: it just waits its turn).
    """
    planned = dict((m.digest, m) for m in plan.manifests)
    tagged = set(t.digest for t in plan.tags)
    frontier = [m.digest for m in plan.manifests]
    while frontier:
        following = []
        for parent, digests in related(frontier).items():
            for digest in digests:
                if digest in plan.kept:
                    continue
                if digest in planned:
                    planned[digest].parents.add(parent)
                elif digest not in tagged:
                    planned[digest] = ManifestPlan(digest, kind, reason(parent), parents=[parent])
                    plan.manifests.append(planned[digest])
                    following.append(digest)
        frontier = following


def _plan_children(plan):
    """The children of condemned indexes that nothing kept uses (``_plan_following``)."""
    _plan_following(plan, CHILD, lambda digests: dict((d, plan.children.get(d, ())) for d in digests),
                    lambda parent: 'only condemned indexes use it and no tag names it')


def _plan_referrers(client, plan, parallel):
    """The referrers (OCI 1.1 ``subject``) of condemned manifests, where the registry lists them."""
    if not plan.manifests:
        return
    if client.list_referrers(plan.repository, plan.manifests[0].digest) is None:
        plan.notes.append('the registry has no referrers API: referrers of deleted manifests that no tag names are '
                          'left for garbage collection')
        return

    def referrers(digests):
        found = map_parallel(digests, lambda digest: client.list_referrers(plan.repository, digest) or [], parallel)
        related = {}
        for digest, descs in found.items():
            related[digest] = [d['digest'] for d in descs if d['digest'].startswith('sha256:')]
            if len(related[digest]) < len(descs):
                plan.notes.append('referrers of %s named by other digests than sha256 are left alone' % digest)
        return related

    _plan_following(plan, REFERRER, referrers, lambda subject: 'refers to %s, which is condemned' % subject)


# ------------------------------------------------------------------ execute

def execute_repository(client, plan, parallel):
    """Carry out a plan, re-checking what could have moved since it was made (see the module docstring)."""
    if not plan.work:
        return
    repository = plan.repository
    planned = dict((t.tag, t) for t in plan.tags)
    names = client.list_tags(repository)
    # Every tag not planned to go: a tag pushed since, or a kept one moved (release tags too: other tools can move
    # them), pins the image it points at now. The condemned ones are resolved again wave by wave.
    recheck = [t for t in names if t not in planned] + [t.tag for t in plan.tags if t.action != DELETE]
    heads = map_parallel(recheck, lambda tag: client.head_manifest(repository, tag), parallel)
    pinned = {}  # digest: why it must stay now
    for tag, head in heads.items():
        if head is None:
            continue
        plan.media_types.setdefault(head.digest, head.media_type)
        entry = planned.get(tag)
        if entry is None:
            pinned.setdefault(head.digest, 'the tag %s appeared after planning' % tag)
        elif head.digest != entry.digest:
            pinned.setdefault(head.digest, 'the kept tag %s moved to it after planning' % tag)
    _mark(client, repository, plan, set(pinned), parallel)

    by_tag = dict((t.tag, t) for t in plan.tags)
    entries = dict((m.digest, m) for m in plan.manifests)
    pending = list(plan.manifests)
    while pending:
        # Waves: a manifest waits until everything it goes with has an outcome, and goes only if all were deleted.
        wave = [m for m in pending if all(entries[p].outcome for p in m.parents)]
        if not wave:
            # What is left goes with itself in a circle (tags naming each other's digests): nothing of it is deleted.
            for entry in pending:
                entry.outcome = 'skipped: it goes with manifests that go with it in a circle'
            break
        pending = [m for m in pending if not all(entries[p].outcome for p in m.parents)]
        _deleting(plan, lambda: _delete_wave(client, plan, wave, pending, by_tag, entries, pinned, parallel))

    untags = [t for t in plan.tags if t.action == UNTAG]
    _deleting(plan, lambda: run_parallel(untags, lambda t: _untag(client, plan, t), parallel,
                                         done=lambda t, outcome: setattr(t, 'outcome', outcome)))


def _delete_wave(client, plan, wave, pending, by_tag, entries, pinned, parallel):
    """Resolve every condemned tag still there once more (of this wave and the later ones), settle what moved,
    then delete the rest of the wave."""
    repository = plan.repository
    tags = [t for m in wave + pending for t in m.tags if by_tag[t].outcome is None]
    heads = map_parallel(tags, lambda tag: client.head_manifest(repository, tag), parallel)
    for entry in wave + pending:
        for tag in entry.tags:
            if tag not in heads:
                continue
            head = heads[tag]
            if head is None:
                by_tag[tag].outcome = 'gone before the delete'
            elif head.digest != entry.digest:
                by_tag[tag].outcome = 'skipped: moved to %s after planning' % head.digest
                pinned.setdefault(head.digest, 'the condemned tag %s moved to it after planning' % tag)
    _mark(client, repository, plan, set(pinned), parallel)
    deletable = []
    for entry in wave:
        if entry.digest in plan.kept:
            entry.outcome = 'skipped: %s' % pinned.get(entry.digest, 'a tag that appeared or moved uses it now')
        elif any(entries[p].outcome not in GONE for p in entry.parents):
            entry.outcome = 'skipped: %s, which it goes with, was not deleted' % ', '.join(
                sorted(p for p in entry.parents if entries[p].outcome not in GONE))
        elif entry.tags and all(by_tag[t].outcome for t in entry.tags):
            entry.outcome = 'skipped: its tags moved or went after planning'
        else:
            deletable.append(entry)

    def delete(entry):
        try:
            client.delete_manifest(repository, entry.digest)
        except ManifestNotFoundError:
            return 'gone before the delete'
        return 'deleted'

    def record(entry, outcome):
        entry.outcome = outcome
        if outcome == 'deleted':
            plan.deleted_manifests += 1
            for tag in entry.tags:
                if by_tag[tag].outcome is None:
                    by_tag[tag].outcome = 'deleted'

    run_parallel(deletable, delete, parallel, done=record)


def _untag(client, plan, tag_plan):
    head = client.head_manifest(plan.repository, tag_plan.tag)
    if head is None:
        return 'gone before the delete'
    if head.digest != tag_plan.digest:
        return 'skipped: moved to %s after planning' % head.digest
    if not client.delete_tag(plan.repository, tag_plan.tag):
        return 'skipped: the registry refused to delete the tag alone'
    if client.head_manifest(plan.repository, tag_plan.digest) is None:
        raise RegistryProtocolError(
            'deleting the tag %s deleted its image too, which other tags keep; stopping' % tag_plan.tag,
            registry=client.address.name, repository=plan.repository, reference=tag_plan.digest,
            hint='This registry does not implement the OCI tag delete; push the image again under its kept tags')
    return 'untagged'


def _deleting(plan, action):
    """Run deletes; a failure after some of them says how many were done (``reporting_partial_writes``)."""
    def done():
        untagged = sum(1 for t in plan.tags if t.outcome == 'untagged')
        if plan.deleted_manifests or untagged:
            return 'already deleted: %d manifests, %d tags untagged' % (plan.deleted_manifests, untagged)
        return ''

    with reporting_partial_writes(done):
        action()


# ------------------------------------------------------------------ module

def select_repositories(client, repositories, pattern):
    """The repositories to prune: the ones named, or those of the catalog that ``pattern`` matches in full."""
    name = client.address.name
    if pattern is None:
        if not repositories:
            raise InvalidInputError('give repository (one or a list) or repository_pattern', registry=name)
        return list(dict.fromkeys(validate_repository(r, registry=name) for r in repositories))
    compiled = compile_pattern(pattern, 'repository_pattern')
    return sorted(r for r in client.list_repositories() if compiled.fullmatch(r))


def run_retention_prune(client, params, check_mode=False, diff=False):
    """Plan every repository, then (unless in check mode) delete; build the module result."""
    parallel = validate_parallel(params['parallel'])
    policy = Policy(protect=params['protect'], rules=params['rules'], suffixes=params['suffixes'])
    repositories = select_repositories(client, params['repository'], params['repository_pattern'])
    plans = []
    for repository in repositories:
        plan = RepositoryPlan(repository)
        try:
            plan = plan_repository(client, repository, policy, parallel, delete_untagged=params['delete_untagged'],
                                   check_mode=check_mode)
        except RegistryError as exc:
            plan.error, plan.error_class = str(exc), type(exc)
        plans.append(plan)

    warnings = []
    with_work = [p for p in plans if p.work and not p.error]
    if with_work and not _deletes_enabled(client, with_work[0].repository, check_mode, warnings):
        problem = UnsupportedError(
            'deletes are disabled on the registry (it answers 405), so nothing can be pruned',
            registry=client.address.name,
            hint='Run the registry with storage.delete.enabled: true (REGISTRY_STORAGE_DELETE_ENABLED=true), then run again')
        if not check_mode:
            problem.message += '; nothing was deleted'
            raise problem
        warnings.append(str(problem))
        with_work = []  # a real run would change nothing

    if not check_mode:
        for plan in with_work:
            try:
                execute_repository(client, plan, parallel)
            except RegistryError as exc:
                plan.error, plan.error_class = str(exc), type(exc)

    result = _result(client, plans, with_work, check_mode, diff)
    if warnings:
        result['warnings'] = warnings
    failed = [p for p in plans if p.error]
    if failed:
        # The class of the failures when they are all of one (a wrong password fails every repository alike).
        classes = set(p.error_class for p in failed)
        error_class = classes.pop() if len(classes) == 1 else RegistryError
        error = error_class('%d of %d repositories failed: %s' % (len(failed), len(plans), '; '.join(p.error for p in failed)),
                            registry=client.address.name)
        error.facts.update(dict((k, v) for k, v in result.items() if k != 'msg'))
        raise error
    return result


def _deletes_enabled(client, repository, check_mode, warnings):
    """Ask the registry up front. In check mode, a user without delete permission gets a warning, not a failure."""
    try:
        return client.deletes_enabled(repository)
    except (AuthenticationError, AuthorizationError) as exc:
        if not check_mode:
            raise
        warnings.append('could not ask whether deletes are enabled (%s); a real run needs a user that may delete' % exc)
        return True


def _result(client, plans, with_work, check_mode, diff):
    deleted_manifests = sum(p.deleted_manifests for p in plans)
    untagged = sum(1 for p in plans for t in p.tags if t.outcome == 'untagged')
    totals = dict((a, sum(p.count(a) for p in plans)) for a in (KEEP, DELETE, UNTAG, STAY))
    manifests = sum(len(p.manifests) for p in plans)
    would = check_mode and any(p.manifests or p.count(UNTAG) for p in with_work)
    summary = '%d tags kept, %d deleted, %d untagged, %d stay; %d manifests to delete' % (
        totals[KEEP], totals[DELETE], totals[UNTAG], totals[STAY], manifests)
    if not check_mode:
        summary += '; deleted %d manifests, untagged %d tags' % (deleted_manifests, untagged)
    result = {
        'changed': bool(would or deleted_manifests or untagged),
        'msg': '%s: %d repositories: %s%s' % (client.address.name, len(plans), 'plan only (check mode), ' if check_mode else '', summary),
        'registry': client.address.name,
        'repositories': [p.as_dict(check_mode) for p in plans],
    }
    if diff:
        result['diff'] = {
            'before_header': '%s (repository:tag)' % client.address.name,
            'after_header': '%s (repository:tag)' % client.address.name,
            'before': ''.join('%s:%s\n' % (p.repository, t.tag) for p in plans for t in p.tags),
            'after': ''.join('%s:%s\n' % (p.repository, tag) for p in plans for tag in p.tags_after(check_mode)),
        }
    return result
