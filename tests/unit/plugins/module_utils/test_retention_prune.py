"""retention_prune planner and executor paths a distribution 2.8 registry cannot take (an unreadable kept index,
the OCI tag delete, the referrers API, nested indexes, a delete failing midway), on an in-memory client."""

import datetime
import hashlib
import json
import threading

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from ansible_collections.regops.registry.plugins.module_utils._client import (
    OCI_INDEX,
    OCI_MANIFEST,
    Manifest,
    ManifestHead,
)
from ansible_collections.regops.registry.plugins.module_utils._errors import (
    AuthorizationError,
    ManifestNotFoundError,
    NotFoundError,
    RegistryConnectionError,
    RegistryError,
    RegistryProtocolError,
)
from ansible_collections.regops.registry.plugins.module_utils._reference import parse_registry
from ansible_collections.regops.registry.plugins.module_utils._retention import KEEP, Policy
from ansible_collections.regops.registry.plugins.module_utils._retention_prune import (
    execute_repository,
    plan_repository,
    run_retention_prune,
)

REPO = 'team/app'
ALL = [{'name': 'tmp', 'prefixes': ['tmp-'], 'keep_newest': 0}]


class FakeRegistry(object):
    """One repository in memory: manifests by digest, tags, referrers; optional OCI tag delete."""

    def __init__(self, tag_delete=False, referrers=False, may_delete=True):
        self.address = parse_registry('r.example:5000')
        self.manifests = {}
        self.tags = {}
        self.subjects = {}  # referrer digest: subject digest
        self.tag_delete = tag_delete
        self.referrers = referrers
        self.broken = set()  # digests whose GET fails
        self.fail_delete = set()
        self.deleted = []
        self.untagged = []
        self.lock = threading.Lock()
        self.seq = 0
        self.may_delete = may_delete
        self.configs = {}  # manifest digest: config JSON (missing: the blob is unknown)

    # seeding
    def image(self, tag=None, subject=None):
        with self.lock:
            self.seq += 1
        doc = {'schemaVersion': 2, 'mediaType': OCI_MANIFEST, 'n': self.seq,
               'config': {'mediaType': 'application/vnd.oci.image.config.v1+json', 'digest': 'sha256:' + '0' * 64, 'size': 2},
               'layers': []}
        if subject:
            doc['subject'] = {'mediaType': OCI_MANIFEST, 'digest': subject, 'size': 1}
        manifest = Manifest(json.dumps(doc).encode(), OCI_MANIFEST)
        self.manifests[manifest.digest] = manifest
        if subject:
            self.subjects[manifest.digest] = subject
        if tag:
            self.tags[tag] = manifest.digest
        return manifest.digest

    def index(self, children, tag=None):
        doc = {'schemaVersion': 2, 'mediaType': OCI_INDEX, 'manifests': [
            {'mediaType': self.manifests[c].media_type if c in self.manifests else OCI_MANIFEST, 'digest': c,
             'size': self.manifests[c].size if c in self.manifests else 1} for c in children]}
        manifest = Manifest(json.dumps(doc).encode(), OCI_INDEX)
        self.manifests[manifest.digest] = manifest
        if tag:
            self.tags[tag] = manifest.digest
        return manifest.digest

    # the client's surface
    def list_tags(self, repository):
        return list(self.tags)

    def head_manifest(self, repository, reference):
        digest = reference if reference.startswith('sha256:') else self.tags.get(reference)
        manifest = self.manifests.get(digest)
        return ManifestHead(digest, manifest.media_type, manifest.size) if manifest else None

    def get_manifest(self, repository, reference):
        digest = reference if reference.startswith('sha256:') else self.tags.get(reference)
        if digest in self.broken:
            raise RegistryConnectionError('the registry answered HTTP 500 after 5 attempts', registry=self.address.name,
                                          repository=repository, reference=reference)
        if digest not in self.manifests:
            raise ManifestNotFoundError('manifest not found', registry=self.address.name, repository=repository,
                                        reference=reference)
        return self.manifests[digest]

    def get_blob(self, repository, digest):
        if digest not in self.configs:
            raise NotFoundError('not found (blob unknown)', registry=self.address.name, repository=repository, reference=digest)
        return self.configs[digest]

    def refuse_delete(self, repository):
        if not self.may_delete:
            raise AuthorizationError('access denied for delete (HTTP 403)', registry=self.address.name, repository=repository)

    def list_referrers(self, repository, digest):
        if not self.referrers:
            return None
        return [{'mediaType': OCI_MANIFEST, 'digest': d, 'size': 1} for d, s in self.subjects.items()
                if s == digest and d in self.manifests]

    def tag_deletes_supported(self, repository, absent_tag):
        assert absent_tag not in self.tags
        self.refuse_delete(repository)
        return self.tag_delete

    def delete_tag(self, repository, tag):
        with self.lock:
            self.untagged.append(tag)
            del self.tags[tag]
        return True

    def delete_manifest(self, repository, digest):
        if digest in self.fail_delete:
            raise RegistryProtocolError('unexpected answer to DELETE: HTTP 500', registry=self.address.name,
                                        repository=repository, reference=digest)
        with self.lock:
            if digest not in self.manifests:
                raise ManifestNotFoundError('manifest not found', registry=self.address.name, repository=repository,
                                            reference=digest)
            self.deleted.append(digest)
            del self.manifests[digest]
            for tag in [t for t, d in self.tags.items() if d == digest]:
                del self.tags[tag]

    def deletes_enabled(self, repository):
        self.refuse_delete(repository)
        return True


