"""One HTTP/1.1 connection of the embedded server, parsed by httptools.

:class:`HttpConnection` is an asyncio ``Protocol``: bytes go into an
``httptools.HttpRequestParser``, whose callbacks build a :class:`Request`.
Engine.IO requests are decided at the end of their headers (the core may
refuse a POST by its ``Content-Length``, or accept a WebSocket), other
requests (static files, the other ASGI application, 404) once their body
is in.  Requests are answered in order: one is *active* at a time, and
requests pipelined behind it wait in a queue (reading pauses meanwhile).

Limits, each answered with a status and a closed connection, never with an
unbounded buffer: a request target over ``max_request_line`` (414), a head
over ``max_header_size`` or with more than ``max_headers`` fields (431;
counted on the raw bytes too, so a head that never ends cannot grow), a
body over its limit (413: ``max_http_buffer_size`` for Engine.IO, checked
by the core, ``max_body_size`` otherwise), anything httptools refuses (400:
bad request lines, bad header syntax, invalid chunked bodies, both
``Content-Length`` and ``Transfer-Encoding``), an HTTP/1.1 request without
``Host`` (400), a head or a body that stalls past ``header_timeout`` (408).
HTTP/1.0 clients get ``Connection: keep-alive`` only when they asked for it.

The Engine.IO polling fast path calls :class:`engineio._sansio.ServerCore`
directly: a GET that must wait parks a small waiter object where
``AsyncServer`` expects its future (``socket._poll_waiter``), and is answered
when the core wakes it, in the iteration's write batch; a POST body is
collected from the parser and handed to ``core.receive_post``.  No task
unless a handler suspends (see :func:`engineio._embedded.server.step`).
A ``handle_post_request`` patched on ``AsyncSocket`` (python-socketio's admin
UI) is honoured: such POSTs take the generic coroutine path.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
from binascii import b2a_base64
from hashlib import sha1
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import unquote

import httptools

from .._sansio import AcceptWebSocket, Handshake, HoldPoll, ReadBody
from .._sansio.requests import is_endpoint
from ..static_files import get_static_file
from .common import Resume, is_original, step
from .websocket import WebSocketConnection

__all__ = ['HttpConnection', 'Request', 'REQUEST_KEY', 'DEADLINE_TICK',
           'is_original']

logger = logging.getLogger('engineio.server')

#: the environ key under which a request of this server finds itself
REQUEST_KEY = 'engineio.embedded.request'

# parser states: between requests, in the head, in the body
_IDLE, _HEAD, _BODY = 0, 1, 2
# where a request goes
_ENGINEIO, _STATIC, _OTHER, _NOT_FOUND = 0, 1, 2, 3
#: requests pipelined behind the active one before the client is cut off
MAX_PIPELINED = 64
#: seconds: connection deadlines (a request head or body that stalls, an
#: idle keep-alive connection) are checked at the next multiple of this, by
#: one loop timer per tick shared by every connection due then; so they are
#: acted on up to this much late
DEADLINE_TICK = 0.125

_REASONS = {
    100: 'Continue', 101: 'Switching Protocols', 200: 'OK',
    204: 'No Content', 400: 'Bad Request', 401: 'Unauthorized',
    403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
    408: 'Request Timeout', 413: 'Payload Too Large', 414: 'URI Too Long',
    431: 'Request Header Fields Too Large', 500: 'Internal Server Error',
    503: 'Service Unavailable',
}
_STATUS_LINES = {code: ('HTTP/1.1 %d %s\r\n' % (code, reason)).encode()
                 for code, reason in _REASONS.items()}
_CONTINUE = b'HTTP/1.1 100 Continue\r\n\r\n'
#: RFC 6455: Sec-WebSocket-Accept is base64(SHA-1(key + this))
_WEBSOCKET_GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
_SWITCHING_PROTOCOLS = (b'HTTP/1.1 101 Switching Protocols\r\n'
                        b'Upgrade: websocket\r\nConnection: Upgrade\r\n'
                        b'Sec-WebSocket-Accept: ')
_CLOSE_HEADER = b'Connection: close\r\n'
_KEEP_ALIVE_HEADER = b'Connection: keep-alive\r\n'


# Decoding caches, filled as names are seen, each bounded (a client
# inventing names cannot grow them without limit): a header name as sent ->
# lower case; a header name (lower case) -> its environ key
_MAX_CACHED_NAMES = 512
_HEADER_NAMES: Dict[bytes, str] = {}
_ENVIRON_KEYS = {'content-type': 'CONTENT_TYPE',
                 'content-length': 'CONTENT_LENGTH'}
_METHODS = {method.encode(): method for method in (
    'GET', 'POST', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'PATCH')}


def _header_name(name: bytes) -> str:
    """``name`` as a lower-case str (cached while the cache has room)."""
    key = name.decode('latin-1').lower()
    if len(_HEADER_NAMES) < _MAX_CACHED_NAMES:
        _HEADER_NAMES[name] = key
    return key


def _join_repeated(header_list: List[Tuple[bytes, bytes]]
                   ) -> Dict[str, str]:
    """The headers mapping when a name repeats: values joined with
    ``, `` in order."""
    headers: Dict[str, str] = {}
    for name, value in header_list:
        key = _HEADER_NAMES.get(name) or _header_name(name)
        text = value.decode('latin-1')
        if key in headers:
            headers[key] += ', ' + text
        else:
            headers[key] = text
    return headers


def status_line(status: int) -> bytes:
    """``HTTP/1.1 <status> <reason>\\r\\n``."""
    line = _STATUS_LINES.get(status)
    if line is None:
        line = ('HTTP/1.1 %d %s\r\n' % (status, _REASONS.get(
            status, 'Unknown'))).encode()
    return line


#: a Sec-WebSocket-Key: the base64 of 16 bytes (what ``base64.b64decode(key,
#: validate=True)`` accepts as 16 bytes, without decoding it)
_WEBSOCKET_KEY = re.compile(r'[A-Za-z0-9+/]{22}==')


def websocket_handshake_error(method: str, headers: Dict[str, str]
                              ) -> Optional[str]:
    """Why a request with ``Upgrade: websocket`` is not a valid RFC 6455
    opening handshake, or None."""
    if method != 'GET':
        return 'WebSocket handshake must be a GET'
    if 'upgrade' not in headers.get('connection', '').lower():
        return 'Connection header without upgrade'
    if headers.get('sec-websocket-version', '').strip() != '13':
        return 'unsupported Sec-WebSocket-Version'
    if _WEBSOCKET_KEY.fullmatch(headers.get('sec-websocket-key', '')) is None:
        return 'bad Sec-WebSocket-Key'
    return None


class Request:
    """One request as parsed (plain attributes)."""

    __slots__ = ('connection', 'method', 'target', 'path', 'query',
                 'header_list', 'headers', 'version', 'keep_alive', 'route',
                 'chunks', 'size', 'limit', 'complete', 'close_after',
                 'ticket', 'body_waiter', 'expect_continue', 'upgrade',
                 'leftover', 'upgraded', 'deferred', 'static_file',
                 'environ')

    def __init__(self, connection: 'HttpConnection') -> None:
        self.connection = connection
        self.method = 'GET'
        #: the raw request target (path and query)
        self.target = ''
        self.path = '/'
        self.query = ''
        self.header_list: List[Tuple[bytes, bytes]] = []
        #: lower-case name -> value (repeated fields joined with ", ")
        self.headers: Dict[str, str] = {}
        self.version = '1.1'
        self.keep_alive = True
        self.route = _NOT_FOUND
        self.chunks: List[bytes] = []
        self.size = 0
        #: body bytes kept at most (one more than allowed: over means 413)
        self.limit = 0
        self.complete = False
        #: the connection closes after this response (unread body, ...)
        self.close_after = False
        #: the core's ReadBody for a POST on the fast path
        self.ticket: Any = None
        self.body_waiter: Optional[asyncio.Future] = None
        self.expect_continue = False
        #: an ``Upgrade: websocket`` request, and the bytes after its head
        self.upgrade = False
        self.leftover: Optional[bytes] = None
        self.upgraded = False
        #: a non-Engine.IO request whose body is still coming
        self.deferred = False
        self.static_file: Optional[Dict[str, str]] = None
        self.environ: Optional[Dict[str, Any]] = None

    def body(self) -> bytes:
        chunks = self.chunks
        if len(chunks) == 1:
            return chunks[0]
        return b''.join(chunks)


class _PollWaiter:
    """Stands where ``AsyncServer`` keeps a held poll's future
    (``AsyncSocket._poll_waiter``): ``_wake_poll`` calls ``set_result``,
    and the connection answers in this iteration's write batch."""

    __slots__ = ('connection', 'request', 'session', 'fired', 'aborted')

    def __init__(self, connection: 'HttpConnection', request: Request,
                 session: Any) -> None:
        self.connection = connection
        self.request = request
        self.session = session
        self.fired = False
        self.aborted = False

    def done(self) -> bool:
        return self.fired

    def set_result(self, aborted: bool) -> None:
        if self.fired:
            return
        self.fired = True
        self.aborted = aborted
        connection = self.connection
        connection.poll_ready = True
        connection.server.mark_dirty(connection)


