# -*- coding: utf-8 -*-
# Copyright (c) regops.registry contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module util is PRIVATE to the collection: it may change at any time.
"""Images on disk, read and verified before anything is pushed.

Two sources are understood:

* an OCI image layout directory (``oci-layout``, ``index.json``, ``blobs/<alg>/<hex>``), as written by
  ``docker buildx build --output type=oci`` (unpacked) or ``skopeo copy ... oci:DIR``; its top manifest may be an
  image index, whose children are read too;
* a docker-archive tarball (``docker save``): its uncompressed layers are gzip-compressed deterministically into
  a work directory and described by a Docker schema 2 manifest.

Every blob is hashed and its size checked while loading, so a corrupt source is refused before any write.
Nothing is held in memory but manifests and image configs; blobs are read from disk when pushed.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import zlib

from ansible_collections.regops.registry.plugins.module_utils._client import (
    DOCKER_MANIFEST_V2,
    INDEX_MEDIA_TYPES,
    MANIFEST_MEDIA_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
    Manifest,
)
from ansible_collections.regops.registry.plugins.module_utils._errors import InvalidInputError, UnsupportedError
from ansible_collections.regops.registry.plugins.module_utils._reference import DIGEST_ALGORITHMS, is_digest

DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json'
DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip'
REF_NAME = 'org.opencontainers.image.ref.name'
_READ = 1024 * 1024
_MAX_DOCUMENT = 4 * 1024 * 1024


class BlobSource(object):
    """A blob to push: its descriptor facts and how to read it (a file path, or bytes held in memory)."""

    __slots__ = ('digest', 'size', 'media_type', 'path', 'data')

    def __init__(self, digest, size, media_type, path=None, data=None):
        self.digest = digest
        self.size = size
        self.media_type = media_type
        self.path = path
        self.data = data

    def open(self):
        """A new binary file object at offset 0."""
        if self.data is not None:
            return io.BytesIO(self.data)
        return open(self.path, 'rb')


class ImageSource(object):
    """What a push needs: manifests in push order (children before their index) and every blob, once."""

    def __init__(self, manifests, blobs, description):
        self.manifests = manifests
        self.blobs = blobs
        self.description = description

    @property
    def top(self):
        """The manifest the tags point at (the index of a multi-arch image)."""
        return self.manifests[-1]

    @property
    def blob_bytes(self):
        return sum(blob.size for blob in self.blobs.values())


def _hash_file(path, algorithm):
    digest = hashlib.new(algorithm)
    size = 0
    with open(path, 'rb') as f:
        while True:
            chunk = f.read(_READ)
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
    return '%s:%s' % (algorithm, digest.hexdigest()), size


def load_json(data, what):
    try:
        doc = json.loads(data.decode('utf-8'))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError('%s is not valid JSON: %s' % (what, exc))
    if not isinstance(doc, dict):
        raise InvalidInputError('%s is not a JSON object' % what)
    return doc


def platform_name(platform):
    """A platform (of an index entry or an image config) as text: os/architecture[/variant]."""
    return '/'.join(str(platform[key]) for key in ('os', 'architecture', 'variant') if platform.get(key))


def descriptor(desc, what):
    """Check a descriptor's digest, size and media type; return them."""
    if not isinstance(desc, dict) or not is_digest(desc.get('digest')) or not isinstance(desc.get('size'), int):
        raise InvalidInputError('%s has a malformed descriptor (digest and size are required)' % what)
    algorithm = desc['digest'].split(':', 1)[0]
    if algorithm not in DIGEST_ALGORITHMS:
        raise UnsupportedError('%s uses the digest algorithm %r; supported: %s' % (what, algorithm, ', '.join(sorted(DIGEST_ALGORITHMS))))
    return desc['digest'], desc['size'], desc.get('mediaType') or ''


# ------------------------------------------------------------------ OCI layout