def plan(registry, rules=None, protect=(), parallel=2, delete_untagged=True):
    return plan_repository(registry, REPO, Policy(protect=protect, rules=rules or ALL), parallel, delete_untagged=delete_untagged)


def params(**overrides):
    values = dict(repository=[REPO], repository_pattern=None, protect=[], rules=ALL, suffixes=['-amd64'],
                  delete_untagged=True, parallel=2)
    values.update(overrides)
    return values


def test_an_unreadable_kept_index_fails_the_repository_closed():
    reg = FakeRegistry()
    amd = reg.image()
    keep = reg.index([amd], tag='keep')
    reg.image(tag='tmp-1')
    reg.broken.add(keep)
    with pytest.raises(RegistryError) as err:
        plan(reg)
    assert 'cannot read a kept manifest' in str(err.value)
    assert 'nothing is deleted in this repository' in str(err.value)
    with pytest.raises(RegistryError) as err:
        run_retention_prune(reg, params())
    assert reg.deleted == []
    assert err.value.facts['changed'] is False
    # The module's error keeps the class of the cause when every failed repository failed alike.
    assert err.type is RegistryConnectionError


def test_repositories_failing_differently_fail_as_registry_error():
    reg = FakeRegistry()
    reg.broken.add(reg.index([reg.image()], tag='keep'))
    reg.image(tag='tmp-1')
    calls = []

    def list_tags(repository):
        calls.append(repository)
        if repository == 'team/gone':
            raise ManifestNotFoundError('manifest not found', registry=reg.address.name, repository=repository)
        return list(reg.tags)

    reg.list_tags = list_tags
    with pytest.raises(RegistryError) as err:
        run_retention_prune(reg, params(repository=[REPO, 'team/gone']))
    assert err.type is RegistryError
    assert '2 of 2 repositories failed' in str(err.value)
    assert reg.deleted == []
    assert 'nothing is deleted in this repository' in err.value.facts['repositories'][0]['error']


def test_a_condemned_tag_on_a_kept_image_is_untagged_where_the_registry_can():
    reg = FakeRegistry(tag_delete=True)
    digest = reg.image(tag='release')
    reg.tags['tmp-alias'] = digest
    result = run_retention_prune(reg, params())
    (entry,) = result['repositories']
    tags = dict((t['tag'], t) for t in entry['tags'])
    assert tags['tmp-alias']['action'] == 'untag'
    assert 'the kept tag release points at it' in tags['tmp-alias']['reason']
    assert tags['tmp-alias']['outcome'] == 'untagged'
    assert reg.untagged == ['tmp-alias'] and reg.deleted == []
    assert result['changed'] is True


