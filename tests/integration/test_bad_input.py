"""A corpus of bad input for every module, the release role and the prune playbook (issues 9 and 10): 99 cases here.

Each must fail with a clear error that names what was wrong (the value or option, and the registry and
repository where there is one), with a sensible error class (``result['error']``), no traceback, no password in
anything the run printed, and nothing changed: the registry's access log shows no accepted write (and no request
at all for input refused up front), and every tag of the seeded repositories still names the same digest.

====================================================================  =====
Category                                                              Cases
====================================================================  =====
Malformed references, tags and repository names, overlong ones          12
Invalid semantic versions (manifest_push, the release role)              3
Other malformed options (immutable pattern, platform keys, one tag
for two images, a suffix without a version, a page size, a reference
without its repository)                                                  6
Retention policies: the module's rules (unknown keys, conflicting or
invalid settings, bad patterns) and policy files for the prune
playbook (a misspelt key, an unknown rule key, not a mapping, not YAML)  17
A registry address with a path or a bad scheme                           6
Wrong credentials                                                        4
Expired certificates, certificates from another CA                       8
Unknown repositories                                                     4
A registry with deletes disabled (two repositories)                      1
A server that is not a registry (404 to everything, or a catch-all
HTML page)                                                               8
Malformed OCI layouts (src, manifests[].src, the release role)          14
Malformed docker save archives (src, the release role)                   9
Malformed content in the registry (an index naming a deleted index, an
image whose config blob is gone, a signature listed as an image, an
index copied whose image is gone)                                        5
Release sources built for the other architecture                         1
A copy that would move a release tag                                     1
====================================================================  =====

By module: manifest_push 45, retention_prune 24, image_copy 8, tag_set 6, image_info 4, the release role 8, the prune
playbook 4. The 87 module cases run as the tasks of one playbook (one ansible-playbook start for them all): the 65
refused before any request together, then the 22 that reach a server one by one, each step marked in the servers' access logs. The
release cases run as the blocks of another. test_tag_set_errors.py has tag_set's own corpus, not repeated here.
"""

import io
import json
import os
import secrets
import shutil
import tarfile

import pytest
import yaml

from tests.integration.test_tag_set import Log
from tests.support.images import make_layout, sha256, tag_digests
from tests.support.loopback import LoopbackServer
from tests.support.registry import TestRegistry, make_ca
from tests.support.seed import Seeder, days_ago

TAG_SET = 'regops.registry.tag_set'
PUSH = 'regops.registry.manifest_push'
PRUNE = 'regops.registry.retention_prune'
COPY = 'regops.registry.image_copy'
INFO = 'regops.registry.image_info'
OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
WRITES = ('PUT', 'POST', 'PATCH', 'DELETE')
WRONG_PASSWORD = 'wrong-pw-' + secrets.token_hex(8)
DEV_RULES = [{'name': 'dev', 'match': '-dev-', 'older_than_days': 30}]


# ----------------------------------------------------------------------------------------------- fixtures

class WebServer(object):
    """A plain HTTP server on loopback that is not a registry: it answers 404 with an HTML page to everything
    (``notfound``), or 200 with an HTML page to every GET and HEAD (``catchall``, as a single-page app does).
    ``requests`` records what it was sent."""

    def __init__(self, mode):
        self.mode = mode
        self.requests = []
        self.server = LoopbackServer(self._answer).start()
        self.host = self.server.host
        self.stop = self.server.stop

    def _answer(self, request):
        length = int(request.headers.get('Content-Length') or 0)
        if length:
            request.rfile.read(length)
        ok = self.mode == 'catchall' and request.command in ('GET', 'HEAD')
        self.requests.append((request.command, request.path, 200 if ok else 404))
        body = b'<html><body><h1>%s</h1></body></html>' % (b'Welcome' if ok else b'Not Found')
        request.send_response(200 if ok else 404)
        request.send_header('Content-Type', 'text/html; charset=utf-8')
        request.send_header('Content-Length', str(len(body)))
        request.end_headers()
        if request.command != 'HEAD':
            request.wfile.write(body)


def inventory(registry, repositories):
    """Every tag of ``repositories`` (as ``repository:tag``) and its digest, by raw HTTP."""
    return dict(('%s:%s' % (repository, tag), digest) for repository in repositories
                for tag, digest in tag_digests(registry, repository).items())


def _tar(members):
    """A tar archive of ``members`` (a list of (name, bytes)), as bytes."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode='w', format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def docker_archive(path, broken=None):
    """A `docker save` archive of one amd64 image of one layer (its members in the order manifest.json, config,
    layer, as the loader reads them), or broken the way ``broken`` says."""
    layer = _tar([('payload.bin', os.urandom(64 * 1024))])
    diff_ids = [sha256(layer)]
    if broken == 'diff-id':
        diff_ids = [sha256(b'another layer')]
    elif broken == 'layer-count':
        diff_ids = diff_ids * 2
    config = json.dumps({'architecture': 'amd64', 'os': 'linux', 'rootfs': {'type': 'layers', 'diff_ids': diff_ids}}).encode()
    config_name = '%s.json' % sha256(config).split(':')[1]
    layer_name = '%s/layer.tar' % sha256(layer).split(':')[1]
    if broken == 'bad-gzip':
        layer = b'\x1f\x8b\x08\x00' + os.urandom(4096)
    entries = [{'Config': config_name, 'RepoTags': ['bad/archive:1'], 'Layers': [layer_name]}]
    if broken == 'missing-layer':
        entries[0]['Layers'] = ['0123abcd/layer.tar']
    elif broken == 'two-images':
        entries.append({'Config': config_name, 'RepoTags': ['bad/archive:2'], 'Layers': [layer_name]})
    manifest = json.dumps(entries).encode()
    if broken == 'manifest-not-json':
        manifest = b'[{"Config": "abc.json", "Layers": ['
    members = [('manifest.json', manifest), (config_name, config), (layer_name, layer)]
    if broken == 'no-manifest':
        members = members[1:]
    data = _tar(members)
    if broken == 'truncated':
        data = data[:len(data) // 2]
    with open(path, 'wb') as f:
        f.write(data)
    return path


def _blobs(layout):
    return os.path.join(layout, 'blobs', 'sha256')


def _index(layout):
    with open(os.path.join(layout, 'index.json')) as f:
        return json.load(f)


def _top_manifest(layout):
    """(path, parsed) of the image manifest a one-image layout's index.json names."""
    path = os.path.join(_blobs(layout), _index(layout)['manifests'][0]['digest'].split(':')[1])
    with open(path) as f:
        return path, json.load(f)