class _Layout(object):
    def __init__(self, path):
        self.path = path

    def blob_path(self, digest):
        algorithm, encoded = digest.split(':', 1)
        return os.path.join(self.path, 'blobs', algorithm, encoded)

    def verified_blob(self, desc, what):
        """A BlobSource for ``desc``, after hashing the file and checking its size."""
        digest, size, media_type = descriptor(desc, what)
        path = self.blob_path(digest)
        if not os.path.isfile(path):
            raise InvalidInputError('%s: blob %s is missing from the layout %s' % (what, digest, self.path))
        actual, actual_size = _hash_file(path, digest.split(':', 1)[0])
        if actual_size != size:
            raise InvalidInputError('%s: blob %s is %d bytes on disk, the descriptor says %d; the layout is corrupt'
                                    % (what, digest, actual_size, size))
        if actual != digest:
            raise InvalidInputError('%s: blob %s does not match its digest (the file hashes to %s); the layout is corrupt'
                                    % (what, digest, actual))
        return BlobSource(digest, size, media_type, path=path)

    def verified_manifest(self, desc, what):
        blob = self.verified_blob(desc, what)
        if blob.size > _MAX_DOCUMENT:
            raise InvalidInputError('%s: manifest %s is %d bytes, too large for a manifest' % (what, blob.digest, blob.size))
        with blob.open() as f:
            content = f.read()
        doc = load_json(content, '%s: manifest %s' % (what, blob.digest))
        media_type = blob.media_type or doc.get('mediaType') or (OCI_INDEX if 'manifests' in doc else OCI_MANIFEST)
        if media_type not in MANIFEST_MEDIA_TYPES:
            raise UnsupportedError('%s: %s has media type %r, which is not an image manifest or index' % (what, blob.digest, media_type))
        return Manifest(content, media_type), doc


def load_oci_layout(path, ref=None):
    """Read and verify an OCI image layout; ``ref`` picks an image by its ref name when the layout holds several."""
    layout = _Layout(path)
    marker = os.path.join(path, 'oci-layout')
    if not os.path.isfile(marker):
        raise InvalidInputError('%s is not an OCI image layout (no oci-layout file)' % path)
    with open(marker, 'rb') as f:
        version = load_json(f.read(), '%s/oci-layout' % path).get('imageLayoutVersion')
    if version != '1.0.0':
        raise UnsupportedError('%s: OCI layout version %r is not supported (1.0.0 is)' % (path, version))
    try:
        with open(os.path.join(path, 'index.json'), 'rb') as f:
            index = load_json(f.read(), '%s/index.json' % path)
    except (IOError, OSError) as exc:
        raise InvalidInputError('%s: index.json cannot be read: %s' % (path, exc))
    entries = index.get('manifests')
    if not isinstance(entries, list) or not entries:
        raise InvalidInputError('%s: index.json lists no manifests' % path)
    if not all(isinstance(e, dict) for e in entries):
        raise InvalidInputError('%s: index.json lists malformed descriptors' % path)
    # An image is known by its ref name, or by its digest when it has none.
    names = [(e.get('annotations') or {}).get(REF_NAME) or str(e.get('digest')) for e in entries]
    if ref is not None:
        chosen = [e for e, name in zip(entries, names) if ref in (name, e.get('digest'))]
        if not chosen and ref.partition(':')[0] in DIGEST_ALGORITHMS and os.path.isfile(layout.blob_path(ref)):
            # A manifest inside the layout, for example one platform of an index.
            chosen = [{'digest': ref, 'size': os.path.getsize(layout.blob_path(ref))}]
        if len(chosen) != 1:
            raise InvalidInputError('%s: %s image named %r (images: %s)' % (
                path, 'no' if not chosen else 'more than one', ref, ', '.join(names)))
        top = chosen[0]
    elif len(entries) == 1:
        top = entries[0]
    else:
        raise InvalidInputError('%s holds %d images (%s); choose one by its name or digest' % (
            path, len(entries), ', '.join(names)))

    what = 'OCI layout %s' % path
    manifests, blobs = [], {}
    top_manifest, top_doc = layout.verified_manifest(top, what)
    if top_manifest.media_type in INDEX_MEDIA_TYPES:
        children = top_doc.get('manifests')
        if not isinstance(children, list) or not children:
            raise InvalidInputError('%s: the index %s lists no manifests' % (what, top_manifest.digest))
        absent = []
        for child in children:
            digest = descriptor(child, what)[0]
            if not os.path.isfile(layout.blob_path(digest)):
                platform = child.get('platform') or {}
                absent.append(platform_name(platform) or digest)
        if absent:
            raise InvalidInputError(
                '%s: the index %s lists platforms whose images are not in the layout (%s); export every platform, '
                'or push one platform with src_ref set to its manifest digest' % (what, top_manifest.digest, ', '.join(absent)))
        for child in children:
            manifest, doc = layout.verified_manifest(child, what)
            if manifest.media_type in INDEX_MEDIA_TYPES:
                raise UnsupportedError('%s: the index %s holds another index (%s); nested indexes are not supported'
                                       % (what, top_manifest.digest, manifest.digest))
            _collect_image_blobs(layout, manifest, doc, blobs, what)
            manifests.append(manifest)
    else:
        _collect_image_blobs(layout, top_manifest, top_doc, blobs, what)
    manifests.append(top_manifest)
    return ImageSource(manifests, blobs, what)


