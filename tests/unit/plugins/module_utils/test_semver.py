import pytest
from hypothesis import assume, given, settings, strategies as st

from ansible_collections.regops.registry.plugins.module_utils._errors import InvalidInputError
from ansible_collections.regops.registry.plugins.module_utils._semver import (
    Version,
    parse_version,
    plan_release_tags,
    stable_releases,
)


def written(plan):
    """The tags a plan writes (aliases held back excluded)."""
    return [tag for tag, _kind, reason in plan if reason is None]


def test_parse_keeps_prefix_style():
    assert str(parse_version('v3.0.0')) == 'v3.0.0'
    assert str(parse_version('3.0.0')) == '3.0.0'
    assert parse_version('v3.1.0-rc.1').is_prerelease


@pytest.mark.parametrize('text', ['3', 'v3.0', '03.0.0', 'v3.00.1', 'v3.0.0-', 'v3.0.0-rc..1', 'V3.0.0', 'v3.0.0-01', '',
                                  'latest', 'v3.0.0.0', ' v3.0.0', 'v3.0.0\n'])
def test_invalid_versions(text):
    with pytest.raises(InvalidInputError, match='invalid semantic version'):
        parse_version(text)


def test_build_metadata_refused_with_reason():
    with pytest.raises(InvalidInputError, match='build metadata'):
        parse_version('v3.0.0+abc')


def test_precedence():
    ordered = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11',
               '1.0.0-rc.1', '1.0.0', '1.0.1', '1.1.0', '2.0.0']
    versions = [parse_version(v) for v in ordered]
    assert versions == sorted(reversed(versions))
    assert parse_version('v1.0.0') == parse_version('1.0.0')


def test_first_release_gets_all_tags():
    plan = plan_release_tags(parse_version('v3.0.0'), [], suffix='-amd64')
    assert written(plan) == ['v3.0.0-amd64', 'v3.0-amd64', 'v3-amd64', 'latest-amd64']


def test_hotfix_after_newer_major_moves_only_its_series():
    existing = ['v2.9.4', 'v2.9', 'v2', 'v3.0.0', 'v3.0', 'v3', 'latest']
    plan = plan_release_tags(parse_version('v2.9.5'), existing)
    assert written(plan) == ['v2.9.5', 'v2.9', 'v2']
    held = dict((tag, reason) for tag, _k, reason in plan if reason)
    assert held == {'latest': 'held back: v3.0.0 is newer'}


def test_old_patch_in_old_minor_moves_nothing_but_its_minor():
    existing = ['v2.8.3', 'v2.9.0', 'v3.0.0']
    assert written(plan_release_tags(parse_version('v2.8.4'), existing)) == ['v2.8.4', 'v2.8']


def test_release_older_than_existing_patch_moves_nothing():
    existing = ['v2.8.5']
    plan = plan_release_tags(parse_version('v2.8.4'), existing)
    assert written(plan) == ['v2.8.4']
    assert [kind for _t, kind, reason in plan if reason] == ['minor', 'major', 'latest']


def test_prerelease_gets_only_its_own_tag():
    plan = plan_release_tags(parse_version('v3.1.0-rc.1'), ['v3.0.0'], suffix='-arm64')
    assert plan == [('v3.1.0-rc.1-arm64', 'release', None)]


def test_prereleases_do_not_hold_back_aliases():
    assert written(plan_release_tags(parse_version('v3.0.0'), ['v3.1.0-rc.1', 'v4.0.0-beta'])) == ['v3.0.0', 'v3.0', 'v3', 'latest']


def test_series_are_per_suffix_and_prefix_style_but_latest_spans_styles():
    # A newer arm64 release does not hold back amd64 aliases; a newer unprefixed release holds back only latest.
    existing = ['v3.1.0-arm64', '3.2.0-amd64', 'v3.0.0-amd64']
    plan = plan_release_tags(parse_version('v3.0.1'), existing, suffix='-amd64')
    assert written(plan) == ['v3.0.1-amd64', 'v3.0-amd64', 'v3-amd64']
    assert plan[-1] == ('latest-amd64', 'latest', 'held back: 3.2.0-amd64 is newer')


