# -*- coding: utf-8 -*-
# Copyright (c) regops.registry contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module util is PRIVATE to the collection: it may change at any time.
"""The retention policy language of ``retention_prune``: which tags a policy keeps, which it condemns, and why.

Pure logic, no requests. Tags are decided in this order:

1. ``protect`` patterns (regular expressions, searched): a tag that matches one is kept, whatever else says.
2. Signature and attestation tags (``sha256-<hex>.sig``, ``.att``, ``.sbom``, the referrers fallback
   ``sha256-<hex>``) are not decided here: they go only with their subject (``_retention_prune``).
3. The rules, in order: the first rule that selects a tag decides it. A rule selects with ``match`` (a regular
   expression, searched), ``prefixes`` and ``semver``; all that are given must agree.
4. A tag no rule selects is kept.

A ``semver`` rule reads release tags ``[v]X.Y.Z[-pre]<suffix>`` and their aliases ``[v]X.Y<suffix>``,
``[v]X<suffix>``, ``latest<suffix>``, where ``suffix`` is one of the per-architecture suffixes, so that
``v3.0.0-amd64`` follows the decision on release 3.0.0. It keeps the newest release of each major line (or of
the newest ``majors`` lines), the last ``minors`` minor lines of the current (highest) major, the last
``patches`` patches of each of those minor lines, every ``latest`` tag, and the aliases of kept lines. Other
stable releases are condemned. Prereleases are selected only when ``prereleases`` is set: the newest that many
newer than every stable release are kept, the rest condemned.

Any other rule keeps the newest ``keep_newest`` images and/or condemns those older than ``older_than_days``
(both given: condemned only when both hold). ``order: created`` (default) ranks images (distinct digests) by
creation time; ``order: semver`` ranks versions, and selects only tags that read as versions. An image of
unknown age is never condemned for its age, and ``order: created`` keeps it without counting it among the
newest (``keep_newest: 0`` still condemns it, as it condemns every image the rule selects).
"""

from __future__ import annotations

import datetime
import re

from ansible_collections.regops.registry.plugins.module_utils._errors import InvalidInputError
from ansible_collections.regops.registry.plugins.module_utils._semver import ALIAS_RE, VERSION_RE, parse_version, validate_suffix
from ansible_collections.regops.registry.plugins.module_utils._tags import compile_pattern

KEEP = 'keep'
DELETE = 'delete'

# Per-architecture tag suffixes understood by default (Go architecture names that start with a letter).
DEFAULT_SUFFIXES = ('-amd64', '-arm64', '-armv7', '-armv6', '-arm', '-ppc64le', '-s390x', '-riscv64')

# cosign's signature/attestation/SBOM tags and the OCI referrers tag schema: sha256-<hex>[.<kind>].
ARTEFACT_TAG_RE = re.compile(r'^(?P<algorithm>sha256|sha512)-(?P<encoded>[0-9a-f]{64}|[0-9a-f]{128})(?:\.[A-Za-z0-9_-]{1,40})?\Z')
ORDERS = ('created', 'semver')
# Defaults of a semver rule: the last 10 minor versions of the current major, the last 5 patches of each.
SEMVER_DEFAULTS = {'minors': 10, 'patches': 5}
RFC3339_RE = re.compile(r'^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})\Z')
# Reproducible builds stamp the epoch: such an image has no known age.
_EPOCH_YEAR = 1970


class Decision(object):
    """What the policy says of one tag: ``action`` (keep or delete), the rule that decided, and why."""

    __slots__ = ('action', 'rule', 'reason')

    def __init__(self, action, rule, reason):
        self.action = action
        self.rule = rule
        self.reason = reason

    def __repr__(self):
        return 'Decision(%r, %r, %r)' % (self.action, self.rule, self.reason)


