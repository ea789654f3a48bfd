"""``AsyncClient`` on our own asyncio WebSocket (``engineio._async_client_websocket``).

Real peers on 127.0.0.1: our ``AsyncServer`` on uvicorn (over TLS with a
self-signed certificate made here with the ``openssl`` CLI), the official
Node.js ``engine.io`` server, and the scripted servers of
``tests/test_client.py`` that misbehave on purpose (bad handshakes,
truncated frames, silence, a peer that stops reading).  Also the sans-I/O
handshake both clients share, fed byte by byte.  Every wait is bounded; each
test checks that the disconnect handler ran once and no task is left.
Skipped where aiohttp or uvicorn is missing (PyPy).
"""
import asyncio
import socket
import ssl
import threading
import time
import warnings

import pytest

pytest.importorskip('aiohttp')
uvicorn = pytest.importorskip('uvicorn')

import aiohttp  # noqa: E402

import engineio  # noqa: E402
from engineio import _async_client_websocket as async_websocket  # noqa: E402
from engineio import _client_websocket as client_websocket  # noqa: E402
from engineio import exceptions  # noqa: E402
from engineio._speedups import websocket as ws_kernel  # noqa: E402
from tests.loopback import TIMEOUT  # noqa: E402
from tests.test_client import (NodeServer, ScriptedServer,  # noqa: E402
                               accept_key, bad_frames_script, open_packet,
                               websocket_server)
from tests.async_client_helpers import (Recorder,  # noqa: E402,F401
                                         certificate, no_task_left, run)


def serve(app, **config):
    """uvicorn serving ``app`` on an ephemeral port in a thread: a context
    manager giving the port."""
    class Serving:
        def __enter__(self):
            self.listener = socket.socket()
            self.listener.bind(('127.0.0.1', 0))
            self.listener.listen(128)
            self.server = uvicorn.Server(uvicorn.Config(
                app, loop='asyncio', lifespan='off', log_level='warning',
                timeout_graceful_shutdown=2, **config))
            self.thread = threading.Thread(
                target=self.server.run, kwargs={'sockets': [self.listener]},
                daemon=True)
            self.thread.start()
            deadline = time.monotonic() + TIMEOUT
            while not self.server.started:
                assert time.monotonic() < deadline and self.thread.is_alive()
                time.sleep(0.01)
            return self.listener.getsockname()[1]

        def __exit__(self, *exc):
            self.server.should_exit = True
            self.thread.join(TIMEOUT)
            self.listener.close()
    return Serving()


def echo_app():
    eio = engineio.AsyncServer(async_mode='asgi', async_handlers=False,
                               ping_interval=0.5, ping_timeout=2)

    @eio.on('message')
    async def message(sid, data):
        await eio.send(sid, data)
    return engineio.ASGIApp(eio)


@pytest.fixture(scope='module')
def node_server():
    server = NodeServer({'pingInterval': 500, 'pingTimeout': 2000})
    try:
        yield server.url
    finally:
        server.close()


# -- the sans-I/O handshake -----------------------------------------------------

def test_handshake_fed_byte_by_byte_with_trailing_frames():
    handshake = client_websocket.Handshake(
        'ws://example.com:8080/engine.io/?EIO=4&transport=websocket',
        [('Host', 'front.example'), ('Cookie', 'a=1')], ['chat'])
    request = handshake.request.decode()
    assert request.startswith('GET /engine.io/?EIO=4&transport=websocket '
                              'HTTP/1.1\r\nHost: front.example\r\n')
    assert 'Cookie: a=1\r\n' in request and request.count('Host:') == 1
    assert 'Sec-WebSocket-Protocol: chat\r\n' in request
    frame = ws_kernel.build_frame(ws_kernel.OP_TEXT, '4hi')
    answer = ('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n'
              'Connection: Upgrade\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n'
              'Sec-WebSocket-Accept: %s\r\n\r\n'
              % accept_key(handshake.key)).encode() + frame
    results = [handshake.receive(answer[i:i + 1])
               for i in range(len(answer) - len(frame))]
    assert results[:-1] == [None] * (len(results) - 1)
    assert results[-1] == b''
    assert handshake.response_headers['set-cookie'] == 'a=1\nb=2'
    again = client_websocket.Handshake('ws://h/')
    assert again.receive(answer.replace(
        accept_key(handshake.key).encode(),
        accept_key(again.key).encode())) == frame
    codec = client_websocket.FrameCodec(None)
    assert codec.receive(frame) == ['4hi']


