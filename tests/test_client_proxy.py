"""Both clients' WebSocket through an HTTP proxy, against a real proxy.

:class:`Proxy` is a small HTTP proxy on 127.0.0.1, in a thread with an event
loop of its own (so that its tasks are never taken for the client's): it
opens ``CONNECT`` tunnels and splices bytes both ways, forwards plain
absolute-form requests (``GET http://host:port/path``, what aiohttp and
requests send for the polling transport through a proxy) in origin form,
and records every request head it got.  It can also refuse the tunnel
(407 with and without a body, 403), close without answering, stay silent,
answer garbage or an endless head, or require ``Proxy-Authorization``.

Peers: our ``AsyncServer`` on uvicorn (plain, and over TLS with a
self-signed certificate), reached by ``AsyncClient`` (the proxy from
``websocket_extra_options``, from the aiohttp session's default proxy, from
the environment of a ``trust_env`` session) and by the sync ``Client``
(``http_proxy_host`` and friends, a requests session's ``proxies``).  Every
wait is bounded; each test checks that the disconnect handler ran at most
once, that no task (or client thread) is left, and that the proxy's
connections all ended.  Skipped where aiohttp or uvicorn is missing (PyPy).
"""
import asyncio
import base64
import socket
import ssl
import threading
import time
import urllib.parse
import warnings

import pytest

pytest.importorskip('aiohttp')
pytest.importorskip('uvicorn')
requests = pytest.importorskip('requests')

import aiohttp  # noqa: E402

from engineio import exceptions  # noqa: E402
from tests.loopback import TIMEOUT  # noqa: E402
from tests.test_client import Recorder as SyncRecorder  # noqa: E402
from tests.test_client_async import Recorder, run  # noqa: E402
from tests.test_client_websocket_async import (  # noqa: E402,F401
    certificate, echo_app, no_task_left, serve)

#: the longest request head the proxy reads (a longer one gets 431)
HEAD_LIMIT = 65536
#: the longest request body the proxy forwards (a longer one gets 413)
BODY_LIMIT = 1 << 20
#: the environment variables that could send a client through a proxy
PROXY_VARIABLES = ['http_proxy', 'https_proxy', 'ws_proxy', 'wss_proxy',
                   'all_proxy', 'no_proxy']
#: what the proxy answers a CONNECT with, per ``connect`` mode (the
#: ``tunnel`` mode opens it; ``close`` and ``silent`` answer nothing)
ANSWERS = {
    'auth': b'HTTP/1.1 407 Proxy Authentication Required\r\n'
            b'Proxy-Authenticate: Basic realm="test"\r\n'
            b'Content-Length: 12\r\n\r\nlog in first',
    'auth-empty': b'HTTP/1.1 407 Proxy Authentication Required\r\n'
                  b'Proxy-Authenticate: Basic realm="test"\r\n'
                  b'Content-Length: 0\r\n\r\n',
    'forbid': b'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n'
              b'Content-Length: 22\r\n\r\nno tunnels to there :(',
    'garbage': b'SSH-2.0-OpenSSH_9.6\r\n\r\n',
    'eager': b'HTTP/1.1 200 Connection established\r\n\r\nHTTP/1.1 101',
    'endless': b'HTTP/1.1 200 Connection established\r\n' +
               b'X-Padding: yyyyyyyy\r\n' * 8000,
}


def basic(user, password):
    return 'Basic ' + base64.b64encode(
        ('%s:%s' % (user, password)).encode()).decode()


class Seen:
    """One request head the proxy received."""

    def __init__(self, method, target, headers):
        self.method = method
        self.target = target
        #: lower-cased names
        self.headers = headers

    def __repr__(self):
        return 'Seen(%s %s)' % (self.method, self.target)


