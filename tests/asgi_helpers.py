"""Test helpers for the asgi mode: an in-process ASGI harness and a raw
WebSocket client over a real socket.

Every wait is bounded (``TIMEOUT``): a broken server fails a test, it never
hangs the suite.
"""
import asyncio
import base64
import hashlib
import json
import os
import socket

from engineio._speedups import websocket as ws_kernel

__all__ = ['TIMEOUT', 'run', 'Connection', 'http', 'handshake',
           'RawWebSocket']

TIMEOUT = 10
OP_TEXT, OP_BINARY, OP_CLOSE = 1, 2, 8


def run(coroutine):
    """Run a test coroutine on a fresh event loop, bounded."""
    async def bounded():
        return await asyncio.wait_for(coroutine, TIMEOUT)
    return asyncio.run(bounded())


class Connection:
    """One ASGI connection driven by a test: ``feed`` receive events,
    read what the application sent with ``next_sent``/``response``."""

    def __init__(self, app, scope):
        self.app = app
        self.scope = scope
        self.inbox = asyncio.Queue()
        self.outbox = asyncio.Queue()
        self.task = None

    def start(self):
        self.task = asyncio.ensure_future(
            self.app(self.scope, self.inbox.get, self.outbox.put))
        return self

    def feed(self, message):
        self.inbox.put_nowait(message)

    async def next_sent(self):
        return await asyncio.wait_for(self.outbox.get(), TIMEOUT)

    async def response(self):
        """``(status, headers, body)`` of an HTTP response."""
        start = await self.next_sent()
        assert start['type'] == 'http.response.start', start
        body = await self.next_sent()
        assert body['type'] == 'http.response.body', body
        headers = {k.decode(): v.decode() for k, v in start['headers']}
        return start['status'], headers, body['body']

    async def finished(self):
        await asyncio.wait_for(self.task, TIMEOUT)


def http_scope(method, path, query='', headers=(), scope_type='http'):
    return {'type': scope_type, 'method': method, 'path': path,
            'query_string': query.encode(), 'scheme': 'http',
            'http_version': '1.1', 'client': ('127.0.0.1', 5000),
            'server': ('127.0.0.1', 80),
            'headers': [(b'host', b'127.0.0.1')] + [
                (k.encode(), v.encode()) for k, v in headers]}


async def http(app, method, path, query='', body=b'', headers=()):
    """One complete HTTP request; returns ``(status, headers, body)``."""
    conn = Connection(app, http_scope(method, path, query, headers)).start()
    conn.feed({'type': 'http.request', 'body': body, 'more_body': False})
    result = await conn.response()
    await conn.finished()
    return result


async def handshake(app, path='/engine.io/', query='EIO=4&transport=polling'):
    """A polling handshake; returns the OPEN packet's JSON (with ``sid``)."""
    status, _, body = await http(app, 'GET', path, query)
    assert status == 200, body
    assert body[:1] == b'0'
    return json.loads(body[1:])


class RawWebSocket:
    """A minimal blocking WebSocket client on our own framing kernel."""

    def __init__(self, port, target, timeout=TIMEOUT):
        self.sock = socket.create_connection(('127.0.0.1', port),
                                             timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((
            'GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n'
            'Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n'
            'Sec-WebSocket-Version: 13\r\n\r\n' % (target, port, key)
        ).encode())
        head = b''
        while b'\r\n\r\n' not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            head += chunk
        head, _, rest = head.partition(b'\r\n\r\n')
        lines = head.decode('latin-1').split('\r\n')
        self.status = int(lines[0].split()[1])
        self.headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(':')
            self.headers[name.strip().lower()] = value.strip()
        self.rest = rest
        if self.status == 101:
            expected = base64.b64encode(hashlib.sha1(
                (key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').encode()
            ).digest()).decode()
            assert self.headers['sec-websocket-accept'] == expected
        self.parser = ws_kernel.FrameParser(None, require_mask=False)
        self.pending = []

    def send(self, data, opcode=None):
        if opcode is None:
            opcode = OP_TEXT if isinstance(data, str) else OP_BINARY
        self.sock.sendall(ws_kernel.build_frame(opcode, data,
                                                mask_key=os.urandom(4)))

    def recv(self):
        """The next message ``(opcode, payload)``; ``(None, None)`` at EOF."""
        while not self.pending:
            data = self.rest or self.sock.recv(65536)
            self.rest = b''
            if not data:
                return None, None
            self.pending.extend(self.parser.feed(data))
        return self.pending.pop(0)

    def close(self):
        self.sock.close()
