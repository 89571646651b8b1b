"""A TCP proxy that adds network latency: every chunk of bytes is passed on untouched, ``delay`` seconds after it
arrived, in each direction (so a round trip gains 2 x ``delay``). The kernel here has no netem; this stands in for it.

It also counts the bytes each direction carried, which tells how much a client really sent (layer bytes included),
whatever the client says. TLS goes through as it is: the client still talks to the registry's certificate.
"""

import asyncio
import threading


class LatencyProxy(object):
    """``listen``:<port> -> ``target`` (host, port), ``delay`` seconds per direction; run in a thread of its own."""

    def __init__(self, target, delay, listen='127.0.0.1'):
        self.target = target
        self.listen = listen
        self.delay = delay
        self.port = None
        self.sent = 0  # client -> registry
        self.received = 0  # registry -> client
        self._loop = None
        self._server = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self):
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    def reset(self):
        self.sent = self.received = 0

    def _run(self):
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, self.listen, 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, client_reader, client_writer):
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(self._pipe(client_reader, upstream_writer, 'sent'),
                             self._pipe(upstream_reader, client_writer, 'received'))

    async def _pipe(self, reader, writer, counter):
        """Read chunks as they come; a second task writes each one ``delay`` after it arrived, in order."""
        loop = asyncio.get_running_loop()
        queue = asyncio.Queue()

        async def deliver():
            while True:
                due, chunk = await queue.get()
                if chunk is None:
                    break
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                try:
                    writer.write(chunk)
                    await writer.drain()
                except (ConnectionError, OSError):
                    break
            try:
                writer.close()
            except (ConnectionError, OSError):  # pragma: no cover
                pass

        delivering = asyncio.ensure_future(deliver())
        try:
            while True:
                chunk = await reader.read(256 * 1024)
                if not chunk:
                    break
                setattr(self, counter, getattr(self, counter) + len(chunk))
                queue.put_nowait((loop.time() + self.delay, chunk))
        except (ConnectionError, OSError):
            pass
        queue.put_nowait((loop.time() + self.delay, None))
        await delivering
