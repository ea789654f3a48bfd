"""``engineio.Server`` (threading mode), ``WSGIApp`` and ``Middleware``,
driven in process with hand-built WSGI environs.

Held polls run in threads; every wait is bounded (``TIMEOUT``) and waits
for a condition (an event, or the core's state), never for time to pass.
"""
import io
import json
import logging
import threading
import time

import pytest

import engineio
from engineio import packet
from engineio import server as server_module
from engineio.socket import Socket

TIMEOUT = 10


def environ_for(method='GET', query='EIO=4&transport=polling', body=b'',
                path='/engine.io/', headers=None, content_length=True):
    environ = {
        'REQUEST_METHOD': method, 'PATH_INFO': path, 'QUERY_STRING': query,
        'SERVER_NAME': 'localhost', 'SERVER_PORT': '80',
        'HTTP_HOST': 'localhost', 'wsgi.url_scheme': 'http',
        'wsgi.input': io.BytesIO(body),
    }
    if body and content_length:
        environ['CONTENT_LENGTH'] = str(len(body))
    environ.update(headers or {})
    return environ


class Recorder:
    """A ``start_response`` that remembers what it was given."""

    def __init__(self):
        self.status = None
        self.headers = None

    def __call__(self, status, headers, exc_info=None):
        self.status = status
        self.headers = dict(headers)


def call(app, *args, **kwargs):
    """One request: ``(status code, headers, body)``."""
    recorder = Recorder()
    body = b''.join(app(environ_for(*args, **kwargs), recorder))
    return int(recorder.status.split()[0]), recorder.headers, body


class Events:
    """What the handlers saw."""

    def __init__(self, eio):
        self.connects = []
        self.messages = []
        self.disconnects = []
        self.message_event = threading.Event()
        self.disconnect_event = threading.Event()

        @eio.on('connect')
        def connect(sid, environ):
            self.connects.append((sid, environ))
            if 'refuse=1' in environ['QUERY_STRING']:
                return False
            if 'refuse=dict' in environ['QUERY_STRING']:
                return {'why': 'no'}
            if 'refuse=raise' in environ['QUERY_STRING']:
                raise RuntimeError('boom')

        @eio.on('message')
        def message(sid, data):
            self.messages.append((sid, data))
            self.message_event.set()

        @eio.on('disconnect')
        def disconnect(sid, reason):
            self.disconnects.append((sid, reason))
            self.disconnect_event.set()


@pytest.fixture
def eio():
    server = engineio.Server(async_mode='threading', async_handlers=False)
    yield server
    server.shutdown()


@pytest.fixture
def events(eio):
    return Events(eio)


def open_session(eio, query='EIO=4&transport=polling'):
    status, headers, body = call(eio.handle_request, query=query)
    assert status == 200, body
    assert body[:1] == b'0'
    return json.loads(body[1:])


def sid_query(sid):
    return 'EIO=4&transport=polling&sid=' + sid


def wait_for(predicate):
    """Bounded wait for a condition another thread makes true."""
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        assert time.monotonic() < deadline, 'condition never became true'
        time.sleep(0.001)


class HeldPoll:
    """A GET in a thread; ``result()`` is its ``(status, headers, body)``."""

    def __init__(self, eio, sid):
        self.value = None
        self.thread = threading.Thread(target=self._run,
                                       args=(eio, sid), daemon=True)
        self.thread.start()
        session = eio._core.sessions[sid]
        wait_for(lambda: session.poll_held or self.value is not None)

    def _run(self, eio, sid):
        self.value = call(eio.handle_request, query=sid_query(sid))

    def result(self):
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive(), 'the poll was never answered'
        return self.value


# -- construction and small API -------------------------------------------

def test_constructor_defaults():
    eio = engineio.Server()
    assert eio.async_mode == 'threading'
    assert eio.ping_interval == 25 and eio.ping_timeout == 20
    assert eio.max_http_buffer_size == 1000000
    assert eio.async_handlers is True
    assert eio.transports == ['polling', 'websocket']
    assert eio.is_asyncio_based() is False
    assert eio.async_modes() == ['eventlet', 'gevent_uwsgi', 'gevent',
                                 'threading']
    assert eio.reason.SERVER_DISCONNECT == 'server disconnect'
    assert eio.reason.TRANSPORT_ERROR == 'transport error'
    assert len(eio.generate_id()) == 20
    assert engineio.Server.reason.PING_TIMEOUT == 'ping timeout'


