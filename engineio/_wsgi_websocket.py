"""Our own WebSocket server connection, on the raw socket of a WSGI server.

Used by the sync async modes in place of simple-websocket: the framing is
the kernels' (:class:`FrameParser` to read, :func:`build_frame` to write,
see :mod:`engineio._speedups`); this module only does the I/O around them:

* the RFC 6455 handshake answer (``101`` with ``Sec-WebSocket-Accept``),
  written straight to the socket, after which the WSGI server must not write
  anything (see :meth:`WebSocket.end_response`);
* reading: one blocking ``recv`` at a time in the request's own thread (no
  thread of its own).  Each wake-up reads what the socket holds (up to
  :data:`RECV_SIZE`), parses every complete frame in it and hands all the
  data messages over at once (:meth:`WebSocket.receive`): the glue then
  runs them through the core back to back and writes their answers in one
  ``sendall``.  Pings are answered with pongs, the close handshake and the
  close codes the parser decides (1002 protocol error, 1007 invalid UTF-8,
  1009 a message over ``max_message_size``, logged) are done here;
* writing from any thread, serialised by one lock per connection; several
  messages go out in one ``sendall`` (:meth:`WebSocket.send_many`).

The raw socket comes from ``environ['werkzeug.socket']`` (werkzeug's
development server), ``environ['gunicorn.socket']`` (gunicorn's sync,
gthread and gevent workers), ``environ['eventlet.input'].get_socket()``
(eventlet's WSGI server), ``environ['engineio.raw_socket']`` (gevent's
pywsgi with :class:`engineio.async_drivers.gevent.WebSocketHandler`),
``environ['gunicorn.sock']`` (gunicorn's ``gevent_pywsgi`` worker), or,
failing those, from plain gevent pywsgi's request stream.

Blocking is the socket's: under eventlet or gevent the raw socket is a
green one, so a wait parks the green thread, not the process.  The one
blocking lock (a connection's write lock, held across ``sendall``) comes
from :attr:`WebSocket.lock_class`, which the eventlet and gevent drivers
replace with their own so that a writer waiting for it yields to the hub
even when the standard library is not monkey-patched.

Every wait is bounded: the socket carries a timeout (the server's
``ping_interval + ping_timeout``: a live client sends at least a PONG in
that time), and a connection being closed is drained for at most
:data:`CLOSE_LINGER` seconds.  On a plain (not green) socket on Linux the
timeout is the kernel's (``SO_RCVTIMEO``/``SO_SNDTIMEO`` on a blocking
socket) rather than Python's: Python implements its own with a ``poll``
before every ``recv`` and ``send``, which doubles the system calls, and in
threading mode every system call is a chance for another thread to take
the GIL.  A writer blocked by a client that does not read gives up after
the same timeout (back-pressure: nothing is buffered beyond the socket's
and the session's bounded outbox).
"""
from __future__ import annotations

import base64
import hashlib
import logging
import socket
import threading
import time
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Tuple, Union

from . import _kernel_timeouts as _kt
from ._speedups import websocket as _ws

__all__ = ['WebSocket', 'HandshakeRefused', 'get_raw_socket',
           'handshake_error', 'accept_key', 'CLOSE_LINGER', 'RECV_SIZE']

_GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
#: seconds a closing connection is drained (for the peer's close frame and
#: the end of its data) before the socket is let go
CLOSE_LINGER = 2.0
#: the most one ``recv`` asks for.  CPython allocates this much for the
#: call and shrinks the result to what arrived; a green socket frees it
#: again while it waits, so an idle connection does not hold it
RECV_SIZE = 65536

_OP_TEXT = _ws.OP_TEXT
_OP_BINARY = _ws.OP_BINARY
_OP_CLOSE = _ws.OP_CLOSE
_OP_PING = _ws.OP_PING
_OP_PONG = _ws.OP_PONG
_build_frame = _ws.build_frame
_ProtocolError = _ws.WebSocketProtocolError
_monotonic = time.monotonic
_Message = Union[str, bytes]


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for the client's ``Sec-WebSocket-Key``."""
    return base64.b64encode(hashlib.sha1(
        key.encode('ascii') + _GUID).digest()).decode('ascii')