class Proxy:
    """The HTTP proxy of these tests (see the module): a context manager
    that gives itself, ``port`` and ``url`` set.

    ``connect`` is what a ``CONNECT`` gets: ``'tunnel'`` (200, then bytes
    spliced both ways until either side closes), a key of :data:`ANSWERS`,
    ``'close'`` (the connection closed unanswered) or ``'silent'`` (no
    answer, the connection held until the client gives up).  ``auth``: a
    required ``Proxy-Authorization`` value (407 otherwise, CONNECT and
    forwarded requests alike).  ``seen`` lists the request heads in arrival
    order; ``active`` counts the client connections still open.
    """

    def __init__(self, connect='tunnel', auth=None):
        self.connect_mode = connect
        self.auth = auth
        self.seen = []
        self.active = 0
        self.changed = threading.Condition()
        self._tasks = set()
        self._ready = threading.Event()
        self._loop = self._stop = None
        self.port = None

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self.port

    def connects(self):
        """The targets of the CONNECT requests received."""
        return [s.target for s in self.seen if s.method == 'CONNECT']

    def forwarded(self):
        """The absolute-form requests received: ``(method, target)``."""
        return [(s.method, s.target) for s in self.seen
                if s.method != 'CONNECT']

    def wait_idle(self):
        """Every client connection has ended (the client closed its
        tunnels and its polling connections)."""
        with self.changed:
            assert self.changed.wait_for(lambda: self.active == 0, TIMEOUT), \
                '%d proxy connections still open' % self.active

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(TIMEOUT) and self.port, 'no proxy'
        return self

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(TIMEOUT)
        assert not self._thread.is_alive(), 'the proxy did not stop'

    # -- the proxy's own thread and loop ----------------------------------

    def _run(self):
        asyncio.run(self._main())

    async def _main(self):
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._client, '127.0.0.1', 0,
                                            limit=HEAD_LIMIT)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stop.wait()
        server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await server.wait_closed()

    def _count(self, change):
        with self.changed:
            self.active += change
            self.changed.notify_all()

    async def _client(self, reader, writer):
        task = asyncio.current_task()
        self._tasks.add(task)
        self._count(1)
        try:
            await self._serve(reader, writer)
        except (OSError, asyncio.IncompleteReadError):
            pass  # the client went away
        finally:
            writer.close()
            self._tasks.discard(task)
            self._count(-1)

    async def _serve(self, reader, writer):
        try:
            head = await reader.readuntil(b'\r\n\r\n')
        except asyncio.LimitOverrunError:
            writer.write(b'HTTP/1.1 431 Request Header Fields Too Large\r\n'
                         b'Content-Length: 0\r\nConnection: close\r\n\r\n')
            return
        lines = head[:-4].decode('latin-1').split('\r\n')
        parts = lines[0].split(' ')
        raw_headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(':')
            if not sep:
                parts = []  # malformed: a 400 below
                break
            raw_headers.append((name.strip(), value.strip()))
        if len(parts) != 3:
            writer.write(b'HTTP/1.1 400 Bad Request\r\n'
                         b'Content-Length: 0\r\nConnection: close\r\n\r\n')
            return
        method, target, version = parts
        headers = {}
        for name, value in raw_headers:
            name = name.lower()
            headers[name] = (headers[name] + ', ' + value) \
                if name in headers else value
        with self.changed:
            self.seen.append(Seen(method, target, headers))
            self.changed.notify_all()
        if self.auth is not None and \
                headers.get('proxy-authorization') != self.auth:
            writer.write(ANSWERS['auth'])
        elif method == 'CONNECT':
            await self._connect(target, reader, writer)
        elif target.startswith('http://'):
            await self._forward(method, target, version, raw_headers,
                                headers, reader, writer)
        else:
            writer.write(b'HTTP/1.1 400 Bad Request\r\n'
                         b'Content-Length: 0\r\nConnection: close\r\n\r\n')

    async def _connect(self, target, reader, writer):
        mode = self.connect_mode
        if mode == 'close':
            return
        if mode == 'silent':
            while await reader.read(4096):
                pass  # until the client gives up
            return
        if mode != 'tunnel':
            writer.write(ANSWERS[mode])
            await writer.drain()
            return
        host, _, port = target.rpartition(':')
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                host.strip('[]'), int(port))
        except (OSError, ValueError):
            writer.write(b'HTTP/1.1 502 Bad Gateway\r\n'
                         b'Content-Length: 0\r\n\r\n')
            return
        writer.write(b'HTTP/1.1 200 Connection established\r\n\r\n')
        await self._splice(reader, writer, upstream_reader, upstream_writer)

    async def _forward(self, method, target, version, raw_headers, headers,
                       reader, writer):
        """One absolute-form request to its origin (``Connection: close``
        both ways: one request per proxy connection), the answer relayed
        as it comes."""
        if 'transfer-encoding' in headers:
            writer.write(b'HTTP/1.1 501 Not Implemented\r\n'
                         b'Content-Length: 0\r\nConnection: close\r\n\r\n')
            return
        length = int(headers.get('content-length') or 0)
        if length > BODY_LIMIT:
            writer.write(b'HTTP/1.1 413 Content Too Large\r\n'
                         b'Content-Length: 0\r\nConnection: close\r\n\r\n')
            return
        body = await reader.readexactly(length)
        url = urllib.parse.urlsplit(target)
        hop_by_hop = ('connection', 'keep-alive', 'proxy-authorization',
                      'proxy-connection')
        request = ['%s %s %s' % (method, (url.path or '/') + (
            '?' + url.query if url.query else ''), version)]
        request += ['%s: %s' % (name, value) for name, value in raw_headers
                    if name.lower() not in hop_by_hop]
        request.append('Connection: close')
        upstream_reader, upstream_writer = await asyncio.open_connection(
            url.hostname, url.port or 80, limit=HEAD_LIMIT)
        try:
            upstream_writer.write(
                ('\r\n'.join(request) + '\r\n\r\n').encode('latin-1') + body)
            answer = await upstream_reader.readuntil(b'\r\n\r\n')
            lines = [line for line in answer[:-4].split(b'\r\n')
                     if not line.lower().startswith((b'connection:',
                                                     b'keep-alive:'))]
            writer.write(b'\r\n'.join(lines + [b'Connection: close']) +
                         b'\r\n\r\n')
            await self._pipe(upstream_reader, writer)
        finally:
            upstream_writer.close()

    @staticmethod
    async def _pipe(reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                writer.write(data)
                await writer.drain()
        except OSError:
            pass

    async def _splice(self, reader, writer, upstream_reader,
                      upstream_writer):
        """Bytes both ways until either side closes; then both closed."""
        pipes = [asyncio.ensure_future(self._pipe(reader, upstream_writer)),
                 asyncio.ensure_future(self._pipe(upstream_reader, writer))]
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in pipes:
                pipe.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)
            upstream_writer.close()