def test_invalid_async_mode():
    with pytest.raises(ValueError):
        engineio.Server(async_mode='asgi')
    with pytest.raises(ValueError):
        engineio.Server(async_mode='nope')


def test_invalid_event():
    with pytest.raises(ValueError):
        engineio.Server().on('nope')


def test_driver_primitives(eio):
    queue = eio.create_queue()
    queue.put(1)
    assert queue.get(timeout=TIMEOUT) == 1
    with pytest.raises(eio.get_queue_empty_exception()):
        queue.get_nowait()
    event = eio.create_event()
    results = []

    def task(a, b=None):
        results.append((a, b))
        event.set()

    thread = eio.start_background_task(task, 1, b=2)
    assert event.wait(TIMEOUT)
    thread.join(TIMEOUT)
    assert results == [(1, 2)] and thread.daemon
    eio.sleep(0)


# -- handshake ------------------------------------------------------------

def test_handshake(eio, events):
    status, headers, body = call(eio.handle_request)
    assert status == 200
    assert headers['Content-Type'] == 'text/plain; charset=UTF-8'
    assert body.startswith(b'0{"sid":"')
    info = json.loads(body[1:])
    assert list(info) == ['sid', 'upgrades', 'pingTimeout', 'pingInterval',
                          'maxPayload']
    assert info['upgrades'] == ['websocket']
    assert (info['pingTimeout'], info['pingInterval']) == (20000, 25000)
    sid = info['sid']
    assert events.connects[0][0] == sid
    assert events.connects[0][1]['QUERY_STRING'] == 'EIO=4&transport=polling'
    assert eio.transport(sid) == 'polling'
    assert eio._get_socket(sid).sid == sid
    assert isinstance(eio.sockets[sid], Socket)
    assert eio._get_socket(sid).connected and not eio._get_socket(sid).closed


def test_handshake_sends_what_connect_queued(eio):
    @eio.on('connect')
    def connect(sid, environ):
        eio.send(sid, 'welcome')

    status, _, body = call(eio.handle_request)
    assert status == 200
    assert body.split(b'\x1e')[1] == b'4welcome'


@pytest.mark.parametrize('query, body', [
    ('refuse=1', b'"Unauthorized"'),
    ('refuse=dict', b'{"why": "no"}'),
    ('refuse=raise', b'"Unauthorized"'),
])
def test_connect_refused(eio, events, query, body):
    status, headers, answer = call(
        eio.handle_request, query='EIO=4&transport=polling&' + query)
    assert (status, answer) == (401, body)
    assert headers['Content-Type'] == 'application/json'
    assert eio.sockets == {} and eio._core.sessions == {}
    assert events.disconnects == []


def test_cookie():
    eio = engineio.Server(cookie='io')
    _, headers, _ = call(eio.handle_request)
    assert headers['Set-Cookie'].startswith('io=')
    eio.shutdown()


# -- polling --------------------------------------------------------------

def test_post_and_get(eio, events):
    sid = open_session(eio)['sid']
    status, headers, body = call(eio.handle_request, 'POST', sid_query(sid),
                                 body=b'4hello\x1ebAQID')
    assert (status, body) == (200, b'ok')
    assert events.messages == [(sid, 'hello'), (sid, b'\x01\x02\x03')]
    eio.send(sid, 'one')
    eio.send(sid, b'\x00\xff')
    eio.send(sid, {'a': [1, 2]})
    status, _, body = call(eio.handle_request, query=sid_query(sid))
    assert (status, body) == (200, b'4one\x1ebAP8=\x1e4{"a":[1,2]}')


def test_post_chunked_without_length(eio, events):
    sid = open_session(eio)['sid']
    status, _, body = call(eio.handle_request, 'POST', sid_query(sid),
                           body=b'4abc', content_length=False,
                           headers={'wsgi.input_terminated': True})
    assert (status, body) == (200, b'ok')
    assert events.messages == [(sid, 'abc')]


def test_send_wakes_held_poll(eio):
    sid = open_session(eio)['sid']
    poll = HeldPoll(eio, sid)
    eio.send(sid, 'wake up')
    assert poll.result()[0::2] == (200, b'4wake up')


