"""Our asyncio HTTP/1.1 client (``engineio._async_client_http``).

Real peers on 127.0.0.1: scripted ``asyncio.start_server`` servers that
answer exactly what a test needs (chunked with extensions and trailers,
compressed bodies and a gzip bomb, 1xx answers, HTTP/1.0, redirects,
cookies, truncated and malformed answers, silence), a TLS server with a
self-signed certificate made with the ``openssl`` CLI, and our
``AsyncServer`` on uvicorn and on the embedded server for a real Engine.IO
polling exchange (skipped where those are not installed, e.g. PyPy).  The
parser is also fed answers byte by byte.  Every wait is bounded.
"""
import asyncio
import gzip
import ssl
import time
import zlib

import pytest

from engineio import _async_client_http as http
from engineio._async_client_http import (HTTPClient, HTTPError, HTTPTimeout,
                                         HTTPTooLarge)
from tests.async_client_helpers import (StreamServer,  # noqa: F401
                                         certificate, echo_server,
                                         read_request, serve_embedded,
                                         serve_uvicorn)
from tests.loopback import TIMEOUT

try:
    import tracemalloc
except ImportError:  # PyPy
    tracemalloc = None


def run(coroutine):
    """Run a test coroutine on a fresh event loop, bounded."""
    async def bounded():
        return await asyncio.wait_for(coroutine, TIMEOUT + 10)
    return asyncio.run(bounded())


def client(max_body=1 << 20, context=None, **kwargs):
    def factory():
        return context or ssl.create_default_context()
    return HTTPClient(ssl_context_factory=factory, max_body=max_body,
                      **kwargs)


class RawServer(StreamServer):
    """A scripted HTTP server: ``script(request, writer, server)`` is
    called for each request (``request`` is ``(method, target, headers,
    body)``) and writes the answer; returning False ends the connection.
    Counts the connections it accepted and records the requests."""

    def __init__(self, script, ssl_context=None):
        super().__init__(ssl_context)
        self.script = script
        self.closed = asyncio.Event()  # a client closed a connection
        self.readers = {}  # writer -> reader
        self.counts = {}  # writer -> requests read on that connection

    async def _serve(self, reader, writer):
        self.connections += 1
        self.tasks.add(asyncio.current_task())
        self.readers[writer] = reader
        self.counts[writer] = 0
        try:
            while True:
                request = await read_request(reader)
                if request is None:
                    self.closed.set()
                    break
                self.counts[writer] += 1
                self.requests.append(request)
                result = self.script(request, writer, self)
                if asyncio.iscoroutine(result):
                    result = await result
                await writer.drain()
                if result is False:
                    break
        except (asyncio.CancelledError, ConnectionError):
            pass
        finally:
            self.tasks.discard(asyncio.current_task())
            writer.close()


async def silent(request, writer, server):
    """Never answers; returns when the client closes the connection."""
    await server.readers[writer].read()
    server.closed.set()
    return False


def answer(body=b'ok', status='200 OK', headers=()):
    return ('HTTP/1.1 %s\r\nContent-Length: %d\r\n%s\r\n' % (
        status, len(body), ''.join('%s: %s\r\n' % h for h in headers))
    ).encode() + body


def echo(request, writer, server):
    method, target, headers, body = request
    writer.write(answer(('%s %s %s' % (method, target, body.decode('latin-1'))
                         ).encode()))


# -- requests on kept-alive connections ---------------------------------------

def test_request_format_and_keep_alive():
    async def main():
        async with RawServer(echo) as server:
            http_client = client()
            for i in range(3):
                assert await http_client.request(
                    'GET', server.url + '/engine.io/?EIO=4&n=%d#frag' % i,
                    timeout=TIMEOUT) == (200, b'GET /engine.io/?EIO=4&n=%d '
                                         % i)
            assert await http_client.request(
                'POST', server.url.replace('://', '://us%20er:p%40ss@') +
                '/p', body=b'4hello', timeout=TIMEOUT) == \
                (200, b'POST /p 4hello')
            assert await http_client.request(
                'GET', server.url + '/a b/\u00e9?q=\u00e9 x') == \
                (200, b'GET /a%20b/%C3%A9?q=%C3%A9%20x ')
            assert await http_client.request('GET', server.url) == \
                (200, b'GET / ')
            # the caller's headers replace ours, case-insensitively
            await http_client.request(
                'POST', server.url + '/h', body=b'\x00\xff',
                headers={'user-agent': 'me', 'CONTENT-TYPE': 'a/b',
                         'X-Extra': 7})
            assert server.connections == 1  # all on one connection
            await http_client.close()
        get, post = server.requests[0][2], server.requests[3][2]
        assert list(get) == ['host', 'user-agent', 'accept',
                             'accept-encoding']
        assert get['host'] == '127.0.0.1:%d' % server.port
        assert get['accept'] == '*/*'
        assert get['accept-encoding'] == 'gzip, deflate'
        assert get['user-agent'].startswith('Python/')
        assert post['authorization'] == 'Basic dXMgZXI6cEBzcw=='  # us er:p@ss
        assert post['content-type'] == 'text/plain;charset=UTF-8'
        assert post['content-length'] == '6'
        custom = server.requests[-1]
        assert custom[2]['user-agent'] == 'me'
        assert custom[2]['content-type'] == 'a/b'
        assert custom[2]['x-extra'] == '7' and custom[3] == b'\x00\xff'
    run(main())


