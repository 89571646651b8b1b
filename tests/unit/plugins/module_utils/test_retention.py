"""The retention policy language: parsing tags, the semver rule, count and age rules, protect, validation."""

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.regops.registry.plugins.module_utils._errors import InvalidInputError
from ansible_collections.regops.registry.plugins.module_utils._retention import (
    DELETE,
    KEEP,
    Policy,
    artefact_subject,
    parse_created,
    parse_release_tag,
)

NOW = datetime.datetime(2026, 11, 22, 12, 0, 0, tzinfo=datetime.timezone.utc)
RELEASES = {'rules': [{'name': 'releases', 'semver': {}}]}


def ago(days):
    return NOW - datetime.timedelta(days=days)


def decide(tags, protect=(), rules=None, ages=None, suffixes=None):
    """tags: list of names (each its own digest) or dict tag: digest."""
    if not isinstance(tags, dict):
        tags = dict((t, 'sha256:' + t) for t in tags)
    kwargs = {} if suffixes is None else {'suffixes': suffixes}
    policy = Policy(protect=protect, rules=rules or RELEASES['rules'], **kwargs)
    assignment = policy.assign(list(tags))
    return assignment.decide(tags, (ages or {}).get, NOW), assignment


def kept(decisions):
    return sorted(t for t, d in decisions.items() if d.action == KEEP)


# ---------------------------------------------------------------- parsing

@pytest.mark.parametrize('tag, kind, line, suffix', [
    ('v3.0.0', 'release', (3, 0, 0), ''),
    ('3.0.0-amd64', 'release', (3, 0, 0), '-amd64'),
    ('v3.1.0-rc.1-arm64', 'release', (3, 1, 0), '-arm64'),
    ('v3.1', 'minor', (3, 1), ''),
    ('v3-armv7', 'major', (3,), '-armv7'),
    ('latest', 'latest', (), ''),
    ('latest-arm64', 'latest', (), '-arm64'),
    ('42', 'major', (42,), ''),
])
def test_release_tags_are_read_with_their_suffix(tag, kind, line, suffix):
    parsed = parse_release_tag(tag)
    assert (parsed.kind, parsed.line, parsed.suffix) == (kind, line, suffix)


def test_arm_and_armv7_suffixes_are_told_apart():
    assert parse_release_tag('v1.0.0-armv7').suffix == '-armv7'
    assert parse_release_tag('v1.0.0-arm').suffix == '-arm'


def test_without_the_suffix_an_arch_tag_is_a_prerelease():
    parsed = parse_release_tag('v3.0.0-amd64', suffixes=())
    assert parsed.version.prerelease == 'amd64'


@pytest.mark.parametrize('tag', ['stable', 'v3.0.0.1', '03.0.0', 'v', 'latest-dev', 'feature-1.0.0', ''])
def test_other_tags_are_not_releases(tag):
    assert parse_release_tag(tag) is None


def test_artefact_tags_name_their_subject():
    hexa = 'a' * 64
    assert artefact_subject('sha256-%s.sig' % hexa) == 'sha256:' + hexa
    assert artefact_subject('sha256-%s.att' % hexa) == 'sha256:' + hexa
    assert artefact_subject('sha256-%s' % hexa) == 'sha256:' + hexa  # the referrers tag schema
    assert artefact_subject('sha256-%s.sig' % hexa[:-1]) is None
    assert artefact_subject('v1.0.0') is None


@pytest.mark.parametrize('value, expected', [
    ('2026-11-01T10:00:00Z', datetime.datetime(2026, 11, 1, 10, tzinfo=datetime.timezone.utc)),
    ('2026-11-01T10:00:00.123456789Z', datetime.datetime(2026, 11, 1, 10, 0, 0, 123456, tzinfo=datetime.timezone.utc)),
    ('2026-11-01T12:00:00+02:00', datetime.datetime(2026, 11, 1, 10, tzinfo=datetime.timezone.utc)),
    ('1970-01-01T00:00:00Z', None),   # reproducible builds: unknown age
    ('0001-01-01T00:00:00Z', None),
    ('yesterday', None),
    ('2026-13-01T00:00:00Z', None),
    (None, None),
    (12345, None),
])
def test_creation_times_are_read_or_unknown(value, expected):
    assert parse_created(value) == expected