def test_send_packet_shares_one_packet(eio):
    sids = [open_session(eio)['sid'] for _ in range(3)]
    pkt = packet.Packet(packet.MESSAGE, 'to all')
    for sid in sids:
        eio.send_packet(sid, pkt)
    for sid in sids:
        assert call(eio.handle_request, query=sid_query(sid))[2] == \
            b'4to all'


def test_send_to_unknown_sid_only_warns(eio, caplog):
    caplog.set_level(logging.WARNING, logger='engineio.server')
    eio.send('nope', 'x')
    assert 'Cannot send to sid nope' in caplog.text


def test_client_close_packet(eio, events):
    sid = open_session(eio)['sid']
    assert call(eio.handle_request, 'POST', sid_query(sid), body=b'1')[0] \
        == 200
    assert events.disconnects == [(sid, 'client disconnect')]
    assert sid not in eio.sockets
    status, _, body = call(eio.handle_request, query=sid_query(sid))
    assert status == 400 and json.loads(body)['code'] == 1


def test_disconnect_with_held_poll_returns_promptly(eio, events):
    sid = open_session(eio)['sid']
    poll = HeldPoll(eio, sid)
    started = time.monotonic()
    eio.disconnect(sid)
    assert time.monotonic() - started < TIMEOUT
    assert poll.result()[0::2] == (200, b'1')
    assert events.disconnects == [(sid, 'server disconnect')]
    eio.disconnect(sid)  # once only
    assert events.disconnects == [(sid, 'server disconnect')]
    assert sid not in eio.sockets


def test_disconnect_without_poll_then_last_poll(eio, events):
    sid = open_session(eio)['sid']
    eio.send(sid, 'last words')
    eio.disconnect(sid)
    assert events.disconnects == [(sid, 'server disconnect')]
    status, _, body = call(eio.handle_request, query=sid_query(sid))
    assert (status, body) == (200, b'4last words\x1e1')
    status, _, _ = call(eio.handle_request, 'POST', sid_query(sid),
                        body=b'4x')
    assert status == 400


def test_disconnect_everyone(eio, events):
    sids = {open_session(eio)['sid'] for _ in range(3)}
    eio.disconnect()
    assert {sid for sid, _ in events.disconnects} == sids
    assert eio.sockets == {}


def test_second_concurrent_get_closes_session(eio, events):
    sid = open_session(eio)['sid']
    poll = HeldPoll(eio, sid)
    status, _, _ = call(eio.handle_request, query=sid_query(sid))
    assert status == 400
    assert poll.result()[0::2] == (200, b'1')
    assert events.disconnects == [(sid, 'transport error')]


def test_post_over_limit():
    eio = engineio.Server(max_http_buffer_size=10, async_handlers=False)
    events = Events(eio)
    sid = open_session(eio)['sid']
    status, _, _ = call(eio.handle_request, 'POST', sid_query(sid),
                        body=b'4' + b'x' * 20)
    assert status == 413
    assert events.disconnects == [(sid, 'transport error')]
    # no Content-Length: the read stops at the limit plus one byte
    sid = open_session(eio)['sid']
    environ = {'wsgi.input_terminated': True}
    status, _, _ = call(eio.handle_request, 'POST', sid_query(sid),
                        body=b'4' + b'x' * 20, content_length=False,
                        headers=environ)
    assert status == 413
    eio.shutdown()


def test_post_cut_short_by_the_client(eio, events):
    sid = open_session(eio)['sid']
    environ = environ_for('POST', sid_query(sid), body=b'4abc')
    environ['CONTENT_LENGTH'] = '100'  # promised, never sent
    recorder = Recorder()
    body = b''.join(eio.handle_request(environ, recorder))
    assert recorder.status.startswith('400')
    assert json.loads(body)['code'] == 3
    assert events.disconnects == [(sid, 'transport error')]


class TrickleInput:
    """A ``wsgi.input`` that is not a BytesIO and gives at most two bytes
    per read (a socket stream), optionally over a fake raw socket."""

    def __init__(self, data):
        self.data = data

    def read(self, size=-1):
        chunk = self.data[:min(size, 2)]
        self.data = self.data[len(chunk):]
        return chunk


