"""The one way the test suite serves HTTP itself (token issuer, fault proxy, fake servers): a threaded server on
127.0.0.1 at a free port, optionally behind TLS, handing every request to one function."""

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackServer(object):
    """Serves ``handle(request)`` (a BaseHTTPRequestHandler) for every method; ``tls`` is (cert path, key path)."""

    __test__ = False

    def __init__(self, handle, tls=None, protocol='HTTP/1.1'):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = protocol

            def log_message(self, *args):
                pass

            def _any(self):
                handle(self)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _any

        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def host(self):
        return '127.0.0.1:%d' % self.httpd.server_address[1]

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
