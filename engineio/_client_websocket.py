"""Our own RFC 6455 client connection, for the sync ``Client``.

A blocking WebSocket over ``socket``/``ssl`` (so gevent's and eventlet's
monkey-patching turn it green), on the framing kernels of
:mod:`engineio._speedups` (:class:`FrameParser` to read, :func:`build_frame`
to write masked frames).  This module does the I/O around them:

* the opening handshake, directly or through an HTTP proxy (``CONNECT``),
  over TLS when the URL is ``wss``: certificate verification is on unless
  ``cert_reqs`` says otherwise; the ``Sec-WebSocket-Accept`` answer checked;
* reading (:meth:`ClientWebSocket.recv`, one reader thread): pings answered,
  the closing handshake, and the close codes the parser decides (1002, 1007,
  1009 for a message over ``max_size``);
* writing from any thread, serialised by one lock, each frame masked with a
  key sliced from a pool of ``os.urandom(4096)`` (one system call per 1024
  frames, not one per frame).

:func:`check_options` validates ``websocket_extra_options``: the keys that
python-engineio passed on to websocket-client's ``create_connection`` and
that mean something here (see :data:`OPTIONS`); anything else is a
ValueError, so that a misspelt option is not silently ignored.  Concurrent
reading and writing on one TLS socket relies on CPython's ``ssl`` module, as
websocket-client did.
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

from ._speedups import websocket as _ws

__all__ = ['OPTIONS', 'SSL_OPTIONS', 'WebSocketError',
           'WebSocketHandshakeError', 'WebSocketTimeout', 'WebSocketClosed',
           'ClientWebSocket', 'check_options', 'make_ssl_context', 'connect']

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
#: masking keys are sliced from this many random bytes at a time
_KEY_POOL = 4096
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


def _accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1(
        key.encode('ascii') + _GUID).digest()).decode('ascii')


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


def _read_head(sock: Any, what: str) -> Tuple[int, Dict[str, str], bytes]:
    """Read an HTTP answer's head: ``(status, headers, bytes after it)``.
    Raises WebSocketHandshakeError for anything that is not HTTP or longer
    than :data:`_MAX_HANDSHAKE`, OSError (a timeout included) from the
    socket."""
    data = b''
    while True:
        end = data.find(b'\r\n\r\n')
        if end >= 0:
            break
        if len(data) > _MAX_HANDSHAKE:
            raise WebSocketHandshakeError('%s answer too long' % what)
        chunk = sock.recv(4096)
        if not chunk:
            raise WebSocketHandshakeError(
                'connection closed during the %s' % what)
        data += chunk
    head, rest = data[:end], data[end + 4:]
    lines = head.decode('latin-1').split('\r\n')
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
        headers[name] = headers[name] + ', ' + value if name in headers \
            else value
    return int(parts[1]), headers, rest


def _tunnel(sock: Any, host: str, port: int,
            auth: Optional[Tuple[str, str]]) -> None:
    """Open a ``CONNECT`` tunnel to ``host:port`` through the HTTP proxy at
    the other end of ``sock``."""
    target = '[%s]:%d' % (host, port) if ':' in host else '%s:%d' % (host,
                                                                     port)
    lines = ['CONNECT %s HTTP/1.1' % target, 'Host: %s' % target]
    if auth:
        token = base64.b64encode(('%s:%s' % auth).encode('utf-8'))
        lines.append('Proxy-Authorization: Basic ' + token.decode('ascii'))
    sock.sendall(('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1'))
    status, _, rest = _read_head(sock, 'proxy CONNECT')
    if status != 200:
        raise WebSocketHandshakeError(
            'proxy refused the tunnel with status %d' % status, status)
    if rest:
        raise WebSocketHandshakeError('proxy sent data before the tunnel '
                                      'was used')


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
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ('ws', 'wss') or not parsed.hostname:
        raise ValueError('Invalid WebSocket URL %r' % url)
    secure = parsed.scheme == 'wss'
    host = parsed.hostname
    port = parsed.port or (443 if secure else 80)
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
        if secure:
            context = ssl_context or make_ssl_context({})
            sock = context.wrap_socket(
                sock, server_hostname=server_hostname or host)
        key = base64.b64encode(os.urandom(16)).decode('ascii')
        netloc = parsed.netloc.rpartition('@')[2]
        target = (parsed.path or '/') + ('?' + parsed.query
                                         if parsed.query else '')
        extra = [(name, value) for name, value in headers
                 if name.lower() != 'host']
        host_header = next((value for name, value in headers
                            if name.lower() == 'host'), netloc)
        lines = ['GET %s HTTP/1.1' % target, 'Host: %s' % host_header,
                 'Upgrade: websocket', 'Connection: Upgrade',
                 'Sec-WebSocket-Key: %s' % key, 'Sec-WebSocket-Version: 13']
        if subprotocols:
            lines.append('Sec-WebSocket-Protocol: %s' % ', '.join(
                subprotocols))
        lines.extend('%s: %s' % (name, value) for name, value in extra)
        for line in lines:
            if '\r' in line or '\n' in line:
                raise ValueError('Invalid character in handshake header %r'
                                 % line)
        sock.sendall(('\r\n'.join(lines) + '\r\n\r\n').encode('utf-8'))
        status, answer, rest = _read_head(sock, 'WebSocket handshake')
        if status != 101:
            raise WebSocketHandshakeError(
                'WebSocket handshake refused with status %d' % status, status)
        if answer.get('upgrade', '').lower() != 'websocket' or \
                'upgrade' not in answer.get('connection', '').lower():
            raise WebSocketHandshakeError('WebSocket handshake answer without '
                                          'the Upgrade headers', status)
        if answer.get('sec-websocket-accept') != _accept_key(key):
            raise WebSocketHandshakeError('WebSocket handshake answer with a '
                                          'wrong Sec-WebSocket-Accept', status)
        if answer.get('sec-websocket-extensions'):
            raise WebSocketHandshakeError('server chose a WebSocket extension '
                                          'that was not offered', status)
        protocol = answer.get('sec-websocket-protocol')
        if protocol and protocol not in (subprotocols or ()):
            raise WebSocketHandshakeError('server chose a subprotocol that '
                                          'was not offered', status)
        return ClientWebSocket(sock, rest, max_size, timeout)
    except BaseException:
        try:
            sock.close()
        except OSError:  # pragma: no cover
            pass
        raise


class ClientWebSocket:
    """One open client WebSocket.

    ``recv(timeout)`` (one reader at a time) returns the next message, str
    for text and bytes for binary; ``send``/``send_many`` write from any
    thread; ``close()`` starts the closing handshake, ``abort()`` drops the
    connection.  ``sock.settimeout`` bounds the writes; reads wait with
    ``poll``/``select`` for the time given to ``recv``.
    """

    def __init__(self, sock: Any, buffered: bytes = b'',
                 max_size: Optional[int] = None,
                 timeout: Optional[float] = None) -> None:
        self.sock = sock
        sock.settimeout(timeout)
        self._parser = _ws.FrameParser(max_size, require_mask=False)
        self._pending: Deque[Tuple[int, Any]] = deque()
        self._failure: Optional[Tuple[int, str]] = None
        self._write_lock = threading.Lock()
        self._keys = b''
        self._key_pos = 0
        self.close_sent = False
        #: (code, reason) once the connection is over for reading
        self.closed: Optional[Tuple[int, str]] = None
        if buffered:
            self._feed(buffered)

    def _feed(self, data: bytes) -> None:
        try:
            self._pending.extend(self._parser.feed(data))
        except _ws.WebSocketProtocolError as exc:
            self._pending.extend(exc.messages)
            self._failure = (exc.code, exc.reason)

    # -- reading (one thread) ----------------------------------------------

    def recv(self, timeout: Optional[float] = None) -> Union[str, bytes]:
        """The next data message.  Raises WebSocketTimeout when nothing
        arrived in ``timeout`` seconds, WebSocketClosed when the connection
        is over (closed by the server, lost, or failed: a message over
        ``max_size`` is 1009, a protocol violation 1002 or 1007, and the
        matching close frame is sent)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pending = self._pending
        while True:
            while pending:
                opcode, payload = pending.popleft()
                if opcode == _OP_TEXT or opcode == _OP_BINARY:
                    return payload  # type: ignore[no-any-return]
                if opcode == _OP_PING:
                    try:
                        self._write([(_OP_PONG, payload)])
                    except OSError:
                        pass
                elif opcode == _OP_CLOSE:
                    code, reason = _ws.parse_close_payload(payload)
                    self._send_close(_ws.CLOSE_NORMAL
                                     if code == _ws.CLOSE_NO_STATUS else code)
                    self.closed = (code, reason)
            if self.closed is None and self._failure is not None:
                self._send_close(self._failure[0])
                self.closed = self._failure
            if self.closed is not None:
                raise WebSocketClosed(*self.closed)
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
                self.closed = (_ws.CLOSE_ABNORMAL, str(exc) or
                               type(exc).__name__)
                continue
            if not data:
                try:
                    self._parser.feed_eof()
                    reason = 'connection closed without a close frame'
                except _ws.WebSocketProtocolError as exc:
                    reason = exc.reason
                self.closed = (_ws.CLOSE_ABNORMAL, reason)
                continue
            self._feed(data)

    # -- writing (any thread) ----------------------------------------------

    def send(self, data: Union[str, bytes]) -> None:
        """Write one message: str as text, bytes as binary.  Raises
        OSError when the connection is gone or closing."""
        self._write([(_OP_TEXT if type(data) is str else _OP_BINARY, data)])

    def send_many(self, messages: Sequence[Union[str, bytes]]) -> None:
        """Write several messages in one system call."""
        self._write([(_OP_TEXT if type(data) is str else _OP_BINARY, data)
                     for data in messages])

    def _mask_key(self) -> bytes:
        pos = self._key_pos
        if pos >= len(self._keys):
            self._keys = os.urandom(_KEY_POOL)
            pos = 0
        self._key_pos = pos + 4
        return self._keys[pos:pos + 4]

    def _write(self, frames: List[Tuple[int, Any]]) -> None:
        with self._write_lock:
            if self.close_sent:
                raise OSError('WebSocket is closing')
            self.sock.sendall(b''.join([
                _build_frame(opcode, payload, mask_key=self._mask_key())
                for opcode, payload in frames]))

    def _send_close(self, code: int) -> bool:
        with self._write_lock:
            if self.close_sent:
                return False
            self.close_sent = True
            try:
                self.sock.sendall(_build_frame(
                    _OP_CLOSE, _ws.build_close_payload(code),
                    mask_key=self._mask_key()))
            except (OSError, ValueError):
                pass
            return True

    # -- ending ------------------------------------------------------------

    def close(self, code: int = _ws.CLOSE_NORMAL) -> None:
        """Send the close frame and our FIN; the reader then sees the
        server's close frame or the end of the stream.  Any thread."""
        self._send_close(code)
        try:
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
