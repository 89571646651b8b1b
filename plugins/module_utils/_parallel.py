# -*- coding: utf-8 -*-
# Copyright (c) regops.registry contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module util is PRIVATE to the collection: it may change at any time.
"""Bounded parallel requests: the one way every planner and executor of the collection runs many at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed

from ansible_collections.regops.registry.plugins.module_utils._client import MAX_PARALLEL
from ansible_collections.regops.registry.plugins.module_utils._errors import InvalidInputError


def validate_parallel(parallel):
    """The ``parallel`` option of a module, checked against the client's connection pool."""
    if not 1 <= parallel <= MAX_PARALLEL:
        raise InvalidInputError('parallel must be between 1 and %d, got %d' % (MAX_PARALLEL, parallel))
    return parallel


def run_parallel(items, work, parallel, done=None):
    """Run ``work(item)`` for every item, ``parallel`` at a time.

    ``done(item, result)`` is called in the caller's thread as each one succeeds, also when another fails:
    the first failure cancels what has not started, waits for what has, and is raised after.
    """
    failures = []
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        futures = dict((pool.submit(work, item), item) for item in items)
        for future in as_completed(futures):
            if future.cancelled():
                continue
            try:
                result = future.result()
            except Exception as exc:  # pylint: disable=broad-exception-caught
                if not failures:
                    for pending in futures:
                        pending.cancel()
                failures.append(exc)
                continue
            if done is not None:
                done(futures[future], result)
    if failures:
        raise failures[0]


def map_parallel(items, work, parallel):
    """``{item: work(item)}`` for every (hashable) item, ``parallel`` at a time (see ``run_parallel``)."""
    results = {}
    run_parallel(items, work, parallel, done=results.__setitem__)
    return results