@pytest.mark.parametrize('answer,message', [
    (b'HTTP/1.1 400 Bad Request\r\n\r\n', 'refused with status 400'),
    (b'SSH-2.0-OpenSSH\r\n\r\n', 'not HTTP'),
    (b'HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
     b'Sec-WebSocket-Accept: d3Jvbmc=\r\n\r\n', 'Sec-WebSocket-Accept'),
    (b'HTTP/1.1 101 OK\r\n' + b'X: y\r\n' * 20000, 'too long'),
])
def test_handshake_bad_answers(answer, message):
    with pytest.raises(client_websocket.WebSocketHandshakeError,
                       match=message):
        client_websocket.Handshake('ws://h/').receive(answer)


def test_options_checked():
    for options, message in [({'bogus': 1}, 'bogus'),
                             ({'method': 'POST'}, 'GET'),
                             ({'compress': 15}, 'permessage-deflate')]:
        with pytest.raises(ValueError, match=message):
            engineio.AsyncClient(websocket_extra_options=options,
                                 handle_sigint=False)
    engineio.AsyncClient(handle_sigint=False, websocket_extra_options={
        'headers': {'X': '1'}, 'heartbeat': 5, 'compress': 0,
        'timeout': aiohttp.ClientWSTimeout(ws_close=1), 'autoping': True})


# -- real servers -------------------------------------------------------------

@pytest.mark.parametrize('transports', [None, ['websocket']])
@pytest.mark.parametrize('loop', ['asyncio', 'uvloop'])
def test_node_server_order_text_and_binary(node_server, transports, loop):
    """Many sends without a pause in between arrive in order, text and
    binary, on the default loop and on uvloop; the connect handler's send
    (queued while polling) goes first."""
    if loop == 'uvloop':
        uvloop = pytest.importorskip('uvloop')

    async def main():
        rec = Recorder()
        rec.client.on('connect', lambda: asyncio.ensure_future(
            rec.client.send('first')))
        await rec.client.connect(node_server, transports=transports)
        await asyncio.sleep(0)
        assert rec.client.transport() == 'websocket'
        sent = ['first'] + [('t%d' % i) if i % 2 else b'b%d' % i
                            for i in range(200)]
        for data in sent[1:]:
            await rec.client.send(data)
        await rec.wait_for(lambda: len(rec.messages) >= len(sent))
        assert rec.messages == sent
        await asyncio.sleep(1.2)  # heartbeats every 0.5 s are answered
        assert rec.client.state == 'connected'
        await rec.client.disconnect()
        assert await rec.wait_disconnect() == 'client disconnect'
        await no_task_left()

    if loop == 'uvloop':
        async def bounded():
            return await asyncio.wait_for(main(), TIMEOUT + 10)
        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop) \
            if hasattr(asyncio, 'Runner') else None
        if runner is None:  # pragma: no cover (Python < 3.11)
            pytest.skip('asyncio.Runner needs Python 3.11')
        with runner:
            runner.run(bounded())
    else:
        run(main())


