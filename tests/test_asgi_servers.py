"""``AsyncServer`` + ``ASGIApp`` on every ASGI server stack installed here.

One parametrized fixture runs the same echo application on each stack, in
a thread, on a socket bound before the server starts (connections wait in
the backlog: no readiness polling): uvicorn with each of its WebSocket
implementations (``websockets``, ``websockets-sansio``, ``wsproto``), uvicorn
on uvloop + httptools, and hypercorn on asyncio and on uvloop (what its
``uvloop`` worker class runs).  Each stack gets the same checks: lifespan
hooks (and a failing startup hook, reported), polling echo, a body read
lazily up to the limit, a held poll the client aborts, WebSocket echo,
refused WebSockets (the HTTP answer through the ``websocket.http.response``
extension, which every server here supports; the ``1008`` close for one
that does not is checked in process), the 1009 close, a client that leaves
while its WebSocket is being accepted, a server-side disconnect, and the
official JavaScript client (all three modes on one stack, ``upgrade`` on
all).  No server may log an error meanwhile.  A stack whose packages are
missing (PyPy has none) is skipped.

:func:`serving` is also what ``tests/test_asgi_frameworks.py`` runs its
applications on.
"""
import asyncio
import contextlib
import importlib.util
import json
import logging
import os
import socket
import threading
import time

import pytest

from engineio._speedups import websocket as ws_kernel
from engineio.async_drivers.asgi import WebSocket
from tests.asgi_helpers import (OP_BINARY, OP_CLOSE, OP_TEXT, Connection,
                                RawWebSocket, http_scope, run)
from tests.loopback import TIMEOUT, js_client_echo, open_session, request

import engineio

LIMIT = 1000

#: uvicorn's ws='websockets' is deprecated (and says so), but still tested
pytestmark = [
    pytest.mark.filterwarnings('ignore:websockets.legacy is deprecated'),
    pytest.mark.filterwarnings('ignore:The `websockets` implementation'),
    pytest.mark.filterwarnings('ignore:remove second argument of ws_handler'),
]


class Stack:
    """One ASGI server configuration: ``server`` is ``uvicorn`` or
    ``hypercorn``; ``options`` are uvicorn ``Config`` arguments (``loop``
    only, for hypercorn); ``requires`` the modules it needs."""

    def __init__(self, name, server, requires, **options):
        self.name = name
        self.server = server
        self.requires = requires
        self.options = options

    def __repr__(self):
        return self.name

    def skip_if_missing(self):
        for module in self.requires:
            if importlib.util.find_spec(module) is None:
                pytest.skip('%s needs %s' % (self.name, module))
        if self.server == 'uvicorn':
            from uvicorn.config import WS_PROTOCOLS
            if self.options.get('ws', 'auto') not in WS_PROTOCOLS:
                pytest.skip('this uvicorn has no ws=%r' % self.options['ws'])


STACKS = [
    Stack('uvicorn-websockets', 'uvicorn', ['uvicorn', 'websockets'],
          ws='websockets'),
    Stack('uvicorn-websockets-sansio', 'uvicorn', ['uvicorn', 'websockets'],
          ws='websockets-sansio'),
    Stack('uvicorn-wsproto', 'uvicorn', ['uvicorn', 'wsproto'], ws='wsproto'),
    Stack('uvicorn-uvloop-httptools', 'uvicorn',
          ['uvicorn', 'websockets', 'uvloop', 'httptools'],
          loop='uvloop', http='httptools', ws='websockets-sansio'),
    Stack('hypercorn-asyncio', 'hypercorn', ['hypercorn']),
    Stack('hypercorn-uvloop', 'hypercorn', ['hypercorn', 'uvloop'],
          loop='uvloop'),
]
STACK_IDS = [stack.name for stack in STACKS]
#: the stack that runs the JavaScript client in every mode
ALL_MODES_STACK = 'hypercorn-asyncio'


