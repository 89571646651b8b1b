# -*- coding: utf-8 -*-
# Copyright (c) regops.registry contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module util is PRIVATE to the collection: it may change at any time.
"""Reader of ``image_info``: the catalog, a repository's tags, or what a tag or digest holds. Reads only.

What a reference holds is read as it is stored: the manifest (its exact bytes, digest checked), for an index every
image it lists, and for every image its config blob (platform, created time, labels). The size is what the
registry stores for it: the manifests, the configs and the layers (compressed), each blob counted once.
"""

from __future__ import annotations

import json

from ansible_collections.regops.registry.plugins.module_utils._blobs import image_descriptors
from ansible_collections.regops.registry.plugins.module_utils._client import INDEX_MEDIA_TYPES
from ansible_collections.regops.registry.plugins.module_utils._errors import InvalidInputError, ManifestNotFoundError, RepositoryNotFoundError
from ansible_collections.regops.registry.plugins.module_utils._image_source import load_json, platform_name
from ansible_collections.regops.registry.plugins.module_utils._index import index_children, platform_of
from ansible_collections.regops.registry.plugins.module_utils._parallel import map_parallel, validate_parallel
from ansible_collections.regops.registry.plugins.module_utils._reference import validate_reference, validate_repository
from ansible_collections.regops.registry.plugins.module_utils._tags import head_references

MAX_PAGE_SIZE = 10000
# Keys of an image config's "config" section reported as they are. Env is left out on purpose: it often holds
# secrets baked into images, and a job's output is read by many.
CONFIG_KEYS = (('Entrypoint', 'entrypoint'), ('Cmd', 'cmd'), ('User', 'user'), ('WorkingDir', 'working_dir'),
               ('ExposedPorts', 'exposed_ports'))


def run_image_info(client, params):
    """The module result for ``params`` as image_info's argument spec fills them; never ``changed``."""
    registry = client.address.name
    page_size = params['page_size']
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidInputError('page_size must be between 1 and %d, got %d' % (MAX_PAGE_SIZE, page_size), registry=registry)
    parallel = validate_parallel(params['parallel'])
    repository = params['repository']
    reference = params['reference']
    if repository is None:
        if reference is not None:
            raise InvalidInputError('reference %s needs the repository it is in' % reference, registry=registry)
        repositories = client.list_repositories(page_size)
        return {'changed': False, 'registry': registry, 'repositories': repositories,
                'msg': '%s: %d repositories in the catalog' % (registry, len(repositories))}

    validate_repository(repository, registry=registry)
    result = {'changed': False, 'registry': registry, 'repository': repository}
    if reference is None:
        return _tags(client, repository, page_size, params['resolve_tags'], parallel, result)
    validate_reference(reference, registry=registry, repository=repository)
    result['reference'] = reference
    try:
        manifest = client.get_existing_manifest(repository, reference)
    except (RepositoryNotFoundError, ManifestNotFoundError) as exc:  # not a plain 404 of a server that is no registry
        missing = 'repository' if isinstance(exc, RepositoryNotFoundError) else 'reference'
        result.update(exists=False, missing=missing,
                      msg='%s/%s: %s' % (registry, repository, 'no such repository' if missing == 'repository'
                                         else '%s does not exist' % reference))
        return result
    result.update(exists=True)
    result.update(describe(client, repository, manifest, parallel))
    result['msg'] = _summary(registry, repository, reference, result)
    return result


def _tags(client, repository, page_size, resolve, parallel, result):
    try:
        tags = client.list_tags(repository, page_size)
    except RepositoryNotFoundError:
        result.update(exists=False, tags=[], msg='%s/%s: no such repository' % (result['registry'], repository))
        return result
    result.update(exists=True, tags=tags, msg='%s/%s: %d tags' % (result['registry'], repository, len(tags)))
    if resolve:
        # A tag can vanish between the listing and its HEAD (a concurrent delete): it is reported with null.
        result['digests'] = head_references(client, repository, tags, parallel)
        result['msg'] += ' pointing at %d digests' % len(set(d for d in result['digests'].values() if d))
    return result