# ---------------------------------------------------------------- semver rule

def releases(majors=(1, 2, 3), minors=12, patches=7):
    return ['v%d.%d.%d' % (a, b, c) for a in majors for b in range(minors) for c in range(patches)]


def test_semver_rule_keeps_newest_of_each_major_last_minors_and_patches():
    decisions = decide(releases())[0]
    expected = ['v1.11.6', 'v2.11.6'] + ['v3.%d.%d' % (m, p) for m in range(2, 12) for p in range(2, 7)]
    assert kept(decisions) == sorted(expected)
    assert decisions['v2.11.5'].reason == 'superseded: the newest release of major 2 is 2.11.6'
    assert decisions['v3.1.6'].reason == 'minor 3.1 is not one of the last 10 minor versions of major 3'
    assert decisions['v3.5.1'].reason == 'superseded: 3.5.1 is beyond the last 5 patches of 3.5'
    assert decisions['v1.11.6'].reason == 'the newest release of major 1'


def test_semver_counts_are_options():
    rules = [{'name': 'r', 'semver': {'majors': 2, 'minors': 2, 'patches': 1}}]
    decisions = decide(releases(), rules=rules)[0]
    assert kept(decisions) == ['v2.11.6', 'v3.10.6', 'v3.11.6']
    assert decisions['v1.11.6'].reason == 'major 1 is older than the newest 2 major versions'


def test_per_arch_tags_and_prefix_styles_follow_their_release():
    tags = ['v1.0.0', 'v1.0.0-amd64', '1.0.0-arm64', 'v1.0.1', 'v1.0.1-amd64', '1.0.1']
    rules = [{'name': 'r', 'semver': {'patches': 1}}]
    decisions = decide(tags, rules=rules)[0]
    assert kept(decisions) == ['1.0.1', 'v1.0.1', 'v1.0.1-amd64']


def test_aliases_follow_their_line_and_latest_is_kept():
    tags = releases(majors=(1, 3), minors=12, patches=1) + ['v1', 'v1.0', 'v1.11', 'v3', 'v3.0', 'v3.11-amd64',
                                                            'latest', 'latest-arm64', 'v7', 'v7.1']
    decisions = decide(tags)[0]
    assert decisions['v1'].action == KEEP
    assert decisions['v1.11'].action == KEEP
    assert decisions['v1.0'].action == DELETE and 'all condemned' in decisions['v1.0'].reason
    assert decisions['v3.0'].action == DELETE  # 3.0 is beyond the last 10 minors
    assert decisions['v3.11-amd64'].action == KEEP
    assert decisions['latest'].action == KEEP and decisions['latest-arm64'].action == KEEP
    assert decisions['v7'].action == KEEP and 'no release here' in decisions['v7'].reason
    assert decisions['v7.1'].action == KEEP


def test_prereleases_are_left_to_later_rules_unless_selected():
    tags = ['v1.0.0', 'v1.1.0-rc.1', 'v0.9.0-rc.1', 'v1.1.0-rc.2', 'v1.2.0-beta.1']
    decisions, assignment = decide(tags)
    assert sorted(t for rule_tags in assignment.by_rule.values() for t in rule_tags) == ['v1.0.0']
    assert decisions['v1.1.0-rc.1'].rule is None and decisions['v1.1.0-rc.1'].action == KEEP
    rules = [{'name': 'r', 'semver': {'prereleases': 2}}]
    decisions = decide(tags, rules=rules)[0]
    assert kept(decisions) == ['v1.0.0', 'v1.1.0-rc.2', 'v1.2.0-beta.1']
    assert 'superseded by release 1.0.0' in decisions['v0.9.0-rc.1'].reason
    assert 'beyond the newest 2' in decisions['v1.1.0-rc.1'].reason


