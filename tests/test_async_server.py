"""``AsyncServer`` and ``ASGIApp`` (asgi mode), driven in process.

A tiny ASGI harness (``tests/asgi_helpers.py``) plays the web server:
scopes, ``receive`` and ``send`` callables.  Every test runs on its own
event loop through ``run`` (bounded): no pytest-asyncio needed, and it runs
on PyPy.  Real-server checks live in ``test_asgi_uvicorn.py``.
"""
import asyncio
import importlib.util
import json
import logging

import pytest

import engineio
from engineio import async_socket, packet
from engineio.static_files import get_static_file
from tests.asgi_helpers import Connection, handshake, http, http_scope, run

Q = 'EIO=4&transport=polling'


def make(**options):
    options.setdefault('async_mode', 'asgi')
    eio = engineio.AsyncServer(**options)
    return eio, engineio.ASGIApp(eio)


def query(sid):
    return Q + '&sid=' + sid


def echo_server(**options):
    eio, app = make(**options)
    seen = {'disconnect': []}

    @eio.on('message')
    async def message(sid, data):
        await eio.send(sid, data)

    @eio.on('disconnect')
    def disconnect(sid, reason):
        seen['disconnect'].append((sid, reason))

    return eio, app, seen


# -- construction -----------------------------------------------------------

def test_constructor_defaults_and_options():
    eio = engineio.AsyncServer(unknown_option=1)
    # the first installed of aiohttp, sanic, tornado; asgi needs nothing
    installed = [mode for mode in ('aiohttp', 'sanic', 'tornado')
                 if importlib.util.find_spec(mode) is not None]
    assert eio.async_mode == (installed + ['asgi'])[0]
    assert eio.is_asyncio_based() is True
    assert eio.async_modes() == ['aiohttp', 'sanic', 'tornado', 'asgi']
    assert (eio.ping_interval, eio.ping_timeout) == (25, 20)
    assert eio.max_http_buffer_size == 1000000
    assert eio.transports == ['polling', 'websocket']
    assert eio.async_handlers is True and eio.sockets == {}
    assert eio.reason.PING_TIMEOUT == 'ping timeout'
    assert engineio.AsyncServer.reason.SERVER_DISCONNECT == \
        'server disconnect'
    eio = engineio.AsyncServer(ping_interval=(10, 2), transports='polling')
    assert (eio.ping_interval, eio.ping_interval_grace_period) == (10, 2)
    assert eio.transports == ['polling']


@pytest.mark.parametrize('mode', ['threading', 'eventlet', 'nope', 'gevent'])
def test_unavailable_async_modes_are_refused(mode):
    with pytest.raises(ValueError, match='Invalid async_mode specified'):
        engineio.AsyncServer(async_mode=mode)


def test_on_registers_and_decorates():
    eio = engineio.AsyncServer()

    def f(sid, data):
        pass

    eio.on('message', f)

    @eio.on('connect')
    def g(sid, environ):
        pass

    assert eio.handlers == {'message': f, 'connect': g}
    with pytest.raises(ValueError, match='Invalid event'):
        eio.on('other', f)


def test_utilities():
    eio = engineio.AsyncServer()
    sid = eio.generate_id()
    assert len(sid) == 20 and sid != eio.generate_id()
    assert eio.get_queue_empty_exception() is asyncio.QueueEmpty
    with pytest.raises(KeyError):
        eio.transport('nope')

    async def main():
        # in a running loop: on Python 3.9 asyncio primitives made outside
        # one bind to get_event_loop(), which may be gone by now
        assert isinstance(eio.create_queue(), asyncio.Queue)
        assert isinstance(eio.create_event(), asyncio.Event)

        async def task(x):
            await eio.sleep(0)
            return x * 2
        assert await eio.start_background_task(task, 21) == 42
    run(main())


# -- polling ----------------------------------------------------------------