def test_host_header_default_ports_and_ipv6():
    origin = http._Origin('https', 'example.com:443', 'ua')
    assert origin.host_header == 'example.com' and origin.port == 443
    assert origin.key == (True, 'example.com', 443)
    origin = http._Origin('ws', '[::1]:8080', 'ua')
    assert origin.host_header == '[::1]:8080' and origin.host == '::1'
    assert origin.is_ip and origin.key == (False, '::1', 8080)
    origin = http._Origin('http', '[::1]', 'ua')
    assert origin.host_header == '[::1]' and origin.port == 80
    assert http._Origin('wss', 'b\u00fccher.example', 'ua').host == \
        'xn--bcher-kva.example'

    async def main():
        try:
            server = await asyncio.start_server(serve_one, '::1', 0)
        except OSError:
            pytest.skip('no IPv6 loopback here')
        port = server.sockets[0].getsockname()[1]
        http_client = client()
        try:
            status, body = await http_client.request(
                'GET', 'http://[::1]:%d/six' % port, timeout=TIMEOUT)
        finally:
            await http_client.close()
            server.close()
        assert status == 200 and body == b'[::1]:%d' % port

    async def serve_one(reader, writer):
        _, _, headers, _ = await read_request(reader)
        writer.write(answer(headers['host'].encode()))
        await writer.drain()
        writer.close()
    run(main())


@pytest.mark.parametrize('url,headers', [
    ('http://h/', {'X-A': 'b\r\nInjected: 1'}),
    ('http://h/', {'X-A\r\nInjected': '1'}),
    ('http://h/', {'X A': '1'}),
    ('http://h/', {'X:A': '1'}),
    ('http://h/', {'X-A': 'nul\0'}),
    ('ftp://h/', None),
    ('h/path', None),
    ('http:///path', None),
    ('http://h:99999/', None),
    ('http://h\r\nX: y/', None),
])
def test_bad_url_or_header_is_a_value_error(url, headers):
    async def main():
        http_client = client()
        with pytest.raises(ValueError):
            await http_client.request('GET', url, headers=headers)
        with pytest.raises(ValueError):
            await http_client.request('GE T', 'http://h/')
        await http_client.close()
    run(main())


def test_two_requests_in_flight_use_two_connections():
    """A held GET and a POST: never on one connection at once; then both
    connections are kept and reused."""
    release = []

    async def script(request, writer, server):
        if request[1] == '/hold':
            gate = asyncio.Event()
            release.append(gate)
            await gate.wait()
        writer.write(answer(request[1].encode()))

    async def main():
        async with RawServer(script) as server:
            http_client = client()
            held = asyncio.ensure_future(http_client.request(
                'GET', server.url + '/hold', timeout=TIMEOUT))
            while not release:
                await asyncio.sleep(0.01)
            assert await http_client.request(
                'POST', server.url + '/post', body=b'x') == (200, b'/post')
            release[0].set()
            assert await held == (200, b'/hold')
            assert server.connections == 2
            results = await asyncio.gather(*[
                http_client.request('GET', server.url + '/%d' % i)
                for i in range(2)])
            assert results == [(200, b'/0'), (200, b'/1')]
            assert server.connections == 2
            # more at once than kept idle: the extra ones are closed after
            results = await asyncio.gather(*[
                http_client.request('GET', server.url + '/hold')
                for i in range(http.MAX_IDLE + 2)] + [release_all()])
            assert server.connections == http.MAX_IDLE + 2
            assert len(http_client._idle[(False, '127.0.0.1',
                                          server.port)]) == http.MAX_IDLE
            await http_client.close()
            assert http_client.closed

    async def release_all():
        while len(release) < http.MAX_IDLE + 3:
            await asyncio.sleep(0.01)
        for gate in release:
            gate.set()
    run(main())


# -- answers ------------------------------------------------------------------

