"""The ``aiohttp`` async mode: ``AsyncServer`` on an ``aiohttp.web``
application.

``eio.attach(app)`` routes the Engine.IO endpoint (every method, with and
without the trailing slash) to ``eio.handle_request``, which takes an
``aiohttp.web.Request`` and returns the response: the core's answer as a
``web.Response``, or the ``web.WebSocketResponse`` of an accepted WebSocket
once it has ended.

* Bodies are read lazily from ``request.content``, at most
  ``max_http_buffer_size + 1`` bytes (aiohttp's ``client_max_size`` plays no
  part: the core refuses what is over its own limit).
* aiohttp does not tell a handler that its client left (unless the
  application runs with ``handler_cancellation=True``), so while a long poll
  is held its transport's protocol is wrapped (public ``asyncio``
  ``set_protocol``) to hear ``connection_lost``; the original protocol is put
  back when the poll ends.  Nothing is spent on requests that are not held.
* WebSocket through ``web.WebSocketResponse`` with ``max_msg_size`` set
  from ``max_http_buffer_size`` (aiohttp closes a larger message with 1009,
  as the core would) and no ``permessage-deflate`` (Engine.IO never compresses
  WebSocket frames).  A WebSocket the core refuses gets its HTTP error.

Importing this module raises ``ImportError`` without aiohttp, so that
``AsyncServer(async_mode=None)`` skips the mode.
"""
from __future__ import annotations

import asyncio
import sys
from typing import Any, Dict, List, Optional

from aiohttp import WSMsgType, web
from multidict import CIMultiDict

from .._sansio import AcceptWebSocket, headers_from_environ
from .._sansio.requests import add_wsgi_headers

__all__ = ['create_route', 'translate_request', 'read_body',
           'wait_disconnect', 'handle_request', 'WebSocket']

_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY


def create_route(app: web.Application, engineio_server: Any,
                 engineio_endpoint: str) -> None:
    """Route ``engineio_endpoint`` (``'/engine.io/'``) to the server, for
    every method (the core answers the ones the protocol refuses) and with
    or without the trailing slash (PROTOCOL.md: the same endpoint)."""
    path = engineio_endpoint.rstrip('/')
    for route in (path + '/', path):
        if route:
            app.router.add_route('*', route, engineio_server.handle_request)


def translate_request(request: web.BaseRequest) -> Dict[str, Any]:
    """A WSGI-style environ for an aiohttp request (what the ``connect``
    handler and a callable ``cors_allowed_origins`` receive).  The request
    itself is under ``aiohttp.request``; ``wsgi.input`` is its body stream
    (``await environ['wsgi.input'].read(n)``)."""
    transport = request.transport
    peer = sock = None
    if transport is not None:
        peer = transport.get_extra_info('peername')
        sock = transport.get_extra_info('sockname')
    if not isinstance(peer, tuple):
        peer = (request.remote or '', 0)
    if not isinstance(sock, tuple):
        sock = ('aiohttp', 0)
    version = request.version
    query_string = request.rel_url.raw_query_string
    environ: Dict[str, Any] = {
        'wsgi.input': request.content,
        'wsgi.errors': sys.stderr,
        'wsgi.version': (1, 0),
        'wsgi.async': True,
        'wsgi.multithread': False,
        'wsgi.multiprocess': False,
        'wsgi.run_once': False,
        'wsgi.url_scheme': request.scheme,
        'SERVER_SOFTWARE': 'aiohttp',
        'REQUEST_METHOD': request.method,
        'PATH_INFO': request.path,
        'QUERY_STRING': query_string,
        'RAW_URI': request.raw_path,
        'SCRIPT_NAME': '',
        'SERVER_PROTOCOL': 'HTTP/%d.%d' % (version[0], version[1]),
        'REMOTE_ADDR': str(peer[0]),
        'REMOTE_PORT': str(peer[1]),
        'SERVER_NAME': str(sock[0]),
        'SERVER_PORT': str(sock[1]),
        'aiohttp.request': request,
    }
    add_wsgi_headers(environ, request.headers.items())
    return environ