class HandshakeRefused(Exception):
    """The WebSocket cannot be accepted on this request; the message says
    why (the server answers 400 and logs it)."""


def get_raw_socket(environ: Dict[str, Any]) -> Tuple[Optional[Any], str]:
    """``(socket, mode)``: the connection's raw socket and the server kind
    that exposed it (``'werkzeug'``, ``'gunicorn'``, ``'eventlet'``,
    ``'pywsgi'``), or ``(None, '')`` when the WSGI server gives no access
    to it.  The mode decides how the request ends
    (:meth:`WebSocket.end_response`)."""
    sock = environ.get('werkzeug.socket')
    if sock is not None:
        return sock, 'werkzeug'
    sock = environ.get('gunicorn.socket')
    if sock is not None:
        return sock, 'gunicorn'
    wsgi_input = environ.get('eventlet.input')
    if wsgi_input is not None and hasattr(wsgi_input, 'get_socket'):
        return wsgi_input.get_socket(), 'eventlet'
    sock = environ.get('engineio.raw_socket')
    if sock is None:
        # gunicorn's gevent_pywsgi worker names it differently
        sock = environ.get('gunicorn.sock')
    if sock is None and environ.get('SERVER_SOFTWARE', '').startswith(
            'gevent'):
        # plain gevent pywsgi: an upgrade request's ``wsgi.input`` is the
        # connection's buffered reader, whose raw stream holds the socket
        raw = getattr(environ.get('wsgi.input'), 'raw', None)
        sock = getattr(raw, '_sock', None)
    if sock is not None:
        return sock, 'pywsgi'
    return None, ''


def handshake_error(environ: Dict[str, Any]) -> Optional[str]:
    """Why this request is not a valid RFC 6455 opening handshake (None:
    it is).  ``Upgrade: websocket`` was already checked by the core."""
    key = environ.get('HTTP_SEC_WEBSOCKET_KEY', '')
    try:
        if len(base64.b64decode(key.encode('ascii'), validate=True)) != 16:
            return 'bad Sec-WebSocket-Key'
    except (ValueError, UnicodeEncodeError):
        return 'bad Sec-WebSocket-Key'
    if environ.get('HTTP_SEC_WEBSOCKET_VERSION', '').strip() != '13':
        return 'unsupported Sec-WebSocket-Version'
    if 'upgrade' not in environ.get('HTTP_CONNECTION', '').lower():
        return 'Connection header without upgrade'
    return None


