"""A small Docker registry token issuer for tests: basic-auth users, per-user actions, ES256 JWTs with x5c.

distribution verifies the token offline against `auth.token.rootcertbundle`; only clients talk to this server.
"""

import base64
import datetime
import json
import os
import secrets
import time
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from tests.support.loopback import LoopbackServer
from tests.support.registry import make_ca, make_server_cert

ISSUER = 'regops-test-issuer'
SERVICE = 'regops-test-registry'


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode()


class TokenServer(object):
    """Issues tokens to ``users`` ({name: (password, allowed actions)}) on https://127.0.0.1; the allowed actions
    are a set, or a function of the repository name that returns one.

    Its TLS certificate comes from a CA of its own (``ca``), which the registry started with it reuses, so one
    ``ca_path`` trusts both, as with a real deployment behind one private CA.
    """

    __test__ = False

    def __init__(self, workdir, users):
        self.users = users
        self.issued = []  # (user, [scopes], expired?)
        self.tokens = []  # every signed token handed out, in order (never cleared: tests search output for them)
        self.expire = set()  # positions in `issued` of tokens to hand out already expired
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
                     .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                     .not_valid_after(now + datetime.timedelta(days=30))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))
        os.makedirs(workdir, exist_ok=True)
        self.root_path = os.path.join(workdir, 'token-root.crt')
        with open(self.root_path, 'wb') as f:
            f.write(self.cert.public_bytes(serialization.Encoding.PEM))
        tls_dir = os.path.join(workdir, 'tls')
        os.makedirs(tls_dir, exist_ok=True)
        self.ca = make_ca(tls_dir, name='regops token test CA')
        self.server = LoopbackServer(self._handle, tls=make_server_cert(tls_dir, self.ca[1], self.ca[2]), protocol='HTTP/1.0')

    @property
    def realm(self):
        return 'https://%s/token' % self.server.host

    def start(self):
        self.server.start()
        return self

    def stop(self):
        self.server.stop()

    def _sign(self, user, access, expired):
        now = int(time.time())
        header = {'typ': 'JWT', 'alg': 'ES256',
                  'x5c': [base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()]}
        # An expired token is past distribution's 60 s leeway.
        exp = now - 300 if expired else now + 300
        claims = {'iss': ISSUER, 'sub': user, 'aud': SERVICE, 'exp': exp, 'nbf': now - 600, 'iat': now - 600,
                  'jti': secrets.token_hex(8), 'access': access}
        signing_input = '%s.%s' % (_b64url(json.dumps(header).encode()), _b64url(json.dumps(claims).encode()))
        r, s = decode_dss_signature(self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return '%s.%s' % (signing_input, _b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big')))

    def _handle(self, request):
        query = parse_qs(urlsplit(request.path).query)
        user = None
        header = request.headers.get('Authorization', '')
        if header.startswith('Basic '):
            name, _sep, password = base64.b64decode(header[6:]).decode().partition(':')
            if name in self.users and self.users[name][0] == password:
                user = name
            else:
                request.send_response(401)
                request.end_headers()
                return
        allowed = self.users[user][1] if user else set()
        access = []
        scopes = query.get('scope', [])
        for scope in scopes:
            kind, _sep, rest = scope.partition(':')
            name, _sep, actions = rest.rpartition(':')
            rights = allowed(name) if callable(allowed) else allowed
            granted = [a for a in actions.split(',') if a in rights]
            access.append({'type': kind, 'name': name, 'actions': granted})
        expired = len(self.issued) in self.expire
        self.issued.append((user, scopes, expired))
        token = self._sign(user or '', access, expired)
        self.tokens.append(token)
        body = json.dumps({'token': token, 'expires_in': 300}).encode()
        request.send_response(200)
        request.send_header('Content-Type', 'application/json')
        request.send_header('Content-Length', str(len(body)))
        request.end_headers()
        request.wfile.write(body)