@pytest.fixture(scope='module')
def echo_port():
    """Our AsyncServer on uvicorn, echoing every message."""
    with serve(echo_app()) as port:
        yield port


@pytest.fixture(scope='module')
def tls_port(certificate):  # noqa: F811 (the imported fixture)
    """The same over TLS with the self-signed ``certificate``."""
    cert, key = certificate
    with serve(echo_app(), ssl_certfile=cert, ssl_keyfile=key) as port:
        yield port


@pytest.fixture
def clean_environment(monkeypatch):
    """No proxy variable from the machine's environment applies."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def quiet_basic_auth(user, password):
    """``aiohttp.BasicAuth`` (deprecated for some uses in aiohttp 3.14)."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        return aiohttp.BasicAuth(user, password)


async def echo_and_disconnect(rec, transport='websocket'):
    """Text and binary echoed on ``transport``; then a client disconnect,
    reported once, and nothing left running."""
    assert rec.client.transport() == transport
    await rec.client.send('through the tunnel \u00e9')
    await rec.client.send(b'\x00\x01\xff')
    await rec.wait_for(lambda: len(rec.messages) >= 2)
    assert rec.messages == ['through the tunnel \u00e9', b'\x00\x01\xff']
    await rec.client.disconnect()
    assert await rec.wait_disconnect() == 'client disconnect'
    await no_task_left()


def assert_only_tunnels(proxy, port):
    """The proxy saw CONNECTs to 127.0.0.1:<port> and nothing else."""
    assert proxy.seen and proxy.connects() == [
        '127.0.0.1:%d' % port] * len(proxy.seen), proxy.seen


# -- AsyncClient: the proxy option ------------------------------------------