class FakeSocket:
    def __init__(self):
        self.timeouts = []

    def gettimeout(self):
        return None

    def settimeout(self, value):
        self.timeouts.append(value)


def test_post_body_read_from_a_stream(eio, events):
    # a stream that is not in memory: read in a loop, under a socket timeout
    sid = open_session(eio)['sid']
    sock = FakeSocket()
    status, _, body = call(eio.handle_request, 'POST', sid_query(sid),
                           body=b'4hello', headers={
                               'wsgi.input': TrickleInput(b'4hello'),
                               'werkzeug.socket': sock})
    assert (status, body) == (200, b'ok')
    wait_for(lambda: events.messages == [(sid, 'hello')])
    assert sock.timeouts == [server_module._BODY_TIMEOUT, None]


def test_post_cut_short_on_a_stream(eio, events):
    sid = open_session(eio)['sid']
    environ = environ_for('POST', sid_query(sid), body=b'4abc', headers={
        'wsgi.input': TrickleInput(b'4abc')})
    environ['CONTENT_LENGTH'] = '100'  # promised, never sent
    recorder = Recorder()
    body = b''.join(eio.handle_request(environ, recorder))
    assert recorder.status.startswith('400')
    assert events.disconnects == [(sid, 'transport error')]


def test_post_on_a_closed_bytesio(eio, events):
    sid = open_session(eio)['sid']
    environ = environ_for('POST', sid_query(sid), body=b'4abc')
    environ['wsgi.input'].close()
    recorder = Recorder()
    b''.join(eio.handle_request(environ, recorder))
    assert recorder.status.startswith('400')
    assert events.disconnects == [(sid, 'transport error')]


def test_malformed_post(eio, events):
    sid = open_session(eio)['sid']
    status, _, body = call(eio.handle_request, 'POST', sid_query(sid),
                           body=b'x')
    assert status == 400 and json.loads(body)['code'] == 3
    assert events.disconnects == [(sid, 'transport error')]


@pytest.mark.parametrize('method, query, code', [
    ('GET', 'EIO=4&transport=foo', 0),
    ('GET', 'EIO=4&transport=polling&sid=nope', 1),
    ('POST', 'EIO=4&transport=polling', 2),
    ('GET', 'EIO=4&transport=polling&j=abc', 3),
    ('GET', 'EIO=4&transport=websocket', 3),
    ('GET', 'EIO=3&transport=polling', 5),
])
def test_protocol_errors(eio, method, query, code):
    status, headers, body = call(eio.handle_request, method, query)
    assert status == 400
    assert headers['Content-Type'] == 'application/json'
    assert json.loads(body)['code'] == code


def test_options_and_cors():
    eio = engineio.Server(cors_allowed_origins='https://a.example')
    status, headers, _ = call(eio.handle_request, 'OPTIONS', headers={
        'HTTP_ORIGIN': 'https://a.example'})
    assert status == 204
    assert headers['Access-Control-Allow-Origin'] == 'https://a.example'
    assert 'GET' in headers['Access-Control-Allow-Methods']
    status, headers, _ = call(eio.handle_request, headers={
        'HTTP_ORIGIN': 'https://a.example'})
    assert status == 200
    assert headers['Access-Control-Allow-Credentials'] == 'true'
    status, _, body = call(eio.handle_request, headers={
        'HTTP_ORIGIN': 'https://evil.example'})
    assert status == 403 and json.loads(body)['code'] == 4
    eio.shutdown()


def test_same_origin_by_default(eio):
    status, _, _ = call(eio.handle_request, headers={
        'HTTP_ORIGIN': 'http://localhost'})
    assert status == 200
    status, _, _ = call(eio.handle_request, headers={
        'HTTP_ORIGIN': 'http://elsewhere'})
    assert status == 403


def test_compression():
    eio = engineio.Server(compression_threshold=10)

    @eio.on('connect')
    def connect(sid, environ):
        eio.send(sid, 'x' * 100)

    status, headers, body = call(eio.handle_request, headers={
        'HTTP_ACCEPT_ENCODING': 'gzip'})
    assert status == 200 and headers['Content-Encoding'] == 'gzip'
    import gzip
    assert gzip.decompress(body).startswith(b'0{')
    eio.shutdown()


