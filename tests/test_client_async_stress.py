"""Stress and failure paths of ``AsyncClient`` on its own HTTP client (no
``http_session``): many clients at once, bursts of messages, kept-alive
connections the server closes, the upgrade on the polling connection
(stale, closed, refused, over TLS), ``disconnect()`` and cancellation at
awkward moments, sends from the connect handler, request timeouts,
redirects, heartbeats while polling; on the default loop and on uvloop.

Real peers on 127.0.0.1: our ``AsyncServer`` on the embedded server (in a
thread; CPython with uvloop and httptools) and on uvicorn, the JS engine.io
server (``tests/js/eio_server.js``), a TCP relay in front of them that can
make a connection stale, close it, or hold the WebSocket handshake, and a
scripted Engine.IO polling server on asyncio streams that does exactly what
a test needs (runs everywhere, PyPy included).  The tests check that the
disconnect handler ran once, ``wait()`` returns, no task is left and every
socket opened is closed again.  The tests of ``disconnect()`` and
cancellation during the handshake and the upgrade found five bugs, fixed
with them.
"""
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import ssl
import subprocess
import time
import urllib.parse

import pytest

import engineio
from tests import async_client_helpers as helpers
from tests.async_client_helpers import (certificate,  # noqa: F401
                                         echo_server, no_task_left,
                                         read_request, run,
                                         serve_embedded, serve_uvicorn)
from tests.loopback import JS_DIR, TIMEOUT, node

LOOPS = ['asyncio', 'uvloop']


def sockets():
    """The process's open sockets (other descriptors are left out: libuv
    keeps a /dev/null one, opened on its first listen, for ever)."""
    found = []
    for fd in os.listdir('/proc/self/fd'):
        try:
            if os.readlink('/proc/self/fd/' + fd).startswith('socket:'):
                found.append(fd)
        except OSError:  # closed meanwhile (listdir's own, for one)
            pass
    return found


def fd_baseline():
    return len(sockets()) if os.path.isdir('/proc/self/fd') else None


async def fds_back_to(baseline):
    """Every socket opened since ``baseline`` was counted is closed
    (servers in this process close theirs a little later: a bounded
    wait for that)."""
    if baseline is None:
        return
    deadline = time.monotonic() + TIMEOUT
    while len(sockets()) > baseline:
        assert time.monotonic() < deadline, (baseline, sockets())
        await asyncio.sleep(0.02)


class Recorder(helpers.Recorder):
    async def echo(self, messages):
        for data in messages:
            await self.client.send(data)
        await self.wait_for(lambda: len(self.messages) >= len(messages))
        assert self.messages == messages
        self.messages.clear()


# -- a scripted Engine.IO polling server -------------------------------------

def http_answer(status, body, connection_close=False, extra=()):
    lines = ['HTTP/1.1 %s' % status,
             'Content-Type: text/plain; charset=UTF-8',
             'Content-Length: %d' % len(body)]
    if connection_close:
        lines.append('Connection: close')
    lines.extend(extra)
    return ('\r\n'.join(lines) + '\r\n\r\n').encode() + body


def switching(headers):
    """A 101 answer to a WebSocket handshake with these headers."""
    accept = base64.b64encode(hashlib.sha1(
        (headers['sec-websocket-key'] +
         '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').encode()).digest())
    return (b'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n'
            b'Connection: Upgrade\r\nSec-WebSocket-Accept: ' + accept +
            b'\r\n\r\n')


class Session:
    def __init__(self):
        self.out = []
        self.closed = False
        self.wake = asyncio.Event()