def slowly(data, step=7):
    """An answer written in small pieces, each drained."""
    async def script(request, writer, server):
        for i in range(0, len(data), step):
            writer.write(data[i:i + step])
            await writer.drain()
            await asyncio.sleep(0)
    return script


CHUNKED = (b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
           b'5;name=value;other\r\nhello\r\n'
           b'1 ; ext="q"\r\n \r\n'
           b'0000006\r\nworld!\r\n'
           b'0;last\r\nX-Trailer: 1\r\nY: 2\r\n\r\n')


def test_chunked_with_extensions_and_trailers():
    async def main():
        for script in (lambda r, w, s: w.write(CHUNKED), slowly(CHUNKED, 3)):
            async with RawServer(script) as server:
                http_client = client()
                for _ in range(2):
                    assert await http_client.request(
                        'GET', server.url, timeout=TIMEOUT) == \
                        (200, b'hello world!')
                assert server.connections == 1
                await http_client.close()
    run(main())


def compressed_answer(body, encoding, chunked=False):
    if encoding == 'gzip':
        data = gzip.compress(body)
    elif encoding == 'deflate-zlib':
        data = zlib.compress(body)
    else:
        compressor = zlib.compressobj(wbits=-15)
        data = compressor.compress(body) + compressor.flush()
    name = encoding.split('-')[0]
    if chunked:
        return ('HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\n'
                'Transfer-Encoding: chunked\r\n\r\n' % name).encode() + \
            b''.join(b'%x\r\n%s\r\n' % (len(data[i:i + 5]), data[i:i + 5])
                     for i in range(0, len(data), 5)) + b'0\r\n\r\n'
    return answer(data, headers=[('Content-Encoding', name)])


@pytest.mark.parametrize('encoding', ['gzip', 'deflate-zlib', 'deflate-raw'])
def test_compressed_bodies(encoding):
    body = b'0{"sid":"abc","upgrades":["websocket"]}' * 50

    async def main():
        for data in (compressed_answer(body, encoding),
                     compressed_answer(body, encoding, chunked=True),
                     compressed_answer(b'', encoding)):
            for script in (lambda r, w, s, d=data: w.write(d),
                           slowly(data, 1)):
                async with RawServer(script) as server:
                    http_client = client()
                    status, got = await http_client.request(
                        'GET', server.url, timeout=TIMEOUT)
                    assert status == 200
                    assert got == (body if len(data) > 100 else b'')
                    await http_client.close()
    run(main())


def test_too_large_bodies():
    bomb = gzip.compress(b'\0' * (64 << 20))  # 64 MiB in ~64 KiB

    async def main():
        cases = [
            (answer(gzip.compress(b'\0' * 100000),
                    headers=[('Content-Encoding', 'gzip')]),
             'after decompression'),
            (answer(b'x' * 1001), '1000 bytes'),
            (b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
             b'3e9\r\n' + b'x' * 1001 + b'\r\n0\r\n\r\n', '1000 bytes'),
            (b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
             (b'64\r\n' + b'x' * 100 + b'\r\n') * 11, '1000 bytes'),
            (b'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n' + b'x' * 1001,
             '1000 bytes'),
            # the compressed bytes count too
            (answer(zlib.compress(bytes(range(256)) * 8, 0),
                    headers=[('Content-Encoding', 'deflate')]),
             '1000 bytes'),
        ]
        for data, message in cases:
            async with RawServer(lambda r, w, s, d=data: w.write(d)) \
                    as server:
                http_client = client(max_body=1000)
                with pytest.raises(HTTPTooLarge, match=message):
                    await http_client.request('GET', server.url,
                                              timeout=TIMEOUT)
                await http_client.close()
        # the bomb against a 1 MiB limit: memory stays near the limit
        async with RawServer(lambda r, w, s: w.write(answer(
                bomb, headers=[('Content-Encoding', 'gzip')]))) as server:
            http_client = client(max_body=1 << 20)
            if tracemalloc is not None:
                tracemalloc.start()
            try:
                with pytest.raises(HTTPTooLarge):
                    await http_client.request('GET', server.url,
                                              timeout=TIMEOUT)
                peak = tracemalloc.get_traced_memory()[1] \
                    if tracemalloc is not None else 0
            finally:
                if tracemalloc is not None:
                    tracemalloc.stop()
            assert peak < 8 << 20, peak
            await http_client.close()
    run(main())