def test_without_tag_delete_the_tag_stays_and_nothing_is_done():
    reg = FakeRegistry(tag_delete=False)
    digest = reg.image(tag='release')
    reg.tags['tmp-alias'] = digest
    result = run_retention_prune(reg, params())
    tags = dict((t['tag'], t) for t in result['repositories'][0]['tags'])
    assert tags['tmp-alias']['action'] == 'stay'
    assert result['changed'] is False
    assert reg.untagged == [] and reg.deleted == []


def test_referrers_go_with_their_subject_and_after_it():
    reg = FakeRegistry(referrers=True)
    condemned = reg.image(tag='tmp-1')
    signature = reg.image(subject=condemned)
    attestation_of_signature = reg.image(subject=signature)
    kept = reg.image(tag='release')
    kept_signature = reg.image(subject=kept)
    p = plan(reg)
    kinds = dict((m.digest, m.kind) for m in p.manifests)
    assert kinds == {condemned: 'tagged', signature: 'referrer', attestation_of_signature: 'referrer'}
    execute_repository(reg, p, parallel=2)
    assert reg.deleted == [condemned, signature, attestation_of_signature]
    assert kept in reg.manifests and kept_signature in reg.manifests


def test_without_referrers_api_the_plan_says_so():
    reg = FakeRegistry(referrers=False)
    reg.image(tag='tmp-1')
    p = plan(reg)
    assert any('no referrers API' in note for note in p.notes)


def test_nested_indexes_are_deleted_outside_in_and_shared_children_kept():
    reg = FakeRegistry()
    shared = reg.image()
    only = reg.image()
    inner = reg.index([shared, only])
    reg.index([inner], tag='tmp-outer')
    reg.index([shared], tag='release')
    p = plan(reg)
    by_digest = dict((m.digest, m) for m in p.manifests)
    assert set(by_digest) == {reg.tags['tmp-outer'], inner, only}
    outer = reg.tags['tmp-outer']
    execute_repository(reg, p, parallel=2)
    assert reg.deleted == [outer, inner, only]
    assert shared in reg.manifests


def test_delete_untagged_false_leaves_children():
    reg = FakeRegistry()
    child = reg.image()
    reg.index([child], tag='tmp-1')
    p = plan(reg, delete_untagged=False)
    assert [m.kind for m in p.manifests] == ['tagged']


def test_children_stay_when_their_index_was_not_deleted():
    reg = FakeRegistry()
    child = reg.image()
    index = reg.index([child], tag='tmp-1')
    p = plan(reg)
    replacement = reg.image()
    reg.tags['tmp-1'] = replacement  # the condemned tag moved before the delete
    execute_repository(reg, p, parallel=2)
    outcomes = dict((m.digest, m.outcome) for m in p.manifests)
    assert outcomes[index] == 'skipped: its tags moved or went after planning'
    assert outcomes[child] == 'skipped: %s, which it goes with, was not deleted' % index
    assert reg.deleted == []


@pytest.mark.parametrize('failing', [0, 1])
def test_a_delete_failing_midway_reports_what_was_done(failing):
    reg = FakeRegistry()
    digests = sorted([reg.image(tag='tmp-1'), reg.image(tag='tmp-2')])  # deleted in digest order
    reg.image(tag='release')
    reg.fail_delete.add(digests[1])
    if failing == 0:  # nothing done before the failure: no claim of change
        reg.fail_delete = {digests[0]}
        with pytest.raises(RegistryError) as err:
            run_retention_prune(reg, params(parallel=1))
        assert err.value.facts['changed'] is False
        assert 'before this failure' not in err.value.facts['repositories'][0]['error']
        return
    first = digests[0]
    with pytest.raises(RegistryError) as err:
        run_retention_prune(reg, params(parallel=1))
    assert reg.deleted == [first]
    assert err.value.facts['changed'] is True
    entry = err.value.facts['repositories'][0]
    assert 'before this failure, already deleted: 1 manifests, 0 tags untagged; run again to finish' in entry['error']
    assert entry['deleted']['manifests'] == [first]