class ScriptedEngineIO(helpers.StreamServer):
    """An Engine.IO polling server: the handshake, POSTs whose messages
    are echoed, GETs held until there is something to send (at most
    ``hold`` seconds, then a NOOP).

    ``stale``: a request of that method arriving on a connection that
    already served one is not answered, the connection is closed (what a
    server whose keep-alive timer fired as the request came does);
    ``close_after``: every connection is closed after its first answer,
    announced by ``Connection: close`` when ``connection_close``;
    ``upgrades``: what the handshake offers (a WebSocket request is
    refused with 400 on its kept-alive connection); ``post_gate``,
    ``handshake_gate`` and ``websocket_gate``: Events the answers to the
    POSTs, the handshake and the WebSocket request wait for;
    ``redirect``: ``(status, base URL)`` every request is redirected to;
    ``silent_websocket``: a WebSocket request is accepted (101), then
    nothing is ever sent on it; ``silent``: no request is answered."""

    def __init__(self, ssl_context=None, **options):
        super().__init__(ssl_context)
        self.stale = options.get('stale')
        self.close_after = options.get('close_after', False)
        self.connection_close = options.get('connection_close', False)
        self.upgrades = options.get('upgrades', [])
        self.post_gate = options.get('post_gate')
        self.handshake_gate = options.get('handshake_gate')
        self.websocket_gate = options.get('websocket_gate')
        self.silent_websocket = options.get('silent_websocket', False)
        self.silent = options.get('silent', False)
        self.switched = asyncio.Event()  # a WebSocket was accepted
        self.redirect = options.get('redirect')
        self.hold = options.get('hold', 5)
        self.sessions = {}
        self.arrived = asyncio.Event()  # a request arrived

    async def all_closed(self, within=TIMEOUT):
        """Every connection was closed by the client (bounded wait)."""
        deadline = time.monotonic() + within
        while self.tasks:
            assert time.monotonic() < deadline, (self.connections,
                                                 self.requests)
            await asyncio.sleep(0.02)

    def count(self, method, websocket=False):
        return sum(1 for m, target in self.requests if m == method and
                   ('transport=websocket' in target) == websocket)

    async def _serve(self, reader, writer):
        self.connections += 1
        self.tasks.add(asyncio.current_task())
        served = 0
        try:
            while True:
                request = await read_request(reader)
                if request is None:
                    break
                method, target = request[:2]
                self.requests.append((method, target))
                self.arrived.set()
                if served and self.stale == method:
                    break  # closed, unanswered
                served += 1
                if self.silent:
                    await reader.read()  # until the client closes
                    break
                if self.silent_websocket and \
                        'transport=websocket' in method + target:
                    writer.write(switching(request[2]))
                    self.switched.set()
                    await reader.read()  # until the client closes
                    break
                writer.write(await self._answer(*request))
                await writer.drain()
                if self.close_after:
                    break
        except (ConnectionError, asyncio.CancelledError, ssl.SSLError):
            pass
        finally:
            self.tasks.discard(asyncio.current_task())
            writer.close()

    def _http(self, status, body):
        return http_answer(status, body, self.connection_close)

    async def _answer(self, method, target, headers, body):
        if self.redirect is not None:
            status, base = self.redirect
            return http_answer(status, b'', extra=['Location: ' + base +
                                                   target])
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)
        if query.get('transport') == ['websocket']:
            if self.websocket_gate is not None:
                await self.websocket_gate.wait()
            return self._http('400 Bad Request',
                              b'{"code":3,"message":"Bad request"}')
        sid = query.get('sid', [None])[0]
        if sid is None:
            if self.handshake_gate is not None:
                await self.handshake_gate.wait()
            sid = 'sid%d' % len(self.sessions)
            self.sessions[sid] = Session()
            return self._http('200 OK', ('0' + json.dumps({
                'sid': sid, 'upgrades': self.upgrades,
                'pingInterval': 25000, 'pingTimeout': 20000,
                'maxPayload': 1000000})).encode())
        session = self.sessions.get(sid)
        if session is None or session.closed:
            return self._http('400 Bad Request',
                              b'{"code":1,"message":"Session ID unknown"}')
        if method == 'POST':
            if self.post_gate is not None:
                await self.post_gate.wait()
            for part in body.decode('utf-8').split('\x1e'):
                if part[:1] == '4':
                    session.out.append(part)
                elif part == '1':
                    session.closed = True
                session.wake.set()
            return self._http('200 OK', b'ok')
        if not session.out and not session.closed:
            session.wake.clear()
            try:
                await asyncio.wait_for(session.wake.wait(), self.hold)
            except asyncio.TimeoutError:
                pass
        packets, session.out = session.out or ['6'], []
        return self._http('200 OK', '\x1e'.join(packets).encode())


