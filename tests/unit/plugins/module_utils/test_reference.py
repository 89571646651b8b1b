import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.regops.registry.plugins.module_utils._errors import InvalidInputError
from ansible_collections.regops.registry.plugins.module_utils._reference import (
    parse_any_reference,
    REPOSITORY_RE,
    TAG_RE,
    parse_registry,
    validate_digest,
    validate_reference,
    validate_repository,
    validate_tag,
)

VALID_REPOS = ['a', 'library/ubuntu', 'battlescope/ingestion-service', 'a/b/c/d', 'foo_bar', 'foo__bar', 'foo---bar',
               'foo.bar', '0', 'a' * 255]
INVALID_REPOS = ['', 'A', 'Battlescope/svc', 'a//b', '/a', 'a/', 'a_', '_a', 'a___b', 'a..b', 'a._b', 'a:tag', 'a@sha256:00',
                 'a b', 'a' * 256, '-a', 'a-', 'localhost:5000/a', 'team/svc\n', 'a\nb']


@pytest.mark.parametrize('name', VALID_REPOS)
def test_valid_repositories(name):
    assert validate_repository(name) == name


@pytest.mark.parametrize('name', INVALID_REPOS)
def test_invalid_repositories(name):
    with pytest.raises(InvalidInputError) as err:
        validate_repository(name, registry='r.example:5000')
    assert 'r.example:5000' in str(err.value)


def test_invalid_repository_hints():
    with pytest.raises(InvalidInputError, match='lower case'):
        validate_repository('Team/Svc')
    with pytest.raises(InvalidInputError, match='without a tag'):
        validate_repository('team/svc:v1')


@pytest.mark.parametrize('tag', ['v3.0.0', 'latest', 'v3.0.0-amd64', '_x', 'A' * 128, '3', 'sha256-abc.sig'])
def test_valid_tags(tag):
    assert validate_tag(tag) == tag


@pytest.mark.parametrize('tag', ['', '.x', '-x', 'a' * 129, 'v1+build', 'a/b', 'a:b', 'ü', 'a b', None, 3, 'v1\n', 'v1\nv2'])
def test_invalid_tags(tag):
    with pytest.raises(InvalidInputError, match='invalid tag'):
        validate_tag(tag)


def test_digests():
    good = 'sha256:' + 'a' * 64
    assert validate_digest(good) == good
    assert validate_reference(good) == good
    assert validate_digest('sha512:' + '0' * 128)
    for bad in ('sha256:' + 'A' * 64, 'sha256:' + 'a' * 63, 'sha256:xyz', 'md5:' + 'a' * 32, 'sha256', ':' + 'a' * 64):
        with pytest.raises(InvalidInputError):
            validate_digest(bad)


LOWER_ALNUM = set('abcdefghijklmnopqrstuvwxyz0123456789')


def oracle_repository(name):
    """The grammar, written out by hand without regular expressions (an independent check)."""
    if not 1 <= len(name) <= 255:
        return False
    for component in name.split('/'):
        if not component or component[0] not in LOWER_ALNUM or component[-1] not in LOWER_ALNUM:
            return False
        i = 0
        while i < len(component):
            if component[i] in LOWER_ALNUM:
                i += 1
                continue
            j = i
            while j < len(component) and component[j] not in LOWER_ALNUM:
                j += 1
            separator = component[i:j]
            if not (separator in ('.', '_', '__') or set(separator) == {'-'}):
                return False
            i = j
    return True


def oracle_tag(tag):
    allowed = set('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-')
    return 1 <= len(tag) <= 128 and all(c in allowed for c in tag) and tag[0] not in '.-'


def accepted(validator, value):
    try:
        validator(value)
        return True
    except InvalidInputError:
        return False


repo_alphabet = st.text(alphabet='ab09._-/A:\n', min_size=1, max_size=40)


@given(repo_alphabet | st.text(min_size=1, max_size=300) | st.from_regex(REPOSITORY_RE, fullmatch=True))
def test_property_repository_validation_agrees_with_hand_written_grammar(name):
    assert accepted(validate_repository, name) == oracle_repository(name)