class ReleaseTag(object):
    """A tag read as a release: ``kind`` is release, minor, major or latest; ``line`` the version numbers it names."""

    __slots__ = ('kind', 'version', 'line', 'suffix')

    def __init__(self, kind, version=None, line=(), suffix=''):
        self.kind = kind
        self.version = version
        self.line = line
        self.suffix = suffix


def parse_release_tag(tag, suffixes=DEFAULT_SUFFIXES):
    """Read ``tag`` as a release tag or alias with an optional per-architecture suffix; None if it is neither."""
    candidates = [(tag[:-len(s)], s) for s in sorted(suffixes, key=len, reverse=True) if len(tag) > len(s) and tag.endswith(s)]
    for base, suffix in candidates + [(tag, '')]:
        if base == 'latest':
            return ReleaseTag('latest', suffix=suffix)
        if VERSION_RE.match(base):
            version = parse_version(base)
            return ReleaseTag('release', version=version, line=(version.major, version.minor, version.patch), suffix=suffix)
        match = ALIAS_RE.match(base)
        if match:
            if match.group('minor') is None:
                return ReleaseTag('major', line=(int(match.group('major')),), suffix=suffix)
            return ReleaseTag('minor', line=(int(match.group('major')), int(match.group('minor'))), suffix=suffix)
    return None


def artefact_subject(tag):
    """The subject digest of a signature, attestation or referrers tag (``sha256-<hex>[.kind]``), else None."""
    match = ARTEFACT_TAG_RE.match(tag)
    if not match:
        return None
    return '%s:%s' % (match.group('algorithm'), match.group('encoded'))