def test_latest_never_moves_back_across_prefix_styles():
    plan = plan_release_tags(parse_version('3.0.0'), ['v4.0.0', 'v4.0', 'v4', 'latest'])
    assert written(plan) == ['3.0.0', '3.0', '3']


@pytest.mark.parametrize('suffix', ['0', '.1', '_amd64', 'amd64', '-1', '-', '-amd 64'])
def test_ambiguous_suffixes_are_refused(suffix):
    with pytest.raises(InvalidInputError, match='invalid suffix'):
        plan_release_tags(parse_version('v3.0.1'), [], suffix=suffix)


def test_per_arch_tags_do_not_count_as_unsuffixed_releases():
    # v3.1.0-amd64 would parse as prerelease "amd64" of v3.1.0: never a stable release.
    assert stable_releases(['v3.1.0-amd64', 'v3.0.0'], 'v') == [parse_version('v3.0.0')]


def test_rerun_of_newest_release_keeps_aliases():
    existing = ['v3.0.0', 'v3.0', 'v3', 'latest']
    assert written(plan_release_tags(parse_version('v3.0.0'), existing)) == ['v3.0.0', 'v3.0', 'v3', 'latest']


def test_alias_subset():
    assert written(plan_release_tags(parse_version('3.0.0'), [], aliases=['major'])) == ['3.0.0', '3']


prefixes = st.sampled_from(['v', ''])
versions = st.builds(Version, prefixes, st.integers(0, 3), st.integers(0, 3), st.integers(0, 3))
suffixes = st.sampled_from(['', '-amd64', '-arm64'])


@given(st.lists(st.tuples(versions, suffixes), min_size=1, max_size=14))
def test_property_releasing_in_any_order_ends_on_the_highest(releases):
    """Release (version, suffix) pairs one by one, in any order, applying each plan to a simulated repository.

    Oracle, independent of the planner's series logic: afterwards each alias tag holds the highest release whose
    own alias of that name it is (latest<suffix>: every release with the suffix, of either prefix style).
    """
    assume(len(set((str(v), s) for v, s in releases)) == len(releases))
    repo = {}  # tag -> (version, suffix) it points at
    for version, suffix in releases:
        for tag, _kind, reason in plan_release_tags(version, list(repo), suffix=suffix):
            if reason is None:
                repo[tag] = version
    for tag, version in repo.items():
        claimants = [v for v, s in releases if tag in (str(v) + s, '%s%d.%d%s' % (v.prefix, v.major, v.minor, s),
                                                       '%s%d%s' % (v.prefix, v.major, s), 'latest' + s)]
        assert version == max(claimants), (tag, version, claimants)


@given(st.lists(st.tuples(versions, suffixes), max_size=14), versions, suffixes)
def test_property_an_alias_is_written_only_when_nothing_newer_claims_it(existing, new, suffix):
    tags = [str(v) + s for v, s in existing]
    for tag, kind, reason in plan_release_tags(new, tags, suffix=suffix):
        claimants = [v for v, s in existing if s == suffix and tag in (
            '%s%d.%d%s' % (v.prefix, v.major, v.minor, s), '%s%d%s' % (v.prefix, v.major, s), 'latest' + s)]
        newer = [v for v in claimants if v > new]
        assert (reason is None) == (not newer or kind == 'release'), (tag, reason, newer)


any_versions = st.builds(Version, prefixes, st.integers(0, 3), st.integers(0, 3), st.integers(0, 3),
                         st.none() | st.sampled_from(['rc.1', 'rc.2', 'alpha', '1']))
alias_sets = st.lists(st.sampled_from(['minor', 'major', 'latest']), unique=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(any_versions, suffixes, alias_sets), min_size=1, max_size=16))
def test_property_an_alias_never_moves_backwards(releases):
    """Releases (prereleases among them, each with its own choice of aliases) applied one by one, in any order, to a
    simulated repository: no write ever moves an alias from a higher release to a lower one, and a prerelease never
    gets an alias."""
    repo = {}  # tag -> Version it points at
    for version, suffix, aliases in releases:
        for tag, kind, reason in plan_release_tags(version, list(repo), suffix=suffix, aliases=aliases):
            if reason is not None:
                continue
            if kind != 'release':
                assert not version.is_prerelease, (tag, version)
                assert tag not in repo or repo[tag] <= version, (tag, repo[tag], version)
            repo[tag] = version
