"""The tag_set planner's decisions, against an in-memory stand-in for the client (no HTTP at all)."""

import json

import pytest
from hypothesis import given, strategies as st

from ansible_collections.regops.registry.plugins.module_utils._client import RegistryClient, OCI_MANIFEST, Manifest, ManifestHead
from ansible_collections.regops.registry.plugins.module_utils._errors import (
    ImmutableTagError,
    InvalidInputError,
    ManifestNotFoundError,
    NotFoundError,
    RegistryProtocolError,
    RepositoryNotFoundError,
)
from ansible_collections.regops.registry.plugins.module_utils._reference import parse_registry
from ansible_collections.regops.registry.plugins.module_utils._semver import ALIASES, DEFAULT_IMMUTABLE
from ansible_collections.regops.registry.plugins.module_utils._tag_set import run_tag_set

SOURCE = Manifest(b'{"schemaVersion": 2, "mediaType": "%s"}' % OCI_MANIFEST.encode(), OCI_MANIFEST)


class MemoryClient(object):
    """Tags in a dict; records every call."""

    def __init__(self, tags=None, repository_exists=True):
        self.address = parse_registry('r.example:5000')
        self.tags = dict(tags or {})
        self.repository_exists = repository_exists
        self.calls = []

    get_existing_manifest = RegistryClient.get_existing_manifest

    def settle(self, seconds):
        self.calls.append(('SETTLE', seconds))

    def get_manifest(self, repository, reference):
        self.calls.append(('GET', reference))
        if reference in ('src', SOURCE.digest):
            return SOURCE
        raise ManifestNotFoundError('manifest not found', registry=self.address.name, repository=repository, reference=reference)

    def list_tags(self, repository):
        self.calls.append(('LIST', None))
        if not self.repository_exists:
            raise RepositoryNotFoundError('repository not found', registry=self.address.name, repository=repository)
        return list(self.tags)

    def head_manifest(self, repository, reference):
        self.calls.append(('HEAD', reference))
        digest = self.tags.get(reference)
        return ManifestHead(digest, OCI_MANIFEST, 10) if digest else None

    def put_manifest(self, repository, reference, manifest):
        self.calls.append(('PUT', reference))
        self.tags[reference] = manifest.digest
        return manifest.digest


def params(**kwargs):
    base = {'repository': 'team/svc', 'source': 'src', 'tags': [], 'version': None, 'suffix': '', 'aliases': list(ALIASES),
            'immutable': list(DEFAULT_IMMUTABLE)}
    base.update(kwargs)
    return base


OTHER = 'sha256:' + 'b' * 64


def test_immutable_violation_is_raised_before_any_write():
    client = MemoryClient({'v1.0.0': OTHER})
    with pytest.raises(ImmutableTagError) as err:
        run_tag_set(client, params(version='v1.0.0', tags=['new']))
    assert not [c for c in client.calls if c[0] == 'PUT']
    assert 'v1.0.0 is %s, requested %s' % (OTHER, SOURCE.digest) in str(err.value)


def test_explicit_tag_overrides_held_back_alias():
    client = MemoryClient({'v2.0.0': OTHER, 'latest': OTHER})
    result = run_tag_set(client, params(version='v1.5.0', tags=['latest']), check_mode=False)
    actions = dict((e['tag'], e['action']) for e in result['tags'])
    assert actions == {'v1.5.0': 'created', 'v1.5': 'created', 'v1': 'created', 'latest': 'moved'}


def test_duplicate_tags_are_written_once():
    client = MemoryClient()
    result = run_tag_set(client, params(tags=['a', 'a', 'b']))
    assert [e['tag'] for e in result['tags']] == ['a', 'b']
    assert [c for c in client.calls if c[0] == 'PUT'] == [('PUT', 'a'), ('PUT', 'b')]


def test_check_mode_reads_but_never_writes():
    client = MemoryClient()
    result = run_tag_set(client, params(version='v1.0.0'), check_mode=True, diff=True)
    assert result['changed'] is True
    assert not [c for c in client.calls if c[0] == 'PUT']
    assert result['diff']['after'] == dict.fromkeys(['v1.0.0', 'v1.0', 'v1', 'latest'], SOURCE.digest)


