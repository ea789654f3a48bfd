"""``AsyncServer(async_mode='sanic')`` on a real Sanic server on 127.0.0.1.

Sanic's low-level API (``app.create_server`` on a pre-bound socket, then
``startup`` and ``start_serving``) runs it on the loop of a
:class:`tests.async_modes.LoopThread`: no worker processes, no signal
handlers, and the app registry is only touched by the unique name.  The
battery is :class:`tests.async_modes.ModeTests`.  Skipped where Sanic is
not installed (PyPy).
"""
import itertools
import os

import pytest

from tests.async_modes import (EchoServers, LoopThread, ModeTests, Running,
                               listening_socket)
from tests.loopback import request

sanic = pytest.importorskip('sanic')
sanic_response = pytest.importorskip('sanic.response')

import engineio  # noqa: E402

_names = itertools.count()


def new_app():
    # Sanic keeps a process-wide registry of app names
    return sanic.Sanic('engineio_test_%d_%d' % (os.getpid(), next(_names)))


@pytest.fixture(scope='module')
def server():
    loop_thread = LoopThread()
    servers = EchoServers('sanic')
    app = new_app()
    app.config.ACCESS_LOG = False
    app.config.MOTD = False

    async def hello(request):
        return sanic_response.text('other route')

    app.add_route(hello, '/hello')
    servers.eio.attach(app)
    servers.custom.attach(app, engineio_path='/custom/path/')
    sock = listening_socket()

    async def start():
        started = await app.create_server(sock=sock, access_log=False,
                                          return_asyncio_server=True)
        await started.startup()
        await started.before_start()
        await started.start_serving()
        await started.after_start()
        return started

    started = loop_thread.call(start())
    try:
        yield Running(sock.getsockname()[1], servers, loop_thread, 'sanic')
    finally:
        async def stop():
            await started.before_stop()
            await started.close()
            for connection in list(started.connections):
                connection.close_if_idle()
            await started.after_stop()
        try:
            loop_thread.call(stop())
        finally:
            loop_thread.close()
            sock.close()


class TestSanic(ModeTests):
    def test_other_routes_untouched(self, server):
        status, _, body = request(server.port, 'GET', '/hello')
        assert (status, body) == (200, b'other route')


def test_auto_selection_and_attach():
    eio = engineio.AsyncServer(async_mode='sanic')
    app = new_app()
    eio.attach(app, engineio_path='socket.io')
    assert app.websocket_enabled
    assert [route.path for route in app.router.routes] == ['socket.io']
