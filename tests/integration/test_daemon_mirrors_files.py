"""regops.registry.daemon_mirrors on the files it merges, run on localhost against scratch copies (the engine is
not restarted here; the Molecule scenario does that on a real host): daemon.json keeps every key the role does
not own, a null option removes its key, a rerun writes nothing, absent takes the role's entries back out; the
Docker client configuration keeps its other registries."""

import base64
import json
import os
import subprocess
import tomllib

import pytest


@pytest.fixture
def files(workdir, request):
    base = os.path.join(workdir, 'daemon-mirrors', request.node.name)
    os.makedirs(base, exist_ok=True)
    daemon = os.path.join(base, 'daemon.json')
    client = os.path.join(base, 'docker', 'config.json')
    with open(daemon, 'w') as f:
        json.dump({'storage-driver': 'overlay2', 'debug': True, 'registry-mirrors': ['https://old.example.com']}, f)
    os.makedirs(os.path.dirname(client))
    with open(client, 'w') as f:
        json.dump({'auths': {'other.example.com': {'auth': 'b3RoZXI6c2VjcmV0'}}, 'credsStore': 'pass'}, f)
    return daemon, client


def run_role(ansible, daemon, client, check=False, **variables):
    settings = {'daemon_mirrors_docker_config': daemon, 'daemon_mirrors_docker_client_config': client,
                'daemon_mirrors_restart_docker': False}
    settings.update(variables)
    run = ansible.role('regops.registry.daemon_mirrors', settings, check=check, diff=True, extra_args=['-vvv'])
    assert run.rc == 0, run.stdout[-4000:]
    return run


def changed(run):
    return int(run.stdout.rsplit('changed=', 1)[1].split()[0])


def load(path):
    with open(path) as f:
        return json.load(f)


def test_daemon_json_is_merged_and_taken_back_out(ansible, files):
    daemon, client = files
    wanted = dict(daemon_mirrors_registry_mirrors=['https://mirror.example.com:5000'],
                  daemon_mirrors_insecure_registries=['build.internal:5000'],
                  daemon_mirrors_daemon_options={'max-concurrent-downloads': 10, 'debug': None},
                  daemon_mirrors_logins=[{'registry': 'registry.example.com:5000', 'username': 'ci',
                                          'password': 'ci-password'}])
    first = run_role(ansible, daemon, client, **wanted)
    assert load(daemon) == {'storage-driver': 'overlay2', 'registry-mirrors': ['https://mirror.example.com:5000'],
                            'insecure-registries': ['build.internal:5000'], 'max-concurrent-downloads': 10}
    config = load(client)
    assert config['credsStore'] == 'pass'
    assert config['auths'] == {'other.example.com': {'auth': 'b3RoZXI6c2VjcmV0'},
                               'registry.example.com:5000': {'auth': base64.b64encode(b'ci:ci-password').decode()}}
    assert oct(os.stat(client).st_mode & 0o777) == '0o600'
    assert 'ci-password' not in first.stdout and base64.b64encode(b'ci:ci-password').decode() not in first.stdout

    mtime = os.stat(daemon).st_mtime_ns
    rerun = run_role(ansible, daemon, client, **wanted)
    assert changed(rerun) == 0, rerun.stdout[-3000:]
    assert os.stat(daemon).st_mtime_ns == mtime

    run_role(ansible, daemon, client, daemon_mirrors_state='absent', **wanted)
    assert load(daemon) == {'storage-driver': 'overlay2'}
    assert load(client)['auths'] == {'other.example.com': {'auth': 'b3RoZXI6c2VjcmV0'}}


def test_same_content_in_another_layout_is_not_rewritten(ansible, files):
    daemon, client = files
    with open(daemon, 'w') as f:
        f.write('{"registry-mirrors":["https://mirror.example.com:5000"],\n "storage-driver":"overlay2"}')
    run = run_role(ansible, daemon, client, daemon_mirrors_registry_mirrors=['https://mirror.example.com:5000'])
    assert changed(run) == 0, run.stdout[-3000:]


def test_lists_not_given_are_left_alone_and_an_empty_one_removes_its_key(ansible, files):
    daemon, client = files
    run = run_role(ansible, daemon, client, daemon_mirrors_daemon_options={'live-restore': True})
    assert load(daemon) == {'storage-driver': 'overlay2', 'debug': True, 'live-restore': True,
                            'registry-mirrors': ['https://old.example.com']}
    assert changed(run) == 1
    run_role(ansible, daemon, client, daemon_mirrors_registry_mirrors=[])
    assert load(daemon) == {'storage-driver': 'overlay2', 'debug': True, 'live-restore': True}


def test_check_mode_writes_nothing(ansible, files):
    daemon, client = files
    before = (open(daemon).read(), open(client).read())
    run = run_role(ansible, daemon, client, check=True, daemon_mirrors_registry_mirrors=['https://m.example.com'],
                   daemon_mirrors_logins=[{'registry': 'r.example.com', 'username': 'u', 'password': 'p4ssw0rd-x'}])
    # daemon.json, the client configuration, and its directory's mode (0755 here, 0700 wanted)
    assert changed(run) == 3, '\n'.join(line[:90] for line in run.stdout.splitlines() if line.startswith(('TASK', 'changed')))
    assert (open(daemon).read(), open(client).read()) == before


def test_containerd_hosts_and_a_new_configuration_file(ansible, files, workdir):
    """A host without config.toml gets one at version 2 that containerd itself reads with config_path set; each
    hosts.toml parses as TOML and names the mirror, its CA and the registry."""
    daemon, client = files
    base = os.path.dirname(daemon)
    config, certs = os.path.join(base, 'containerd', 'config.toml'), os.path.join(base, 'certs.d')
    os.makedirs(os.path.dirname(config))
    ca = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----'
    settings = dict(daemon_mirrors_docker=False, daemon_mirrors_containerd=True,
                    daemon_mirrors_restart_containerd=False,
                    daemon_mirrors_containerd_config=config, daemon_mirrors_containerd_certs_dir=certs,
                    daemon_mirrors_trust=[{'registry': 'mirror.example.com:5000', 'ca_certificate': ca}],
                    daemon_mirrors_containerd_hosts=[{'registry': 'docker.io', 'mirrors': [
                        {'url': 'https://mirror.example.com:5000', 'skip_verify': 'false'}]}])
    run_role(ansible, daemon, client, **settings)
    dump = subprocess.run(['containerd', '--config', config, 'config', 'dump'], capture_output=True, text=True,
                          check=True).stdout
    assert 'config_path = "%s"' % certs in dump
    with open(os.path.join(certs, 'docker.io', 'hosts.toml'), 'rb') as f:
        hosts = tomllib.load(f)
    assert hosts == {'server': 'https://registry-1.docker.io',
                     'host': {'https://mirror.example.com:5000': {
                         'capabilities': ['pull', 'resolve'],
                         'ca': os.path.join(certs, 'mirror.example.com:5000', 'ca.crt')}}}
    with open(os.path.join(certs, 'mirror.example.com:5000', 'hosts.toml'), 'rb') as f:
        assert tomllib.load(f) == {'server': 'https://mirror.example.com:5000',
                                   'ca': os.path.join(certs, 'mirror.example.com:5000', 'ca.crt')}
    assert changed(run_role(ansible, daemon, client, **settings)) == 0
    run_role(ansible, daemon, client, daemon_mirrors_state='absent', **settings)
    assert not os.path.exists(os.path.join(certs, 'docker.io'))
    assert 'regops' not in open(config).read()