def test_close_delimited_http10_and_connection_close():
    answers = {
        '/until-close': (b'HTTP/1.1 200 OK\r\n\r\nall of it', False),
        '/http10': (b'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi', False),
        '/http10-close': (b'HTTP/1.0 200 OK\r\n\r\nbye', False),
        '/http10-keep': (b'HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n'
                         b'Content-Length: 4\r\n\r\nkept', True),
        '/close': (answer(b'closed', headers=[('Connection', 'close')]),
                   False),
        '/no-content': (b'HTTP/1.1 204 No Content\r\n\r\n', True),
        '/not-modified': (b'HTTP/1.1 304 Not Modified\r\n'
                          b'Content-Length: 10\r\n\r\n', True),
        '/interim': (b'HTTP/1.1 100 Continue\r\n\r\n'
                     b'HTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n' +
                     answer(b'final'), True),
    }

    def script(request, writer, server):
        data, keep = answers[request[1]]
        writer.write(data)
        return keep

    async def main():
        async with RawServer(script) as server:
            http_client = client()
            expected = {'/until-close': b'all of it', '/http10': b'hi',
                        '/http10-close': b'bye', '/http10-keep': b'kept',
                        '/close': b'closed', '/no-content': b'',
                        '/not-modified': b'', '/interim': b'final'}
            for path, (_, keep) in answers.items():
                http_client = client()
                before = server.connections
                for _ in range(2):
                    status, body = await http_client.request(
                        'GET', server.url + path, timeout=TIMEOUT)
                    assert body == expected[path], path
                assert server.connections - before == (1 if keep else 2), \
                    path
                assert status in (200, 204, 304)
                await http_client.close()
    run(main())


@pytest.mark.parametrize('data,message', [
    (b'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort', 'end of the body'),
    (b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel',
     'end of the body'),
    (b'HTTP/1.1 200 OK\r\nContent-Len', 'before the answer'),
    (b'', 'before the answer'),
    (b'SSH-2.0-OpenSSH_9.0\r\n\r\n', 'status line'),
    (b'HTTP/2 200 OK\r\n\r\n', 'status line'),
    (b'HTTP/1.1 2000 OK\r\n\r\n', 'status line'),
    (b'HTTP/1.1 200 OK\r\nNo colon\r\n\r\n', 'malformed HTTP header'),
    (b'HTTP/1.1 200 OK\r\n folded: x\r\n\r\n', 'malformed HTTP header'),
    (b'HTTP/1.1 200 OK\r\nName : x\r\n\r\n', 'malformed HTTP header'),
    (b'HTTP/1.1 200 OK\r\n' + b'X: y\r\n' * 20000, 'head longer'),
    (b'HTTP/1.1 200 OK\r\n' + b'X: y\r\n' * 20000 + b'\r\n', 'head longer'),
    (b'HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n', 'Content-Length'),
    (b'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
     'Content-Length'),
    (b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
     'bad chunk size'),
    (b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n',
     'bad chunk size'),
    (b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
     b'1' * 5000, 'chunk size line too long'),
    (b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX',
     'bad chunk ending'),
    (b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad\r\n',
     'malformed HTTP trailer'),
    (b'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n',
     'Transfer-Encoding'),
    (b'HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 1\r\n'
     b'\r\nx', 'Content-Encoding'),
    (answer(b'not gzip at all', headers=[('Content-Encoding', 'gzip')]),
     'decompress'),
    (answer(b'x', headers=[('Content-Encoding', 'deflate')]), 'decompress'),
    (b'HTTP/1.1 101 Switching Protocols\r\n\r\n', 'switched protocols'),
])
def test_bad_answers(data, message):
    async def main():
        async with RawServer(lambda r, w, s: w.write(data) or False) \
                as server:
            http_client = client()
            started = time.monotonic()
            with pytest.raises(HTTPError, match=message):
                await http_client.request('GET', server.url, timeout=TIMEOUT)
            assert time.monotonic() - started < TIMEOUT / 2
            await http_client.close()
            assert not http_client._active
    run(main())


def test_parser_fed_whole_byte_by_byte_and_with_trailing_data():
    """The protocol's parser, fed the same answers every way."""
    class Transport:
        def __init__(self):
            self.written, self.state = [], 'open'

        def write(self, data):
            self.written.append(data)

        def close(self):
            self.state = 'closed'

        def abort(self):
            self.state = 'aborted'

        def is_closing(self):
            return self.state != 'open'

    cases = [
        (answer(b'payload'), b'payload'),
        (CHUNKED, b'hello world!'),
        (compressed_answer(b'abc' * 100, 'gzip', chunked=True), b'abc' * 100),
        (compressed_answer(b'abc' * 100, 'deflate-raw'), b'abc' * 100),
        (b'HTTP/1.1 100 Continue\r\n\r\n' + answer(b'x'), b'x'),
    ]

    async def main():
        http_client = client()
        http_client._loop = asyncio.get_running_loop()
        origin = http_client._origin('http', 'h')
        for data, body in cases:
            for pieces in ([data], [data[i:i + 1] for i in range(len(data))],
                           [data + b'HTTP/1.1 200 OK\r\n']):
                conn = http._Connection(http_client, origin)
                transport = Transport()
                conn.connection_made(transport)
                waiter = conn.start(b'GET / HTTP/1.1\r\n\r\n', False)
                for piece in pieces:
                    assert not waiter.done()
                    conn.data_received(piece)
                status, headers, cookies, got = waiter.result()
                assert (status, got) == (200, body)
                trailing = len(pieces) == 1 and pieces[0] != data
                # trailing bytes: the connection is not reused
                assert transport.state == ('closed' if trailing else 'open')
                http_client._idle.clear()
    run(main())