def test_tls_self_signed(certificate):
    cert, key = certificate

    async def main(port):
        url = 'https://127.0.0.1:%d' % port
        # verification on (the default): the unknown CA is refused
        rec = Recorder()
        with pytest.raises(exceptions.ConnectionError, match='CERTIFICATE'):
            await rec.client.connect(url, transports=['websocket'])
        assert rec.client.state == 'disconnected' and not rec.disconnects
        # our CA given as the option ``ssl``: verified, connected
        context = ssl.create_default_context(cafile=cert)
        rec = Recorder(websocket_extra_options={'ssl': context})
        await rec.client.connect(url, transports=['websocket'])
        await rec.client.send('secret')
        await rec.wait_for(lambda: rec.messages)
        assert rec.messages == ['secret']
        await rec.client.disconnect()
        assert await rec.wait_disconnect() == 'client disconnect'
        # ssl_verify=False: polling (our HTTP client), then the upgrade on
        # its TLS connection
        rec = Recorder(ssl_verify=False)
        await rec.client.connect(url)
        assert rec.client.transport() == 'websocket'
        await rec.client.send(b'\x00bin')
        await rec.wait_for(lambda: rec.messages)
        assert rec.messages == [b'\x00bin']
        await rec.client.disconnect()
        assert await rec.wait_disconnect() == 'client disconnect'
        await no_task_left()

    with serve(echo_app(), ssl_certfile=cert, ssl_keyfile=key) as port:
        run(main(port))


def test_cookies_and_headers_on_the_websocket_handshake():
    seen = []

    def script(request, server):
        seen.append(request.headers)
        request.send_frame(ws_kernel.OP_TEXT, open_packet())
        request.read_frames()

    async def main():
        with ScriptedServer(websocket_server(script)) as server:
            # no HTTP session: the Cookie header is sent as given
            with warnings.catch_warnings():  # deprecated in aiohttp 3.14
                warnings.simplefilter('ignore', DeprecationWarning)
                auth = aiohttp.BasicAuth('user', 'pw')
            rec = Recorder(websocket_extra_options={
                'headers': {'X-Extra': '1'}, 'origin': 'http://app',
                'auth': auth})
            await rec.client.connect(server.url, transports=['websocket'],
                                     headers={'Cookie': 'a=1; b=2',
                                              'X-Token': 't'})
            await rec.client.disconnect()
            # a session: its jar's cookies (and connect()'s) are sent
            async with aiohttp.ClientSession() as http:
                http.cookie_jar.update_cookies({'jar': 'j'})
                rec = Recorder(http_session=http)
                await rec.client.connect(server.url,
                                         transports=['websocket'],
                                         headers={'Cookie': 'c=3'})
                await rec.client.disconnect()
                assert not http.closed  # the application's: left open
        first, second = seen
        assert first['cookie'] == 'a=1; b=2' and first['x-token'] == 't'
        assert first['x-extra'] == '1' and first['origin'] == 'http://app'
        assert first['authorization'] == 'Basic dXNlcjpwdw=='
        assert sorted(second['cookie'].split('; ')) == ['c=3', 'jar=j']
        await no_task_left()
    run(main())


def test_polling_cookie_reaches_the_upgrade():
    def handler(request, server):
        if 'transport=websocket' in request.target:
            request.accept_websocket()
            request.read_frames()
        else:
            body = open_packet(upgrades=['websocket']).encode()
            request.conn.sendall((
                'HTTP/1.1 200 OK\r\nContent-Length: %d\r\n'
                'Set-Cookie: sticky=node-3; Path=/\r\n\r\n' % len(body)
            ).encode() + body)
            request.hold(server.stop)

    async def main():
        # aiohttp's default jar refuses cookies from IP addresses
        jar = aiohttp.CookieJar(unsafe=True)
        with ScriptedServer(handler) as server:
            async with aiohttp.ClientSession(cookie_jar=jar) as http:
                rec = Recorder(request_timeout=0.5, http_session=http)
                await rec.client.connect(server.url)
                # the probe went unanswered: the upgrade failed, polling
                # goes on
                assert rec.client.transport() == 'polling'
                await rec.client.disconnect(abort=True)
            upgrade = [r for r in server.requests
                       if 'transport=websocket' in r.target][0]
            assert upgrade.headers['cookie'] == 'sticky=node-3'
    run(main())


# -- misbehaving servers --------------------------------------------------------