def test_signature_of_a_signature_is_kept_with_the_kept_image():
    reg = FakeRegistry()
    kept = reg.image(tag='release')
    sig = reg.image(tag='%s.sig' % kept.replace(':', '-'), subject=kept)
    sig_of_sig = reg.image(tag='%s.sig' % sig.replace(':', '-'), subject=sig)
    condemned = reg.image(tag='tmp-1')
    sig_condemned = reg.image(tag='%s.sig' % condemned.replace(':', '-'), subject=condemned)
    p = plan(reg)
    actions = dict((t.digest, t.action) for t in p.tags)
    assert actions[sig] == 'keep' and actions[sig_of_sig] == 'keep'
    assert actions[sig_condemned] == 'delete'
    assert sig in p.kept and sig_of_sig in p.kept


def sig_tag(digest, kind='.sig'):
    return '%s%s' % (digest.replace(':', '-'), kind)


def test_a_signature_stays_when_its_subject_is_pinned_after_planning():
    reg = FakeRegistry()
    condemned = reg.image(tag='tmp-1')
    signature = reg.image(tag=sig_tag(condemned), subject=condemned)
    reg.image(tag='release')
    p = plan(reg)
    entries = dict((m.digest, m) for m in p.manifests)
    assert entries[signature].parents == {condemned}
    reg.tags['prod'] = condemned  # pushed between plan and delete
    execute_repository(reg, p, parallel=2)
    assert reg.deleted == []
    assert entries[signature].outcome == 'skipped: %s, which it goes with, was not deleted' % condemned


def test_without_delete_untagged_signatures_of_children_are_left_alone():
    reg = FakeRegistry()
    child = reg.image()
    reg.index([child], tag='tmp-1')
    child_sig = reg.image(tag=sig_tag(child), subject=child)
    p = plan(reg, delete_untagged=False)
    actions = dict((t.digest, t.action) for t in p.tags)
    assert actions[child_sig] == 'keep'
    assert child_sig in p.kept
    assert [m.kind for m in p.manifests] == ['tagged']


def test_a_left_alone_signature_keeps_its_own_attestation_and_shared_image():
    reg = FakeRegistry()
    lonely = reg.image(tag=sig_tag('sha256:' + 'e' * 64))  # its subject is not here
    attestation = reg.image(tag=sig_tag(lonely, '.att'), subject=lonely)
    reg.tags['tmp-shared'] = lonely  # a condemned tag on the same image
    reg.image(tag='tmp-2')
    p = plan(reg, rules=ALL)
    by_tag = dict((t.tag, t) for t in p.tags)
    assert by_tag[sig_tag(lonely, '.att')].action == 'keep'
    assert by_tag['tmp-shared'].action == 'stay'
    assert lonely in p.kept and attestation in p.kept
    assert [m.tags for m in p.manifests] == [['tmp-2']]


def test_a_kept_index_naming_a_child_by_sha512_fails_closed():
    reg = FakeRegistry()
    reg.index(['sha512:' + 'a' * 128], tag='release')
    reg.image(tag='tmp-1')
    with pytest.raises(RegistryError, match='names an image by sha512, not sha256'):
        plan(reg)


def test_check_mode_without_delete_permission_plans_and_warns():
    reg = FakeRegistry(may_delete=False)
    digest = reg.image(tag='release')
    reg.tags['tmp-alias'] = digest
    reg.image(tag='tmp-1')
    result = run_retention_prune(reg, params(), check_mode=True)
    (entry,) = result['repositories']
    assert any('could not ask whether the registry deletes a tag alone' in n for n in entry['notes'])
    assert any('could not ask whether deletes are enabled' in w for w in result['warnings'])
    assert entry['summary']['delete'] == 1 and entry['summary']['stay'] == 1
    with pytest.raises(RegistryError, match='access denied for delete'):
        run_retention_prune(reg, params())
    assert reg.deleted == []