@pytest.mark.parametrize('loop', ['asyncio', 'uvloop'])
def test_websocket_through_the_proxy_option(echo_port, loop):
    if loop == 'uvloop':
        uvloop = pytest.importorskip('uvloop')
        if not hasattr(asyncio, 'Runner'):  # pragma: no cover
            pytest.skip('asyncio.Runner needs Python 3.11')

    async def main(proxy):
        rec = Recorder(websocket_extra_options={'proxy': proxy.url})
        await rec.client.connect('http://127.0.0.1:%d' % echo_port,
                                 transports=['websocket'])
        await echo_and_disconnect(rec)

    async def bounded():  # the name no_task_left() passes over
        return await asyncio.wait_for(main(proxy), TIMEOUT + 10)

    with Proxy() as proxy:
        if loop == 'uvloop':
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(bounded())
        else:
            run(main(proxy))
        proxy.wait_idle()
    assert_only_tunnels(proxy, echo_port)
    tunnel = proxy.seen[0]
    assert tunnel.headers['host'] == '127.0.0.1:%d' % echo_port
    assert 'proxy-authorization' not in tunnel.headers


@pytest.mark.parametrize('how', ['url', 'proxy_auth', 'both'])
def test_proxy_credentials_and_headers(echo_port, tls_port, how):
    """Credentials in the proxy URL (percent-decoded) or as ``proxy_auth``
    (which wins over the URL's) become Basic ``Proxy-Authorization``, and
    ``proxy_headers`` go on the CONNECT: the same as aiohttp's own CONNECT
    (an https request) with the same options.  The proxy refuses a tunnel
    without them."""
    expected = basic('us er', 'p@ss:w') if how == 'url' \
        else basic('agent', 's3cret')

    async def main(proxy):
        url = proxy.url
        options = {'proxy_headers': {'X-Via-Test': 'yes'}}
        if how in ('url', 'both'):
            url = url.replace('http://', 'http://us%20er:p%40ss%3Aw@')
        if how in ('proxy_auth', 'both'):
            options['proxy_auth'] = quiet_basic_auth('agent', 's3cret')
        rec = Recorder(websocket_extra_options=dict(options, proxy=url))
        await rec.client.connect('http://127.0.0.1:%d' % echo_port,
                                 transports=['websocket'])
        await echo_and_disconnect(rec)
        # without the credentials: 407 from this proxy
        rec = Recorder(websocket_extra_options={'proxy': proxy.url})
        with pytest.raises(exceptions.ConnectionError, match='status 407'):
            await rec.client.connect('http://127.0.0.1:%d' % echo_port,
                                     transports=['websocket'])
        assert rec.client.state == 'disconnected' and not rec.disconnects
        await no_task_left()
        # aiohttp's own request through the same proxy, for comparison
        kwargs = dict(options, proxy=url)
        with warnings.catch_warnings():  # proxy_auth: deprecated in 3.14
            warnings.simplefilter('ignore', DeprecationWarning)
            async with aiohttp.ClientSession() as http:
                async with http.get('https://127.0.0.1:%d/elsewhere'
                                    % tls_port, ssl=False,
                                    **kwargs) as response:
                    assert response.status == 404

    with Proxy(auth=expected) as proxy:
        run(main(proxy))
        proxy.wait_idle()
    first, refused, by_aiohttp = proxy.seen
    assert first.method == refused.method == 'CONNECT'
    assert first.headers['proxy-authorization'] == expected
    assert first.headers['x-via-test'] == 'yes'
    assert 'proxy-authorization' not in refused.headers
    assert (by_aiohttp.method, by_aiohttp.target) == (
        'CONNECT', '127.0.0.1:%d' % tls_port)
    assert by_aiohttp.headers['proxy-authorization'] == expected
    assert by_aiohttp.headers['x-via-test'] == 'yes'


def test_proxy_url_credentials_without_deprecation_warning(echo_port):
    async def main(proxy):
        rec = Recorder(websocket_extra_options={
            'proxy': proxy.url.replace('http://', 'http://u:p@')})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            await rec.client.connect('http://127.0.0.1:%d' % echo_port,
                                     transports=['websocket'])
        await echo_and_disconnect(rec)
        assert [str(w.message) for w in caught
                if issubclass(w.category, DeprecationWarning)] == []

    with Proxy(auth=basic('u', 'p')) as proxy:
        run(main(proxy))
        proxy.wait_idle()


# -- AsyncClient: the aiohttp session's proxy ------------------------------