@settings(max_examples=200, deadline=None)
@given(st.sets(st.tuples(st.integers(0, 4), st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=60),
       st.integers(1, 4), st.integers(1, 4))
def test_semver_rule_always_keeps_the_newest_release_of_every_major(lines, minors, patches):
    tags = ['v%d.%d.%d' % line for line in lines]
    rules = [{'name': 'r', 'semver': {'minors': minors, 'patches': patches}}]
    decisions = decide(tags, rules=rules)[0]
    for major in set(line[0] for line in lines):
        newest = max(line for line in lines if line[0] == major)
        assert decisions['v%d.%d.%d' % newest].action == KEEP
    newest_overall = max(lines)
    assert decisions['v%d.%d.%d' % newest_overall].action == KEEP
    current = [line for line in lines if line[0] == newest_overall[0]]
    kept_minors = set(line[1] for line in current if decisions['v%d.%d.%d' % line].action == KEEP)
    assert len(kept_minors) == min(minors, len(set(line[1] for line in current)))
    for minor in kept_minors:
        kept_patches = [line for line in current if line[1] == minor and decisions['v%d.%d.%d' % line].action == KEEP]
        assert len(kept_patches) == min(patches, len([line for line in current if line[1] == minor]))


# ---------------------------------------------------------------- count and age rules

DEV = [{'name': 'dev', 'match': '-dev-', 'older_than_days': 30}]


def test_age_rule_condemns_only_what_is_older():
    tags = {'a-dev-1': 'sha256:a', 'b-dev-2': 'sha256:b', 'c-dev-3': 'sha256:c', 'release': 'sha256:r'}
    ages = {'sha256:a': ago(31), 'sha256:b': ago(29), 'sha256:r': ago(400)}
    decisions, assignment = decide(tags, rules=DEV, ages=ages)
    assert assignment.tags_needing_age() == {'a-dev-1', 'b-dev-2', 'c-dev-3'}
    assert decisions['a-dev-1'].action == DELETE and 'older than 30 days' in decisions['a-dev-1'].reason
    assert decisions['b-dev-2'].action == KEEP
    assert decisions['c-dev-3'].action == KEEP and 'age unknown' in decisions['c-dev-3'].reason
    assert decisions['release'].action == KEEP and decisions['release'].rule is None


def test_keep_newest_counts_images_not_tags():
    rules = [{'name': 'f', 'prefixes': ['feature-'], 'keep_newest': 2}]
    tags = {'feature-a': 'sha256:1', 'feature-a2': 'sha256:1', 'feature-b': 'sha256:2', 'feature-c': 'sha256:3',
            'feature-u': 'sha256:4', 'other': 'sha256:9'}
    ages = {'sha256:1': ago(1), 'sha256:2': ago(5), 'sha256:3': ago(20)}
    decisions = decide(tags, rules=rules, ages=ages)[0]
    # The image of unknown age is kept and not counted.
    assert kept(decisions) == ['feature-a', 'feature-a2', 'feature-b', 'feature-u', 'other']
    assert decisions['feature-c'].reason == 'image 3 by creation time, beyond the newest 2'
    assert 'neither ranked nor condemned' in decisions['feature-u'].reason


def test_images_of_unknown_age_are_never_condemned_by_count():
    rules = [{'name': 'b', 'prefixes': ['build-'], 'keep_newest': 1}]
    decisions = decide(['build-1', 'build-2', 'build-3'], rules=rules)[0]  # no creation times at all
    assert kept(decisions) == ['build-1', 'build-2', 'build-3']


def test_keep_newest_with_age_condemns_only_when_both_hold():
    rules = [{'name': 'f', 'match': '^pr-', 'keep_newest': 1, 'older_than_days': 10}]
    tags = {'pr-1': 'sha256:1', 'pr-2': 'sha256:2', 'pr-3': 'sha256:3'}
    ages = {'sha256:1': ago(1), 'sha256:2': ago(5), 'sha256:3': ago(20)}
    decisions = decide(tags, rules=rules, ages=ages)[0]
    assert kept(decisions) == ['pr-1', 'pr-2']
    assert 'beyond the newest 1 and created' in decisions['pr-3'].reason


def test_keep_newest_by_semver_counts_versions():
    rules = [{'name': 'r', 'match': '.*', 'keep_newest': 2, 'order': 'semver'}]
    tags = ['v1.0.0', 'v1.0.0-amd64', 'v1.1.0', 'v1.1.0-arm64', 'v2.0.0', 'nightly']
    decisions, assignment = decide(tags, rules=rules)
    assert kept(decisions) == ['nightly', 'v1.1.0', 'v1.1.0-arm64', 'v2.0.0']
    assert assignment.tags_needing_age() == set()
    assert decisions['nightly'].rule is None


def test_keep_newest_zero_condemns_everything_selected():
    decisions = decide(['tmp-1', 'tmp-2', 'x'], rules=[{'name': 't', 'prefixes': ['tmp-'], 'keep_newest': 0}])[0]
    assert kept(decisions) == ['x']


# ---------------------------------------------------------------- order, protect, artefacts

def test_first_rule_that_selects_decides():
    rules = [{'name': 'dev', 'match': '-dev-', 'older_than_days': 30},
             {'name': 'features', 'prefixes': ['feature-'], 'keep_newest': 0}]
    decisions = decide(['feature-x-dev-1', 'feature-y'], rules=rules, ages={'sha256:feature-x-dev-1': ago(1)})[0]
    assert decisions['feature-x-dev-1'].rule == 'dev' and decisions['feature-x-dev-1'].action == KEEP
    assert decisions['feature-y'].rule == 'features' and decisions['feature-y'].action == DELETE


def test_protect_wins_over_every_rule():
    rules = [{'name': 'all', 'match': '.*', 'keep_newest': 0}]
    decisions = decide(['prod-1', 'stable', 'x'], protect=['^prod-', '^stable$'], rules=rules)[0]
    assert kept(decisions) == ['prod-1', 'stable']
    assert decisions['prod-1'].rule == 'protect'


def test_artefacts_are_left_to_their_subject():
    sig = 'sha256-%s.sig' % ('b' * 64)
    decisions, assignment = decide([sig, 'x'], rules=[{'name': 'all', 'match': '.*', 'keep_newest': 0}])
    assert sig not in decisions
    assert assignment.artefacts == {sig: 'sha256:' + 'b' * 64}


# ---------------------------------------------------------------- validation

@pytest.mark.parametrize('rules, message', [
    ([], 'the policy has no rules'),
    ([{'name': 'x', 'match': '-dev-'}], 'x: say what the rule keeps'),
    ([{'name': 'x', 'keep_newest': 3}], 'x: say which tags the rule selects'),
    ([{'name': 'x', 'match': '(', 'keep_newest': 1}], 'x: match \'(\' is not a valid regular expression'),
    ([{'name': 'x', 'semver': {}, 'keep_newest': 1}], 'x: a semver rule keeps by majors, minors and patches'),
    ([{'name': 'x', 'semver': {'minors': 0}}], 'x: semver.minors must be a whole number of at least 1'),
    ([{'name': 'x', 'match': 'a', 'keep_newest': -1}], 'x: keep_newest must be a whole number of at least 0'),
    ([{'name': 'x', 'match': 'a', 'keep_newest': 1, 'order': 'random'}], 'x: order must be one of created, semver'),
    ([{'name': 'x', 'match': 'a', 'keep_newest': 1, 'colour': 'red'}], 'x: unknown keys colour'),
    ([{'name': 'x', 'semver': {'minor': 3}}], 'x: unknown semver keys minor'),
    ([{'name': 'x', 'match': 'a', 'keep_newest': 1}, {'name': 'x', 'match': 'b', 'keep_newest': 1}], 'rule names must differ'),
    ([{'match': 'a'}], 'rule 1: say what the rule keeps'),
])
def test_invalid_policies_are_refused_with_the_rule_named(rules, message):
    with pytest.raises(InvalidInputError) as err:
        Policy(rules=rules)
    assert message in str(err.value)


def test_invalid_protect_and_suffix_are_refused():
    with pytest.raises(InvalidInputError, match='protect pattern'):
        Policy(protect=['['], rules=RELEASES['rules'])
    with pytest.raises(InvalidInputError, match='invalid suffix'):
        Policy(rules=RELEASES['rules'], suffixes=['-386'])