def test_an_image_whose_config_is_missing_has_no_known_age():
    reg = FakeRegistry()
    reg.image(tag='a-dev-1')  # no config blob
    result = run_retention_prune(reg, params(rules=[{'name': 'dev', 'match': '-dev-', 'older_than_days': 1}]), check_mode=True)
    (tag,) = result['repositories'][0]['tags']
    assert tag['action'] == 'keep' and 'age unknown' in tag['reason']


def test_check_mode_with_deletes_disabled_reports_no_change():
    reg = FakeRegistry()
    reg.image(tag='tmp-1')
    reg.deletes_enabled = lambda repository: False
    result = run_retention_prune(reg, params(), check_mode=True)
    assert result['changed'] is False
    assert any('deletes are disabled' in w for w in result['warnings'])
    with pytest.raises(RegistryError, match='nothing was deleted'):
        run_retention_prune(reg, params())


def test_tags_naming_their_own_or_each_others_digest_do_not_hang_the_run():
    reg = FakeRegistry()
    own = reg.image(tag='tmp-1')
    reg.tags[sig_tag(own)] = own  # an artefact tag on its own subject
    first, second = reg.image(tag='tmp-2'), reg.image(tag='tmp-3')
    reg.tags[sig_tag(second)] = first  # each names the other's digest
    reg.tags[sig_tag(first)] = second
    p = plan(reg)
    assert own not in dict((m.digest, m) for m in p.manifests)[own].parents
    execute_repository(reg, p, parallel=2)
    outcomes = dict((m.digest, m.outcome) for m in p.manifests)
    assert outcomes[own] == 'deleted'
    assert outcomes[first] == outcomes[second] == 'skipped: it goes with manifests that go with it in a circle'
    assert first in reg.manifests and second in reg.manifests


def test_a_condemned_tag_of_a_later_wave_that_moved_pins_its_new_image():
    reg = FakeRegistry()
    child = reg.image(tag='tmp-c')
    reg.index([child], tag='tmp-i')
    other = reg.image(tag='tmp-x')
    p = plan(reg)
    assert dict((m.digest, m) for m in p.manifests)[child].parents  # the child waits for its index
    reg.tags['tmp-c'] = other  # moved after planning onto an image condemned in the first wave
    execute_repository(reg, p, parallel=2)
    assert other in reg.manifests and reg.tags['tmp-c'] == other
    tags = dict((t.tag, t.outcome) for t in p.tags)
    assert tags['tmp-c'] == 'skipped: moved to %s after planning' % other


def test_a_new_index_over_condemned_images_keeps_them():
    reg = FakeRegistry()
    amd, arm = reg.image(tag='tmp-amd64'), reg.image(tag='tmp-arm64')
    p = plan(reg)
    reg.index([amd, arm], tag='rollback')  # pushed between plan and delete
    execute_repository(reg, p, parallel=2)
    assert reg.deleted == []
    assert amd in reg.manifests and arm in reg.manifests


def test_a_condemned_index_naming_a_child_by_sha512_is_deleted_and_its_children_left():
    reg = FakeRegistry()
    index = reg.index(['sha512:' + 'a' * 128], tag='tmp-1')
    p = plan(reg)
    assert [m.digest for m in p.manifests] == [index]
    assert any('names an image by sha512' in note for note in p.notes)


def test_an_index_with_a_missing_image_has_no_known_age():
    reg = FakeRegistry()
    reg.index([reg.image()], tag='a-dev-1')
    reg.manifests.pop(next(d for d in reg.manifests if reg.manifests[d].media_type == OCI_MANIFEST))
    result = run_retention_prune(reg, params(rules=[{'name': 'dev', 'match': '-dev-', 'older_than_days': 1}]), check_mode=True)
    (tag,) = result['repositories'][0]['tags']
    assert tag['action'] == 'keep' and 'age unknown' in tag['reason']