@given(st.text(alphabet='aZ09_.-+:/\n ', max_size=140) | st.text(max_size=200))
def test_property_tag_validation_agrees_with_hand_written_grammar(tag):
    assert accepted(validate_tag, tag) == oracle_tag(tag)


def test_oracles_agree_on_the_examples():
    assert all(oracle_repository(n) for n in VALID_REPOS)
    assert not any(oracle_repository(n) for n in INVALID_REPOS if isinstance(n, str))


@pytest.mark.parametrize('value,base_url,name', [
    ('registry.example.com', 'https://registry.example.com', 'registry.example.com'),
    ('registry.example.com:5000', 'https://registry.example.com:5000', 'registry.example.com:5000'),
    ('https://r.example:443/', 'https://r.example:443', 'r.example:443'),
    ('http://127.0.0.1:5000', 'http://127.0.0.1:5000', '127.0.0.1:5000'),
    ('[::1]:5000', 'https://[::1]:5000', '[::1]:5000'),
    ('docker.io', 'https://registry-1.docker.io', 'docker.io'),
    ('Registry.Example.com', 'https://registry.example.com', 'registry.example.com'),
])
def test_parse_registry(value, base_url, name):
    address = parse_registry(value)
    assert address.base_url == base_url
    assert address.name == name


@pytest.mark.parametrize('value,message', [
    ('', 'empty'),
    ('registry.example.com/team', 'contains a path'),
    ('https://registry.example.com/v2/', 'contains a path'),
    ('ftp://registry.example.com', 'scheme'),
    ('https://user:pw@registry.example.com', 'must not contain credentials'),
    ('https://registry.example.com?x=1', 'path or query'),
    ('registry.example.com:99999', 'not a valid address'),
    ('bad_host!:5000', 'not a valid host name'),
])
def test_parse_registry_rejects(value, message):
    with pytest.raises(InvalidInputError, match=message) as err:
        parse_registry(value)
    assert 'pw' not in str(err.value).replace('path', '')


def test_same_origin():
    address = parse_registry('r.example:5000')
    assert address.same_origin('https://r.example:5000/v2/x/tags/list?last=a')
    assert not address.same_origin('https://evil.example/v2/x/tags/list')
    assert not address.same_origin('http://r.example:5000/v2/')


HERE = parse_registry('r.example:5000')


@pytest.mark.parametrize('value,expected', [
    ('v1.0.0-amd64', ('r.example:5000', None, 'v1.0.0-amd64')),
    ('sha256:' + 'a' * 64, ('r.example:5000', None, 'sha256:' + 'a' * 64)),
    ('team/app:v1', ('r.example:5000', 'team/app', 'v1')),
    ('team/app@sha256:' + 'b' * 64, ('r.example:5000', 'team/app', 'sha256:' + 'b' * 64)),
    ('r.example:5000/team/app:v1', ('r.example:5000', 'team/app', 'v1')),
    ('R.EXAMPLE:5000/team/app:v1', ('r.example:5000', 'team/app', 'v1')),
    ('app:v1', ('r.example:5000', 'app', 'v1')),
    ('staging.example/team/app:v1', ('staging.example', 'team/app', 'v1')),
    ('r.example:5001/team/app@sha256:' + 'c' * 64, ('r.example:5001', 'team/app', 'sha256:' + 'c' * 64)),
])
def test_parse_any_reference(value, expected):
    registry, repository, reference = parse_any_reference(value, HERE)
    assert (registry.name, repository, reference) == expected
    assert (registry is HERE) == (expected[0] == 'r.example:5000')


@pytest.mark.parametrize('value,message', [
    ('team/app', 'no tag or digest'),
    ('Team/App:v1', 'invalid repository name'),
    ('other.example/Team/app:v1', 'invalid repository name'),
    ('team/app:-bad', 'invalid tag'),
    ('', 'empty'),
])
def test_parse_any_reference_rejects(value, message):
    with pytest.raises(InvalidInputError, match=message):
        parse_any_reference(value, HERE)


# ------------------------------------------------------------------ references: round trip and refusal

def format_reference(registry, repository, reference):
    """The text of a reference, as users and error messages write it."""
    return '%s/%s%s%s' % (registry, repository, '@' if ':' in reference else ':', reference)


