"""``Server`` + ``WSGIApp`` in threading mode on werkzeug's threaded
development server on 127.0.0.1, with our WebSocket on its raw socket.

Raw HTTP with ``http.client``, raw WebSocket with our framing kernel
(masked client frames, ``FrameParser(require_mask=False)``), and the
official ``engine.io-client`` in Node (``tests/js/asgi_client.js``, which
takes any server URL).  Skipped where werkzeug is not installed; the Node
part fails under ``CI`` when Node or ``tests/js/node_modules`` is missing,
else skips.
"""
import json
import os
import socket
import threading

import pytest

from engineio._speedups import websocket as ws_kernel
from tests.asgi_helpers import OP_BINARY, OP_CLOSE, OP_TEXT, RawWebSocket
from tests.loopback import TIMEOUT, js_client_echo, open_session, request

serving = pytest.importorskip('werkzeug.serving')

import engineio  # noqa: E402

OP_PING, OP_PONG = 9, 10


class QuietHandler(serving.WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


class Events:
    """What the server's handlers saw, readable from the test thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.disconnects = {}
        self.disconnected = {}

    def wait_disconnect(self, sid):
        with self.lock:
            event = self.disconnected.setdefault(sid, threading.Event())
        assert event.wait(TIMEOUT), 'no disconnect for %s' % sid
        return self.disconnects[sid]


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    static = tmp_path_factory.mktemp('static')
    (static / 'index.html').write_text('<h1>hi</h1>')
    events = Events()
    eio = engineio.Server(async_mode='threading', max_http_buffer_size=1000,
                          async_handlers=False)

    @eio.on('connect')
    def connect(sid, environ):
        if 'refuse=1' in environ['QUERY_STRING']:
            return False

    @eio.on('message')
    def message(sid, data):
        eio.send(sid, data)

    @eio.on('disconnect')
    def disconnect(sid, reason):
        with events.lock:
            events.disconnects[sid] = reason
            events.disconnected.setdefault(sid, threading.Event()).set()

    app = engineio.WSGIApp(eio, static_files={
        '/': str(static / 'index.html')})
    httpd = serving.make_server('127.0.0.1', 0, app, threaded=True,
                                request_handler=QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_port, events, eio
    finally:
        httpd.shutdown()
        thread.join(TIMEOUT)
        httpd.server_close()
        eio.shutdown()


def polling(sid):
    return '/engine.io/?EIO=4&transport=polling&sid=' + sid


def close_code(payload):
    return int.from_bytes(payload[:2], 'big')


# -- polling --------------------------------------------------------------

def test_handshake_and_polling_echo(server):
    port, events, _ = server
    sid = open_session(port)
    status, _, body = request(port, 'POST', polling(sid),
                              body=b'4hello\x1ebAQID')
    assert (status, body) == (200, b'ok')
    status, _, body = request(port, 'GET', polling(sid))
    assert (status, body) == (200, b'4hello\x1ebAQID')
    status, _, body = request(port, 'POST', polling(sid), body=b'1')
    assert (status, body) == (200, b'ok')
    assert events.wait_disconnect(sid) == 'client disconnect'
    status, _, body = request(port, 'GET', polling(sid))
    assert status == 400 and json.loads(body)['code'] == 1


def test_held_poll_woken_by_post(server):
    port, _, eio = server
    sid = open_session(port)
    result = {}

    def poll():
        result['value'] = request(port, 'GET', polling(sid))

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    # the echo of this message is what wakes the held GET
    status, _, _ = request(port, 'POST', polling(sid), body=b'4ping me')
    assert status == 200
    thread.join(TIMEOUT)
    assert result['value'][0::2] == (200, b'4ping me')
    eio.disconnect(sid)


def test_protocol_errors(server):
    port, _, _ = server
    status, _, body = request(port, 'GET', '/engine.io/?EIO=4&transport=x')
    assert status == 400 and json.loads(body) == {
        'code': 0, 'message': 'Transport unknown'}
    status, _, body = request(port, 'GET',
                              '/engine.io/?EIO=5&transport=polling')
    assert status == 400 and json.loads(body)['code'] == 5
    status, _, body = request(port, 'GET',
                              '/engine.io/?EIO=4&transport=polling&refuse=1')
    assert (status, body) == (401, b'"Unauthorized"')


def test_post_over_limit_is_refused(server):
    port, events, _ = server
    sid = open_session(port)
    status, _, _ = request(port, 'POST', polling(sid),
                           body=b'4' + b'x' * 2000)
    assert status == 413
    assert events.wait_disconnect(sid) == 'transport error'


def test_post_cut_short_by_the_client(server):
    port, events, _ = server
    sid = open_session(port)
    conn = socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT)
    conn.sendall(('POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n'
                  '\r\n4abc' % polling(sid)).encode())
    conn.shutdown(socket.SHUT_WR)  # the rest of the body never comes
    try:
        assert events.wait_disconnect(sid) == 'transport error'
    finally:
        conn.close()


def test_static_file_and_not_found(server):
    port, _, _ = server
    status, headers, body = request(port, 'GET', '/')
    assert (status, body) == (200, b'<h1>hi</h1>')
    assert headers['Content-Type'] == 'text/html'
    assert request(port, 'GET', '/nothing')[0] == 404


# -- WebSocket ------------------------------------------------------------

def open_websocket(port):
    ws = RawWebSocket(port, '/engine.io/?EIO=4&transport=websocket')
    assert ws.status == 101
    opcode, payload = ws.recv()
    assert opcode == OP_TEXT and payload.startswith('0{')
    info = json.loads(payload[1:])
    assert info['upgrades'] == []
    return ws, info['sid']


def test_websocket_direct_echo(server):
    port, events, _ = server
    ws, sid = open_websocket(port)
    try:
        ws.send('4héllo')
        assert ws.recv() == (OP_TEXT, '4héllo')
        ws.send(b'\x00\x01\xff')
        assert ws.recv() == (OP_BINARY, b'\x00\x01\xff')
        ws.send('1')
        assert events.wait_disconnect(sid) == 'client disconnect'
        opcode, payload = ws.recv()
        assert opcode == OP_CLOSE and close_code(payload) == 1000
    finally:
        ws.close()


def test_websocket_upgrade(server):
    port, events, _ = server
    sid = open_session(port)
    ws = RawWebSocket(port, '/engine.io/?EIO=4&transport=websocket&sid=' +
                      sid)
    try:
        assert ws.status == 101
        ws.send('2probe')
        assert ws.recv() == (OP_TEXT, '3probe')
        status, _, body = request(port, 'GET', polling(sid))
        assert (status, body) == (200, b'6')
        ws.send('5')
        ws.send('4after')
        assert ws.recv() == (OP_TEXT, '4after')
        status, _, _ = request(port, 'GET', polling(sid))
        assert status == 400
        # a second WebSocket for the same sid is refused
        second = RawWebSocket(
            port, '/engine.io/?EIO=4&transport=websocket&sid=' + sid)
        assert second.status == 400
        second.close()
    finally:
        ws.close()
    assert events.wait_disconnect(sid) == 'transport close'


def test_websocket_server_disconnect(server):
    port, events, eio = server
    ws, sid = open_websocket(port)
    try:
        eio.disconnect(sid)
        assert ws.recv() == (OP_TEXT, '1')
        opcode, payload = ws.recv()
        assert opcode == OP_CLOSE and close_code(payload) == 1000
        assert events.wait_disconnect(sid) == 'server disconnect'
    finally:
        ws.close()


def test_websocket_fragments_and_ping(server):
    port, _, eio = server
    ws, sid = open_websocket(port)
    try:
        mask = os.urandom
        ws.sock.sendall(
            ws_kernel.build_frame(OP_TEXT, '4hel', fin=False,
                                  mask_key=mask(4)) +
            ws_kernel.build_frame(OP_PING, b'are you there',
                                  mask_key=mask(4)) +
            ws_kernel.build_frame(0, 'lo', fin=False, mask_key=mask(4)) +
            ws_kernel.build_frame(0, ' world', mask_key=mask(4)))
        assert ws.recv() == (OP_PONG, b'are you there')
        assert ws.recv() == (OP_TEXT, '4hello world')
    finally:
        ws.close()
    eio.disconnect(sid)


@pytest.mark.parametrize('frame, code', [
    (lambda: ws_kernel.build_frame(OP_TEXT, '4' + 'x' * 2000,
                                   mask_key=os.urandom(4)), 1009),
    (lambda: ws_kernel.build_frame(OP_TEXT, b'4\xff\xfe',
                                   mask_key=os.urandom(4)), 1007),
    (lambda: ws_kernel.build_frame(OP_TEXT, '4unmasked'), 1002),
], ids=['too-big', 'invalid-utf8', 'unmasked'])
def test_websocket_violations_close_with_code(server, frame, code, caplog):
    port, events, _ = server
    ws, sid = open_websocket(port)
    try:
        ws.sock.sendall(frame())
        opcode, payload = ws.recv()
        assert opcode == OP_CLOSE and close_code(payload) == code
        assert ws.recv() == (None, None)  # then the server lets go
        assert events.wait_disconnect(sid) == 'transport close'
    finally:
        ws.close()
    if code == 1009:
        assert 'over the size limit' in caplog.text


def test_websocket_refused_for_unknown_sid(server):
    port, _, _ = server
    ws = RawWebSocket(port, '/engine.io/?EIO=4&transport=websocket&sid=nope')
    try:
        assert ws.status == 400
    finally:
        ws.close()


def test_websocket_client_vanishes(server):
    port, events, _ = server
    ws, sid = open_websocket(port)
    ws.close()  # no close frame: the read ends with EOF
    assert events.wait_disconnect(sid) == 'transport close'


# -- the official JavaScript client ---------------------------------------

@pytest.mark.parametrize('mode', ['polling', 'websocket', 'upgrade'])
def test_official_js_client(server, mode):
    port, events, _ = server
    output = js_client_echo(port, mode)
    assert events.wait_disconnect(output['sid']) == (
        'client disconnect' if mode == 'polling' else 'transport close')