def parse_created(value):
    """An RFC 3339 time as an aware datetime; None when missing, malformed or the epoch (unknown age)."""
    if not isinstance(value, str):
        return None
    match = RFC3339_RE.match(value.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        if zone in ('Z', 'z'):
            tz = datetime.timezone.utc
        else:
            sign = 1 if zone[0] == '+' else -1
            tz = datetime.timezone(sign * datetime.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
        created = datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                                    int((fraction or '0')[:6].ljust(6, '0')), tzinfo=tz)
    except ValueError:
        return None
    if created.year <= _EPOCH_YEAR:
        return None
    return created


def _count(rule, key, value, minimum):
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InvalidInputError('%s: %s must be a whole number of at least %d, got %r' % (rule, key, minimum, value))
    return value


class Rule(object):
    """One rule of a policy (see the module documentation)."""

    def __init__(self, spec, position, suffixes):
        spec = dict((k, v) for k, v in (spec or {}).items() if v is not None)
        self.name = spec.get('name') or 'rule %d' % position
        known = ('name', 'match', 'prefixes', 'semver', 'keep_newest', 'older_than_days', 'order')
        unknown = sorted(set(spec) - set(known))
        if unknown:
            raise InvalidInputError('%s: unknown keys %s; a rule has %s' % (self.name, ', '.join(unknown), ', '.join(known)))
        self.suffixes = suffixes
        self.match = compile_pattern(spec['match'], '%s: match' % self.name) if 'match' in spec else None
        self.prefixes = tuple(spec.get('prefixes') or ())
        self.semver = None
        self.keep_newest = _count(self.name, 'keep_newest', spec.get('keep_newest'), 0)
        self.older_than_days = _count(self.name, 'older_than_days', spec.get('older_than_days'), 0)
        self.order = spec.get('order') or 'created'
        if self.order not in ORDERS:
            raise InvalidInputError('%s: order must be one of %s, got %r' % (self.name, ', '.join(ORDERS), self.order))
        if 'semver' in spec:
            semver = dict((k, v) for k, v in (spec['semver'] or {}).items() if v is not None)
            unknown = sorted(set(semver) - {'majors', 'minors', 'patches', 'prereleases'})
            if unknown:
                raise InvalidInputError('%s: unknown semver keys %s; semver has majors, minors, patches, prereleases' % (
                    self.name, ', '.join(unknown)))
            if set(spec) & {'keep_newest', 'older_than_days', 'order'}:
                raise InvalidInputError('%s: a semver rule keeps by majors, minors and patches; keep_newest, '
                                        'older_than_days and order belong in a rule of their own' % self.name)
            self.semver = {
                'majors': _count(self.name, 'semver.majors', semver.get('majors'), 1),
                'minors': _count(self.name, 'semver.minors', semver.get('minors', SEMVER_DEFAULTS['minors']), 1),
                'patches': _count(self.name, 'semver.patches', semver.get('patches', SEMVER_DEFAULTS['patches']), 1),
                'prereleases': _count(self.name, 'semver.prereleases', semver.get('prereleases'), 0),
            }
        elif self.keep_newest is None and self.older_than_days is None:
            raise InvalidInputError('%s: say what the rule keeps: keep_newest, older_than_days (or both), or semver' % self.name)
        if self.match is None and not self.prefixes and self.semver is None:
            raise InvalidInputError('%s: say which tags the rule selects: match, prefixes or semver '
                                    '(match: ".*" selects every tag)' % self.name)

    @property
    def needs_age(self):
        return self.semver is None and (self.order == 'created' or self.older_than_days is not None)

    def selects(self, tag):
        if self.match is not None and not self.match.search(tag):
            return False
        if self.prefixes and not tag.startswith(self.prefixes):
            return False
        if self.semver is not None:
            parsed = parse_release_tag(tag, self.suffixes)
            if parsed is None:
                return False
            if parsed.kind == 'release' and parsed.version.is_prerelease and self.semver['prereleases'] is None:
                return False
        elif self.order == 'semver':
            parsed = parse_release_tag(tag, self.suffixes)
            return parsed is not None and parsed.kind == 'release'
        return True

    def decide(self, tags, age_of, now):
        """Decisions for the tags this rule selected: ``tags`` maps tag to digest, ``age_of(digest)`` a datetime or None."""
        if self.semver is not None:
            return self._decide_semver(tags)
        return self._decide_count(tags, age_of, now)

    # -- semver
    def _decide_semver(self, tags):
        cfg = self.semver
        parsed = dict((tag, parse_release_tag(tag, self.suffixes)) for tag in tags)
        stable = sorted(set(p.line for p in parsed.values() if p.kind == 'release' and not p.version.is_prerelease),
                        reverse=True)
        facts = _SemverFacts(stable, cfg)
        newest_stable = stable[0] if stable else None
        pre_candidates = sorted(set(p.version for p in parsed.values() if p.kind == 'release' and p.version.is_prerelease
                                    and (newest_stable is None or p.line > newest_stable)), reverse=True)
        facts.kept_pre = set(v.key() for v in pre_candidates[:cfg['prereleases'] or 0])
        return dict((tag, self._semver_decision(p, facts)) for tag, p in parsed.items())

    def _semver_decision(self, p, facts):
        cfg = self.semver
        if p.kind == 'latest':
            return Decision(KEEP, self.name, 'latest')
        if p.kind in ('minor', 'major'):
            line = '.'.join(str(n) for n in p.line)
            if p.line not in facts.released:
                return Decision(KEEP, self.name, 'alias of %s, which has no release here' % line)
            if p.line in facts.kept_series:
                return Decision(KEEP, self.name, 'alias of %s, which has kept releases' % line)
            return Decision(DELETE, self.name, 'alias of %s, whose releases are all condemned' % line)
        version = p.version
        if version.is_prerelease:
            if version.key() in facts.kept_pre:
                return Decision(KEEP, self.name, 'one of the newest %d prereleases newer than every release' % cfg['prereleases'])
            if facts.newest is not None and p.line <= facts.newest:
                return Decision(DELETE, self.name, 'prerelease %s superseded by release %d.%d.%d' % ((version,) + facts.newest))
            return Decision(DELETE, self.name, 'prerelease %s beyond the newest %d' % (version, cfg['prereleases']))
        if p.line in facts.kept:
            return Decision(KEEP, self.name, facts.kept[p.line])
        major, minor = p.line[0], p.line[1]
        if major not in facts.kept_majors:
            return Decision(DELETE, self.name, 'major %d is older than the newest %d major versions' % (major, cfg['majors']))
        if major != facts.current:
            return Decision(DELETE, self.name, 'superseded: the newest release of major %d is %d.%d.%d' % (
                (major,) + facts.newest_of_major[major]))
        if minor not in facts.kept_minors:
            return Decision(DELETE, self.name, 'minor %d.%d is not one of the last %d minor versions of major %d' % (
                major, minor, cfg['minors'], major))
        return Decision(DELETE, self.name, 'superseded: %d.%d.%d is beyond the last %d patches of %d.%d' % (
            p.line + (cfg['patches'], major, minor)))

    # -- count and age
    def _decide_count(self, tags, age_of, now):
        units = {}  # unit: tags; a unit is an image (digest) or, with order semver, a version
        for tag, digest in tags.items():
            if self.order == 'semver':
                unit = parse_release_tag(tag, self.suffixes).version
            else:
                unit = digest
            units.setdefault(unit, []).append(tag)
        decisions = {}
        if self.order == 'semver':
            ranked = sorted(units, reverse=True)
        else:
            # An image of unknown age cannot be ranked: it is kept, and does not count among the newest
            # (keep_newest: 0 ranks nothing, and condemns it like the others).
            for digest in [u for u in units if self.keep_newest and age_of(u) is None]:
                for tag in units.pop(digest):
                    decisions[tag] = Decision(KEEP, self.name, 'age unknown (the image has no creation time), so it is '
                                                               'neither ranked nor condemned')
            # Newest first (what has no age, left only when nothing is kept by count, last); ties by digest.
            oldest = datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)
            ranked = sorted(units, key=lambda d: (age_of(d) or oldest, d), reverse=True)
        limit = None if self.older_than_days is None else now - datetime.timedelta(days=self.older_than_days)
        for rank, unit in enumerate(ranked):
            beyond = self.keep_newest is not None and rank >= self.keep_newest
            for tag in units[unit]:
                created = age_of(tags[tag]) if limit is not None else None
                decisions[tag] = self._count_decision(rank, beyond, created, limit)
        return decisions

    def _count_decision(self, rank, beyond, created, limit):
        what = 'version' if self.order == 'semver' else 'image'
        ranked = '%s %d by %s' % (what, rank + 1, 'version' if self.order == 'semver' else 'creation time')
        if self.keep_newest is not None and not beyond:
            return Decision(KEEP, self.name, '%s, within the newest %d' % (ranked, self.keep_newest))
        if limit is None:
            return Decision(DELETE, self.name, '%s, beyond the newest %d' % (ranked, self.keep_newest))
        if created is None:
            return Decision(KEEP, self.name, 'age unknown (the image has no creation time), never condemned for age')
        age = 'created %s' % created.strftime('%Y-%m-%dT%H:%M:%SZ') if created.utcoffset() == datetime.timedelta(0) else created.isoformat()
        if created >= limit:
            return Decision(KEEP, self.name, '%s, not older than %d days' % (age, self.older_than_days))
        if self.keep_newest is None:
            return Decision(DELETE, self.name, '%s, older than %d days' % (age, self.older_than_days))
        return Decision(DELETE, self.name, '%s, beyond the newest %d and %s, older than %d days' % (
            ranked, self.keep_newest, age, self.older_than_days))


