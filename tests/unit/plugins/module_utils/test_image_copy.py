"""image_copy's planner and executor on the in-memory registry of test_manifest_push: paths a real registry cannot be
made to take (a declined mount, nested indexes, foreign layers, a write failing halfway)."""

import json

import pytest

from ansible_collections.regops.registry.plugins.module_utils._client import OCI_INDEX, Manifest
from ansible_collections.regops.registry.plugins.module_utils._errors import (
    ImmutableTagError,
    InvalidInputError,
    NotFoundError,
    RegistryConnectionError,
)
from ansible_collections.regops.registry.plugins.module_utils._image_copy import MAX_DEPTH, run_image_copy
from ansible_collections.regops.registry.plugins.module_utils._semver import DEFAULT_IMMUTABLE
from tests.unit.plugins.module_utils.test_manifest_push import Registry


def params(**kwargs):
    base = {'source': 'team/staging:v1.0.0', 'repository': 'team/app', 'tags': [], 'version': None, 'suffix': '',
            'aliases': ['minor', 'major', 'latest'], 'parallel': 4, 'immutable': list(DEFAULT_IMMUTABLE)}
    base.update(kwargs)
    return base


def add_index(registry, repo, tag, children):
    doc = {'schemaVersion': 2, 'mediaType': OCI_INDEX,
           'manifests': [{'mediaType': c.media_type, 'digest': c.digest, 'size': c.size} for c in children]}
    index = Manifest(json.dumps(doc).encode(), OCI_INDEX)
    registry.manifests[(repo, tag)] = registry.manifests[(repo, index.digest)] = index
    return index


def test_nested_index_goes_up_images_first_with_blobs_before_manifests():
    registry = Registry()
    amd = registry.add_image('team/staging', 'amd', 'amd64')
    arm = registry.add_image('team/staging', 'arm', 'arm64')
    inner = add_index(registry, 'team/staging', 'inner', [arm])
    top = add_index(registry, 'team/staging', 'v1.0.0', [amd, inner])
    result = run_image_copy(registry, params(parallel=1))
    assert result['changed'] is True and result['digest'] == top.digest
    kinds = [c[0] for c in registry.calls]
    # 4 blobs (mounts declined, then copied), then the images, then the inner index, then the top by tag.
    assert kinds == ['MOUNT', 'UPLOAD'] * 4 + ['PUT'] * 4, registry.calls
    puts = [c[2] for c in registry.calls if c[0] == 'PUT']
    assert set(puts[:2]) == {amd.digest, arm.digest} and puts[2:] == [inner.digest, 'v1.0.0'], puts
    assert result['manifests_written'] == 4 and result['blobs']['uploaded'] == 4
    assert registry.manifests[('team/app', 'v1.0.0')].content == top.content


@pytest.mark.parametrize('parallel', [1, 4])
def test_an_image_listed_by_the_top_and_by_an_inner_index_goes_up_before_both(parallel):
    """top = [inner, amd], inner = [amd, arm]: amd is first seen beside inner, but inner lists it, so it goes first
    (the in-memory registry refuses an index naming a manifest it lacks, as distribution does)."""
    registry = Registry()
    amd = registry.add_image('team/staging', 'amd', 'amd64')
    arm = registry.add_image('team/staging', 'arm', 'arm64')
    inner = add_index(registry, 'team/staging', 'inner', [amd, arm])
    top = add_index(registry, 'team/staging', 'v1.0.0', [inner, amd])
    for _round in range(5 if parallel > 1 else 1):
        registry.manifests = dict((key, m) for key, m in registry.manifests.items() if key[0] == 'team/staging')
        registry.calls = []
        result = run_image_copy(registry, params(parallel=parallel))
        assert result['manifests_written'] == 4
        puts = [c[2] for c in registry.calls if c[0] == 'PUT']
        assert set(puts[:2]) == {amd.digest, arm.digest} and puts[2:] == [inner.digest, 'v1.0.0'], puts
    assert registry.manifests[('team/app', 'v1.0.0')].digest == top.digest