# ------------------------------------------------------------------ property: kept means kept, whatever the input

NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.timezone.utc)
TAG_POOL = ['v1.0.0', 'v1.0.1', 'v1.1.0', 'v2.0.0', '2.0.1', 'v2.1.0-rc.1', 'v1.0', 'v1', 'v2', 'latest', 'v1.0.0-amd64',
            'v2.0.0-arm64', 'v2-arm64', 'latest-amd64', 'dev-a', 'dev-b', 'dev-c', 'feature-x', 'feature-y', 'tmp-1',
            'tmp-2', 'prod-1', 'stable', 'nightly']


def aged_image(reg, days, subject=None):
    """An image whose config says it was created ``days`` before NOW (None: no creation time); a referrer of ``subject``."""
    config = json.dumps({'created': (NOW - datetime.timedelta(days=days)).strftime('%Y-%m-%dT%H:%M:%SZ')}
                        if days is not None else {}).encode()
    config_digest = 'sha256:' + hashlib.sha256(config).hexdigest()
    reg.configs[config_digest] = config
    reg.seq += 1
    doc = {'schemaVersion': 2, 'mediaType': OCI_MANIFEST, 'n': reg.seq, 'layers': [],
           'config': {'mediaType': 'application/vnd.oci.image.config.v1+json', 'digest': config_digest, 'size': len(config)}}
    if subject:
        doc['subject'] = {'mediaType': reg.manifests[subject].media_type, 'digest': subject, 'size': reg.manifests[subject].size}
    manifest = Manifest(json.dumps(doc).encode(), OCI_MANIFEST)
    reg.manifests[manifest.digest] = manifest
    if subject:
        reg.subjects[manifest.digest] = subject
    return manifest.digest


@st.composite
def repositories(draw):
    """A random repository: images of random ages, indexes (nested, sharing images), referrers (OCI ``subject``) of
    anything, some of them under cosign tags naming their subject, others untagged, a signature tag whose subject is
    not in the repository (on any manifest), and ordinary tags on any image, index or referrer (one of an index's
    images too). Returns (registry, ages by digest)."""
    reg = FakeRegistry(tag_delete=draw(st.booleans()), referrers=draw(st.booleans()))
    ages = {}
    for days in draw(st.lists(st.none() | st.integers(0, 90), min_size=1, max_size=6)):
        ages[aged_image(reg, days)] = NOW - datetime.timedelta(days=days) if days is not None else None
    manifests = list(ages)
    for _index in range(draw(st.integers(0, 4))):
        manifests.append(reg.index(draw(st.lists(st.sampled_from(manifests), min_size=1, max_size=4, unique=True))))
    referrers = []
    for _referrer in range(draw(st.integers(0, 4))):
        subject = draw(st.sampled_from(manifests + referrers))
        referrer = aged_image(reg, None, subject=subject)
        referrers.append(referrer)
        kind = draw(st.sampled_from([None, '.sig', '.att', '']))
        if kind is not None:
            reg.tags[sig_tag(subject, kind)] = referrer
    if draw(st.booleans()):
        reg.tags[sig_tag('sha256:' + 'f' * 64)] = draw(st.sampled_from(manifests + referrers))  # its subject is elsewhere
    for tag in draw(st.lists(st.sampled_from(TAG_POOL), unique=True, max_size=12)):
        reg.tags[tag] = draw(st.sampled_from(manifests + referrers))
    return reg, ages


