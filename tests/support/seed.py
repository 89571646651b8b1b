"""Seeding repositories over raw HTTP (not the collection's client): many small, pullable images, fast.

Every image shares one real layer and has a config of its own (architecture, creation time, labels), so each
has its own digest and Docker can pull it. Indexes, extra tags and cosign-style signatures are written the
way other tools write them.
"""

import datetime
import json
import threading
from urllib.parse import urljoin

import requests

from tests.support.images import OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, _layer, sha256

COSIGN_CONFIG = 'application/vnd.oci.image.config.v1+json'
COSIGN_SIGNATURE = 'application/vnd.dev.cosign.simplesigning.v1+json'


def days_ago(days, now=None):
    """An RFC 3339 time ``days`` days before now (UTC)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return (now - datetime.timedelta(days=days)).strftime('%Y-%m-%dT%H:%M:%SZ')


class Seeder(object):
    """Writes images into one repository of a TestRegistry with plain requests (thread-safe)."""

    def __init__(self, registry, repository):
        self.registry = registry
        self.repository = repository
        self.session = requests.Session()
        if registry.token_server is not None:
            self.session.headers['Authorization'] = 'Bearer ' + registry.token(repository)
        elif registry.auth:
            self.session.auth = registry.basic_auth
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=32)
        self.session.mount('https://', adapter)
        self.session.mount('http://', adapter)
        self.layer, self.diff_id = _layer({'hello.txt': b'regops seeded image\n'})
        self._uploaded = set()
        self._lock = threading.Lock()
        self.manifests = {}  # digest: bytes written

    def _url(self, path):
        return self.registry.url + path

    def _send(self, method, url, **kwargs):
        # verify per request: a session's verify loses to REQUESTS_CA_BUNDLE in the environment.
        response = self.session.request(method, url, verify=self.registry.verify, timeout=30, **kwargs)
        response.raise_for_status()
        return response

    def blob(self, data):
        digest = sha256(data)
        with self._lock:
            if digest in self._uploaded:
                return digest
        start = self._send('POST', self._url('/v2/%s/blobs/uploads/' % self.repository))
        location = urljoin(self.registry.url + '/', start.headers['Location'])
        self._send('PUT', location, params={'digest': digest}, data=data, headers={'Content-Type': 'application/octet-stream'})
        with self._lock:
            self._uploaded.add(digest)
        return digest

    def put_manifest(self, reference, content, media_type):
        self._send('PUT', self._url('/v2/%s/manifests/%s' % (self.repository, reference)), data=content,
                   headers={'Content-Type': media_type})
        digest = sha256(content)
        with self._lock:
            self.manifests[digest] = (content, media_type)
        return digest

    def image(self, tag=None, arch='amd64', created=None, label_created=None, name=''):
        """An image with its own config; tagged ``tag`` if given. Returns its digest."""
        labels = {'io.regops.seed': name or tag or ''}
        if label_created:
            labels['org.opencontainers.image.created'] = label_created
        config = {'architecture': arch, 'os': 'linux', 'config': {'Labels': labels, 'Cmd': ['/hello.txt']},
                  'rootfs': {'type': 'layers', 'diff_ids': [self.diff_id]}}
        if created:
            config['created'] = created
        config_data = json.dumps(config, sort_keys=True).encode()
        manifest = {'schemaVersion': 2, 'mediaType': OCI_MANIFEST,
                    'config': {'mediaType': OCI_CONFIG, 'digest': self.blob(config_data), 'size': len(config_data)},
                    'layers': [{'mediaType': OCI_LAYER, 'digest': self.blob(self.layer), 'size': len(self.layer)}]}
        content = json.dumps(manifest, indent=2).encode()
        return self.put_manifest(tag or sha256(content), content, OCI_MANIFEST)

    def index(self, children, tag=None, annotations=None):
        """An OCI index of ``children`` (a list of (digest, arch)). Returns its digest."""
        doc = {'schemaVersion': 2, 'mediaType': OCI_INDEX, 'manifests': [
            {'mediaType': OCI_MANIFEST, 'digest': digest, 'size': len(self.manifests[digest][0]),
             'platform': {'architecture': arch, 'os': 'linux'}} for digest, arch in children]}
        if annotations:
            doc['annotations'] = annotations
        content = json.dumps(doc, indent=2).encode()
        return self.put_manifest(tag or sha256(content), content, OCI_INDEX)

    def tag(self, tag, digest):
        """Point ``tag`` at a manifest written earlier (its exact bytes)."""
        content, media_type = self.manifests[digest]
        return self.put_manifest(tag, content, media_type)

    def signature(self, subject, suffix='.sig'):
        """A cosign-style signature of ``subject`` under the tag ``sha256-<hex><suffix>``. Returns its digest."""
        payload = json.dumps({'critical': {'image': {'docker-manifest-digest': subject}}}).encode()
        config = json.dumps({'architecture': '', 'os': '', 'rootfs': {'type': 'layers', 'diff_ids': [sha256(payload)]}}).encode()
        manifest = {'schemaVersion': 2, 'mediaType': OCI_MANIFEST,
                    'config': {'mediaType': COSIGN_CONFIG, 'digest': self.blob(config), 'size': len(config)},
                    'layers': [{'mediaType': COSIGN_SIGNATURE, 'digest': self.blob(payload), 'size': len(payload)}]}
        content = json.dumps(manifest, indent=2).encode()
        return self.put_manifest('%s%s' % (subject.replace(':', '-'), suffix), content, OCI_MANIFEST)
