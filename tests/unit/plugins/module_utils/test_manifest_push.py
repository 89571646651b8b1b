"""manifest_push planner paths a real registry cannot be made to take (a declined mount), on an in-memory client."""

import json
import re
import threading

import pytest

from ansible_collections.regops.registry.plugins.module_utils._client import RegistryClient, OCI_MANIFEST, Manifest, ManifestHead, compute_digest
from ansible_collections.regops.registry.plugins.module_utils._manifest_push import run_manifest_push
from ansible_collections.regops.registry.plugins.module_utils._reference import parse_registry
from ansible_collections.regops.registry.plugins.module_utils._errors import (
    ConflictError,
    ImmutableTagError,
    InvalidInputError,
    RegistryConnectionError,
    RegistryProtocolError,
    RepositoryNotFoundError,
)
from ansible_collections.regops.registry.plugins.module_utils._semver import DEFAULT_IMMUTABLE
from ansible_collections.regops.registry.plugins.module_utils._image_source import load_source
from tests.support.images import make_layout


class Registry(object):
    """Repositories of manifests and blobs in memory; mounts always declined."""

    def __init__(self):
        self.address = parse_registry('r.example:5000')
        self.manifests = {}  # (repo, ref) -> Manifest
        self.blobs = {}  # (repo, digest) -> bytes
        self.calls = []
        self.fail = set()  # digests or tags whose upload or put fails
        self.lock = threading.Lock()

    def refuse(self, what, repo, ref):
        if ref in self.fail:
            raise RegistryConnectionError('the registry answered HTTP 503 after 5 attempts', registry=self.address.name,
                                          repository=repo, reference=ref)

    def add_image(self, repo, tag, arch, layer=None, doc_override=None):
        config = json.dumps({'architecture': arch, 'os': 'linux'}).encode()
        layer = layer or ('layer-' + arch).encode()
        for data in (config, layer):
            self.blobs[(repo, compute_digest(data))] = data
        doc = {'schemaVersion': 2, 'mediaType': OCI_MANIFEST,
               'config': {'mediaType': 'application/vnd.oci.image.config.v1+json', 'digest': compute_digest(config), 'size': len(config)},
               'layers': [{'mediaType': 'application/vnd.oci.image.layer.v1.tar', 'digest': compute_digest(layer), 'size': len(layer)}]}
        doc.update(doc_override or {})
        manifest = Manifest(json.dumps(doc).encode(), OCI_MANIFEST)
        self.manifests[(repo, tag)] = self.manifests[(repo, manifest.digest)] = manifest
        return manifest

    def get_manifest(self, repo, ref):
        return self.manifests[(repo, ref)]

    get_existing_manifest = RegistryClient.get_existing_manifest
    client_for = RegistryClient.client_for

    def settle(self, seconds):
        assert 0.25 <= seconds <= 5.0

    def head_manifest(self, repo, ref):
        m = self.manifests.get((repo, ref))
        return ManifestHead(m.digest, m.media_type, m.size) if m else None

    def put_manifest(self, repo, ref, manifest):
        self.refuse('put', repo, ref)
        # As distribution: an index naming a manifest the repository lacks is refused.
        lacking = [d['digest'] for d in json.loads(manifest.content).get('manifests') or [] if (repo, d['digest']) not in self.manifests]
        if lacking:
            raise RegistryProtocolError('MANIFEST_BLOB_UNKNOWN: %s' % ', '.join(lacking), registry=self.address.name, repository=repo)
        self.calls.append(('PUT', repo, ref))
        self.manifests[(repo, ref)] = self.manifests[(repo, manifest.digest)] = manifest

    def list_tags(self, repo):
        tags = [ref for (r, ref) in self.manifests if r == repo and ':' not in ref]
        if not tags:
            raise RepositoryNotFoundError('repository not found', registry=self.address.name, repository=repo)
        return tags

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
        self.refuse('upload', repo, digest)
        with open_blob() as f:
            data = f.read()
        assert compute_digest(data) == digest and len(data) == size
        with self.lock:
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
    result = run_manifest_push(registry, params(manifests=[{'ref': 'team/builds:amd64', 'platform': None}], parallel=1))
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