# -- cookies ------------------------------------------------------------------

def test_cookies_from_answers_are_sent_back():
    def script(request, writer, server):
        path = request[1]
        cookies = {
            '/set': ['a=1', 'scoped=2; Path=/engine.io', 'sec=3; Secure',
                     'gone=4; Max-Age=0', 'old=5; Expires=Wed, 01 Jan 2020 '
                     '00:00:00 GMT', 'later=6; Expires=Fri, 01 Jan 2100 '
                     '00:00:00 GMT', 'other=7; Domain=example.com',
                     'lh=8; Domain=.LOCALHOST; Max-Age=3600',
                     'quoted="a b"'],
            '/engine.io/delete': ['a=; Max-Age=0; Path=/', 'later=x; '
                                  'Max-Age=-1; Path=/', 'lh=9; Path=/'],
        }.get(path, [])
        writer.write(answer(request[2].get('cookie', '-').encode(),
                            headers=[('Set-Cookie', c) for c in cookies]))

    async def main():
        async with RawServer(script) as server:
            http_client = client()
            base = 'http://localhost:%d' % server.port
            assert await http_client.request('GET', base + '/set') == \
                (200, b'-')
            status, cookie = await http_client.request('GET', base + '/x')
            assert sorted(cookie.decode().split('; ')) == [
                'a=1', 'later=6', 'lh=8', 'quoted="a b"']
            status, cookie = await http_client.request(
                'GET', base + '/engine.io/?EIO=4')
            assert cookie.decode().split('; ')[0] == 'scoped=2'
            assert sorted(cookie.decode().split('; ')) == [
                'a=1', 'later=6', 'lh=8', 'quoted="a b"', 'scoped=2']
            assert http_client.cookie_header(
                'ws://localhost:%d/engine.io/' % server.port) == \
                cookie.decode()
            assert 'sec=3' in http_client.cookie_header(
                'wss://localhost:%d/' % server.port)
            assert 'scoped' not in http_client.cookie_header(
                'http://localhost:%d/engine.iox' % server.port)
            # the caller's Cookie header goes first, merged with the jar's
            status, cookie = await http_client.request(
                'GET', base + '/x', headers={'Cookie': 'a=9; mine=1'})
            assert sorted(cookie.decode().split('; ')) == [
                'a=9', 'later=6', 'lh=8', 'mine=1', 'quoted="a b"']
            await http_client.request('GET', base + '/engine.io/delete')
            status, cookie = await http_client.request('GET', base + '/x')
            # same name, domain and path: lh=9 replaced lh=8
            assert sorted(cookie.decode().split('; ')) == [
                'lh=9', 'quoted="a b"']
            # kept for IP-address hosts too (unlike aiohttp's default jar)
            await http_client.request('GET', server.url + '/set')
            assert http_client.cookie_header(server.url + '/') == \
                'a=1; later=6; quoted="a b"'
            assert http_client.cookie_header('http://127.0.0.2/') is None
            await http_client.close()
    run(main())


def test_cookie_domains_and_added_cookies():
    http_client = client()
    origin = http_client._origin('https', 'a.b.example.com')
    http_client._store_cookies([
        'parent=1; Domain=example.com', 'self=2; Domain=a.b.example.com',
        'child=4; Domain=c.a.b.example.com', 'unrelated=5; Domain=ample.com',
        'nested=7; Domain=b.example.com.evil'], origin, '/page?q')
    http_client._store_cookies(['host=3', 'deep=6; Path=/x/y'],
                               origin, '/x/page?q')
    assert http_client.cookie_header('http://example.com/') == 'parent=1'
    assert http_client.cookie_header('http://z.b.example.com/') == \
        'parent=1'
    assert http_client.cookie_header('https://a.b.example.com/x/y/z') == \
        'deep=6; host=3; parent=1; self=2'
    assert http_client.cookie_header('https://a.b.example.com/x/yz') == \
        'host=3; parent=1; self=2'
    assert http_client.cookie_header('https://a.b.example.com/other') == \
        'parent=1; self=2'  # host=3's default path is /x
    assert http_client.cookie_header('https://c.a.b.example.com/x') == \
        'parent=1; self=2'
    http_client.add_cookies('io=abc; sticky="s 1"', 'wss://10.0.0.1:99/eio')
    assert http_client.cookie_header('http://10.0.0.1/') == \
        'io=abc; sticky="s 1"'
    assert http_client.cookie_header('http://10.0.0.2/') is None
    # a Domain on an IP-address host must be the same address
    ip = http_client._origin('http', '10.0.0.1')
    http_client._store_cookies(['x=1; Domain=0.0.1', 'y=2; Domain=10.0.0.1'],
                               ip, '/')
    assert http_client.cookie_header('http://10.0.0.1/') == \
        'io=abc; sticky="s 1"; y=2'