class _SemverFacts(object):
    """What a semver rule keeps among the stable release lines (``(major, minor, patch)``, newest first), worked
    out once so that each tag's decision is a lookup."""

    def __init__(self, stable, cfg):
        self.newest = stable[0] if stable else None
        self.newest_of_major = {}
        lines_of_minor = {}
        for line in stable:
            self.newest_of_major.setdefault(line[0], line)
            lines_of_minor.setdefault(line[:2], []).append(line)
        majors = sorted(self.newest_of_major, reverse=True)
        self.current = majors[0] if majors else None
        self.kept_majors = set(majors if cfg['majors'] is None else majors[:cfg['majors']])
        current_minors = sorted((minor for major, minor in lines_of_minor if major == self.current), reverse=True)
        self.kept_minors = set(current_minors[:cfg['minors']])
        self.kept = {}  # release line: why it is kept
        for major in majors:
            if major in self.kept_majors:
                self.kept.setdefault(self.newest_of_major[major], 'the newest release of major %d' % major)
        for minor in current_minors[:cfg['minors']]:
            for line in lines_of_minor[(self.current, minor)][:cfg['patches']]:
                self.kept.setdefault(line, 'one of the last %d patches of %d.%d, one of the last %d minor versions of the '
                                           'current major %d' % (cfg['patches'], self.current, minor, cfg['minors'], self.current))
        # Alias series (major,) and (major, minor): those with releases, and those with kept releases.
        self.released = set(line[:1] for line in stable) | set(lines_of_minor)
        self.kept_series = set(line[:1] for line in self.kept) | set(line[:2] for line in self.kept)
        self.kept_pre = set()