@pytest.mark.parametrize('path', ['/engine.io/', '/engine.io'])
def test_handshake_with_and_without_trailing_slash(path):
    eio, app = make()

    async def main():
        status, headers, body = await http(app, 'GET', path, Q)
        assert status == 200
        assert headers['content-type'] == 'text/plain; charset=UTF-8'
        opened = json.loads(body[1:])
        assert list(opened) == ['sid', 'upgrades', 'pingTimeout',
                                'pingInterval', 'maxPayload']
        assert opened['upgrades'] == ['websocket']
        assert eio.transport(opened['sid']) == 'polling'
        assert eio._get_socket(opened['sid']).connected
    run(main())


@pytest.mark.parametrize('async_handlers', [True, False])
def test_post_then_get_round_trip(async_handlers):
    eio, app, seen = echo_server(async_handlers=async_handlers)

    async def main():
        sid = (await handshake(app))['sid']
        status, _, body = await http(app, 'POST', '/engine.io/', query(sid),
                                     b'4hello\x1ebAQID')
        assert (status, body) == (200, b'ok')
        if async_handlers:  # the echo runs in tasks: wait for its output
            while len(eio._core.sessions[sid].queue) < 2:
                await asyncio.sleep(0)
        status, _, body = await http(app, 'GET', '/engine.io/', query(sid))
        assert (status, body) == (200, b'4hello\x1ebAQID')
    run(main())


def test_send_wakes_held_poll():
    eio, app = make()

    async def main():
        sid = (await handshake(app))['sid']
        conn = Connection(app, http_scope('GET', '/engine.io/', query(sid)))
        conn.start()
        conn.feed({'type': 'http.request', 'body': b'', 'more_body': False})
        while not eio._core.sessions[sid].poll_held:
            await asyncio.sleep(0)
        await eio.send(sid, {'a': 1})
        await eio.send_packet(sid, packet.Packet(packet.MESSAGE, b'\x01'))
        status, _, body = await conn.response()
        # both were queued before the woken poll ran: one payload
        assert (status, body) == (200, b'4{"a":1}\x1ebAQ==')
        await conn.finished()
        await eio.send('unknown', 'x')  # only logs
    run(main())


def test_server_disconnect_answers_held_poll_and_runs_handler_once():
    eio, app, seen = echo_server()

    async def main():
        sid = (await handshake(app))['sid']
        conn = Connection(app, http_scope('GET', '/engine.io/', query(sid)))
        conn.start()
        conn.feed({'type': 'http.request', 'body': b'', 'more_body': False})
        while not eio._core.sessions[sid].poll_held:
            await asyncio.sleep(0)
        await eio.send(sid, 'bye')
        await eio.disconnect(sid)
        assert seen['disconnect'] == [(sid, 'server disconnect')]
        status, _, body = await conn.response()
        assert body == b'4bye\x1e1'
        await eio.disconnect(sid)
        assert seen['disconnect'] == [(sid, 'server disconnect')]
        assert sid not in eio.sockets
        status, _, body = await http(app, 'GET', '/engine.io/', query(sid))
        assert status == 400 and json.loads(body)['code'] == 1
    run(main())


def test_disconnect_everyone():
    eio, app, seen = echo_server()

    async def main():
        sids = {(await handshake(app))['sid'] for _ in range(3)}
        await eio.disconnect()
        assert {s for s, _ in seen['disconnect']} == sids
        assert eio.sockets == {}
    run(main())


def test_client_going_away_during_held_poll():
    eio, app, seen = echo_server()

    async def main():
        sid = (await handshake(app))['sid']
        conn = Connection(app, http_scope('GET', '/engine.io/', query(sid)))
        conn.start()
        conn.feed({'type': 'http.request', 'body': b'', 'more_body': False})
        while not eio._core.sessions[sid].poll_held:
            await asyncio.sleep(0)
        conn.feed({'type': 'http.disconnect'})
        await conn.finished()
        assert conn.outbox.empty()  # nothing written to a gone client
        assert seen['disconnect'] == [(sid, 'transport error')]
    run(main())


