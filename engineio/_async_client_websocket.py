"""Our own RFC 6455 client connection on asyncio, for ``AsyncClient``.

An :class:`asyncio.Protocol` (the default loop and uvloop alike) around the
sans-I/O pieces of :mod:`engineio._client_websocket` that the sync client
uses too: :class:`~engineio._client_websocket.Handshake` (the request, the
answer checked) and :class:`~engineio._client_websocket.FrameCodec` (masked
frames out with pooled keys, the kernel's incremental parser in, pings
answered, the closing handshake, 1002/1007/1009 on bad frames).

Why a protocol and not a reader task: received bytes are parsed in
``data_received`` and each message handed to the client's callback right
there, with no task, queue or future per frame; writes go straight to
``transport.write`` from whoever sends (the transport keeps order and
buffers what the socket does not take; ``pause_writing`` /
``resume_writing`` let senders wait in :meth:`AsyncClientWebSocket.drain`).
Until the client installs its callbacks (:meth:`set_handlers`, once its
handshake is done), messages wait in a deque for :meth:`recv`.

:func:`connect` opens one: TCP (``TCP_NODELAY``), optionally an HTTP proxy's
``CONNECT`` tunnel, TLS through the ``ssl.SSLContext`` given, then the
opening handshake, all bounded by ``timeout``.  :data:`OPTIONS` lists the
``websocket_extra_options`` keys ``AsyncClient`` honours (the names of
aiohttp's ``ws_connect()``, which python-engineio passed them to).
"""
from __future__ import annotations

import asyncio
import ssl
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Tuple, \
    Union

from . import _async_tcp as _tcp
from . import _client_websocket as _cws
from ._client_websocket import (WebSocketClosed, WebSocketError,
                                WebSocketHandshakeError, WebSocketTimeout)

__all__ = ['OPTIONS', 'IGNORED_OPTIONS', 'AsyncClientWebSocket', 'connect',
           'check_options', 'WebSocketError', 'WebSocketHandshakeError',
           'WebSocketTimeout', 'WebSocketClosed']

#: ``websocket_extra_options`` keys ``AsyncClient`` honours: aiohttp
#: ``ws_connect()``'s names, which python-engineio passed them on to.
#:
#: * ``headers`` (merged over connect()'s), ``origin``, ``auth`` (an
#:   ``aiohttp.BasicAuth``), ``params`` (added to the query string),
#:   ``protocols`` (subprotocols offered);
#: * ``ssl`` (``False``: no verification; an ``ssl.SSLContext``; an
#:   ``aiohttp.Fingerprint``), and its deprecated spellings ``verify_ssl``,
#:   ``ssl_context``, ``fingerprint``; ``server_hostname`` (SNI and the name
#:   checked);
#: * ``proxy`` (an ``http://`` URL: a ``CONNECT`` tunnel), ``proxy_auth``,
#:   ``proxy_headers``;
#: * ``timeout`` (an ``aiohttp.ClientWSTimeout``, or seconds: how long the
#:   closing handshake may take), ``heartbeat`` (seconds between WebSocket
#:   pings; a ping unanswered by the next one ends the connection),
#:   ``max_msg_size`` (the largest message accepted, bytes; 0 for no limit;
#:   default: the client's ``max_message_size``);
#: * ``method``: ``'GET'`` only; ``compress``: 0 only (permessage-deflate is
#:   not offered), anything else a ValueError.
OPTIONS = frozenset([
    'headers', 'origin', 'auth', 'params', 'protocols', 'ssl', 'verify_ssl',
    'ssl_context', 'fingerprint', 'server_hostname', 'proxy', 'proxy_auth',
    'proxy_headers', 'timeout', 'heartbeat', 'max_msg_size', 'method',
    'compress', 'receive_timeout', 'autoclose', 'autoping', 'decode_text'])

#: accepted and ignored: the client always answers pings and completes the
#: closing handshake (``autoping``, ``autoclose``), always decodes text
#: (``decode_text``), and waits for the server's packets with the heartbeat
#: deadline of the Engine.IO protocol (``receive_timeout``)
IGNORED_OPTIONS = frozenset(['receive_timeout', 'autoclose', 'autoping',
                             'decode_text'])

_TUNNEL, _HANDSHAKE, _OPEN = 0, 1, 2


def check_options(options: Any) -> None:
    """ValueError for a ``websocket_extra_options`` key that is not in
    :data:`OPTIONS`, or a value this client cannot honour."""
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        raise ValueError('Unsupported websocket_extra_options: %s (valid: %s)'
                         % (', '.join(unknown), ', '.join(sorted(OPTIONS))))
    if str(options.get('method', 'GET')).upper() != 'GET':
        raise ValueError('A WebSocket is opened with GET, not %s'
                         % options['method'])
    if options.get('compress'):
        raise ValueError('compress: permessage-deflate is not supported')


