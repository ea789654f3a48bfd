"""Our own RFC 6455 client: the sans-I/O core both clients share, and the
blocking connection of the sync ``Client``.

The sans-I/O part (no sockets, no threads, no asyncio) is what the sync
client (here) and ``AsyncClient`` (:mod:`engineio._async_client_websocket`)
have in common, decided once:

* :class:`Handshake`: the opening request (the ``Sec-WebSocket-Key``, the
  headers) and the check of the answer (status 101, the Upgrade headers, the
  ``Sec-WebSocket-Accept`` value, no extension or subprotocol that was not
  offered), fed whatever bytes arrive; :func:`parse_head` (an HTTP answer's
  head, bounded) and :func:`tunnel_request`/:func:`check_tunnel_answer` (an
  HTTP proxy's ``CONNECT``) under it;
* :class:`FrameCodec`: the frames of one open connection.  Outgoing frames
  are masked with keys sliced from a pool of ``os.urandom(4096)`` (one
  system call per 1024 frames, not one per frame); incoming bytes go to the
  kernel's incremental :class:`FrameParser` (``engineio._speedups``), pings
  are answered, the closing handshake followed, and the close codes the
  parser decides (1002, 1007, 1009 for a message over ``max_size``) sent.

The sync connection (:func:`connect`, :class:`ClientWebSocket`) is a
blocking WebSocket over ``socket``/``ssl`` (so gevent's and eventlet's
monkey-patching turn it green): the handshake directly or through an HTTP
proxy, over TLS when the URL is ``wss`` (verification on unless ``cert_reqs``
says otherwise); reading from one thread, writing from any thread,
serialised by one lock.  Concurrent reading and writing on one TLS socket
relies on CPython's ``ssl`` module, as websocket-client did.

:func:`check_options` validates the sync client's
``websocket_extra_options``: the keys python-engineio passed on to
websocket-client's ``create_connection`` that mean something here (see
:data:`OPTIONS`); anything else is a ValueError, so that a misspelt option is
not silently ignored.
"""
from __future__ import annotations

import base64
import hashlib
import os
import select
import socket
import ssl
import threading
import time
import urllib.parse
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Sequence, Tuple, Union

from . import _kernel_timeouts as _kt
from ._speedups import websocket as _ws

__all__ = ['OPTIONS', 'SSL_OPTIONS', 'WebSocketError',
           'WebSocketHandshakeError', 'WebSocketTimeout', 'WebSocketClosed',
           'Handshake', 'FrameCodec', 'parse_head', 'tunnel_request',
           'check_tunnel_answer', 'accept_key', 'ClientWebSocket',
           'check_options', 'make_ssl_context', 'connect']

#: ``websocket_extra_options`` keys the sync client honours (websocket-client's
#: names, plus ``max_size``):
#:
#: * ``timeout``: seconds for connecting, the handshake and each write
#:   (default: the client's ``request_timeout``);
#: * ``header``: extra handshake headers, a dict or a list of
#:   ``'Name: value'`` strings; ``cookie``: the ``Cookie`` header (replaces
#:   the cookies taken from the HTTP session); ``origin``: an ``Origin``
#:   header (none is sent otherwise); ``host``: the ``Host`` header;
#:   ``subprotocols``: a list offered in ``Sec-WebSocket-Protocol``;
#: * ``sslopt``: a dict of TLS settings (:data:`SSL_OPTIONS`), merged over
#:   those taken from the HTTP session (``verify``, ``cert``);
#: * ``sockopt``: ``(level, option, value)`` tuples for ``setsockopt``;
#: * ``http_proxy_host``, ``http_proxy_port`` (default 80),
#:   ``http_proxy_auth`` (``(user, password)``), ``http_no_proxy`` (host
#:   names that bypass the proxy), ``http_proxy_timeout``, ``proxy_type``
#:   (only ``'http'``: a ``CONNECT`` tunnel);
#: * ``max_size``: the largest message accepted, in bytes (default: the
#:   client's ``max_message_size``);
#: * ``enable_multithread``, ``skip_utf8_validation``, ``suppress_origin``:
#:   accepted and ignored (writes are always serialised, text is always
#:   validated, no ``Origin`` is sent unless asked).
OPTIONS = frozenset([
    'timeout', 'header', 'cookie', 'origin', 'host', 'subprotocols',
    'sslopt', 'sockopt', 'http_proxy_host', 'http_proxy_port',
    'http_proxy_auth', 'http_no_proxy', 'http_proxy_timeout', 'proxy_type',
    'max_size', 'enable_multithread', 'skip_utf8_validation',
    'suppress_origin'])