def test_protocol_errors_and_options():
    eio, app = make()

    async def main():
        status, _, body = await http(app, 'GET', '/engine.io/',
                                     'EIO=4&transport=nope')
        assert status == 400 and json.loads(body)['code'] == 0
        status, _, body = await http(app, 'POST', '/engine.io/', Q)
        assert status == 400 and json.loads(body)['code'] == 2
        status, _, body = await http(app, 'GET', '/engine.io/', query('x'))
        assert status == 400 and json.loads(body)['code'] == 1
        status, _, body = await http(app, 'GET', '/engine.io/',
                                     'EIO=3&transport=polling')
        assert status == 400 and json.loads(body)['code'] == 5
        status, _, _ = await http(app, 'OPTIONS', '/engine.io/', Q)
        assert status == 204
    run(main())


def test_body_is_read_lazily_up_to_the_limit():
    eio, app, seen = echo_server(max_http_buffer_size=10)

    async def main():
        sid = (await handshake(app))['sid']
        conn = Connection(app, http_scope('POST', '/engine.io/', query(sid)))
        conn.start()
        for _ in range(5):
            conn.feed({'type': 'http.request', 'body': b'4' * 6,
                       'more_body': True})
        status, _, _ = await conn.response()
        assert status == 413
        await conn.finished()
        assert conn.inbox.qsize() == 3  # two chunks read, three left alone
        assert seen['disconnect'] == [(sid, 'transport error')]
    run(main())


def test_post_in_chunks_and_aborted_post():
    eio, app, seen = echo_server(async_handlers=False)

    async def main():
        sid = (await handshake(app))['sid']
        conn = Connection(app, http_scope('POST', '/engine.io/', query(sid)))
        conn.start()
        conn.feed({'type': 'http.request', 'body': b'4he', 'more_body': True})
        conn.feed({'type': 'http.request', 'body': b'llo', 'more_body': False})
        assert (await conn.response())[2] == b'ok'
        assert eio._core.sessions[sid].queue[0].data == 'hello'
        conn = Connection(app, http_scope('POST', '/engine.io/', query(sid)))
        conn.start()
        conn.feed({'type': 'http.request', 'body': b'4he', 'more_body': True})
        conn.feed({'type': 'http.disconnect'})
        await conn.finished()
        assert seen['disconnect'] == [(sid, 'transport error')]
    run(main())


def test_cors():
    eio, app = make(cors_allowed_origins=['https://good.example'])

    async def main():
        status, headers, _ = await http(
            app, 'GET', '/engine.io/', Q,
            headers=[('origin', 'https://good.example')])
        assert status == 200
        assert headers['access-control-allow-origin'] == \
            'https://good.example'
        status, _, body = await http(app, 'GET', '/engine.io/', Q,
                                     headers=[('origin', 'https://bad')])
        assert status == 403 and json.loads(body)['code'] == 4
    run(main())


# -- handlers ---------------------------------------------------------------

@pytest.mark.parametrize('result, status, body', [
    (None, 200, None), (True, 200, None), (False, 401, b'"Unauthorized"'),
    ({'no': 1}, 401, b'{"no": 1}'), (ValueError, 401, b'"Unauthorized"')])
@pytest.mark.parametrize('coroutine', [False, True])
def test_connect_handler(result, status, body, coroutine):
    eio, app = make()
    environs = []

    def connect(sid, environ):
        environs.append(environ)
        assert sid in eio.sockets
        if result is ValueError:
            raise ValueError('no')
        return result

    async def async_connect(sid, environ):
        return connect(sid, environ)

    eio.on('connect', async_connect if coroutine else connect)

    async def main():
        got, _, payload = await http(app, 'GET', '/engine.io/', Q)
        assert got == status
        if body is not None:
            assert payload == body
            assert eio.sockets == {}
        assert environs[0]['asgi.scope']['path'] == '/engine.io/'
        assert environs[0]['QUERY_STRING'] == Q
        assert environs[0]['HTTP_HOST'] == '127.0.0.1'
    run(main())


@pytest.mark.parametrize('coroutine', [False, True])
def test_disconnect_handler_without_reason(coroutine):
    eio, app = make()
    seen = []

    def disconnect(sid):
        seen.append(sid)

    async def async_disconnect(sid):
        seen.append(sid)

    eio.on('disconnect', async_disconnect if coroutine else disconnect)

    async def main():
        sid = (await handshake(app))['sid']
        await eio.disconnect(sid)
        assert seen == [sid]
    run(main())


