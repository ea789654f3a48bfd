"""What every asyncio mode of ``AsyncServer`` must do on a real server.

``tests/test_async_aiohttp.py``, ``test_async_tornado.py`` and
``test_async_sanic.py`` each start their framework on 127.0.0.1 in a
:class:`LoopThread` and subclass :class:`ModeTests`, whose tests take a
module-scoped ``server`` fixture (a :class:`Running`).  The server runs an
echo application (:class:`EchoServers`): ``eio`` at ``/engine.io/`` and a
second ``AsyncServer`` at ``/custom/path/`` (``attach()`` with a custom
``engineio_path``, or the framework's own route for tornado).

Raw HTTP with ``http.client``, raw WebSocket with our framing kernel
(``tests.asgi_helpers.RawWebSocket``), and the official ``engine.io-client``
in Node.  Every wait is bounded (``TIMEOUT``); where no event exists to wait
on (a poll being held inside the server), the server's state is polled
with a deadline.
"""
import asyncio
import http.client
import json
import os
import re
import socket
import threading
import time

import pytest

import engineio
from engineio._sansio.session import CLOSING
from tests.asgi_helpers import OP_BINARY, OP_CLOSE, OP_TEXT, RawWebSocket
from tests.loopback import TIMEOUT, js_client_echo, open_session
from tests.loopback import request as _request

__all__ = ['LoopThread', 'EchoServers', 'Running', 'ModeTests', 'LIMIT',
           'listening_socket']

ENGINEIO_DIR = os.path.dirname(engineio.__file__)
#: max_http_buffer_size of the echo servers
LIMIT = 1000
Q = '/engine.io/?EIO=4&transport=polling'
OPEN_PACKET = re.compile(
    r'0\{"sid":"[A-Za-z0-9_-]{20}","upgrades":\["websocket"\],'
    r'"pingTimeout":20000,"pingInterval":25000,"maxPayload":1000\}')


def listening_socket():
    """A TCP socket bound to 127.0.0.1 on an ephemeral port, listening:
    connections wait in its backlog until the server accepts them."""
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    sock.listen(128)
    return sock


class LoopThread:
    """An event loop running in a daemon thread; the test thread submits
    coroutines to it with :meth:`call`."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coroutine, timeout=TIMEOUT):
        """Run ``coroutine`` on the loop; its result (bounded wait)."""
        return asyncio.run_coroutine_threadsafe(
            coroutine, self.loop).result(timeout)

    def leftover_tasks(self):
        """The tasks still pending on the loop (the caller's excluded)."""
        async def pending():
            current = asyncio.current_task()
            return [t for t in asyncio.all_tasks() if t is not current]
        return self.call(pending())

    def close(self):
        """Cancel what is left, stop the loop and join the thread."""
        async def cancel_all():
            tasks = [t for t in asyncio.all_tasks()
                     if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=TIMEOUT)
        try:
            self.call(cancel_all())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(TIMEOUT)
            self.loop.close()


class Events:
    """What the handlers of one server saw, readable from the test thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.environs = {}
        self.disconnects = {}
        self.disconnected = {}

    def wait_disconnect(self, sid):
        """The reason of ``sid``'s (single) disconnect event."""
        with self.lock:
            event = self.disconnected.setdefault(sid, threading.Event())
        assert event.wait(TIMEOUT), 'no disconnect for %s' % sid
        with self.lock:
            reasons = list(self.disconnects[sid])
        assert len(reasons) == 1, reasons
        return reasons[0]


class EchoServers:
    """The two ``AsyncServer`` instances of a mode's test application:
    ``eio`` echoes every message (text and binary) and refuses a
    connection whose query has ``refuse=1``; ``custom`` (to be served at
    ``/custom/path/``) accepts and echoes too."""

    def __init__(self, async_mode):
        self.events = Events()
        self.eio = self._echo(async_mode, self.events)
        self.custom_events = Events()
        self.custom = self._echo(async_mode, self.custom_events)

    @staticmethod
    def _echo(async_mode, events):
        eio = engineio.AsyncServer(async_mode=async_mode,
                                   max_http_buffer_size=LIMIT,
                                   async_handlers=False)

        @eio.on('connect')
        def connect(sid, environ):
            with events.lock:
                events.environs[sid] = environ
            if 'refuse=1' in environ['QUERY_STRING']:
                return False

        @eio.on('message')
        async def message(sid, data):
            await eio.send(sid, data)

        @eio.on('disconnect')
        def disconnect(sid, reason):
            with events.lock:
                events.disconnects.setdefault(sid, []).append(reason)
                events.disconnected.setdefault(sid, threading.Event()).set()

        return eio


class Running:
    """A started test server: ``port``, the :class:`EchoServers` and the
    :class:`LoopThread` it runs on."""

    def __init__(self, port, servers, loop_thread, async_mode):
        self.port = port
        self.servers = servers
        self.eio = servers.eio
        self.events = servers.events
        self.loop_thread = loop_thread
        self.async_mode = async_mode

    def send(self, sid, data):
        """``await eio.send(sid, data)`` on the server's loop."""
        self.loop_thread.call(self.eio.send(sid, data))

    def _wait_session(self, sid, attribute):
        core = self.eio._core

        async def check():
            session = core.sessions.get(sid)
            return session is not None and getattr(session, attribute)

        deadline = time.monotonic() + TIMEOUT
        while not self.loop_thread.call(check()):
            assert time.monotonic() < deadline, 'no %s for %s' % (attribute,
                                                                  sid)
            time.sleep(0.005)

    def wait_poll_held(self, sid):
        """Return once the server holds a GET of ``sid`` (polled: there is
        no event for it)."""
        self._wait_session(sid, 'poll_held')

    def wait_post_pending(self, sid):
        """Return once the server is reading the body of a POST of
        ``sid``."""
        self._wait_session(sid, 'post_pending')


def request(port, method, target, body=None, headers=None):
    """``tests.loopback.request`` with lower-case header names (Sanic
    sends them so; HTTP names are case-insensitive)."""
    status, response_headers, body = _request(port, method, target, body,
                                              headers)
    return status, {k.lower(): v for k, v in response_headers.items()}, body


def start_request(port, method, target, body=None):
    """Send one request on a new connection; the connection, to read the
    response from later with :func:`read_response`."""
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=TIMEOUT)
    conn.request(method, target, body=body)
    return conn