@contextlib.contextmanager
def serving(app, stack, lifespan='on', root_path='', errors=None):
    """Run ASGI ``app`` on ``stack`` in a thread for the ``with`` block;
    yields the port.  Server logs propagate to the root logger (so that
    ``caplog`` sees them).  ``lifespan`` is uvicorn's option (hypercorn
    always tries the lifespan); ``root_path`` the server's.  What the
    server raises goes to ``errors`` (a list), else fails the test.  On
    exit the server shuts down (lifespan shutdown included) and its thread
    must end."""
    stack.skip_if_missing()
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    raised = [] if errors is None else errors
    start = _start_uvicorn if stack.server == 'uvicorn' else \
        _start_hypercorn
    thread, stop = start(app, stack, listener, lifespan, root_path, raised)
    try:
        yield port
    finally:
        stop()
        thread.join(TIMEOUT)
        listener.close()
        assert not thread.is_alive(), '%s did not stop' % stack.name
    if errors is None:
        assert not raised, raised


def _start_uvicorn(app, stack, listener, lifespan, root_path, raised):
    import uvicorn
    options = dict(loop='asyncio')
    options.update(stack.options)
    config = uvicorn.Config(app, lifespan=lifespan, log_config=None,
                            log_level='warning', timeout_graceful_shutdown=2,
                            root_path=root_path, **options)
    server = uvicorn.Server(config)

    def run():
        try:
            server.run(sockets=[listener])
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def stop():
        server.should_exit = True
    return thread, stop


def _start_hypercorn(app, stack, listener, lifespan, root_path, raised):
    from hypercorn.asyncio import serve
    from hypercorn.config import Config
    config = Config()
    # hypercorn owns (and closes) the socket it makes of this descriptor
    config.bind = ['fd://%d' % os.dup(listener.fileno())]
    config.errorlog = logging.getLogger('hypercorn.error')
    config.accesslog = None
    config.graceful_timeout = 2
    config.root_path = root_path
    control = {}
    ready = threading.Event()

    async def main():
        control['loop'] = asyncio.get_running_loop()
        control['stop'] = asyncio.Event()
        ready.set()
        await serve(app, config, shutdown_trigger=control['stop'].wait)

    def run():
        try:
            if stack.options.get('loop') == 'uvloop':
                import uvloop
                with asyncio.Runner(
                        loop_factory=uvloop.new_event_loop) as runner:
                    runner.run(main())
            else:
                asyncio.run(main())
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(TIMEOUT)

    def stop():
        loop = control['loop']
        if not loop.is_closed():
            loop.call_soon_threadsafe(control['stop'].set)
    return thread, stop


def wait_until(predicate, what):
    """Poll ``predicate`` (state with no event to wait on), bounded."""
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        assert time.monotonic() < deadline, 'timed out waiting for ' + what
        time.sleep(0.01)


class Events:
    """What the server's handlers saw, readable from the test thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.connects = []
        self.disconnects = {}
        self.disconnected = {}
        self.started = threading.Event()
        self.stopped = threading.Event()
        self.loop = None
        # a connect handler holding its handshake (query ``hold=1``)
        self.holding = threading.Event()
        self.release = None

    def wait_disconnect(self, sid):
        with self.lock:
            event = self.disconnected.setdefault(sid, threading.Event())
        assert event.wait(TIMEOUT), 'no disconnect for %s' % sid
        return self.disconnects[sid]

    def call(self, coroutine):
        """Run ``coroutine`` on the server's loop; its result."""
        return asyncio.run_coroutine_threadsafe(
            coroutine, self.loop).result(TIMEOUT)


def echo_server(events, **options):
    """An ``AsyncServer`` that echoes every message, recording its events."""
    eio = engineio.AsyncServer(async_mode='asgi', max_http_buffer_size=LIMIT,
                               async_handlers=False, **options)

    @eio.on('connect')
    async def connect(sid, environ):
        events.loop = asyncio.get_running_loop()
        with events.lock:
            events.connects.append(sid)
        if 'hold=1' in environ['QUERY_STRING']:
            release = events.release = asyncio.Event()
            events.holding.set()
            await asyncio.wait_for(release.wait(), TIMEOUT)

    @eio.on('message')
    async def message(sid, data):
        await eio.send(sid, data)

    @eio.on('disconnect')
    def disconnect(sid, reason):
        with events.lock:
            events.disconnects[sid] = reason
            events.disconnected.setdefault(sid, threading.Event()).set()

    return eio