class Policy(object):
    """A compiled policy: protect patterns, rules and the per-architecture suffixes."""

    def __init__(self, protect=(), rules=(), suffixes=DEFAULT_SUFFIXES):
        self.suffixes = tuple(validate_suffix(s) for s in suffixes if s)
        self.protect = [(p, compile_pattern(p, 'protect pattern')) for p in protect]
        if not rules:
            raise InvalidInputError('the policy has no rules, so it would delete nothing: give at least one rule')
        self.rules = [Rule(spec, i + 1, self.suffixes) for i, spec in enumerate(rules)]
        names = [r.name for r in self.rules]
        duplicated = sorted(set(n for n in names if names.count(n) > 1))
        if duplicated:
            raise InvalidInputError('rule names must differ; repeated: %s' % ', '.join(duplicated))

    def assign(self, names):
        """Split tags by name alone (before any request): an Assignment."""
        assignment = Assignment(self.rules)
        for tag in names:
            protected = next((p for p, compiled in self.protect if compiled.search(tag)), None)
            if protected is not None:
                assignment.decided[tag] = Decision(KEEP, 'protect', 'matches the protect pattern %r' % protected)
                continue
            subject = artefact_subject(tag)
            if subject is not None:
                assignment.artefacts[tag] = subject
                continue
            rule = next((r for r in self.rules if r.selects(tag)), None)
            if rule is None:
                assignment.decided[tag] = Decision(KEEP, None, 'no rule selects this tag')
            else:
                assignment.by_rule[rule].append(tag)
        return assignment


class Assignment(object):
    """Tags split by a policy: ``decided`` (protected, or selected by no rule: tag to Decision), ``artefacts``
    (signature and attestation tags: tag to subject digest) and ``by_rule`` (rule to the tags it selected).
    """

    def __init__(self, rules):
        self.decided = {}
        self.artefacts = {}
        self.by_rule = dict((rule, []) for rule in rules)

    def tags_needing_age(self):
        """The tags whose image's creation time the rules need."""
        return set(t for rule, tags in self.by_rule.items() if rule.needs_age for t in tags)

    def decide(self, tags, age_of=lambda digest: None, now=None):
        """Every tag's Decision but the artefacts'. ``tags`` maps each tag still there to its digest; ``age_of(digest)``
        gives a creation time or None."""
        now = now or datetime.datetime.now(datetime.timezone.utc)
        decisions = dict((t, d) for t, d in self.decided.items() if t in tags)
        for rule, selected in self.by_rule.items():
            present = dict((t, tags[t]) for t in selected if t in tags)
            if present:
                decisions.update(rule.decide(present, age_of, now))
        return decisions
