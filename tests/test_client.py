"""The sync ``engineio.Client`` against real servers on 127.0.0.1.

Peers: our ``Server`` in threading mode on werkzeug, the official Node.js
``engine.io`` server (``tests/js/eio_server.js``), and tiny scripted TCP
servers (:class:`ScriptedServer`) that misbehave on purpose: garbage
handshakes, bad OPEN packets, truncated or oversized frames, servers that
stop pinging or stop answering mid-response.  Every wait is bounded; the
tests check that the disconnect handler runs exactly once and that the
client's threads end.  ``tests/test_client_async.py`` reuses the scripted
servers for ``AsyncClient``.
"""
import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from engineio._speedups import websocket as ws_kernel
from tests.loopback import JS_DIR, TIMEOUT, node

serving = pytest.importorskip('werkzeug.serving')
pytest.importorskip('requests')

import engineio  # noqa: E402
from engineio import exceptions  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODES = {'upgrade': None, 'polling': ['polling'], 'websocket': ['websocket']}


# -- peers ------------------------------------------------------------------

class QuietHandler(serving.WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


@pytest.fixture(scope='module')
def our_server():
    """Our threading Server on werkzeug: echoes, and closes the session
    when told ``close me``."""
    eio = engineio.Server(async_mode='threading', async_handlers=False,
                          ping_interval=0.5, ping_timeout=2)

    @eio.on('connect')
    def connect(sid, environ):
        if 'refuse=1' in environ['QUERY_STRING']:
            return {'why': 'refused'}

    @eio.on('message')
    def message(sid, data):
        if data == 'close me':
            threading.Thread(target=eio.disconnect, args=(sid,)).start()
        else:
            eio.send(sid, data)

    httpd = serving.make_server('127.0.0.1', 0, engineio.WSGIApp(eio),
                                threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield 'http://127.0.0.1:%d' % httpd.server_port
    finally:
        httpd.shutdown()
        thread.join(TIMEOUT)
        httpd.server_close()
        eio.shutdown()


class NodeServer:
    """``tests/js/eio_server.js`` in a subprocess (ended by closing its
    stdin, then killed if need be)."""

    def __init__(self, options=None):
        self.process = subprocess.Popen(
            [node('engine.io'), os.path.join(JS_DIR, 'eio_server.js'), '0',
             json.dumps(options or {})],
            cwd=JS_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.process.stdout.readline()
        assert line, 'the Node server did not start'
        self.url = 'http://127.0.0.1:%d' % json.loads(line)['port']

    def close(self):
        self.process.stdin.close()
        try:
            self.process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:  # pragma: no cover
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


@pytest.fixture(scope='module')
def node_server():
    server = NodeServer({'pingInterval': 500, 'pingTimeout': 2000})
    try:
        yield server.url
    finally:
        server.close()


def accept_key(key):
    return base64.b64encode(hashlib.sha1(
        (key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').encode()
    ).digest()).decode()


class Request:
    """One HTTP request as a :class:`ScriptedServer` handler sees it."""

    def __init__(self, conn, method, target, headers, body):
        self.conn = conn
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body

    def respond(self, body, status='200 OK', content_type='text/plain',
                length=None):
        if isinstance(body, str):
            body = body.encode()
        self.conn.sendall((
            'HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n'
            'Connection: close\r\n\r\n' % (
                status, content_type,
                len(body) if length is None else length)).encode() + body)

    def accept_websocket(self, key=None):
        self.conn.sendall((
            'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n'
            'Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n' % (
                key or accept_key(self.headers['sec-websocket-key'])
            )).encode())

    def send_frame(self, opcode, data):
        self.conn.sendall(ws_kernel.build_frame(opcode, data))

    def read_frames(self, timeout=TIMEOUT):
        """What the client sends until it closes: (opcode, payload)s."""
        parser = ws_kernel.FrameParser(None, require_mask=True)
        messages = []
        self.conn.settimeout(timeout)
        try:
            while True:
                data = self.conn.recv(65536)
                if not data:
                    break
                messages.extend(parser.feed(data))
                if messages and messages[-1][0] == ws_kernel.OP_CLOSE:
                    break
        except OSError:
            pass
        return messages

    def hold(self, stop):
        """Keep the connection open and silent until ``stop`` is set."""
        stop.wait(TIMEOUT)


class ScriptedServer:
    """A TCP server on 127.0.0.1 that reads each request's head (and body)
    and hands it to ``handler(request)`` in its own thread; the handler
    answers whatever the test wants.  Everything it started ends on
    ``close()``: the listener, the connections, the threads."""

    def __init__(self, handler):
        self.handler = handler
        self.listener = socket.socket()
        self.listener.bind(('127.0.0.1', 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.url = 'http://127.0.0.1:%d' % self.port
        self.stop = threading.Event()
        self.requests = []
        self.threads = []
        self.conns = []
        self.accepter = threading.Thread(target=self._accept, daemon=True)
        self.accepter.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.conns.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,),
                                      daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn):
        conn.settimeout(TIMEOUT)
        try:
            data = b''
            while b'\r\n\r\n' not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b'\r\n\r\n')
            lines = head.decode('latin-1').split('\r\n')
            method, target, _ = lines[0].split(' ', 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(':')
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get('content-length', 0))
            while len(body) < length:
                body += conn.recv(4096)
            request = Request(conn, method, target, headers, body)
            self.requests.append(request)
            self.handler(request, self)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stop.set()
        try:  # wakes the accepting thread (close alone does not, on Linux)
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:  # pragma: no cover
            pass
        self.listener.close()
        for conn in self.conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.accepter.join(TIMEOUT)
        for thread in self.threads:
            thread.join(TIMEOUT)
            assert not thread.is_alive()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_packet(ping_interval=25000, ping_timeout=20000, upgrades=(),
                sid='abc'):
    return '0' + json.dumps({
        'sid': sid, 'upgrades': list(upgrades), 'pingInterval': ping_interval,
        'pingTimeout': ping_timeout, 'maxPayload': 1000000})


# -- the client under test ----------------------------------------------------

class TrackedClient(engineio.Client):
    """The client under test, keeping every thread it starts (readers,
    writers, message handler threads) so that a test can check that they
    all end."""

    def __init__(self, **kwargs):
        self.threads = []
        super().__init__(**kwargs)

    def start_background_task(self, target, *args, **kwargs):
        thread = super().start_background_task(target, *args, **kwargs)
        self.threads.append(thread)
        return thread


class Recorder:
    """A client with handlers that record what they see, readable from the
    test thread."""

    def __init__(self, **kwargs):
        kwargs.setdefault('handle_sigint', False)
        kwargs.setdefault('request_timeout', 3)
        self.client = TrackedClient(**kwargs)
        self.messages = []
        self.disconnects = []
        self.got = threading.Condition()
        self.client.on('message', self.on_message)
        self.client.on('disconnect', self.on_disconnect)

    def on_message(self, data):
        with self.got:
            self.messages.append(data)
            self.got.notify_all()

    def on_disconnect(self, reason):
        with self.got:
            self.disconnects.append(reason)
            self.got.notify_all()

    def wait_messages(self, count):
        with self.got:
            assert self.got.wait_for(lambda: len(self.messages) >= count,
                                     TIMEOUT), self.messages
        return self.messages

    def wait_disconnect(self):
        """The one disconnect reason, once the client is fully down."""
        with self.got:
            assert self.got.wait_for(lambda: self.disconnects, TIMEOUT)
        waiter = threading.Thread(target=self.client.wait, daemon=True)
        waiter.start()
        waiter.join(TIMEOUT)
        assert not waiter.is_alive(), 'wait() did not return'
        assert self.client.state == 'disconnected'
        self.assert_threads_ended()
        assert len(self.disconnects) == 1, self.disconnects
        return self.disconnects[0]

    def assert_threads_ended(self):
        """Every thread the client started ends (its idle message handler
        threads at once when the session ends)."""
        deadline = time.monotonic() + TIMEOUT
        for thread in self.client.threads:
            thread.join(max(deadline - time.monotonic(), 0))
            assert not thread.is_alive(), thread


def exchange(url, transports):
    rec = Recorder()
    rec.client.connect(url, transports=transports)
    expected = 'polling' if transports == ['polling'] else 'websocket'
    assert rec.client.transport() == expected
    assert rec.client.state == 'connected' and rec.client.sid
    rec.client.send('hello \u00e9\U0001F600')
    rec.client.send(b'\x00\x01\x02\xff')
    rec.client.send({'a': [1, 2]})
    assert rec.wait_messages(3) == ['hello \u00e9\U0001F600',
                                    b'\x00\x01\x02\xff', {'a': [1, 2]}]
    return rec


# -- against our Server ------------------------------------------------------

@pytest.mark.parametrize('mode', list(MODES))
def test_our_server_echo_and_client_disconnect(our_server, mode):
    rec = exchange(our_server, MODES[mode])
    # heartbeats flow (ping interval 0.5 s): still connected after several
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        time.sleep(0.1)
    assert rec.client.state == 'connected'
    rec.client.disconnect()
    assert rec.client.state == 'disconnected' and rec.client.sid is None
    assert rec.wait_disconnect() == 'client disconnect'
    with pytest.raises(exceptions.SocketIsClosedError):
        rec.client.send('too late')


@pytest.mark.parametrize('mode', list(MODES))
def test_our_server_closes(our_server, mode):
    rec = exchange(our_server, MODES[mode])
    rec.client.send('close me')
    assert rec.wait_disconnect() == 'server disconnect'


def test_reconnect_same_client(our_server):
    rec = exchange(our_server, ['websocket'])
    first = rec.client.sid
    rec.client.disconnect()
    rec.client.connect(our_server, transports=['polling'])
    assert rec.client.sid != first
    rec.client.send('again')
    assert rec.wait_messages(4)[-1] == 'again'
    rec.client.disconnect()


def test_connect_refused_by_handler(our_server):
    rec = Recorder()
    with pytest.raises(exceptions.ConnectionError) as info:
        rec.client.connect(our_server + '/?refuse=1')
    assert info.value.args == (
        'Unexpected status code 401 in server response', {'why': 'refused'})
    assert rec.client.state == 'disconnected' and not rec.disconnects
    with pytest.raises(ValueError):
        rec.client.connect(our_server, transports=['carrier-pigeon'])


def test_connect_handler_exception_aborts(our_server):
    rec = Recorder()

    @rec.client.on('connect')
    def connect():
        raise RuntimeError('no thanks')

    with pytest.raises(exceptions.ConnectionError,
                       match='Connect handler failed: no thanks'):
        rec.client.connect(our_server)
    assert rec.client.state == 'disconnected' and not rec.disconnects
    assert engineio.base_client.connected_clients == []


def test_connect_twice_and_nothing_listening(our_server):
    rec = exchange(our_server, ['polling'])
    with pytest.raises(ValueError, match='not in a disconnected state'):
        rec.client.connect(our_server)
    rec.client.disconnect()
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens on this port now
    for transports in (['polling'], ['websocket']):
        with pytest.raises(exceptions.ConnectionError):
            Recorder().client.connect('http://127.0.0.1:%d' % port,
                                      transports=transports)


def test_websocket_extra_options_checked():
    with pytest.raises(ValueError, match='no_such_option'):
        engineio.Client(websocket_extra_options={'no_such_option': 1},
                        handle_sigint=False)
    with pytest.raises(ValueError, match='bogus'):
        engineio.Client(websocket_extra_options={'sslopt': {'bogus': 1}},
                        handle_sigint=False)
    engineio.Client(websocket_extra_options={
        'timeout': 3, 'header': ['X-A: 1'], 'sslopt': {'cert_reqs': 0}},
        handle_sigint=False)


# -- against the official Node.js server ---------------------------------------

@pytest.mark.parametrize('mode', list(MODES))
def test_node_server(node_server, mode):
    rec = exchange(node_server, MODES[mode])
    time.sleep(1.2)  # a few 0.5 s heartbeats
    assert rec.client.state == 'connected'
    rec.client.send('close me')
    # the JavaScript server closes a WebSocket without a CLOSE packet: to
    # the client that is the transport ending (python-engineio says the same)
    assert rec.wait_disconnect() == ('server disconnect' if mode == 'polling'
                                     else 'transport error')


def test_node_server_client_disconnect(node_server):
    rec = exchange(node_server, None)
    rec.client.disconnect()
    assert rec.wait_disconnect() == 'client disconnect'


# -- misbehaving servers ---------------------------------------------------

def handshake_answer(body, status='200 OK', length=None):
    def handler(request, server):
        request.respond(body, status=status, length=length)
        request.hold(server.stop)
    return handler


@pytest.mark.parametrize('body,status,message', [
    ('hello', '200 OK', 'Unexpected response from server'),
    ('', '200 OK', 'Unexpected response from server'),
    ('\xff\xfe', '200 OK', 'Unexpected response from server'),
    ('4hi', '200 OK', 'OPEN packet not returned by server'),
    ('0{"upgrades":[],"pingInterval":1,"pingTimeout":1}', '200 OK',
     'Invalid OPEN packet from server: no sid'),
    ('0{"sid":"x","pingInterval":"soon","pingTimeout":1}', '200 OK',
     'Invalid OPEN packet from server: pingInterval'),
    ('0{"sid":"x","pingInterval":1,"pingTimeout":-1}', '200 OK',
     'Invalid OPEN packet from server: pingTimeout'),
    ('0[1,2]', '200 OK', 'Invalid OPEN packet from server: not a JSON'),
    ('{"code": 9}', '500 Oops', 'Unexpected status code 500'),
])
def test_bad_handshake_answers(body, status, message):
    with ScriptedServer(handshake_answer(body, status)) as server:
        rec = Recorder()
        with pytest.raises(exceptions.ConnectionError, match=message) as info:
            rec.client.connect(server.url, transports=['polling'])
        if status != '200 OK':
            assert info.value.args[1] == {'code': 9}
        assert rec.client.state == 'disconnected' and not rec.disconnects


def test_handshake_cut_short():
    # a body shorter than its Content-Length, then silence
    with ScriptedServer(handshake_answer(open_packet()[:10],
                                         length=100)) as server:
        rec = Recorder(request_timeout=0.5)
        start = time.monotonic()
        with pytest.raises(exceptions.ConnectionError):
            rec.client.connect(server.url, transports=['polling'])
        assert time.monotonic() - start < 3


def bad_frames_script(frames, closing_code):
    """A WebSocket server script: the OPEN packet, a message, then
    ``frames`` as raw bytes, then (``closing_code`` None) the end of the
    connection; what the client sent back is kept in
    ``request.received``."""
    def script(request, server):
        request.send_frame(ws_kernel.OP_TEXT, open_packet())
        request.send_frame(ws_kernel.OP_TEXT, '4before')
        for frame in frames:
            request.conn.sendall(frame)
        if closing_code is None:
            request.conn.shutdown(socket.SHUT_WR)
        request.received = request.read_frames()
    return script


def websocket_server(script):
    """A handler that accepts a direct WebSocket and runs ``script``."""
    def handler(request, server):
        assert request.headers['upgrade'].lower() == 'websocket'
        request.accept_websocket()
        script(request, server)
    return handler


def test_websocket_handshake_wrong_accept_key():
    def handler(request, server):
        request.accept_websocket(key='d3Jvbmc=')
        request.hold(server.stop)
    with ScriptedServer(handler) as server:
        with pytest.raises(exceptions.ConnectionError,
                           match='Sec-WebSocket-Accept'):
            Recorder().client.connect(server.url, transports=['websocket'])


def test_websocket_no_open_packet():
    def script(request, server):
        request.send_frame(ws_kernel.OP_TEXT, '4not an open packet')
        request.hold(server.stop)
    with ScriptedServer(websocket_server(script)) as server:
        with pytest.raises(exceptions.ConnectionError,
                           match='no OPEN packet'):
            Recorder().client.connect(server.url, transports=['websocket'])


def run_connected(script, max_size=None, on_message=None):
    """Connect to a scripted WebSocket server; return the recorder and
    the time the connection was made.  ``on_message(rec, data)`` replaces
    the recorder's message handler."""
    server = ScriptedServer(websocket_server(script))
    rec = Recorder()
    if max_size:
        rec.client.max_message_size = max_size
    if on_message:
        rec.client.on('message', lambda data: on_message(rec, data))
    rec.client.connect(server.url, transports=['websocket'])
    return server, rec, time.monotonic()


def test_websocket_server_stops_pinging():
    def script(request, server):
        request.send_frame(ws_kernel.OP_TEXT, open_packet(200, 200))
        request.send_frame(ws_kernel.OP_TEXT, '2')  # one ping, then silence
        request.received = request.read_frames()
    server, rec, start = run_connected(script)
    with server:
        assert rec.wait_disconnect() == 'transport error'
        elapsed = time.monotonic() - start
        # pingInterval + pingTimeout = 0.4 s after the last ping
        assert 0.3 < elapsed < 3, elapsed
    received = server.requests[0].received
    assert received[0] == (ws_kernel.OP_TEXT, '3')
    assert received[-1][0] == ws_kernel.OP_CLOSE


@pytest.mark.parametrize('frames,closing_code', [
    # a frame announcing more than max_message_size: refused from its header
    ([ws_kernel.build_frame_header(ws_kernel.OP_BINARY, 2000)],
     ws_kernel.CLOSE_TOO_BIG),
    # a text frame that is not UTF-8
    ([ws_kernel.build_frame(ws_kernel.OP_TEXT, b'4\xff')],
     ws_kernel.CLOSE_INVALID_DATA),
    # a masked frame from a server
    ([ws_kernel.build_frame(ws_kernel.OP_TEXT, '4x', mask_key=b'abcd')],
     ws_kernel.CLOSE_PROTOCOL_ERROR),
    # a packet type that does not exist, an empty text message
    ([ws_kernel.build_frame(ws_kernel.OP_TEXT, '9nine')], None),
    ([ws_kernel.build_frame(ws_kernel.OP_TEXT, '')], None),
    # a truncated frame, then the end of the connection
    ([ws_kernel.build_frame(ws_kernel.OP_TEXT, '4hello')[:4]], None),
])
def test_websocket_bad_frames(frames, closing_code):
    server, rec, _ = run_connected(bad_frames_script(frames, closing_code),
                                   max_size=1000)
    with server:
        assert rec.wait_disconnect() == 'transport error'
        assert rec.wait_messages(1) == ['before']
    if closing_code is not None:
        sent = server.requests[0].received
        assert sent[-1][0] == ws_kernel.OP_CLOSE
        assert int.from_bytes(sent[-1][1][:2], 'big') == closing_code


def test_websocket_server_close_frame():
    def script(request, server):
        request.send_frame(ws_kernel.OP_TEXT, open_packet())
        request.send_frame(ws_kernel.OP_CLOSE,
                           ws_kernel.build_close_payload(1001))
        request.received = request.read_frames()
    server, rec, _ = run_connected(script)
    with server:
        assert rec.wait_disconnect() == 'transport error'
    # the client answered the close frame with its own, same code
    assert server.requests[0].received[-1] == (
        ws_kernel.OP_CLOSE, ws_kernel.build_close_payload(1001))


def polling_server(answer_poll, ping_interval=25000, ping_timeout=20000):
    """A polling-only server: the handshake, then ``answer_poll(request,
    server)`` for each GET; POSTs are answered ``ok``."""
    def handler(request, server):
        if 'sid=' not in request.target:
            request.respond(open_packet(ping_interval, ping_timeout))
        elif request.method == 'POST':
            request.respond('ok')
        else:
            answer_poll(request, server)
    return handler


def test_polling_server_stops_answering():
    def answer_poll(request, server):
        request.hold(server.stop)
    with ScriptedServer(polling_server(answer_poll, 200, 200)) as server:
        rec = Recorder()
        rec.client.connect(server.url, transports=['polling'])
        start = time.monotonic()
        assert rec.wait_disconnect() == 'transport error'
        assert time.monotonic() - start < 3


@pytest.mark.parametrize('answer', [
    lambda request: request.respond('4ok\x1e7bad'),
    lambda request: request.respond('bnot base64!'),
    lambda request: request.respond('x', status='400 Bad Request'),
    # cut short mid-response
    lambda request: request.respond('4abc', length=50),
])
def test_polling_bad_answers(answer):
    polls = []

    def answer_poll(request, server):
        polls.append(request)
        answer(request)
        if len(polls) == 1:
            request.hold(server.stop)
    with ScriptedServer(polling_server(answer_poll, 500, 500)) as server:
        rec = Recorder(request_timeout=1)
        rec.client.connect(server.url, transports=['polling'])
        assert rec.wait_disconnect() == 'transport error'


def test_polling_oversized_answer():
    def answer_poll(request, server):
        request.respond('4' + 'x' * 5000)
        request.hold(server.stop)
    with ScriptedServer(polling_server(answer_poll)) as server:
        rec = Recorder()
        rec.client.max_message_size = 1000
        rec.client.connect(server.url, transports=['polling'])
        assert rec.wait_disconnect() == 'transport error'
        assert rec.messages == []


def test_upgrade_refused_falls_back_to_polling():
    def handler(request, server):
        if 'transport=websocket' in request.target:
            request.respond('no', status='400 Bad Request')
        elif 'sid=' not in request.target:
            request.respond(open_packet(upgrades=['websocket']))
        elif request.method == 'POST':
            request.respond('ok')
        else:
            request.respond('4polled')
            request.hold(server.stop)
    with ScriptedServer(handler) as server:
        rec = Recorder()
        rec.client.connect(server.url)
        assert rec.client.transport() == 'polling'
        # each poll is answered with a message: by now there may be more
        # than one
        messages = rec.wait_messages(1)
        assert messages and set(messages) == {'polled'}
        rec.client.disconnect(abort=True)
        assert rec.disconnects == ['client disconnect']


def test_session_cookies_and_headers_reach_the_websocket():
    def handler(request, server):
        if 'transport=websocket' in request.target:
            request.accept_websocket()
            request.read_frames(TIMEOUT)
        else:
            body = open_packet(upgrades=['websocket']).encode()
            request.conn.sendall((
                'HTTP/1.1 200 OK\r\nContent-Length: %d\r\n'
                'Set-Cookie: sticky=node-3; Path=/\r\n\r\n' % len(body)
            ).encode() + body)
    with ScriptedServer(handler) as server:
        rec = Recorder(websocket_extra_options={'header': {'X-Extra': '1'}})
        rec.client.connect(server.url, headers={'X-Token': 't'})
        # the probe went unanswered: the upgrade failed, polling goes on
        assert rec.client.transport() == 'polling'
        rec.client.disconnect(abort=True)
        upgrade = [r for r in server.requests
                   if 'transport=websocket' in r.target][0]
        assert upgrade.headers['cookie'] == 'sticky=node-3'
        assert upgrade.headers['x-token'] == 't'
        assert upgrade.headers['x-extra'] == '1'


# -- green threads ---------------------------------------------------------

GREEN_SCRIPT = r'''
import sys
if sys.argv[1] == 'gevent':
    from gevent import monkey
    monkey.patch_all()
else:
    import eventlet
    eventlet.monkey_patch()
import threading
import engineio
client = engineio.Client(handle_sigint=False)
got = []
done = threading.Event()
client.on('message', lambda data: (got.append(data), len(got) == 2 and done.set()))
client.connect(sys.argv[2], transports=sys.argv[3].split(','))
client.send('hi')
client.send(b'\x01')
assert done.wait(10), got
transport = client.transport()
client.disconnect()
print(repr((transport, got, client.state)))
'''


@pytest.mark.parametrize('library', ['gevent', 'eventlet'])
def test_green_threads(node_server, library):
    pytest.importorskip(library)
    transports = 'polling,websocket' if library == 'gevent' else 'websocket'
    result = subprocess.run(
        [sys.executable, '-c', GREEN_SCRIPT, library, node_server,
         transports], cwd=ROOT, capture_output=True, timeout=TIMEOUT + 20)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    assert result.stdout.decode().strip().splitlines()[-1] == repr(
        ('websocket', ['hi', b'\x01'], 'disconnected'))


# -- the sync client's threads: direct writes, write combining, readers
# taking turns (engineio/client.py: _send_packet, _read_loop_websocket) ---

class FrameReader:
    """The frames a client sends on a scripted WebSocket, one at a time."""

    def __init__(self, conn, data=b''):
        self.conn = conn
        self.parser = ws_kernel.FrameParser(None, require_mask=True)
        self.frames = list(self.parser.feed(data)) if data else []

    def next(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while not self.frames:
            self.conn.settimeout(max(deadline - time.monotonic(), 0.01))
            data = self.conn.recv(65536)
            if not data:
                raise EOFError('the client closed the connection')
            self.frames.extend(self.parser.feed(data))
        return self.frames.pop(0)

    def until_close(self):
        """The frames up to the client's close frame, included."""
        frames = []
        while not frames or frames[-1][0] != ws_kernel.OP_CLOSE:
            frames.append(self.next())
        return frames


def per_sender(texts):
    """``{sender: [numbers]}`` from ``4<sender>-<number>`` packets."""
    got = {}
    for text in texts:
        assert text[0] == '4', text
        sender, number = text[1:].split('-')
        got.setdefault(int(sender), []).append(int(number))
    return got


def test_concurrent_senders_keep_their_order():
    # 8 threads send at once on the WebSocket: every message arrives, each
    # thread's in the order it sent them, and disconnect()'s CLOSE packet
    # comes after all of them
    def script(request, server):
        request.send_frame(ws_kernel.OP_TEXT, open_packet())
        request.received = FrameReader(request.conn).until_close()
    server, rec, _ = run_connected(script)
    senders, count = 8, 200
    barrier = threading.Barrier(senders)

    def send_all(sender):
        barrier.wait(TIMEOUT)
        for number in range(count):
            rec.client.send('%d-%d' % (sender, number))
    with server:
        threads = [threading.Thread(target=send_all, args=(i,))
                   for i in range(senders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT)
            assert not thread.is_alive()
        rec.client.disconnect()
        assert rec.wait_disconnect() == 'client disconnect'
    frames = server.requests[0].received
    assert frames[-1][0] == ws_kernel.OP_CLOSE
    texts = [payload for opcode, payload in frames[:-1]]
    assert texts[-1] == '1'
    assert per_sender(texts[:-1]) == {
        i: list(range(count)) for i in range(senders)}


def test_send_does_not_wait_for_a_blocked_write():
    # a 16 MiB message fills the socket buffers while the server does not
    # read: the thread writing it blocks, the other senders do not (their
    # messages join its outbox), and all arrive in order once it reads
    started, go = threading.Event(), threading.Event()

    def script(request, server):
        request.send_frame(ws_kernel.OP_TEXT, open_packet())
        first = request.conn.recv(1000)
        started.set()
        go.wait(TIMEOUT)
        request.received = FrameReader(request.conn, first).until_close()
    server, rec, _ = run_connected(script)
    big = b'\x07' * (16 << 20)
    with server:
        writer = threading.Thread(target=rec.client.send, args=(big,))
        writer.start()
        assert started.wait(TIMEOUT)
        begun = time.monotonic()
        for number in range(100):
            rec.client.send('0-%d' % number)
        assert time.monotonic() - begun < 2
        assert writer.is_alive()       # still blocked in its write
        go.set()
        writer.join(TIMEOUT)
        assert not writer.is_alive()
        rec.client.disconnect()
        assert rec.wait_disconnect() == 'client disconnect'
    frames = server.requests[0].received
    assert frames[0] == (ws_kernel.OP_BINARY, big)
    assert [payload for _, payload in frames[1:-2]] == [
        '40-%d' % number for number in range(100)]
    assert frames[-2] == (ws_kernel.OP_TEXT, '1')


def test_sends_racing_the_upgrade():
    # threads send while the client upgrades from polling: what was queued
    # for polling goes first on the new WebSocket, then the rest, nothing
    # lost and each thread's order kept
    probing, go = threading.Event(), threading.Event()
    posts = []

    def handler(request, server):
        if 'transport=websocket' in request.target:
            request.accept_websocket()
            reader = FrameReader(request.conn)
            assert reader.next() == (ws_kernel.OP_TEXT, '2probe')
            probing.set()
            go.wait(TIMEOUT)
            request.send_frame(ws_kernel.OP_TEXT, '3probe')
            request.received = reader.until_close()
        elif 'sid=' not in request.target:
            request.respond(open_packet(upgrades=['websocket']))
        elif request.method == 'POST':
            posts.append(request.body)
            request.respond('ok')
        else:
            request.hold(server.stop)
    senders = 4
    sent = threading.Semaphore(0)
    counts = {}

    def send_all(sender):
        # some during the probe, then on until 50 after the upgrade
        number, after = 0, 0
        while after < 50:
            rec.client.send('%d-%d' % (sender, number))
            number += 1
            if number == 20:
                sent.release()
            if rec.client.transport() == 'websocket':
                after += 1
        counts[sender] = number
    with ScriptedServer(handler) as server:
        rec = Recorder()
        failures = []

        def connect():
            try:
                rec.client.connect(server.url)
            except Exception as exc:  # pragma: no cover
                failures.append(exc)
        connector = threading.Thread(target=connect)
        connector.start()
        assert probing.wait(TIMEOUT)
        assert rec.client.state == 'connected'
        assert rec.client.transport() == 'polling'
        threads = [threading.Thread(target=send_all, args=(i,))
                   for i in range(senders)]
        for thread in threads:
            thread.start()
        for _ in range(senders):       # each has sent some during the probe
            assert sent.acquire(timeout=TIMEOUT)
        go.set()
        for thread in threads + [connector]:
            thread.join(TIMEOUT)
            assert not thread.is_alive()
        assert not failures
        assert rec.client.transport() == 'websocket'
        rec.client.disconnect()
        assert rec.wait_disconnect() == 'client disconnect'
    assert posts == []       # the polling writer never started
    upgrade = [r for r in server.requests
               if 'transport=websocket' in r.target][0]
    texts = [payload for _, payload in upgrade.received[:-1]]
    assert texts[0] == '5' and texts[-1] == '1'
    assert per_sender(texts[1:-1]) == {
        i: list(range(counts[i])) for i in range(senders)}


def test_blocked_handler_does_not_stop_pings():
    # a message handler blocks: the client still answers every ping (the
    # server pings every 0.1 s and gives up after 0.2 s more) and runs the
    # handlers of later messages
    release = threading.Event()
    pongs = []

    def script(request, server):
        request.send_frame(ws_kernel.OP_TEXT, open_packet(100, 200))
        request.send_frame(ws_kernel.OP_TEXT, '4block')
        reader = FrameReader(request.conn)
        for _ in range(8):
            request.send_frame(ws_kernel.OP_TEXT, '2')
            pongs.append(reader.next(timeout=0.3))
            server.stop.wait(0.1)       # the server's ping interval
        request.send_frame(ws_kernel.OP_TEXT, '4after')
        request.received = reader.until_close()
    blocked = threading.Event()

    def on_message(rec, data):
        if data == 'block':
            blocked.set()
            release.wait(TIMEOUT)
        rec.on_message(data)
    server, rec, _ = run_connected(script, on_message=on_message)
    with server:
        assert rec.wait_messages(1) == ['after']
        assert blocked.is_set() and not release.is_set()
        assert pongs == [(ws_kernel.OP_TEXT, '3')] * 8
        assert rec.client.state == 'connected'
        release.set()
        assert rec.wait_messages(2) == ['after', 'block']
        rec.client.disconnect()
        assert rec.wait_disconnect() == 'client disconnect'


def test_burst_of_messages_each_handled_once():
    # 50 messages in one TCP segment (decoded together): every handler
    # runs once, the readers taking turns are not confused by the burst
    def script(request, server):
        request.send_frame(ws_kernel.OP_TEXT, open_packet())
        request.conn.sendall(b''.join(
            ws_kernel.build_frame(ws_kernel.OP_TEXT, '4m%d' % number)
            for number in range(50)))
        request.received = FrameReader(request.conn).until_close()
    server, rec, _ = run_connected(script)
    with server:
        assert sorted(rec.wait_messages(50)) == sorted(
            'm%d' % number for number in range(50))
        rec.client.disconnect()
        assert rec.wait_disconnect() == 'client disconnect'
    assert len(rec.messages) == 50


@pytest.mark.parametrize('mode', ['polling', 'websocket'])
def test_disconnect_from_a_message_handler(our_server, mode):
    rec = exchange(our_server, MODES[mode])
    rec.client.on('message', lambda data: rec.client.disconnect())
    rec.client.send('bye')
    assert rec.wait_disconnect() == 'client disconnect'


def test_handler_waits_for_the_answer_to_what_it_sent():
    # a handler sends, then blocks until the answer to it arrives (as
    # python-socketio's call() does): the reading goes on meanwhile
    def script(request, server):
        request.send_frame(ws_kernel.OP_TEXT, open_packet())
        reader = FrameReader(request.conn)
        for number in range(20):
            request.send_frame(ws_kernel.OP_TEXT, '4ask %d' % number)
            assert reader.next() == (ws_kernel.OP_TEXT, '4question %d'
                                     % number)
            request.send_frame(ws_kernel.OP_TEXT, '4answer %d' % number)
        request.received = reader.until_close()
    answers = {}

    def on_message(rec, data):
        kind, number = data.split()
        if kind == 'ask':
            answers[number] = threading.Event()
            rec.client.send('question ' + number)
            assert answers[number].wait(TIMEOUT)
            rec.on_message(data)
        else:
            answers[number].set()
    server, rec, _ = run_connected(script, on_message=on_message)
    with server:
        assert rec.wait_messages(20) == ['ask %d' % n for n in range(20)]
        rec.client.disconnect()
        assert rec.wait_disconnect() == 'client disconnect'


@pytest.mark.parametrize('failing', ['GET', 'POST'])
def test_polling_error_status_mid_session(failing, caplog):
    """A polling GET or POST answered with an error status once connected
    ends the session (transport error, the disconnect handler once) and says
    why in the log.  As a real server does, the GET held while the POST
    fails is answered too once the session is gone."""
    gone = threading.Event()

    def handler(request, server):
        if 'sid=' not in request.target:
            request.respond(open_packet())
            return
        if request.method != failing:
            gone.wait(TIMEOUT)  # the held GET
        request.respond('{"code":1,"message":"Session ID unknown"}',
                        status='400 Bad Request')
        gone.set()

    with ScriptedServer(handler) as server:
        rec = Recorder()
        with caplog.at_level('WARNING', logger='engineio.client'):
            rec.client.connect(server.url, transports=['polling'])
            if failing == 'POST':
                rec.client.send('hello')
            assert rec.wait_disconnect() == 'transport error'
        assert rec.disconnects == ['transport error']
        assert 'Unexpected status code 400 in server response' in caplog.text


def test_polling_burst_is_split_into_posts_a_server_accepts(our_server):
    """100 sends at once while polling: the writer batches them, at most
    ``Payload.max_decode_packets`` (16) per POST, which is what our server
    (and python-engineio's) decodes from one; one POST with more would be a
    400 that ends the session."""
    client = engineio.Client(handle_sigint=False, request_timeout=3)
    received = []
    done = threading.Event()
    disconnects = []

    @client.on('message')
    def message(data):
        received.append(data)
        if len(received) == 100:
            done.set()

    client.on('disconnect', disconnects.append)
    client.connect(our_server, transports=['polling'])
    try:
        for number in range(100):
            client.send('burst %d' % number)
        assert done.wait(TIMEOUT)
        assert received == ['burst %d' % n for n in range(100)]
        assert client.state == 'connected' and not disconnects
    finally:
        client.disconnect()
    assert disconnects == [client.reason.CLIENT_DISCONNECT]