@pytest.fixture(scope='module', params=STACKS, ids=STACK_IDS)
def server(request):
    stack = request.param
    stack.skip_if_missing()
    events = Events()
    eio = echo_server(events)
    app = engineio.ASGIApp(eio, on_startup=events.started.set,
                           on_shutdown=events.stopped.set)
    with serving(app, stack) as port:
        assert events.started.wait(TIMEOUT), 'lifespan startup did not run'
        yield port, events, eio
        # every test ends its sessions: none may outlive the test module
        wait_until(lambda: not eio.sockets, 'the sessions to end')
    assert events.stopped.is_set(), 'lifespan shutdown did not run'


#: errors a server logs wrongly: uvicorn's websockets-sansio logs this after
#: every ``websocket.http.response`` denial, which it sends correctly
#: (Kludex/uvicorn PR #3138, open)
KNOWN_SERVER_BUGS = ('ASGI callable returned without completing handshake.',)


@pytest.fixture(autouse=True)
def no_server_errors(caplog):
    """No server (nor engineio) logs an error during a test; tests that
    expect one check it and clear ``caplog``."""
    yield
    errors = [record.getMessage() for record in caplog.get_records('call')
              if record.levelno >= logging.ERROR]
    assert not [error for error in errors
                if error not in KNOWN_SERVER_BUGS], errors


def polling(sid):
    return '/engine.io/?EIO=4&transport=polling&sid=' + sid


def close_code(payload):
    return int.from_bytes(payload[:2], 'big')


def response_body(ws):
    """The body of the HTTP response that refused WebSocket ``ws``."""
    length = int(ws.headers.get('content-length', '0'))
    body = ws.rest
    while len(body) < length:
        chunk = ws.sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return body


def open_websocket(port, query=''):
    ws = RawWebSocket(port, '/engine.io/?EIO=4&transport=websocket' + query)
    assert ws.status == 101
    opcode, payload = ws.recv()
    assert opcode == OP_TEXT and payload.startswith('0{'), payload
    return ws, json.loads(payload[1:])['sid']


# -- polling --------------------------------------------------------------

def test_polling_echo(server):
    port, events, _ = server
    sid = open_session(port)
    status, _, body = request(port, 'POST', polling(sid),
                              body=b'4h\xc3\xa9llo\x1ebAQID')
    assert (status, body) == (200, b'ok')
    status, headers, body = request(port, 'GET', polling(sid))
    assert (status, body) == (200, b'4h\xc3\xa9llo\x1ebAQID')
    assert headers['content-type'] == 'text/plain; charset=UTF-8'
    assert request(port, 'POST', polling(sid), body=b'1')[0::2] == (200,
                                                                     b'ok')
    assert events.wait_disconnect(sid) == 'client disconnect'
    status, _, body = request(port, 'GET', polling(sid))
    assert status == 400 and json.loads(body)['code'] == 1


def test_chunked_body_is_read_up_to_the_limit(server):
    port, events, _ = server
    sid = open_session(port)
    # a body without Content-Length, in chunks: assembled when within the
    # limit, refused once it passes it (nothing beyond is kept)
    status, _, body = request(port, 'POST', polling(sid),
                              body=iter([b'4abc', b'\x1e4', b'def']))
    assert (status, body) == (200, b'ok')
    assert request(port, 'GET', polling(sid))[0::2] == (200,
                                                        b'4abc\x1e4def')
    # all in one write: the server answers at the limit, before the end,
    # and a client still writing would get EPIPE instead of the answer
    chunk = b'4' + b'x' * 399
    head = ('POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n'
            'Transfer-Encoding: chunked\r\n\r\n' % polling(sid)).encode()
    body = b''.join(b'%x\r\n%s\r\n' % (len(chunk), chunk)
                    for _ in range(5)) + b'0\r\n\r\n'
    with socket.create_connection(('127.0.0.1', port),
                                  timeout=TIMEOUT) as conn:
        conn.sendall(head + body)
        status_line = conn.makefile('rb').readline()
    assert status_line.split()[1] == b'413', status_line
    assert events.wait_disconnect(sid) == 'transport error'