hosts = st.sampled_from(['r.example:5000', 'R.Example:5000', 'staging.example', 'localhost:5000', 'localhost:5001',
                         '127.0.0.1:5001', '[::1]:5000', 'registry.example.com:443', 'docker.io'])
# Built from the grammar's parts (st.from_regex is slow here): components of lower-case runs joined by separators.
_alnum = st.text(alphabet='abcdefghijklmnopqrstuvwxyz0123456789', min_size=1, max_size=6)
_component = st.builds(lambda first, rest: first + ''.join(sep + run for sep, run in rest),
                       _alnum, st.lists(st.tuples(st.sampled_from(['.', '_', '__', '-', '---']), _alnum), max_size=3))
repositories = st.lists(_component, min_size=1, max_size=4).map('/'.join)
tags = st.builds(lambda first, rest: first + rest, st.sampled_from('aZ9_'),
                 st.text(alphabet='abcXYZ0189_.-', max_size=20) | st.just('x' * 127))
digests = (st.text(alphabet='0123456789abcdef', min_size=64, max_size=64).map(lambda hex_: 'sha256:' + hex_)
           | st.text(alphabet='0123456789abcdef', min_size=128, max_size=128).map(lambda hex_: 'sha512:' + hex_))


@settings(max_examples=200, deadline=None)
@given(hosts, repositories, tags | digests)
def test_property_a_reference_parses_back_to_what_was_written(host, repository, reference):
    """Every part valid by construction (checked against the grammar's regular expressions):
    parse(format(registry, repository, reference)) gives them back (the host in its canonical form), the formatted
    result of that parses to the same again, and a reference on this registry is this registry's address."""
    assert REPOSITORY_RE.match(repository) and (TAG_RE.match(reference) or ':' in reference)
    registry, name, ref = parse_any_reference(format_reference(host, repository, reference), HERE)
    assert (registry.name, name, ref) == (parse_registry(host).name, repository, reference)
    again = parse_any_reference(format_reference(registry.name, name, ref), HERE)
    assert (again[0].name, again[1], again[2]) == (registry.name, name, ref)
    assert (registry is HERE) == (parse_registry(host).name == HERE.name)


@settings(max_examples=200, deadline=None)
@given(repositories.filter(lambda name: '.' not in name.split('/')[0] and name.split('/')[0] != 'localhost'), tags | digests)
def test_property_a_reference_without_a_registry_is_on_this_one(repository, reference):
    """``team/app:v1`` is on the registry at hand, unless its first component reads as a host (a dot, a port,
    localhost), as in Docker's grammar."""
    text = '%s%s%s' % (repository, '@' if ':' in reference else ':', reference)
    registry, name, ref = parse_any_reference(text, HERE)
    assert (registry, name, ref) == (HERE, repository, reference)


def oracle_digest(text):
    algorithm, _sep, encoded = text.partition(':')
    return {'sha256': 64, 'sha512': 128}.get(algorithm) == len(encoded) and set(encoded) <= set('0123456789abcdef')


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='ab09._-/A', max_size=30) | repositories,
       st.text(alphabet='aZ09_.-+', max_size=20).map(lambda tag: ':' + tag) | tags.map(lambda tag: ':' + tag)
       | digests.map(lambda digest: '@' + digest)
       | st.builds(lambda algorithm, encoded: '@%s:%s' % (algorithm, encoded), st.sampled_from(['sha256', 'sha512', 'md5', 'SHA256']),
                   st.text(alphabet='0123456789abcdefABCDEFg', min_size=60, max_size=130) | st.just('a' * 64)))
def test_property_a_reference_is_refused_exactly_when_the_grammar_refuses_a_part(repository, suffix):
    """``host/<repository>:<tag>`` or ``host/<repository>@<digest>`` with parts from near-miss alphabets: accepted
    exactly when the hand-written oracles accept each part, refused with InvalidInputError otherwise."""
    value = 'r.example:5000/' + repository + suffix
    if suffix.startswith(':'):
        expected = oracle_repository(repository) and oracle_tag(suffix[1:])
    else:
        expected = oracle_repository(repository) and oracle_digest(suffix[1:])
    assert accepted(lambda text: parse_any_reference(text, HERE), value) == expected, value