@pytest.mark.parametrize('transports', [None, ['polling']])
def test_session_default_proxy(echo_port, transports):
    """``aiohttp.ClientSession(proxy=..., proxy_auth=...)``: the polling
    requests go through it in absolute form, the upgrade through a CONNECT
    tunnel with the same credentials; the session ends on websocket (or
    stays on polling when only polling is allowed)."""
    auth = basic('sess', 'pw')
    target = 'http://127.0.0.1:%d' % echo_port

    async def main(proxy):
        with warnings.catch_warnings():  # deprecated in aiohttp 3.14
            warnings.simplefilter('ignore', DeprecationWarning)
            http = aiohttp.ClientSession(
                proxy=proxy.url, proxy_auth=quiet_basic_auth('sess', 'pw'))
        async with http:
            rec = Recorder(http_session=http)
            await rec.client.connect(target, transports=transports)
            await echo_and_disconnect(
                rec, 'polling' if transports else 'websocket')
            assert not http.closed

    with Proxy(auth=auth) as proxy:
        run(main(proxy))
        proxy.wait_idle()
    forwarded = proxy.forwarded()
    assert forwarded[0][0] == 'GET' and forwarded[0][1].startswith(
        target + '/engine.io/?') and 'transport=polling' in forwarded[0][1]
    assert all(s.headers['proxy-authorization'] == auth for s in proxy.seen)
    if transports is None:
        assert proxy.connects() == ['127.0.0.1:%d' % echo_port]
    else:
        assert proxy.connects() == []
        assert ('POST' in [method for method, _ in forwarded])


def test_upgrade_refused_by_the_proxy_stays_on_polling(echo_port):
    """A proxy that forwards requests but refuses CONNECT: the upgrade
    fails, the session goes on over polling."""
    async def main(proxy):
        async with aiohttp.ClientSession(proxy=proxy.url) as http:
            rec = Recorder(http_session=http)
            await rec.client.connect('http://127.0.0.1:%d' % echo_port)
            await echo_and_disconnect(rec, 'polling')

    with Proxy(connect='forbid') as proxy:
        run(main(proxy))
        proxy.wait_idle()
    assert proxy.connects() == ['127.0.0.1:%d' % echo_port]
    assert proxy.forwarded()


# -- AsyncClient: the environment of a trust_env session -------------------

@pytest.mark.parametrize('variable,transports,tunnel,forward', [
    ('ws_proxy', ['websocket'], True, False),
    ('ws_proxy', None, True, False),
    # http_proxy is for http:// URLs: the polling requests, not the ws://
    # upgrade (aiohttp's ws_connect looks up ws_proxy for that)
    ('http_proxy', None, False, True),
    ('all', None, True, True),
])
def test_environment_proxy(echo_port, clean_environment, variable,
                           transports, tunnel, forward):
    async def main(proxy):
        url = proxy.url.replace('http://', 'http://env:pw@')
        for name in (['ws_proxy', 'http_proxy'] if variable == 'all'
                     else [variable]):
            clean_environment.setenv(name, url)
        async with aiohttp.ClientSession(trust_env=True) as http:
            rec = Recorder(http_session=http)
            await rec.client.connect('http://127.0.0.1:%d' % echo_port,
                                     transports=transports)
            await echo_and_disconnect(rec)

    with Proxy(auth=basic('env', 'pw')) as proxy:
        run(main(proxy))
        proxy.wait_idle()
    assert bool(proxy.connects()) == tunnel, proxy.seen
    assert bool(proxy.forwarded()) == forward, proxy.seen


@pytest.mark.parametrize('no_proxy', ['127.0.0.1', '*', 'localhost,127.0.0.1'])
def test_environment_no_proxy_goes_direct(echo_port, clean_environment,
                                          no_proxy):
    async def main(proxy):
        clean_environment.setenv('ws_proxy', proxy.url)
        clean_environment.setenv('http_proxy', proxy.url)
        clean_environment.setenv('no_proxy', no_proxy)
        async with aiohttp.ClientSession(trust_env=True) as http:
            rec = Recorder(http_session=http)
            await rec.client.connect('http://127.0.0.1:%d' % echo_port)
            await echo_and_disconnect(rec)

    with Proxy() as proxy:
        run(main(proxy))
    assert proxy.seen == []