def test_handler_errors_are_logged(caplog):
    eio, app = make(async_handlers=False)

    @eio.on('message')
    def message(sid, data):
        raise RuntimeError('boom')

    async def main():
        sid = (await handshake(app))['sid']
        status, _, _ = await http(app, 'POST', '/engine.io/', query(sid),
                                  b'4x')
        assert status == 200
    with caplog.at_level(logging.ERROR, logger='engineio.server'):
        run(main())
    assert 'message handler error' in caplog.text


def test_session_api():
    eio, app = make()

    async def main():
        sid = (await handshake(app))['sid']
        assert await eio.get_session(sid) == {}
        await eio.save_session(sid, {'user': 1})
        async with eio.session(sid) as session:
            assert session == {'user': 1}
            session['more'] = 2
        assert await eio.get_session(sid) == {'user': 1, 'more': 2}
        with pytest.raises(KeyError):
            await eio.get_session('nope')
        await eio.disconnect(sid)
        with pytest.raises(KeyError):
            await eio.get_session(sid)
    run(main())


# -- heartbeat, tasks, shutdown ---------------------------------------------

def test_one_timer_pings_and_times_out():
    eio, app, seen = echo_server(ping_interval=0.05, ping_timeout=0.05)
    gone = []

    async def main():
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        @eio.on('disconnect')
        def disconnect(sid, reason):
            gone.append((sid, reason))
            if len(gone) == 20:
                done.set_result(None)

        tasks_before = len(asyncio.all_tasks())
        sids = [(await handshake(app))['sid'] for _ in range(20)]
        # 20 idle sessions: one timer handle, no task of their own
        assert isinstance(eio._timer, asyncio.TimerHandle)
        assert len(asyncio.all_tasks()) == tasks_before
        status, _, body = await http(app, 'GET', '/engine.io/',
                                     query(sids[0]))
        assert body == b'2'  # the ping, sent by the timer
        await done  # no pong: every session times out
        assert {reason for _, reason in gone} == {'ping timeout'}
        assert eio.sockets == {}
    run(main())


def test_patched_send_ping_hook_runs():
    eio, app = make(ping_interval=0.05, ping_timeout=1)
    original = async_socket.AsyncSocket._send_ping
    calls = []

    async def main():
        pinged = asyncio.get_running_loop().create_future()

        async def patched(socket):
            calls.append(socket.sid)
            if not pinged.done():
                pinged.set_result(None)
            return await original(socket)

        async_socket.AsyncSocket._send_ping = patched
        sid = (await handshake(app))['sid']
        await pinged
        assert calls == [sid]
        await eio.shutdown()
    try:
        run(main())
    finally:
        async_socket.AsyncSocket._send_ping = original


def test_shutdown_cancels_timer_and_tasks():
    eio, app = make()

    async def main():
        await handshake(app)
        started = asyncio.Event()

        async def forever():
            started.set()
            await asyncio.sleep(3600)

        task = eio.start_background_task(forever)
        await started.wait()
        await eio.shutdown()
        assert task.cancelled() and eio._timer is None
    run(main())


# -- WebSocket ----------------------------------------------------------------

def ws_scope(query_string, extensions=None):
    scope = http_scope('GET', '/engine.io/', query_string,
                       scope_type='websocket')
    scope['scheme'] = 'ws'
    if extensions is not None:
        scope['extensions'] = extensions
    return scope


def test_websocket_direct_echo_and_close():
    eio, app, seen = echo_server(async_handlers=False)

    async def main():
        conn = Connection(app, ws_scope('EIO=4&transport=websocket'))
        conn.start()
        conn.feed({'type': 'websocket.connect'})
        assert (await conn.next_sent()) == {'type': 'websocket.accept'}
        opened = await conn.next_sent()
        sid = json.loads(opened['text'][1:])['sid']
        assert eio.transport(sid) == 'websocket'
        conn.feed({'type': 'websocket.receive', 'text': '4hi'})
        assert (await conn.next_sent())['text'] == '4hi'
        conn.feed({'type': 'websocket.receive', 'bytes': b'\x01'})
        assert (await conn.next_sent())['bytes'] == b'\x01'
        conn.feed({'type': 'websocket.disconnect', 'code': 1000})
        await conn.finished()
        assert seen['disconnect'] == [(sid, 'transport close')]
    run(main())


