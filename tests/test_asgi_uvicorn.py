"""``AsyncServer`` + ``ASGIApp`` on a real uvicorn on 127.0.0.1.

One uvicorn per module, in a thread, on a socket bound before it starts
(connections wait in the backlog, so no readiness polling is needed).
Raw HTTP with ``http.client``, raw WebSocket with our framing kernel, and the
official ``engine.io-client`` in Node.  Skipped where uvicorn is not
installed (PyPy); the Node part fails under ``CI`` when Node or
``tests/js/node_modules`` is missing, else skips.
"""
import importlib.util
import json
import socket
import threading

import pytest

from tests.asgi_helpers import OP_BINARY, OP_CLOSE, OP_TEXT, RawWebSocket
from tests.loopback import TIMEOUT, js_client_echo, open_session, request

uvicorn = pytest.importorskip('uvicorn')

import engineio  # noqa: E402



def _ws_implementation():
    if importlib.util.find_spec('websockets') is not None:
        return 'websockets-sansio'
    if importlib.util.find_spec('wsproto') is not None:
        return 'wsproto'
    pytest.skip('uvicorn has no WebSocket implementation installed')


class Events:
    """What the server's handlers saw, readable from the test thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.connects = []
        self.disconnects = {}
        self.disconnected = {}
        self.started = threading.Event()

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
    eio = engineio.AsyncServer(async_mode='asgi', max_http_buffer_size=1000,
                               async_handlers=False)

    @eio.on('connect')
    def connect(sid, environ):
        events.connects.append(sid)
        if 'refuse=1' in environ['QUERY_STRING']:
            return False

    @eio.on('message')
    async def message(sid, data):
        await eio.send(sid, data)

    @eio.on('disconnect')
    def disconnect(sid, reason):
        with events.lock:
            events.disconnects[sid] = reason
            events.disconnected.setdefault(sid, threading.Event()).set()

    app = engineio.ASGIApp(eio, static_files={'/': str(static / 'index.html')},
                           on_startup=events.started.set)
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, loop='asyncio', ws=_ws_implementation(),
                            lifespan='on', log_level='warning',
                            timeout_graceful_shutdown=2)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={'sockets': [listener]},
                              daemon=True)
    thread.start()
    try:
        assert events.started.wait(TIMEOUT), 'lifespan startup did not run'
        yield port, events
    finally:
        uv.should_exit = True
        thread.join(TIMEOUT)
        listener.close()


def test_handshake_and_polling_echo(server):
    port, events = server
    sid = open_session(port)
    target = '/engine.io/?EIO=4&transport=polling&sid=' + sid
    status, _, body = request(port, 'POST', target, body=b'4hello\x1ebAQID')
    assert (status, body) == (200, b'ok')
    status, _, body = request(port, 'GET', target)
    assert (status, body) == (200, b'4hello\x1ebAQID')
    status, _, body = request(port, 'POST', target, body=b'1')
    assert (status, body) == (200, b'ok')
    assert events.wait_disconnect(sid) == 'client disconnect'
    status, _, body = request(port, 'GET', target)
    assert status == 400 and json.loads(body)['code'] == 1


def test_protocol_errors(server):
    port, _ = server
    status, _, body = request(port, 'GET', '/engine.io/?EIO=4&transport=x')
    assert status == 400 and json.loads(body) == {
        'code': 0, 'message': 'Transport unknown'}
    status, _, body = request(port, 'GET', '/engine.io?EIO=5&'
                              'transport=polling')
    assert status == 400 and json.loads(body)['code'] == 5
    status, _, body = request(port, 'GET',
                              '/engine.io/?EIO=4&transport=polling&refuse=1')
    assert (status, body) == (401, b'"Unauthorized"')


def test_post_over_limit_is_refused(server):
    port, events = server
    sid = open_session(port)
    target = '/engine.io/?EIO=4&transport=polling&sid=' + sid
    status, _, _ = request(port, 'POST', target, body=b'4' + b'x' * 2000)
    assert status == 413
    assert events.wait_disconnect(sid) == 'transport error'


def test_held_poll_aborted_by_client(server):
    port, events = server
    sid = open_session(port)
    conn = socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT)
    conn.sendall(('GET /engine.io/?EIO=4&transport=polling&sid=%s HTTP/1.1'
                  '\r\nHost: x\r\n\r\n' % sid).encode())
    # the POST proves the GET is held (a second GET would be refused)
    target = '/engine.io/?EIO=4&transport=polling&sid=' + sid
    assert request(port, 'POST', target, body=b'6')[0] == 200
    conn.close()
    assert events.wait_disconnect(sid) == 'transport error'


def test_static_file_and_not_found(server):
    port, _ = server
    status, headers, body = request(port, 'GET', '/')
    assert (status, body) == (200, b'<h1>hi</h1>')
    assert headers['content-type'] == 'text/html'
    assert request(port, 'GET', '/nothing')[0] == 404
    assert request(port, 'GET', '/../etc/passwd')[0] == 404


def test_websocket_direct_echo(server):
    port, events = server
    ws = RawWebSocket(port, '/engine.io/?EIO=4&transport=websocket')
    try:
        assert ws.status == 101
        opcode, payload = ws.recv()
        assert opcode == OP_TEXT and payload.startswith('0{')
        sid = json.loads(payload[1:])['sid']
        ws.send('4héllo')
        assert ws.recv() == (OP_TEXT, '4héllo')
        ws.send(b'\x00\x01\xff')
        assert ws.recv() == (OP_BINARY, b'\x00\x01\xff')
        ws.send('1')
        assert events.wait_disconnect(sid) == 'client disconnect'
    finally:
        ws.close()


def test_websocket_upgrade(server):
    port, events = server
    sid = open_session(port)
    ws = RawWebSocket(port, '/engine.io/?EIO=4&transport=websocket&sid=' +
                      sid)
    try:
        assert ws.status == 101
        ws.send('2probe')
        assert ws.recv() == (OP_TEXT, '3probe')
        ws.send('5')
        ws.send('4after')
        assert ws.recv() == (OP_TEXT, '4after')
        status, _, body = request(
            port, 'GET', '/engine.io/?EIO=4&transport=polling&sid=' + sid)
        assert status == 400
    finally:
        ws.close()
    assert events.wait_disconnect(sid) == 'transport close'


def test_websocket_message_over_limit_closes_1009(server):
    port, events = server
    ws = RawWebSocket(port, '/engine.io/?EIO=4&transport=websocket')
    try:
        sid = json.loads(ws.recv()[1][1:])['sid']
        ws.send('4' + 'x' * 2000)
        opcode, payload = ws.recv()
        assert opcode == OP_CLOSE
        assert int.from_bytes(payload[:2], 'big') == 1009
        assert events.wait_disconnect(sid) == 'transport close'
    finally:
        ws.close()


def test_websocket_refused_for_unknown_sid(server):
    port, _ = server
    ws = RawWebSocket(port, '/engine.io/?EIO=4&transport=websocket&sid=nope')
    try:
        # uvicorn offers the websocket.http.response extension (all its
        # WebSocket implementations do): the client gets the protocol's 400
        assert ws.status == 400
        assert ws.headers['content-type'] == 'application/json'
    finally:
        ws.close()


@pytest.mark.parametrize('mode', ['polling', 'websocket', 'upgrade'])
def test_official_js_client(server, mode):
    port, events = server
    output = js_client_echo(port, mode)
    # engine.io-client sends "1" over polling; over WebSocket it just
    # closes the connection (as the JavaScript server also reports)
    assert events.wait_disconnect(output['sid']) == (
        'client disconnect' if mode == 'polling' else 'transport close')