def read_response(conn):
    response = conn.getresponse()
    try:
        return response.status, lower_headers(response), response.read()
    finally:
        conn.close()


def raw_request(port, method, target, headers='', chunked=None):
    """One request written in a single ``sendall`` (so that a server which
    answers early and closes has read everything: no reset), with
    ``headers`` (raw lines) and an optional chunked body (a list of
    chunks): ``(status, headers, body)``."""
    head = '%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s' % (
        method, target, port, headers)
    body = b''
    if chunked is not None:
        head += 'Transfer-Encoding: chunked\r\n'
        for chunk in chunked:
            body += b'%x\r\n%s\r\n' % (len(chunk), chunk)
        body += b'0\r\n\r\n'
    sock = socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT)
    try:
        sock.sendall((head + '\r\n').encode('latin-1') + body)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, lower_headers(response), response.read()
    finally:
        sock.close()


def lower_headers(response):
    return {k.lower(): v for k, v in response.getheaders()}


def refused_websocket(port, target):
    """A WebSocket handshake the server refuses: ``(status, body)``."""
    ws = RawWebSocket(port, target)
    try:
        assert ws.status != 101, 'the WebSocket was accepted'
        length = int(ws.headers.get('content-length', '0'))
        body = ws.rest
        while len(body) < length:
            chunk = ws.sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return ws.status, body
    finally:
        ws.close()


def websocket_session(port, path='/engine.io/'):
    """A direct WebSocket session: ``(ws, sid)``."""
    ws = RawWebSocket(port, path + '?EIO=4&transport=websocket')
    assert ws.status == 101
    opcode, payload = ws.recv()
    assert opcode == OP_TEXT and payload.startswith('0{'), payload
    return ws, json.loads(payload[1:])['sid']


def close_code(ws):
    """The code of the close frame the server sends next (skipping any
    message before it)."""
    while True:
        opcode, payload = ws.recv()
        assert opcode is not None, 'connection closed without a close frame'
        if opcode == OP_CLOSE:
            return int.from_bytes(payload[:2], 'big')