def test_websocket_server_disconnect_sends_close():
    eio, app, seen = echo_server()

    async def main():
        conn = Connection(app, ws_scope('EIO=4&transport=websocket'))
        conn.start()
        conn.feed({'type': 'websocket.connect'})
        await conn.next_sent()
        sid = json.loads((await conn.next_sent())['text'][1:])['sid']
        await eio.disconnect(sid)
        assert (await conn.next_sent())['text'] == '1'
        assert (await conn.next_sent()) == {'type': 'websocket.close',
                                            'code': 1000}
        conn.feed({'type': 'websocket.disconnect', 'code': 1000})
        await conn.finished()
        assert seen['disconnect'] == [(sid, 'server disconnect')]
    run(main())


def test_websocket_upgrade_in_harness():
    eio, app, seen = echo_server(async_handlers=False)

    async def main():
        sid = (await handshake(app))['sid']
        poll = Connection(app, http_scope('GET', '/engine.io/', query(sid)))
        poll.start()
        poll.feed({'type': 'http.request', 'body': b'', 'more_body': False})
        conn = Connection(app, ws_scope('EIO=4&transport=websocket&sid=' +
                                        sid))
        conn.start()
        conn.feed({'type': 'websocket.connect'})
        assert (await conn.next_sent())['type'] == 'websocket.accept'
        conn.feed({'type': 'websocket.receive', 'text': '2probe'})
        assert (await conn.next_sent())['text'] == '3probe'
        assert (await poll.response())[2] == b'6'
        conn.feed({'type': 'websocket.receive', 'text': '5'})
        conn.feed({'type': 'websocket.receive', 'text': '4up'})
        assert (await conn.next_sent())['text'] == '4up'
        assert eio.transport(sid) == 'websocket'
        conn.feed({'type': 'websocket.disconnect', 'code': 1000})
        await conn.finished()
        assert seen['disconnect'] == [(sid, 'transport close')]
    run(main())


def test_websocket_message_over_limit():
    eio, app, seen = echo_server(max_http_buffer_size=10)

    async def main():
        conn = Connection(app, ws_scope('EIO=4&transport=websocket'))
        conn.start()
        conn.feed({'type': 'websocket.connect'})
        await conn.next_sent()
        sid = json.loads((await conn.next_sent())['text'][1:])['sid']
        conn.feed({'type': 'websocket.receive', 'text': '4' + 'é' * 5})
        conn.feed({'type': 'websocket.receive', 'bytes': b'x' * 11})
        assert (await conn.next_sent()) == {'type': 'websocket.close',
                                            'code': 1009}
        await conn.finished()
        assert seen['disconnect'] == [(sid, 'transport close')]
    run(main())


@pytest.mark.parametrize('extension', [False, True])
def test_websocket_refused(extension):
    eio, app = make()

    async def main():
        conn = Connection(app, ws_scope(
            'EIO=4&transport=websocket&sid=nope',
            {'websocket.http.response': {}} if extension else None))
        conn.start()
        conn.feed({'type': 'websocket.connect'})
        first = await conn.next_sent()
        if extension:
            assert first['type'] == 'websocket.http.response.start'
            assert first['status'] == 400
            body = await conn.next_sent()
            assert json.loads(body['body'])['code'] == 1
        else:
            assert first == {'type': 'websocket.close', 'code': 1008}
        await conn.finished()
    run(main())


def test_websocket_gone_before_connect():
    eio, app = make()

    async def main():
        conn = Connection(app, ws_scope('EIO=4&transport=websocket'))
        conn.start()
        conn.feed({'type': 'websocket.disconnect', 'code': 1006})
        await conn.finished()
        assert conn.outbox.empty() and eio.sockets == {}
    run(main())