RULES = st.one_of(
    st.builds(lambda majors, minors, patches, pre: {'semver': {'majors': majors, 'minors': minors, 'patches': patches,
                                                               'prereleases': pre}},
              st.none() | st.integers(1, 2), st.integers(1, 3), st.integers(1, 3), st.none() | st.integers(0, 1)),
    st.builds(lambda prefix, count: {'prefixes': [prefix], 'keep_newest': count},
              st.sampled_from(['dev-', 'feature-', 'tmp-', 'v', 'sha256-']), st.integers(0, 2)),
    st.builds(lambda match, days: {'match': match, 'older_than_days': days},
              st.sampled_from(['.*', '-', 'dev', '^v', 'amd64$', r'\.sig$']), st.integers(0, 60)),
    st.builds(lambda match, count, days: {'match': match, 'keep_newest': count, 'older_than_days': days},
              st.sampled_from(['.*', '-', 'e']), st.integers(0, 2), st.integers(0, 60)),
    st.builds(lambda count: {'match': '.*', 'keep_newest': count, 'order': 'semver'}, st.integers(0, 2)),
)
POLICIES = st.builds(
    lambda rules, protect: Policy(protect=protect, rules=[dict(rule, name='r%d' % i) for i, rule in enumerate(rules)]),
    st.lists(RULES, min_size=1, max_size=3),
    st.lists(st.sampled_from(['^prod-', '^stable$', 'amd64', r'^v1\.']), max_size=2, unique=True))


def describe(reg, ages):
    """The repository in short names (m0, m1, ...), for a failing example."""
    names = dict((d, 'm%d' % i) for i, d in enumerate(reg.manifests))
    lines = []
    for digest, name in names.items():
        if reg.manifests[digest].media_type == OCI_INDEX:
            lines.append('%s index of %s' % (name, ', '.join(names[c] for c in images_of(reg, digest))))
        elif digest in reg.subjects:
            lines.append('%s referrer of %s' % (name, names[reg.subjects[digest]]))
        else:
            lines.append('%s image, created %s' % (name, ages[digest] and ages[digest].date()))
    lines.append('tags: %s' % ', '.join('%s=%s' % (t, names.get(d, d)) for t, d in sorted(reg.tags.items())))
    lines.append('tag delete: %s, referrers API: %s' % (reg.tag_delete, reg.referrers))
    return '\n'.join(lines), names


def images_of(reg, digest):
    """The manifests an index names, read from its JSON here (not by the collection's parser)."""
    return [desc['digest'] for desc in json.loads(reg.manifests[digest].content)['manifests']]


def age_of(reg, ages, digest):
    """What an image's config says, or for an index the newest of its images (no annotations here)."""
    if digest in ages or digest in reg.subjects:
        return ages.get(digest)
    known = [a for a in (age_of(reg, ages, c) for c in images_of(reg, digest)) if a]
    return max(known) if known else None


def used_by_kept_tags(reg, policy, ages):
    """The oracle, written from the documented rules and not from the planner: the tags the policy keeps (protect,
    rules, no rule) and everything they use, through the images of kept indexes (nested too), the referrers of
    kept manifests (OCI ``subject``) and the signature tags naming a kept manifest, to any depth."""
    assignment = policy.assign(list(reg.tags))
    decisions = assignment.decide(dict(reg.tags), lambda digest: age_of(reg, ages, digest), NOW)
    kept_tags = set(t for t, d in decisions.items() if d.action == KEEP)
    used = set()
    frontier = set(reg.tags[t] for t in kept_tags)
    while frontier:
        used |= frontier
        found = set()
        for digest in frontier:
            if reg.manifests[digest].media_type == OCI_INDEX:
                found.update(images_of(reg, digest))
            found.update(r for r, subject in reg.subjects.items() if subject == digest)
            found.update(reg.tags[t] for t, subject in assignment.artefacts.items() if subject == digest)
        frontier = found - used
    return kept_tags, used, assignment.artefacts


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(repositories(), POLICIES, st.booleans(), st.integers(1, 3))
def test_property_nothing_a_kept_tag_uses_is_ever_condemned_or_deleted(repository, policy, delete_untagged, parallel):
    """For random repositories and policies: no digest a kept tag uses (directly, as an image of a kept index, as a
    referrer or signature of a kept manifest) is planned for deletion or deleted, and every kept tag still points
    where it did; only planned manifests are deleted, and a signature tag stays as long as its subject does."""
    reg, ages = repository
    before = dict(reg.tags)
    text, names = describe(reg, ages)
    note(text)
    kept_tags, used, artefacts = used_by_kept_tags(reg, policy, ages)
    note('kept tags: %s; they use %s' % (sorted(kept_tags), sorted(names[d] for d in used)))

    p = plan_repository(reg, REPO, policy, parallel, delete_untagged=delete_untagged, now=NOW)
    note('plan: %s' % ', '.join('%s %s (%s)' % (t.tag, t.action, t.reason) for t in p.tags))
    condemned = set(m.digest for m in p.manifests)
    assert not condemned & used, sorted(names[d] for d in condemned & used)
    actions = dict((t.tag, t.action) for t in p.tags)
    assert all(actions[t] == KEEP for t in kept_tags)

    execute_repository(reg, p, parallel)
    assert not set(reg.deleted) & used
    assert set(reg.deleted) <= condemned
    assert not set(reg.untagged) & kept_tags
    assert all(reg.tags.get(t) == before[t] for t in kept_tags)
    for tag, subject in artefacts.items():
        if subject not in reg.deleted:
            assert reg.tags.get(tag) == before[tag], (tag, subject)


