"""regops.registry.server refuses bad settings before it changes anything, with a message that says what to do.
(The role's behaviour on a host is tested by its Molecule scenarios: tests/integration/test_molecule_scenarios.py.)"""

import os

import pytest
import yaml


def run_role(ansible, **variables):
    return ansible.role('regops.registry.server', variables)


@pytest.mark.parametrize('variables,message', [
    ({'server_tls': 'selfsigned', 'server_users': [{'name': 'a', 'password': 'b'}]},
     "value of server_tls must be one of: generate, provided, none, got: selfsigned"),
    ({'server_port': 'five thousand', 'server_users': [{'name': 'a', 'password': 'b'}]},
     'server_port'),
    ({'server_users': [{'name': 'a'}]},
     'missing required arguments: password found in server_users'),
    ({},
     'server_auth is htpasswd but server_users is empty: list at least one user, or set server_auth: none'),
    ({'server_users': [{'name': 'a', 'password': 'b'}, {'name': 'a', 'password': 'c'}]},
     'user names must be unique and contain no colon or white space'),
    ({'server_users': [{'name': 'a:b', 'password': 'b'}]},
     'user names must be unique and contain no colon or white space'),
    ({'server_users': [{'name': 'a', 'password': 'b'}], 'server_bcrypt_cost': 3},
     'server_bcrypt_cost must be between 4 and 31'),
    ({'server_auth': 'none', 'server_tls': 'provided'},
     'server_tls is provided: set server_tls_certificate and server_tls_private_key (PEM text)'),
    ({'server_auth': 'none', 'server_storage_driver': 's3'},
     'server_storage_driver s3 needs its settings in server_storage_options'),
    ({'server_auth': 'none', 'server_tls_renew_days': 400},
     'server_tls_renew_days must be less than server_tls_valid_days, and that less than server_tls_ca_valid_days'),
    ({'server_auth': 'none', 'server_bind_address': '[::1]'},
     'server_bind_address must be an IP address without brackets'),
])
def test_bad_settings_are_refused_first(ansible, variables, message):
    run = run_role(ansible, **variables)
    assert run.rc == 2, run.stdout[-3000:]
    text = ' '.join(run.stdout.split())
    assert message in text, text[-3000:]
    # Refused by the first task (argument validation or the checks that follow it): nothing ran after it.
    assert 'Install the Python libraries' not in run.stdout


def test_passwords_are_not_echoed_by_argument_validation(ansible):
    """A refused run at -vvv: argument validation echoes the role's variables, without the passwords."""
    run = ansible.role('regops.registry.server', {
        'server_users': [{'name': 'a', 'password': 'hunter2-secret'}],
        'server_http_secret': 'shared-http-secret', 'server_proxy_password': 'upstream-token',
        'server_tls': 'provided', 'server_tls_private_key': 'PRIVATE-KEY-TEXT'}, extra_args=['-vvv'])
    assert run.rc == 2
    assert 'server_tls is provided' in ' '.join(run.stdout.split())
    for secret in ('hunter2-secret', 'shared-http-secret', 'upstream-token', 'PRIVATE-KEY-TEXT'):
        assert secret not in run.stdout + run.stderr, secret


def test_config_yml_carries_storage_proxy_and_extra_settings(ansible, workdir):
    """config.yml as the role writes it: S3 settings passed through, delete enabled, the upstream of a cache,
    htpasswd and TLS paths inside the container, and server_extra_config merged over the rest."""
    config_dir = os.path.join(workdir, 'server-config')
    os.makedirs(config_dir, exist_ok=True)
    s3 = {'region': 'eu-west-1', 'bucket': 'images', 'regionendpoint': 'https://s3.internal:9000',
          'accesskey': 'AKIA', 'secretkey': 'not-shown'}
    run = ansible.role('regops.registry.server', {
        'server_config_dir': config_dir, '_server_http_secret': 'shared-secret', '_server_plan_only': False,
        'server_storage_driver': 's3', 'server_storage_options': s3,
        'server_proxy_remoteurl': 'https://registry-1.docker.io',
        'server_proxy_username': 'hub-user', 'server_proxy_password': 'hub-token',
        'server_extra_config': {'http': {'headers': {'X-Frame-Options': ['DENY']}}, 'log': {'formatter': 'json'}}},
        tasks_from='config', diff=True, extra_args=['-vvv'])
    assert run.rc == 0, run.stdout[-3000:]
    for secret in ('not-shown', 'shared-secret', 'hub-token'):
        assert secret not in run.stdout + run.stderr, secret
    with open(os.path.join(config_dir, 'config.yml')) as f:
        text = f.read()
    assert text.startswith('#\n# Ansible managed')
    config = yaml.safe_load(text)
    assert config['storage']['s3'] == s3 and 'filesystem' not in config['storage']
    assert config['storage']['delete'] == {'enabled': True}
    assert config['proxy'] == {'remoteurl': 'https://registry-1.docker.io', 'username': 'hub-user', 'password': 'hub-token'}
    assert config['auth'] == {'htpasswd': {'realm': 'Registry', 'path': '/etc/regops-registry/htpasswd'}}
    assert config['http']['tls'] == {'certificate': '/etc/regops-registry/tls/server.crt',
                                     'key': '/etc/regops-registry/tls/server.key'}
    assert config['http']['secret'] == 'shared-secret'
    assert config['http']['headers'] == {'X-Content-Type-Options': ['nosniff'], 'X-Frame-Options': ['DENY']}
    assert config['log'] == {'level': 'info', 'formatter': 'json', 'fields': {'service': 'registry'}}
    assert oct(os.stat(os.path.join(config_dir, 'config.yml')).st_mode & 0o777) == '0o600'