# -- ASGIApp routing ----------------------------------------------------------

def test_custom_path_and_no_routing():
    eio = engineio.AsyncServer(async_mode='asgi')

    async def main():
        app = engineio.ASGIApp(eio, engineio_path='/custom/')
        await handshake(app, '/custom')
        assert (await http(app, 'GET', '/engine.io/', Q))[0] == 404
        app = engineio.ASGIApp(eio, engineio_path=None)
        await handshake(app, '/anything/at/all')
    run(main())


def test_other_app_and_not_found():
    eio = engineio.AsyncServer(async_mode='asgi')
    calls = []

    async def other(scope, receive, send):
        calls.append(scope['type'])
        await send({'type': 'http.response.start', 'status': 200,
                    'headers': []})
        await send({'type': 'http.response.body', 'body': b'other'})

    async def main():
        app = engineio.ASGIApp(eio, other)
        assert (await http(app, 'GET', '/x'))[2] == b'other'
        await handshake(app)
        app = engineio.ASGIApp(eio)
        status, headers, body = await http(app, 'GET', '/x')
        assert (status, body) == (404, b'Not Found')
    run(main())
    assert calls == ['http']


def test_static_files(tmp_path):
    (tmp_path / 'index.html').write_text('<p>index</p>')
    (tmp_path / 'app.js').write_text('js()')
    (tmp_path / 'sub').mkdir()
    (tmp_path / 'sub' / 'index.html').write_text('<p>sub</p>')
    root = str(tmp_path)
    static = {'/': root + '/index.html', '/static': root,
              '/img': {'filename': root + '/app.js',
                       'content_type': 'image/test'},
              '': 'index.html'}
    app = engineio.ASGIApp(engineio.AsyncServer(async_mode='asgi'),
                           static_files=static)

    async def main():
        status, headers, body = await http(app, 'GET', '/')
        assert (status, body) == (200, b'<p>index</p>')
        assert headers['content-type'] == 'text/html'
        status, headers, body = await http(app, 'GET', '/static/app.js')
        assert headers['content-type'] == 'application/javascript'
        assert (await http(app, 'GET', '/static/sub/'))[2] == b'<p>sub</p>'
        assert (await http(app, 'GET', '/img'))[1]['content-type'] == \
            'image/test'
        for path in ('/static/../../etc/passwd', '/static/%2e%2e/x',
                     '/static/sub/..', '/static/..\\x', '/static/missing'):
            assert (await http(app, 'GET', path))[0] == 404, path
    run(main())


def test_get_static_file_rules():
    files = {'/a': 'x/', '/b/': 'y/', '/c.txt': 'c.txt', '': 'i.html'}
    assert get_static_file('/c.txt', files) == {
        'filename': 'c.txt', 'content_type': 'text/plain'}
    assert get_static_file('/a/d/e.css', files)['filename'] == 'x/d/e.css'
    assert get_static_file('/b/z.png', files)['filename'] == 'y/z.png'
    assert get_static_file('/a/', files)['filename'] == 'x/i.html'
    assert get_static_file('/a/f', files)['content_type'] == \
        'application/octet-stream'
    assert get_static_file('/nope', files) is None
    for bad in ('/a/../x', '/a/%2e%2e/x', '/a/%252e%252e/x', '/a/x\x00'):
        assert get_static_file(bad, files) is None


@pytest.mark.parametrize('coroutine', [False, True])
def test_lifespan_hooks(coroutine):
    events = []

    def hook(name):
        def sync():
            events.append(name)

        async def async_():
            events.append(name)
        return async_ if coroutine else sync

    app = engineio.ASGIApp(engineio.AsyncServer(async_mode='asgi'),
                           on_startup=hook('up'), on_shutdown=hook('down'))

    async def main():
        conn = Connection(app, {'type': 'lifespan'}).start()
        conn.feed({'type': 'lifespan.startup'})
        assert (await conn.next_sent())['type'] == \
            'lifespan.startup.complete'
        conn.feed({'type': 'lifespan.shutdown'})
        assert (await conn.next_sent())['type'] == \
            'lifespan.shutdown.complete'
        await conn.finished()
    run(main())
    assert events == ['up', 'down']


