"""A real registry:2 for tests and the demo: TLS from a generated CA, htpasswd (bcrypt) auth, loopback port.

Everything here talks to real processes (docker, the registry, skopeo); nothing is mocked.
"""

import datetime
import ipaddress
import json
import os
import secrets
import subprocess
import time
import warnings

import bcrypt
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

IMAGE = os.environ.get('REGOPS_TEST_REGISTRY_IMAGE', 'registry:2')


def docker(*args, check=True, input=None):
    proc = subprocess.run(['docker'] + list(args), input=input, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError('docker %s failed (%d): %s' % (' '.join(args[:3]), proc.returncode, proc.stderr.strip()))
    return proc.stdout.strip()


def _write_key(key, path):
    with open(path, 'wb') as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    os.chmod(path, 0o600)


def make_ca(directory, name='regops test CA'):
    """A self-signed CA; returns (cert_path, key, cert)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    path = os.path.join(directory, 'ca.crt')
    with open(path, 'wb') as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return path, key, cert


def make_server_cert(directory, ca_key, ca_cert, names=('localhost',), ips=('127.0.0.1',), valid_days=30):
    """A server certificate signed by the CA, valid for ``valid_days`` from now; a negative number gives one that
    expired that many days ago (valid for a day before that)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    not_after = now + datetime.timedelta(days=valid_days)
    not_before = min(now - datetime.timedelta(minutes=5), not_after - datetime.timedelta(days=1))
    san = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path = os.path.join(directory, 'server.crt')
    key_path = os.path.join(directory, 'server.key')
    with open(cert_path, 'wb') as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, key_path)
    return cert_path, key_path