def _replace_top_manifest(layout, content):
    """Put ``content`` in place of the layout's top manifest, index.json pointing at it by its digest and size."""
    old, _doc = _top_manifest(layout)
    os.unlink(old)
    with open(os.path.join(_blobs(layout), sha256(content).split(':')[1]), 'wb') as f:
        f.write(content)
    index = _index(layout)
    index['manifests'][0].update(digest=sha256(content), size=len(content))
    with open(os.path.join(layout, 'index.json'), 'w') as f:
        json.dump(index, f)


def broken_layout(path, how):
    """An OCI layout broken the way ``how`` says; returns its path."""
    if how == 'missing-platform':
        make_layout(path, tag='src', platforms=['amd64', 'arm64'], layer_size=1024)
        index_path = os.path.join(_blobs(path), _index(path)['manifests'][0]['digest'].split(':')[1])
        with open(index_path) as f:
            arm = json.load(f)['manifests'][1]['digest']
        os.unlink(os.path.join(_blobs(path), arm.split(':')[1]))
        return path
    if how == 'index':
        make_layout(path, tag='src', platforms=['amd64', 'arm64'], layer_size=1024)
        return path
    make_layout(path, tag='src', layer_size=1024)
    _manifest_path, manifest = _top_manifest(path)
    layer = os.path.join(_blobs(path), manifest['layers'][0]['digest'].split(':')[1])
    if how == 'no-index':
        os.unlink(os.path.join(path, 'index.json'))
    elif how == 'no-marker':
        os.unlink(os.path.join(path, 'oci-layout'))
    elif how == 'index-not-json':
        with open(os.path.join(path, 'index.json'), 'w') as f:
            f.write('{"schemaVersion": 2, "manifests": [')
    elif how == 'layout-version':
        with open(os.path.join(path, 'oci-layout'), 'w') as f:
            json.dump({'imageLayoutVersion': '2.0.0'}, f)
    elif how == 'truncated-blob':
        with open(layer, 'r+b') as f:
            f.truncate(100)
    elif how == 'digest-mismatch':
        with open(layer, 'r+b') as f:
            f.write(b'corrupt')
    elif how == 'missing-blob':
        os.unlink(layer)
    elif how == 'manifest-not-json':
        _replace_top_manifest(path, b'schemaVersion: 2\nconfig: {}\n')
    elif how == 'manifest-no-config':
        del manifest['config']
        _replace_top_manifest(path, json.dumps(manifest).encode())
    elif how == 'two-images':
        index = _index(path)
        second = dict(index['manifests'][0], annotations={'org.opencontainers.image.ref.name': 'other'})
        index['manifests'].append(second)
        with open(os.path.join(path, 'index.json'), 'w') as f:
            json.dump(index, f)
    else:
        raise ValueError(how)
    return path


class Context(object):
    """Everything the cases refer to: the fixture registry and its seeded repositories, broken sources on disk,
    servers that are not registries, a registry with an expired certificate, one with deletes disabled."""

    def __init__(self, registry, workdir):
        self.registry = registry
        self.workdir = workdir
        self.host = registry.host
        self.conn = {'registry': registry.host, 'username': registry.username, 'password': registry.password,
                     'ca_path': registry.ca_path}
        self.repo = 'bad/main-%s' % secrets.token_hex(3)
        self.broken = 'bad/broken-%s' % secrets.token_hex(3)
        self.missing = 'bad/missing-%s' % secrets.token_hex(3)
        self.paths = {}
        self._lazy = {}
        self.passwords = [registry.password, WRONG_PASSWORD]

    # -- the fixture registry's content
    def seed(self):
        s = Seeder(self.registry, self.repo)
        self.src = s.image('src', 'amd64', created=days_ago(2))
        s.tag('v1.0.0', self.src)
        s.image('old-dev-1', created=days_ago(90))
        s.signature(self.src)
        self.signature_tag = '%s.sig' % self.src.replace(':', '-')

        # The broken repository: an index whose child index was deleted, an image whose config blob was deleted.
        b = Seeder(self.registry, self.broken)
        image = b.image(None, 'amd64', created=days_ago(2), name='child')
        child = json.dumps({'schemaVersion': 2, 'mediaType': OCI_INDEX, 'manifests': [
            {'mediaType': OCI_MANIFEST, 'digest': image, 'size': len(b.manifests[image][0]),
             'platform': {'architecture': 'amd64', 'os': 'linux'}}]}, indent=2).encode()
        self.lost_child = b.put_manifest(sha256(child), child, OCI_INDEX)
        parent = json.dumps({'schemaVersion': 2, 'mediaType': OCI_INDEX, 'manifests': [
            {'mediaType': OCI_INDEX, 'digest': self.lost_child, 'size': len(child)}]}, indent=2).encode()
        self.dangling = b.put_manifest('keep-me', parent, OCI_INDEX)
        b.image('old-dev-1', created=days_ago(90))
        self.configless = b.image('no-config', 'arm64', created=days_ago(2), name='no-config')
        config = json.loads(b.manifests[self.configless][0])['config']['digest']
        for path in ('/v2/%s/manifests/%s' % (self.broken, self.lost_child), '/v2/%s/blobs/%s' % (self.broken, config)):
            assert self.registry.raw('DELETE', path).status_code == 202, path
        self.config_gone = config
        return self

    def inventory(self):
        return inventory(self.registry, [self.repo, self.broken, self.missing])

    # -- sources on disk
    def layout(self, how):
        if how not in self.paths:
            self.paths[how] = broken_layout(os.path.join(self.workdir, 'layout-' + how), how)
        return self.paths[how]

    def archive(self, how):
        key = 'archive-' + how
        if key not in self.paths:
            self.paths[key] = docker_archive(os.path.join(self.workdir, key + '.tar'), how)
        return self.paths[key]

    # -- other servers, started on first use
    def server(self, name):
        if name not in self._lazy:
            if name in ('notfound', 'catchall'):
                self._lazy[name] = WebServer(name)
            elif name == 'expired':
                self._lazy[name] = TestRegistry(os.path.join(self.workdir, 'expired'), cert_valid_days=-2).start()
            elif name == 'nodelete':
                reg = TestRegistry(os.path.join(self.workdir, 'nodelete'), delete=False).start()
                for repository in ('bad/one', 'bad/two'):
                    s = Seeder(reg, repository)
                    s.image('old-dev-1', created=days_ago(90))
                    s.image('stable', created=days_ago(90))
                self._lazy[name] = reg
                self.nodelete_inventory = inventory(reg, ['bad/one', 'bad/two'])
            elif name == 'other-ca':
                directory = os.path.join(self.workdir, 'other-ca')
                os.makedirs(directory, exist_ok=True)
                self._lazy[name] = make_ca(directory, name='another CA')[0]
            if hasattr(self._lazy[name], 'password'):
                self.passwords.append(self._lazy[name].password)
        return self._lazy[name]

    def web(self, name, **args):
        """Connection options for a server that is not a registry."""
        return dict(args, registry='http://' + self.server(name).host)

    def expired(self, **args):
        reg = self.server('expired')
        return dict(args, registry=reg.host, username=reg.username, password=reg.password, ca_path=reg.ca_path)

    def nodelete(self, **args):
        reg = self.server('nodelete')
        return dict(args, registry=reg.host, username=reg.username, password=reg.password, ca_path=reg.ca_path)

    def stop(self):
        for value in self._lazy.values():
            if hasattr(value, 'stop'):
                value.stop()


