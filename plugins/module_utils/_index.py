# -*- coding: utf-8 -*-
# Copyright (c) regops.registry contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module util is PRIVATE to the collection: it may change at any time.
"""Multi-arch indexes: the platform of an image, and the index of several images.

Children that are Docker schema 2 manifests make a Docker manifest list; OCI image manifests make an OCI image
index. Mixing the two, or nesting an index, is refused rather than producing an index some clients misread.
The same children in the same order always give the same bytes, so a rerun finds the index already in place.
"""

from __future__ import annotations

import json

from ansible_collections.regops.registry.plugins.module_utils._client import (
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V2,
    OCI_INDEX,
    OCI_MANIFEST,
    Manifest,
)
from ansible_collections.regops.registry.plugins.module_utils._errors import InvalidInputError, UnsupportedError
from ansible_collections.regops.registry.plugins.module_utils._image_source import descriptor, load_json, platform_name

INDEX_FOR = {DOCKER_MANIFEST_V2: DOCKER_MANIFEST_LIST, OCI_MANIFEST: OCI_INDEX}
PLATFORM_KEYS = ('architecture', 'os', 'os.version', 'os.features', 'variant')


def platform_of(config, where=''):
    """The platform of an image from its config JSON (bytes or dict): architecture, os, and variant if any."""
    if isinstance(config, bytes):
        try:
            config = json.loads(config.decode('utf-8'))
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInputError('%sthe image config is not valid JSON: %s' % (where, exc))
    if not isinstance(config, dict) or not config.get('architecture') or not config.get('os'):
        raise InvalidInputError('%sthe image config names no architecture and os; give the platform explicitly' % where)
    platform = {'architecture': config['architecture'], 'os': config['os']}
    for key in ('variant', 'os.version', 'os.features'):
        if config.get(key):
            platform[key] = config[key]
    return platform


def validate_platform(platform, where=''):
    """A platform given by the user: architecture and os required, only the known keys."""
    if not isinstance(platform, dict) or not platform.get('architecture') or not platform.get('os'):
        raise InvalidInputError('%sa platform needs architecture and os (for example {os: linux, architecture: arm64})' % where)
    unknown = sorted(set(platform) - set(PLATFORM_KEYS))
    if unknown:
        raise InvalidInputError('%sunknown platform keys %s; known: %s' % (where, ', '.join(unknown), ', '.join(PLATFORM_KEYS)))
    return dict((key, platform[key]) for key in PLATFORM_KEYS if platform.get(key))


def build_index(children):
    """An index Manifest for ``children``, a list of ``(Manifest, platform)`` in the order given."""
    if not children:
        raise InvalidInputError('an index needs at least one manifest')
    kinds = set()
    seen = {}
    for manifest, platform in children:
        if manifest.media_type not in INDEX_FOR:
            raise UnsupportedError('%s is %s, not an image manifest: an index of indexes is not supported'
                                   % (manifest.digest, manifest.media_type))
        kinds.add(manifest.media_type)
        key = tuple(sorted((k, str(v)) for k, v in platform.items()))
        if key in seen:
            raise InvalidInputError('the platform %s is listed twice (%s and %s): each image of an index must be for '
                                    'another platform; check that each source was built for its architecture' % (
                                        platform_name(platform),
                                        seen[key], manifest.digest))
        seen[key] = manifest.digest
    if len(kinds) > 1:
        raise UnsupportedError('the manifests mix Docker schema 2 and OCI formats (%s); push every architecture in one '
                               'format (skopeo copy --format, or buildx with the same exporter)'
                               % ', '.join('%s is %s' % (m.digest, m.media_type) for m, _p in children))
    media_type = INDEX_FOR[kinds.pop()]
    index = {
        'schemaVersion': 2,
        'mediaType': media_type,
        'manifests': [dict(mediaType=m.media_type, digest=m.digest, size=m.size, platform=validate_platform(p))
                      for m, p in children],
    }
    return Manifest(json.dumps(index, indent=3).encode('utf-8'), media_type)


def index_children(manifest, what):
    """The child descriptors (digest, media type) of an index Manifest; typed errors for a malformed one."""
    doc = load_json(manifest.content, what)
    children = doc.get('manifests')
    if not isinstance(children, list):
        raise InvalidInputError('%s is an index without a list of manifests' % what)
    found = []
    for desc in children:
        digest, _size, media_type = descriptor(desc, what)
        found.append((digest, media_type))
    return found
