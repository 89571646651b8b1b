# -*- coding: utf-8 -*-
# Copyright (c) regops.registry contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module util is PRIVATE to the collection: it may change at any time.
"""Typed errors raised by the registry client and planners.

Only modules turn these into ``fail_json``. A message is built from safe
parts (registry, repository, reference, what happened, what to do) and never
from request headers, so it cannot carry a password or token.
"""

from __future__ import annotations

import contextlib


class RegistryError(Exception):
    """Base class of every error the collection raises on purpose."""

    def __init__(self, message, registry=None, repository=None, reference=None, hint=None, status=None):
        super(RegistryError, self).__init__(message)
        self.message = message
        self.registry = registry
        self.repository = repository
        self.reference = reference
        self.hint = hint
        self.status = status
        # Extra result facts for the module's failure (for example what was already written).
        self.facts = {}
        # The registry's error codes (DIGEST_INVALID, UNSUPPORTED, ...), when it answered with any.
        self.codes = ()

    def where(self):
        """The place the error is about, as ``registry/repository:tag`` or ``...@digest``."""
        place = '/'.join(part for part in (self.registry, self.repository) if part)
        if self.reference:
            place += ('@' if ':' in self.reference else ':') + self.reference
        return place

    def __str__(self):
        text = self.message
        place = self.where()
        if place:
            text = '%s: %s' % (place, text)
        if self.hint:
            text = '%s. %s' % (text.rstrip('.'), self.hint)
        return text

    def to_result(self):
        """Structured facts for the module's failure result (no secrets)."""
        result = {'error': type(self).__name__}
        for key in ('registry', 'repository', 'reference', 'status'):
            value = getattr(self, key)
            if value is not None:
                result[key] = value
        result.update(self.facts)
        return result


@contextlib.contextmanager
def reporting_partial_writes(done, facts=None):
    """Let a RegistryError out of the block say what was written before it, and report ``changed: true``.

    ``done()`` describes what was already written (for example ``tags already written: a, b``), or is empty when
    nothing was; ``facts()`` adds result facts. A rerun finishes the work, and the message says so.
    """
    try:
        yield
    except RegistryError as exc:
        text = done()
        if text:
            exc.message = '%s (before this failure, %s; run again to finish)' % (exc.message, text)
            exc.facts.setdefault('changed', True)
            exc.facts.update(facts() if facts else {})
        raise


class InvalidInputError(RegistryError):
    """The input is malformed; detected before any request is sent."""


class RegistryConnectionError(RegistryError):
    """The registry could not be reached (DNS, refused, reset, timeout)."""


class TLSError(RegistryConnectionError):
    """The TLS handshake or certificate verification failed."""


class AuthenticationError(RegistryError):
    """The registry wants credentials, or rejected the ones given."""


class AuthorizationError(RegistryError):
    """The credentials were accepted but do not allow the operation."""


class NotFoundError(RegistryError):
    """A repository, manifest or blob does not exist."""


class RepositoryNotFoundError(NotFoundError):
    """The repository does not exist (or is not visible to these credentials)."""


class ManifestNotFoundError(NotFoundError):
    """The tag or digest does not exist in the repository."""


class UnsupportedError(RegistryError):
    """The registry or the content uses something the collection does not handle."""


class RegistryProtocolError(RegistryError):
    """The registry answered in a way the API does not allow (bad digest, bad status, bad body)."""


class ImmutableTagError(RegistryError):
    """A change would move a tag that must never move."""


class ConflictError(RegistryError):
    """The registry's state changed under us or refuses the write."""