def test_lifespan_failure_and_passthrough():
    def fail():
        raise RuntimeError('no')

    seen = []

    async def other(scope, receive, send):
        seen.append(scope['type'])

    async def main():
        app = engineio.ASGIApp(engineio.AsyncServer(async_mode='asgi'),
                               on_startup=fail)
        conn = Connection(app, {'type': 'lifespan'}).start()
        conn.feed({'type': 'lifespan.startup'})
        failed = await conn.next_sent()
        assert failed['type'] == 'lifespan.startup.failed'
        assert 'no' in failed['message']
        await conn.finished()
        app = engineio.ASGIApp(engineio.AsyncServer(async_mode='asgi'),
                               other)
        await Connection(app, {'type': 'lifespan'}).start().finished()
    run(main())
    assert seen == ['lifespan']


def _gated_ws_app(**options):
    """An echo server whose ASGI ``send`` suspends on '4slow' until the
    returned gate is released (a paused transport)."""
    eio, app, seen = echo_server(async_handlers=False, **options)
    sent = []
    gate = {}

    async def send(event):
        if event.get('text') == '4slow':
            gate['future'] = asyncio.get_running_loop().create_future()
            await gate['future']
        sent.append(event)
    return eio, app, seen, send, sent, gate


def test_websocket_write_that_suspends_is_finished_in_order_by_a_task():
    eio, app, seen, send, sent, gate = _gated_ws_app()

    async def main():
        inbox = asyncio.Queue()
        for message in ({'type': 'websocket.connect'},
                        {'type': 'websocket.receive', 'text': '4slow'},
                        {'type': 'websocket.receive', 'text': '4a'},
                        {'type': 'websocket.receive', 'text': '4b'}):
            inbox.put_nowait(message)
        task = asyncio.ensure_future(app(ws_scope('EIO=4&transport=websocket'),
                                         inbox.get, send))
        for _ in range(20):
            await asyncio.sleep(0)
        # the handlers did not wait for the stuck write; nothing overtook it
        assert inbox.empty() and 'future' in gate
        assert [e.get('text', '')[:1] for e in sent] == ['', '0']
        (socket,) = eio.sockets.values()
        assert list(socket._outbox.queue) == ['4a', '4b']
        gate['future'].set_result(None)
        for _ in range(20):
            await asyncio.sleep(0)
        assert [e.get('text') for e in sent[2:]] == ['4slow', '4a', '4b']
        assert socket._outbox.task is None  # idle again: writes go inline
        inbox.put_nowait({'type': 'websocket.receive', 'text': '4c'})
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert sent[-1]['text'] == '4c'
        inbox.put_nowait({'type': 'websocket.disconnect', 'code': 1000})
        await asyncio.wait_for(task, 5)
        assert [r for _, r in seen['disconnect']] == ['transport close']
    run(main())


def test_websocket_stuck_writer_overflows_to_transport_error():
    eio, app, seen, send, sent, gate = _gated_ws_app(max_queued_packets=3)

    async def main():
        inbox = asyncio.Queue()
        inbox.put_nowait({'type': 'websocket.connect'})
        inbox.put_nowait({'type': 'websocket.receive', 'text': '4slow'})
        for i in range(5):
            inbox.put_nowait({'type': 'websocket.receive', 'text': '4%d' % i})
        task = asyncio.ensure_future(app(ws_scope('EIO=4&transport=websocket'),
                                         inbox.get, send))
        for _ in range(30):
            await asyncio.sleep(0)
        assert [r for _, r in seen['disconnect']] == ['transport error']
        gate['future'].set_result(None)
        inbox.put_nowait({'type': 'websocket.disconnect', 'code': 1000})
        await asyncio.wait_for(task, 5)
        # the stuck frame, then the close: the overflowed frames are dropped
        assert sent[-2:] == [{'type': 'websocket.send', 'text': '4slow'},
                             {'type': 'websocket.close', 'code': 1000}]
    run(main())