def _collect_image_blobs(layout, manifest, doc, blobs, what):
    descriptors = [doc.get('config')] + list(doc.get('layers') or [])
    if doc.get('config') is None:
        raise InvalidInputError('%s: the manifest %s has no config' % (what, manifest.digest))
    for desc in descriptors:
        digest, _size, _media_type = descriptor(desc, what)
        if digest in blobs:
            continue
        if desc.get('urls') and not os.path.isfile(layout.blob_path(digest)):
            continue  # a foreign layer, fetched by clients from its URLs: never pushed
        blobs[digest] = layout.verified_blob(desc, what)


# -------------------------------------------------------------- docker archive

class _HashingWriter(object):
    """A binary file being written, its sha256 and size taken on the way (no second read of the file)."""

    def __init__(self, f):
        self.f = f
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data):
        self.hash.update(data)
        self.size += len(data)
        return self.f.write(data)

    def flush(self):
        self.f.flush()

    @property
    def digest(self):
        return 'sha256:' + self.hash.hexdigest()


def _gzip_member(source, target_path):
    """Compress ``source`` into ``target_path`` reproducibly; return (uncompressed digest, compressed digest, size)."""
    plain = hashlib.sha256()
    with open(target_path, 'wb') as raw:
        written = _HashingWriter(raw)
        # mtime 0 and no file name: the same layer always compresses to the same bytes (for a given zlib).
        with gzip.GzipFile(filename='', mode='wb', fileobj=written, compresslevel=6, mtime=0) as out:
            while True:
                chunk = source.read(_READ)
                if not chunk:
                    break
                plain.update(chunk)
                out.write(chunk)
    return 'sha256:' + plain.hexdigest(), written.digest, written.size


def _copy_compressed_member(source, target_path):
    """A layer already gzip-compressed: keep its bytes; hash the uncompressed stream for the diff ID."""
    with open(target_path, 'wb') as out:
        written = _HashingWriter(out)
        shutil.copyfileobj(source, written, _READ)
    plain = hashlib.sha256()
    with gzip.open(target_path, 'rb') as f:
        while True:
            chunk = f.read(_READ)
            if not chunk:
                break
            plain.update(chunk)
    return 'sha256:' + plain.hexdigest(), written.digest, written.size


def load_docker_archive(path, workdir, ref=None):
    """Read a ``docker save`` tarball; ``ref`` picks an image by one of its RepoTags when it holds several.

    Layers are checked against the config's diff IDs and compressed into ``workdir``.
    """
    try:
        return _load_docker_archive(path, workdir, ref)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise InvalidInputError('docker archive %s is truncated or corrupt (%s)' % (path, type(exc).__name__))