async def read_body(environ: Dict[str, Any], limit: int) -> Optional[bytes]:
    """The request body, read lazily and cut at ``limit`` bytes (the core
    refuses what reaches the limit); None if the client went away or the
    body could not be read (a truncated or malformed chunked body)."""
    content = environ['aiohttp.request'].content
    try:
        body = await content.read(limit)
        if content.at_eof() or not body:
            return body  # the usual case: all of it in one read
        chunks: List[bytes] = [body]
        size = len(body)
        while size < limit:
            chunk = await content.read(limit - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b''.join(chunks)
    except asyncio.CancelledError:
        raise
    except Exception:  # aiohttp raises several kinds for a lost body
        return None


class _ConnectionWatch(asyncio.Protocol):
    """Stands in for a transport's protocol while a long poll is held:
    forwards every callback to it and resolves ``gone`` when the connection
    is lost."""

    def __init__(self, inner: asyncio.BaseProtocol,
                 gone: 'asyncio.Future[None]') -> None:
        self.inner = inner
        self.gone = gone

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)  # type: ignore[attr-defined]

    def eof_received(self) -> Optional[bool]:
        return self.inner.eof_received()  # type: ignore[attr-defined]

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Optional[Exception]) -> None:
        try:
            self.inner.connection_lost(exc)
        finally:
            if not self.gone.done():
                self.gone.set_result(None)


async def wait_disconnect(environ: Dict[str, Any]) -> None:
    """Return when the client of this (held) request disconnects."""
    transport = environ['aiohttp.request'].transport
    if transport is None or transport.is_closing():
        return
    inner = transport.get_protocol()
    gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    if isinstance(inner, asyncio.BufferedProtocol):
        # not aiohttp's own protocol: nothing to hook, wait to be cancelled
        await gone
        return
    watch = _ConnectionWatch(inner, gone)
    transport.set_protocol(watch)
    try:
        await gone
    finally:
        if transport.get_protocol() is watch:
            transport.set_protocol(inner)


class WebSocket:
    """An accepted aiohttp WebSocket, as ``AsyncSocket._websocket_handler``
    uses it: ``wait()`` returns the next message (str or bytes) or None once
    the connection ended; ``send(data)`` writes a str (text frame) or bytes
    (binary frame); ``close(code)``.  ``ws`` is the
    ``web.WebSocketResponse``."""

    def __init__(self, ws_id: int, ws: web.WebSocketResponse) -> None:
        self.ws_id = ws_id
        self.ws = ws
        self.closed = False

    async def wait(self) -> Any:
        """The next message, or None once the connection ended (closed by
        the client, a read error, or a message over the size limit, which
        aiohttp closes with 1009)."""
        if self.closed:
            return None
        try:
            message = await self.ws.receive()
        except asyncio.CancelledError:
            raise
        except Exception:
            self.closed = True
            return None
        kind = message.type
        if kind is _TEXT or kind is _BINARY:
            return message.data
        self.closed = True  # CLOSE, CLOSING, CLOSED or ERROR
        return None

    async def send(self, data: Any) -> None:
        """Write one message."""
        if type(data) is str:
            await self.ws.send_str(data)
        else:
            await self.ws.send_bytes(data)

    async def close(self, code: int = 1000) -> None:
        """Close the connection with ``code``."""
        await self.ws.close(code=code)


def _response(outcome: Any) -> web.Response:
    return web.Response(status=outcome.status, body=outcome.body,
                        headers=CIMultiDict(outcome.headers))


async def handle_request(server: Any, request: web.BaseRequest
                         ) -> web.StreamResponse:
    """Serve one request for ``server``; returns the aiohttp response."""
    environ = translate_request(request)
    outcome = await server._handle_http(
        environ['REQUEST_METHOD'], environ['QUERY_STRING'],
        headers_from_environ(environ), environ['wsgi.url_scheme'], environ)
    if type(outcome) is AcceptWebSocket:
        return await _run_websocket(server, request, outcome)
    if outcome is None:
        # the client went away: nobody reads this, but aiohttp wants one
        return web.Response(status=400)
    return _response(outcome)


async def _run_websocket(server: Any, request: web.BaseRequest,
                         accept: AcceptWebSocket) -> web.StreamResponse:
    # aiohttp refuses a message of max_msg_size bytes or more: one more than
    # the core's limit lets a message of exactly max_http_buffer_size through
    ws = web.WebSocketResponse(max_msg_size=server.max_http_buffer_size + 1,
                               compress=False)
    try:
        await ws.prepare(request)
    except BaseException:
        # a handshake aiohttp refuses (its HTTPException is the answer), or
        # the client left: the core lets this WebSocket go
        server._core.websocket_closed(accept.session, accept.ws_id)
        await server._flush()
        raise
    await accept.session.glue._websocket_handler(WebSocket(accept.ws_id, ws))
    return ws


_async = {
    'asyncio': True,
    'create_route': create_route,
    'handle_request': handle_request,
    'translate_request': translate_request,
    'read_body': read_body,
    'wait_disconnect': wait_disconnect,
    'websocket': WebSocket,
}
