"""image_info's description of manifests on the in-memory registry of test_manifest_push: sizes with shared blobs,
platforms from the index or the config, artifacts whose config is not JSON, nested indexes."""

import json

from ansible_collections.regops.registry.plugins.module_utils._client import OCI_INDEX, OCI_MANIFEST, Manifest, compute_digest
from ansible_collections.regops.registry.plugins.module_utils._image_info import describe
from tests.unit.plugins.module_utils.test_manifest_push import Registry
from tests.unit.plugins.module_utils.test_image_copy import add_index


def test_shared_blobs_count_once_and_platforms_come_from_the_index_or_the_config():
    registry = Registry()
    shared = b'shared-layer'
    amd = registry.add_image('team/app', 'amd', 'amd64', layer=shared)
    arm = registry.add_image('team/app', 'arm', 'arm64', layer=shared)
    inner = add_index(registry, 'team/app', 'inner', [arm])
    index = add_index(registry, 'team/app', 'v1', [amd, arm, inner])
    doc = json.loads(index.content)
    doc['manifests'][1]['platform'] = {'os': 'linux', 'architecture': 'arm64', 'variant': 'v8'}
    index = Manifest(json.dumps(doc).encode(), OCI_INDEX)
    facts = describe(registry, 'team/app', index, 2)
    configs = [json.loads(m.content)['config']['size'] for m in (amd, arm)]
    assert facts['size'] == index.size + amd.size + arm.size + inner.size + sum(configs) + len(shared)
    assert facts['platforms'] == ['linux/amd64', 'linux/arm64/v8']  # the config's, then the index's; inner has none
    assert [image['digest'] for image in facts['images']] == [amd.digest, arm.digest, inner.digest]
    assert facts['images'][2]['layers'] is None and facts['kind'] == 'index'


def test_an_artifact_whose_config_is_not_json_has_no_platform():
    registry = Registry()
    config = b'\x00binary'
    registry.blobs[('team/app', compute_digest(config))] = config
    doc = {'schemaVersion': 2, 'mediaType': OCI_MANIFEST,
           'config': {'mediaType': 'application/vnd.example.config', 'digest': compute_digest(config), 'size': len(config)},
           'layers': []}
    artifact = Manifest(json.dumps(doc).encode(), OCI_MANIFEST)
    facts = describe(registry, 'team/app', artifact, 1)
    assert (facts['kind'], facts['platforms'], facts['created'], facts['labels']) == ('image', [], None, {})
    assert facts['size'] == artifact.size + len(config) and facts['images'][0]['layers'] == 0
