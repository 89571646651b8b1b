import json

import pytest

from ansible_collections.regops.registry.plugins.module_utils._client import (
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V2,
    OCI_INDEX,
    OCI_MANIFEST,
    Manifest,
)
from ansible_collections.regops.registry.plugins.module_utils._errors import InvalidInputError, UnsupportedError
from ansible_collections.regops.registry.plugins.module_utils._index import build_index, platform_of, validate_platform

AMD64 = {'os': 'linux', 'architecture': 'amd64'}
ARM64 = {'os': 'linux', 'architecture': 'arm64', 'variant': 'v8'}


def image(media_type, seed):
    return Manifest(json.dumps({'schemaVersion': 2, 'mediaType': media_type, 'seed': seed}).encode(), media_type)


@pytest.mark.parametrize('child,index', [(DOCKER_MANIFEST_V2, DOCKER_MANIFEST_LIST), (OCI_MANIFEST, OCI_INDEX)])
def test_index_type_follows_the_children(child, index):
    a, b = image(child, 1), image(child, 2)
    result = build_index([(a, AMD64), (b, ARM64)])
    doc = json.loads(result.content)
    assert result.media_type == index == doc['mediaType']
    assert [(d['digest'], d['size'], d['mediaType'], d['platform']) for d in doc['manifests']] == [
        (a.digest, a.size, child, AMD64), (b.digest, b.size, child, ARM64)]


def test_same_children_same_bytes():
    a, b = image(OCI_MANIFEST, 1), image(OCI_MANIFEST, 2)
    assert build_index([(a, AMD64), (b, ARM64)]).digest == build_index([(a, dict(AMD64)), (b, dict(ARM64))]).digest


def test_mixed_formats_are_refused():
    with pytest.raises(UnsupportedError, match='mix Docker schema 2 and OCI'):
        build_index([(image(OCI_MANIFEST, 1), AMD64), (image(DOCKER_MANIFEST_V2, 2), ARM64)])


def test_nested_index_is_refused():
    with pytest.raises(UnsupportedError, match='index of indexes'):
        build_index([(image(OCI_INDEX, 1), AMD64)])


def test_two_images_for_one_platform_are_refused():
    with pytest.raises(InvalidInputError, match='platform linux/amd64 is listed twice'):
        build_index([(image(OCI_MANIFEST, 1), AMD64), (image(OCI_MANIFEST, 2), dict(AMD64))])


def test_one_image_listed_twice_is_refused():
    # An amd64 build exported as the arm64 one too: the index would name amd64 twice and arm64 never.
    with pytest.raises(InvalidInputError, match='listed twice'):
        build_index([(image(OCI_MANIFEST, 1), AMD64), (image(OCI_MANIFEST, 1), dict(AMD64))])


def test_empty_index_is_refused():
    with pytest.raises(InvalidInputError):
        build_index([])


def test_platform_from_config():
    config = json.dumps({'architecture': 'arm', 'os': 'linux', 'variant': 'v7', 'config': {}}).encode()
    assert platform_of(config) == {'architecture': 'arm', 'os': 'linux', 'variant': 'v7'}
    with pytest.raises(InvalidInputError, match='give the platform explicitly'):
        platform_of(b'{"config": {}}', 'r/x@sha256:1: ')


def test_platform_override_validation():
    assert validate_platform({'os': 'linux', 'architecture': 'arm64', 'variant': ''}) == {'os': 'linux', 'architecture': 'arm64'}
    with pytest.raises(InvalidInputError, match='unknown platform keys arch'):
        validate_platform({'os': 'linux', 'architecture': 'arm64', 'arch': 'x'})
    with pytest.raises(InvalidInputError, match='needs architecture and os'):
        validate_platform({'os': 'linux'})