def test_environment_ignored_without_trust_env(echo_port, clean_environment):
    async def main(proxy):
        clean_environment.setenv('ws_proxy', proxy.url)
        async with aiohttp.ClientSession() as http:  # trust_env=False
            rec = Recorder(http_session=http)
            await rec.client.connect('http://127.0.0.1:%d' % echo_port,
                                     transports=['websocket'])
            await echo_and_disconnect(rec)

    with Proxy() as proxy:
        run(main(proxy))
    assert proxy.seen == []


# -- AsyncClient: wss inside the tunnel ------------------------------------

def test_wss_through_the_proxy(tls_port, certificate,  # noqa: F811
                               clean_environment):
    """TLS inside the CONNECT tunnel: verified against our CA (the option
    ``ssl``; the session connector's context with the session proxy, the
    polling requests tunnelled too; ``wss_proxy`` from the environment);
    refused with the default CAs."""
    cert, _ = certificate
    target = 'https://127.0.0.1:%d' % tls_port

    async def main(proxy):
        context = ssl.create_default_context(cafile=cert)
        rec = Recorder(websocket_extra_options={'proxy': proxy.url,
                                                'ssl': context})
        await rec.client.connect(target, transports=['websocket'])
        await echo_and_disconnect(rec)
        # the session's connector and default proxy: polling, then upgrade
        async with aiohttp.ClientSession(
                proxy=proxy.url,
                connector=aiohttp.TCPConnector(ssl=context)) as http:
            rec = Recorder(http_session=http)
            await rec.client.connect(target)
            await echo_and_disconnect(rec)
        # wss_proxy from the environment (ws_proxy is for ws:// only)
        clean_environment.setenv('ws_proxy', 'http://127.0.0.1:9')
        clean_environment.setenv('wss_proxy', proxy.url)
        async with aiohttp.ClientSession(trust_env=True) as http:
            rec = Recorder(http_session=http, websocket_extra_options={
                'ssl': context})
            await rec.client.connect(target, transports=['websocket'])
            await echo_and_disconnect(rec)
        # the default CAs do not know ours: refused inside the tunnel
        rec = Recorder(websocket_extra_options={
            'proxy': proxy.url, 'ssl': ssl.create_default_context()})
        with pytest.raises(exceptions.ConnectionError, match='CERTIFICATE'):
            await rec.client.connect(target, transports=['websocket'])
        assert rec.client.state == 'disconnected' and not rec.disconnects
        await no_task_left()

    with Proxy() as proxy:
        run(main(proxy))
        proxy.wait_idle()
    assert_only_tunnels(proxy, tls_port)
    # one for the first client, at least two (polling, upgrade) for the
    # second, one each for the third and the refused one
    assert len(proxy.seen) >= 5


# -- AsyncClient: proxies that refuse or misbehave -------------------------

@pytest.mark.parametrize('mode,message', [
    ('auth', 'proxy refused the tunnel with status 407'),
    ('auth-empty', 'proxy refused the tunnel with status 407'),
    ('forbid', 'proxy refused the tunnel with status 403'),
    ('close', 'connection closed during the proxy CONNECT'),
    ('silent', 'no WebSocket handshake answer in 0.5 s'),
    ('garbage', 'proxy CONNECT answer is not HTTP'),
    ('eager', 'proxy sent data before the tunnel was used'),
    ('endless', 'proxy CONNECT answer too long'),
])
def test_proxy_refuses_or_misbehaves(echo_port, mode, message):
    async def main(proxy):
        rec = Recorder(request_timeout=0.5,
                       websocket_extra_options={'proxy': proxy.url})
        start = time.monotonic()
        with pytest.raises(exceptions.ConnectionError) as error:
            await rec.client.connect('http://127.0.0.1:%d' % echo_port,
                                     transports=['websocket'])
        elapsed = time.monotonic() - start
        assert message in str(error.value)
        if mode == 'silent':
            assert 0.45 < elapsed < 3, elapsed
        else:
            assert elapsed < 3, elapsed
        assert rec.client.state == 'disconnected' and not rec.disconnects
        await no_task_left()

    with Proxy(connect=mode) as proxy:
        run(main(proxy))
        proxy.wait_idle()
    assert proxy.connects() == ['127.0.0.1:%d' % echo_port]