#: ``sslopt`` keys: ``cert_reqs`` (``ssl.CERT_REQUIRED`` by default,
#: ``ssl.CERT_NONE`` turns verification off), ``check_hostname``,
#: ``ca_certs`` (a CA bundle file), ``ca_cert_path`` (a directory),
#: ``certfile``/``keyfile``/``password`` (a client certificate),
#: ``ciphers``, ``server_hostname`` (SNI and the name checked), ``context``
#: (a ready ``ssl.SSLContext``, used as is).
SSL_OPTIONS = frozenset([
    'cert_reqs', 'check_hostname', 'ca_certs', 'ca_cert_path', 'certfile',
    'keyfile', 'password', 'ciphers', 'server_hostname', 'context'])

_GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
_RECV_SIZE = 65536
#: the opening handshake answer (status line and headers) may not be longer
_MAX_HANDSHAKE = 65536
#: masking keys are sliced from this many random bytes at a time; the first
#: refill of a connection is smaller: many connections send a few frames
#: only, and ``os.urandom(4096)`` costs tens of microseconds
_KEY_POOL = 4096
_FIRST_KEY_POOL = 256
_OP_TEXT, _OP_BINARY, _OP_CLOSE = _ws.OP_TEXT, _ws.OP_BINARY, _ws.OP_CLOSE
_OP_PING, _OP_PONG = _ws.OP_PING, _ws.OP_PONG
_build_frame = _ws.build_frame


class WebSocketError(Exception):
    """The WebSocket cannot be opened or used; the message says why."""


class WebSocketHandshakeError(WebSocketError):
    """The server refused the opening handshake (``status``: its HTTP
    status, 0 when the answer was not HTTP)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class WebSocketTimeout(WebSocketError):
    """Nothing arrived within the time given to :meth:`recv`."""


class WebSocketClosed(WebSocketError):
    """The connection is over: ``code`` is the close code (1006 when it was
    lost without a close frame), ``reason`` says why."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__('WebSocket closed (%d%s)' % (
            code, ': ' + reason if reason else ''))
        self.code = code
        self.reason = reason


def check_options(options: Dict[str, Any]) -> None:
    """ValueError for a key of ``websocket_extra_options`` (or of its
    ``sslopt``) that this client does not know, or a proxy type other than
    ``'http'``."""
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        raise ValueError('Unsupported websocket_extra_options: %s (valid: %s)'
                         % (', '.join(unknown), ', '.join(sorted(OPTIONS))))
    sslopt = options.get('sslopt') or {}
    unknown = sorted(set(sslopt) - SSL_OPTIONS)
    if unknown:
        raise ValueError('Unsupported sslopt options: %s (valid: %s)'
                         % (', '.join(unknown), ', '.join(sorted(SSL_OPTIONS))))
    if options.get('proxy_type', 'http') != 'http':
        raise ValueError('Only HTTP proxies are supported (proxy_type=%r)'
                         % options['proxy_type'])


def _default_ca_file() -> Optional[str]:
    # requests verifies against certifi's bundle: use the same one, so that
    # a server the polling transport trusts is trusted on WebSocket too
    try:
        import certifi  # type: ignore[import-not-found]
        return certifi.where()  # type: ignore[no-any-return]
    except ImportError:  # pragma: no cover
        return None


def make_ssl_context(sslopt: Dict[str, Any]) -> ssl.SSLContext:
    """The TLS context for ``sslopt`` (see :data:`SSL_OPTIONS`): verifying
    the server's certificate and name unless told otherwise."""
    context = sslopt.get('context')
    if context is not None:
        return context  # type: ignore[no-any-return]
    cafile = sslopt.get('ca_certs')
    capath = sslopt.get('ca_cert_path')
    context = ssl.create_default_context(cafile=cafile, capath=capath)
    if cafile is None and capath is None:
        default = _default_ca_file()
        if default:
            context.load_verify_locations(cafile=default)
    cert_reqs = sslopt.get('cert_reqs', ssl.CERT_REQUIRED)
    context.check_hostname = bool(sslopt.get(
        'check_hostname', cert_reqs != ssl.CERT_NONE))
    context.verify_mode = cert_reqs
    if sslopt.get('certfile'):
        context.load_cert_chain(sslopt['certfile'], sslopt.get('keyfile'),
                                sslopt.get('password'))
    if sslopt.get('ciphers'):
        context.set_ciphers(sslopt['ciphers'])
    return context