# -- redirects ----------------------------------------------------------------

def test_redirects():
    def script(request, writer, server):
        method, target, headers, body = request
        if target.startswith('/r/'):
            code, _, rest = target[3:].partition('/')
            writer.write(answer(b'moved', status='%s Moved' % code,
                                headers=[('Location', rest or '/final')]))
        elif target == '/loop':
            writer.write(answer(b'', status='302 Found',
                                headers=[('Location', '/loop')]))
        elif target.startswith('/n/'):
            left = int(target[3:])
            writer.write(answer(b'', status='302 Found', headers=[
                ('Location', '/n/%d' % (left - 1) if left else '/final')]))
        elif target == '/nowhere':
            writer.write(answer(b'no location', status='301 Moved'))
        elif target == '/bad':
            writer.write(answer(b'', status='302 Found',
                                headers=[('Location', 'ftp://x/')]))
        else:
            writer.write(answer(('%s %s %s %s' % (
                method, target, body.decode(),
                headers.get('content-length'))).encode()))

    async def main():
        async with RawServer(script) as server:
            http_client = client()
            url = server.url
            for code, method, body in [
                    (301, 'POST', b'GET /final  None'),
                    (302, 'POST', b'GET /final  None'),
                    (303, 'POST', b'GET /final  None'),
                    (303, 'PUT', b'GET /final  None'),
                    (301, 'PUT', b'PUT /final data 4'),
                    (307, 'POST', b'POST /final data 4'),
                    (308, 'POST', b'POST /final data 4')]:
                assert await http_client.request(
                    method, '%s/r/%d' % (url, code), body=b'data',
                    timeout=TIMEOUT) == (200, body), (code, method)
            # relative and absolute locations
            assert await http_client.request(
                'GET', url + '/r/302/../target?x=1') == \
                (200, b'GET /target?x=1  None')
            assert await http_client.request(
                'GET', url + '/r/302/%s/abs' % url) == \
                (200, b'GET /abs  None')
            assert await http_client.request('GET', url + '/n/8') == \
                (200, b'GET /final  None')
            with pytest.raises(HTTPError, match='too many redirects'):
                await http_client.request('GET', url + '/n/9')
            with pytest.raises(HTTPError, match='too many redirects'):
                await http_client.request('GET', url + '/loop',
                                          timeout=TIMEOUT)
            assert await http_client.request('GET', url + '/nowhere') == \
                (301, b'no location')
            with pytest.raises(HTTPError, match='bad redirect'):
                await http_client.request('GET', url + '/bad')
            assert server.connections == 1
            await http_client.close()
    run(main())


def test_redirect_to_another_origin_drops_credentials():
    async def main():
        async with RawServer(lambda r, w, s: w.write(answer(
                r[2].get('authorization', '-').encode() + b' ' +
                r[2].get('cookie', '-').encode()))) as other:
            async with RawServer(lambda r, w, s: w.write(answer(
                    b'', status='307 Temporary Redirect',
                    headers=[('Location', other.url + '/there')]))) \
                    as server:
                http_client = client()
                assert await http_client.request(
                    'GET', server.url + '/', headers={
                        'Authorization': 'Bearer t', 'Cookie': 'a=1'},
                    timeout=TIMEOUT) == (200, b'- -')
                assert other.connections == server.connections == 1
                assert other.requests[0][2]['host'] == \
                    '127.0.0.1:%d' % other.port
                await http_client.close()
    run(main())


# -- failures, timeouts, cancellation -----------------------------------------