def test_proxy_not_listening(echo_port):
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now

    async def main():
        rec = Recorder(websocket_extra_options={
            'proxy': 'http://127.0.0.1:%d' % port})
        with pytest.raises(exceptions.ConnectionError,
                           match='Connection error'):
            await rec.client.connect('http://127.0.0.1:%d' % echo_port,
                                     transports=['websocket'])
        assert not rec.disconnects
        await no_task_left()
    run(main())


@pytest.mark.parametrize('proxy_url', [
    'https://127.0.0.1:3128', 'socks5://127.0.0.1:1080', 'http://'])
def test_unsupported_proxy_urls(echo_port, proxy_url):
    """Only an ``http://`` proxy with a host tunnels the WebSocket: another
    is a ConnectionError for a websocket-only connection, and a failed
    upgrade (the session stays on polling) otherwise."""
    async def main():
        rec = Recorder(websocket_extra_options={'proxy': proxy_url})
        with pytest.raises(exceptions.ConnectionError,
                           match='only http:// proxies are supported'):
            await rec.client.connect('http://127.0.0.1:%d' % echo_port,
                                     transports=['websocket'])
        assert not rec.disconnects
        rec = Recorder(websocket_extra_options={'proxy': proxy_url})
        await rec.client.connect('http://127.0.0.1:%d' % echo_port)
        await echo_and_disconnect(rec, 'polling')
    run(main())


def test_session_proxy_auth_with_the_proxy_option(echo_port, tls_port):
    """aiohttp takes the session's ``proxy_auth`` when the request names its
    own proxy without credentials (checked first, with an https request);
    python-engineio passed the option to ``ws_connect()``, so the CONNECT
    carried them."""
    async def main(proxy):
        with warnings.catch_warnings():  # deprecated in aiohttp 3.14
            warnings.simplefilter('ignore', DeprecationWarning)
            http = aiohttp.ClientSession(
                proxy_auth=quiet_basic_auth('sess', 'pw'))
        async with http:
            async with http.get('https://127.0.0.1:%d/elsewhere' % tls_port,
                                ssl=False, proxy=proxy.url) as response:
                assert response.status == 404
            rec = Recorder(http_session=http,
                           websocket_extra_options={'proxy': proxy.url})
            await rec.client.connect('http://127.0.0.1:%d' % echo_port,
                                     transports=['websocket'])
            await echo_and_disconnect(rec)

    with Proxy(auth=basic('sess', 'pw')) as proxy:
        run(main(proxy))
        proxy.wait_idle()


# -- the sync Client ---------------------------------------------------------

def sync_echo_and_disconnect(rec, transport='websocket'):
    assert rec.client.transport() == transport
    rec.client.send('through the tunnel \u00e9')
    rec.client.send(b'\x00\x01\xff')
    assert rec.wait_messages(2) == ['through the tunnel \u00e9',
                                    b'\x00\x01\xff']
    rec.client.disconnect()
    assert rec.wait_disconnect() == 'client disconnect'


def test_sync_client_proxy_options(echo_port):
    """``http_proxy_host``/``http_proxy_port``/``http_proxy_auth``: a
    CONNECT with Basic credentials; ``http_no_proxy`` naming the server's
    host bypasses it."""
    with Proxy(auth=basic('sync', 'pw')) as proxy:
        options = {'http_proxy_host': '127.0.0.1',
                   'http_proxy_port': proxy.port,
                   'http_proxy_auth': ('sync', 'pw')}
        rec = SyncRecorder(websocket_extra_options=options)
        rec.client.connect('http://127.0.0.1:%d' % echo_port,
                           transports=['websocket'])
        sync_echo_and_disconnect(rec)
        rec = SyncRecorder(websocket_extra_options=dict(
            options, http_no_proxy=['127.0.0.1']))
        rec.client.connect('http://127.0.0.1:%d' % echo_port,
                           transports=['websocket'])
        sync_echo_and_disconnect(rec)
        proxy.wait_idle()
    assert_only_tunnels(proxy, echo_port)
    assert len(proxy.seen) == 1
    assert proxy.seen[0].headers['proxy-authorization'] == basic('sync', 'pw')


