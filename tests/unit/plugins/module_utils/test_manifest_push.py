"""manifest_push planner paths a real registry cannot be made to take (a declined mount), on an in-memory client."""

import json

from ansible_collections.regops.registry.plugins.module_utils._client import OCI_MANIFEST, Manifest, ManifestHead, compute_digest
from ansible_collections.regops.registry.plugins.module_utils._manifest_push import run_manifest_push
from ansible_collections.regops.registry.plugins.module_utils._reference import parse_registry
from ansible_collections.regops.registry.plugins.module_utils._semver import DEFAULT_IMMUTABLE


class Registry(object):
    """Repositories of manifests and blobs in memory; mounts always declined."""

    def __init__(self):
        self.address = parse_registry('r.example:5000')
        self.manifests = {}  # (repo, ref) -> Manifest
        self.blobs = {}  # (repo, digest) -> bytes
        self.calls = []

    def add_image(self, repo, tag, arch):
        config = json.dumps({'architecture': arch, 'os': 'linux'}).encode()
        layer = ('layer-' + arch).encode()
        for data in (config, layer):
            self.blobs[(repo, compute_digest(data))] = data
        doc = {'schemaVersion': 2, 'mediaType': OCI_MANIFEST,
               'config': {'mediaType': 'application/vnd.oci.image.config.v1+json', 'digest': compute_digest(config), 'size': len(config)},
               'layers': [{'mediaType': 'application/vnd.oci.image.layer.v1.tar', 'digest': compute_digest(layer), 'size': len(layer)}]}
        manifest = Manifest(json.dumps(doc).encode(), OCI_MANIFEST)
        self.manifests[(repo, tag)] = self.manifests[(repo, manifest.digest)] = manifest
        return manifest

    def get_manifest(self, repo, ref):
        return self.manifests[(repo, ref)]

    def head_manifest(self, repo, ref):
        m = self.manifests.get((repo, ref))
        return ManifestHead(m.digest, m.media_type, m.size) if m else None

    def put_manifest(self, repo, ref, manifest):
        self.calls.append(('PUT', repo, ref))
        self.manifests[(repo, ref)] = self.manifests[(repo, manifest.digest)] = manifest

    def get_blob(self, repo, digest):
        return self.blobs[(repo, digest)]

    def blob_size(self, repo, digest):
        data = self.blobs.get((repo, digest))
        return None if data is None else len(data)

    def mount_blob(self, repo, digest, other):
        self.calls.append(('MOUNT', repo, digest))
        return False

    def download_blob(self, repo, digest, path):
        with open(path, 'wb') as f:
            f.write(self.blobs[(repo, digest)])
        return len(self.blobs[(repo, digest)])

    def upload_blob(self, repo, digest, size, open_blob):
        with open_blob() as f:
            data = f.read()
        assert compute_digest(data) == digest and len(data) == size
        self.calls.append(('UPLOAD', repo, digest))
        self.blobs[(repo, digest)] = data


def params(**kwargs):
    base = {'repository': 'team/app', 'tags': ['v1.0.0'], 'manifests': None, 'src': None, 'src_ref': None, 'mount_from': [],
            'parallel': 4, 'immutable': list(DEFAULT_IMMUTABLE)}
    base.update(kwargs)
    return base


def test_declined_mount_copies_the_blob_through_this_host():
    registry = Registry()
    amd = registry.add_image('team/builds', 'amd64', 'amd64')
    result = run_manifest_push(registry, params(manifests=[{'ref': 'team/builds:amd64', 'platform': None}]))
    assert result['blobs'] == {'present': 0, 'uploaded': 2, 'mounted': 0, 'bytes_sent': sum(
        len(registry.blobs[('team/builds', d)]) for d in [json.loads(amd.content)['config']['digest'],
                                                          json.loads(amd.content)['layers'][0]['digest']])}
    kinds = [c[0] for c in registry.calls]
    assert kinds == ['MOUNT', 'UPLOAD', 'MOUNT', 'UPLOAD', 'PUT', 'PUT']  # blobs, then the child by digest, then the index
    assert registry.calls[4] == ('PUT', 'team/app', amd.digest)
    assert registry.head_manifest('team/app', 'v1.0.0').digest == result['digest']


def test_check_mode_plans_the_same_without_writing():
    registry = Registry()
    registry.add_image('team/builds', 'amd64', 'amd64')
    result = run_manifest_push(registry, params(manifests=[{'ref': 'team/builds:amd64', 'platform': None}]), check_mode=True,
                               diff=True)
    assert result['changed'] is True and registry.calls == []
    assert result['diff']['after'] == {'v1.0.0': result['digest']} and result['diff']['before'] == {}