def test_handshake_refused_cut_short_or_silent():
    def refused(request, server):
        request.respond('nope', status='403 Forbidden')

    def cut_short(request, server):
        request.conn.sendall(b'HTTP/1.1 101 Switching')

    def silent(request, server):
        request.hold(server.stop)

    async def main():
        for handler, message in [(refused, 'status 403'),
                                 (cut_short, 'closed during'),
                                 (silent, 'no WebSocket handshake answer')]:
            with ScriptedServer(handler) as server:
                rec = Recorder(request_timeout=0.5)
                with pytest.raises(exceptions.ConnectionError,
                                   match=message):
                    await rec.client.connect(server.url,
                                             transports=['websocket'])
                assert rec.client.state == 'disconnected'
                assert not rec.disconnects
        await no_task_left()
    run(main())


@pytest.mark.parametrize('frames,closing_code', [
    ([ws_kernel.build_frame_header(ws_kernel.OP_BINARY, 2000)],
     ws_kernel.CLOSE_TOO_BIG),
    ([ws_kernel.build_frame(ws_kernel.OP_TEXT, b'4\xff')],
     ws_kernel.CLOSE_INVALID_DATA),
    ([ws_kernel.build_frame(ws_kernel.OP_TEXT, '4x', mask_key=b'abcd')],
     ws_kernel.CLOSE_PROTOCOL_ERROR),
    ([ws_kernel.build_frame(ws_kernel.OP_TEXT, '4hello')[:4]], None),
    ([ws_kernel.build_frame(ws_kernel.OP_CLOSE,
                            ws_kernel.build_close_payload(1001))], 1001),
])
def test_bad_frames_truncation_and_close(frames, closing_code):
    """The message before the fault is delivered, the fault answered with
    its close code, the session ends once with a transport error."""
    script = bad_frames_script(frames, closing_code)

    async def main():
        with ScriptedServer(websocket_server(script)) as server:
            rec = Recorder()
            rec.client.max_message_size = 1000
            await rec.client.connect(server.url, transports=['websocket'])
            assert await rec.wait_disconnect() == 'transport error'
            await rec.wait_for(lambda: rec.messages)
            assert rec.messages == ['before']
            await no_task_left()
        if closing_code is not None:
            received = server.requests[0].received
            assert received[-1][0] == ws_kernel.OP_CLOSE
            assert ws_kernel.parse_close_payload(received[-1][1])[0] == \
                closing_code
    run(main())


def test_ping_answered_then_silence():
    def script(request, server):
        request.send_frame(ws_kernel.OP_TEXT, open_packet(200, 200))
        request.send_frame(ws_kernel.OP_PING, b'ws-level')
        request.send_frame(ws_kernel.OP_TEXT, '2')
        request.received = request.read_frames()

    async def main():
        with ScriptedServer(websocket_server(script)) as server:
            rec = Recorder()
            await rec.client.connect(server.url, transports=['websocket'])
            start = time.monotonic()
            assert await rec.wait_disconnect() == 'transport error'
            assert 0.2 < time.monotonic() - start < 3
            await no_task_left()
        received = server.requests[0].received
        assert received[:2] == [(ws_kernel.OP_PONG, b'ws-level'),
                                (ws_kernel.OP_TEXT, '3')]
        assert received[-1][0] == ws_kernel.OP_CLOSE
    run(main())


def test_keepalive_option_unanswered():
    """``heartbeat``: WebSocket pings; one left unanswered ends it."""
    def script(request, server):
        request.send_frame(ws_kernel.OP_TEXT, open_packet())
        request.received = request.read_frames()

    async def main():
        with ScriptedServer(websocket_server(script)) as server:
            rec = Recorder(websocket_extra_options={'heartbeat': 0.2})
            await rec.client.connect(server.url, transports=['websocket'])
            assert await rec.wait_disconnect() == 'transport error'
            await no_task_left()
        assert server.requests[0].received[0] == (ws_kernel.OP_PING, b'')
    run(main())