@pytest.fixture(scope='module')
def ctx(registry, workdir):
    directory = os.path.join(workdir, 'bad-input')
    os.makedirs(directory, exist_ok=True)
    context = Context(registry, directory).seed()
    yield context
    context.stop()
    shutil.rmtree(directory, ignore_errors=True)


# ------------------------------------------------------------------------------------------------- cases

class Case(object):
    """One bad input: ``args(ctx)`` the module's arguments; the result's ``error`` class (None: refused by Ansible's
    own argument validation); ``expect(ctx)`` the texts its msg must contain. ``target`` is the server where
    nothing may change ('registry', 'nodelete', 'expired', 'notfound', 'catchall'). Without ``reaches`` the input
    is refused before any request: those cases run together, and together they must send no request at all."""

    def __init__(self, case_id, module, args, error, expect, target='registry', reaches=True):
        self.id = case_id
        self.module = module
        self.args = args
        self.error = error
        self.expect = expect
        self.target = target
        self.reaches = reaches


case = Case


def _where(c, repository=None):
    return '%s/%s' % (c.host, repository or c.repo)


CASES = [
    # --- manifest_push: malformed references, tags, names and versions (refused before any request)
    case('push-repository-upper-case', PUSH, lambda c: dict(c.conn, repository='Bad/Service', src=c.layout('index'), tags=['x']),
         'InvalidInputError', lambda c: ["invalid repository name 'Bad/Service'", 'lower case'], reaches=False),
    case('push-repository-overlong', PUSH, lambda c: dict(c.conn, repository='a/' + 'b' * 300, src=c.layout('index'), tags=['x']),
         'InvalidInputError', lambda c: ['is 302 characters long; the limit is 255'], reaches=False),
    case('push-tag-with-space', PUSH, lambda c: dict(c.conn, repository=c.repo, manifests=[{'ref': 'src'}], tags=['release 1']),
         'InvalidInputError', lambda c: ["invalid tag 'release 1'", _where(c)], reaches=False),
    case('push-tag-overlong', PUSH, lambda c: dict(c.conn, repository=c.repo, manifests=[{'ref': 'src', 'tags': ['t' * 129]}], tags=['x']),
         'InvalidInputError', lambda c: ['invalid tag', '1 to 128 characters'], reaches=False),
    case('push-version-not-semver', PUSH, lambda c: dict(c.conn, repository=c.repo, manifests=[{'ref': 'src'}], version='v3.0'),
         'InvalidInputError', lambda c: ["'v3.0'", 'invalid semantic version'], reaches=False),
    case('push-version-leading-zero', PUSH, lambda c: dict(c.conn, repository=c.repo, manifests=[{'ref': 'src'}], version='v3.01.0'),
         'InvalidInputError', lambda c: ["'v3.01.0'", 'invalid semantic version'], reaches=False),
    case('push-suffix-with-space', PUSH,
         lambda c: dict(c.conn, repository=c.repo, version='v1.0.0', manifests=[{'ref': 'src', 'suffix': '-amd 64'}]),
         'InvalidInputError', lambda c: ["'-amd 64'", 'suffix'], reaches=False),
    case('push-ref-upper-case-repository', PUSH, lambda c: dict(c.conn, repository=c.repo, tags=['x'], manifests=[{'ref': 'Team/App:v1'}]),
         'InvalidInputError', lambda c: ["invalid repository name 'Team/App'"], reaches=False),
    case('push-ref-without-tag', PUSH, lambda c: dict(c.conn, repository=c.repo, tags=['x'], manifests=[{'ref': 'team/app'}]),
         'InvalidInputError', lambda c: ["image reference 'team/app' has no tag or digest"], reaches=False),
    case('push-ref-short-digest', PUSH, lambda c: dict(c.conn, repository=c.repo, tags=['x'], manifests=[{'ref': 'team/app@sha256:abc'}]),
         'InvalidInputError', lambda c: ["invalid sha256 digest 'sha256:abc'"], reaches=False),
    case('push-mount-from-invalid', PUSH, lambda c: dict(c.conn, repository=c.repo, tags=['x'], src=c.layout('index'), mount_from=['Base/Image']),
         'InvalidInputError', lambda c: ["invalid repository name 'Base/Image'"], reaches=False),
    case('push-immutable-bad-regex', PUSH, lambda c: dict(c.conn, repository=c.repo, tags=['x'], src=c.layout('index'), immutable=['v[0-9']),
         'InvalidInputError', lambda c: ["immutable pattern 'v[0-9' is not a valid regular expression"], reaches=False),
    case('push-unknown-platform-key', PUSH,
         lambda c: dict(c.conn, repository=c.repo, tags=['x'], manifests=[
             {'ref': 'src', 'platform': {'os': 'linux', 'architecture': 'amd64', 'arch': 'arm64'}}]),
         'InvalidInputError', lambda c: ['manifests[1]: unknown platform keys arch'], reaches=False),
    case('push-one-tag-for-two-images', PUSH,
         lambda c: dict(c.conn, repository=c.repo, tags=['same'], manifests=[{'ref': 'src', 'tags': ['same']}]),
         'InvalidInputError', lambda c: ['the tag same is asked for two images', _where(c)]),

    # --- manifest_push: broken OCI layouts (src and manifests[].src), refused before any request
    case('layout-missing-index-json', PUSH, lambda c: dict(c.conn, repository=c.repo, tags=['x'], src=c.layout('no-index')),
         'InvalidInputError', lambda c: [c.layout('no-index') + ': index.json cannot be read', 'No such file'], reaches=False),
    case('layout-missing-oci-layout-file', PUSH, lambda c: dict(c.conn, repository=c.repo, tags=['x'], src=c.layout('no-marker')),
         'InvalidInputError', lambda c: [c.layout('no-marker') + ' is not an OCI image layout (no oci-layout file)'], reaches=False),
    case('layout-index-json-not-json', PUSH, lambda c: dict(c.conn, repository=c.repo, tags=['x'], src=c.layout('index-not-json')),
         'InvalidInputError', lambda c: [c.layout('index-not-json') + '/index.json is not valid JSON'], reaches=False),
    case('layout-unsupported-version', PUSH, lambda c: dict(c.conn, repository=c.repo, tags=['x'], src=c.layout('layout-version')),
         'UnsupportedError', lambda c: ["OCI layout version '2.0.0' is not supported"], reaches=False),
    case('layout-truncated-blob', PUSH, lambda c: dict(c.conn, repository=c.repo, tags=['x'], src=c.layout('truncated-blob')),
         'InvalidInputError', lambda c: ['is 100 bytes on disk, the descriptor says', 'the layout is corrupt'], reaches=False),
    case('layout-digest-mismatch-in-manifests-src', PUSH,
         lambda c: dict(c.conn, repository=c.repo, tags=['x'], manifests=[{'src': c.layout('digest-mismatch')}]),
         'InvalidInputError', lambda c: ['does not match its digest', c.layout('digest-mismatch')], reaches=False),
    case('layout-missing-blob', PUSH, lambda c: dict(c.conn, repository=c.repo, tags=['x'], src=c.layout('missing-blob')),
         'InvalidInputError', lambda c: ['is missing from the layout ' + c.layout('missing-blob')], reaches=False),
    case('layout-manifest-not-json', PUSH, lambda c: dict(c.conn, repository=c.repo, tags=['x'], src=c.layout('manifest-not-json')),
         'InvalidInputError', lambda c: [c.layout('manifest-not-json'), 'is not valid JSON'], reaches=False),
    case('layout-manifest-without-config', PUSH, lambda c: dict(c.conn, repository=c.repo, tags=['x'], src=c.layout('manifest-no-config')),
         'InvalidInputError', lambda c: [c.layout('manifest-no-config'), 'has no config'], reaches=False),
    case('layout-index-missing-a-platform', PUSH, lambda c: dict(c.conn, repository=c.repo, tags=['x'], src=c.layout('missing-platform')),
         'InvalidInputError', lambda c: ['lists platforms whose images are not in the layout (linux/arm64)'], reaches=False),
    case('layout-two-images-none-chosen', PUSH, lambda c: dict(c.conn, repository=c.repo, tags=['x'], src=c.layout('two-images')),
         'InvalidInputError', lambda c: [c.layout('two-images') + ' holds 2 images (src, other)'], reaches=False),
    case('layout-src-ref-unknown', PUSH, lambda c: dict(c.conn, repository=c.repo, tags=['x'], src=c.layout('index'), src_ref='nope'),
         'InvalidInputError', lambda c: ["no image named 'nope' (images: src)"], reaches=False),
    case('layout-index-as-manifests-src', PUSH, lambda c: dict(c.conn, repository=c.repo, tags=['x'], manifests=[{'src': c.layout('index')}]),
         'UnsupportedError', lambda c: ['manifests[1]: ' + c.layout('index') + ' holds an index', 'give src_ref'], reaches=False),

    # --- manifest_push: broken docker save archives, refused before any request
    case('archive-truncated', PUSH, lambda c: dict(c.conn, repository=c.repo, tags=['x'], src=c.archive('truncated')),
         'InvalidInputError', lambda c: ['docker archive %s is truncated or corrupt' % c.archive('truncated')], reaches=False),
    case('archive-without-manifest-json', PUSH, lambda c: dict(c.conn, repository=c.repo, tags=['x'], src=c.archive('no-manifest')),
         'InvalidInputError', lambda c: ['docker archive %s: manifest.json is missing from the archive' % c.archive('no-manifest')], reaches=False),
    case('archive-manifest-json-not-json', PUSH, lambda c: dict(c.conn, repository=c.repo, tags=['x'], src=c.archive('manifest-not-json')),
         'InvalidInputError', lambda c: ['%s: manifest.json is not valid JSON' % c.archive('manifest-not-json')], reaches=False),
    case('archive-layer-not-its-diff-id', PUSH, lambda c: dict(c.conn, repository=c.repo, tags=['x'], src=c.archive('diff-id')),
         'InvalidInputError', lambda c: [c.archive('diff-id'), 'but the image config says', 'the archive is corrupt'], reaches=False),
    case('archive-layer-count-differs', PUSH, lambda c: dict(c.conn, repository=c.repo, tags=['x'], src=c.archive('layer-count')),
         'InvalidInputError', lambda c: ['the image config lists 2 layers, manifest.json 1'], reaches=False),
    case('archive-layer-missing', PUSH, lambda c: dict(c.conn, repository=c.repo, tags=['x'], src=c.archive('missing-layer')),
         'InvalidInputError', lambda c: ['0123abcd/layer.tar is missing from the archive'], reaches=False),
    case('archive-layer-bad-gzip', PUSH, lambda c: dict(c.conn, repository=c.repo, tags=['x'], src=c.archive('bad-gzip')),
         'InvalidInputError', lambda c: ['docker archive %s is truncated or corrupt' % c.archive('bad-gzip')], reaches=False),
    case('archive-two-images-none-chosen', PUSH, lambda c: dict(c.conn, repository=c.repo, tags=['x'], src=c.archive('two-images')),
         'InvalidInputError', lambda c: ['holds 2 images (tags: bad/archive:1, bad/archive:2); choose one by its tag'], reaches=False),

    # --- manifest_push: the registry and its content
    case('push-unknown-repository-in-ref', PUSH, lambda c: dict(c.conn, repository=c.repo, tags=['x'], manifests=[{'ref': c.missing + ':v1'}]),
         # distribution answers MANIFEST_UNKNOWN for a repository it does not have; its tag list tells the two apart
         'RepositoryNotFoundError', lambda c: ['%s/%s:v1: manifests[1]: repository not found' % (c.host, c.missing)]),
    case('push-signature-as-index-image', PUSH, lambda c: dict(c.conn, repository=c.repo, tags=['x'], manifests=[{'ref': c.signature_tag}]),
         'InvalidInputError', lambda c: ['manifests[1]: the image config names no architecture and os']),
    case('push-image-whose-config-is-gone', PUSH,
         lambda c: dict(c.conn, repository=c.repo, tags=['x'], manifests=[{'ref': '%s:no-config' % c.broken}]),
         'NotFoundError', lambda c: ['%s/%s:no-config: manifests[1]: the image config %s' % (c.host, c.broken, c.config_gone),
                                     'is missing from the repository', 'Push the image again']),
    case('push-registry-with-path', PUSH, lambda c: dict(c.conn, registry='https://%s/v2/' % c.host, repository=c.repo, tags=['x'],
                                                         src=c.layout('index')),
         'InvalidInputError', lambda c: ["registry 'https://%s/v2/' contains a path" % c.host], reaches=False),
    case('push-registry-bad-scheme', PUSH, lambda c: dict(c.conn, registry='docker://' + c.host, repository=c.repo, tags=['x'],
                                                          src=c.layout('index')),
         'InvalidInputError', lambda c: ["uses the scheme 'docker'", 'only https:// (the default) and http://'], reaches=False),
    case('push-wrong-password', PUSH, lambda c: dict(c.conn, password=WRONG_PASSWORD, repository=c.repo, tags=['x'], src=c.layout('index')),
         'AuthenticationError', lambda c: ["rejected the credentials of user 'regops'", c.host]),
    case('push-certificate-from-another-ca', PUSH, lambda c: dict(c.conn, ca_path=c.server('other-ca'), repository=c.repo, tags=['x'],
                                                                  src=c.layout('index')),
         'TLSError', lambda c: [c.host, 'CERTIFICATE_VERIFY_FAILED', 'ca_path ' + c.server('other-ca')], reaches=False),
    case('push-expired-certificate', PUSH, lambda c: c.expired(repository=c.repo, tags=['x'], src=c.layout('index')),
         'TLSError', lambda c: [c.server('expired').host, 'certificate has expired', 'renew the certificate'], target='expired',
         reaches=False),
    case('push-not-a-registry-404', PUSH, lambda c: c.web('notfound', repository=c.repo, tags=['x'], manifests=[{'ref': 'src'}]),
         'NotFoundError', lambda c: [c.server('notfound').host, 'without a registry error', 'container registry'], target='notfound'),
    case('push-not-a-registry-catch-all', PUSH, lambda c: c.web('catchall', repository=c.repo, tags=['x'], src=c.layout('index')),
         'RegistryProtocolError', lambda c: [c.server('catchall').host, 'with a web page (HTTP 200, text/html)',
                                             'a container registry'], target='catchall'),

    # --- image_copy and image_info
    case('copy-target-upper-case', COPY, lambda c: dict(c.conn, source=c.repo + ':src', repository='Bad/Target'),
         'InvalidInputError', lambda c: ['Bad/Target', 'lower case'], reaches=False),
    case('copy-source-without-tag', COPY, lambda c: dict(c.conn, source='team/app', repository=c.repo),
         'InvalidInputError', lambda c: ["'team/app' has no tag or digest"], reaches=False),
    case('copy-suffix-without-version', COPY, lambda c: dict(c.conn, source=c.repo + ':src', repository='bad/copy', suffix='-amd64'),
         'InvalidInputError', lambda c: ['suffix is used with version only', _where(c, 'bad/copy')], reaches=False),
    case('copy-source-unknown-repository', COPY, lambda c: dict(c.conn, source=c.missing + ':v1', repository='bad/copy'),
         'RepositoryNotFoundError', lambda c: ['%s/%s:v1: the source %s:v1: repository not found' % (c.host, c.missing, c.missing)]),
    case('copy-source-index-child-gone', COPY, lambda c: dict(c.conn, source=c.broken + ':keep-me', repository='bad/copy'),
         'ManifestNotFoundError', lambda c: ['the index keep-me lists %s, which the source repository does not have' % c.lost_child,
                                             _where(c, c.broken), 'push it again']),
    case('copy-would-move-a-release-tag', COPY, lambda c: dict(c.conn, source=c.repo + ':old-dev-1', repository=c.repo, tags=['v1.0.0']),
         'ImmutableTagError', lambda c: ['refusing to move immutable tag (v1.0.0 is %s' % c.src, _where(c), 'nothing was written']),
    case('copy-expired-certificate', COPY, lambda c: c.expired(source='bad/one:v1', repository='bad/two'),
         'TLSError', lambda c: [c.server('expired').host, 'certificate has expired'], target='expired', reaches=False),
    case('copy-not-a-registry-catch-all', COPY, lambda c: c.web('catchall', source='bad/one:v1', repository='bad/two'),
         'RegistryProtocolError', lambda c: [c.server('catchall').host, 'with a web page', 'a container registry'], target='catchall'),
    case('info-reference-without-repository', INFO, lambda c: dict(c.conn, reference='v1.0.0'),
         'InvalidInputError', lambda c: ['reference v1.0.0 needs the repository it is in', c.host], reaches=False),
    case('info-page-size-too-large', INFO, lambda c: dict(c.conn, repository=c.repo, page_size=20000),
         'InvalidInputError', lambda c: ['page_size must be between 1 and 10000, got 20000', c.host], reaches=False),
    case('info-wrong-password', INFO, lambda c: dict(c.conn, password=WRONG_PASSWORD, repository=c.repo, reference='src'),
         'AuthenticationError', lambda c: ["rejected the credentials of user 'regops'", c.host]),
    case('info-not-a-registry-404', INFO, lambda c: c.web('notfound', repository='bad/one', reference='v1'),
         'NotFoundError', lambda c: [c.server('notfound').host, 'without a registry error', 'container registry'], target='notfound'),

    # --- tag_set: what test_tag_set_errors.py does not cover
    case('tag-set-not-a-registry-404', TAG_SET, lambda c: c.web('notfound', repository=c.repo, source='src', tags=['x']),
         'NotFoundError', lambda c: [c.server('notfound').host, 'without a registry error', 'container registry'], target='notfound'),
    case('tag-set-not-a-registry-catch-all', TAG_SET, lambda c: c.web('catchall', repository=c.repo, source='src', tags=['x']),
         'RegistryProtocolError', lambda c: ['%s/%s:src' % (c.server('catchall').host, c.repo), 'with a web page',
                                             'a container registry'], target='catchall'),
    case('tag-set-expired-certificate', TAG_SET, lambda c: c.expired(repository=c.repo, source='src', tags=['x']),
         'TLSError', lambda c: [c.server('expired').host, 'certificate has expired', 'renew the certificate'], target='expired',
         reaches=False),
    case('tag-set-certificate-from-another-ca', TAG_SET, lambda c: dict(c.conn, ca_path=c.server('other-ca'), repository=c.repo,
                                                                        source='src', tags=['x']),
         'TLSError', lambda c: [c.host, 'CERTIFICATE_VERIFY_FAILED', 'ca_path ' + c.server('other-ca')], reaches=False),
    case('tag-set-registry-url-with-path', TAG_SET, lambda c: dict(c.conn, registry='https://%s/v2/' % c.host, repository=c.repo,
                                                                   source='src', tags=['x']),
         'InvalidInputError', lambda c: ['contains a path or query'], reaches=False),
    case('tag-set-source-index-with-missing-child', TAG_SET, lambda c: dict(c.conn, repository=c.broken, source='keep-me', tags=['x']),
         'NotFoundError', lambda c: ['%s/%s: the source keep-me (%s) names images the repository no longer has (%s)'
                                     % (c.host, c.broken, c.dangling, c.lost_child), 'Push the image again']),

    # --- retention_prune: policy (refused before any request)
    case('prune-rule-unknown-key', PRUNE, lambda c: dict(c.conn, repository=c.repo, rules=[dict(DEV_RULES[0], keep_last=3)]),
         None, lambda c: ['keep_last', 'rules'], reaches=False),
    case('prune-semver-unknown-key', PRUNE, lambda c: dict(c.conn, repository=c.repo, rules=[{'semver': {'minor': 3}}]),
         None, lambda c: ['minor', 'semver'], reaches=False),
    case('prune-rule-selects-nothing', PRUNE, lambda c: dict(c.conn, repository=c.repo, rules=[{'name': 'old', 'older_than_days': 9}]),
         'InvalidInputError', lambda c: ['old: say which tags the rule selects'], reaches=False),
    case('prune-semver-with-keep-newest', PRUNE,
         lambda c: dict(c.conn, repository=c.repo, rules=[{'name': 'rel', 'semver': {'minors': 2}, 'keep_newest': 3}]),
         'InvalidInputError', lambda c: ['rel: a semver rule keeps by majors, minors and patches'], reaches=False),
    case('prune-negative-keep-newest', PRUNE, lambda c: dict(c.conn, repository=c.repo, rules=[{'name': 'few', 'match': 'x', 'keep_newest': -1}]),
         'InvalidInputError', lambda c: ['few: keep_newest must be a whole number of at least 0, got -1'], reaches=False),
    case('prune-semver-zero-minors', PRUNE, lambda c: dict(c.conn, repository=c.repo, rules=[{'name': 'rel', 'semver': {'minors': 0}}]),
         'InvalidInputError', lambda c: ['rel: semver.minors must be a whole number of at least 1, got 0'], reaches=False),
    case('prune-match-bad-regex', PRUNE, lambda c: dict(c.conn, repository=c.repo, rules=[{'name': 'dev', 'match': '(-dev', 'keep_newest': 1}]),
         'InvalidInputError', lambda c: ["dev: match '(-dev' is not a valid regular expression"], reaches=False),
    case('prune-protect-bad-regex', PRUNE, lambda c: dict(c.conn, repository=c.repo, protect=['^prod-['], rules=DEV_RULES),
         'InvalidInputError', lambda c: ["protect pattern '^prod-[' is not a valid regular expression"], reaches=False),
    case('prune-duplicate-rule-names', PRUNE, lambda c: dict(c.conn, repository=c.repo, rules=DEV_RULES * 2),
         'InvalidInputError', lambda c: ['rule names must differ; repeated: dev'], reaches=False),
    case('prune-no-rules', PRUNE, lambda c: dict(c.conn, repository=c.repo, rules=[]),
         'InvalidInputError', lambda c: ['the policy has no rules'], reaches=False),
    case('prune-suffix-without-dash', PRUNE, lambda c: dict(c.conn, repository=c.repo, rules=DEV_RULES, suffixes=['amd64']),
         'InvalidInputError', lambda c: ["'amd64'", 'suffix'], reaches=False),
    case('prune-repository-pattern-bad-regex', PRUNE, lambda c: dict(c.conn, repository_pattern='bad/(.*', rules=DEV_RULES),
         'InvalidInputError', lambda c: ["repository_pattern 'bad/(.*' is not a valid regular expression"], reaches=False),
    case('prune-repository-invalid-name', PRUNE, lambda c: dict(c.conn, repository=['bad/ok', 'bad/Not OK'], rules=DEV_RULES),
         'InvalidInputError', lambda c: ["invalid repository name 'bad/Not OK'"], reaches=False),
    case('prune-parallel-too-high', PRUNE, lambda c: dict(c.conn, repository=c.repo, rules=DEV_RULES, parallel=64),
         'InvalidInputError', lambda c: ['parallel must be between 1 and 32, got 64'], reaches=False),

    # --- retention_prune: the registry and its content
    case('prune-unknown-repository', PRUNE, lambda c: dict(c.conn, repository=c.missing, rules=DEV_RULES),
         'RepositoryNotFoundError', lambda c: ['%s/%s: repository not found' % (c.host, c.missing)]),
    case('prune-kept-index-unreadable', PRUNE, lambda c: dict(c.conn, repository=c.broken, rules=DEV_RULES),
         'ManifestNotFoundError', lambda c: ['cannot read a kept manifest', c.lost_child, 'nothing is deleted in this repository']),
    case('prune-wrong-password', PRUNE, lambda c: dict(c.conn, password=WRONG_PASSWORD, repository=c.repo, rules=DEV_RULES),
         'AuthenticationError', lambda c: ["rejected the credentials of user 'regops'", c.host]),
    case('prune-registry-with-path', PRUNE, lambda c: dict(c.conn, registry=c.host + '/bad', repository=c.repo, rules=DEV_RULES),
         'InvalidInputError', lambda c: ["registry '%s/bad' contains a path" % c.host], reaches=False),
    case('prune-registry-bad-scheme', PRUNE, lambda c: dict(c.conn, registry='oci://' + c.host, repository=c.repo, rules=DEV_RULES),
         'InvalidInputError', lambda c: ["uses the scheme 'oci'"], reaches=False),
    case('prune-certificate-from-another-ca', PRUNE, lambda c: dict(c.conn, ca_path=c.server('other-ca'), repository=c.repo, rules=DEV_RULES),
         'TLSError', lambda c: [c.host, 'CERTIFICATE_VERIFY_FAILED', 'ca_path ' + c.server('other-ca')], reaches=False),
    case('prune-expired-certificate', PRUNE, lambda c: c.expired(repository=c.repo, rules=DEV_RULES),
         'TLSError', lambda c: [c.server('expired').host, 'certificate has expired', 'renew the certificate'], target='expired',
         reaches=False),
    case('prune-not-a-registry-404', PRUNE, lambda c: c.web('notfound', repository=c.repo, rules=DEV_RULES),
         'NotFoundError', lambda c: [c.server('notfound').host, 'without a registry error', 'container registry'], target='notfound'),
    case('prune-not-a-registry-catch-all', PRUNE, lambda c: c.web('catchall', repository_pattern='bad/.*', rules=DEV_RULES),
         'RegistryProtocolError', lambda c: [c.server('catchall').host, 'with a web page', 'a container registry'],
         target='catchall'),
    case('prune-deletes-disabled-two-repositories', PRUNE, lambda c: c.nodelete(repository=['bad/one', 'bad/two'], rules=DEV_RULES),
         'UnsupportedError', lambda c: [c.server('nodelete').host, 'deletes are disabled', 'nothing was deleted',
                                        'storage.delete.enabled: true'], target='nodelete'),
]