class HttpConnection(asyncio.Protocol):
    """One client connection until it closes or becomes a WebSocket."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.loop = server.loop
        self.eio = server.eio
        self.transport: Any = None
        self.parser: Any = httptools.HttpRequestParser(self)
        self.pstate = _IDLE
        #: the request being parsed, and the one being answered
        self.request: Optional[Request] = None
        self.active: Optional[Request] = None
        self.queue: List[Request] = []
        self.pumping = False
        self.url = b''
        self.head_bytes = 0
        #: bytes the head being parsed may still take (max_header_size)
        self.head_room = 0
        #: its header fields as parsed (its ``header_list``)
        self.header_list: List[Tuple[bytes, bytes]] = []
        self.refusal = 0
        self.deadline = 0.0
        #: the server tick this connection's deadline is watched in (0.0:
        #: none; see ``EmbeddedServer.watch``)
        self.tick = 0.0
        self.closing = False
        self.lost = False
        self.write_paused = False
        self.read_paused = False
        self.drain_waiter: Optional[asyncio.Future] = None
        self.closed_waiter: Optional[asyncio.Future] = None
        self.held: Optional[_PollWaiter] = None
        self.poll_ready = False
        #: an upgrade request is being dispatched from _on_upgrade (reading
        #: was not paused for it)
        self.upgrading = False
        self._peer: Optional[Tuple[str, str]] = None

    @property
    def peer(self) -> Tuple[str, str]:
        """The client's address and port as str (``('', '0')`` when
        unknown); asked of the transport only when an environ needs it."""
        peer = self._peer
        if peer is None:
            peer = ('', '0')
            transport = self.transport
            name = None if transport is None else \
                transport.get_extra_info('peername')
            if isinstance(name, tuple) and len(name) >= 2:
                peer = (str(name[0]), str(name[1]))
            self._peer = peer
        return peer

    # -- asyncio.Protocol -------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        server = self.server
        server.connection_opened(self)
        if server.set_nodelay:
            sock = transport.get_extra_info('socket')
            if sock is not None:
                try:  # answers are one write each: never wait for an ACK
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                except (OSError, AttributeError):
                    pass
        transport.set_write_buffer_limits(high=server.write_buffer_limit)
        if server.shutting_down:
            transport.close()
            return
        self._set_deadline(self.loop.time() + server.header_timeout)

    def data_received(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return  # refused or closing: the rest is not read
        if self.pstate != _BODY:
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._on_upgrade(data[exc.args[0]:])
        except httptools.HttpParserCallbackError as exc:
            if self.refusal:
                self._refuse(self.refusal)
            else:  # a bug, or an application error (callable CORS)
                logger.error('embedded server: error handling a request',
                             exc_info=exc.__context__ or exc)
                self._refuse(500)
        except httptools.HttpParserError:
            self._refuse(400)
        else:
            pstate = self.pstate
            if pstate == _HEAD:
                if self.head_bytes > self.server.max_header_size:
                    self._refuse(431)
            elif pstate == _BODY:
                # a body that makes progress is not timed out
                self.deadline = self.loop.time() + self.server.header_timeout

    def eof_received(self) -> Optional[bool]:
        if self.active is not None and self.held is None:
            # a half-closed client may still read its answer
            self.closing = True
            return True
        return None

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.lost = True
        self.closing = True
        if self.tick:
            self.server.unwatch(self, self.tick)
            self.tick = 0.0
        self.server.connection_closed(self)
        waiter = self.held
        if waiter is not None:
            self.held = None
            self._abort_poll(waiter)
        for request in [self.active] + self.queue:
            if request is not None:
                self._request_lost(request)
        self.queue = []
        for future in (self.drain_waiter, self.closed_waiter):
            if future is not None and not future.done():
                future.set_result(None)
        self.transport = None

    def pause_writing(self) -> None:
        # the client does not read: stop reading its requests too
        self.write_paused = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.transport is not None and not self.read_paused:
            self.transport.resume_reading()
        waiter = self.drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- httptools callbacks ----------------------------------------------

    def on_message_begin(self) -> None:
        self.pstate = _HEAD
        self.url = b''
        server = self.server
        self.head_room = server.max_header_size
        request = self.request = Request(self)
        self.header_list = request.header_list
        self._set_deadline(self.loop.time() + server.header_timeout)

    def on_url(self, url: bytes) -> None:
        url = self.url + url if self.url else url
        self.url = url
        server = self.server
        if len(url) > server.max_request_line:
            self.refusal = 414
            raise ValueError('request target too long')
        self.head_room = server.max_header_size - len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        # one call per header field: kept short.  The head's size (counted
        # as name: value CRLF) is bounded here, which bounds the number of
        # fields too (4 bytes each at least) until on_headers_complete
        # checks it
        self.header_list.append((name, value))
        room = self.head_room = self.head_room - len(name) - len(value) - 4
        if room < 0:
            self.refusal = 431
            raise ValueError('request head too large')

    def on_headers_complete(self) -> None:
        request = self.request
        assert request is not None
        server = self.server
        header_list = request.header_list
        if len(header_list) > server.max_headers:
            self.refusal = 431
            raise ValueError('too many header fields')
        self.pstate = _BODY
        self.head_bytes = 0
        parser = self.parser
        method = parser.get_method()
        request.method = _METHODS.get(method) or method.decode('ascii',
                                                               'replace')
        request.version = parser.get_http_version()
        request.keep_alive = parser.should_keep_alive()
        # lower-case name -> value; a name sent twice is rare: then the
        # values are joined (RFC 9110 5.3) by the slower loop
        get = _HEADER_NAMES.get
        headers = request.headers = {
            get(name) or _header_name(name): value.decode('latin-1')
            for name, value in header_list}
        if len(headers) != len(header_list):
            headers = request.headers = _join_repeated(header_list)
        if not self._parse_target(request):
            self.refusal = 400
            raise ValueError('bad request target')
        if request.version != '1.0' and 'host' not in headers:
            self.refusal = 400
            raise ValueError('HTTP/1.1 request without Host')
        upgrade = headers.get('upgrade')
        request.upgrade = upgrade is not None and \
            upgrade.lower() == 'websocket'
        # a request without a body is complete now: an answer given at once
        # (most Engine.IO requests) keeps the connection alive
        length = headers.get('content-length')
        request.complete = 'transfer-encoding' not in headers and (
            length is None or length.strip() == '0')
        expect = headers.get('expect')
        if expect is not None:
            if expect.lower() != '100-continue':
                self.refusal = 400  # RFC 9110: 417 would do too
                raise ValueError('unsupported Expect')
            request.expect_continue = True
        path = request.path
        if is_endpoint(path, server.engineio_prefix):
            request.route = _ENGINEIO
            request.limit = self.eio.max_http_buffer_size + 1
        else:
            request.limit = server.max_body_size + 1
            static_file = None
            if server.static_files and (request.method == 'GET' or
                                        request.method == 'HEAD'):
                static_file = get_static_file(path, server.static_files)
            if static_file is not None and \
                    os.path.isfile(static_file['filename']):
                request.route = _STATIC
                request.static_file = static_file
            elif server.other_asgi_app is not None and not request.upgrade:
                request.route = _OTHER
            else:
                request.route = _NOT_FOUND
        if self.active is None:
            self.active = request
            self._start(request)
        else:
            self._enqueue(request)

    def on_body(self, data: bytes) -> None:
        request = self.request
        assert request is not None
        size = request.size
        limit = request.limit
        if size >= limit:
            return  # over the limit: the rest is dropped (413 is coming)
        if len(data) > limit - size:
            data = data[:limit - size]
        request.chunks.append(data)
        request.size = size = size + len(data)
        if size >= limit and request is self.active:
            self._body_over_limit(request)
        elif request.body_waiter is not None:
            self._wake_body_waiter(request)

    def on_message_complete(self) -> None:
        request = self.request
        assert request is not None
        self.request = None
        self.pstate = _IDLE
        request.complete = True
        if request is not self.active:
            # queued (it runs when its turn comes), or already answered
            if self.active is None and not self.closing:
                self._set_deadline(self.loop.time() +
                                   self.server.keep_alive_timeout)
            return
        self.deadline = 0.0  # the answer is ours to give: no timeout
        if request.ticket is not None:
            self._finish_post(request)
        elif request.deferred:
            request.deferred = False
            self._dispatch_other(request)
        elif request.body_waiter is not None:
            self._wake_body_waiter(request)

    # -- requests ---------------------------------------------------------

    def _parse_target(self, request: Request) -> bool:
        url = self.url
        try:
            target = url.decode('ascii')
        except UnicodeDecodeError:
            return False  # llhttp lets some bytes through; RFC 3986 does not
        if target[:1] == '/':
            path, _, query = target.partition('?')
        elif target == '*' and request.method == 'OPTIONS':
            path, query = '*', ''
        else:  # absolute form (proxies): http://host/path?query
            try:
                parsed = httptools.parse_url(url)
            except httptools.HttpParserInvalidURLError:
                return False
            path = (parsed.path or b'/').decode('ascii')
            query = (parsed.query or b'').decode('ascii')
        if '#' in path:
            path = path.partition('#')[0]
        if '%' in path:
            path = unquote(path, errors='surrogateescape')
        request.target = target
        request.path = path
        request.query = query
        return True

    def _enqueue(self, request: Request) -> None:
        # a pipelined request: answered after the active one
        queue = self.queue
        queue.append(request)
        if len(queue) > MAX_PIPELINED:
            self.refusal = 400
            raise ValueError('too many pipelined requests')
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def _start(self, request: Request) -> None:
        route = request.route
        if route == _ENGINEIO:
            if request.upgrade and request.leftover is None:
                return  # dispatched by _on_upgrade, which knows the rest
            self._dispatch_engineio(request)
        elif request.complete or request.upgrade:
            self._dispatch_other(request)
        else:
            request.deferred = True
            if request.size >= request.limit:
                self._body_over_limit(request)
            elif request.expect_continue:
                self.transport.write(_CONTINUE)

    def _on_upgrade(self, leftover: bytes) -> None:
        # httptools stops after the head of an upgrade request: nothing
        # more is parsed on this connection, so reading stops (it resumes
        # on the WebSocket), unless the WebSocket took the transport over
        # before this returns (the usual case: then reading never pauses)
        self.read_paused = True
        self.pstate = _IDLE
        request = self.active
        if self.queue or request is None or not request.upgrade or \
                request.leftover is not None:
            request = None
            for candidate in [self.active] + self.queue:
                if candidate is not None and candidate.upgrade and \
                        candidate.leftover is None:
                    request = candidate
        if request is None:
            self._refuse(400)
            return
        request.leftover = leftover
        request.close_after = True
        if request is self.active and request.route == _ENGINEIO:
            self.upgrading = True
            try:
                self._dispatch_engineio(request)
            finally:
                self.upgrading = False
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.pause_reading()  # still ours: the rest waits

    def _environ(self, request: Request) -> Dict[str, Any]:
        """The WSGI-style environ the ``connect`` handler and a callable
        ``cors_allowed_origins`` receive."""
        peer = self.peer
        environ = {
            **self.server.environ_base,
            'REQUEST_METHOD': request.method,
            'PATH_INFO': request.path,
            'QUERY_STRING': request.query,
            'RAW_URI': request.target,
            'SERVER_PROTOCOL': 'HTTP/' + request.version,
            'REMOTE_ADDR': peer[0],
            'REMOTE_PORT': peer[1],
            REQUEST_KEY: request,
        }
        keys = _ENVIRON_KEYS
        for name, value in request.headers.items():
            key = keys.get(name)
            if key is None:
                key = 'HTTP_' + name.upper().replace('-', '_')
                if len(keys) < _MAX_CACHED_NAMES:
                    keys[name] = key
            environ[key] = value
        request.environ = environ
        return environ

    def _dispatch_engineio(self, request: Request) -> None:
        eio = self.eio
        core = eio._core
        headers = request.headers
        if request.upgrade:
            error = websocket_handshake_error(request.method, headers)
            if error is not None:
                logger.info('embedded server: refused WebSocket: %s', error)
                self._plain_response(request, 400, error.encode())
                return
        # The environ is for the connect handler and a callable
        # cors_allowed_origins: a request naming a session (the polling hot
        # path) does not build one unless CORS is a callable
        if 'sid=' in request.query and \
                not callable(eio.cors_allowed_origins):
            environ: Optional[Dict[str, Any]] = None
        else:
            environ = self._environ(request)
        outcome = core.handle_request(request.method, request.query,
                                      headers, self.server.scheme, environ,
                                      self.loop.time())
        kind = type(outcome)
        if kind is HoldPoll:
            session = outcome.session
            waiter = self.held = _PollWaiter(self, request, session)
            session.glue._poll_waiter = waiter
            self.deadline = 0.0
            self._after_core()
        elif kind is ReadBody:
            session = outcome.session
            if not is_original(type(session.glue), 'handle_post_request'):
                if environ is None:
                    environ = self._environ(request)
                session.glue._post_ticket = outcome
                self._after_core()
                if request.expect_continue and not request.complete:
                    self.transport.write(_CONTINUE)
                self._run(self._generic_post(
                    request, session.glue.handle_post_request(environ)))
                return
            request.ticket = outcome
            self._after_core()
            if request.complete or request.size >= request.limit:
                self._finish_post(request)
            elif request.expect_continue:
                self.transport.write(_CONTINUE)
        elif kind is Handshake:
            assert environ is not None
            self._handshake(request, outcome.session, environ)
        elif kind is AcceptWebSocket:
            self._after_core()
            self._accept_websocket(request, outcome)
        else:  # a Response
            task = self._after_core()
            if request.upgrade:
                request.close_after = True
            self._respond(request, outcome, task)

    def _after_core(self) -> Optional['asyncio.Future[Any]']:
        """Perform the core's actions (handlers run inline; a task only if
        one suspends, returned) and keep the heartbeat timer armed."""
        eio = self.eio
        if eio._core.actions:
            calls = eio._perform(True)
            if calls:
                return self._run(eio._run_calls(calls))
        else:
            eio._rearm()
        return None

    def _run(self, coro: Any) -> Optional['asyncio.Future[Any]']:
        return step(self.eio, coro)

    def _handshake(self, request: Request, session: Any,
                   environ: Dict[str, Any]) -> None:
        """Run ``AsyncServer._handshake`` (the ``connect`` handler) stepped
        here, without a coroutine or task of our own: it finishes at once
        unless the handler really suspends, and then a task finishes it."""
        eio = self.eio
        coro = eio._handshake(session, environ)
        try:
            yielded = coro.send(None)
        except StopIteration as finished:
            self._handshake_done(request, finished.value)
            return
        except Exception:
            self._handshake_failed(request)
            return
        eio._track(asyncio.ensure_future(
            self._resume_handshake(request, coro, yielded)))

    async def _resume_handshake(self, request: Request, coro: Any,
                                yielded: Any) -> None:
        try:
            outcome = await Resume(coro, yielded)
        except Exception:
            self._handshake_failed(request)
            return
        self._handshake_done(request, outcome)

    def _handshake_failed(self, request: Request) -> None:
        logger.exception('embedded server: handshake error')
        self._plain_response(request, 500, b'Internal Server Error')

    def _handshake_done(self, request: Request, outcome: Any) -> None:
        # the actions the handshake left (the connect handler may have sent
        # or disconnected) are performed before the answer goes out
        task = self._after_core()
        if type(outcome) is AcceptWebSocket:
            if task is None or task.done():
                self._accept_websocket(request, outcome)
            else:
                task.add_done_callback(
                    lambda _: self._accept_websocket(request, outcome))
            return
        if request.upgrade:
            request.close_after = True
        self._respond(request, outcome, task)

    async def _generic_post(self, request: Request, coro: Any) -> None:
        try:
            response = await coro
        except Exception:
            logger.exception('embedded server: POST handler error')
            self._plain_response(request, 500, b'Internal Server Error')
            return
        if response is not None:
            self._respond(request, response)
        else:
            self._finished(request)

    def _finish_post(self, request: Request) -> None:
        ticket = request.ticket
        request.ticket = None
        if not request.complete:
            request.close_after = True  # the rest of the body is not read
        core = self.eio._core
        response = core.receive_post(ticket, request.body(),
                                     self.loop.time())
        request.chunks = []
        task = self._after_core()
        self._respond(request, response, task)

    def _body_over_limit(self, request: Request) -> None:
        request.close_after = True
        if request.ticket is not None:
            self._finish_post(request)
        elif request.deferred or request.route != _ENGINEIO:
            request.deferred = False
            self._plain_response(request, 413, b'Payload Too Large')
        elif request.body_waiter is not None:
            self._wake_body_waiter(request)

    async def read_body(self, request: Request,
                        limit: int) -> Optional[bytes]:
        """The generic ``read_body`` driver function: the body, at most
        ``limit`` bytes; None if the client left first."""
        while not request.complete and request.size < limit:
            if self.lost:
                return None
            waiter = request.body_waiter = self.loop.create_future()
            try:
                await waiter
            finally:
                request.body_waiter = None
        if not request.complete:
            request.close_after = True
        return request.body()[:limit]

    def _wake_body_waiter(self, request: Request) -> None:
        waiter = request.body_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait_closed(self) -> None:
        """The generic ``wait_disconnect`` driver function."""
        if self.lost:
            return
        if self.closed_waiter is None:
            self.closed_waiter = self.loop.create_future()
        await self.closed_waiter

    def _request_lost(self, request: Request) -> None:
        # the client left before this request was answered
        ticket = request.ticket
        if ticket is not None:
            request.ticket = None
            self.eio._core.post_aborted(ticket)
            self._perform_background()
        self._wake_body_waiter(request)
        if request.environ is not None:
            request.environ.pop(REQUEST_KEY, None)

    def _abort_poll(self, waiter: _PollWaiter) -> None:
        session = waiter.session
        socket_ = session.glue
        if socket_ is not None and socket_._poll_waiter is waiter:
            socket_._poll_waiter = None
        self.eio._core.poll_aborted(session)
        self._perform_background()

    def _perform_background(self) -> None:
        eio = self.eio
        calls = eio._perform(False)
        if calls:
            self._run(eio._run_calls(calls))

    # -- the write batch --------------------------------------------------

    def write_out(self) -> None:
        """Called at the end of the iteration (``server.mark_dirty``):
        answer a held poll the core woke."""
        if not self.poll_ready:
            return
        self.poll_ready = False
        waiter = self.held
        if waiter is None or not waiter.fired:
            return
        self.held = None
        session = waiter.session
        if session.glue is not None and session.glue._poll_waiter is waiter:
            session.glue._poll_waiter = None
        core = self.eio._core
        if waiter.aborted:
            core.poll_aborted(session)
            self._after_core()
            self._finished(waiter.request)
            return
        response = core.answer_poll(session)
        task = self._after_core()
        self._respond(waiter.request, response, task)

    # -- responses --------------------------------------------------------

    def _respond(self, request: Request, response: Any,
                 task: Optional['asyncio.Future[Any]'] = None) -> None:
        """Write a core ``Response`` (after the handlers ``task`` ran)."""
        if task is not None and not task.done():
            task.add_done_callback(
                lambda _: self._respond(request, response))
            return
        self._write_response(request, response.status, ''.join([
            '%s: %s\r\n' % header for header in response.headers
        ]).encode('latin-1'), response.body)
        self._finished(request)

    def _plain_response(self, request: Request, status: int,
                        body: bytes) -> None:
        self._write_response(request, status, (
            'Content-Type: text/plain\r\nContent-Length: %d\r\n'
            % len(body)).encode('ascii'), body)
        self._finished(request)

    def _write_response(self, request: Request, status: int,
                        headers: bytes, body: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if not request.keep_alive or request.close_after or \
                not request.complete or self.server.shutting_down:
            self.closing = True
        if self.closing:
            connection = _CLOSE_HEADER
        elif request.version == '1.0':
            connection = _KEEP_ALIVE_HEADER
        else:
            connection = b''
        if request.method == 'HEAD':
            body = b''
        transport.write(b''.join((status_line(status),
                                  self.server.date_header(), headers,
                                  connection, b'\r\n', body)))

    def start_response(self, request: Request, status: int,
                       headers: bytes) -> None:
        """Write a status line and headers (the ASGI bridge's streaming
        responses); the body follows with :meth:`write`."""
        self._write_response(request, status, headers, b'')

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    async def drain(self) -> None:
        """Wait while the client's write buffer is over its limit."""
        while self.write_paused and not self.lost:
            if self.drain_waiter is None or self.drain_waiter.done():
                self.drain_waiter = self.loop.create_future()
            await self.drain_waiter

    def _finished(self, request: Request) -> None:
        """``request`` was answered: on to the next one, or close."""
        if request.environ is not None:
            # the environ may live on with the session: not this connection
            request.environ.pop(REQUEST_KEY, None)
        if self.active is not request:
            return
        self.active = None
        if self.closing or self.lost:
            self.close()
            return
        if self.pumping:
            return
        self.pumping = True
        try:
            queue = self.queue
            while queue and self.active is None and not self.closing:
                request = self.active = queue.pop(0)
                if not queue and self.read_paused and request.leftover is None:
                    self.read_paused = False
                    if not self.write_paused:
                        self.transport.resume_reading()
                self._start(request)
        finally:
            self.pumping = False
        if self.active is None:
            if self.closing:
                self.close()
            elif self.pstate == _IDLE:
                self._set_deadline(self.loop.time() +
                                   self.server.keep_alive_timeout)

    def _refuse(self, status: int) -> None:
        """Answer a request we cannot parse or accept, then close."""
        self.refusal = 0
        self.closing = True
        active = self.active
        if active is not None and active is self.request and (
                active.deferred or active.ticket is not None):
            # the body of the request in progress is broken: it is refused
            # instead of answered (a POST is aborted: transport error)
            self.active = None
            self._request_lost(active)
        if self.active is None and self.transport is not None:
            body = _REASONS.get(status, 'Error').encode()
            self.transport.write(b''.join((
                status_line(status), self.server.date_header(),
                b'Content-Type: text/plain\r\nContent-Length: %d\r\n'
                % len(body), _CLOSE_HEADER, b'\r\n', body)))
            self.close()
        else:
            self.abort()  # an answer is pending: it cannot come after this

    # -- WebSocket --------------------------------------------------------

    def _accept_websocket(self, request: Request, outcome: Any) -> None:
        core = self.eio._core
        transport = self.transport
        if transport is None or transport.is_closing() or \
                self.server.shutting_down:
            core.websocket_closed(outcome.session, outcome.ws_id)
            self._after_core()
            self._finished(request)
            return
        if request.environ is not None:
            request.environ.pop(REQUEST_KEY, None)
        # this object is done: the WebSocket takes the transport over
        if self.tick:
            self.server.unwatch(self, self.tick)
            self.tick = 0.0
        self.active = None
        self.queue = []
        self.lost = True
        self.transport = None
        # the parser holds this object's callbacks: without the cycle, this
        # object goes now, not in a later garbage collection
        self.parser = None
        server = self.server
        connection = WebSocketConnection(server, transport, outcome.session,
                                         outcome.ws_id)
        # the WebSocket stands where this connection stood (the set of open
        # connections never goes empty here, so no need to tell the server)
        connections = server.connections
        connections.discard(self)
        connections.add(connection)
        transport.set_protocol(connection)
        connection.start(
            _SWITCHING_PROTOCOLS + b2a_base64(sha1(
                request.headers['sec-websocket-key'].encode() +
                _WEBSOCKET_GUID).digest(), newline=False) + b'\r\n\r\n',
            request.leftover or b'',
            # reading was paused (the handshake waited for a handler, or the
            # client for its writes): the WebSocket resumes it
            not self.upgrading or self.write_paused)

    # -- other requests ---------------------------------------------------

    def _dispatch_other(self, request: Request) -> None:
        if request.size >= request.limit:
            request.close_after = True
            self._plain_response(request, 413, b'Payload Too Large')
            return
        route = request.route
        if route == _STATIC:
            self._run(self._serve_static(request))
        elif route == _OTHER:
            from .asgi_bridge import run_http
            self._run(run_http(self.server, self, request))
        else:
            if request.upgrade:
                request.close_after = True
            self._plain_response(request, 404, b'Not Found')

    async def _serve_static(self, request: Request) -> None:
        static_file = request.static_file
        assert static_file is not None
        try:
            payload = await self.loop.run_in_executor(
                None, _read_file, static_file['filename'])
        except OSError:
            self._plain_response(request, 404, b'Not Found')
            return
        self._write_response(request, 200, (
            'Content-Type: %s\r\nContent-Length: %d\r\n' % (
                static_file['content_type'], len(payload))).encode('latin-1'),
            payload)
        self._finished(request)

    # -- timeouts and closing ---------------------------------------------

    def _set_deadline(self, when: float) -> None:
        # Lazy: moving the deadline later only stores it (the server calls
        # _on_timer at the tick watched, which watches again if the deadline
        # moved), so a request costs no timer.  No loop timer per connection
        # either: the server's ticks are shared (EmbeddedServer.watch).
        self.deadline = when
        tick = self.tick
        if not tick or when < tick - DEADLINE_TICK:
            server = self.server
            if tick:
                server.unwatch(self, tick)
            self.tick = server.watch(self, when)

    def _on_timer(self) -> None:
        """The server's tick for this connection came."""
        self.tick = 0.0
        when = self.deadline
        if not when or self.lost:
            return
        if self.loop.time() < when:
            self.tick = self.server.watch(self, when)
            return
        self.deadline = 0.0
        if self.pstate != _IDLE:
            # a head (or a body) that did not arrive in time
            request = self.request
            if request is not None and request is self.active:
                self.active = None
                self._request_lost(request)
            self._refuse(408)
        elif self.active is None:
            self.close()  # idle keep-alive connection

    def begin_shutdown(self) -> None:
        """The server is shutting down: close when idle, else after the
        current answer."""
        self.closing = True
        if self.active is None and self.pstate == _IDLE:
            self.close()

    def close(self) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.close()

    def abort(self) -> None:
        transport = self.transport
        if transport is not None:
            transport.abort()


def _read_file(filename: str) -> bytes:
    with open(filename, 'rb') as f:
        return f.read()
