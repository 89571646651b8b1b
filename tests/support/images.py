"""Test images: OCI layouts with random layers, pushed with skopeo (an independent client)."""

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile

OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
OCI_CONFIG = 'application/vnd.oci.image.config.v1+json'
OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip'
MANIFEST_ACCEPT = ', '.join([
    'application/vnd.docker.distribution.manifest.v2+json',
    'application/vnd.docker.distribution.manifest.list.v2+json',
    OCI_MANIFEST,
    'application/vnd.oci.image.index.v1+json',
])


def sha256(data):
    return 'sha256:' + hashlib.sha256(data).hexdigest()


def _layer(files):
    """A gzipped tar holding ``files`` ({path: bytes}); returns (compressed, uncompressed digest)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode='w', format=tarfile.PAX_FORMAT) as tar:
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    uncompressed = raw.getvalue()
    compressed = gzip.compress(uncompressed, mtime=0)
    return compressed, sha256(uncompressed)


OCI_INDEX = 'application/vnd.oci.image.index.v1+json'


def make_layout(path, tag='latest', arch='amd64', os_name='linux', layers=2, layer_size=4096,
                created='2026-01-01T00:00:00Z', labels=None, platforms=None):
    """Write an OCI image layout of images made of random layers; returns the digest ``tag`` names.

    With ``platforms`` (a list of architectures) the tag names an OCI image index of one image per architecture.
    """
    blobs = os.path.join(path, 'blobs', 'sha256')
    os.makedirs(blobs, exist_ok=True)

    def put(data, media_type):
        digest = sha256(data)
        with open(os.path.join(blobs, digest.split(':', 1)[1]), 'wb') as f:
            f.write(data)
        return {'mediaType': media_type, 'digest': digest, 'size': len(data)}

    def image(arch):
        layer_descs, diff_ids = [], []
        for i in range(layers):
            data, diff_id = _layer({'layer%d/random.bin' % i: os.urandom(layer_size), 'layer%d/arch' % i: arch.encode()})
            layer_descs.append(put(data, OCI_LAYER))
            diff_ids.append(diff_id)
        config = {
            'architecture': arch, 'os': os_name, 'created': created,
            'config': {'Labels': labels or {}, 'Cmd': ['/layer0/arch']},
            'rootfs': {'type': 'layers', 'diff_ids': diff_ids},
            'history': [{'created': created, 'created_by': 'regops test layer %d' % i} for i in range(layers)],
        }
        manifest = {'schemaVersion': 2, 'mediaType': OCI_MANIFEST,
                    'config': put(json.dumps(config, sort_keys=True).encode(), OCI_CONFIG), 'layers': layer_descs}
        desc = put(json.dumps(manifest, indent=2).encode(), OCI_MANIFEST)
        desc['platform'] = {'architecture': arch, 'os': os_name}
        return desc

    if platforms:
        index = {'schemaVersion': 2, 'mediaType': OCI_INDEX, 'manifests': [image(a) for a in platforms]}
        top = put(json.dumps(index, indent=2).encode(), OCI_INDEX)
    else:
        top = image(arch)
    top['annotations'] = {'org.opencontainers.image.ref.name': tag}
    with open(os.path.join(path, 'index.json'), 'w') as f:
        json.dump({'schemaVersion': 2, 'manifests': [top]}, f)
    with open(os.path.join(path, 'oci-layout'), 'w') as f:
        json.dump({'imageLayoutVersion': '1.0.0'}, f)
    return top['digest']


def skopeo(registry, *args, check=True):
    """Run skopeo with the test registry's credentials and CA."""
    cmd = ['skopeo'] + list(args)
    proc = subprocess.run(cmd, capture_output=True, text=False, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError('skopeo %s failed: %s' % (args[0], proc.stderr.decode(errors='replace')))
    return proc


def _tls_args(registry, prefix):
    args = []
    if registry.tls:
        args += ['--%scert-dir' % prefix, registry.cert_dir()]
    else:
        args += ['--%stls-verify=false' % prefix]
    if registry.auth:
        args += ['--%screds' % prefix, '%s:%s' % (registry.username, registry.password)]
    return args


def push_layout(registry, layout, tag, repository, dest_tag, fmt='oci', workdir=None):
    """Push a layout with ``skopeo copy``; ``fmt`` is ``oci`` or ``v2s2``. Returns the pushed manifest digest."""
    digest_file = os.path.join(workdir or layout, 'pushed.digest')
    skopeo(registry, 'copy', '--quiet', '--all', '--format', fmt, '--digestfile', digest_file, *_tls_args(registry, 'dest-'),
           'oci:%s:%s' % (layout, tag), 'docker://%s/%s:%s' % (registry.host, repository, dest_tag))
    with open(digest_file) as f:
        return f.read().strip()


def skopeo_raw(registry, repository, reference):
    """The manifest bytes as skopeo sees them (``skopeo inspect --raw``)."""
    sep = '@' if ':' in reference else ':'
    return skopeo(registry, 'inspect', '--raw', *_tls_args(registry, ''),
                  'docker://%s/%s%s%s' % (registry.host, repository, sep, reference)).stdout


def skopeo_tags(registry, repository):
    out = skopeo(registry, 'list-tags', *_tls_args(registry, ''), 'docker://%s/%s' % (registry.host, repository)).stdout
    return sorted(json.loads(out)['Tags'] or [])


def raw_tag_digest(registry, repository, tag):
    """A tag's digest by raw HTTP HEAD with every manifest type accepted, or None."""
    response = registry.raw('HEAD', '/v2/%s/manifests/%s' % (repository, tag), headers={'Accept': MANIFEST_ACCEPT})
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.headers['Docker-Content-Digest']


def raw_exists(registry, repository, digest):
    """Whether the repository holds a manifest with this digest (raw HEAD, every manifest type accepted)."""
    response = registry.raw('HEAD', '/v2/%s/manifests/%s' % (repository, digest), headers={'Accept': MANIFEST_ACCEPT})
    if response.status_code == 404:
        return False
    response.raise_for_status()
    return True


def tag_digests(registry, repository):
    """Every tag of ``repository`` and its digest (None for a tag listed with no manifest behind it), by raw HTTP;
    empty for a repository the registry does not have."""
    response = registry.raw('GET', '/v2/%s/tags/list' % repository)
    if response.status_code == 404:
        return {}
    response.raise_for_status()
    return dict((tag, raw_tag_digest(registry, repository, tag)) for tag in response.json().get('tags') or [])


def raw_manifest(registry, repository, reference):
    response = registry.raw('GET', '/v2/%s/manifests/%s' % (repository, reference), headers={'Accept': MANIFEST_ACCEPT})
    response.raise_for_status()
    return response