def _load_docker_archive(path, workdir, ref):
    what = 'docker archive %s' % path
    try:
        tar = tarfile.open(path, 'r:*')
    except (tarfile.TarError, IOError, OSError) as exc:
        raise InvalidInputError('%s cannot be read as a tar archive: %s' % (what, exc))
    with tar:
        def member(name):
            try:
                extracted = tar.extractfile(os.path.normpath(name).lstrip('/'))
            except KeyError:
                extracted = None
            if extracted is None:
                raise InvalidInputError('%s: %s is missing from the archive' % (what, name))
            return extracted

        with member('manifest.json') as f:
            try:
                entries = json.loads(f.read(_MAX_DOCUMENT).decode('utf-8'))
            except (ValueError, UnicodeDecodeError) as exc:
                raise InvalidInputError('%s: manifest.json is not valid JSON: %s' % (what, exc))
        if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
            raise InvalidInputError('%s: manifest.json lists no images; is this a "docker save" archive?' % what)
        if ref is not None:
            chosen = [e for e in entries if ref in (e.get('RepoTags') or [])]
            if len(chosen) != 1:
                raise InvalidInputError('%s: %s image tagged %r (tags: %s)' % (
                    what, 'no' if not chosen else 'more than one', ref,
                    ', '.join(t for e in entries for t in (e.get('RepoTags') or [])) or 'none'))
            entry = chosen[0]
        elif len(entries) == 1:
            entry = entries[0]
        else:
            raise InvalidInputError('%s holds %d images (tags: %s); choose one by its tag' % (
                what, len(entries), ', '.join(t for e in entries for t in (e.get('RepoTags') or [])) or 'none'))
        if not isinstance(entry.get('Config'), str) or not isinstance(entry.get('Layers'), list):
            raise InvalidInputError('%s: an image entry in manifest.json lacks Config or Layers' % what)

        with member(entry['Config']) as f:
            config = f.read(_MAX_DOCUMENT + 1)
        if len(config) > _MAX_DOCUMENT:
            raise InvalidInputError('%s: the image config is too large' % what)
        diff_ids = ((load_json(config, '%s: image config' % what).get('rootfs') or {}).get('diff_ids')) or []
        if len(diff_ids) != len(entry['Layers']):
            raise InvalidInputError('%s: the image config lists %d layers, manifest.json %d; the archive is corrupt'
                                    % (what, len(diff_ids), len(entry['Layers'])))
        config_digest = 'sha256:' + hashlib.sha256(config).hexdigest()
        blobs = {config_digest: BlobSource(config_digest, len(config), DOCKER_CONFIG, data=config)}
        layers = []
        os.makedirs(workdir, exist_ok=True)
        for index, (name, diff_id) in enumerate(zip(entry['Layers'], diff_ids)):
            target = os.path.join(workdir, 'layer-%d.tar.gz' % index)
            with member(name) as source:
                magic = source.read(2)
                source.seek(0)
                if magic == b'\x1f\x8b':
                    plain, digest, size = _copy_compressed_member(source, target)
                else:
                    plain, digest, size = _gzip_member(source, target)
            if plain != diff_id:
                raise InvalidInputError('%s: layer %s hashes to %s, but the image config says %s; the archive is corrupt'
                                        % (what, name, plain, diff_id))
            blobs.setdefault(digest, BlobSource(digest, size, DOCKER_LAYER_GZIP, path=target))
            layers.append({'mediaType': DOCKER_LAYER_GZIP, 'size': size, 'digest': digest})

    manifest = {
        'schemaVersion': 2,
        'mediaType': DOCKER_MANIFEST_V2,
        'config': {'mediaType': DOCKER_CONFIG, 'size': len(config), 'digest': config_digest},
        'layers': layers,
    }
    content = json.dumps(manifest, indent=3).encode('utf-8')
    return ImageSource([Manifest(content, DOCKER_MANIFEST_V2)], blobs, what)


def load_source(path, workdir, ref=None):
    """An OCI layout directory or a docker-archive tarball, read and verified."""
    if os.path.isdir(path):
        return load_oci_layout(path, ref)
    if os.path.isfile(path):
        return load_docker_archive(path, workdir, ref)
    raise InvalidInputError('%s does not exist; give an OCI layout directory or a "docker save" tarball' % path)