def _check(result, case, ctx):
    """A clear failure: the error class, the texts that name what was wrong, no traceback, no secret, no change."""
    text = json.dumps(result)
    assert result.get('failed') is True, result
    assert result.get('error') == case.error, result
    assert 'Traceback' not in text and not result['msg'].startswith('unexpected'), result
    for part in case.expect(ctx):
        assert part in result['msg'], (part, result['msg'])
    assert not [p for p in ctx.passwords if p in text]
    assert result.get('changed') is not True, result


def _changes(entries):
    """Requests that change something: writes the server accepted (a refused one, like the deletes probe, does not)."""
    return [e for e in entries if e[0] in WRITES and 200 <= e[2] < 300]


REFUSED = [c for c in CASES if not c.reaches]
REACHING = [c for c in CASES if c.reaches]
# Every playbook here runs with pipelining: one process per module run, the same module code.
FAST = {'ANSIBLE_PIPELINING': '1'}
MARKER = '/v2/regops-marker/'


def _by_marker(entries):
    """A server's requests as (method, path, status), split at the markers: {marker: [requests after it]}."""
    split, current = {}, None
    for entry in entries:
        if entry[1].startswith(MARKER):
            current = split[entry[1][len(MARKER):].split('/')[0]] = []
        elif current is not None:
            current.append(entry)
    return split