async def polling_echoes(rec, rounds=3):
    for i in range(rounds):
        await rec.echo(['round %d \u00e9' % i, 'second %d' % i])


@pytest.mark.parametrize('loop', LOOPS)
@pytest.mark.parametrize('behaviour', [
    {'close_after': True, 'connection_close': True},
    {'close_after': True},      # closed without saying so
    {'stale': 'GET'}])          # each reused connection dies under a GET
def test_server_closes_kept_alive_connections(behaviour, loop):
    """Polling goes on over new connections: the GET that met a stale
    connection is sent again on a new one."""
    async def main():
        baseline = fd_baseline()
        async with ScriptedEngineIO(**behaviour) as server:
            rec = Recorder()
            await rec.client.connect(server.url, transports=['polling'])
            await polling_echoes(rec)
            await rec.client.disconnect()
            assert rec.disconnects == [rec.client.reason.CLIENT_DISCONNECT]
            await asyncio.wait_for(rec.client.wait(), TIMEOUT)
            assert server.count('POST') >= 4  # the messages and the CLOSE
            if 'stale' in behaviour:
                # every GET on a reused connection was retried on a new one
                assert server.connections > server.count('POST')
        await no_task_left()
        await fds_back_to(baseline)

    run(main(), loop)


@pytest.mark.parametrize('loop', LOOPS)
def test_post_on_a_stale_connection_ends_the_session(loop):
    """A POST is never sent again (the server may have acted on it): the
    session ends with a transport error, once, and nothing hangs."""
    async def main():
        baseline = fd_baseline()
        # the GET held 0.5 s at most: the end of the session waits for it
        async with ScriptedEngineIO(stale='POST', hold=0.5) as server:
            rec = Recorder()
            await rec.client.connect(server.url, transports=['polling'])
            for i in range(5):
                if rec.disconnects:
                    break
                await rec.client.send('message %d' % i)
                await rec.wait_for(lambda: rec.disconnects or
                                   len(rec.messages) > i)
            reason = await rec.wait_disconnect()
            assert reason == rec.client.reason.TRANSPORT_ERROR
            stale_posts = server.count('POST')
            assert 1 <= stale_posts <= 5
        await no_task_left()
        await fds_back_to(baseline)

    run(main(), loop)


@pytest.mark.parametrize('loop', LOOPS)
def test_upgrade_refused_stays_on_polling(loop):
    """A 400 to the WebSocket request (made on the polling connection) is
    final: the session stays on polling and works."""
    async def main():
        baseline = fd_baseline()
        async with ScriptedEngineIO(upgrades=['websocket']) as server:
            rec = Recorder()
            await rec.client.connect(server.url)
            assert rec.client.transport() == 'polling'
            assert server.count('GET', websocket=True) == 1
            await polling_echoes(rec)
            await rec.client.disconnect()
            assert len(rec.disconnects) == 1
        await no_task_left()
        await fds_back_to(baseline)

    run(main(), loop)


@pytest.mark.parametrize('loop', LOOPS)
def test_post_timeout(loop):
    """A POST the server never answers: the session ends with a transport
    error after ``request_timeout``; disconnect() afterwards is a no-op."""
    async def main():
        baseline = fd_baseline()
        gate = asyncio.Event()  # never set
        async with ScriptedEngineIO(post_gate=gate, hold=0.5) as server:
            rec = Recorder(request_timeout=0.5)
            await rec.client.connect(server.url, transports=['polling'])
            await rec.client.send('never answered')
            reason = await rec.wait_disconnect()
            assert reason == rec.client.reason.TRANSPORT_ERROR
            await rec.client.disconnect()
            assert len(rec.disconnects) == 1
        await no_task_left()
        await fds_back_to(baseline)

    run(main(), loop)


