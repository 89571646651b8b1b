"""The client against a registry that wants bearer tokens (distribution `auth: token`) from a real issuer."""

import os

import pytest

from tests.integration.conftest import Images
from tests.integration.test_tag_set import FQCN, actions, assert_tags_point_at


@pytest.fixture(scope='module')
def token_images(token_registry, workdir):
    path = os.path.join(workdir, 'token-images')
    os.makedirs(path, exist_ok=True)
    return Images(token_registry, path)


def conn_of(registry, username=None, password=None):
    return {'registry': registry.host, 'ca_path': registry.ca_path,
            'username': username or registry.username, 'password': password or registry.password}


def test_tag_set_with_scoped_tokens(ansible, token_registry, token_images, issuer, repo):
    digest = token_images.push(repo, 'build')
    issuer.issued.clear()
    out = ansible.module(FQCN, dict(conn_of(token_registry), repository=repo, source='build', version='v2.0.0'))
    issued = list(issuer.issued)
    assert out.result['changed'] is True, out.result
    assert_tags_point_at(token_registry, repo, ['v2.0.0', 'v2.0', 'v2', 'latest'], digest)
    # One token for reading, then one for pull+push when the first write needs it: no token per request.
    assert issued == [(token_registry.username, ['repository:%s:pull' % repo], False),
                      (token_registry.username, ['repository:%s:pull,push' % repo], False)]
    rerun = ansible.module(FQCN, dict(conn_of(token_registry), repository=repo, source='build', version='v2.0.0'))
    assert rerun.result['changed'] is False


def test_wrong_password_at_token_service(ansible, token_registry, repo):
    out = ansible.module(FQCN, dict(conn_of(token_registry, password='wrong-password-x'), repository=repo, source='b',
                                    tags=['x']))
    assert out.result['error'] == 'AuthenticationError'
    assert "token service rejected the credentials of user 'regops'" in out.result['msg']
    assert 'wrong-password-x' not in out.stdout


def test_pull_only_user_cannot_tag(ansible, token_registry, token_images, repo):
    token_images.push(repo, 'build')
    out = ansible.module(FQCN, dict(conn_of(token_registry, 'reader', 'reader-pw-123'), repository=repo, source='build',
                                    tags=['nope']))
    assert out.result['failed'] is True
    assert out.result['error'] == 'AuthorizationError', out.result
    assert 'pull, push' in out.result['msg'] and token_registry.host in out.result['msg']
    reader_view = ansible.module('regops.registry.tag_set', dict(
        conn_of(token_registry, 'reader', 'reader-pw-123'), repository=repo, source='build', tags=['build']))
    assert reader_view.result['changed'] is False and actions(reader_view.result) == {'build': 'unchanged'}


def test_first_token_expired_on_the_registry_clock_is_fetched_again(ansible, token_registry, token_images, issuer, repo):
    digest = token_images.push(repo, 'build')
    issuer.issued.clear()
    issuer.expire = {0}
    out = ansible.module(FQCN, dict(conn_of(token_registry), repository=repo, source='build', tags=['after-refresh']))
    issued = list(issuer.issued)
    issuer.expire = set()
    assert out.result['changed'] is True, out.result
    assert_tags_point_at(token_registry, repo, ['after-refresh'], digest)
    pull = ['repository:%s:pull' % repo]
    # The registry refuses the expired token (invalid_token); the same scope is fetched again.
    assert issued[:2] == [(token_registry.username, pull, True), (token_registry.username, pull, False)]


def test_token_expiring_mid_run_is_fetched_again(ansible, token_registry, token_images, issuer, repo):
    digest = token_images.push(repo, 'build')
    issuer.issued.clear()
    issuer.expire = {1}  # reads succeed with the first token; the pull+push token is expired
    out = ansible.module(FQCN, dict(conn_of(token_registry), repository=repo, source='build', tags=['t1', 't2']))
    issued = list(issuer.issued)
    issuer.expire = set()
    assert out.result['changed'] is True, out.result
    assert_tags_point_at(token_registry, repo, ['t1', 't2'], digest)
    push = ['repository:%s:pull,push' % repo]
    assert issued == [(token_registry.username, ['repository:%s:pull' % repo], False),
                      (token_registry.username, push, True), (token_registry.username, push, False)]
