"""The ``tornado`` async mode: ``AsyncServer`` behind a tornado handler.

``get_tornado_handler(eio)`` returns a ``tornado.websocket.WebSocketHandler``
subclass to route the Engine.IO endpoint to (``Application([(r'/engine.io/',
handler)])``); it serves polling (every method: the core answers those the
protocol refuses) and WebSocket.

* The handler streams its request body (``stream_request_body``): a POST is
  handed to the core as soon as its headers are in, so that one over
  ``max_http_buffer_size`` by ``Content-Length`` is refused before its body
  is read, and the body is kept up to ``max_http_buffer_size + 1`` bytes at
  most (tornado would otherwise buffer up to its own ``max_body_size``).
* A held long poll hears the client leaving through tornado's
  ``on_connection_close``.
* A WebSocket the core refuses gets its HTTP error; an accepted one runs
  ``AsyncSocket._websocket_handler`` in a task started by ``open()``, fed
  from ``on_message`` through a small bounded inbox (tornado reads no
  further frame while it is full).  ``max_message_size`` is
  ``max_http_buffer_size``: tornado closes a larger message with 1009, as
  the core would.  No ``permessage-deflate`` (Engine.IO never compresses
  WebSocket frames).

Importing this module raises ``ImportError`` without tornado, so that
``engineio.get_tornado_handler`` is None and ``AsyncServer(async_mode=None)``
skips the mode.
"""
from __future__ import annotations

import asyncio
import sys
from collections import deque
from typing import Any, Deque, Dict, Optional
from urllib.parse import unquote

import tornado.web
import tornado.websocket

from .._sansio import AcceptWebSocket, headers_from_environ
from .._sansio.requests import add_wsgi_headers

__all__ = ['get_tornado_handler', 'translate_request', 'read_body',
           'wait_disconnect', 'handle_request', 'WebSocket']

#: WebSocket messages received ahead of ``wait()`` before tornado is told
#: to stop reading frames
INBOX_SIZE = 16


class _Body:
    """A streamed request body, kept up to the limit the core asked for.

    ``wanted`` resolves when the core starts reading (so that ``prepare()``
    can let tornado deliver the body); ``read(limit)`` returns once
    ``limit`` bytes arrived, the body ended, or the client left (None)."""

    __slots__ = ('chunks', 'size', 'limit', 'ended', 'aborted', 'waiter',
                 'wanted')

    def __init__(self, wanted: 'asyncio.Future[None]') -> None:
        self.chunks: list = []
        self.size = 0
        self.limit = 0
        self.ended = False
        self.aborted = False
        self.waiter: Optional[asyncio.Future] = None
        self.wanted = wanted

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def feed(self, chunk: bytes) -> None:
        room = self.limit - self.size
        if room <= 0:
            return  # over the limit already: the rest is dropped
        if len(chunk) > room:
            chunk = chunk[:room]
        self.chunks.append(chunk)
        self.size += len(chunk)
        if self.size >= self.limit:
            self._wake()

    def end(self, aborted: bool = False) -> None:
        self.ended = True
        self.aborted = aborted
        self._wake()

    async def read(self, limit: int) -> Optional[bytes]:
        self.limit = limit
        if not self.wanted.done():
            self.wanted.set_result(None)
        while self.size < limit and not self.ended:
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        self.waiter = None
        if self.aborted:
            return None
        return b''.join(self.chunks)


class _Inbox:
    """WebSocket messages from ``on_message`` to ``WebSocket.wait()``.

    ``put`` returns a future while the inbox is full: tornado awaits it
    before it reads the next frame, so a slow server slows its client
    rather than buffering."""

    __slots__ = ('items', 'getter', 'putter', 'ended')

    def __init__(self) -> None:
        self.items: Deque[Any] = deque()
        self.getter: Optional[asyncio.Future] = None
        self.putter: Optional[asyncio.Future] = None
        self.ended = False

    def put(self, item: Any) -> Optional['asyncio.Future[None]']:
        self.items.append(item)
        getter = self.getter
        if getter is not None and not getter.done():
            getter.set_result(None)
        if len(self.items) >= INBOX_SIZE:
            self.putter = asyncio.get_running_loop().create_future()
            return self.putter
        return None

    def end(self) -> None:
        self.ended = True
        for waiter in (self.getter, self.putter):
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    async def get(self) -> Any:
        items = self.items
        while not items:
            if self.ended:
                return None
            self.getter = asyncio.get_running_loop().create_future()
            await self.getter
        item = items.popleft()
        putter = self.putter
        if putter is not None and len(items) < INBOX_SIZE // 2:
            self.putter = None
            if not putter.done():
                putter.set_result(None)
        return item