def test_a_target_that_is_no_registry_fails_the_plan_of_a_copy_from_another_registry():
    """Everything the plan asks the target is a HEAD, which a 404-to-everything server would pass as an empty
    registry: one GET of the tag list makes it fail before check mode can report a copy."""
    registry = Registry()
    registry.add_image('team/staging', 'v1.0.0', 'amd64')

    class NotARegistry(Registry):
        def list_tags(self, repo):
            raise NotFoundError('the server answered 404 without a registry error', registry=self.address.name)

    target = NotARegistry()
    target.peer = lambda address: registry
    with pytest.raises(NotFoundError, match='without a registry error'):
        run_image_copy(target, params(source='staging.example:5000/team/staging:v1.0.0'), check_mode=True)


def test_check_mode_writes_nothing_and_plans_the_same():
    registry = Registry()
    registry.add_image('team/staging', 'v1.0.0', 'amd64')
    planned = run_image_copy(registry, params(), check_mode=True)
    assert registry.calls == []
    assert planned['changed'] is True and planned['manifests_written'] == 1
    assert planned['blobs'] == {'present': 0, 'uploaded': 0, 'mounted': 2, 'bytes_sent': 0}  # same registry: mounts
    assert planned['msg'].startswith('r.example:5000/team/app: would copy image ')
    done = run_image_copy(registry, params())
    assert (done['digest'], done['tags']) == (planned['digest'], planned['tags'])
    again = run_image_copy(registry, params(), check_mode=True)
    assert again['changed'] is False


def test_foreign_layers_are_not_copied():
    registry = Registry()
    foreign = {'mediaType': 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', 'size': 10,
               'digest': 'sha256:' + 'f' * 64, 'urls': ['https://mcr.microsoft.com/layer']}
    image = registry.add_image('team/staging', 'v1.0.0', 'amd64')
    doc = json.loads(image.content)
    doc['layers'].insert(0, foreign)
    with_foreign = Manifest(json.dumps(doc).encode(), image.media_type)
    registry.manifests[('team/staging', 'v1.0.0')] = registry.manifests[('team/staging', with_foreign.digest)] = with_foreign
    result = run_image_copy(registry, params())
    assert result['blobs']['uploaded'] == 2
    assert ('UPLOAD', 'team/app', foreign['digest']) not in registry.calls


def test_a_failure_halfway_says_what_was_written():
    registry = Registry()
    amd = registry.add_image('team/staging', 'amd', 'amd64')
    arm = registry.add_image('team/staging', 'arm', 'arm64')
    add_index(registry, 'team/staging', 'v1.0.0', [amd, arm])
    registry.fail.add('v1.0.0')
    with pytest.raises(RegistryConnectionError) as failure:
        run_image_copy(registry, params(parallel=1))
    assert failure.value.facts['changed'] is True
    assert 'already written: 4 blobs uploaded, 0 mounted, 2 manifests' in str(failure.value)
    registry.fail.clear()
    assert run_image_copy(registry, params())['manifests_written'] == 1  # the rerun finishes: only the index


def test_immutable_tag_and_bad_input_are_refused_before_any_write():
    registry = Registry()
    registry.add_image('team/staging', 'v1.0.0', 'amd64')
    registry.add_image('team/app', 'v1.0.0', 'arm64')
    with pytest.raises(ImmutableTagError, match='v1.0.0 is sha256:'):
        run_image_copy(registry, params())
    with pytest.raises(InvalidInputError, match='suffix is used with version only'):
        run_image_copy(registry, params(suffix='-amd64'))
    with pytest.raises(InvalidInputError, match='not a valid tag|invalid'):
        run_image_copy(registry, params(tags=['bad tag']))
    assert registry.calls == []


def test_indexes_nested_too_deep_are_refused():
    registry = Registry()
    child = registry.add_image('team/staging', 'img', 'amd64')
    for level in range(MAX_DEPTH + 1):
        child = add_index(registry, 'team/staging', 'level-%d' % level, [child])
    registry.manifests[('team/staging', 'v1.0.0')] = child
    with pytest.raises(InvalidInputError, match='nests indexes more than %d deep' % MAX_DEPTH):
        run_image_copy(registry, params())
    assert registry.calls == []
