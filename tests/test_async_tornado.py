"""``AsyncServer(async_mode='tornado')`` behind ``get_tornado_handler`` on a
real tornado server on 127.0.0.1 (``HTTPServer`` on a pre-bound socket in a
loop thread).

The battery is :class:`tests.async_modes.ModeTests`; tornado has no
``attach()``: the custom path is a route of the application.  Skipped where
tornado is not installed (PyPy).
"""
import pytest

from tests.async_modes import (EchoServers, LoopThread, ModeTests, Running,
                               listening_socket)
from tests.loopback import request

tornado_web = pytest.importorskip('tornado.web')
tornado_httpserver = pytest.importorskip('tornado.httpserver')

import engineio  # noqa: E402


class Hello(tornado_web.RequestHandler):
    def get(self):
        self.write('other route')


@pytest.fixture(scope='module')
def server():
    loop_thread = LoopThread()
    servers = EchoServers('tornado')
    app = tornado_web.Application([
        (r'/engine\.io/?', engineio.get_tornado_handler(servers.eio)),
        (r'/custom/path/?', engineio.get_tornado_handler(servers.custom)),
        (r'/hello', Hello),
    ])
    sock = listening_socket()

    sock.setblocking(False)  # tornado accepts in a loop until EAGAIN

    async def start():
        http_server = tornado_httpserver.HTTPServer(app)
        http_server.add_sockets([sock])
        return http_server

    http_server = loop_thread.call(start())
    try:
        yield Running(sock.getsockname()[1], servers, loop_thread, 'tornado')
    finally:
        async def stop():
            http_server.stop()
            await http_server.close_all_connections()
        try:
            loop_thread.call(stop())
        finally:
            loop_thread.close()
            sock.close()


class TestTornado(ModeTests):
    def test_other_routes_untouched(self, server):
        status, _, body = request(server.port, 'GET', '/hello')
        assert (status, body) == (200, b'other route')


def test_handler_class_and_attach():
    eio = engineio.AsyncServer(async_mode='tornado')
    handler = engineio.get_tornado_handler(eio)
    assert issubclass(handler, __import__('tornado.websocket').websocket
                      .WebSocketHandler)
    assert handler.engineio_server is eio
    with pytest.raises(ValueError):
        eio.attach(tornado_web.Application())