def test_tags_mode_does_not_list_tags():
    client = MemoryClient()
    run_tag_set(client, params(tags=['x']))
    assert ('LIST', None) not in client.calls


def test_unknown_repository_is_told_apart_from_unknown_source():
    with pytest.raises(RepositoryNotFoundError) as err:
        run_tag_set(MemoryClient(repository_exists=False), params(source='v9', tags=['x']))
    assert err.value.reference == 'v9'
    with pytest.raises(ManifestNotFoundError, match='source not found'):
        run_tag_set(MemoryClient(), params(source='v9', tags=['x']))


def test_bad_input_makes_no_call():
    client = MemoryClient()
    for bad in (params(repository='Bad'), params(tags=['-x']), params(version='1.0'), params(immutable=['(']),
                params(), params(version='v1.0.0', suffix='/x')):
        with pytest.raises(InvalidInputError):
            run_tag_set(client, bad)
    assert client.calls == []


def test_a_source_the_registry_refuses_for_missing_parts_is_explained():
    config = 'sha256:' + 'c' * 64
    source = Manifest(json.dumps({'schemaVersion': 2, 'mediaType': OCI_MANIFEST, 'layers': [], 'config': {
        'mediaType': 'application/vnd.oci.image.config.v1+json', 'digest': config, 'size': 2}}).encode(), OCI_MANIFEST)

    class Refusing(MemoryClient):
        code = 'MANIFEST_BLOB_UNKNOWN'

        def get_manifest(self, repository, reference):
            return source

        def put_manifest(self, repository, reference, manifest):
            error = RegistryProtocolError('unexpected answer to PUT: HTTP 400', registry=self.address.name,
                                          repository=repository, reference=reference, status=400)
            error.codes = (self.code,)
            raise error

        def blob_size(self, repository, digest):
            self.calls.append(('BLOB', digest))
            return None

    with pytest.raises(NotFoundError, match='names blobs the repository no longer has \\(%s\\)' % config):
        run_tag_set(Refusing(), params(tags=['x']))
    other = Refusing()
    other.code = 'MANIFEST_INVALID'
    with pytest.raises(RegistryProtocolError, match='HTTP 400'):
        run_tag_set(other, params(tags=['x']))
    assert ('BLOB', config) not in other.calls  # only read to explain that refusal


tag_names = st.sampled_from(['v1.0.0', 'v1.0.1', 'v1.0', 'v1', 'latest', 'stable', 'edge'])
digests = st.sampled_from(['sha256:' + c * 64 for c in 'abc'] + [SOURCE.digest])


@given(st.dictionaries(tag_names, digests), st.lists(tag_names, max_size=5), st.booleans())
def test_property_immutable_tags_never_move(existing, requested, with_version):
    """Whatever the registry holds and is asked, a full version tag keeps its digest (or the run fails unwritten)."""
    client = MemoryClient(existing)
    try:
        run_tag_set(client, params(tags=requested, version='v1.0.1' if with_version else None) if requested or with_version
                    else params(tags=['stable']))
    except ImmutableTagError:
        assert client.tags == existing
        return
    for tag in ('v1.0.0', 'v1.0.1'):
        if tag in existing:
            assert client.tags[tag] == existing[tag]


class FailingSecondPut(MemoryClient):
    def put_manifest(self, repository, reference, manifest):
        if any(c[0] == 'PUT' for c in self.calls):
            from ansible_collections.regops.registry.plugins.module_utils._errors import RegistryConnectionError
            raise RegistryConnectionError('the registry answered HTTP 503 after 5 attempts', registry=self.address.name,
                                          repository=repository, reference=reference)
        return MemoryClient.put_manifest(self, repository, reference, manifest)


def test_a_failure_after_some_writes_says_what_was_written():
    client = FailingSecondPut()
    with pytest.raises(Exception) as err:
        run_tag_set(client, params(tags=['a', 'b', 'c']))
    assert err.value.to_result()['changed'] is True
    assert err.value.to_result()['written'] == ['a']
    assert 'before this failure, tags already written: a;' in str(err.value)
