"""``engineio.AsyncClient`` against real servers on 127.0.0.1.

Peers: our ``AsyncServer`` on uvicorn, the official Node.js ``engine.io``
server, and the scripted misbehaving servers of ``tests/test_client.py``.
Skipped where aiohttp or uvicorn is not installed (PyPy).
"""
import asyncio
import socket
import threading
import time

import pytest

pytest.importorskip('aiohttp')
uvicorn = pytest.importorskip('uvicorn')

import engineio  # noqa: E402
from engineio import exceptions  # noqa: E402
from engineio._speedups import websocket as ws_kernel  # noqa: E402
from tests.async_client_helpers import Recorder, run  # noqa: E402
from tests.loopback import TIMEOUT  # noqa: E402
from tests.test_client import (MODES, NodeServer, ScriptedServer,  # noqa: E402
                               handshake_answer, open_packet,
                               polling_server, websocket_server)


@pytest.fixture(scope='module')
def our_server():
    eio = engineio.AsyncServer(async_mode='asgi', async_handlers=False,
                               ping_interval=0.5, ping_timeout=2)
    started = threading.Event()

    @eio.on('message')
    async def message(sid, data):
        if data == 'close me':
            asyncio.ensure_future(eio.disconnect(sid))
        else:
            await eio.send(sid, data)

    app = engineio.ASGIApp(eio, on_startup=started.set)
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(128)
    config = uvicorn.Config(app, loop='asyncio', lifespan='on',
                            log_level='warning', timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run,
                              kwargs={'sockets': [listener]}, daemon=True)
    thread.start()
    try:
        assert started.wait(TIMEOUT)
        yield 'http://127.0.0.1:%d' % listener.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(TIMEOUT)
        listener.close()


@pytest.fixture(scope='module')
def node_server():
    server = NodeServer({'pingInterval': 500, 'pingTimeout': 2000})
    try:
        yield server.url
    finally:
        server.close()


async def exchange(url, transports):
    rec = Recorder()
    await rec.client.connect(url, transports=transports)
    assert rec.client.transport() == ('polling' if transports == ['polling']
                                      else 'websocket')
    await rec.client.send('hello \u00e9\U0001F600')
    await rec.client.send(b'\x00\x01\x02\xff')
    await rec.client.send([1, {'b': None}])
    await rec.wait_for(lambda: len(rec.messages) >= 3)
    assert rec.messages == ['hello \u00e9\U0001F600', b'\x00\x01\x02\xff',
                            [1, {'b': None}]]
    return rec


@pytest.mark.parametrize('mode', list(MODES))
def test_our_server(our_server, mode):
    async def main():
        rec = await exchange(our_server, MODES[mode])
        await asyncio.sleep(1.2)  # heartbeats at 0.5 s
        assert rec.client.state == 'connected'
        await rec.client.disconnect()
        assert rec.client.state == 'disconnected'
        assert await rec.wait_disconnect() == 'client disconnect'
        with pytest.raises(exceptions.SocketIsClosedError):
            await rec.client.send('too late')
        rec = await exchange(our_server, MODES[mode])
        await rec.client.send('close me')
        assert await rec.wait_disconnect() == 'server disconnect'
    run(main())


@pytest.mark.parametrize('mode', list(MODES))
def test_node_server(node_server, mode):
    async def main():
        rec = await exchange(node_server, MODES[mode])
        await asyncio.sleep(1.2)
        assert rec.client.state == 'connected'
        await rec.client.send('close me')
        assert await rec.wait_disconnect() == (
            'server disconnect' if mode == 'polling' else 'transport error')
    run(main())


def test_connect_errors():
    async def main():
        with ScriptedServer(handshake_answer('{"code": 9}', '500 Oops')) \
                as server:
            rec = Recorder()
            with pytest.raises(exceptions.ConnectionError) as info:
                await rec.client.connect(server.url)
            assert info.value.args == (
                'Unexpected status code 500 in server response', {'code': 9})
        with ScriptedServer(handshake_answer(
                '0{"upgrades":[],"pingInterval":1,"pingTimeout":1}')) \
                as server:
            with pytest.raises(exceptions.ConnectionError, match='no sid'):
                await Recorder().client.connect(server.url)
        assert rec.client.state == 'disconnected' and not rec.disconnects
    run(main())
    with pytest.raises(ValueError, match='bogus'):
        engineio.AsyncClient(websocket_extra_options={'bogus': 1},
                             handle_sigint=False)


def test_websocket_server_stops_pinging():
    def script(request, server):
        request.send_frame(ws_kernel.OP_TEXT, open_packet(200, 200))
        request.send_frame(ws_kernel.OP_TEXT, '2')
        request.received = request.read_frames()

    async def main():
        with ScriptedServer(websocket_server(script)) as server:
            rec = Recorder()
            await rec.client.connect(server.url, transports=['websocket'])
            start = time.monotonic()
            assert await rec.wait_disconnect() == 'transport error'
            assert 0.2 < time.monotonic() - start < 3
        assert server.requests[0].received[0] == (ws_kernel.OP_TEXT, '3')
    run(main())


def test_websocket_oversized_and_bad_packets():
    frames = [ws_kernel.build_frame_header(ws_kernel.OP_BINARY, 2000),
              ws_kernel.build_frame(ws_kernel.OP_TEXT, '9nine')]

    async def main():
        for frame in frames:
            def script(request, server, frame=frame):
                request.send_frame(ws_kernel.OP_TEXT, open_packet())
                request.conn.sendall(frame)
                request.received = request.read_frames()
            with ScriptedServer(websocket_server(script)) as server:
                rec = Recorder()
                rec.client.max_message_size = 1000
                await rec.client.connect(server.url, transports=['websocket'])
                assert await rec.wait_disconnect() == 'transport error'
    run(main())


def test_polling_server_stops_answering():
    def answer_poll(request, server):
        request.hold(server.stop)

    async def main():
        with ScriptedServer(polling_server(answer_poll, 200, 200)) as server:
            rec = Recorder()
            await rec.client.connect(server.url, transports=['polling'])
            start = time.monotonic()
            assert await rec.wait_disconnect() == 'transport error'
            assert time.monotonic() - start < 3
    run(main())


def test_polling_garbage_answer():
    def answer_poll(request, server):
        request.respond('4ok\x1e7bad')

    async def main():
        with ScriptedServer(polling_server(answer_poll)) as server:
            rec = Recorder()
            await rec.client.connect(server.url, transports=['polling'])
            assert await rec.wait_disconnect() == 'transport error'
            assert rec.messages == []
    run(main())