def test_post_cut_short_by_the_client(server):
    port, events, _ = server
    sid = open_session(port)
    conn = socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT)
    conn.sendall(('POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n'
                  '\r\n4abc' % polling(sid)).encode())
    conn.close()  # the rest of the body never comes: http.disconnect
    assert events.wait_disconnect(sid) == 'transport error'


def test_held_poll_aborted_by_the_client(server):
    port, events, _ = server
    sid = open_session(port)
    conn = socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT)
    conn.sendall(('GET %s HTTP/1.1\r\nHost: x\r\n\r\n' %
                  polling(sid)).encode())
    # the POST proves the GET is held (a second GET would be refused)
    assert request(port, 'POST', polling(sid), body=b'6')[0] == 200
    conn.close()  # seen through http.disconnect
    assert events.wait_disconnect(sid) == 'transport error'


# -- WebSocket ------------------------------------------------------------

def test_websocket_echo(server):
    port, events, _ = server
    ws, sid = open_websocket(port)
    try:
        ws.send('4héllo \U0001F600')
        assert ws.recv() == (OP_TEXT, '4héllo \U0001F600')
        ws.send(b'\x00\x01\xff')
        assert ws.recv() == (OP_BINARY, b'\x00\x01\xff')
        ws.send(b'')
        assert ws.recv() == (OP_BINARY, b'')
        ws.send('1')
        assert events.wait_disconnect(sid) == 'client disconnect'
        opcode, payload = ws.recv()
        assert opcode == OP_CLOSE and close_code(payload) == 1000
    finally:
        ws.close()


def test_websocket_refused_with_the_http_answer(server):
    port, _, _ = server
    ws = RawWebSocket(port, '/engine.io/?EIO=4&transport=websocket&sid=nope')
    try:
        assert ws.status == 400
        assert json.loads(response_body(ws)) == {
            'code': 1, 'message': 'Session ID unknown'}
    finally:
        ws.close()
    # no route takes it: the same 404 as over HTTP
    ws = RawWebSocket(port, '/elsewhere')
    try:
        assert ws.status == 404 and response_body(ws) == b'Not Found'
    finally:
        ws.close()


def test_websocket_message_over_limit_closes_1009(server, caplog):
    port, events, _ = server
    ws, sid = open_websocket(port)
    try:
        ws.send('4' + 'x' * LIMIT)
        opcode, payload = ws.recv()
        assert opcode == OP_CLOSE and close_code(payload) == 1009
        assert events.wait_disconnect(sid) == 'transport close'
    finally:
        ws.close()
    assert 'over the %d byte limit' % LIMIT in caplog.text
    caplog.clear()


def test_websocket_server_disconnect(server):
    port, events, eio = server
    ws, sid = open_websocket(port)
    try:
        events.call(eio.disconnect(sid))
        assert ws.recv() == (OP_TEXT, '1')
        opcode, payload = ws.recv()
        assert opcode == OP_CLOSE and close_code(payload) == 1000
        assert events.wait_disconnect(sid) == 'server disconnect'
        # the closing handshake: the server lets go once we answer
        ws.sock.sendall(ws_kernel.build_frame(OP_CLOSE, payload,
                                              mask_key=os.urandom(4)))
        assert ws.recv() == (None, None)
    finally:
        ws.close()


def test_client_leaves_during_the_websocket_accept(server):
    port, events, eio = server
    events.holding.clear()
    conn = socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT)
    conn.sendall((
        'GET /engine.io/?EIO=4&transport=websocket&hold=1 HTTP/1.1\r\n'
        'Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
        'Sec-WebSocket-Version: 13\r\n\r\n').encode())
    # the connect handler holds the handshake; the client leaves meanwhile
    assert events.holding.wait(TIMEOUT)
    sid = events.connects[-1]
    conn.close()
    # one more round trip, so that the server has seen the EOF (most
    # likely; the session must end cleanly either way)
    assert request(port, 'GET', '/engine.io/?EIO=4&transport=x')[0] == 400
    events.loop.call_soon_threadsafe(events.release.set)
    assert events.wait_disconnect(sid) == 'transport close'
    wait_until(lambda: sid not in eio.sockets, 'the session to be dropped')


# -- the official JavaScript client ---------------------------------------