class WebSocket:
    """One accepted server-side WebSocket connection.

    ``receive()`` returns the data messages of the next wake-up (a list of
    str for text, bytes for binary) or None once the connection is over;
    ``wait()`` returns them one at a time (python-engineio's interface);
    ``send(data)`` writes one message and ``send_many(messages)`` several
    in one ``sendall``, from any thread; ``close(code)`` starts the closing
    handshake.  A plain class: python-socketio's admin UI wraps ``send``
    and ``wait`` on the instance (the glue then keeps to those two).
    ``ws_id`` is the core's id for this WebSocket.
    """

    #: the write lock's type; an async driver puts its own here
    lock_class: Any = threading.Lock
    #: the running thread's identity (a greenlet's under gevent and
    #: eventlet): the glue tells the reader's own writes from others'
    current_task: Any = staticmethod(threading.get_ident)

    @classmethod
    def for_request(cls, environ: Dict[str, Any], ws_id: int,
                    max_message_size: Optional[int],
                    timeout: Optional[float], logger: Any = None,
                    sid: str = '') -> 'WebSocket':
        """The connection for this WSGI request, not yet accepted.
        Raises :class:`HandshakeRefused` when the server does not expose
        its socket or the request is not a valid opening handshake."""
        sock, mode = get_raw_socket(environ)
        if sock is None:
            raise HandshakeRefused('the WSGI server does not expose its '
                                   'socket')
        error = handshake_error(environ)
        if error is not None:
            raise HandshakeRefused(error)
        return cls(sock, mode, ws_id, max_message_size, timeout, logger, sid)

    def __init__(self, sock: Any, mode: str, ws_id: int,
                 max_message_size: Optional[int], timeout: Optional[float],
                 logger: Any = None, sid: str = '') -> None:
        self.sock = sock
        self.mode = mode
        self.ws_id = ws_id
        self.sid = sid
        self.logger = logger or logging.getLogger('engineio.server')
        self.timeout = timeout
        self._parser = _ws.FrameParser(max_message_size, require_mask=True)
        # messages received but not yet returned by wait() (only used
        # when something calls wait(); the glue calls receive())
        self._ready: Optional[Deque[_Message]] = None
        self._write_lock = self.lock_class()
        # (code, reason) of a protocol violation, once the messages that
        # preceded it are delivered
        self._failure: Optional[Tuple[int, str]] = None
        # the code of the client's close frame, to answer (0: none yet)
        self._peer_close = 0
        # bytes of the connection read before the WebSocket took it over
        # (a driver that empties its server's request buffer puts them
        # here): parsed before the socket is read
        self._unread = b''
        self.close_sent = False
        self.closed = False

    # -- opening ----------------------------------------------------------

    def accept(self, environ: Dict[str, Any]) -> None:
        """Write the ``101 Switching Protocols`` answer.  Raises OSError
        when the client is gone."""
        key = environ['HTTP_SEC_WEBSOCKET_KEY']
        response = ('HTTP/1.1 101 Switching Protocols\r\n'
                    'Upgrade: websocket\r\nConnection: Upgrade\r\n'
                    'Sec-WebSocket-Accept: %s\r\n\r\n' % accept_key(key))
        self._set_timeout()
        with self._write_lock:
            self.sock.sendall(response.encode('ascii'))

    def _set_timeout(self) -> None:
        # blocking, with the kernel's timeouts where possible: one system
        # call per recv or send instead of Python's poll + call
        timeout = self.timeout
        if timeout is None or timeout <= 0 or \
                not _kt.use_kernel_timeouts(self.sock, timeout, timeout):
            self.sock.settimeout(timeout)

    # -- reading (the request thread only) --------------------------------

    def receive(self) -> Optional[List[_Message]]:
        """The data messages of the next wake-up, in order (at least one),
        or None when the connection ended (the client closed it, broke the
        protocol, went silent or away).  Pings are answered and the close
        handshake is done on the way."""
        if self._ready:
            # wait() left some: hand those over first
            held = list(self._ready)
            self._ready.clear()
            return held
        parser = self._parser
        recv = self.sock.recv
        while True:
            if self._peer_close:
                self._send_close(self._peer_close)
                self.closed = True
                return None
            if self._failure is not None:
                self._fail()
                return None
            if self.closed:
                return None
            if self._unread:
                data = self._unread
                self._unread = b''
            else:
                try:
                    data = recv(RECV_SIZE)
                except (OSError, ValueError):  # timeout, reset, closed
                    self.closed = True
                    return None
            if not data:
                self.closed = True
                return None
            try:
                frames = parser.feed(data)
            except _ProtocolError as exc:
                frames = exc.messages
                self._failure = (exc.code, exc.reason)
            if not frames:
                continue
            messages: List[_Message] = []
            for opcode, payload in frames:
                if opcode == _OP_TEXT or opcode == _OP_BINARY:
                    messages.append(payload)  # type: ignore[arg-type]
                elif opcode == _OP_PING:
                    try:
                        self._write(_build_frame(
                            _OP_PONG, payload))  # type: ignore[arg-type]
                    except (OSError, ValueError):
                        pass  # closing, or gone: the next read tells
                elif opcode == _OP_CLOSE:
                    code, _ = _ws.parse_close_payload(
                        payload)  # type: ignore[arg-type]
                    if code == _ws.CLOSE_NO_STATUS:
                        code = _ws.CLOSE_NORMAL
                    # answered once the messages before it are handled
                    # (their answers go out before our close frame)
                    self._peer_close = code
                    break  # nothing after a close frame counts
                # a PONG: nothing to do (the Engine.IO heartbeat is in-band)
            if messages:
                return messages
            if self._peer_close:
                continue

    def wait(self) -> Union[str, bytes, None]:
        """The next data message, or None when the connection ended
        (python-engineio's interface; :meth:`receive` is the batch one)."""
        ready = self._ready
        if ready is None:
            ready = self._ready = deque()
        if not ready:
            messages = self.receive()
            if messages is None:
                return None
            ready.extend(messages)
        return ready.popleft()

    def _fail(self) -> None:
        assert self._failure is not None
        code, reason = self._failure
        if code == _ws.CLOSE_TOO_BIG:
            self.logger.error('%s: WebSocket message over the size limit: '
                              'closing (1009)', self.sid)
        else:
            self.logger.info('%s: WebSocket protocol error (%d): %s',
                             self.sid, code, reason)
        self._send_close(code)
        self.closed = True

    # -- writing (any thread) ---------------------------------------------

    def send(self, data: _Message) -> None:
        """Write one message: a str as a text frame, bytes as binary.
        Raises OSError when the connection is gone or closing."""
        if type(data) is str:
            frame = _build_frame(_OP_TEXT, data)
        else:
            frame = _build_frame(_OP_BINARY, data)
        self._write(frame)

    def send_many(self, messages: List[_Message]) -> None:
        """Write several messages, in order, in one ``sendall``.  Raises
        OSError when the connection is gone or closing."""
        if len(messages) == 1:
            self.send(messages[0])
            return
        frames = [_build_frame(_OP_TEXT if type(data) is str
                               else _OP_BINARY, data) for data in messages]
        self._write(b''.join(frames))

    def _write(self, frame: bytes) -> None:
        with self._write_lock:
            if self.close_sent:
                raise OSError('WebSocket is closing')
            self._sendall(frame)

    def _sendall(self, data: bytes) -> None:
        """``sock.sendall(data)`` (write lock held); a driver may do it
        more cheaply for its sockets."""
        self.sock.sendall(data)

    def _send_close(self, code: int) -> bool:
        with self._write_lock:
            if self.close_sent:
                return False
            self.close_sent = True
            try:
                self._sendall(_build_frame(
                    _OP_CLOSE, _ws.build_close_payload(code)))
            except (OSError, ValueError):
                pass
        return True

    def close(self, code: int = _ws.CLOSE_NORMAL) -> None:
        """Start the closing handshake from the server side (any thread).
        The reader is woken (its socket is shut for reading) so that the
        request thread ends at once rather than at the read timeout."""
        if self._send_close(code):
            try:
                self.sock.shutdown(socket.SHUT_RD)
            except OSError:
                pass

    # -- ending -----------------------------------------------------------

    def finish(self) -> None:
        """Let the connection go: send our FIN, then drain what the client
        still sends (its close frame, the rest of an oversized message) for
        at most :data:`CLOSE_LINGER` seconds, so that closing the socket does
        not reset the connection before the client read our close frame."""
        sock = self.sock
        self.closed = True
        self._ready = None
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            return
        try:
            sock.settimeout(CLOSE_LINGER)
            deadline = _monotonic() + CLOSE_LINGER
            drained = 0
            while drained < 16 * RECV_SIZE and _monotonic() < deadline:
                data = sock.recv(RECV_SIZE)
                if not data:
                    break
                drained += len(data)
        except (OSError, ValueError):
            pass
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def end_response(self) -> Any:
        """What the WSGI application returns (or raises) once the WebSocket
        is over, so that the server writes no HTTP response of its own:
        werkzeug treats ``ConnectionError`` as a dropped connection,
        gunicorn stops at ``StopIteration``; eventlet takes its
        ``ALREADY_HANDLED`` marker; gevent's pywsgi writes nothing for an
        empty answer whose ``start_response`` was never called."""
        if self.mode == 'werkzeug':
            raise ConnectionError('WebSocket closed')
        if self.mode == 'gunicorn':
            raise StopIteration()
        if self.mode == 'eventlet':
            try:
                from eventlet.wsgi import ALREADY_HANDLED  # type: ignore
                return ALREADY_HANDLED
            except ImportError:  # pragma: no cover
                pass
        return []
