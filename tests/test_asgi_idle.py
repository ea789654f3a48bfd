"""What an idle WebSocket session costs in the asgi mode, on a real uvicorn.

An idle Engine.IO WebSocket on uvicorn should be uvicorn's own ASGI task
suspended in ``receive()`` and a few small objects: no task of ours (the
heartbeat is one timer for all sessions), no task left behind by a ping
round or by a session that ended, and a bounded number of bytes allocated
by this package per session.  uvicorn runs in a thread on 127.0.0.1 with a
WebSocket implementation that keeps no task of its own per connection
(``websockets-sansio`` or ``wsproto``), so that task counts are exact.
Clients are raw WebSockets on our framing kernel.  Skipped where uvicorn is
missing (PyPy).
"""
import asyncio
import importlib.util
import socket
import threading
import time

import pytest

from tests.asgi_helpers import OP_TEXT, RawWebSocket
from tests.loopback import TIMEOUT

uvicorn = pytest.importorskip('uvicorn')
tracemalloc = pytest.importorskip('tracemalloc')  # not on PyPy

import engineio  # noqa: E402

WS_TARGET = '/engine.io/?EIO=4&transport=websocket'
SESSIONS = 40
# bytes this package allocates per idle WebSocket session (see
# test_idle_session_memory_is_bounded): 5.5 KB before the outbox lost its
# deque and the driver its long-lived locals, ~4.0 KB after, ~2.2 KB once
# the core stopped keeping the handshake's environ
BYTES_PER_SESSION = 2700


def _ws_implementation():
    if importlib.util.find_spec('websockets') is not None:
        return 'websockets-sansio'
    if importlib.util.find_spec('wsproto') is not None:
        return 'wsproto'
    pytest.skip('uvicorn has no WebSocket implementation installed')


class Uvicorn:
    """``ASGIApp(eio)`` on uvicorn in a thread; ``call(fn)`` runs ``fn()`` on
    the server's loop and returns its result."""

    def __init__(self, **options):
        self.eio = engineio.AsyncServer(async_mode='asgi', **options)
        self.connected = threading.Semaphore(0)
        self.loop = None
        started = threading.Event()

        @self.eio.on('connect')
        def connect(sid, environ):
            self.connected.release()

        def startup():
            self.loop = asyncio.get_running_loop()
            started.set()

        app = engineio.ASGIApp(self.eio, on_startup=startup)
        self.listener = socket.socket()
        self.listener.bind(('127.0.0.1', 0))
        self.listener.listen(256)
        self.port = self.listener.getsockname()[1]
        config = uvicorn.Config(app, loop='asyncio', ws=_ws_implementation(),
                                ws_ping_interval=None, lifespan='on',
                                log_level='warning',
                                timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={'sockets': [self.listener]},
            daemon=True)
        self.thread.start()
        assert started.wait(TIMEOUT), 'lifespan startup did not run'

    def call(self, function):
        async def run():
            return function()
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(
            TIMEOUT)

    def tasks(self):
        """The number of tasks on the server's loop but the probe's."""
        return self.call(lambda: len(asyncio.all_tasks()) - 1)

    def sessions(self):
        return self.call(lambda: len(self.eio.sockets))

    def wait_for(self, predicate, what):
        deadline = time.monotonic() + TIMEOUT
        while not predicate():
            assert time.monotonic() < deadline, what
            time.sleep(0.02)

    def open(self, count):
        """``count`` WebSocket sessions, each past its OPEN packet and its
        connect handler."""
        clients = []
        for _ in range(count):
            ws = RawWebSocket(self.port, WS_TARGET)
            assert ws.status == 101
            opcode, data = ws.recv()
            assert opcode == OP_TEXT and data[:1] == '0', data
            clients.append(ws)
        for _ in range(count):
            assert self.connected.acquire(timeout=TIMEOUT)
        return clients

    def stop(self):
        self.server.should_exit = True
        self.thread.join(TIMEOUT)
        self.listener.close()


@pytest.fixture
def make_server():
    servers = []

    def make(**options):
        server = Uvicorn(**options)
        servers.append(server)
        return server
    yield make
    for server in servers:
        server.stop()


def close_all(server, clients):
    for ws in clients:
        ws.close()
    server.wait_for(lambda: server.sessions() == 0,
                    'the sessions did not end')


def test_idle_websocket_sessions_add_no_task(make_server):
    server = make_server()
    base = server.tasks()
    clients = server.open(SESSIONS)
    # uvicorn's ASGI task per connection, and nothing of ours
    assert server.tasks() - base == SESSIONS
    assert server.sessions() == SESSIONS
    close_all(server, clients)
    # no task outlives its session
    server.wait_for(lambda: server.tasks() == base,
                    'tasks left after the sessions ended')


def test_ping_rounds_leave_no_task_behind(make_server):
    server = make_server(ping_interval=0.2, ping_timeout=5)
    base = server.tasks()
    clients = server.open(SESSIONS)
    for _ in range(2):          # two rounds: every client pinged twice
        for ws in clients:
            opcode, data = ws.recv()
            assert (opcode, data) == (OP_TEXT, '2')
            ws.send('3')
    # the pongs kept every session open; what a ping round started is gone
    assert server.sessions() == SESSIONS
    server.wait_for(lambda: server.tasks() - base == SESSIONS,
                    'a ping round left tasks behind')
    close_all(server, clients)
    server.wait_for(lambda: server.tasks() == base,
                    'tasks left after the sessions ended')


def _engineio_bytes(snapshot):
    """Bytes allocated by this package's files in ``snapshot`` (not the
    kernels, which the test's clients use too)."""
    total = 0
    for stat in snapshot.statistics('filename'):
        name = stat.traceback[0].filename.replace('\\', '/')
        if '/engineio/' in name and '/_speedups/' not in name:
            total += stat.size
    return total


def test_idle_session_memory_is_bounded(make_server):
    server = make_server()
    warm = server.open(5)       # one-time costs: imports, caches
    tracemalloc.start()
    try:
        before = _engineio_bytes(tracemalloc.take_snapshot())
        clients = server.open(SESSIONS)
        after = _engineio_bytes(tracemalloc.take_snapshot())
    finally:
        tracemalloc.stop()
    per_session = (after - before) / SESSIONS
    # the session, its socket and outbox, the driver's WebSocket, the
    # coroutine frames an idle WebSocket is suspended in, its heartbeat
    # entry, and the environ its connect handler saw
    assert 500 < per_session <= BYTES_PER_SESSION, per_session
    close_all(server, warm + clients)