def test_websocket_without_raw_socket_is_refused(eio, events):
    status, _, body = call(eio.handle_request, query='EIO=4&transport='
                           'websocket', headers={
                               'HTTP_UPGRADE': 'websocket',
                               'HTTP_CONNECTION': 'Upgrade',
                               'HTTP_SEC_WEBSOCKET_KEY':
                                   'dGhlIHNhbXBsZSBub25jZQ==',
                               'HTTP_SEC_WEBSOCKET_VERSION': '13'})
    assert status == 400
    assert eio._core.sessions == {}


def test_upgrade_without_raw_socket_stays_on_polling(eio, events):
    sid = open_session(eio)['sid']
    status, _, _ = call(eio.handle_request, query='EIO=4&transport='
                        'websocket&sid=' + sid, headers={
                            'HTTP_UPGRADE': 'websocket'})
    assert status == 400
    eio.send(sid, 'still polling')
    assert call(eio.handle_request, query=sid_query(sid))[2] == \
        b'4still polling'


# -- heartbeat, the service thread ----------------------------------------

def test_ping_timeout_and_send_ping_hook(monkeypatch):
    pinged = threading.Event()

    def _send_ping(self):
        pinged.set()

    monkeypatch.setattr(Socket, '_send_ping', _send_ping)
    eio = engineio.Server(ping_interval=0.05, ping_timeout=0.05,
                          async_handlers=False)
    events = Events(eio)
    sid = open_session(eio)['sid']
    assert pinged.wait(TIMEOUT)
    assert events.disconnect_event.wait(TIMEOUT)
    assert events.disconnects == [(sid, 'ping timeout')]
    eio.shutdown()
    assert not eio._service_thread.is_alive()


def test_ping_pong_keeps_session():
    eio = engineio.Server(ping_interval=0.05, ping_timeout=5,
                          async_handlers=False)
    events = Events(eio)
    sid = open_session(eio)['sid']
    for _ in range(3):
        status, _, body = call(eio.handle_request, query=sid_query(sid))
        assert (status, body) == (200, b'2')
        assert call(eio.handle_request, 'POST', sid_query(sid),
                    body=b'3')[0] == 200
    assert events.disconnects == []
    eio.shutdown()


def service_threads():
    return [t for t in threading.enumerate()
            if t.name == 'engineio-service' and t.is_alive()]


def test_one_service_thread_for_all_sessions(eio):
    before = service_threads()
    for _ in range(5):
        open_session(eio)
    assert service_threads() == before + [eio._service_thread]
    eio.shutdown()
    assert service_threads() == before


# -- handlers -------------------------------------------------------------

def test_async_handlers_run_in_threads():
    eio = engineio.Server()
    seen = []
    done = threading.Event()

    @eio.on('message')
    def message(sid, data):
        seen.append(threading.current_thread())
        done.set()

    sid = open_session(eio)['sid']
    call(eio.handle_request, 'POST', sid_query(sid), body=b'4x')
    assert done.wait(TIMEOUT)
    assert seen[0] is not threading.current_thread()
    eio.shutdown()


def test_one_argument_disconnect_handler(eio):
    seen = []
    eio.on('disconnect', lambda sid: seen.append(sid))
    sid = open_session(eio)['sid']
    eio.disconnect(sid)
    assert seen == [sid]


def test_handler_errors_are_logged(eio, caplog):
    def fail(*args):
        raise RuntimeError('handler bug')

    eio.on('message', fail)
    eio.on('disconnect', fail)
    sid = open_session(eio)['sid']
    assert call(eio.handle_request, 'POST', sid_query(sid),
                body=b'4x')[0] == 200
    eio.disconnect(sid)
    assert 'message handler error' in caplog.text
    assert 'disconnect handler error' in caplog.text
    assert sid not in eio.sockets


# -- sessions -------------------------------------------------------------

def test_user_session(eio):
    sid = open_session(eio)['sid']
    assert eio.get_session(sid) == {}
    eio.save_session(sid, {'user': 'a'})
    assert eio.get_session(sid) == {'user': 'a'}
    with eio.session(sid) as session:
        session['more'] = 1
    assert eio.get_session(sid) == {'user': 'a', 'more': 1}
    with pytest.raises(KeyError):
        eio.get_session('nope')
    with pytest.raises(KeyError):
        eio.save_session('nope', {})