def test_silent_server_times_out():
    async def main():
        async with RawServer(silent) as server:
            http_client = client()
            for timeout in (0.2, 0.01):
                started = time.monotonic()
                with pytest.raises(HTTPTimeout, match='within'):
                    await http_client.request('GET', server.url,
                                              timeout=timeout)
                assert time.monotonic() - started < timeout + 2
            # the timed-out connections were dropped, not pooled
            await asyncio.wait_for(server.closed.wait(), TIMEOUT)
            assert not http_client._idle.get((False, '127.0.0.1',
                                              server.port))
            assert not http_client._active
            # the timer is gone: a later request is not cut short
            assert asyncio.current_task().cancelling() == 0 if hasattr(
                asyncio.Task, 'cancelling') else True
            await http_client.close()
        # a TLS handshake that never comes is covered by the timeout too
        async with RawServer(silent) as server:
            http_client = client()
            started = time.monotonic()
            with pytest.raises(HTTPTimeout):
                await http_client.request('GET', server.url.replace(
                    'http:', 'https:'), timeout=0.2)
            assert time.monotonic() - started < 2.2
            await http_client.close()
    run(main())


def test_cancellation_aborts_the_connection():
    async def main():
        async with RawServer(silent) as server:
            http_client = client()
            task = asyncio.ensure_future(http_client.request(
                'GET', server.url, timeout=TIMEOUT))
            while not server.requests:
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert not http_client._active
            assert not http_client._idle.get((False, '127.0.0.1',
                                              server.port))
            await http_client.close()
        async with RawServer(echo) as server:
            # cancelled while the answer is read: the connection is dropped
            reader_writer = []

            async def slow(request, writer, server):
                writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab')
                reader_writer.append(writer)
                await server.readers[writer].read()
            server.script = slow
            http_client = client()
            task = asyncio.ensure_future(http_client.request(
                'GET', server.url))
            while not reader_writer:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            server.script = echo
            assert await http_client.request('GET', server.url) == \
                (200, b'GET / ')
            assert server.connections == 2
            await http_client.close()
    run(main())


def test_stale_idle_connection():
    """The server closes a kept-alive connection when the next request
    comes, without an answer: a GET is sent again on a new connection
    (once), a POST fails (the server may have acted on it)."""
    def first_only(request, writer, server):
        if server.counts[writer] > 1:
            return False  # closed, unanswered
        writer.write(answer(request[0].encode()))

    def never(request, writer, server):
        return False

    async def main():
        async with RawServer(first_only) as server:
            http_client = client()
            assert await http_client.request('GET', server.url) == \
                (200, b'GET')
            assert await http_client.request('GET', server.url,
                                             timeout=TIMEOUT) == (200, b'GET')
            assert server.connections == 2
            with pytest.raises(HTTPError, match='closed the connection'):
                await http_client.request('POST', server.url, body=b'4x',
                                          timeout=TIMEOUT)
            assert server.connections == 2  # not sent again
            # a GET is retried once only
            assert await http_client.request('GET', server.url) == \
                (200, b'GET')
            server.script = never
            with pytest.raises(HTTPError, match='before the answer'):
                await http_client.request('GET', server.url, timeout=TIMEOUT)
            assert server.connections == 4
            assert not http_client._active
            await http_client.close()
    run(main())


def test_idle_connection_closed_by_the_server_leaves_the_pool():
    def script(request, writer, server):
        writer.write(answer(b'once'))
        return False

    async def main():
        async with RawServer(script) as server:
            http_client = client()
            await http_client.request('GET', server.url)
            key = (False, '127.0.0.1', server.port)
            deadline = time.monotonic() + TIMEOUT
            while http_client._idle[key]:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)
            assert http_client.take_connection(
                'ws://127.0.0.1:%d/' % server.port) is None
            await http_client.close()
    run(main())