def test_back_pressure_when_the_server_stops_reading():
    """``send()`` waits once the transport is over its high-water mark,
    rather than buffering without bound; the wait ends with the
    connection."""
    def script(request, server):
        request.send_frame(ws_kernel.OP_TEXT, open_packet())
        request.hold(server.stop)

    async def main():
        with ScriptedServer(websocket_server(script)) as server:
            rec = Recorder()
            await rec.client.connect(server.url, transports=['websocket'])
            big = b'x' * (1 << 20)
            blocked = None
            for _ in range(256):
                sending = asyncio.ensure_future(rec.client.send(big))
                done, _ = await asyncio.wait([sending], timeout=0.5)
                if not done:
                    blocked = sending
                    break
            assert blocked is not None and rec.client.ws.paused
            assert rec.client.ws.transport.get_write_buffer_size() < 8 << 20
            await rec.client.disconnect(abort=True)
            await asyncio.wait_for(blocked, TIMEOUT)
            assert await rec.wait_disconnect() == 'client disconnect'
            await no_task_left()
    run(main())


def test_connect_directly_to_the_async_websocket():
    """The connection object alone: recv() before handlers, timeouts,
    the closing handshake answered by the server."""
    def script(request, server):
        request.send_frame(ws_kernel.OP_TEXT, 'one')
        request.received = request.read_frames()
        request.conn.sendall(ws_kernel.build_frame(
            ws_kernel.OP_CLOSE, ws_kernel.build_close_payload(1000)))

    async def main():
        with ScriptedServer(websocket_server(script)) as server:
            ws = await async_websocket.connect(
                'ws://127.0.0.1:%d/x' % server.port, timeout=TIMEOUT)
            assert await ws.recv(TIMEOUT) == 'one'
            with pytest.raises(async_websocket.WebSocketTimeout):
                await ws.recv(0.05)
            ws.send_many(['a', b'b'])
            await ws.close(timeout=TIMEOUT)
            assert ws.closed == (1000, '')
            with pytest.raises(async_websocket.WebSocketClosed):
                await ws.recv(TIMEOUT)
        assert server.requests[0].received == [
            (ws_kernel.OP_TEXT, 'a'), (ws_kernel.OP_BINARY, b'b'),
            (ws_kernel.OP_CLOSE, ws_kernel.build_close_payload(1000))]
    run(main())


@pytest.mark.parametrize('logged', [False, True])
def test_message_handler_kinds_and_the_text_fast_path(node_server, caplog,
                                                      logged):
    """A plain-function handler and a coroutine handler both run; one that
    raises is logged and the session goes on; text sent with INFO logging
    off (the Packet-free path) and on (the Packet path) arrives in order
    with binary; the handler tasks leave nothing behind."""
    from engineio import async_client

    async def main():
        client = engineio.AsyncClient(handle_sigint=False, logger=logged)
        received = []
        changed = asyncio.Event()

        def plain(data):
            received.append(data)
            changed.set()
            if data == 'boom':
                raise RuntimeError('handler failed on purpose')

        client.on('message', plain)
        await client.connect(node_server, transports=['websocket'])
        sent = ['a', b'b', 'boom', 'c', b'd', 'e']
        for data in sent:
            await client.send(data)
        deadline = time.monotonic() + TIMEOUT
        while len(received) < len(sent):
            changed.clear()
            await asyncio.wait_for(changed.wait(),
                                   deadline - time.monotonic())
        assert received == sent
        assert client.state == 'connected'

        async def coroutine(data):
            received.append(('coroutine', data))
            changed.set()
        client.on('message', coroutine)
        await client.send('f')
        while received[-1] != ('coroutine', 'f'):
            changed.clear()
            await asyncio.wait_for(changed.wait(),
                                   deadline - time.monotonic())
        await client.disconnect()
        with pytest.raises(exceptions.SocketIsClosedError):
            await client.send('after')
        await no_task_left()
        assert not async_client.task_reference_holder

    with caplog.at_level('ERROR', logger='engineio.client'):
        run(main())
    assert 'handler failed on purpose' in caplog.text