@tornado.web.stream_request_body
class EngineIOHandler(tornado.websocket.WebSocketHandler):
    """The handler class ``get_tornado_handler`` subclasses, with
    ``engineio_server`` set.  Every HTTP method goes to the core."""

    engineio_server: Any = None

    def initialize(self, **kwargs: Any) -> None:
        # the POST being handled since prepare() (its task and body)
        self._eio_task: Optional[asyncio.Future] = None
        self._eio_body: Optional[_Body] = None
        # resolved when the client goes away (created when waited on)
        self._eio_gone: Optional[asyncio.Future] = None
        self._eio_closed = False
        # the accepted WebSocket: the core's ticket, inbox, session task
        self._eio_accept: Optional[AcceptWebSocket] = None
        self._eio_inbox: Optional[_Inbox] = None
        self._eio_ws_task: Optional[asyncio.Future] = None

    # -- HTTP -------------------------------------------------------------

    async def prepare(self) -> None:
        if self.request.method != 'POST':
            return
        # Start on the POST now, before tornado reads its body: the core
        # may refuse it at once; else it asks for the body (read_body), and
        # prepare() returns to let tornado deliver it to data_received.
        server = self.engineio_server
        loop = asyncio.get_running_loop()
        wanted = loop.create_future()
        self._eio_body = _Body(wanted)
        task = self._eio_task = server._track(
            loop.create_task(server.handle_request(self)))
        if not task.done():
            await asyncio.wait([task, wanted],
                               return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # a server error surfaces as tornado's 500

    def data_received(self, chunk: bytes) -> None:
        body = self._eio_body
        if body is not None:
            body.feed(chunk)
        # any other method's body is not Engine.IO's business: dropped

    async def post(self, *args: Any, **kwargs: Any) -> None:
        body = self._eio_body
        task = self._eio_task
        if body is not None:
            body.end()
        if task is not None:
            await task

    async def get(self, *args: Any, **kwargs: Any) -> None:
        await self.engineio_server.handle_request(self)

    async def _other(self, *args: Any, **kwargs: Any) -> None:
        await self.engineio_server.handle_request(self)

    options = put = patch = delete = head = _other

    def compute_etag(self) -> Optional[str]:
        return None  # polling answers are never cacheable

    def on_connection_close(self) -> None:
        # WebSocketHandler's own does not let a streamed body know
        super().on_connection_close()
        tornado.web.RequestHandler.on_connection_close(self)
        body = self._eio_body
        if body is not None and not body.ended:
            body.end(aborted=True)

    def on_close(self) -> None:
        self._eio_closed = True
        gone = self._eio_gone
        if gone is not None and not gone.done():
            gone.set_result(None)
        inbox = self._eio_inbox
        if inbox is not None:
            inbox.end()

    # -- WebSocket --------------------------------------------------------

    def check_origin(self, origin: str) -> bool:
        return True  # the core checked it already (cors_allowed_origins)

    @property
    def max_message_size(self) -> int:  # type: ignore[override]
        return self.engineio_server.max_http_buffer_size

    def open(self, *args: Any, **kwargs: Any) -> None:
        accept = self._eio_accept
        if accept is None:  # not through handle_request: not ours
            self.close()
            return
        self.set_nodelay(True)  # small frames: no Nagle delay
        self._eio_inbox = _Inbox()
        server = self.engineio_server
        socket = accept.session.glue
        self._eio_ws_task = server._track(asyncio.ensure_future(
            socket._websocket_handler(WebSocket(accept.ws_id, self))))

    def on_message(self, message: Any) -> Optional['asyncio.Future[None]']:
        inbox = self._eio_inbox
        if inbox is None:
            return None
        return inbox.put(message)


def get_tornado_handler(engineio_server: Any) -> type:
    """A ``tornado.websocket.WebSocketHandler`` subclass serving
    ``engineio_server``; route the Engine.IO endpoint to it."""
    return type('EngineIOHandler', (EngineIOHandler,),
                {'engineio_server': engineio_server})


def translate_request(handler: Any) -> Dict[str, Any]:
    """A WSGI-style environ for the handler's request (what the ``connect``
    handler and a callable ``cors_allowed_origins`` receive), with the
    handler under ``tornado.handler``."""
    request = handler.request
    context = getattr(request.connection, 'context', None)
    address = getattr(context, 'address', None)
    if not isinstance(address, tuple):
        address = (request.remote_ip, 0)
    host = request.host or ''
    name, _, port = host.rpartition(':')
    if not name or not port.isdigit():
        name, port = host, ('443' if request.protocol == 'https' else '80')
    query_string = request.query
    environ: Dict[str, Any] = {
        'wsgi.errors': sys.stderr,
        'wsgi.version': (1, 0),
        'wsgi.async': True,
        'wsgi.multithread': False,
        'wsgi.multiprocess': False,
        'wsgi.run_once': False,
        'wsgi.url_scheme': request.protocol,
        'SERVER_SOFTWARE': 'tornado',
        'REQUEST_METHOD': request.method,
        'PATH_INFO': unquote(request.path, encoding='latin-1'),
        'QUERY_STRING': query_string,
        'RAW_URI': request.uri,
        'SCRIPT_NAME': '',
        'SERVER_PROTOCOL': request.version,
        'REMOTE_ADDR': request.remote_ip,
        'REMOTE_PORT': str(address[1]),
        'SERVER_NAME': name,
        'SERVER_PORT': port,
        'tornado.handler': handler,
    }
    add_wsgi_headers(environ, request.headers.get_all())
    return environ


async def read_body(environ: Dict[str, Any], limit: int) -> Optional[bytes]:
    """The POST body, at most ``limit`` bytes; None if the client left."""
    body = environ['tornado.handler']._eio_body
    if body is None:  # not a POST: tornado delivered no body to us
        return b''
    return await body.read(limit)


async def wait_disconnect(environ: Dict[str, Any]) -> None:
    """Return when the client of this (held) request disconnects."""
    handler = environ['tornado.handler']
    if handler._eio_closed:
        return
    gone = handler._eio_gone
    if gone is None:
        gone = handler._eio_gone = asyncio.get_running_loop().create_future()
    await gone


class WebSocket:
    """An accepted tornado WebSocket, as ``AsyncSocket._websocket_handler``
    uses it: ``wait()`` returns the next message (str or bytes) or None once
    the connection ended; ``send(data)`` writes a str (text frame) or bytes
    (binary frame); ``close(code)``.  ``handler`` is the tornado handler."""

    def __init__(self, ws_id: int, handler: Any) -> None:
        self.ws_id = ws_id
        self.handler = handler

    async def wait(self) -> Any:
        """The next message, or None once the connection ended."""
        return await self.handler._eio_inbox.get()

    async def send(self, data: Any) -> None:
        """Write one message (raises once the connection is closed)."""
        handler = self.handler
        written = handler.write_message(data, binary=type(data) is not str)
        connection = handler.ws_connection
        stream = getattr(connection, 'stream', None)
        if stream is not None and stream.writing():
            # the kernel did not take it all: wait (the outbox's writer
            # task does), so that a client that stops reading is noticed
            await written
        # else it is written, and ``written`` can only end well

    async def close(self, code: int = 1000) -> None:
        """Close the connection with ``code`` (tornado completes the
        closing handshake, or aborts after its timeout)."""
        self.handler.close(code)


def _write_response(handler: Any, response: Any) -> None:
    handler.set_status(response.status)
    handler.clear_header('Content-Type')
    no_body = response.status == 204
    for name, value in response.headers:
        if no_body and name == 'Content-Length':
            continue  # tornado sets none on a 204, and refuses ours
        handler.add_header(name, value)
    handler.finish(response.body or None)


async def handle_request(server: Any, handler: Any) -> None:
    """Serve the handler's request for ``server`` (the response is written
    through the handler)."""
    environ = translate_request(handler)
    outcome = await server._handle_http(
        environ['REQUEST_METHOD'], environ['QUERY_STRING'],
        headers_from_environ(environ), environ['wsgi.url_scheme'], environ)
    if type(outcome) is AcceptWebSocket:
        await _run_websocket(server, handler, outcome)
    elif outcome is not None:
        _write_response(handler, outcome)


async def _run_websocket(server: Any, handler: Any,
                         accept: AcceptWebSocket) -> None:
    handler._eio_accept = accept
    try:
        # the handshake, then tornado's frame loop: returns when it ends
        await tornado.websocket.WebSocketHandler.get(
            handler, *handler.path_args, **handler.path_kwargs)
    finally:
        task = handler._eio_ws_task
        if task is None:
            # tornado refused the handshake (bad headers) or the client
            # left: open() never ran, the core lets this WebSocket go
            server._core.websocket_closed(accept.session, accept.ws_id)
            await server._flush()
        elif not task.done():
            await asyncio.wait([task])


_async = {
    'asyncio': True,
    'handle_request': handle_request,
    'translate_request': translate_request,
    'read_body': read_body,
    'wait_disconnect': wait_disconnect,
    'websocket': WebSocket,
}
