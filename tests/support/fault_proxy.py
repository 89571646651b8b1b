"""A fault-injecting HTTPS proxy on loopback, between the modules and a real registry.

It forwards every request to the registry unchanged (the Host header too, so the registry's upload URLs point back
at the proxy) and, on the requests a ``Fault`` selects, answers with an error status, a 429 with ``Retry-After``, a
reset connection, a stall, or a body cut short. Nothing about the registry is simulated: the faults are the
network's and the load balancer's, and everything that is not faulted is the registry's own answer.
"""

import http.client
import os
import re
import socket
import ssl
import struct
import threading
import time

from tests.support.loopback import LoopbackServer
from tests.support.registry import make_ca, make_server_cert

# What each kind does. "before": the registry never sees the request. "after": the registry did the work and the
# client does not learn it (the hardest case: a write that happened, reported as a failure).
KINDS = {
    'status': 'answer an error status (500, 502, 503) without forwarding',
    'throttle': 'answer 429 with Retry-After without forwarding',
    'reset': 'reset the connection before forwarding',
    'reset_after': 'forward, then reset the connection instead of answering',
    'stall': 'forward, then hold the answer longer than the client waits, then close',
    'truncate': 'forward, then send the headers and half of the body, then close',
    'delay': 'hold the request for a while, then forward it and answer normally (a slow link)',
}

# What the fault suite did, printed at the end of the test session (tests/integration/conftest.py).
REPORT = {'injected': 0, 'survived': 0, 'failed_clearly': 0, 'runs': 0, 'kept_lost': 0, 'restarts': 0,
          'restart_outcomes': [], 'races': []}


class Fault(object):
    """Fault ``kind`` on requests whose method is in ``methods`` and whose path matches ``path`` (a regex searched
    in the path with its query): the first ``skip`` such requests pass, the next ``times`` are faulted."""

    def __init__(self, kind, methods=None, path='', times=1, skip=0, status=503, retry_after=1, stall=None):
        assert kind in KINDS, kind
        self.kind = kind
        self.methods = set(methods) if methods else None
        self.path = re.compile(path)
        self.times = times
        self.skip = skip
        self.status = status
        self.retry_after = retry_after
        self.stall = stall
        self.seen = 0

    def take(self, method, path):
        """Whether this request is faulted (and counts it)."""
        if self.methods is not None and method not in self.methods:
            return False
        if not self.path.search(path):
            return False
        self.seen += 1
        return self.skip < self.seen <= self.skip + self.times

    def __repr__(self):
        methods = ','.join(sorted(self.methods or ['*']))
        return 'Fault(%s %s %s x%d after %d)' % (self.kind, methods, self.path.pattern, self.times, self.skip)