@pytest.mark.parametrize('loop', LOOPS)
def test_disconnect_while_a_post_is_in_flight(loop):
    """disconnect() while the server holds a POST: it returns (once the
    POST is answered or timed out), the handler runs once, the same client
    connects again with a fresh queue."""
    async def main():
        baseline = fd_baseline()
        gate = asyncio.Event()
        async with ScriptedEngineIO(post_gate=gate) as server:
            rec = Recorder(request_timeout=2)
            await rec.client.connect(server.url, transports=['polling'])
            server.arrived.clear()
            await rec.client.send('held')
            while server.count('POST') == 0:
                server.arrived.clear()
                await asyncio.wait_for(server.arrived.wait(), TIMEOUT)
            ending = asyncio.ensure_future(rec.client.disconnect())
            await asyncio.sleep(0)
            gate.set()
            await asyncio.wait_for(ending, TIMEOUT)
            assert rec.disconnects == [rec.client.reason.CLIENT_DISCONNECT]
            await asyncio.wait_for(rec.client.wait(), TIMEOUT)
            # the same object again
            await rec.client.connect(server.url, transports=['polling'])
            await polling_echoes(rec, 1)
            await rec.client.disconnect()
            assert len(rec.disconnects) == 2
        await no_task_left()
        await fds_back_to(baseline)

    run(main(), loop)


def test_disconnect_during_the_handshake_returns():
    """disconnect() while connect() waits for the handshake answer: as in
    python-engineio (nothing to disconnect yet) it returns at once; it
    must not wait for a session that has not started."""
    async def main():
        gate = asyncio.Event()
        async with ScriptedEngineIO(handshake_gate=gate) as server:
            rec = Recorder()
            connecting = asyncio.ensure_future(
                rec.client.connect(server.url, transports=['polling']))
            await asyncio.wait_for(server.arrived.wait(), TIMEOUT)
            ending = asyncio.ensure_future(rec.client.disconnect())
            try:
                done, _ = await asyncio.wait([ending], timeout=2)
                returned = ending in done
            finally:
                gate.set()
                await asyncio.wait_for(connecting, TIMEOUT)
                if rec.client.state == 'connected':
                    await rec.client.disconnect()
                await asyncio.wait_for(ending, TIMEOUT)
            assert returned, 'disconnect() waited for the whole session'
        await no_task_left()

    run(main())


def test_disconnect_during_a_refused_upgrade():
    """disconnect() while the WebSocket request waits for its answer, a
    refusal: the session stays over (no polling loops started for it, no
    HTTP connection left open), the handler ran once."""
    async def main():
        gate = asyncio.Event()
        async with ScriptedEngineIO(upgrades=['websocket'],
                                    websocket_gate=gate) as server:
            rec = Recorder()
            connecting = asyncio.ensure_future(rec.client.connect(server.url))
            while not server.count('GET', websocket=True):
                server.arrived.clear()
                await asyncio.wait_for(server.arrived.wait(), TIMEOUT)
            await asyncio.wait_for(rec.client.disconnect(), TIMEOUT)
            gate.set()
            await asyncio.wait_for(asyncio.gather(
                connecting, return_exceptions=True), TIMEOUT)
            await asyncio.wait_for(rec.client.wait(), TIMEOUT)
            assert rec.disconnects == [rec.client.reason.CLIENT_DISCONNECT]
            assert rec.client.state == 'disconnected'
            for task in (rec.client.read_loop_task,
                         rec.client.write_loop_task):
                if task is not None:
                    await asyncio.wait([task], timeout=TIMEOUT)
            # the client closed every connection it made (at its teardown:
            # the server sees it at once)
            await server.all_closed(within=2)
            posts = server.count('POST')
            assert posts <= 1  # the CLOSE, at most
        await no_task_left()

    run(main())