class ModeTests:
    """The battery every asyncio mode passes; subclassed as ``Test<Mode>``
    in each mode's test module, which provides the ``server`` fixture."""

    def test_handshake_over_polling(self, server):
        status, headers, body = request(server.port, 'GET',
                                        Q + '&t=abc%20d')
        assert status == 200
        assert OPEN_PACKET.fullmatch(body.decode()), body
        assert headers['content-type'] == 'text/plain; charset=UTF-8'
        assert headers['content-length'] == str(len(body))
        assert headers['cache-control'] == 'no-store'
        sid = json.loads(body[1:])['sid']
        with server.events.lock:
            environ = server.events.environs[sid]
        # the WSGI-style environ the reference's drivers give handlers
        assert environ['REQUEST_METHOD'] == 'GET'
        assert environ['QUERY_STRING'] == 'EIO=4&transport=polling&t=abc%20d'
        assert environ['PATH_INFO'] == '/engine.io/'
        assert environ['RAW_URI'].startswith('/engine.io/?EIO=4')
        assert environ['wsgi.url_scheme'] == 'http'
        assert environ['HTTP_HOST'] == '127.0.0.1:%d' % server.port
        assert environ['REMOTE_ADDR'] == '127.0.0.1'
        assert environ['SERVER_PROTOCOL'] == 'HTTP/1.1'
        assert environ['wsgi.async'] is True
        # and the framework's own request object, as the reference's have
        assert {'aiohttp': 'aiohttp.request', 'tornado': 'tornado.handler',
                'sanic': 'sanic.request'}[server.async_mode] in environ
        assert server.eio.async_mode == server.async_mode

    def test_protocol_errors(self, server):
        port = server.port
        status, _, body = request(port, 'GET', '/engine.io/?EIO=4&transport=x')
        assert status == 400 and json.loads(body) == {
            'code': 0, 'message': 'Transport unknown'}
        status, _, body = request(port, 'GET',
                                  '/engine.io/?EIO=5&transport=polling')
        assert status == 400 and json.loads(body)['code'] == 5
        for method in ('POST', 'PUT', 'DELETE'):  # every method: the core's
            status, _, body = request(port, method, Q)
            assert status == 400 and json.loads(body)['code'] == 2, method
        status, headers, body = request(port, 'GET', Q + '&refuse=1')
        assert (status, body) == (401, b'"Unauthorized"')
        assert headers['content-type'] == 'application/json'
        status, headers, body = request(port, 'OPTIONS', Q, headers={
            'Origin': 'http://127.0.0.1:%d' % port})
        assert (status, body) == (204, b'')
        assert headers['access-control-allow-origin'] == \
            'http://127.0.0.1:%d' % port
        status, _, body = request(port, 'GET', Q, headers={
            'Origin': 'http://elsewhere.example'})
        assert status == 403 and json.loads(body)['code'] == 4

    def test_post_ok_and_polling_echo(self, server):
        port = server.port
        sid = open_session(port)
        target = Q + '&sid=' + sid
        status, headers, body = request(port, 'POST', target,
                                        body=b'4hello\x1ebAQID')
        assert (status, body) == (200, b'ok')
        assert headers['content-type'] == 'text/html'
        status, _, body = request(port, 'GET', target)
        assert (status, body) == (200, b'4hello\x1ebAQID')
        status, _, body = request(port, 'POST', target, body=b'1')
        assert (status, body) == (200, b'ok')
        assert server.events.wait_disconnect(sid) == 'client disconnect'
        status, _, body = request(port, 'GET', target)
        assert status == 400 and json.loads(body)['code'] == 1

    def test_long_poll_answered_by_server_send(self, server):
        sid = open_session(server.port)
        conn = start_request(server.port, 'GET', Q + '&sid=' + sid)
        server.wait_poll_held(sid)
        server.send(sid, 'pushed')
        server.send(sid, b'\x01\x02')
        status, _, body = read_response(conn)
        assert status == 200
        # the first send wakes the poll; the second may or may not make it
        assert body in (b'4pushed', b'4pushed\x1ebAQI=')
        if body == b'4pushed':
            _, _, body = request(server.port, 'GET', Q + '&sid=' + sid)
            assert body == b'bAQI='

    def test_held_poll_notices_the_client_leaving(self, server):
        sid = open_session(server.port)
        conn = start_request(server.port, 'GET', Q + '&sid=' + sid)
        server.wait_poll_held(sid)
        conn.close()
        assert server.events.wait_disconnect(sid) == 'transport error'

    def test_post_over_limit_is_refused(self, server):
        port = server.port
        # by Content-Length: answered before any of the body is sent
        sid = open_session(port)
        target = Q + '&sid=' + sid
        status, _, body = raw_request(
            port, 'POST', target, 'Content-Length: %d\r\n' % (LIMIT * 50))
        assert (status, body) == (413, b'')
        assert server.events.wait_disconnect(sid) == 'transport error'
        # by the body itself (chunked: no Content-Length to go by)
        sid = open_session(port)
        target = Q + '&sid=' + sid
        status, _, body = raw_request(port, 'POST', target,
                                      chunked=[b'4', b'x' * LIMIT])
        assert (status, body) == (413, b'')
        assert server.events.wait_disconnect(sid) == 'transport error'
        # exactly at the limit is fine
        sid = open_session(port)
        target = Q + '&sid=' + sid
        status, _, body = raw_request(port, 'POST', target,
                                      chunked=[b'4', b'y' * (LIMIT - 1)])
        assert (status, body) == (200, b'ok')
        _, _, body = request(port, 'GET', target)
        assert body == b'4' + b'y' * (LIMIT - 1)

    def test_post_body_cut_short_by_the_client(self, server):
        sid = open_session(server.port)
        sock = socket.create_connection(('127.0.0.1', server.port),
                                        timeout=TIMEOUT)
        sock.sendall(('POST %s&sid=%s HTTP/1.1\r\nHost: x\r\n'
                      'Content-Length: 100\r\n\r\n4abc' % (Q, sid)).encode())
        server.wait_post_pending(sid)
        sock.close()
        assert server.events.wait_disconnect(sid) == 'transport error'
        status, _, body = request(server.port, 'GET', Q + '&sid=' + sid)
        assert status == 400 and json.loads(body)['code'] == 1

    def test_websocket_direct_echo(self, server):
        ws, sid = websocket_session(server.port)
        try:
            ws.send('4h\u00e9llo')
            assert ws.recv() == (OP_TEXT, '4h\u00e9llo')
            ws.send(b'\x00\x01\xff')
            assert ws.recv() == (OP_BINARY, b'\x00\x01\xff')
            ws.send(b'')
            assert ws.recv() == (OP_BINARY, b'')
            assert server.eio.transport(sid) == 'websocket'
            ws.send('1')
            assert server.events.wait_disconnect(sid) == 'client disconnect'
        finally:
            ws.close()

    def test_websocket_closed_by_client(self, server):
        ws, sid = websocket_session(server.port)
        ws.send('4x')
        assert ws.recv() == (OP_TEXT, '4x')
        ws.close()
        assert server.events.wait_disconnect(sid) == 'transport close'

    def test_websocket_upgrade(self, server):
        port = server.port
        sid = open_session(port)
        target = Q + '&sid=' + sid
        conn = start_request(port, 'GET', target)
        server.wait_poll_held(sid)
        ws = RawWebSocket(port, '/engine.io/?EIO=4&transport=websocket&sid='
                          + sid)
        try:
            assert ws.status == 101
            ws.send('2probe')
            assert ws.recv() == (OP_TEXT, '3probe')
            assert read_response(conn)[2] == b'6'  # the held poll returns
            ws.send('5')
            ws.send('4after')
            assert ws.recv() == (OP_TEXT, '4after')
            assert server.eio.transport(sid) == 'websocket'
            status, _, body = request(port, 'GET', target)
            assert status == 400 and json.loads(body)['code'] == 3
        finally:
            ws.close()
        assert server.events.wait_disconnect(sid) == 'transport close'

    def test_websocket_refused_with_the_protocol_error(self, server):
        status, body = refused_websocket(
            server.port, '/engine.io/?EIO=4&transport=websocket&sid=nope')
        assert status == 400
        assert json.loads(body) == {'code': 1, 'message': 'Session ID unknown'}
        # a second WebSocket for a sid that already has one
        sid = open_session(server.port)
        ws = RawWebSocket(server.port,
                          '/engine.io/?EIO=4&transport=websocket&sid=' + sid)
        try:
            assert ws.status == 101
            status, body = refused_websocket(
                server.port,
                '/engine.io/?EIO=4&transport=websocket&sid=' + sid)
            assert status == 400 and json.loads(body)['code'] == 3
        finally:
            ws.close()

    def test_websocket_handshake_the_framework_refuses(self, server):
        # the core accepts (a new session, connect handler run), then the
        # framework refuses an unsupported WebSocket version: the session
        # ends as if its WebSocket closed
        with server.events.lock:
            before = set(server.events.environs)
        status, _, _ = raw_request(
            server.port, 'GET', '/engine.io/?EIO=4&transport=websocket',
            'Upgrade: websocket\r\nConnection: Upgrade\r\n'
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
            'Sec-WebSocket-Version: 6\r\n')
        assert 400 <= status < 500
        with server.events.lock:
            (sid,) = set(server.events.environs) - before
        assert server.events.wait_disconnect(sid) == 'transport close'

    def test_websocket_message_over_limit_closes_1009(self, server):
        ws, sid = websocket_session(server.port)
        try:
            ws.send('4' + 'x' * (LIMIT - 1))  # at the limit: fine
            assert ws.recv() == (OP_TEXT, '4' + 'x' * (LIMIT - 1))
            ws.send('4' + '\u00e9' * LIMIT)  # over it in UTF-8 bytes
            assert close_code(ws) == 1009
            assert server.events.wait_disconnect(sid) == 'transport close'
        finally:
            ws.close()

    def test_server_disconnect_over_websocket(self, server):
        ws, sid = websocket_session(server.port)
        try:
            server.loop_thread.call(server.eio.disconnect(sid))
            assert ws.recv() == (OP_TEXT, '1')
            assert close_code(ws) == 1000
            assert server.events.wait_disconnect(sid) == 'server disconnect'
        finally:
            ws.close()

    def test_custom_engineio_path(self, server):
        port = server.port
        custom = server.servers.custom_events
        for path in ('/custom/path/', '/custom/path'):
            status, _, body = request(port, 'GET',
                                      path + '?EIO=4&transport=polling')
            assert status == 200 and OPEN_PACKET.fullmatch(body.decode())
            sid = json.loads(body[1:])['sid']
            assert sid in server.servers.custom.sockets
            assert sid not in server.eio.sockets
            target = path + '?EIO=4&transport=polling&sid=' + sid
            assert request(port, 'POST', target, body=b'4hi')[2] == b'ok'
            assert request(port, 'GET', target)[2] == b'4hi'
            assert request(port, 'POST', target, body=b'1')[2] == b'ok'
            assert custom.wait_disconnect(sid) == 'client disconnect'
        ws, sid = websocket_session(port, '/custom/path/')
        try:
            ws.send('4ws')
            assert ws.recv() == (OP_TEXT, '4ws')
        finally:
            ws.close()
        assert custom.wait_disconnect(sid) == 'transport close'

    @pytest.mark.parametrize('mode', ['polling', 'websocket', 'upgrade'])
    def test_official_js_client(self, server, mode):
        output = js_client_echo(server.port, mode)
        # engine.io-client sends "1" over polling; over WebSocket it just
        # closes the connection
        assert server.events.wait_disconnect(output['sid']) == (
            'client disconnect' if mode == 'polling' else 'transport close')

    def test_zz_nothing_outlives_its_session(self, server):
        # runs last in its class: every session the tests above ended is
        # gone, and so is every task the server started for them
        loop_thread = server.loop_thread
        for eio in (server.eio, server.servers.custom):
            loop_thread.call(eio.disconnect())
            deadline = time.monotonic() + TIMEOUT
            while eio.sockets or [t for t in eio._tasks if not t.done()]:
                assert time.monotonic() < deadline, (eio.sockets, eio._tasks)
                time.sleep(0.01)
            # polling sessions told to close wait for their client's next
            # poll (or close_timeout): nothing else is left
            assert {s.state for s in eio._core.sessions.values()} <= {
                CLOSING}
        # nor any other task running our code (a WebSocket's writer)
        ours = [t for t in loop_thread.leftover_tasks()
                if ENGINEIO_DIR in getattr(getattr(t.get_coro(), 'cr_code',
                                                   None), 'co_filename', '')]
        assert ours == []