# -- the handshake, sans I/O --------------------------------------------------

def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value a server must answer ``key`` with."""
    return base64.b64encode(hashlib.sha1(
        key.encode('ascii') + _GUID).digest()).decode('ascii')


def parse_head(data: bytes, what: str
               ) -> Optional[Tuple[int, Dict[str, str], bytes]]:
    """An HTTP answer's head from the bytes received so far: ``(status,
    headers, bytes after the head)``, or None while it is incomplete.

    Header names are lower-cased; repeated headers are joined with ``', '``
    (``Set-Cookie`` with a newline, which ``SimpleCookie.load`` reads).
    Raises WebSocketHandshakeError for an answer that is not HTTP, has a
    malformed header, or whose head is longer than :data:`_MAX_HANDSHAKE`
    (``what`` names the exchange in the message).
    """
    end = data.find(b'\r\n\r\n')
    if end < 0:
        if len(data) > _MAX_HANDSHAKE:
            raise WebSocketHandshakeError('%s answer too long' % what)
        return None
    if end > _MAX_HANDSHAKE:
        raise WebSocketHandshakeError('%s answer too long' % what)
    lines = data[:end].decode('latin-1').split('\r\n')
    parts = lines[0].split(None, 2)
    if len(parts) < 2 or not parts[0].startswith('HTTP/') or \
            not parts[1].isdigit():
        raise WebSocketHandshakeError('%s answer is not HTTP: %r'
                                      % (what, lines[0][:80]))
    headers: Dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(':')
        if not sep:
            raise WebSocketHandshakeError('malformed header in the %s answer'
                                          % what)
        name = name.strip().lower()
        value = value.strip()
        if name in headers:
            # Set-Cookie values hold commas (dates): one per line instead
            value = headers[name] + ('\n' if name == 'set-cookie'
                                     else ', ') + value
        headers[name] = value
    return int(parts[1]), headers, data[end + 4:]


def _check_header_lines(lines: Sequence[str]) -> bytes:
    for line in lines:
        if '\r' in line or '\n' in line:
            raise ValueError('Invalid character in handshake header %r'
                             % line)
    return ('\r\n'.join(lines) + '\r\n\r\n').encode('utf-8')


def _host_port(host: str, port: int) -> str:
    return '[%s]:%d' % (host, port) if ':' in host else '%s:%d' % (host, port)


def tunnel_request(host: str, port: int,
                   auth: Optional[Tuple[str, str]] = None,
                   headers: Sequence[Tuple[str, str]] = ()) -> bytes:
    """The ``CONNECT`` request asking an HTTP proxy for a tunnel to
    ``host:port`` (``auth``: Basic credentials; ``headers``: more
    headers, e.g. a ready ``Proxy-Authorization``)."""
    target = _host_port(host, port)
    lines = ['CONNECT %s HTTP/1.1' % target, 'Host: %s' % target]
    if auth:
        token = base64.b64encode(('%s:%s' % tuple(auth)).encode('utf-8'))
        lines.append('Proxy-Authorization: Basic ' + token.decode('ascii'))
    lines.extend('%s: %s' % (name, value) for name, value in headers)
    return _check_header_lines(lines)


def check_tunnel_answer(status: int, rest: bytes) -> None:
    """WebSocketHandshakeError unless the proxy opened the tunnel (200, and
    nothing sent through it yet)."""
    if status != 200:
        raise WebSocketHandshakeError(
            'proxy refused the tunnel with status %d' % status, status)
    if rest:
        raise WebSocketHandshakeError('proxy sent data before the tunnel '
                                      'was used')


#: ``scheme://netloc`` -> (secure, host, port, Host header): every
#: connection of a client goes to the same place, with a new query string
#: (the timestamp) each time
_origins: Dict[str, Tuple[bool, str, int, str]] = {}


def _split_url(url: str) -> Tuple[bool, str, int, str, str]:
    """``(secure, host, port, Host header, request target)`` of a ``ws``/
    ``wss`` URL; ValueError for another scheme or no host.  The origin's
    parse is cached (urlsplit on every connection's unique URL would also
    fill urllib's own cache with entries never used again)."""
    scheme_end = url.find('://')
    cut = len(url)
    for stop in '/?#':
        found = url.find(stop, scheme_end + 3 if scheme_end >= 0 else 0)
        if 0 <= found < cut:
            cut = found
    origin = url[:cut]
    known = _origins.get(origin)
    if known is None:
        parsed = urllib.parse.urlsplit(origin)
        if parsed.scheme not in ('ws', 'wss') or not parsed.hostname:
            raise ValueError('Invalid WebSocket URL %r' % url)
        secure = parsed.scheme == 'wss'
        known = (secure, parsed.hostname,
                 parsed.port or (443 if secure else 80),
                 parsed.netloc.rpartition('@')[2])
        if len(_origins) >= 64:
            _origins.clear()
        _origins[origin] = known
    rest = url[cut:].partition('#')[0]
    if not rest.startswith('/'):
        rest = '/' + rest
    return known + (rest,)  # type: ignore[return-value]


class Handshake:
    """The opening handshake of one client WebSocket, sans I/O.

    From ``url`` (``ws://`` or ``wss://``; ValueError otherwise) it knows
    where to connect (``host``, ``port``, ``secure``) and what to send
    (``request``: ``headers`` added, a ``Host`` among them replacing ours,
    ``subprotocols`` offered).  :meth:`receive` is then fed the answer's
    bytes as they come.  ``response_headers`` holds the answer's headers once
    it was accepted (for its cookies).
    """

    def __init__(self, url: str, headers: Sequence[Tuple[str, str]] = (),
                 subprotocols: Optional[Sequence[str]] = None) -> None:
        self.secure, self.host, self.port, host_header, target = \
            _split_url(url)
        self.subprotocols = list(subprotocols or ())
        self.key = base64.b64encode(os.urandom(16)).decode('ascii')
        self.response_headers: Dict[str, str] = {}
        self._buffer = b''
        extra = []
        for name, value in headers:
            if name.lower() == 'host':
                host_header = value
            else:
                extra.append('%s: %s' % (name, value))
        lines = ['GET %s HTTP/1.1' % target, 'Host: %s' % host_header,
                 'Upgrade: websocket', 'Connection: Upgrade',
                 'Sec-WebSocket-Key: ' + self.key, 'Sec-WebSocket-Version: 13']
        if self.subprotocols:
            lines.append('Sec-WebSocket-Protocol: ' + ', '.join(
                self.subprotocols))
        lines.extend(extra)
        #: the bytes to send
        self.request = _check_header_lines(lines)

    def receive(self, data: bytes) -> Optional[bytes]:
        """Feed bytes of the answer.  None while the head is incomplete;
        once it is complete and accepted, the bytes received after it (the
        first frames, already).  Raises WebSocketHandshakeError when the
        server refused or answered wrong."""
        self._buffer += data
        head = parse_head(self._buffer, 'WebSocket handshake')
        if head is None:
            return None
        self._buffer = b''
        status, answer, rest = head
        if status != 101:
            raise WebSocketHandshakeError(
                'WebSocket handshake refused with status %d' % status, status)
        if answer.get('upgrade', '').lower() != 'websocket' or \
                'upgrade' not in answer.get('connection', '').lower():
            raise WebSocketHandshakeError('WebSocket handshake answer without '
                                          'the Upgrade headers', status)
        if answer.get('sec-websocket-accept') != accept_key(self.key):
            raise WebSocketHandshakeError('WebSocket handshake answer with a '
                                          'wrong Sec-WebSocket-Accept', status)
        if answer.get('sec-websocket-extensions'):
            raise WebSocketHandshakeError('server chose a WebSocket extension '
                                          'that was not offered', status)
        protocol = answer.get('sec-websocket-protocol')
        if protocol and protocol not in self.subprotocols:
            raise WebSocketHandshakeError('server chose a subprotocol that '
                                          'was not offered', status)
        self.response_headers = answer
        return rest


# -- the frames, sans I/O -----------------------------------------------------

class FrameCodec:
    """The frames of one open client WebSocket, sans I/O.

    Writing: :meth:`encode` (one message), :meth:`encode_many`,
    :meth:`encode_ping`, :meth:`close_frame` (b'' once a close frame was
    produced: the connection sends one at most), each masked with a key from
    the pool.  Not thread-safe: the sync connection calls them under its
    write lock.

    Reading: :meth:`receive` takes received bytes and returns the data
    messages they completed (str for text, bytes for binary).  Pings, the
    server's close frame and protocol violations leave frames to send in
    ``pending_control`` (built by :meth:`control_frames`, which uses the key
    pool, so under the same lock as the writes) and set ``closed`` to
    ``(code, reason)``: the connection is over for reading.  ``pongs``
    counts the pongs received (for a keep-alive).  :meth:`receive_eof`
    records the end of the stream.
    """

    __slots__ = ('parser', 'closed', 'close_sent', 'pending_control',
                 'pongs', '_keys', '_key_pos')

    def __init__(self, max_size: Optional[int]) -> None:
        self.parser = _ws.FrameParser(max_size, require_mask=False)
        #: (code, reason) once the connection is over for reading
        self.closed: Optional[Tuple[int, str]] = None
        self.close_sent = False
        #: control frames to send: (opcode, payload), a close code as int
        self.pending_control: List[Tuple[int, Any]] = []
        self.pongs = 0
        self._keys = b''
        self._key_pos = 0

    # -- writing -----------------------------------------------------------

    def mask_key(self) -> bytes:
        """A fresh masking key, sliced from a pool of random bytes."""
        pos = self._key_pos
        if pos >= len(self._keys):
            self._keys = os.urandom(_KEY_POOL if self._keys
                                    else _FIRST_KEY_POOL)
            pos = 0
        self._key_pos = pos + 4
        return self._keys[pos:pos + 4]

    def encode(self, data: Union[str, bytes]) -> bytes:
        """One masked message frame: str as text, bytes as binary."""
        # mask_key() inlined: this runs once per message sent
        pos = self._key_pos
        keys = self._keys
        # (positional arguments: keywords cost the compiled kernel an
        # argument parse per call)
        if pos >= len(keys):
            return _build_frame(_OP_TEXT if type(data) is str else _OP_BINARY,
                                data, True, self.mask_key())
        self._key_pos = pos + 4
        return _build_frame(_OP_TEXT if type(data) is str else _OP_BINARY,
                            data, True, keys[pos:pos + 4])

    def encode_many(self, messages: Sequence[Union[str, bytes]]) -> bytes:
        """Several message frames, joined for one write."""
        encode = self.encode
        return b''.join([encode(data) for data in messages])

    def encode_ping(self, payload: bytes = b'') -> bytes:
        """A ping frame (a keep-alive)."""
        return _build_frame(_OP_PING, payload, mask_key=self.mask_key())

    def close_frame(self, code: int = _ws.CLOSE_NORMAL) -> bytes:
        """The close frame with ``code``; b'' when one was produced
        already."""
        if self.close_sent:
            return b''
        self.close_sent = True
        return _build_frame(_OP_CLOSE, _ws.build_close_payload(code),
                            mask_key=self.mask_key())

    def control_frames(self) -> bytes:
        """The frames :meth:`receive` asked for (pongs, the close reply),
        encoded; clears them.  Nothing is sent after a close frame."""
        out = []
        for opcode, payload in self.pending_control:
            if opcode == _OP_CLOSE:
                out.append(self.close_frame(payload))
            elif not self.close_sent:
                out.append(_build_frame(opcode, payload,
                                        mask_key=self.mask_key()))
        self.pending_control = []
        return b''.join(out)

    # -- reading -----------------------------------------------------------

    def receive(self, data: bytes) -> List[Union[str, bytes]]:
        """The data messages completed by ``data``; see the class."""
        if self.closed is not None:
            return []
        try:
            frames = self.parser.feed(data)
        except _ws.WebSocketProtocolError as exc:
            frames = exc.messages
            failure: Optional[Tuple[int, str]] = (exc.code, exc.reason)
        else:
            failure = None
        messages: List[Union[str, bytes]] = []
        for opcode, payload in frames:
            if opcode == _OP_TEXT or opcode == _OP_BINARY:
                messages.append(payload)  # type: ignore[arg-type]
            elif opcode == _OP_PING:
                self.pending_control.append((_OP_PONG, payload))
            elif opcode == _OP_PONG:
                self.pongs += 1
            elif opcode == _OP_CLOSE:
                code, reason = _ws.parse_close_payload(
                    payload)  # type: ignore[arg-type]
                self.pending_control.append((
                    _OP_CLOSE, _ws.CLOSE_NORMAL
                    if code == _ws.CLOSE_NO_STATUS else code))
                self.closed = (code, reason)
                return messages  # what follows a close frame is not read
        if failure is not None:
            self.pending_control.append((_OP_CLOSE, failure[0]))
            self.closed = failure
        return messages

    def receive_eof(self) -> None:
        """The stream ended: the connection is over (1006, with the reason
        the parser gives when it ended inside a frame)."""
        if self.closed is not None:
            return
        try:
            self.parser.feed_eof()
            reason = 'connection closed without a close frame'
        except _ws.WebSocketProtocolError as exc:
            reason = exc.reason
        self.closed = (_ws.CLOSE_ABNORMAL, reason)

    def lost(self, reason: str) -> None:
        """The connection failed (a reset, a TLS error): 1006."""
        if self.closed is None:
            self.closed = (_ws.CLOSE_ABNORMAL, reason)


# -- the sync connection ------------------------------------------------------

def _wait_readable(sock: Any, timeout: Optional[float]) -> bool:
    """Whether ``sock`` has data within ``timeout`` seconds.  Looks up
    ``select.poll`` at each call: gevent and eventlet remove it when they
    patch ``select``, leaving their green ``select``."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True  # decrypted bytes already buffered in the TLS layer
    poll = getattr(select, 'poll', None)
    if poll is not None:
        poller = poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(None if timeout is None
                                else max(timeout, 0) * 1000))
    readable, _, _ = select.select([sock], [], [], timeout)
    return bool(readable)


def _tunnel(sock: Any, host: str, port: int,
            auth: Optional[Tuple[str, str]]) -> None:
    """Open a ``CONNECT`` tunnel to ``host:port`` through the HTTP proxy at
    the other end of ``sock``."""
    sock.sendall(tunnel_request(host, port, auth))
    data = b''
    while True:
        head = parse_head(data, 'proxy CONNECT')
        if head is not None:
            break
        chunk = sock.recv(4096)
        if not chunk:
            raise WebSocketHandshakeError(
                'connection closed during the proxy CONNECT')
        data += chunk
    check_tunnel_answer(head[0], head[2])


def connect(url: str, *, headers: Sequence[Tuple[str, str]] = (),
            timeout: Optional[float] = None,
            ssl_context: Optional[ssl.SSLContext] = None,
            server_hostname: Optional[str] = None,
            proxy: Optional[Tuple[str, int, Any]] = None,
            proxy_timeout: Optional[float] = None,
            sockopt: Sequence[Tuple[int, int, Any]] = (),
            subprotocols: Optional[Sequence[str]] = None,
            max_size: Optional[int] = None) -> 'ClientWebSocket':
    """Open a WebSocket to ``url`` (``ws://`` or ``wss://``).

    ``headers`` are added to the handshake (a ``Host`` among them replaces
    ours).  ``proxy`` is ``(host, port, auth)`` of an HTTP proxy to tunnel
    through.  Raises WebSocketHandshakeError when the server (or the proxy)
    refuses, ``ssl.SSLError`` when TLS fails (an untrusted certificate
    included), OSError when the network does, ValueError for a bad URL.
    """
    handshake = Handshake(url, headers, subprotocols)
    host, port = handshake.host, handshake.port
    if proxy:
        sock = socket.create_connection(
            (proxy[0], proxy[1]),
            timeout=proxy_timeout if proxy_timeout is not None else timeout)
    else:
        sock = socket.create_connection((host, port), timeout=timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for option in sockopt:
            sock.setsockopt(*option)
        if proxy:
            _tunnel(sock, host, port, proxy[2])
            sock.settimeout(timeout)
        if handshake.secure:
            context = ssl_context or make_ssl_context({})
            sock = context.wrap_socket(
                sock, server_hostname=server_hostname or host)
        sock.sendall(handshake.request)
        rest = None
        while rest is None:
            chunk = sock.recv(4096)
            if not chunk:
                raise WebSocketHandshakeError(
                    'connection closed during the WebSocket handshake')
            rest = handshake.receive(chunk)
        return ClientWebSocket(sock, rest, max_size, timeout)
    except BaseException:
        try:
            sock.close()
        except OSError:  # pragma: no cover
            pass
        raise


class ClientWebSocket:
    """One open client WebSocket (blocking).

    ``recv(timeout)`` (one reader at a time) returns the next message, str
    for text and bytes for binary; ``send``/``send_many`` write from any
    thread; ``close()`` starts the closing handshake, ``abort()`` drops the
    connection.  The write timeout bounds each write (``SO_SNDTIMEO`` on
    a plain socket, else ``sock.settimeout``); reads wait with
    ``poll``/``select`` for the time given to ``recv``.
    """

    def __init__(self, sock: Any, buffered: bytes = b'',
                 max_size: Optional[int] = None,
                 timeout: Optional[float] = None) -> None:
        self.sock = sock
        # reads wait in poll() (recv's timeout) and then never block; the
        # writes' bound is the kernel's where it can be (no poll() before
        # each send), else Python's
        if not _kt.use_kernel_timeouts(sock, None, timeout):
            sock.settimeout(timeout)
        self._codec = FrameCodec(max_size)
        self._pending: Deque[Union[str, bytes]] = deque()
        self._write_lock = threading.Lock()
        if buffered:
            self._pending.extend(self._codec.receive(buffered))

    @property
    def closed(self) -> Optional[Tuple[int, str]]:
        """(code, reason) once the connection is over for reading."""
        return self._codec.closed

    @property
    def close_sent(self) -> bool:
        return self._codec.close_sent

    # -- reading (one thread) ----------------------------------------------

    def has_pending(self) -> bool:
        """Whether a message was already received and decoded: the next
        ``recv()`` returns it without waiting (one reader at a time)."""
        return bool(self._pending)

    def recv(self, timeout: Optional[float] = None) -> Union[str, bytes]:
        """The next data message.  Raises WebSocketTimeout when nothing
        arrived in ``timeout`` seconds, WebSocketClosed when the connection
        is over (closed by the server, lost, or failed: a message over
        ``max_size`` is 1009, a protocol violation 1002 or 1007, and the
        matching close frame is sent)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pending = self._pending
        codec = self._codec
        while True:
            if codec.pending_control:
                self._write_control()
            if pending:
                return pending.popleft()
            if codec.closed is not None:
                raise WebSocketClosed(*codec.closed)
            remaining = None if deadline is None \
                else deadline - time.monotonic()
            try:
                if remaining is not None and remaining <= 0 or \
                        not _wait_readable(self.sock, remaining):
                    raise WebSocketTimeout('no data from the server in %.1f s'
                                           % (timeout or 0))
                data = self.sock.recv(_RECV_SIZE)
            except (OSError, ValueError) as exc:
                # a reset, a socket closed by abort(), a TLS error
                codec.lost(str(exc) or type(exc).__name__)
                continue
            if not data:
                codec.receive_eof()
                continue
            pending.extend(codec.receive(data))

    def _write_control(self) -> None:
        with self._write_lock:
            frames = self._codec.control_frames()
            try:
                self.sock.sendall(frames)
            except (OSError, ValueError):
                pass

    # -- writing (any thread) ----------------------------------------------

    def send(self, data: Union[str, bytes]) -> None:
        """Write one message: str as text, bytes as binary.  Raises
        OSError when the connection is gone or closing."""
        with self._write_lock:
            if self._codec.close_sent:
                raise OSError('WebSocket is closing')
            self.sock.sendall(self._codec.encode(data))

    def send_many(self, messages: Sequence[Union[str, bytes]]) -> None:
        """Write several messages in one system call."""
        with self._write_lock:
            if self._codec.close_sent:
                raise OSError('WebSocket is closing')
            self.sock.sendall(self._codec.encode_many(messages))

    # -- ending ------------------------------------------------------------

    def close(self, code: int = _ws.CLOSE_NORMAL) -> None:
        """Send the close frame and our FIN; the reader then sees the
        server's close frame or the end of the stream.  Any thread."""
        with self._write_lock:
            frame = self._codec.close_frame(code)
            try:
                if frame:
                    self.sock.sendall(frame)
                self.sock.shutdown(socket.SHUT_WR)
            except (OSError, ValueError):
                pass

    def abort(self) -> None:
        """Drop the connection now (a reader blocked on it wakes up)."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except (OSError, ValueError):
            pass
        try:
            self.sock.close()
        except (OSError, ValueError):  # pragma: no cover
            pass
