"""The embedded server (``engineio.embedded``) on a real socket on 127.0.0.1.

Each server runs on its own uvloop loop in a thread, on an ephemeral port;
clients are raw sockets, ``http.client``, our framing kernel
(:class:`tests.asgi_helpers.RawWebSocket`) and the official
``engine.io-client`` in Node.  The graceful-shutdown test runs the command
line entry point in a subprocess and sends it SIGTERM.  Every wait is
bounded.  Skipped where httptools or uvloop is missing (PyPy).
"""
import asyncio
import functools
import http.client
import json
import os
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest

pytest.importorskip('httptools')
pytest.importorskip('uvloop')

import engineio  # noqa: E402
from engineio.async_socket import AsyncSocket  # noqa: E402
from engineio.embedded import serve  # noqa: E402
from tests.asgi_helpers import (OP_BINARY, OP_CLOSE, OP_TEXT,  # noqa: E402
                                RawWebSocket)
from tests.loopback import (TIMEOUT, js_client_echo, open_session,  # noqa
                            request)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Events:
    """What the handlers saw, readable from the test thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.disconnects = {}
        self.disconnected = {}

    def record(self, sid, reason):
        with self.lock:
            self.disconnects.setdefault(sid, []).append(reason)
            self.disconnected.setdefault(sid, threading.Event()).set()

    def wait_disconnect(self, sid):
        with self.lock:
            event = self.disconnected.setdefault(sid, threading.Event())
        assert event.wait(TIMEOUT), 'no disconnect for %s' % sid
        reasons = self.disconnects[sid]
        assert len(reasons) == 1, reasons  # exactly once per session
        return reasons[0]


def echo_server(events, **options):
    """An echo ``AsyncServer``; ``slow`` is echoed after a real await (the
    handler suspends), ``flood:N:SIZE`` answers with N messages of SIZE."""
    options.setdefault('async_handlers', False)
    eio = engineio.AsyncServer(async_mode='asgi', **options)

    @eio.on('connect')
    def connect(sid, environ):
        if 'refuse=1' in environ['QUERY_STRING']:
            return False

    @eio.on('message')
    async def message(sid, data):
        if data == 'slow':
            await asyncio.sleep(0.05)
        elif isinstance(data, str) and data.startswith('flood:'):
            _, count, size = data.split(':')
            payload = 'x' * int(size)
            for _ in range(int(count)):
                await eio.send(sid, payload)
            return
        await eio.send(sid, data)

    @eio.on('disconnect')
    def disconnect(sid, reason):
        events.record(sid, reason)

    return eio


class Running:
    """``serve(eio, **options)`` on a uvloop loop in a thread."""

    def __init__(self, eio, **options):
        import uvloop
        self.server = None
        ready = threading.Event()
        self.error = None

        def on_ready(server):
            self.server = server
            ready.set()

        def target():
            try:
                uvloop.run(serve(eio, '127.0.0.1', 0, handle_signals=False,
                                 ready=on_ready, **options))
            except BaseException as exc:  # pragma: no cover - reported
                self.error = exc
                ready.set()

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()
        assert ready.wait(TIMEOUT) and self.error is None, self.error
        self.port = self.server.port

    def stop(self):
        self.server.request_shutdown()
        self.thread.join(TIMEOUT + 5)
        assert not self.thread.is_alive(), 'the server did not stop'
        assert self.error is None, self.error


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    static = tmp_path_factory.mktemp('static')
    (static / 'index.html').write_text('<h1>hi</h1>')
    events = Events()
    eio = echo_server(events, max_http_buffer_size=1000)

    async def other_app(scope, receive, send):
        assert scope['type'] == 'http'
        body = (await receive())['body']
        text = '%s %s %s %s' % (scope['method'], scope['path'],
                                scope['query_string'].decode(), body.decode())
        if scope['path'] == '/stream':
            await send({'type': 'http.response.start', 'status': 200,
                        'headers': [(b'content-type', b'text/plain')]})
            for part in (b'one,', b'two,', b'three'):
                await send({'type': 'http.response.body', 'body': part,
                            'more_body': True})
            await send({'type': 'http.response.body', 'body': b''})
            return
        await send({'type': 'http.response.start', 'status': 201,
                    'headers': [(b'content-type', b'text/plain')]})
        await send({'type': 'http.response.body', 'body': text.encode()})

    running = Running(eio, static_files={'/': str(static / 'index.html')},
                      other_asgi_app=other_app, header_timeout=1.0)
    try:
        yield running.port, events
    finally:
        running.stop()


def raw_exchange(port, data, timeout=TIMEOUT):
    """Send ``data`` on a new connection, read until the server closes it."""
    sock = socket.create_connection(('127.0.0.1', port), timeout=timeout)
    try:
        sock.sendall(data)
        received = b''
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
        return received
    finally:
        sock.close()


def status_of(response):
    return int(response.split(b' ', 2)[1]) if response else None


# -- the protocol, as on every other server ----------------------------------

def test_handshake_and_polling_echo(server):
    port, events = server
    status, headers, body = request(port, 'GET',
                                    '/engine.io/?EIO=4&transport=polling')
    assert status == 200 and body[:1] == b'0'
    assert headers['Content-Type'] == 'text/plain; charset=UTF-8'
    sid = json.loads(body[1:])['sid']
    target = '/engine.io/?EIO=4&transport=polling&sid=' + sid
    status, _, body = request(port, 'POST', target, body=b'4hello\x1ebAQID')
    assert (status, body) == (200, b'ok')
    status, _, body = request(port, 'GET', target)
    assert (status, body) == (200, b'4hello\x1ebAQID')
    status, _, body = request(port, 'POST', target, body=b'1')
    assert (status, body) == (200, b'ok')
    assert events.wait_disconnect(sid) == 'client disconnect'
    status, _, body = request(port, 'GET', target)
    assert status == 400 and json.loads(body) == {
        'code': 1, 'message': 'Session ID unknown'}


def test_protocol_errors(server):
    port, _ = server
    status, _, body = request(port, 'GET', '/engine.io/?EIO=4&transport=x')
    assert status == 400 and json.loads(body) == {
        'code': 0, 'message': 'Transport unknown'}
    status, _, body = request(port, 'GET',
                              '/engine.io?EIO=5&transport=polling')
    assert status == 400 and json.loads(body)['code'] == 5
    status, _, body = request(port, 'POST',
                              '/engine.io/?EIO=4&transport=polling', b'')
    assert status == 400 and json.loads(body)['code'] == 2
    status, _, body = request(port, 'GET',
                              '/engine.io/?EIO=4&transport=polling&refuse=1')
    assert (status, body) == (401, b'"Unauthorized"')


def test_long_poll_is_held_then_answered(server):
    port, events = server
    sid = open_session(port)
    target = '/engine.io/?EIO=4&transport=polling&sid=' + sid
    poll = socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT)
    try:
        poll.sendall(('GET %s HTTP/1.1\r\nHost: x\r\n\r\n' % target).encode())
        # a second GET while the first is held is a protocol error; a POST
        # is not, and its message wakes the held GET with the echo
        assert request(port, 'POST', target, body=b'4wake')[:3:2] == (
            200, b'ok')
        received = b''
        while not received.endswith(b'4wake'):
            chunk = poll.recv(4096)
            assert chunk, received
            received += chunk
        assert received.startswith(b'HTTP/1.1 200 OK\r\n')
    finally:
        poll.close()
    request(port, 'POST', target, body=b'1')
    assert events.wait_disconnect(sid) == 'client disconnect'


def test_overlapping_polls_close_the_session(server):
    port, events = server
    sid = open_session(port)
    target = '/engine.io/?EIO=4&transport=polling&sid=' + sid
    held = socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT)
    try:
        held.sendall(('GET %s HTTP/1.1\r\nHost: x\r\n\r\n' % target).encode())
        # wait until the first GET is held: a POST proves it was parsed
        assert request(port, 'POST', target, body=b'6')[0] == 200
        status, _, body = request(port, 'GET', target)
        assert status == 400 and json.loads(body)['code'] == 3
        answer = held.recv(4096)
        assert answer.startswith(b'HTTP/1.1 200') and answer.endswith(b'1')
    finally:
        held.close()
    assert events.wait_disconnect(sid) == 'transport error'


def test_post_over_limit_is_refused(server):
    port, events = server
    sid = open_session(port)
    target = '/engine.io/?EIO=4&transport=polling&sid=' + sid
    status, headers, _ = request(port, 'POST', target,
                                 body=b'4' + b'x' * 2000)
    assert status == 413 and headers.get('Connection') == 'close'
    assert events.wait_disconnect(sid) == 'transport error'


def test_chunked_post_over_limit_is_refused(server):
    port, events = server
    sid = open_session(port)
    chunk = b'4' + b'x' * 1999
    response = raw_exchange(port, (
        'POST /engine.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\n'
        'Host: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n' % (
            sid, len(chunk))).encode() + chunk + b'\r\n0\r\n\r\n')
    assert status_of(response) == 413
    assert events.wait_disconnect(sid) == 'transport error'


def test_held_poll_aborted_by_client(server):
    port, events = server
    sid = open_session(port)
    target = '/engine.io/?EIO=4&transport=polling&sid=' + sid
    conn = socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT)
    conn.sendall(('GET %s HTTP/1.1\r\nHost: x\r\n\r\n' % target).encode())
    assert request(port, 'POST', target, body=b'6')[0] == 200
    conn.close()
    assert events.wait_disconnect(sid) == 'transport error'


def test_websocket_direct_echo(server):
    port, events = server
    ws = RawWebSocket(port, '/engine.io/?EIO=4&transport=websocket')
    try:
        assert ws.status == 101
        opcode, payload = ws.recv()
        assert opcode == OP_TEXT and payload.startswith('0{')
        handshake = json.loads(payload[1:])
        assert handshake['upgrades'] == [] and handshake['maxPayload'] == 1000
        sid = handshake['sid']
        ws.send('4héllo')
        assert ws.recv() == (OP_TEXT, '4héllo')
        ws.send(b'\x00\x01\xff')
        assert ws.recv() == (OP_BINARY, b'\x00\x01\xff')
        ws.send(b'ping!', opcode=9)
        assert ws.recv() == (10, b'ping!')
        ws.send('1')
        assert events.wait_disconnect(sid) == 'client disconnect'
    finally:
        ws.close()


def test_websocket_keeps_order_when_a_handler_suspends(server):
    port, events = server
    ws = RawWebSocket(port, '/engine.io/?EIO=4&transport=websocket')
    try:
        sid = json.loads(ws.recv()[1][1:])['sid']
        # three frames in one segment: the first handler awaits a timer
        ws.sock.sendall(b''.join(
            __import__('engineio._speedups', fromlist=['websocket'])
            .websocket.build_frame(OP_TEXT, text, mask_key=b'abcd')
            for text in ('4slow', '4a', '4b')))
        assert [ws.recv() for _ in range(3)] == [
            (OP_TEXT, '4slow'), (OP_TEXT, '4a'), (OP_TEXT, '4b')]
    finally:
        ws.close()
    assert events.wait_disconnect(sid) == 'transport close'


def test_websocket_upgrade(server):
    port, events = server
    sid = open_session(port)
    target = '/engine.io/?EIO=4&transport=polling&sid=' + sid
    poll = socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT)
    ws = RawWebSocket(port, '/engine.io/?EIO=4&transport=websocket&sid=' +
                      sid)
    try:
        assert ws.status == 101
        poll.sendall(('GET %s HTTP/1.1\r\nHost: x\r\n\r\n' % target).encode())
        ws.send('2probe')
        assert ws.recv() == (OP_TEXT, '3probe')
        # the pending poll returns a noop so that the client can upgrade
        answer = poll.recv(4096)
        assert answer.startswith(b'HTTP/1.1 200') and answer.endswith(b'6')
        ws.send('5')
        ws.send('4after')
        assert ws.recv() == (OP_TEXT, '4after')
        status, _, body = request(port, 'GET', target)
        assert status == 400
        # a second WebSocket for the same sid is refused
        second = RawWebSocket(
            port, '/engine.io/?EIO=4&transport=websocket&sid=' + sid)
        assert second.status == 400
        second.close()
    finally:
        poll.close()
        ws.close()
    assert events.wait_disconnect(sid) == 'transport close'


def test_websocket_refused_for_unknown_sid(server):
    port, _ = server
    ws = RawWebSocket(port, '/engine.io/?EIO=4&transport=websocket&sid=nope')
    try:
        assert ws.status == 400
        assert ws.headers['connection'] == 'close'
        assert json.loads(ws.rest)['code'] == 1
    finally:
        ws.close()


def test_websocket_bad_handshake_is_refused(server):
    port, _ = server
    response = raw_exchange(port, (
        b'GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n'
        b'Upgrade: websocket\r\nConnection: Upgrade\r\n'
        b'Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n'))
    assert status_of(response) == 400 and b'Sec-WebSocket-Key' in response


def test_websocket_message_over_limit_closes_1009(server):
    port, events = server
    ws = RawWebSocket(port, '/engine.io/?EIO=4&transport=websocket')
    try:
        sid = json.loads(ws.recv()[1][1:])['sid']
        ws.send('4' + 'x' * 2000)
        opcode, payload = ws.recv()
        assert opcode == OP_CLOSE
        assert int.from_bytes(payload[:2], 'big') == 1009
        assert ws.recv() == (None, None)  # and the server closes TCP
        assert events.wait_disconnect(sid) == 'transport close'
    finally:
        ws.close()


def test_websocket_unmasked_frame_closes_1002(server):
    port, events = server
    ws = RawWebSocket(port, '/engine.io/?EIO=4&transport=websocket')
    try:
        sid = json.loads(ws.recv()[1][1:])['sid']
        ws.sock.sendall(b'\x81\x024a')  # a client frame must be masked
        opcode, payload = ws.recv()
        assert (opcode, int.from_bytes(payload[:2], 'big')) == (OP_CLOSE,
                                                                1002)
        assert events.wait_disconnect(sid) == 'transport close'
    finally:
        ws.close()


def test_websocket_client_close_frame_is_answered(server):
    port, events = server
    ws = RawWebSocket(port, '/engine.io/?EIO=4&transport=websocket')
    try:
        sid = json.loads(ws.recv()[1][1:])['sid']
        ws.send((1001).to_bytes(2, 'big'), opcode=OP_CLOSE)
        opcode, payload = ws.recv()
        assert (opcode, payload) == (OP_CLOSE, (1001).to_bytes(2, 'big'))
        assert ws.recv() == (None, None)
        assert events.wait_disconnect(sid) == 'transport close'
    finally:
        ws.close()


# -- opening a WebSocket: one write, no pause, no task -----------------------

def upgrade_with(port, target, extra=b''):
    """Send a WebSocket upgrade request and ``extra`` (frames) in one
    segment; return the socket, the status and a reader of the frames
    that follow the response head (for another status: the body, read
    until the server closed the connection)."""
    from engineio._speedups import websocket as ws_kernel
    sock = socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT)
    key = __import__('base64').b64encode(os.urandom(16))
    sock.sendall(b'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n'
                 b'Upgrade: websocket\r\nConnection: Upgrade\r\n'
                 b'Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n'
                 b'\r\n%s' % (target.encode(), key, extra))
    data = b''
    while b'\r\n\r\n' not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, _, rest = data.partition(b'\r\n\r\n')
    status = int(head.split(b' ', 2)[1])
    if status != 101:
        while True:  # the body, until the server closes
            chunk = sock.recv(65536)
            if not chunk:
                return sock, status, rest
            rest += chunk
    parser = ws_kernel.FrameParser(None, require_mask=False)
    pending = list(parser.feed(rest))

    def next_frame():
        while not pending:
            chunk = sock.recv(65536)
            if not chunk:
                return None, None
            pending.extend(parser.feed(chunk))
        return pending.pop(0)

    return sock, status, next_frame


def masked(text):
    from engineio._speedups import websocket as ws_kernel
    return ws_kernel.build_frame(OP_TEXT, text, mask_key=os.urandom(4))


def test_websocket_open_with_messages_in_the_request_segment(server):
    # the WebSocket takes the connection over while the request's segment
    # is being read: what follows the head is read at once, in order,
    # after the OPEN packet
    port, events = server
    sock, status, next_frame = upgrade_with(
        port, '/engine.io/?EIO=4&transport=websocket',
        masked('4first') + masked('4second'))
    try:
        assert status == 101
        opcode, payload = next_frame()
        assert opcode == OP_TEXT and payload.startswith('0{')
        sid = json.loads(payload[1:])['sid']
        assert next_frame() == (OP_TEXT, '4first')
        assert next_frame() == (OP_TEXT, '4second')
        sock.sendall(masked('4third'))  # reading was not left paused
        assert next_frame() == (OP_TEXT, '4third')
    finally:
        sock.close()
    assert events.wait_disconnect(sid) == 'transport close'


def test_websocket_open_waits_for_a_suspended_connect_handler():
    # the handshake finishes in a task: reading pauses meanwhile, so a
    # message sent with the request is handled after the OPEN packet
    events = Events()
    eio = echo_server(events)
    handler_calls = []

    @eio.on('connect')
    async def connect(sid, environ):
        await asyncio.sleep(0.05)
        handler_calls.append(sid)
        if 'refuse=1' in environ['QUERY_STRING']:
            return False

    running = Running(eio)
    try:
        sock, status, next_frame = upgrade_with(
            running.port, '/engine.io/?EIO=4&transport=websocket',
            masked('4early'))
        try:
            assert status == 101
            opcode, payload = next_frame()
            assert opcode == OP_TEXT and payload.startswith('0{')
            sid = json.loads(payload[1:])['sid']
            assert handler_calls == [sid]
            assert next_frame() == (OP_TEXT, '4early')
            sock.sendall(masked('4late'))
            assert next_frame() == (OP_TEXT, '4late')
        finally:
            sock.close()
        assert events.wait_disconnect(sid) == 'transport close'
        # refused after the suspension: 401, and the connection closes
        sock, status, body = upgrade_with(
            running.port, '/engine.io/?EIO=4&transport=websocket&refuse=1')
        sock.close()
        assert (status, body) == (401, b'"Unauthorized"')
        assert len(handler_calls) == 2
    finally:
        running.stop()


def test_open_packet_follows_the_json_module(server):
    # the OPEN packet is encoded once per settings and JSON module, with
    # the sid spliced in: it must be what the module itself writes
    port, _ = server
    spaced = type('SpacedJson', (), {
        'dumps': staticmethod(lambda obj, **kwargs: json.dumps(obj)),
        'loads': staticmethod(json.loads)})
    original = engineio.packet.Packet.json
    engineio.packet.Packet.json = spaced
    try:
        ws = RawWebSocket(port, '/engine.io/?EIO=4&transport=websocket')
        try:
            opcode, payload = ws.recv()
        finally:
            ws.close()
    finally:
        engineio.packet.Packet.json = original
    data = json.loads(payload[1:])
    assert payload == '0' + json.dumps(data)  # ", " and ": " separators
    assert list(data) == ['sid', 'upgrades', 'pingTimeout', 'pingInterval',
                          'maxPayload']
    assert len(data['sid']) == 20
    ws = RawWebSocket(port, '/engine.io/?EIO=4&transport=websocket')
    try:
        payload = ws.recv()[1]  # back to the compact default
        assert payload == '0' + json.dumps(json.loads(payload[1:]),
                                           separators=(',', ':'))
    finally:
        ws.close()


def test_sids_are_unique_and_not_shared_with_a_forked_child():
    # sids draw on random bytes read for several at a time: a forked child
    # must read its own
    if not hasattr(os, 'fork'):
        pytest.skip('no fork here')
    code = (
        'import os\n'
        'from engineio._sansio.server import ServerCore\n'
        'core = ServerCore()\n'
        'sids = {core.generate_id() for _ in range(500)}\n'
        'assert len(sids) == 500\n'
        'r, w = os.pipe()\n'
        'pid = os.fork()\n'
        'if pid == 0:\n'
        '    os.write(w, core.generate_id().encode()); os._exit(0)\n'
        'os.waitpid(pid, 0)\n'
        'child, parent = os.read(r, 100).decode(), core.generate_id()\n'
        'assert len(child) == len(parent) == 20\n'
        'assert child[:16] != parent[:16], (child, parent)\n'
        'print("ok")\n')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True,
                            text=True, timeout=TIMEOUT)
    assert result.stdout.strip() == 'ok', result.stderr


def test_connection_that_sends_nothing_is_closed(server):
    port, _ = server  # header_timeout=1.0
    sock = socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT)
    try:
        started = time.monotonic()
        assert sock.recv(4096) == b''  # closed, no request to answer
        assert 0.5 < time.monotonic() - started < TIMEOUT
    finally:
        sock.close()


@pytest.mark.parametrize('mode', ['polling', 'websocket', 'upgrade'])
def test_official_js_client(server, mode):
    port, events = server
    output = js_client_echo(port, mode)
    assert events.wait_disconnect(output['sid']) == (
        'client disconnect' if mode == 'polling' else 'transport close')


# -- HTTP -------------------------------------------------------------------

def test_keep_alive_serves_several_requests_on_one_connection(server):
    port, events = server
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=TIMEOUT)
    try:
        conn.request('GET', '/engine.io/?EIO=4&transport=polling')
        response = conn.getresponse()
        sid = json.loads(response.read()[1:])['sid']
        target = '/engine.io/?EIO=4&transport=polling&sid=' + sid
        local = conn.sock.getsockname()
        for text in ('one', 'two', 'three'):
            conn.request('POST', target, body=('4' + text).encode())
            assert conn.getresponse().read() == b'ok'
            conn.request('GET', target)
            assert conn.getresponse().read() == ('4' + text).encode()
        conn.request('GET', '/')
        assert conn.getresponse().read() == b'<h1>hi</h1>'
        assert conn.sock.getsockname() == local  # still the same connection
        conn.request('POST', target, body=b'1')
        assert conn.getresponse().read() == b'ok'
    finally:
        conn.close()
    assert events.wait_disconnect(sid) == 'client disconnect'


def test_pipelined_requests_are_answered_in_order(server):
    port, _ = server
    sid = open_session(port)
    target = '/engine.io/?EIO=4&transport=polling&sid=' + sid
    sock = socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT)
    try:
        sock.sendall((
            'POST {0} HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n4first'
            'GET {0} HTTP/1.1\r\nHost: x\r\n\r\n'
            'GET /other?q=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi'
            'POST {0} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n'
            'Connection: close\r\n\r\n1'.format(target)).encode())
        received = b''
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    finally:
        sock.close()
    bodies = [part.split(b'\r\n\r\n', 1)[1] if b'\r\n\r\n' in part else part
              for part in received.split(b'HTTP/1.1 ')[1:]]
    assert [b.split(b'\r\n')[-1] for b in bodies] == [
        b'ok', b'4first', b'GET /other q=1 hi', b'ok']


def test_static_files_other_app_and_not_found(server):
    port, _ = server
    status, headers, body = request(port, 'GET', '/')
    assert (status, body) == (200, b'<h1>hi</h1>')
    assert headers['Content-Type'] == 'text/html'
    status, _, body = request(port, 'POST', '/api/x?a=b', body=b'data')
    assert (status, body) == (201, b'POST /api/x a=b data')
    status, headers, body = request(port, 'GET', '/stream')
    assert (status, body) == (200, b'one,two,three')
    assert headers['Transfer-Encoding'] == 'chunked'
    response = raw_exchange(port, b'GET /../etc/passwd HTTP/1.1\r\nHost: x\r\n'
                                  b'Connection: close\r\n\r\n')
    assert b'root:' not in response


@pytest.mark.parametrize('data, status', [
    (b'GARBAGE\r\n\r\n', 400),
    (b'GET / HTTP/1.1\r\nBad Header\r\n\r\n', 400),
    (b'GET /engine.io/ HTTP/1.1\r\n\r\n', 400),  # HTTP/1.1 needs Host
    (b'POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n'
     b'Transfer-Encoding: chunked\r\n\r\nabc', 400),
    (b'POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'
     b'zz\r\nabc\r\n0\r\n\r\n', 400),
    (b'GET /' + b'a' * 9000 + b' HTTP/1.1\r\nHost: x\r\n\r\n', 414),
    (b'GET / HTTP/1.1\r\nHost: x\r\nX-Big: ' + b'a' * 20000 + b'\r\n\r\n',
     431),
    (b'GET / HTTP/1.1\r\nHost: x\r\n' + b''.join(
        b'X-%d: 1\r\n' % i for i in range(150)) + b'\r\n', 431),
    (b'GET / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n', 400),
])
def test_malformed_http_gets_4xx_and_a_closed_connection(server, data,
                                                         status):
    port, _ = server
    response = raw_exchange(port, data)  # returns once the server closed
    assert status_of(response) == status, response[:200]
    assert b'Connection: close' in response


def test_endless_header_is_cut_at_the_size_limit(server):
    port, _ = server
    sock = socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT)
    try:
        sock.sendall(b'GET / HTTP/1.1\r\nHost: x\r\nX-Endless: ')
        response = b''
        try:
            for _ in range(100):  # 100 x 1 KiB, never a line end
                sock.sendall(b'a' * 1024)
        except (BrokenPipeError, ConnectionResetError):
            pass
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            response += chunk
        assert status_of(response) == 431
    finally:
        sock.close()


def test_http_10(server):
    port, _ = server
    response = raw_exchange(port, b'GET / HTTP/1.0\r\n\r\n')
    assert status_of(response) == 200 and b'Connection: close' in response
    sock = socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT)
    try:
        for _ in range(2):  # asked for keep-alive: the connection stays
            sock.sendall(b'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n')
            response = b''
            while not response.endswith(b'<h1>hi</h1>'):
                chunk = sock.recv(4096)
                assert chunk
                response += chunk
            assert b'Connection: keep-alive' in response
    finally:
        sock.close()


def test_expect_100_continue(server):
    port, _ = server
    sid = open_session(port)
    sock = socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT)
    try:
        sock.sendall((
            'POST /engine.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\n'
            'Host: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n'
            % sid).encode())
        assert sock.recv(4096) == b'HTTP/1.1 100 Continue\r\n\r\n'
        sock.sendall(b'4hi')
        response = sock.recv(4096)
        assert response.startswith(b'HTTP/1.1 200') and \
            response.endswith(b'ok')
    finally:
        sock.close()


def test_slow_header_is_timed_out(server):
    port, _ = server  # header_timeout=1.0
    sock = socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT)
    try:
        started = time.monotonic()
        sock.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n')  # never finished
        response = b''
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            response += chunk
        assert status_of(response) == 408
        assert 0.5 < time.monotonic() - started < TIMEOUT
    finally:
        sock.close()


def test_idle_keep_alive_connection_is_closed():
    events = Events()
    running = Running(echo_server(events), keep_alive_timeout=0.3,
                      header_timeout=5)
    try:
        sock = socket.create_connection(('127.0.0.1', running.port),
                                        timeout=TIMEOUT)
        sock.sendall(b'GET /x HTTP/1.1\r\nHost: x\r\n\r\n')
        assert status_of(sock.recv(4096)) == 404
        assert sock.recv(4096) == b''  # closed after the idle timeout
        sock.close()
    finally:
        running.stop()


# -- back-pressure, TLS, the generic paths, shutdown -------------------------

def test_client_that_does_not_read_is_disconnected():
    events = Events()
    running = Running(echo_server(events, max_queued_packets=20),
                      write_buffer_limit=16384)
    try:
        ws = RawWebSocket(running.port,
                          '/engine.io/?EIO=4&transport=websocket')
        ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sid = json.loads(ws.recv()[1][1:])['sid']
        # 2,000 messages of 64 KiB (128 MB) and a client that reads none
        ws.send('4flood:2000:65536')
        assert events.wait_disconnect(sid) == 'transport error'
        # the connection is then dropped (after the close linger)
        deadline = time.monotonic() + TIMEOUT
        ended = False
        while time.monotonic() < deadline:
            try:
                if not ws.sock.recv(1 << 20):
                    ended = True
                    break
            except (ConnectionResetError, socket.timeout):
                ended = True
                break
        assert ended
        ws.close()
    finally:
        running.stop()


def _self_signed(tmp_path):
    openssl = shutil.which('openssl')
    if openssl is None:
        pytest.skip('no openssl command to make a test certificate')
    cert, key = tmp_path / 'cert.pem', tmp_path / 'key.pem'
    subprocess.run([openssl, 'req', '-x509', '-newkey', 'rsa:2048',
                    '-nodes', '-keyout', str(key), '-out', str(cert),
                    '-days', '1', '-subj', '/CN=127.0.0.1'],
                   check=True, capture_output=True, timeout=TIMEOUT)
    return str(cert), str(key)


def test_tls(tmp_path):
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=cert)
    client_context.check_hostname = False
    events = Events()
    running = Running(echo_server(events), ssl=context)
    try:
        conn = http.client.HTTPSConnection('127.0.0.1', running.port,
                                           timeout=TIMEOUT,
                                           context=client_context)
        conn.request('GET', '/engine.io/?EIO=4&transport=polling')
        sid = json.loads(conn.getresponse().read()[1:])['sid']
        target = '/engine.io/?EIO=4&transport=polling&sid=' + sid
        conn.request('POST', target, body=b'4secret')
        assert conn.getresponse().read() == b'ok'
        conn.request('GET', target)
        assert conn.getresponse().read() == b'4secret'
        conn.close()
        raw = client_context.wrap_socket(socket.create_connection(
            ('127.0.0.1', running.port), timeout=TIMEOUT))
        raw.sendall(b'GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\n'
                    b'Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                    b'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
                    b'Sec-WebSocket-Version: 13\r\n\r\n')
        head = b''
        while b'"maxPayload"' not in head:
            chunk = raw.recv(4096)
            assert chunk
            head += chunk
        assert head.startswith(b'HTTP/1.1 101')
        raw.close()
    finally:
        running.stop()


def test_patched_socket_methods_take_the_generic_paths(monkeypatch):
    seen = []

    async def websocket_handler(self, original, ws):
        seen.append('ws')
        return await original(self, ws)

    async def post_handler(self, original, environ):
        seen.append('post')
        return await original(self, environ)

    # as python-socketio's admin UI does: partialmethod on the class
    monkeypatch.setattr(AsyncSocket, '_websocket_handler', functools.
                        partialmethod(websocket_handler,
                                      AsyncSocket._websocket_handler))
    monkeypatch.setattr(AsyncSocket, 'handle_post_request', functools.
                        partialmethod(post_handler,
                                      AsyncSocket.handle_post_request))
    events = Events()
    running = Running(echo_server(events, max_http_buffer_size=1000))
    try:
        port = running.port
        sid = open_session(port)
        target = '/engine.io/?EIO=4&transport=polling&sid=' + sid
        assert request(port, 'POST', target, body=b'4polled')[2] == b'ok'
        assert request(port, 'GET', target)[2] == b'4polled'
        status, _, _ = request(port, 'POST', target, body=b'4' + b'x' * 2000)
        assert status == 413
        assert events.wait_disconnect(sid) == 'transport error'
        ws = RawWebSocket(port, '/engine.io/?EIO=4&transport=websocket')
        sid = json.loads(ws.recv()[1][1:])['sid']
        ws.send('4generic')
        assert ws.recv() == (OP_TEXT, '4generic')
        ws.send('1')
        assert events.wait_disconnect(sid) == 'client disconnect'
        ws.close()
        # (the 413 was decided on Content-Length, before any body read)
        assert seen == ['post', 'ws']
    finally:
        running.stop()


_SHUTDOWN_APP = '''
import engineio
eio = engineio.AsyncServer(async_mode='asgi')

@eio.on('message')
async def message(sid, data):
    await eio.send(sid, data)
'''


def test_graceful_shutdown_on_sigterm(tmp_path):
    (tmp_path / 'shutdown_app.py').write_text(_SHUTDOWN_APP)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(tmp_path), ROOT, os.environ.get('PYTHONPATH', '')]))
    process = subprocess.Popen(
        [sys.executable, '-m', 'engineio.embedded', 'shutdown_app:eio',
         '--port', '0', '--shutdown-timeout', '5'],
        cwd=str(tmp_path), env=env, stderr=subprocess.PIPE)
    try:
        line = b''
        deadline = time.monotonic() + TIMEOUT
        while b'serving on' not in line:
            ready, _, _ = select.select([process.stderr], [], [],
                                        max(deadline - time.monotonic(), 0))
            assert ready, 'the server did not start'
            line = process.stderr.readline()
            assert line, 'the server exited'
        port = int(line.rsplit(b':', 1)[1])
        ws = RawWebSocket(port, '/engine.io/?EIO=4&transport=websocket')
        ws.recv()
        ws.send('4before')
        assert ws.recv() == (OP_TEXT, '4before')
        sid = open_session(port)
        poll = socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT)
        poll.sendall(('GET /engine.io/?EIO=4&transport=polling&sid=%s '
                      'HTTP/1.1\r\nHost: x\r\n\r\n' % sid).encode())
        # the POST proves the GET is held
        assert request(port, 'POST', '/engine.io/?EIO=4&transport=polling'
                       '&sid=' + sid, body=b'6')[0] == 200
        process.send_signal(signal.SIGTERM)
        assert ws.recv() == (OP_TEXT, '1')  # a CLOSE packet, then 1000
        opcode, payload = ws.recv()
        assert (opcode, int.from_bytes(payload[:2], 'big')) == (OP_CLOSE,
                                                                1000)
        ws.send(payload, opcode=OP_CLOSE)
        answer = b''
        while True:
            chunk = poll.recv(4096)
            if not chunk:
                break
            answer += chunk
        assert answer.startswith(b'HTTP/1.1 200') and answer.endswith(b'1')
        assert b'Connection: close' in answer
        assert process.wait(TIMEOUT) == 0
        ws.close()
        poll.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()


def test_import_error_is_clear_without_httptools():
    code = ('import sys; sys.modules["httptools"] = None\n'
            'try:\n    import engineio.embedded\n'
            'except ImportError as exc:\n    print(exc)\n')
    result = subprocess.run([sys.executable, '-c', code], cwd=ROOT,
                            capture_output=True, timeout=TIMEOUT)
    assert b'needs the httptools and uvloop packages' in result.stdout


def test_python_socketio_server_runs_unchanged():
    socketio = pytest.importorskip('socketio')
    sio = socketio.AsyncServer(async_mode='asgi')
    seen = threading.Event()

    @sio.on('hello')
    async def hello(sid, data):
        seen.set()
        return 'hi ' + data  # the acknowledgement

    running = Running(sio)
    try:
        ws = RawWebSocket(running.port,
                          '/socket.io/?EIO=4&transport=websocket')
        assert ws.recv()[1].startswith('0{')
        ws.send('40')  # Socket.IO CONNECT to the main namespace
        assert ws.recv()[1].startswith('40{"sid":')
        ws.send('421["hello","you"]')  # an event with ack id 1
        assert ws.recv() == (OP_TEXT, '431["hi you"]')
        assert seen.is_set()
        ws.close()
    finally:
        running.stop()