def describe(client, repository, manifest, parallel):
    """The facts of a manifest (``Manifest``) of ``repository``: an image, or an index and each image it lists."""
    what = '%s/%s@%s' % (client.address.name, repository, manifest.digest)
    doc = load_json(manifest.content, 'the manifest %s' % what)
    facts = {'digest': manifest.digest, 'media_type': manifest.media_type, 'manifest': doc}
    if manifest.media_type in INDEX_MEDIA_TYPES:
        listed = index_children(manifest, 'the index %s' % what)
        platforms = dict((d.get('digest'), d.get('platform')) for d in doc['manifests'] if isinstance(d, dict))
        order = list(dict.fromkeys(digest for digest, _type in listed))  # map_parallel's dicts are in completion order
        children = map_parallel(order, lambda digest: client.get_manifest(repository, digest), parallel)
        images = map_parallel(order, lambda digest: _image(client, repository, children[digest], platforms.get(digest)), parallel)
        facts.update(kind='index', images=[images[digest][0] for digest in order], created=None, labels=None)
        blobs = dict(blob for digest in order for blob in images[digest][1].items())
        facts['size'] = manifest.size + sum(children[digest].size for digest in order) + sum(blobs.values())
    else:
        image, blobs = _image(client, repository, manifest, None)
        facts.update(kind='image', images=[image], created=image['created'], labels=image['labels'])
        facts['size'] = manifest.size + sum(blobs.values())
    facts['platforms'] = [platform_name(image['platform']) for image in facts['images'] if image['platform']]
    return facts


def _image(client, repository, manifest, listed_platform):
    """An image manifest's facts, and its blobs' sizes by digest (for the size of an index, each counted once);
    ``listed_platform`` is what its index says, else the config's is used."""
    what = 'the manifest %s/%s@%s' % (client.address.name, repository, manifest.digest)
    if manifest.media_type in INDEX_MEDIA_TYPES:
        # An index inside an index: reported by its digest and size, not opened.
        return {'digest': manifest.digest, 'media_type': manifest.media_type, 'platform': listed_platform, 'size': manifest.size,
                'layers': None, 'created': None, 'labels': None, 'config': None}, {}
    descriptors = image_descriptors(manifest, what)
    config_desc = descriptors[0]
    config = _config(client, repository, config_desc)
    platform = listed_platform
    if platform is None and config:
        try:
            platform = platform_of(config)
        except InvalidInputError:
            platform = None  # an artifact (a signature, an SBOM) has none
    section = config.get('config') if isinstance(config.get('config'), dict) else {}
    # A foreign layer (urls) is not stored by the registry, so it is not counted.
    blobs = dict((d['digest'], d['size']) for d in descriptors if not d.get('urls'))
    return {
        'digest': manifest.digest,
        'media_type': manifest.media_type,
        'platform': platform,
        'size': manifest.size + sum(blobs.values()),
        'layers': len(descriptors) - 1,
        'created': config.get('created') if isinstance(config.get('created'), str) else None,
        'labels': section.get('Labels') or {},
        'config': dict([('digest', config_desc['digest']), ('media_type', config_desc.get('mediaType'))] +
                       [('author', config.get('author'))] + [(name, section.get(key)) for key, name in CONFIG_KEYS]),
    }, blobs


def _config(client, repository, desc):
    """The image config as a dict; {} for an artifact whose config is not JSON (signatures, SBOMs)."""
    media_type = desc.get('mediaType') or ''
    if not media_type.endswith('json'):
        return {}
    try:
        config = json.loads(client.get_blob(repository, desc['digest']).decode('utf-8'))
    except (ValueError, UnicodeDecodeError):
        return {}
    return config if isinstance(config, dict) else {}


def _summary(registry, repository, reference, facts):
    where = '%s/%s%s%s' % (registry, repository, '@' if ':' in reference else ':', reference)
    if facts['kind'] == 'index':
        return '%s: index %s of %d images (%s), %d bytes' % (
            where, facts['digest'], len(facts['images']), ', '.join(facts['platforms']) or 'no platforms', facts['size'])
    return '%s: image %s (%s), created %s, %d layers, %d bytes' % (
        where, facts['digest'], ', '.join(facts['platforms']) or 'no platform', facts['created'] or 'unknown',
        facts['images'][0]['layers'], facts['size'])
