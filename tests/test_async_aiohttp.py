"""``AsyncServer(async_mode='aiohttp')`` on a real aiohttp server on
127.0.0.1 (``web.AppRunner`` + ``web.SockSite`` in a loop thread).

The battery is :class:`tests.async_modes.ModeTests`; this module adds what
only aiohttp has.  Skipped where aiohttp is not installed (PyPy).
"""
import pytest

from tests.async_modes import (EchoServers, LoopThread, ModeTests, Running,
                               listening_socket)
from tests.loopback import request

web = pytest.importorskip('aiohttp.web')

import engineio  # noqa: E402


@pytest.fixture(scope='module')
def server():
    loop_thread = LoopThread()
    servers = EchoServers('aiohttp')
    app = web.Application()

    async def hello(request):
        return web.Response(text='other route')

    app.router.add_get('/hello', hello)
    servers.eio.attach(app)
    servers.custom.attach(app, engineio_path='/custom/path/')
    sock = listening_socket()

    async def start():
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        return runner

    runner = loop_thread.call(start())
    try:
        yield Running(sock.getsockname()[1], servers, loop_thread, 'aiohttp')
    finally:
        try:
            loop_thread.call(runner.cleanup())
        finally:
            loop_thread.close()
            sock.close()


class TestAiohttp(ModeTests):
    def test_other_routes_untouched(self, server):
        status, _, body = request(server.port, 'GET', '/hello')
        assert (status, body) == (200, b'other route')
        assert request(server.port, 'GET', '/engine.io/x')[0] == 404


def test_auto_selection_prefers_aiohttp():
    eio = engineio.AsyncServer()
    assert eio.async_mode == 'aiohttp'
    with pytest.raises(ValueError):
        engineio.AsyncServer(async_mode='asgi').attach(web.Application())
