"""``AsyncClient`` on its own HTTP client (no ``http_session``): polling
through :mod:`engineio._async_client_http`, the upgrade on the polling
transport's kept-alive connection, and no aiohttp needed.

Servers on 127.0.0.1: ours in threading mode on werkzeug's threaded
development server (which closes every connection after its answer: the
client must open new ones), needing only werkzeug, so it runs on PyPy too,
where aiohttp is not installed: there it is the proof that the client works
without it; and the embedded server (keep-alive, CPython), behind a relay
that counts the TCP connections, for the reuse of the polling connection.
"""
import asyncio
import threading

import pytest

import engineio
from tests import async_client_helpers as helpers
from tests.async_client_helpers import no_task_left, run, serve_embedded
from tests.loopback import TIMEOUT

serving = pytest.importorskip('werkzeug.serving')


class QuietHandler(serving.WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


class Served:
    """Our threading-mode server: ``message`` echoes (``close me`` makes the
    server disconnect the session); records the connections accepted and
    the ``Cookie`` header of each request, and sets a cookie on each
    handshake."""

    def __init__(self):
        self.connections = 0
        self.cookies = []
        self.eio = engineio.Server(async_mode='threading',
                                   async_handlers=False)
        eio = self.eio

        @eio.on('message')
        def message(sid, data):
            if data == 'close me':
                eio.disconnect(sid)
            else:
                eio.send(sid, data)

        app = engineio.WSGIApp(eio)

        def recording(environ, start_response):
            self.cookies.append((environ.get('QUERY_STRING', ''),
                                 environ.get('HTTP_COOKIE')))

            def start(status, headers, exc_info=None):
                if 'sid=' not in environ.get('QUERY_STRING', ''):
                    headers = list(headers) + [
                        ('Set-Cookie', 'lb=node-7; Path=/')]
                return start_response(status, headers, exc_info)
            return app(environ, start)

        self.httpd = serving.make_server('127.0.0.1', 0, recording,
                                         threaded=True,
                                         request_handler=QuietHandler)
        accept = self.httpd.get_request

        def counting():
            accepted = accept()
            self.connections += 1
            return accepted
        self.httpd.get_request = counting
        self.url = 'http://127.0.0.1:%d' % self.httpd.server_port
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.thread.join(TIMEOUT)
        self.eio.shutdown()


@pytest.fixture
def served():
    server = Served()
    try:
        yield server
    finally:
        server.close()


class Recorder(helpers.Recorder):
    async def echo(self, count=3):
        """Text, binary and JSON messages echoed back in order."""
        sent = ['text \u00e9 %d' % i for i in range(count)] + \
            [b'\x00\xffbinary', {'json': [1, None]}]
        for data in sent:
            await self.client.send(data)
        await self.wait_for(lambda: len(self.messages) >= len(sent))
        assert self.messages == sent
        self.messages.clear()


def test_polling_then_upgrade(served):
    """The cookie the handshake set goes with the upgrade request (on a new
    connection: werkzeug closed the first)."""
    async def main():
        rec = Recorder()
        await rec.client.connect(served.url)
        assert rec.client.transport() == 'websocket'
        assert rec.client.http is None  # no aiohttp session was made
        await rec.echo()
        assert served.connections == 2
        upgrade = [cookie for query, cookie in served.cookies
                   if 'transport=websocket' in query]
        assert upgrade == ['lb=node-7']
        await rec.client.disconnect()
        assert rec.disconnects == [rec.client.reason.CLIENT_DISCONNECT]
        await no_task_left()

    run(main())


def test_polling_only(served):
    """Long-polling against a server that closes each connection: a new
    one per request, the handshake's cookie on every request."""
    async def main():
        rec = Recorder()
        await rec.client.connect(served.url, transports=['polling'])
        assert rec.client.transport() == 'polling'
        for _ in range(5):
            await rec.echo(count=4)
        posts = [cookie for query, cookie in served.cookies
                 if 'sid=' in query]
        # a POST and a GET per round at least (packets may be batched)
        assert len(posts) >= 10 and set(posts) == {'lb=node-7'}
        await rec.client.disconnect()
        assert len(rec.disconnects) == 1
        await no_task_left()

    run(main())


def test_polling_burst_is_split_into_posts_a_server_accepts(served):
    """100 sends at once while polling: at most
    ``Payload.max_decode_packets`` (16) per POST, what our server decodes
    from one (more would be a 400 that ends the session)."""
    async def main():
        rec = Recorder()
        await rec.client.connect(served.url, transports=['polling'])
        sent = ['burst %d' % number for number in range(100)]
        for data in sent:
            await rec.client.send(data)
        await rec.wait_for(lambda: len(rec.messages) >= len(sent))
        assert rec.messages == sent
        assert rec.client.state == 'connected' and not rec.disconnects
        await rec.client.disconnect()
        assert rec.disconnects == [rec.client.reason.CLIENT_DISCONNECT]
        await no_task_left()

    run(main())


def test_websocket_only(served):
    async def main():
        rec = Recorder()
        await rec.client.connect(served.url, transports=['websocket'])
        assert rec.client.transport() == 'websocket'
        await rec.echo()
        assert served.connections == 1
        await rec.client.disconnect()
        await no_task_left()

    run(main())


@pytest.mark.parametrize('transports', [None, ['polling']])
def test_server_disconnects(served, transports):
    async def main():
        rec = Recorder()
        await rec.client.connect(served.url, transports=transports)
        await rec.client.send('close me')
        await rec.wait_for(lambda: rec.disconnects)
        await asyncio.wait_for(rec.client.wait(), TIMEOUT)
        assert rec.disconnects == [rec.client.reason.SERVER_DISCONNECT]
        assert rec.client.state == 'disconnected'
        with pytest.raises(engineio.exceptions.SocketIsClosedError):
            await rec.client.send('after')
        await no_task_left()

    run(main())


def test_server_gone_is_a_connection_error():
    async def main():
        import socket
        sock = socket.socket()
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
        sock.close()  # nothing listens there
        rec = Recorder()
        with pytest.raises(engineio.exceptions.ConnectionError):
            await rec.client.connect('http://127.0.0.1:%d' % port)
        assert rec.client.state == 'disconnected'
        assert rec.disconnects == []
        await no_task_left()

    run(main())


# -- keep-alive: the embedded server behind a counting relay ------------------

@pytest.fixture
def embedded_url():
    with serve_embedded(helpers.echo_server()) as port:
        yield port


@pytest.mark.parametrize('transports, most', [
    (None, 1),             # the upgrade on the handshake's connection
    (['polling'], 2),      # a GET held by the server while a POST goes
    (['websocket'], 1)])
def test_kept_alive_connections(embedded_url, transports, most):
    from tests.test_async_client_http import CountingProxy

    async def main():
        async with CountingProxy() as relay:
            relay.upstream = embedded_url
            rec = Recorder()
            await rec.client.connect('http://127.0.0.1:%d' % relay.port,
                                     transports=transports)
            for _ in range(5):
                await rec.echo(count=4)
            assert relay.connections <= most
            if transports is None:
                assert rec.client.transport() == 'websocket'
                assert relay.connections == 1
            await rec.client.disconnect()
            assert len(rec.disconnects) == 1
        await no_task_left()

    run(main())