class FaultProxy(object):
    """HTTPS on 127.0.0.1:<port> with a CA of its own (``ca_path``), forwarding to ``upstream`` (a TestRegistry)."""

    __test__ = False

    def __init__(self, upstream, workdir, client_timeout=3.0):
        self.upstream = upstream
        self.client_timeout = client_timeout
        self.faults = []
        self.injected = []  # (kind, method, path) of every fault injected
        self.forwarded = []  # (method, path, status) of every request the registry answered through the proxy
        self._lock = threading.Lock()
        os.makedirs(workdir, exist_ok=True)
        self.ca_path, ca_key, ca_cert = make_ca(workdir, name='regops fault proxy CA')
        self.server = LoopbackServer(self._handle, tls=make_server_cert(workdir, ca_key, ca_cert))
        self.server.httpd.handle_error = lambda request, address: None  # a reset's aftermath is expected here
        self._upstream_context = ssl.create_default_context(cafile=upstream.ca_path) if upstream.tls else None

    # -- control
    @property
    def host(self):
        return self.server.host

    def start(self):
        self.server.start()
        return self

    def stop(self):
        self.server.stop()

    def connection(self, **options):
        """A module's connection options through the proxy (its CA), with the registry's credentials."""
        return dict({'registry': self.host, 'ca_path': self.ca_path, 'username': self.upstream.username,
                     'password': self.upstream.password}, **options)

    def inject(self, *faults):
        """Replace the faults in force; returns them, to read ``seen`` afterwards."""
        with self._lock:
            self.faults = list(faults)
        return faults

    def clear(self):
        self.inject()

    def _pick(self, method, path):
        with self._lock:
            for fault in self.faults:
                if fault.take(method, path):
                    self.injected.append((fault.kind, method, path))
                    return fault
        return None

    # -- serving
    def _read_body(self, handler):
        if handler.headers.get('Transfer-Encoding', '').lower() == 'chunked':
            parts = []
            while True:
                size = int(handler.rfile.readline().split(b';')[0].strip() or b'0', 16)
                if size == 0:
                    while handler.rfile.readline() not in (b'\r\n', b'\n', b''):
                        pass
                    return b''.join(parts)
                parts.append(handler.rfile.read(size))
                handler.rfile.readline()
        length = int(handler.headers.get('Content-Length') or 0)
        return handler.rfile.read(length) if length else b''

    def _forward(self, handler, body):
        if self.upstream.tls:
            conn = http.client.HTTPSConnection('127.0.0.1', self.upstream.port, context=self._upstream_context, timeout=120)
        else:
            conn = http.client.HTTPConnection('127.0.0.1', self.upstream.port, timeout=120)
        headers = dict((k, v) for k, v in handler.headers.items()
                       if k.lower() not in ('transfer-encoding', 'content-length', 'connection'))
        if body or handler.command in ('PUT', 'POST', 'PATCH'):
            headers['Content-Length'] = str(len(body))
        conn.request(handler.command, handler.path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, response.reason, response.getheaders(), data

    def _reset(self, handler):
        """Close with RST (SO_LINGER 0): the client sees "connection reset by peer"."""
        raw = handler.connection
        try:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        except OSError:
            pass
        handler.close_connection = True
        try:
            # Not unwrap(): that would send a TLS close_notify first, a polite end instead of a reset.
            socket.socket.close(raw)
        except OSError:
            pass

    def _answer(self, handler, status, reason, headers, data, cut=False):
        handler.send_response_only(status, reason)
        for key, value in headers:
            if key.lower() in ('transfer-encoding', 'connection', 'content-length'):
                continue
            handler.send_header(key, value)
        handler.send_header('Content-Length', str(len(data)))
        if cut:
            handler.send_header('Connection', 'close')
        handler.end_headers()
        if handler.command != 'HEAD':
            handler.wfile.write(data[:len(data) // 2] if cut else data)
        handler.wfile.flush()
        if cut:
            handler.close_connection = True
            self._reset(handler)

    def _handle(self, handler):
        body = self._read_body(handler)
        fault = self._pick(handler.command, handler.path)
        kind = fault.kind if fault else None
        if kind == 'status':
            error = b'{"errors":[{"code":"UNAVAILABLE","message":"injected by the fault proxy"}]}'
            return self._answer(handler, fault.status, 'Injected', [('Content-Type', 'application/json')], error)
        if kind == 'throttle':
            error = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"injected by the fault proxy"}]}'
            return self._answer(handler, 429, 'Too Many Requests', [('Content-Type', 'application/json'),
                                                                    ('Retry-After', str(fault.retry_after))], error)
        if kind == 'reset':
            return self._reset(handler)
        if kind == 'delay':
            time.sleep(fault.stall)
        try:
            status, reason, headers, data = self._forward(handler, body)
        except (OSError, http.client.HTTPException):
            # The registry is down (restarting): a load balancer's answer.
            error = b'{"errors":[{"code":"UNAVAILABLE","message":"the fault proxy cannot reach the registry"}]}'
            return self._answer(handler, 502, 'Bad Gateway', [('Content-Type', 'application/json')], error)
        with self._lock:
            self.forwarded.append((handler.command, handler.path, status))
        if kind == 'reset_after':
            return self._reset(handler)
        if kind == 'stall':
            time.sleep(fault.stall if fault.stall is not None else self.client_timeout * 2 + 1)
            return self._reset(handler)
        cut = kind == 'truncate' and handler.command != 'HEAD' and len(data) > 1
        return self._answer(handler, status, reason, headers, data, cut=cut)