@pytest.fixture(scope='module')
def corpus(ansible, ctx):
    """Every case as a task of one playbook (one ansible-playbook start for them all): first the cases refused
    before any request, together, then one by one the cases that reach a server. A request to every server marks
    its access log before each of these steps, so what each step sent is known."""
    servers = [ctx.registry] + [ctx.server(t) for t in sorted(set(c.target for c in CASES)) if t != 'registry']
    ctx.server('other-ca')
    urls = ['%s://%s%s' % ('http' if isinstance(server, WebServer) else 'https', server.host, MARKER) for server in servers]
    steps = [REFUSED] + [[c] for c in REACHING]
    tasks = []
    for number, step in enumerate(steps + [[]]):
        marks = ', '.join("lookup('ansible.builtin.url', '%s%d/tags/list', validate_certs=False, errors='ignore')" % (url, number)
                          for url in urls)
        tasks.append({'name': 'marker %d' % number, 'ansible.builtin.debug': {'msg': '{{ [%s] | length }}' % marks}})
        tasks.extend({'name': case.id, case.module: case.args(ctx), 'ignore_errors': True} for case in step)
    before = ctx.inventory()
    marks = dict((server.host, len(server.requests) if isinstance(server, WebServer) else Log(server)) for server in servers)
    run = ansible.playbook([{'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}], env=FAST)
    assert run.data is not None, run.stdout[-3000:] + run.stderr[-3000:]
    results = dict((task['task']['name'], task['hosts']['localhost']) for play in run.data['plays'] for task in play['tasks'])
    sent = {}  # case id: {server: [what its step sent]}
    for server in servers:
        if isinstance(server, WebServer):
            entries = server.requests[marks[server.host]:]
        else:
            entries = marks[server.host].freeze().entries()
        for number, requests in _by_marker(entries).items():
            for case in (steps + [[]])[int(number)]:
                sent.setdefault(case.id, {})[server.host] = requests
    assert len(sent) == len(CASES), sorted(sent)
    return {'results': results, 'sent': sent, 'inventory': (before, ctx.inventory()), 'output': run.stdout + run.stderr}


def _nothing_changed(corpus, ctx):
    before, after = corpus['inventory']
    assert after == before
    if 'nodelete' in ctx._lazy:
        assert inventory(ctx.server('nodelete'), ['bad/one', 'bad/two']) == ctx.nodelete_inventory
    assert not [p for p in ctx.passwords if p in corpus['output']]


@pytest.mark.parametrize('case', REFUSED, ids=[c.id for c in REFUSED])
def test_refused_before_any_request(corpus, ctx, case):
    _check(corpus['results'][case.id], case, ctx)
    # Not one request reached any server while these cases ran.
    assert dict((host, requests) for host, requests in corpus['sent'][case.id].items() if requests) == {}
    _nothing_changed(corpus, ctx)


@pytest.mark.parametrize('case', REACHING, ids=[c.id for c in REACHING])
def test_refused_by_what_the_server_says(corpus, ctx, case):
    _check(corpus['results'][case.id], case, ctx)
    sent = corpus['sent'][case.id]
    assert sent[ctx.server(case.target).host if case.target != 'registry' else ctx.host], 'no request reached %s' % case.target
    for host, requests in sent.items():
        assert _changes(requests) == [], host
    for name in ('notfound', 'catchall'):
        # Nothing but reads was sent to a server that is not a registry.
        assert [r for r in sent[ctx.server(name).host] if r[0] in WRITES] == []
    _nothing_changed(corpus, ctx)


# ----------------------------------------------------------------------- the release role, the prune playbook

RELEASE = 'regops.registry.release'


def _release_sources(c, amd64=None, arm64=None):
    """Sources of one service: built OCI layouts of each architecture, or what is given instead."""
    sources = {}
    for arch, given in (('amd64', amd64), ('arm64', arm64)):
        if given is None:
            key = 'release-' + arch
            if key not in c.paths:
                c.paths[key] = os.path.join(c.workdir, key)
                make_layout(c.paths[key], tag='build', arch=arch, layer_size=1024)
            given = {'oci_layout': c.paths[key]}
        sources[arch] = given
    return sources


def _release_service(c, **sources):
    """release_services of the one service, svc, with ``sources`` in place of the built layouts."""
    return {'release_services': [{'name': 'svc', 'sources': _release_sources(c, **sources)}]}


def release_case(case_id, change, expect):
    """A release of one service, ``svc``, under an organization of the case's own (``change(ctx)`` gives the
    variables that differ); ``expect(ctx)`` the texts of the role's failure."""
    return pytest.param(change, expect, id=case_id)


RELEASE_CASES = [
    release_case('release-version-not-semver', lambda c: {'release_version': 'v3.0'},
                 lambda c: ["svc: invalid semantic version 'v3.0'"]),
    release_case('release-registry-with-path', lambda c: {'release_registry': c.host + '/v2'},
                 lambda c: ["svc: registry '%s/v2' contains a path" % c.host]),
    release_case('release-wrong-password', lambda c: {'release_password': WRONG_PASSWORD},
                 lambda c: ["svc: %s/" % c.host, "rejected the credentials of user 'regops'"]),
    release_case('release-certificate-from-another-ca', lambda c: {'release_ca_path': c.server('other-ca')},
                 lambda c: ['svc: %s/' % c.host, 'CERTIFICATE_VERIFY_FAILED', 'ca_path ' + c.server('other-ca')]),
    release_case('release-corrupt-oci-layout',
                 lambda c: _release_service(c, amd64={'oci_layout': c.layout('digest-mismatch')}),
                 lambda c: ['svc: ', c.layout('digest-mismatch'), 'does not match its digest']),
    release_case('release-truncated-docker-archive',
                 lambda c: _release_service(c, arm64={'docker_archive': c.archive('truncated')}),
                 lambda c: ['svc: ', 'docker archive %s is truncated or corrupt' % c.archive('truncated')]),
    release_case('release-source-in-unknown-repository',
                 lambda c: _release_service(c, arm64={'image': '%s:1.0.0-arm64' % c.missing}),
                 lambda c: ['svc: %s/%s:1.0.0-arm64: manifests[2]: repository not found' % (c.host, c.missing)]),
    release_case('release-sources-of-swapped-architectures',
                 lambda c: _release_service(c, amd64=_release_sources(c)['arm64'], arm64=_release_sources(c)['amd64']),
                 lambda c: ['svc: the amd64 source is a linux/arm64 image', 'give the amd64 build']),
]


@pytest.fixture(scope='module')
def releases(ansible, ctx):
    """Every release case as a block of one playbook; the rescue records the role's failure by the case's name.
    Each case releases into an organization of its own, so a write would name its case."""
    ids = [p.id for p in RELEASE_CASES]
    blocks, organizations = [], {}
    for case_id, param in zip(ids, RELEASE_CASES):
        change, _expect = param.values
        organizations[case_id] = 'badrel-%s-%s' % (secrets.token_hex(2), case_id.replace('release-', ''))
        variables = {'release_registry': ctx.host, 'release_ca_path': ctx.registry.ca_path,
                     'release_username': ctx.registry.username, 'release_password': ctx.registry.password,
                     'release_organization': organizations[case_id], 'release_version': 'v1.0.0',
                     'release_services': [{'name': 'svc', 'sources': _release_sources(ctx)}]}
        variables.update(change(ctx))
        blocks.append({'name': 'case ' + case_id, 'block': [
            {'name': 'release ' + case_id, 'ansible.builtin.include_role': {'name': RELEASE}, 'vars': variables}],
            'rescue': [{'name': case_id, 'ansible.builtin.debug': {
                'msg': {'msg': '{{ ansible_failed_result.msg | default("") }}', 'task': '{{ ansible_failed_task.name }}'}}}]})
    before = ctx.inventory()
    log = Log(ctx.registry)
    run = ansible.playbook([{'hosts': 'localhost', 'gather_facts': False, 'tasks': blocks}], env=FAST)
    log.freeze()
    assert run.data is not None, run.stdout[-3000:] + run.stderr[-3000:]
    failures = {}
    for play in run.data['plays']:
        for task in play['tasks']:
            if task['task']['name'] in ids:
                failures[task['task']['name']] = task['hosts']['localhost']['msg']
    organizations_written = sorted(set(p.split('/')[2] for _m, p, _s in _changes(log.entries())))
    return {'failures': failures, 'written': organizations_written, 'organizations': organizations,
            'inventory': (before, ctx.inventory()), 'output': run.stdout + run.stderr}


@pytest.mark.parametrize('change, expect', RELEASE_CASES)
def test_release_role_refuses_with_nothing_written(releases, ctx, request, change, expect):
    case_id = request.node.callspec.id
    failure = releases['failures'].get(case_id)
    assert failure is not None, 'the release did not fail'
    assert failure['task'] == 'Stop with nothing written when a service cannot be released', failure
    for part in expect(ctx):
        assert part in failure['msg'], (part, failure['msg'])
    assert 'stopped before anything was written for any service' in failure['msg']
    assert releases['organizations'][case_id] not in releases['written']
    before, after = releases['inventory']
    assert after == before
    assert not [p for p in ctx.passwords if p in releases['output']]


PRUNE_PLAYBOOK_CASES = [
    pytest.param(lambda c: {'repository': c.repo, 'protected': ['^old-'], 'rules': DEV_RULES},
                 lambda c: ['policy.yml: unknown keys protected; a policy has repository, repository_pattern, protect, rules',
                            'Nothing was deleted'], id='prune-policy-misspelt-key'),
    pytest.param(lambda c: {'repository': c.repo, 'rules': [{'name': 'dev', 'match': '-dev-', 'older_than': 30}]},
                 lambda c: ['Unsupported parameters', 'rules.older_than'], id='prune-policy-rule-unknown-key'),
    pytest.param(lambda c: [{'repository': c.repo}],
                 lambda c: ['policy.yml must be stored as a dictionary'], id='prune-policy-not-a-mapping'),
    pytest.param(lambda c: 'repository: [%s\nrules: []\n' % c.repo,
                 lambda c: ['YAML parsing failed'], id='prune-policy-not-yaml'),
]


@pytest.mark.parametrize('policy, expect', PRUNE_PLAYBOOK_CASES)
def test_prune_playbook_refuses_a_bad_policy_file(ansible, ctx, tmp_path, policy, expect):
    path = tmp_path / 'policy.yml'
    content = policy(ctx)
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    before = ctx.inventory()
    log = Log(ctx.registry)
    run = ansible.playbook('regops.registry.prune', extra_args=[
        '-e', 'retention_policy_file=%s' % path, '-e', 'registry=%s' % ctx.host, '-e', 'registry_ca_path=%s' % ctx.registry.ca_path,
        '-e', 'registry_username=%s' % ctx.registry.username, '-e', 'registry_password=%s' % ctx.registry.password], env=FAST)
    log.freeze()
    assert run.rc != 0
    result = run.result
    assert result.get('failed') is True, result
    # include_vars of ansible-core 2.19 says why in 'message' (its msg is 'Unknown error'); both are shown.
    text = '%s %s' % (result['msg'], result.get('message', ''))
    for part in expect(ctx):
        assert part in text, (part, text)
    assert 'Traceback' not in json.dumps(result)
    assert log.entries() == []  # refused before the module asked the registry anything
    assert ctx.inventory() == before
    assert ctx.registry.password not in json.dumps(run.data)
