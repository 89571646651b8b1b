# -*- coding: utf-8 -*-
# Copyright (c) regops.registry contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module util is PRIVATE to the collection: it may change at any time.
"""Semantic versions as release tags, and where floating aliases point.

A release tag is ``[v]MAJOR.MINOR.PATCH[-PRERELEASE]<suffix>``, for example
``v3.0.0``, ``3.0.0``, ``v3.0.0-amd64`` (suffix ``-amd64``) or
``v3.1.0-rc.1-amd64``. The aliases of a stable release are
``[v]MAJOR.MINOR<suffix>`` (minor), ``[v]MAJOR<suffix>`` (major) and
``latest<suffix>``. An alias only moves forward: it points at the highest
stable release among the tags that share its prefix style and suffix.
"""

from __future__ import annotations

import re

from ansible_collections.regops.registry.plugins.module_utils._errors import InvalidInputError

_NUM = r'(?:0|[1-9][0-9]*)'
_PRE_ID = r'(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)'
VERSION_RE = re.compile(
    r'^(?P<prefix>v?)(?P<major>%s)\.(?P<minor>%s)\.(?P<patch>%s)(?:-(?P<pre>%s(?:\.%s)*))?\Z' % (_NUM, _NUM, _NUM, _PRE_ID, _PRE_ID))
# The aliases [v]MAJOR and [v]MAJOR.MINOR (a suffix, if any, removed first).
ALIAS_RE = re.compile(r'^(?P<prefix>v?)(?P<major>%s)(?:\.(?P<minor>%s))?\Z' % (_NUM, _NUM))
# A suffix starts with "-" and a letter, so it can never be read as part of a version (v3.0.1 + "0" = v3.0.10).
SUFFIX_RE = re.compile(r'^(?:-[A-Za-z][A-Za-z0-9_.-]{0,99})?\Z')
ALIASES = ('minor', 'major', 'latest')

# Full release tags (any suffix, prereleases too) are immutable unless the user says otherwise.
DEFAULT_IMMUTABLE = (r'^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z._-]+)?$',)


class Version(object):
    """A parsed semantic version that remembers its ``v`` prefix style."""

    __slots__ = ('prefix', 'major', 'minor', 'patch', 'prerelease')

    def __init__(self, prefix, major, minor, patch, prerelease=None):
        self.prefix = prefix
        self.major = major
        self.minor = minor
        self.patch = patch
        self.prerelease = prerelease

    @property
    def is_prerelease(self):
        return self.prerelease is not None

    def key(self):
        """Sort key following semver precedence (build metadata is not allowed in tags)."""
        if self.prerelease is None:
            pre = (1,)
        else:
            ids = []
            for ident in self.prerelease.split('.'):
                ids.append((0, int(ident), '') if ident.isdigit() else (1, 0, ident))
            pre = (0, tuple(ids))
        return (self.major, self.minor, self.patch, pre)

    def __eq__(self, other):
        return isinstance(other, Version) and self.key() == other.key()

    def __ne__(self, other):
        return not self == other

    def __lt__(self, other):
        return self.key() < other.key()

    def __le__(self, other):
        return self.key() <= other.key()

    def __gt__(self, other):
        return self.key() > other.key()

    def __ge__(self, other):
        return self.key() >= other.key()

    def __hash__(self):
        return hash(self.key())

    def __str__(self):
        text = '%s%d.%d.%d' % (self.prefix, self.major, self.minor, self.patch)
        if self.prerelease is not None:
            text += '-' + self.prerelease
        return text

    def __repr__(self):
        return 'Version(%r)' % str(self)


def parse_version(text):
    """Parse ``[v]X.Y.Z[-pre]``; raise InvalidInputError with the rule that failed."""
    if not isinstance(text, str):
        raise InvalidInputError('version must be a string such as "v3.0.0", got %r' % (text,))
    if '+' in text:
        raise InvalidInputError(
            'version %r has build metadata ("+..."), which a registry tag cannot hold; drop it or use a prerelease ("-...")' % text)
    match = VERSION_RE.match(text)
    if not match:
        raise InvalidInputError(
            'invalid semantic version %r: expected MAJOR.MINOR.PATCH with an optional "v" prefix and "-prerelease", '
            'numbers without leading zeros (for example "v3.0.0" or "3.1.0-rc.1")' % text)
    return Version(match.group('prefix'), int(match.group('major')), int(match.group('minor')),
                   int(match.group('patch')), match.group('pre'))


def validate_suffix(suffix):
    if not SUFFIX_RE.match(suffix or ''):
        raise InvalidInputError('invalid suffix %r: a suffix starts with "-" and a letter, then letters, digits, ".", "_" '
                                'and "-" (for example "-amd64")' % suffix)
    return suffix or ''


def release_tag(version, suffix=''):
    return '%s%s' % (version, suffix)


def alias_tags(version, suffix=''):
    """The alias tags of ``version``, by alias kind."""
    return {
        'minor': '%s%d.%d%s' % (version.prefix, version.major, version.minor, suffix),
        'major': '%s%d%s' % (version.prefix, version.major, suffix),
        'latest': 'latest%s' % suffix,
    }


def stable_releases(tags, prefix, suffix=''):
    """The stable versions among ``tags`` written as ``<prefix>X.Y.Z<suffix>`` (any prefix style if ``prefix`` is None)."""
    found = []
    for tag in tags:
        if suffix:
            if not tag.endswith(suffix):
                continue
            tag = tag[:-len(suffix)]
        match = VERSION_RE.match(tag)
        if match and match.group('pre') is None and prefix in (None, match.group('prefix')):
            found.append(parse_version(tag))
    return found


def plan_release_tags(version, existing_tags, suffix='', aliases=ALIASES):
    """Work out which tags a release gets.

    Returns a list of ``(tag, kind, reason)``: ``kind`` is ``release`` for the
    full version tag or an alias kind; an alias held back has a ``reason``
    (the newer release it stays on) and is not to be written.

    A prerelease gets only its own tag. An alias moves to ``version`` only
    when no release in its series is newer: the minor and major aliases carry
    the prefix style in their names (``v3`` and ``3`` are different tags), so
    their series are releases of the same style and suffix; ``latest`` has
    no prefix, so every stable release with the suffix counts.
    """
    suffix = validate_suffix(suffix)
    plan = [(release_tag(version, suffix), 'release', None)]
    if version.is_prerelease:
        return plan
    same_style = stable_releases(existing_tags, version.prefix, suffix) + [version]
    any_style = stable_releases(existing_tags, None, suffix) + [version]
    series = {
        'minor': lambda v: (v.major, v.minor) == (version.major, version.minor),
        'major': lambda v: v.major == version.major,
        'latest': lambda v: True,
    }
    names = alias_tags(version, suffix)
    for kind in ALIASES:
        if kind not in aliases:
            continue
        releases = any_style if kind == 'latest' else same_style
        newest = max(v for v in releases if series[kind](v))
        reason = None
        if newest > version:
            reason = 'held back: %s is newer' % release_tag(newest, suffix)
        plan.append((names[kind], kind, reason))
    return plan