def test_socket_methods(eio, events):
    sid = open_session(eio)['sid']
    socket = eio._get_socket(sid)
    socket.send(packet.Packet(packet.MESSAGE, 'via socket'))
    assert call(eio.handle_request, query=sid_query(sid))[2] == \
        b'4via socket'
    socket.close()
    assert socket.closed
    assert events.disconnects == [(sid, 'server disconnect')]
    with pytest.raises(KeyError):
        eio._get_socket(sid)


def test_patched_handle_post_request(eio, events, monkeypatch):
    calls = []
    original = Socket.handle_post_request

    def handle_post_request(self, environ):
        calls.append(environ['CONTENT_LENGTH'])
        return original(self, environ)

    monkeypatch.setattr(Socket, 'handle_post_request', handle_post_request)
    sid = open_session(eio)['sid']
    call(eio.handle_request, 'POST', sid_query(sid), body=b'4abc')
    assert calls == ['4'] and events.messages == [(sid, 'abc')]


# -- WSGIApp and Middleware -----------------------------------------------

@pytest.fixture
def static_dir(tmp_path):
    (tmp_path / 'index.html').write_text('<h1>index</h1>')
    (tmp_path / 'app.js').write_text('var x;')
    return tmp_path


def test_wsgi_app_routes(eio, static_dir):
    def other(environ, start_response):
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'other:' + environ['PATH_INFO'].encode()]

    app = engineio.WSGIApp(eio, other, static_files={
        '/': str(static_dir / 'index.html'),
        '/static': str(static_dir)})
    status, _, body = call(app)
    assert status == 200 and body.startswith(b'0{')
    status, headers, body = call(app, path='/')
    assert (status, body) == (200, b'<h1>index</h1>')
    assert headers['Content-Type'] == 'text/html'
    status, headers, body = call(app, path='/static/app.js')
    assert (status, body) == (200, b'var x;')
    assert headers['Content-Type'] == 'application/javascript'
    assert call(app, path='/static/missing.js')[2] == \
        b'other:/static/missing.js'
    assert call(app, path='/static/../etc/passwd')[2] == \
        b'other:/static/../etc/passwd'
    assert call(app, path='/foo')[2] == b'other:/foo'


def test_wsgi_app_not_found_and_custom_path(eio):
    app = engineio.WSGIApp(eio, engineio_path='/custom')
    assert call(app, path='/engine.io/')[0] == 404
    status, headers, body = call(app, path='/custom/')
    assert status == 200 and body.startswith(b'0{')
    # without the trailing slash it is the same endpoint (as in ASGIApp)
    status, headers, body = call(app, path='/custom')
    assert status == 200 and body.startswith(b'0{')
    assert call(app, path='/customer/')[0] == 404
    status, headers, body = call(app, path='/x')
    assert (status, body) == (404, b'Not Found')
    assert headers['Content-Type'] == 'text/plain'


def test_wsgi_app_copies_gunicorn_socket(eio):
    seen = {}

    def other(environ, start_response):
        seen.update(environ)
        start_response('200 OK', [])
        return [b'']

    app = engineio.WSGIApp(eio, other)
    marker = object()
    call(app, path='/x', headers={'gunicorn.socket': marker})
    assert seen['eventlet.input'].get_socket() is marker


def test_middleware(eio, static_dir):
    def other(environ, start_response):
        start_response('200 OK', [])
        return [b'other']

    app = engineio.Middleware(eio, other)
    assert app.static_files == {}
    assert call(app)[2].startswith(b'0{')
    assert call(app, path='/')[2] == b'other'
    with pytest.raises(TypeError):
        engineio.Middleware(eio, other, static_files={})


def test_flask_behind_wsgi_app(eio, static_dir):
    flask = pytest.importorskip('flask')
    flask_app = flask.Flask(__name__)

    @flask_app.route('/hello')
    def hello():
        return 'hello from flask'

    app = engineio.WSGIApp(eio, flask_app, static_files={
        '/': str(static_dir / 'index.html')})
    assert call(app, path='/hello')[0::2] == (200, b'hello from flask')
    assert call(app, path='/missing')[0] == 404
    assert call(app, path='/')[2] == b'<h1>index</h1>'
    assert call(app)[2].startswith(b'0{')