def test_a_failed_parallel_upload_reports_every_blob_that_went_up(tmp_path):
    layout = str(tmp_path / 'layout')
    make_layout(layout, platforms=['amd64', 'arm64'], layers=3)
    registry = Registry()
    blobs = list(load_source(layout, str(tmp_path / 'work')).blobs)  # configs and layers, not manifests
    registry.fail.add(blobs[len(blobs) // 2])
    with pytest.raises(RegistryConnectionError) as err:
        run_manifest_push(registry, params(src=layout, tags=['v1'], manifests=None, parallel=4))
    uploaded = len([c for c in registry.calls if c[0] == 'UPLOAD'])
    facts = err.value.to_result()
    if uploaded:
        assert facts['changed'] is True
        assert re.search(r'before this failure, already written: %d blobs uploaded' % uploaded, str(err.value))
    else:
        assert 'changed' not in facts
    assert not [c for c in registry.calls if c[0] == 'PUT']  # no manifest without all its blobs


def test_a_malformed_child_manifest_is_a_clear_error():
    registry = Registry()
    registry.add_image('team/app', 'broken', 'amd64', doc_override={'config': 'nope'})
    with pytest.raises(InvalidInputError, match='has no valid config or layers'):
        run_manifest_push(registry, params(manifests=[{'ref': 'broken', 'platform': None}]))
    assert registry.calls == []


def test_blobs_shared_by_children_are_brought_in_once():
    registry = Registry()
    registry.add_image('team/builds', 'amd64', 'amd64', layer=b'shared base layer')
    registry.add_image('team/builds', 'arm64', 'arm64', layer=b'shared base layer')
    result = run_manifest_push(registry, params(manifests=[{'ref': 'team/builds:amd64', 'platform': None},
                                                           {'ref': 'team/builds:arm64', 'platform': None}]))
    assert result['blobs']['uploaded'] == 3  # two configs and the one shared layer
    assert len([c for c in registry.calls if c[0] == 'UPLOAD']) == 3


def test_refused_first_tag_write_is_not_reported_as_a_change():
    registry = Registry()
    registry.add_image('team/app', 'amd64', 'amd64')
    registry.fail.add('v1.0.0')
    with pytest.raises(RegistryConnectionError) as err:
        run_manifest_push(registry, params(manifests=[{'ref': 'amd64', 'platform': None}]))
    assert 'changed' not in err.value.to_result()
    assert 'already written' not in str(err.value)


def test_empty_src_is_an_input_error():
    with pytest.raises(InvalidInputError, match='does not exist'):
        run_manifest_push(Registry(), params(src='', manifests=None))


def _release_specs(tmp_path, version='v1.0.0'):
    specs = []
    for arch in ('amd64', 'arm64'):
        layout = str(tmp_path / ('layout-' + arch))
        make_layout(layout, tag='build', arch=arch, layers=2, layer_size=64)
        specs.append({'src': layout, 'src_ref': 'build', 'tags': ['%s-%s' % (version, arch)], 'platform': None})
    return specs


def test_children_from_disk_go_up_before_the_index_which_claims_the_release(tmp_path):
    registry = Registry()
    specs = _release_specs(tmp_path)
    result = run_manifest_push(registry, params(manifests=specs, tags=['v1.0.0']))
    puts = [c[2] for c in registry.calls if c[0] == 'PUT']
    # The images by digest (in parallel), the index under its release tag (the claim), then the images' tags.
    assert all(put.startswith('sha256:') for put in puts[:2]) and puts[2] == 'v1.0.0'
    assert sorted(puts[3:]) == ['v1.0.0-amd64', 'v1.0.0-arm64']
    assert registry.calls.index(('PUT', 'team/app', puts[0])) > max(
        i for i, c in enumerate(registry.calls) if c[0] == 'UPLOAD')
    assert [c['platform']['architecture'] for c in result['children']] == ['amd64', 'arm64']
    assert [c['tags'][0]['action'] for c in result['children']] == ['created', 'created']
    assert result['blobs']['uploaded'] == 6 and result['manifests_written'] == 3

    registry.calls = []
    again = run_manifest_push(registry, params(manifests=specs, tags=['v1.0.0']))
    assert again['changed'] is False and registry.calls == [] and again['digest'] == result['digest']


def test_a_child_tag_that_would_move_refuses_the_whole_push_unwritten(tmp_path):
    registry = Registry()
    registry.add_image('team/app', 'v1.0.0-arm64', 'arm64')  # an earlier, different arm64 build of the same version
    with pytest.raises(ImmutableTagError, match=r'v1\.0\.0-arm64 is sha256:'):
        run_manifest_push(registry, params(manifests=_release_specs(tmp_path), tags=['v1.0.0']))
    assert registry.calls == []


def test_an_entry_needs_exactly_one_of_ref_and_src(tmp_path):
    with pytest.raises(InvalidInputError, match=r'manifests\[1\]: give either ref'):
        run_manifest_push(Registry(), params(manifests=[{'ref': 'a', 'src': str(tmp_path), 'platform': None}]))


def test_semver_release_writes_fixed_tags_first_and_aliases_last(tmp_path):
    registry = Registry()
    specs = _release_specs(tmp_path, version='v2.0.0')
    for spec in specs:
        spec['tags'], spec['suffix'] = [], '-' + spec['src'].rsplit('-', 1)[1]
    result = run_manifest_push(registry, params(manifests=specs, tags=[], version='v2.0.0', aliases=['minor', 'major', 'latest']))
    puts = [c[2] for c in registry.calls if c[0] == 'PUT']
    # The images by digest, the index's release tag (the claim), the images' release tags (written in parallel), the
    # images' aliases, then the index's: never an index PUT beside one of its images' (distribution 2.8 refuses the
    # index then).
    assert all(put.startswith('sha256:') for put in puts[:2]) and puts[2] == 'v2.0.0'
    assert sorted(puts[3:5]) == ['v2.0.0-amd64', 'v2.0.0-arm64']
    assert sorted(puts[5:11]) == sorted(['v2.0-amd64', 'v2-amd64', 'latest-amd64', 'v2.0-arm64', 'v2-arm64', 'latest-arm64'])
    assert sorted(puts[11:]) == ['latest', 'v2', 'v2.0']
    assert [t['kind'] for t in result['tags']] == ['release', 'minor', 'major', 'latest']

    # A hotfix of an older major moves its own aliases only.
    hotfix = _release_specs(tmp_path / 'hotfix', version='v1.9.1')
    for spec in hotfix:
        spec['tags'], spec['suffix'] = [], '-' + spec['src'].rsplit('-', 1)[1]
    registry.calls = []
    result = run_manifest_push(registry, params(manifests=hotfix, tags=[], version='v1.9.1', aliases=['minor', 'major', 'latest']))
    actions = dict((t['tag'], t['action']) for t in result['tags'])
    assert actions == {'v1.9.1': 'created', 'v1.9': 'created', 'v1': 'created', 'latest': 'skipped'}
    assert 'latest-amd64' not in [c[2] for c in registry.calls]


def test_every_immutable_tag_that_would_move_is_named_in_one_error(tmp_path):
    registry = Registry()
    registry.add_image('team/app', 'v1.0.0-amd64', 'amd64', layer=b'old amd64')
    registry.add_image('team/app', 'v1.0.0-arm64', 'arm64', layer=b'old arm64')
    specs = _release_specs(tmp_path)
    with pytest.raises(ImmutableTagError, match=r'tags \(v1\.0\.0-amd64 is sha256:\w+, requested sha256:\w+; v1\.0\.0-arm64 is'):
        run_manifest_push(registry, params(manifests=specs, tags=['v1.0.0']))
    assert registry.calls == []


@pytest.mark.parametrize('change, message', [
    (lambda specs: specs[1].update(tags=['v1.0.0-amd64']), 'the tag v1.0.0-amd64 is asked for two images'),
    (lambda specs: specs[1].update(tags=['v1.0.0']), 'the tag v1.0.0 is asked for two images'),
    (lambda specs: specs[0].update(suffix=''), r'manifests\[1\]: the suffix is empty'),
])
def test_a_tag_asked_for_two_images_is_refused_unwritten(tmp_path, change, message):
    registry = Registry()
    specs = _release_specs(tmp_path)
    change(specs)
    with pytest.raises(InvalidInputError, match=message):
        run_manifest_push(registry, params(manifests=specs, tags=['v1.0.0']))
    assert registry.calls == []


def test_no_aliases_when_asked_for_none(tmp_path):
    specs = _release_specs(tmp_path)
    for spec in specs:
        spec['tags'], spec['suffix'] = [], '-' + spec['src'].rsplit('-', 1)[1]
    result = run_manifest_push(Registry(), params(manifests=specs, tags=[], version='v1.0.0', aliases=[]))
    assert [t['tag'] for t in result['tags']] == ['v1.0.0']
    assert [[t['tag'] for t in c['tags']] for c in result['children']] == [['v1.0.0-amd64'], ['v1.0.0-arm64']]


class Racing(Registry):
    """Another job writes ``tag`` (its own image) right after this one's ``after``-th PUT of it."""

    def __init__(self, tag, after):
        super(Racing, self).__init__()
        self.race_tag, self.race_after, self.seen = tag, after, 0
        self.rival = self.add_image('elsewhere', 'rival', 'amd64', layer=b'rival layer')

    def put_manifest(self, repo, ref, manifest):
        super(Racing, self).put_manifest(repo, ref, manifest)
        if ref == self.race_tag:
            self.seen += 1
            if self.seen == self.race_after:
                self.manifests[(repo, ref)] = self.rival

    def head_manifest(self, repo, ref):
        if ref == self.race_tag and self.race_after == 0 and ('PUT', repo, ref) not in self.calls:
            found = self.manifests.get((repo, ref))
            if found is None and any(c[0] == 'PUT' for c in self.calls):
                self.manifests[(repo, ref)] = self.rival  # written by the other job after this one planned
        return super(Racing, self).head_manifest(repo, ref)


def test_a_release_written_by_another_job_meanwhile_stops_this_one_before_any_tag(tmp_path):
    registry = Racing('v1.0.0', after=0)
    with pytest.raises(ConflictError, match=r'another job released v1\.0\.0 \(now sha256:.*\) while this one ran'):
        run_manifest_push(registry, params(manifests=_release_specs(tmp_path), tags=['v1.0.0']))
    assert [c[2] for c in registry.calls if c[0] == 'PUT' and not c[2].startswith('sha256:')] == []


def test_a_release_claimed_by_another_job_at_the_same_time_stops_this_one_after_its_claim(tmp_path):
    registry = Racing('v1.0.0', after=1)
    with pytest.raises(ConflictError, match=r'at the same time, and its write stands') as failure:
        run_manifest_push(registry, params(manifests=_release_specs(tmp_path), tags=['v1.0.0']))
    # The claim was the only tag written, and the other job's image stands under it; no image tag, no alias.
    assert [c[2] for c in registry.calls if c[0] == 'PUT' and not c[2].startswith('sha256:')] == ['v1.0.0']
    assert registry.head_manifest('team/app', 'v1.0.0').digest == registry.rival.digest
    assert 'tags already written' not in str(failure.value)


def test_a_tag_of_the_release_overwritten_after_this_run_wrote_it_fails_the_run_before_any_alias(tmp_path):
    registry = Racing('v1.0.0-arm64', after=1)  # the other job's write lands after this one's, past the claim
    specs = _release_specs(tmp_path)
    for spec in specs:
        spec['tags'], spec['suffix'] = [], '-' + spec['src'].rsplit('-', 1)[1]
    with pytest.raises(ConflictError, match=r'v1\.0\.0-arm64 \(now sha256:.*over tags this run had written') as failure:
        run_manifest_push(registry, params(manifests=specs, tags=[], version='v1.0.0', aliases=['minor', 'latest']))
    facts = failure.value.to_result()
    assert facts['changed'] is True and sorted(facts['written']) == ['v1.0.0', 'v1.0.0-amd64', 'v1.0.0-arm64']
    assert not [c for c in registry.calls if c[0] == 'PUT' and c[2] in ('v1.0', 'latest', 'v1.0-amd64', 'latest-amd64')]


def test_a_tag_of_the_release_written_by_another_job_after_the_claim_is_not_overwritten(tmp_path):
    class Late(Registry):
        def head_manifest(self, repo, ref):
            if ref == 'v1.0.0-arm64' and ('PUT', repo, 'v1.0.0') in self.calls and (repo, ref) not in self.manifests:
                self.manifests[(repo, ref)] = self.add_image('elsewhere', 'rival', 'arm64', layer=b'rival')
            return super(Late, self).head_manifest(repo, ref)

    registry = Late()
    with pytest.raises(ConflictError, match=r'v1\.0\.0-arm64 .*while this one ran; this run stops before those tags') as failure:
        run_manifest_push(registry, params(manifests=_release_specs(tmp_path), tags=['v1.0.0']))
    assert failure.value.to_result()['written'] == ['v1.0.0']
    assert ('PUT', 'team/app', 'v1.0.0-arm64') not in registry.calls