def test_connection_refused_and_unknown_host():
    async def main():
        http_client = client()
        server = await asyncio.start_server(lambda r, w: None,
                                            '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        with pytest.raises(HTTPError, match='cannot connect'):
            await http_client.request('GET', 'http://127.0.0.1:%d/' % port,
                                      timeout=TIMEOUT)
        with pytest.raises(HTTPError, match='resolve|connect|timeout|within'):
            await http_client.request('GET', 'http://no-such-host.invalid/',
                                      timeout=5)
        await http_client.close()
    run(main())


def test_close_fails_requests_in_flight():
    async def main():
        async with RawServer(silent) as server:
            http_client = client()
            tasks = [asyncio.ensure_future(http_client.request(
                'GET', server.url)) for _ in range(2)]
            while len(server.requests) < 2:
                await asyncio.sleep(0.01)
            await http_client.close()
            for task in tasks:
                with pytest.raises(HTTPError, match='closed'):
                    await asyncio.wait_for(task, TIMEOUT)
            await http_client.close()  # again: nothing
            assert http_client.closed
            with pytest.raises(HTTPError, match='closed'):
                await http_client.request('GET', server.url)
            await asyncio.wait_for(server.closed.wait(), TIMEOUT)
    run(main())


def test_take_connection():
    """The idle connection is handed over for a WebSocket upgrade: the pool
    no longer uses it, and the caller's protocol gets its bytes."""
    async def script(request, writer, server):
        if request[1] == '/upgrade':
            writer.write(b'HTTP/1.1 101 Switching Protocols\r\n\r\nhi there')
            return
        writer.write(answer(b'polled'))

    class Upgrade(asyncio.Protocol):
        def __init__(self):
            self.data = b''
            self.done = asyncio.get_running_loop().create_future()

        def data_received(self, data):
            self.data += data
            if self.data.endswith(b'hi there'):
                self.done.set_result(self.data)

    async def main():
        async with RawServer(script) as server:
            http_client = client()
            assert http_client.take_connection(server.url) is None
            await http_client.request('GET', server.url)
            assert http_client.take_connection(
                'wss://127.0.0.1:%d/' % server.port) is None  # not TLS
            transport = http_client.take_connection(
                'ws://127.0.0.1:%d/engine.io/' % server.port)
            assert transport is not None and not transport.is_closing()
            assert http_client.take_connection(server.url) is None
            protocol = Upgrade()
            transport.set_protocol(protocol)
            transport.write(b'GET /upgrade HTTP/1.1\r\n\r\n')
            data = await asyncio.wait_for(protocol.done, TIMEOUT)
            assert data.startswith(b'HTTP/1.1 101')
            # the pool opens a new connection for the next request
            assert await http_client.request('GET', server.url) == \
                (200, b'polled')
            assert server.connections == 2
            await http_client.close()
            assert not transport.is_closing()  # the caller's now
            transport.close()
    run(main())


# -- TLS ----------------------------------------------------------------------

def test_tls(certificate):
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)

    async def main():
        async with RawServer(echo, ssl_context=server_context) as server:
            made = []

            def trusting():
                made.append(1)
                return ssl.create_default_context(cafile=cert)
            http_client = HTTPClient(ssl_context_factory=trusting,
                                     max_body=1000)
            for url in (server.url, 'https://localhost:%d' % server.port):
                for _ in range(2):
                    assert await http_client.request(
                        'POST', url + '/s', body=b'x', timeout=TIMEOUT) == \
                        (200, b'POST /s x')
            assert made == [1] and server.connections == 2
            transport = http_client.take_connection(
                'wss://localhost:%d/' % server.port)
            assert transport is not None
            assert transport.get_extra_info('ssl_object') is not None
            transport.abort()
            await http_client.close()
            # the system's CAs do not know ours
            http_client = client()
            with pytest.raises(HTTPError, match='CERTIFICATE_VERIFY_FAILED'):
                await http_client.request('GET', server.url, timeout=TIMEOUT)
            await http_client.close()
    run(main())


# -- a real Engine.IO server --------------------------------------------------

class CountingProxy(StreamServer):
    """A TCP relay to ``upstream`` that counts the connections it
    accepts."""

    async def _serve(self, reader, writer):
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection(
            '127.0.0.1', self.upstream)

        async def pipe(source, sink):
            try:
                while True:
                    data = await source.read(65536)
                    if not data:
                        break
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                sink.close()
        tasks = [asyncio.ensure_future(pipe(reader, up_writer)),
                 asyncio.ensure_future(pipe(up_reader, writer))]
        self.tasks.update(tasks)
        await asyncio.wait(tasks)
        self.tasks.difference_update(tasks)


async def engineio_exchange(port):
    """Handshake, a message, its echo, a close: over our client, through a
    counting proxy; one connection is enough for it all."""
    async with CountingProxy() as proxy:
        proxy.upstream = port
        http_client = client()
        url = 'http://127.0.0.1:%d/engine.io/?EIO=4&transport=polling' % \
            proxy.port
        status, body = await http_client.request('GET', url, timeout=TIMEOUT)
        assert status == 200 and body.startswith(b'0{')
        sid = body.split(b'"sid":"')[1].split(b'"')[0].decode()
        url += '&sid=' + sid
        for message in ('hello \u00e9', 'again'):
            assert await http_client.request(
                'POST', url, body=('4' + message).encode(),
                timeout=TIMEOUT) == (200, b'ok')
            status, body = await http_client.request('GET', url,
                                                     timeout=TIMEOUT)
            assert (status, body.decode()) == (200, '4' + message)
        assert await http_client.request('POST', url, body=b'1',
                                         timeout=TIMEOUT) == (200, b'ok')
        assert proxy.connections == 1
        await http_client.close()


def test_engineio_on_uvicorn():
    with serve_uvicorn() as port:
        run(engineio_exchange(port))


def test_engineio_on_the_embedded_server():
    with serve_embedded(echo_server()) as port:
        run(engineio_exchange(port))
