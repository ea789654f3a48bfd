"""What the ``AsyncClient`` tests share, importable without aiohttp (the
tests of the client's own HTTP path run on PyPy, where it is missing).

``run`` (a bounded ``asyncio.run``), ``Recorder`` (a client that records
its messages and disconnects), ``no_task_left``, the ``certificate`` fixture
(a self-signed certificate for 127.0.0.1 made with the ``openssl`` CLI) and
``serve_embedded`` (our embedded server in a thread, CPython only).
"""
import asyncio
import contextlib
import shutil
import subprocess
import threading
import time

import pytest

import engineio
from tests.loopback import TIMEOUT


def run(coroutine, loop='asyncio'):
    """Run a test coroutine, bounded, on a new asyncio or uvloop loop."""
    async def bounded():
        return await asyncio.wait_for(coroutine, TIMEOUT + 10)
    if loop == 'uvloop':
        try:
            import uvloop
        except ImportError:
            coroutine.close()  # not to be awaited: no warning about it
            pytest.skip('uvloop is not installed')
        return uvloop.run(bounded())
    return asyncio.run(bounded())


#: the coroutines of the tasks that run a test (run()'s, uvloop.run's
#: wrapper, tests' own ``bounded``), not the client's
_OUTER = ('bounded', 'run.<locals>.wrapper')


async def no_task_left():
    """Every task but this one ends (handler tasks finish quickly)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        others = [t for t in asyncio.all_tasks()
                  if t is not asyncio.current_task() and
                  not t.get_coro().__qualname__.endswith(_OUTER)]
        if not others:
            return
        assert time.monotonic() < deadline, others
        await asyncio.wait(others, timeout=deadline - time.monotonic())


class Recorder:
    """An ``AsyncClient`` (``kwargs`` for it) whose ``message`` and
    ``disconnect`` events are recorded."""

    def __init__(self, **kwargs):
        kwargs.setdefault('handle_sigint', False)
        kwargs.setdefault('request_timeout', 3)
        self.client = engineio.AsyncClient(**kwargs)
        self.messages = []
        self.disconnects = []
        self.changed = asyncio.Event()
        self.client.on('message', self.on_message)
        self.client.on('disconnect', self.on_disconnect)

    async def on_message(self, data):
        self.messages.append(data)
        self.changed.set()

    def on_disconnect(self, reason):
        self.disconnects.append(reason)
        self.changed.set()

    async def wait_for(self, condition):
        deadline = time.monotonic() + TIMEOUT
        while not condition():
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(),
                                   deadline - time.monotonic())

    async def wait_disconnect(self):
        await self.wait_for(lambda: self.disconnects)
        await asyncio.wait_for(self.client.wait(), TIMEOUT)
        assert self.client.state == 'disconnected'
        for task in (self.client.read_loop_task, self.client.write_loop_task):
            if task is not None:
                await asyncio.wait([task], timeout=TIMEOUT)
                assert task.done()
        assert len(self.disconnects) == 1, self.disconnects
        return self.disconnects[0]


@pytest.fixture(scope='module')
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (and localhost):
    ``(certfile, keyfile)``."""
    openssl = shutil.which('openssl')
    if openssl is None:
        pytest.skip('no openssl command to make a certificate')
    folder = tmp_path_factory.mktemp('tls')
    cert, key = str(folder / 'cert.pem'), str(folder / 'key.pem')
    subprocess.run([openssl, 'req', '-x509', '-newkey', 'rsa:2048',
                    '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
                    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
                    '-keyout', key, '-out', cert],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def echo_server(**kwargs):
    """An ``AsyncServer`` (``kwargs`` for it) whose ``message`` handler
    sends the data back."""
    eio = engineio.AsyncServer(async_handlers=False, **kwargs)

    @eio.on('message')
    async def message(sid, data):
        await eio.send(sid, data)
    return eio


@contextlib.contextmanager
def serve_embedded(eio, **options):
    """Our embedded server (``engineio.embedded.serve``, ``options`` such
    as ``ssl`` passed on) for ``eio`` on 127.0.0.1 in a thread of its own;
    gives the port.  Skips where uvloop or httptools is missing."""
    pytest.importorskip('httptools')
    uvloop = pytest.importorskip('uvloop')
    from engineio.embedded import serve
    ready = threading.Event()
    holder = []

    def on_ready(server):
        holder.append(server)
        ready.set()

    thread = threading.Thread(target=lambda: uvloop.run(serve(
        eio, '127.0.0.1', 0, handle_signals=False, ready=on_ready,
        **options)), daemon=True)
    thread.start()
    try:
        assert ready.wait(TIMEOUT)
        yield holder[0].port
    finally:
        if holder:
            holder[0].request_shutdown()
        thread.join(TIMEOUT)


@contextlib.contextmanager
def serve_uvicorn(eio=None):
    """``engineio.ASGIApp(eio)`` (default: an echo server) on uvicorn on
    127.0.0.1 in a thread; gives the port.  Skips where uvicorn is
    missing."""
    uvicorn = pytest.importorskip('uvicorn')
    import socket
    if eio is None:
        eio = echo_server(async_mode='asgi')
    started = threading.Event()
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(128)
    server = uvicorn.Server(uvicorn.Config(
        engineio.ASGIApp(eio, on_startup=started.set), loop='asyncio',
        lifespan='on', log_level='warning', timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run,
                              kwargs={'sockets': [listener]}, daemon=True)
    thread.start()
    try:
        assert started.wait(TIMEOUT)
        yield listener.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(TIMEOUT)
        listener.close()


async def read_request(reader):
    """``(method, target, headers, body)`` of one HTTP/1.1 request read
    from a stream, or None at its end; a header sent twice fails the
    test."""
    try:
        head = await reader.readuntil(b'\r\n\r\n')
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return None
    lines = head.decode('utf-8').split('\r\n')[:-2]
    method, target, version = lines[0].split(' ')
    assert version == 'HTTP/1.1'
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(':')
        name = name.strip().lower()
        assert name not in headers, 'repeated header ' + name
        headers[name] = value.strip()
    body = await reader.readexactly(int(headers.get('content-length', 0)))
    return method, target, headers, body


class StreamServer:
    """An asyncio stream server on 127.0.0.1 (TLS with ``ssl_context``) as
    an async context manager: ``port``, ``url``; ``_serve(reader,
    writer)`` is the subclass's, and the tasks serving connections (kept
    in ``tasks``) are cancelled at the end."""

    def __init__(self, ssl_context=None):
        self.ssl_context = ssl_context
        self.connections = 0
        self.requests = []
        self.tasks = set()

    async def __aenter__(self):
        self.server = await asyncio.start_server(
            self._serve, '127.0.0.1', 0, ssl=self.ssl_context)
        self.port = self.server.sockets[0].getsockname()[1]
        self.url = '%s://127.0.0.1:%d' % (
            'https' if self.ssl_context else 'http', self.port)
        return self

    async def __aexit__(self, *exc):
        self.server.close()
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=TIMEOUT)
        await self.server.wait_closed()

    async def _serve(self, reader, writer):  # pragma: no cover
        raise NotImplementedError