@pytest.mark.parametrize('referrers_api', [False, True])
def test_a_referrer_under_a_condemned_tag_of_its_own_goes_although_its_subject_is_kept(referrers_api):
    """A signature (OCI ``subject``: the kept image) that someone also tagged with a plain tag a rule condemns."""
    reg = FakeRegistry(referrers=referrers_api)
    kept = aged_image(reg, 1)
    reg.tags['release'] = kept
    signature = aged_image(reg, None, subject=kept)
    reg.tags['tmp-signature'] = signature
    p = plan_repository(reg, REPO, Policy(rules=ALL), 2, now=NOW)
    assert signature not in [m.digest for m in p.manifests]


def test_a_kept_referrer_says_why_and_only_condemned_images_not_read_yet_are_read():
    """Referrers under condemned tags of their own are kept with their subject, to any depth, and the plan says why.
    For that the planner reads only the condemned images it has not read: not indexes, not what is kept."""
    reg = FakeRegistry(tag_delete=True)
    kept = reg.image(tag='1.0.0')
    signature = reg.image(tag='0.1.0', subject=kept)
    attestation = reg.image(tag='0.2.0', subject=signature)  # kept only once its subject, the signature, is
    plain = reg.image(tag='0.3.0')
    child = reg.image()
    index = reg.index([child], tag='0.4.0')
    got = []
    get_manifest = reg.get_manifest
    reg.get_manifest = lambda repository, reference: got.append(reference) or get_manifest(repository, reference)
    p = plan(reg, rules=[{'name': 'versions', 'match': '.*', 'keep_newest': 1, 'order': 'semver'}])
    assert sorted(m.digest for m in p.manifests) == sorted([plain, index, child])
    assert {signature, attestation} <= p.kept
    tags = dict((t.tag, t) for t in p.tags)
    assert tags['0.1.0'].action == tags['0.2.0'].action == 'untag'
    assert 'it is a referrer of the kept %s' % kept in tags['0.1.0'].reason
    assert 'it is a referrer of the kept %s' % signature in tags['0.2.0'].reason
    assert sorted(got) == sorted([signature, attestation, plain, index])  # each once; the index as before the fix


def test_a_referrer_read_by_tag_for_its_age_is_not_read_again():
    reg = FakeRegistry()
    kept = aged_image(reg, 1)
    reg.tags['release'] = kept
    signature = aged_image(reg, None, subject=kept)
    reg.tags['tmp-signature'] = signature
    got = []
    get_manifest = reg.get_manifest
    reg.get_manifest = lambda repository, reference: got.append(reference) or get_manifest(repository, reference)
    p = plan_repository(reg, REPO, Policy(rules=ALL), 2, now=NOW)
    assert p.manifests == [] and signature in p.kept
    assert got == ['tmp-signature']  # its age; never the kept image
