import pytest
from hypothesis import assume, given, strategies as st

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


def test_series_are_per_suffix_and_prefix_style():
    # A newer arm64 release or a newer unprefixed release does not hold back amd64 v-style aliases.
    existing = ['v3.1.0-arm64', '3.2.0-amd64', 'v3.0.0-amd64']
    assert written(plan_release_tags(parse_version('v3.0.1'), existing, suffix='-amd64')) == [
        'v3.0.1-amd64', 'v3.0-amd64', 'v3-amd64', 'latest-amd64']


def test_per_arch_tags_do_not_count_as_unsuffixed_releases():
    # v3.1.0-amd64 would parse as prerelease "amd64" of v3.1.0: never a stable release.
    assert stable_releases(['v3.1.0-amd64', 'v3.0.0'], 'v') == [parse_version('v3.0.0')]


def test_rerun_of_newest_release_keeps_aliases():
    existing = ['v3.0.0', 'v3.0', 'v3', 'latest']
    assert written(plan_release_tags(parse_version('v3.0.0'), existing)) == ['v3.0.0', 'v3.0', 'v3', 'latest']


def test_alias_subset():
    assert written(plan_release_tags(parse_version('3.0.0'), [], aliases=['major'])) == ['3.0.0', '3']


versions = st.builds(lambda a, b, c: Version('v', a, b, c), st.integers(0, 4), st.integers(0, 4), st.integers(0, 4))


@given(st.lists(versions, max_size=15), versions)
def test_property_aliases_only_move_forward(existing, new):
    """Whatever exists, an alias is written only if no release in its series is newer."""
    tags = [str(v) for v in existing]
    plan = plan_release_tags(new, tags)
    by_kind = dict((kind, reason) for _t, kind, reason in plan)
    series = {'minor': lambda v: (v.major, v.minor) == (new.major, new.minor),
              'major': lambda v: v.major == new.major, 'latest': lambda v: True}
    for kind, in_series in series.items():
        newer = [v for v in existing if in_series(v) and v > new]
        assert (by_kind[kind] is None) == (not newer)
    assert plan[0] == (str(new), 'release', None)


@given(st.lists(versions, min_size=1, max_size=12))
def test_property_releasing_in_any_order_ends_on_the_highest(order):
    """Releasing versions one by one in any order leaves every alias on its series' highest version."""
    assume(len(set(order)) == len(order))
    aliases = {}
    tags = []
    for version in order:
        plan = plan_release_tags(version, tags)
        for tag, _kind, reason in plan:
            if reason is None:
                aliases[tag] = version
                if tag not in tags:
                    tags.append(tag)
    assert aliases['latest'] == max(order)
    for v in order:
        assert aliases['v%d' % v.major] == max(x for x in order if x.major == v.major)
        assert aliases['v%d.%d' % (v.major, v.minor)] == max(x for x in order if (x.major, x.minor) == (v.major, v.minor))