async def awaiting(task, name):
    """Wait (bounded) until ``task`` is suspended in a coroutine called
    ``name`` (its chain of awaited coroutines)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        coroutine = task.get_coro()
        names = []
        while coroutine is not None and hasattr(coroutine, 'cr_code'):
            names.append(coroutine.cr_code.co_name)
            coroutine = coroutine.cr_await
        if name in names:
            return
        assert time.monotonic() < deadline, names
        await asyncio.sleep(0.005)


def test_handshake_timeout():
    """A server that never answers the handshake: ConnectionError after
    ``request_timeout``, the connection closed, nothing left."""
    async def main():
        async with ScriptedEngineIO(silent=True) as server:
            rec = Recorder(request_timeout=0.5)
            with pytest.raises(engineio.exceptions.ConnectionError):
                await rec.client.connect(server.url)
            assert rec.client.state == 'disconnected'
            await asyncio.wait_for(rec.client.wait(), TIMEOUT)
            await server.all_closed(within=2)
        assert rec.disconnects == []
        await no_task_left()

    run(main())


def test_cancelled_websocket_connect_closes_the_websocket():
    """connect() cancelled (an application's timeout) after the server
    accepted the WebSocket but before its OPEN packet: the client is
    disconnected and closed that WebSocket."""
    async def main():
        async with ScriptedEngineIO(silent_websocket=True) as server:
            rec = Recorder()
            connecting = asyncio.ensure_future(rec.client.connect(
                server.url, transports=['websocket']))
            await asyncio.wait_for(server.switched.wait(), TIMEOUT)
            # cancelled in recv(), not as the handshake ends: before 3.11
            # asyncio.wait_for (under the handshake) may swallow that one
            await awaiting(connecting, 'recv')
            connecting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await connecting
            assert rec.client.state == 'disconnected'
            await server.all_closed(within=2)
        await no_task_left()

    run(main())


@pytest.mark.parametrize('status', [307, 308])
def test_redirected_polling(status):
    """Every request redirected (method kept) to the real server on
    another port: the session works end to end."""
    async def main():
        async with ScriptedEngineIO() as target:
            async with ScriptedEngineIO(
                    redirect=('%d Moved' % status, target.url)) as front:
                rec = Recorder()
                await rec.client.connect(front.url, transports=['polling'])
                await polling_echoes(rec, 2)
                await rec.client.disconnect()
                assert len(rec.disconnects) == 1
                assert front.count('POST') >= 3
                assert target.count('POST') == front.count('POST')
        await no_task_left()

    run(main())


# -- our AsyncServer on the embedded server ----------------------------------

@pytest.fixture(scope='module')
def embedded():
    with serve_embedded(echo_server()) as port:
        yield port


@pytest.mark.parametrize('loop', LOOPS)
@pytest.mark.parametrize('transports', [['polling'], None])
def test_many_clients(embedded, loop, transports):
    """300 clients at once (100 at a time), polling only or upgrading:
    each message echoed once and in order, one disconnect each, nothing
    left behind."""
    expected = 'polling' if transports else 'websocket'

    async def one(index, limit):
        async with limit:
            rec = Recorder()
            await rec.client.connect('http://127.0.0.1:%d' % embedded,
                                     transports=transports)
            assert rec.client.transport() == expected
            await rec.echo(['%d-%d' % (index, i) for i in range(3)])
            await rec.client.disconnect()
            assert rec.disconnects == [rec.client.reason.CLIENT_DISCONNECT]
            assert rec.client.queue is None or rec.client.queue.empty()

    async def main():
        baseline = fd_baseline()
        limit = asyncio.Semaphore(100)
        results = await asyncio.gather(*[one(i, limit) for i in range(300)],
                                       return_exceptions=True)
        failures = [r for r in results if r is not None]
        assert not failures, failures[:3]
        await no_task_left()
        await fds_back_to(baseline)

    run(main(), loop)


@pytest.mark.parametrize('loop', LOOPS)
@pytest.mark.parametrize('transports', [None, ['polling'], ['websocket']])
def test_send_in_the_connect_handler(embedded, loop, transports):
    """Messages sent by the connect handler go first, in order, whatever
    the transport (queued for the upgrade when it comes)."""
    async def main():
        rec = Recorder()

        async def on_connect():
            for i in range(3):
                await rec.client.send('early %d' % i)
        rec.client.on('connect', on_connect)
        await rec.client.connect('http://127.0.0.1:%d' % embedded,
                                 transports=transports)
        for i in range(2):
            await rec.client.send('late %d' % i)
        await rec.wait_for(lambda: len(rec.messages) >= 5)
        assert rec.messages == ['early 0', 'early 1', 'early 2', 'late 0',
                                'late 1']
        expected = 'polling' if transports == ['polling'] else 'websocket'
        assert rec.client.transport() == expected
        await rec.client.disconnect()
        assert len(rec.disconnects) == 1
        await no_task_left()

    run(main(), loop)


@pytest.mark.parametrize('loop', LOOPS)
@pytest.mark.parametrize('abort', [False, True])
def test_disconnect_while_the_get_is_held(embedded, loop, abort):
    """The server holds the long-poll GET (25 s): disconnect() returns
    long before that, and the same client connects again, with a new
    queue."""
    async def main():
        baseline = fd_baseline()
        rec = Recorder()
        url = 'http://127.0.0.1:%d' % embedded
        queues = []
        for transports in (['polling'], ['polling'], None):
            await rec.client.connect(url, transports=transports)
            await rec.echo(['one', 'two'])
            queues.append(rec.client.queue)
            await asyncio.wait_for(rec.client.disconnect(abort=abort),
                                   TIMEOUT)
            await asyncio.wait_for(rec.client.wait(), TIMEOUT)
            assert rec.client.state == 'disconnected'
        assert queues[0] is not None and queues[0] is not queues[1]
        assert queues[2] is None  # a WebSocket session needs none
        assert rec.disconnects == [rec.client.reason.CLIENT_DISCONNECT] * 3
        await no_task_left()
        await fds_back_to(baseline)

    run(main(), loop)


class Relay(helpers.StreamServer):
    """A TCP relay to ``upstream`` that can make its first connection go
    stale after the first answer (``stale_first``: the client's next bytes
    on it close it unanswered, the race of a server's keep-alive timer) or
    close it right after that answer (``close_first``), and hold a
    WebSocket handshake request until ``release`` is set
    (``hold_upgrade``)."""

    def __init__(self, upstream, stale_first=False, hold_upgrade=False,
                 close_first=False):
        super().__init__()
        self.upstream = upstream
        self.stale_first = stale_first
        self.close_first = close_first
        self.release = asyncio.Event()
        if not hold_upgrade:
            self.release.set()
        self.upgrade_seen = asyncio.Event()
        self.made_stale = False

    async def _serve(self, reader, writer):
        self.connections += 1
        number = self.connections
        self.tasks.add(asyncio.current_task())
        try:
            up_reader, up_writer = await asyncio.open_connection(
                '127.0.0.1', self.upstream)
        except BaseException:
            writer.close()
            self.tasks.discard(asyncio.current_task())
            raise

        async def to_server():
            chunks = 0
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                chunks += 1
                if chunks > 1 and number == 1 and self.stale_first:
                    self.made_stale = True
                    return
                if b'transport=websocket' in data:
                    self.upgrade_seen.set()
                    await self.release.wait()
                up_writer.write(data)
                await up_writer.drain()

        async def to_client():
            while True:
                data = await up_reader.read(65536)
                if not data:
                    return
                writer.write(data)
                await writer.drain()
                if number == 1 and self.close_first:
                    return  # closed after the answer, unannounced

        async def pipe(direction):
            try:
                await direction()
            except (ConnectionError, OSError):
                pass  # a reset: the end of this connection too

        tasks = [asyncio.ensure_future(pipe(to_server)),
                 asyncio.ensure_future(pipe(to_client))]
        self.tasks.update(tasks)
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            pass  # the relay closes (a cancelled handler would be logged)
        finally:
            # no await here: this task may be being cancelled
            writer.close()
            up_writer.close()
            for task in tasks:
                task.cancel()
            self.tasks.discard(asyncio.current_task())


@pytest.mark.parametrize('loop', LOOPS)
@pytest.mark.parametrize('how', ['stale', 'closed'])
def test_upgrade_when_the_polling_connection_dies(embedded, loop, how):
    """The polling connection dies as the WebSocket handshake goes on it
    (``stale``), or right after the handshake's answer (``closed``): the
    handshake is made on a new connection, the upgrade succeeds."""
    async def main():
        baseline = fd_baseline()
        async with Relay(embedded, stale_first=how == 'stale',
                         close_first=how == 'closed') as relay:
            rec = Recorder()
            await rec.client.connect('http://127.0.0.1:%d' % relay.port)
            assert rec.client.transport() == 'websocket'
            assert relay.connections == 2
            if how == 'stale':
                # the handshake went on the polling connection first
                assert relay.made_stale
            await rec.echo(['a', 'b', 'c'])
            await rec.client.disconnect()
            assert len(rec.disconnects) == 1
        await no_task_left()
        await fds_back_to(baseline)

    run(main(), loop)


def test_connect_cancelled_during_the_upgrade(embedded):
    """connect() cancelled (an application's timeout) while the upgrade's
    handshake is unanswered: the session ends (its handler ran once, as
    the connect handler had), wait() returns, the client connects again."""
    async def main():
        baseline = fd_baseline()
        async with Relay(embedded, hold_upgrade=True) as relay:
            rec = Recorder()
            url = 'http://127.0.0.1:%d' % relay.port
            connecting = asyncio.ensure_future(rec.client.connect(url))
            await asyncio.wait_for(relay.upgrade_seen.wait(), TIMEOUT)
            connecting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await connecting
            relay.release.set()
            await asyncio.wait_for(rec.client.wait(), 2)
            assert rec.client.state == 'disconnected'
            assert len(rec.disconnects) == 1
            await rec.client.connect(url)
            await rec.echo(['again'])
            await rec.client.disconnect()
        await no_task_left()
        await fds_back_to(baseline)

    run(main())


def test_disconnect_during_the_upgrade(embedded):
    """disconnect() while the WebSocket handshake is unanswered: the
    handler runs once, wait() returns, the WebSocket the upgrade was making
    is not left open, the same client connects again."""
    async def main():
        baseline = fd_baseline()
        async with Relay(embedded, hold_upgrade=True) as relay:
            rec = Recorder()
            url = 'http://127.0.0.1:%d' % relay.port
            connecting = asyncio.ensure_future(rec.client.connect(url))
            await asyncio.wait_for(relay.upgrade_seen.wait(), TIMEOUT)
            await asyncio.wait_for(rec.client.disconnect(), TIMEOUT)
            relay.release.set()
            await asyncio.wait_for(asyncio.gather(
                connecting, return_exceptions=True), TIMEOUT)
            await asyncio.wait_for(rec.client.wait(), TIMEOUT)
            assert rec.disconnects == [rec.client.reason.CLIENT_DISCONNECT]
            assert rec.client.state == 'disconnected'
            # not left open, nor seen as the transport of a session
            assert rec.client.ws is None
            assert rec.client.transport() is None or \
                rec.client.state == 'disconnected'
            await rec.client.connect(url, transports=['polling'])
            await rec.echo(['again'])
            await rec.client.disconnect()
            assert len(rec.disconnects) == 2
        await no_task_left()
        await fds_back_to(baseline)

    run(main())


@pytest.fixture(scope='module')
def embedded_tls(certificate):  # noqa: F811
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    with serve_embedded(echo_server(), ssl=context) as port:
        yield port


@pytest.mark.parametrize('loop', LOOPS)
def test_tls_upgrade_on_the_polling_connection(embedded_tls, loop):
    """https polling then wss on the same TLS connection, with
    ``ssl_verify=False`` (the certificate is self-signed)."""
    async def main():
        baseline = fd_baseline()
        async with Relay(embedded_tls) as relay:
            rec = Recorder(ssl_verify=False)
            await rec.client.connect('https://127.0.0.1:%d' % relay.port)
            assert rec.client.transport() == 'websocket'
            await rec.echo(['secure \u00e9', b'\x00\x01'])
            assert relay.connections == 1
            await rec.client.disconnect()
            assert len(rec.disconnects) == 1
        await no_task_left()
        await fds_back_to(baseline)

    run(main(), loop)


@pytest.mark.parametrize('loop', LOOPS)
@pytest.mark.parametrize('transports', [None, ['websocket']])
def test_tls_untrusted_certificate(embedded_tls, loop, transports):
    """Verification on (the default): the self-signed certificate is a
    ConnectionError, nothing is left open."""
    async def main():
        baseline = fd_baseline()
        rec = Recorder()
        with pytest.raises(engineio.exceptions.ConnectionError):
            await rec.client.connect('https://127.0.0.1:%d' % embedded_tls,
                                     transports=transports)
        assert rec.client.state == 'disconnected'
        assert rec.disconnects == []
        await asyncio.wait_for(rec.client.wait(), TIMEOUT)
        await no_task_left()
        await fds_back_to(baseline)

    run(main(), loop)


# -- uvicorn and the Node engine.io server ------------------------------------

@contextlib.contextmanager
def serve_node(options=None):
    """``tests/js/eio_server.js`` (the engine.io package, echoing; with
    the server ``options``) in a subprocess that ends when its stdin
    closes; gives its port."""
    process = subprocess.Popen(
        [node('engine.io'), os.path.join(JS_DIR, 'eio_server.js'), '0',
         json.dumps(options or {})],
        cwd=JS_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        line = process.stdout.readline()
        assert line, 'the Node server did not start'
        yield json.loads(line)['port']
    finally:
        process.stdin.close()
        try:
            process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:  # pragma: no cover
            process.kill()
            process.wait()
        process.stdout.close()


@pytest.mark.parametrize('server', ['uvicorn', 'node'])
def test_upgrade_on_the_kept_alive_connection(server):
    """Polling, then the upgrade's handshake on the handshake's kept-alive
    connection: one TCP connection for the whole session, on uvicorn and
    on the JS server (Node's HTTP server hands an upgrade on a used
    connection to engine.io as well)."""
    serve = serve_uvicorn if server == 'uvicorn' else serve_node

    async def main(port):
        async with Relay(port) as relay:
            rec = Recorder()
            await rec.client.connect('http://127.0.0.1:%d' % relay.port)
            assert rec.client.transport() == 'websocket'
            await rec.echo(['text \u00e9', b'\x00\xff', 'last'])
            assert relay.connections == 1
            await rec.client.disconnect()
            assert len(rec.disconnects) == 1
        await no_task_left()

    with serve() as port:
        run(main(port))


def test_polling_through_pings_on_the_node_server():
    """The JS server pings every 100 ms while the client polls and sends:
    PONGs and messages share the POSTs, the session survives a second of
    it (ten heartbeats), every message arrives once and in order."""
    async def main(port):
        rec = Recorder()
        await rec.client.connect('http://127.0.0.1:%d' % port,
                                 transports=['polling'])
        sent = 0
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            await rec.echo(['tick %d' % sent, 'tock %d' % sent])
            sent += 1
            await asyncio.sleep(0.02)  # pacing, not synchronisation
        assert rec.disconnects == []
        assert rec.client.state == 'connected'
        await rec.client.disconnect()
        assert len(rec.disconnects) == 1
        await no_task_left()

    with serve_node({'pingInterval': 100, 'pingTimeout': 2000}) as port:
        run(main(port))


@pytest.mark.parametrize('loop', LOOPS)
def test_a_burst_of_messages_over_polling(loop):
    """500 messages sent without waiting, batched into POSTs and echoed in
    batched GET answers by the JS server: each arrives once, in order.
    (Not our Python servers: like python-engineio's, they refuse a payload
    of more than 16 packets, which python-engineio's client, like ours,
    does not split.)"""
    async def main(port):
        rec = Recorder()
        await rec.client.connect('http://127.0.0.1:%d' % port,
                                 transports=['polling'])
        await rec.echo(['burst %d' % i for i in range(500)])
        await rec.client.disconnect()
        assert len(rec.disconnects) == 1
        await no_task_left()

    with serve_node() as port:
        run(main(port), loop)