def test_official_js_client_upgrade(server):
    port, events, _ = server
    output = js_client_echo(port, 'upgrade')
    assert events.wait_disconnect(output['sid']) == 'transport close'


@pytest.mark.parametrize('server', [s for s in STACKS
                                    if s.name == ALL_MODES_STACK],
                         ids=[ALL_MODES_STACK], indirect=True)
@pytest.mark.parametrize('mode', ['polling', 'websocket'])
def test_official_js_client_other_modes(server, mode):
    port, events, _ = server
    output = js_client_echo(port, mode)
    assert events.wait_disconnect(output['sid']) == (
        'client disconnect' if mode == 'polling' else 'transport close')


# -- one server per test --------------------------------------------------

@pytest.mark.parametrize('stack', STACKS, ids=STACK_IDS)
def test_lifespan_startup_failure_is_reported(stack, caplog):
    def startup():
        raise RuntimeError('the database is down')

    eio = engineio.AsyncServer(async_mode='asgi')
    raised = []
    with serving(engineio.ASGIApp(eio, on_startup=startup), stack,
                 errors=raised):
        # the server gives up: it stops listening (uvicorn) or raises
        # (hypercorn), never serves
        pass
    reported = caplog.text + ''.join(str(exc) for exc in raised)
    assert 'RuntimeError: the database is down' in reported
    # the traceback is in engineio's log
    (record,) = [r for r in caplog.records if r.name == 'engineio.server']
    assert record.getMessage() == 'ASGIApp startup hook failed'
    assert record.exc_info[0] is RuntimeError
    caplog.clear()


@pytest.mark.parametrize('stack', [s for s in STACKS if s.name in (
    'uvicorn-websockets-sansio', 'hypercorn-asyncio')], ids=str)
def test_routes_under_a_root_path(stack, tmp_path):
    # uvicorn puts root_path in front of the path, hypercorn does not
    (tmp_path / 'app.js').write_text('js()')
    events = Events()
    eio = echo_server(events)
    app = engineio.ASGIApp(eio, static_files={'/static': str(tmp_path)})
    with serving(app, stack, root_path='/api') as port:
        sid = open_session(port)
        assert request(port, 'POST', polling(sid), body=b'1')[0] == 200
        assert events.wait_disconnect(sid) == 'client disconnect'
        assert request(port, 'GET', '/static/app.js')[0::2] == (200,
                                                                b'js()')
        ws, sid = open_websocket(port)
        ws.close()
        assert events.wait_disconnect(sid) == 'transport close'


# -- a server without the denial response extension ----------------------

def test_websocket_refused_without_the_extension_closes_1008():
    # every server above offers websocket.http.response; an ASGI server
    # that does not gets a close before the accept (its clients see 403)
    app = engineio.ASGIApp(echo_server(Events()))

    async def main():
        for path, query in (('/engine.io/', 'EIO=4&transport=websocket&'
                             'sid=nope'), ('/elsewhere', '')):
            conn = Connection(app, http_scope('GET', path, query,
                                              scope_type='websocket'))
            conn.start()
            conn.feed({'type': 'websocket.connect'})
            assert await conn.next_sent() == {'type': 'websocket.close',
                                              'code': 1008}
            await conn.finished()
            assert conn.outbox.empty()
    run(main())


def test_websocket_records_the_disconnect_code_and_closes_once():
    async def main():
        inbox, sent = asyncio.Queue(), []

        async def send(message):
            sent.append(message)

        ws = WebSocket(1, inbox.get, send)
        inbox.put_nowait({'type': 'websocket.receive', 'bytes': None,
                          'text': 'hi'})  # hypercorn sets both keys
        inbox.put_nowait({'type': 'websocket.disconnect', 'code': 4001})
        assert await ws.wait() == 'hi' and ws.close_code is None
        assert await ws.wait() is None and ws.close_code == 4001
        assert await ws.wait() is None  # never reads past the end
        await ws.close()  # the server refuses a close after a disconnect
        assert sent == []
        ws = WebSocket(2, inbox.get, send)
        await ws.close(1009)
        await ws.close(1000)
        assert sent == [{'type': 'websocket.close', 'code': 1009}]
        assert ws.close_code == 1009 and await ws.wait() is None
    run(main())