@pytest.mark.parametrize('key', ['http', 'ws'])
def test_sync_client_session_proxies(echo_port, key):
    """A requests session's ``proxies``: the polling requests through the
    ``http`` one in absolute form, the upgrade through a CONNECT tunnel of
    the ``ws`` one (else the ``http`` one), credentials from its URL."""
    with Proxy(auth=basic('req', 'pw')) as proxy:
        http = requests.Session()
        http.trust_env = False
        url = proxy.url.replace('http://', 'http://req:pw@')
        http.proxies = {key: url}
        rec = SyncRecorder(http_session=http)
        rec.client.connect('http://127.0.0.1:%d' % echo_port)
        sync_echo_and_disconnect(rec)
        http.close()
        proxy.wait_idle()
    assert proxy.connects() == ['127.0.0.1:%d' % echo_port]
    assert bool(proxy.forwarded()) == (key == 'http')
    assert all(s.headers['proxy-authorization'] == basic('req', 'pw')
               for s in proxy.seen)


@pytest.mark.parametrize('mode,message', [
    ('auth-empty', 'status 407'),
    ('forbid', 'status 403'),
    ('close', 'closed during the proxy CONNECT'),
    ('silent', 'timed out'),
    ('endless', 'too long'),
])
def test_sync_client_proxy_refuses(echo_port, mode, message):
    with Proxy(connect=mode) as proxy:
        rec = SyncRecorder(request_timeout=0.5, websocket_extra_options={
            'http_proxy_host': '127.0.0.1', 'http_proxy_port': proxy.port})
        start = time.monotonic()
        with pytest.raises(exceptions.ConnectionError, match=message):
            rec.client.connect('http://127.0.0.1:%d' % echo_port,
                               transports=['websocket'])
        assert time.monotonic() - start < 3
        assert rec.client.state == 'disconnected' and not rec.disconnects
        rec.assert_threads_ended()
        proxy.wait_idle()
    assert proxy.connects() == ['127.0.0.1:%d' % echo_port]


def test_sync_client_unsupported_proxy_scheme(echo_port):
    http = requests.Session()
    http.trust_env = False
    http.proxies = {'ws': 'socks5://127.0.0.1:1080'}
    rec = SyncRecorder(http_session=http)
    with pytest.raises(exceptions.ConnectionError,
                       match='only http:// proxies are supported'):
        rec.client.connect('http://127.0.0.1:%d' % echo_port,
                           transports=['websocket'])
    assert rec.client.state == 'disconnected' and not rec.disconnects
    http.close()


def test_sync_client_unsupported_proxy_fails_the_upgrade_only(echo_port):
    """As ``AsyncClient`` does: the upgrade fails, polling goes on."""
    http = requests.Session()
    http.trust_env = False
    http.proxies = {'ws': 'socks5://127.0.0.1:1080'}
    rec = SyncRecorder(http_session=http)
    try:
        rec.client.connect('http://127.0.0.1:%d' % echo_port)
        sync_echo_and_disconnect(rec, 'polling')
    finally:
        if rec.client.state != 'disconnected':
            rec.client.disconnect()
        http.close()


def test_environment_proxies_follow_the_environment(monkeypatch):
    """The sync client remembers requests' environment proxies per origin
    (reading them walks the whole environment), but a change of a proxy
    variable is seen at once."""
    from engineio import client as sync_client
    for name in ('http_proxy', 'HTTP_PROXY', 'no_proxy', 'NO_PROXY',
                 'ws_proxy', 'WS_PROXY', 'all_proxy', 'ALL_PROXY'):
        monkeypatch.delenv(name, raising=False)
    url = 'http://example.test:5000/engine.io/'
    assert sync_client._environ_proxies(url) == {}
    monkeypatch.setenv('http_proxy', 'http://127.0.0.1:3128')
    assert sync_client._environ_proxies(url)['http'] == \
        'http://127.0.0.1:3128'
    monkeypatch.setenv('no_proxy', 'example.test')
    assert sync_client._environ_proxies(url) == {}
    monkeypatch.delenv('no_proxy')
    found = sync_client._environ_proxies(url)
    found['http'] = 'changed by the caller'  # a copy: the cache is intact
    assert sync_client._environ_proxies(url)['http'] == \
        'http://127.0.0.1:3128'