async def _within(awaitable: Any, timeout: Optional[float]) -> Any:
    """``await awaitable`` for at most ``timeout`` seconds (TimeoutError
    after); ``asyncio.timeout`` where there is one (3.11+), which costs a
    timer where ``wait_for`` cost a task."""
    if timeout is None:
        return await awaitable
    deadline = getattr(asyncio, 'timeout', None)
    if deadline is None:  # pragma: no cover (Python < 3.11)
        return await asyncio.wait_for(awaitable, timeout)
    async with deadline(timeout):
        return await awaitable


def _expire(waiter: asyncio.Future[None], timeout: float) -> None:
    if not waiter.done():
        waiter.set_exception(WebSocketTimeout(
            'no data from the server in %.1f s' % timeout))


class AsyncClientWebSocket(asyncio.Protocol):
    """One client WebSocket on asyncio (see the module).

    Made by :func:`connect`.  ``send``/``send_many`` write at once (no-ops
    once the connection is closing: whoever owns it learns of the end from
    the close callback); ``paused`` tells a sender to ``await drain()``;
    ``recv(timeout)`` returns the next message until :meth:`set_handlers`
    takes over; ``close()`` runs the closing handshake; ``abort()`` drops
    the connection.  ``closed`` is ``(code, reason)`` once it is over for
    reading, ``response_headers`` the headers of the handshake answer.
    """

    def __init__(self, handshake: _cws.Handshake, max_size: Optional[int],
                 loop: asyncio.AbstractEventLoop, fingerprint: Any = None,
                 tunnel: Optional[bytes] = None) -> None:
        self.transport: Any = None
        self.paused = False
        self._loop = loop
        self._handshake: Any = handshake
        self._codec = _cws.FrameCodec(max_size)
        self._fingerprint = fingerprint
        self._tunnel = tunnel
        self._state = _TUNNEL if tunnel else _HANDSHAKE
        self._buffer = b''
        #: bytes of the first request (the tunnel's, else the handshake)
        #: sent with the connection by engineio._async_tcp.open_socket
        self._sent_early = 0
        #: resolved when the tunnel, then the handshake, is done
        self._step: Any = loop.create_future()
        #: the connection is gone; ``_lost`` (made when someone waits for
        #: it) is resolved then
        self._is_lost = False
        self._lost: Optional[asyncio.Future[None]] = None
        #: the headers of the handshake's answer (for their cookies)
        self.response_headers: Dict[str, str] = {}
        self._messages: Deque[Union[str, bytes]] = deque()
        self._waiter: Optional[asyncio.Future[None]] = None
        self._drain_waiters: Optional[List[asyncio.Future[None]]] = None
        self._on_message: Optional[Callable[[Any], None]] = None
        self._on_close: Optional[Callable[[int, str], None]] = None
        self._close_reported = False
        self._keepalive: Any = None

    @property
    def closed(self) -> Optional[Tuple[int, str]]:
        return self._codec.closed

    # -- asyncio.Protocol --------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        # TCP_NODELAY: set by engineio._async_tcp.open_socket
        self.transport = transport
        if self._tunnel:
            self._write_rest(self._tunnel)
        else:
            self._send_handshake()

    def _write_rest(self, data: bytes) -> None:
        """Write ``data`` but what open_socket already sent of it."""
        early, self._sent_early = self._sent_early, 0
        if early < len(data):
            self.transport.write(data[early:] if early else data)

    def _send_handshake(self) -> None:
        if self._fingerprint is not None:
            try:
                self._fingerprint.check(self.transport)
            except Exception as exc:
                self._fail(exc)
                return
        self._state = _HANDSHAKE
        self._write_rest(self._handshake.request)

    def data_received(self, data: bytes) -> None:
        if self._state == _OPEN:
            codec = self._codec
            messages = codec.receive(data)
            if codec.pending_control:
                self._write_control()
            if messages:
                on_message = self._on_message
                if on_message is None:
                    self._messages.extend(messages)
                    self._wake()
                else:
                    for message in messages:
                        on_message(message)
            if codec.closed is not None:
                self._report_close()
        elif self._state == _HANDSHAKE:
            try:
                rest = self._handshake.receive(data)
            except WebSocketHandshakeError as exc:
                self._fail(exc)
                return
            if rest is None:
                return
            self._state = _OPEN
            self.response_headers = self._handshake.response_headers
            self._step_done()
            if rest:
                self.data_received(rest)
        else:
            self._buffer += data
            try:
                head = _cws.parse_head(self._buffer, 'proxy CONNECT')
                if head is None:
                    return
                _cws.check_tunnel_answer(head[0], head[2])
            except WebSocketHandshakeError as exc:
                self._fail(exc)
                return
            self._buffer = b''
            self._state = _HANDSHAKE
            self._step_done()

    def eof_received(self) -> bool:
        self._codec.receive_eof()
        return False  # the transport closes itself

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self._codec.lost(str(exc) if exc else
                         'connection closed without a close frame')
        step = self._step
        if step is not None and not step.done():
            step.set_exception(
                WebSocketHandshakeError('connection closed during the %s' % (
                    'proxy CONNECT' if self._state == _TUNNEL
                    else 'WebSocket handshake')))
        self._is_lost = True
        lost = self._lost
        if lost is not None and not lost.done():
            lost.set_result(None)
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None
        self.paused = False
        self._release_drain()
        self._report_close()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._release_drain()

    # -- opening -----------------------------------------------------------

    def _step_done(self) -> None:
        step = self._step
        if step is not None and not step.done():
            step.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        step = self._step
        if step is not None and not step.done():
            step.set_exception(exc)
        self.abort()

    async def _open(self, secure: bool, ssl_context: Any,
                    server_hostname: Optional[str],
                    proxy: Optional[Tuple[str, int]],
                    transport: Any = None) -> None:
        loop = self._loop
        handshake = self._handshake
        if transport is not None:
            # an idle connection to the server already (the polling
            # transport's, for the upgrade): the handshake goes on it
            transport.set_protocol(self)
            self.connection_made(transport)
        elif proxy is None:
            # a plain handshake goes out with the connection (see
            # engineio._async_tcp); TLS has to be set up first
            sock, self._sent_early = await _tcp.open_socket(
                loop, handshake.host, handshake.port,
                b'' if secure else handshake.request)
            try:
                await loop.create_connection(
                    lambda: self, sock=sock,
                    ssl=ssl_context if secure else None,
                    server_hostname=(server_hostname or handshake.host)
                    if secure else None)
            except BaseException:
                sock.close()
                raise
        else:
            sock, self._sent_early = await _tcp.open_socket(
                loop, proxy[0], proxy[1], self._tunnel or b'')
            try:
                await loop.create_connection(lambda: self, sock=sock)
            except BaseException:
                sock.close()
                raise
            await self._step
            self._step = loop.create_future()
            if secure:
                self.transport = await loop.start_tls(
                    self.transport, self, ssl_context,
                    server_hostname=server_hostname or handshake.host)
            self._send_handshake()
        await self._step
        # open: what only the opening needed goes (an idle connection keeps
        # as few objects as it can)
        self._step = None
        self._tunnel = None
        self._handshake = None

    # -- reading -----------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def recv(self, timeout: Optional[float] = None
                   ) -> Union[str, bytes]:
        """The next message (before :meth:`set_handlers`).  Raises
        WebSocketTimeout after ``timeout`` seconds without one,
        WebSocketClosed once the connection is over."""
        while not self._messages:
            if self._codec.closed is not None:
                raise WebSocketClosed(*self._codec.closed)
            waiter = self._waiter = self._loop.create_future()
            # a timer on the future, not asyncio.timeout(): nothing but the
            # future to cancel, no task cancellation to undo
            timer = None if timeout is None else self._loop.call_later(
                timeout, _expire, waiter, timeout)
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
        return self._messages.popleft()

    def set_handlers(self, on_message: Optional[Callable[[Any], None]],
                     on_close: Optional[Callable[[int, str], None]]) -> None:
        """From now on call ``on_message(message)`` for each message (those
        already received first, now) and ``on_close(code, reason)`` once
        when the connection is over; None for both detaches the owner."""
        self._on_message = on_message
        self._on_close = on_close
        while on_message is not None and self._messages:
            on_message(self._messages.popleft())
        if self._codec.closed is not None:
            self._report_close()

    def _report_close(self) -> None:
        if self._codec.closed is not None and self.transport is not None \
                and not self.transport.is_closing():
            # the close frames were exchanged, or the stream failed
            self.transport.close()
        self._wake()
        on_close = self._on_close
        if on_close is not None and not self._close_reported:
            self._close_reported = True
            on_close(*self._codec.closed)  # type: ignore[misc]

    # -- writing -----------------------------------------------------------

    def send(self, data: Union[str, bytes]) -> None:
        """Write one message (str: text, bytes: binary)."""
        codec = self._codec
        if codec.close_sent or codec.closed is not None:
            return
        self.transport.write(codec.encode(data))

    def send_many(self, messages: Sequence[Union[str, bytes]]) -> None:
        """Write several messages in one call."""
        codec = self._codec
        if codec.close_sent or codec.closed is not None or not messages:
            return
        self.transport.write(codec.encode_many(messages))

    async def drain(self) -> None:
        """Wait while the transport's buffer is over its high-water mark
        (until it drains or the connection is lost)."""
        if self.paused and not self._is_lost:
            waiter = self._loop.create_future()
            if self._drain_waiters is None:
                self._drain_waiters = []
            self._drain_waiters.append(waiter)
            await waiter

    def _release_drain(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def _write_control(self) -> None:
        frames = self._codec.control_frames()
        if frames and not self.transport.is_closing():
            self.transport.write(frames)

    def keepalive(self, interval: float) -> None:
        """Send a ping every ``interval`` seconds; a ping still unanswered
        when the next is due ends the connection (1006)."""
        def ping(answered: int) -> None:
            codec = self._codec
            if codec.closed is not None or codec.close_sent:
                return
            if codec.pongs < answered:
                codec.lost('no pong from the server in %g s' % interval)
                self._report_close()
                return
            self.transport.write(codec.encode_ping())
            self._keepalive = self._loop.call_later(interval, ping,
                                                    codec.pongs + 1)
        self._keepalive = self._loop.call_later(interval, ping, 0)

    # -- ending ------------------------------------------------------------

    async def close(self, code: int = 1000, timeout: float = 2.0) -> None:
        """Send the close frame, wait up to ``timeout`` seconds for the
        server's answer and the end of the connection, then drop it."""
        transport = self.transport
        if transport is None:
            return
        if not transport.is_closing():
            frame = self._codec.close_frame(code)
            if frame:
                transport.write(frame)
        if not self._is_lost:
            if self._lost is None:
                self._lost = self._loop.create_future()
            try:
                await _within(asyncio.shield(self._lost), timeout)
            except asyncio.TimeoutError:
                pass
        self.abort()

    def abort(self) -> None:
        """Drop the connection now."""
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None
        if self.transport is not None:
            self.transport.abort()


async def connect(url: str, *, headers: Sequence[Tuple[str, str]] = (),
                  timeout: Optional[float] = None,
                  ssl_context: Optional[ssl.SSLContext] = None,
                  server_hostname: Optional[str] = None,
                  fingerprint: Any = None,
                  proxy: Optional[Tuple[str, int]] = None,
                  proxy_headers: Sequence[Tuple[str, str]] = (),
                  subprotocols: Optional[Sequence[str]] = None,
                  max_size: Optional[int] = None,
                  transport: Any = None) -> AsyncClientWebSocket:
    """Open a WebSocket to ``url`` (``ws://`` or ``wss://``) within
    ``timeout`` seconds.

    ``headers`` are added to the handshake (a ``Host`` among them replaces
    ours); ``ssl_context`` is required for ``wss``; ``fingerprint`` (an
    ``aiohttp.Fingerprint``) is checked against the server's certificate;
    ``proxy`` is ``(host, port)`` of an HTTP proxy to tunnel through, with
    ``proxy_headers`` on the ``CONNECT``.  ``transport``: an open, idle
    connection to the server (or through the proxy's tunnel) to make the
    handshake on instead of opening one (the polling transport's
    keep-alive connection at an upgrade, as aiohttp's pool reused it); it
    is the WebSocket's from then on, closed with it.  Raises WebSocketHandshakeError
    when the server (or the proxy) refuses, WebSocketTimeout when it is too
    slow, ``ssl.SSLError`` when TLS fails (an untrusted certificate
    included), OSError when the network does, ValueError for a bad URL.
    """
    loop = asyncio.get_running_loop()
    handshake = _cws.Handshake(url, headers, subprotocols)
    if handshake.secure and ssl_context is None:
        raise ValueError('wss needs an ssl_context')
    tunnel = _cws.tunnel_request(handshake.host, handshake.port,
                                 headers=proxy_headers) if proxy else None
    ws = AsyncClientWebSocket(handshake, max_size, loop, fingerprint, tunnel)
    try:
        await _within(ws._open(handshake.secure, ssl_context, server_hostname,
                               proxy, transport), timeout)
    except asyncio.TimeoutError:
        ws.abort()
        raise WebSocketTimeout('no WebSocket handshake answer in %g s'
                               % (timeout or 0)) from None
    except BaseException:
        ws.abort()
        raise
    return ws