class TestRegistry(object):
    """One registry:2 container on 127.0.0.1:<random port>."""

    __test__ = False  # not a pytest test class

    def __init__(self, workdir, tls=True, auth=True, delete=True, users=None, token_server=None, env=None, ips=(),
                 cert_valid_days=30):
        """``auth`` is htpasswd (basic); with ``token_server`` (a TokenServer) the registry wants its bearer tokens.
        ``env`` adds REGISTRY_* settings to the container's environment; ``ips`` more addresses for its certificate;
        ``cert_valid_days`` how long that certificate is valid (negative: expired, see make_server_cert)."""
        self.cert_valid_days = cert_valid_days
        self.ips = ('127.0.0.1',) + tuple(ips)
        self.workdir = workdir
        self.tls = tls
        self.auth = auth or token_server is not None
        self.token_server = token_server
        self.delete = delete
        self.env = dict(env or {})
        self.username = 'regops'
        self.password = 'pw-' + secrets.token_urlsafe(18)
        self.users = dict(users or {})
        if auth:
            self.users.setdefault(self.username, self.password)
        self.container = None
        self.name = None
        self.port = None
        self.ca_path = None

    # -- lifecycle
    def start(self):
        os.makedirs(self.workdir, exist_ok=True)
        certs = os.path.join(self.workdir, 'certs')
        os.makedirs(certs, exist_ok=True)
        config = {
            'version': 0.1,
            'log': {'level': 'info', 'accesslog': {'disabled': False}, 'fields': {'service': 'registry'}},
            'storage': {'filesystem': {'rootdirectory': '/var/lib/registry'}, 'delete': {'enabled': self.delete},
                        'cache': {'blobdescriptor': 'inmemory'}},
            'http': {'addr': ':5000', 'headers': {'X-Content-Type-Options': ['nosniff']}},
        }
        mounts = ['-v', '%s:/certs:ro' % certs]
        if self.tls:
            if self.token_server is not None:  # one private CA for the registry and its token service
                self.ca_path, ca_key, ca_cert = self.token_server.ca
            else:
                self.ca_path, ca_key, ca_cert = make_ca(certs)
            make_server_cert(certs, ca_key, ca_cert, ips=self.ips, valid_days=self.cert_valid_days)
            config['http']['tls'] = {'certificate': '/certs/server.crt', 'key': '/certs/server.key'}
            # The registry runs as root in the container; the key stays 0600.
        if self.token_server is not None:
            with open(self.token_server.root_path, 'rb') as src, open(os.path.join(certs, 'token-root.crt'), 'wb') as dst:
                dst.write(src.read())
            self.token_server.users.setdefault(self.username, (self.password, {'pull', 'push', 'delete'}))
            config['auth'] = {'token': {'realm': self.token_server.realm, 'service': 'regops-test-registry',
                                        'issuer': 'regops-test-issuer', 'rootcertbundle': '/certs/token-root.crt'}}
        elif self.auth:
            with open(os.path.join(certs, 'htpasswd'), 'w') as f:
                for user, password in self.users.items():
                    f.write('%s:%s\n' % (user, bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()))
            config['auth'] = {'htpasswd': {'realm': 'regops-test', 'path': '/certs/htpasswd'}}
        config_path = os.path.join(self.workdir, 'config.yml')
        with open(config_path, 'w') as f:
            json.dump(config, f)  # JSON is YAML
        self.name = name = 'regops-test-%s' % secrets.token_hex(4)
        self.container = docker('run', '-d', '--name', name, '--label', 'io.regops.test=1', '-p', '127.0.0.1::5000',
                                '-v', '%s:/etc/docker/registry/config.yml:ro' % config_path, *mounts, *self._env_args(), IMAGE)
        self.port = self._port()
        self.wait_ready()
        return self

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                # An expired certificate (cert_valid_days < 0) is what the test wants: readiness is checked past it.
                with warnings.catch_warnings():
                    warnings.simplefilter('ignore')  # the unverified request to such a registry
                    response = requests.get(self.url + '/v2/', verify=self.verify if self.cert_valid_days > 0 else False,
                                            timeout=2)
                if response.status_code in (200, 401):
                    return
                last = response.status_code
            except requests.RequestException as exc:
                last = exc
            time.sleep(0.2)
        raise RuntimeError('registry %s not ready: %s\n%s' % (self.host, last, self.logs()[-2000:]))

    def stop(self):
        if self.container:
            docker('rm', '-f', '-v', self.container, check=False)
            self.container = None

    def restart(self):
        docker('restart', '-t', '2', self.container)
        self.wait_ready()

    def _env_args(self):
        return [arg for key, value in sorted(self.env.items()) for arg in ('-e', '%s=%s' % (key, value))]

    def _port(self):
        return int(docker('port', self.container, '5000/tcp').splitlines()[0].rsplit(':', 1)[1])

    def started_again(self):
        """After something else restarted the container: its published port may have changed."""
        self.port = self._port()
        self.wait_ready()

    def garbage_collect(self, *flags):
        """Stop, ``registry garbage-collect <flags>`` with the registry's volumes and environment, start; its output.

        The tests use it for what the garbage_collect playbook never does (``--delete-untagged``)."""
        docker('stop', '-t', '5', self.container)
        try:
            command = (['docker', 'run', '--rm', '--volumes-from', self.container] + self._env_args()
                       + ['--entrypoint', '/bin/registry', IMAGE, 'garbage-collect'] + list(flags)
                       + ['/etc/docker/registry/config.yml'])
            proc = subprocess.run(command, capture_output=True, text=True, check=True)
        finally:
            docker('start', self.container)
            self.started_again()
        return proc.stdout + proc.stderr

    def blob_count(self):
        """How many blobs the registry's storage holds."""
        return int(docker('run', '--rm', '--volumes-from', self.container, '--entrypoint', '/bin/sh', IMAGE, '-c',
                          'find /var/lib/registry -path "*/v2/blobs/*" -name data | wc -l'))

    # -- facts
    @property
    def host(self):
        return '127.0.0.1:%d' % self.port

    @property
    def url(self):
        return '%s://%s' % ('https' if self.tls else 'http', self.host)

    @property
    def verify(self):
        return self.ca_path if self.tls else False

    @property
    def basic_auth(self):
        return (self.username, self.password) if self.auth else None

    def logs(self):
        proc = subprocess.run(['docker', 'logs', self.container], capture_output=True, text=True, check=False)
        return proc.stdout + proc.stderr

    def access_log(self, since_marker=None):
        """Requests the registry served, as (method, path, status), from its access log."""
        entries = []
        for line in self.logs().splitlines():
            # gorilla's combined log: 172.17.0.1 - - [date] "HEAD /v2/x/manifests/t HTTP/1.1" 200 0 "" "ua"
            if '"' not in line or ' HTTP/1.1" ' not in line:
                continue
            try:
                request = line.split('"')[1]
                method, path, _protocol = request.split(' ')
                status = int(line.split('"')[2].split()[0])
            except (IndexError, ValueError):
                continue
            entries.append((method, path, status))
        return entries

    # -- independent access (raw HTTP, not the collection's client)
    def raw(self, method, path, **kwargs):
        headers = dict(kwargs.pop('headers', {}))
        if self.token_server is None:
            return requests.request(method, self.url + path, auth=self.basic_auth, verify=self.verify, headers=headers,
                                    timeout=30, **kwargs)
        # Bearer: ask the issuer directly for every action on the repository in the path.
        name = path.split('/v2/', 1)[1].rsplit('/manifests/', 1)[0].rsplit('/tags/', 1)[0].rsplit('/blobs/', 1)[0]
        headers['Authorization'] = 'Bearer ' + self.token(name)
        return requests.request(method, self.url + path, verify=self.verify, headers=headers, timeout=30, **kwargs)

    def token(self, repository):
        """A bearer token from the issuer for every action on ``repository`` (token auth only)."""
        return requests.get(self.token_server.realm, auth=self.basic_auth, timeout=30, verify=self.ca_path, params={
            'service': 'regops-test-registry', 'scope': 'repository:%s:pull,push,delete' % repository}).json()['token']

    def cert_dir(self):
        """A directory skopeo and docker accept as a certs.d entry (ca.crt only)."""
        path = os.path.join(self.workdir, 'clientcerts')
        os.makedirs(path, exist_ok=True)
        if self.ca_path:
            with open(self.ca_path, 'rb') as src, open(os.path.join(path, 'ca.crt'), 'wb') as dst:
                dst.write(src.read())
        return path
