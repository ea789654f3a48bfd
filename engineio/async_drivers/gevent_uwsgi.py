"""The ``gevent_uwsgi`` async mode: uWSGI's gevent loop and its native
WebSocket API.

Imports only inside a uWSGI process (the ``uwsgi`` module exists nowhere
else) with gevent installed.  Run uWSGI with its gevent loop and
WebSockets on, e.g.::

    uwsgi --http-socket :8000 --gevent 1000 --http-websockets \\
          --module app:application

Background tasks, events and queues are gevent's, as in the ``gevent``
mode.  The WebSocket is uWSGI's own (``uwsgi.websocket_handshake``,
``websocket_recv_nb``, ``websocket_send``/``websocket_send_binary``), which
answers pings and checks the peer with its own pings.  uWSGI 2.0 lets only
the request's greenlet use that API, so :class:`UWSGIWebSocket` queues what
other greenlets send and the request greenlet writes it; an io watcher on
the connection wakes that greenlet when data arrives, so nothing polls
(but uWSGI wants its receive call every few seconds for its own pings).

Limits of uWSGI's API, and what this driver does about them:

* it does not say whether a message came in a text or a binary frame: a
  message that is valid UTF-8 and starts with an Engine.IO packet type
  digit (``0``-``6``) is taken as text, anything else as binary.  A binary
  message that happens to look like a text packet is read as text;
* it has no close call: the close frame (1000, or 1009 for a message over
  ``max_http_buffer_size``) is written to the connection directly, after
  everything queued before it;
* messages over uWSGI's own ``--websocket-max-size`` (1 MB by default)
  end the connection inside uWSGI without a close code;
* uWSGI answers a ping with an empty pong (RFC 6455 wants the ping's
  payload back) and pings the client itself.

Without WebSocket support in uWSGI, ``websocket`` is None: the handshake
then offers no upgrade and WebSocket requests get 400.
"""
from __future__ import annotations

import os
import socket
import time
from collections import deque
from typing import Any, Deque, Dict, Optional, Union

import gevent
import uwsgi  # type: ignore  # only importable inside uWSGI
from gevent import monkey, queue
from gevent import socket as gsocket
from gevent.event import Event

from .._speedups import websocket as _ws
from .._wsgi_websocket import CLOSE_LINGER, HandshakeRefused, handshake_error
from .gevent import Thread

__all__ = ['Thread', 'UWSGIWebSocket']

_HAS_WEBSOCKET = hasattr(uwsgi, 'websocket_handshake')
#: bytes that start an Engine.IO text packet
_PACKET_TYPES = frozenset(b'0123456')
_monotonic = time.monotonic
#: at most this much is drained from a closing connection
_LINGER_BYTES = 1 << 20


class UWSGIWebSocket:
    """One accepted WebSocket on uWSGI's native API, with the interface
    of :class:`engineio._wsgi_websocket.WebSocket` (``wait``, ``send``,
    ``close``, ``finish``, ``end_response``, ``ws_id``)."""

    @classmethod
    def for_request(cls, environ: Dict[str, Any], ws_id: int,
                    max_message_size: Optional[int],
                    timeout: Optional[float], logger: Any = None,
                    sid: str = '') -> 'UWSGIWebSocket':
        """Raises :class:`HandshakeRefused` for a request that is not a
        valid opening handshake (answered 400 before uWSGI commits to
        it)."""
        error = handshake_error(environ)
        if error is not None:
            raise HandshakeRefused(error)
        return cls(ws_id, max_message_size, timeout, logger, sid)

    def __init__(self, ws_id: int, max_message_size: Optional[int],
                 timeout: Optional[float], logger: Any = None,
                 sid: str = '') -> None:
        self.ws_id = ws_id
        self.max_message_size = max_message_size
        self.timeout = timeout
        self.logger = logger
        self.sid = sid
        self.closed = False
        self._wake = Event()
        self._outbox: Deque[Union[str, bytes]] = deque()
        self._received: Deque[Union[str, bytes]] = deque()
        self._close_code: Optional[int] = None
        self._reader: Any = None
        self._watcher: Any = None
        self._fd = -1

    def accept(self, environ: Dict[str, Any]) -> None:
        """Answer the handshake (uWSGI writes the 101).  Raises OSError
        when uWSGI refuses or the client is gone."""
        uwsgi.websocket_handshake()
        self._reader = gevent.getcurrent()
        self._fd = uwsgi.connection_fd()
        # started only while the request greenlet waits: the watcher is
        # level-triggered, and left running while unread data waits for a
        # busy reader it would fire on every turn of the loop
        self._watcher = gevent.get_hub().loop.io(self._fd, 1)

    # -- the request greenlet ---------------------------------------------

    def wait(self) -> Union[str, bytes, None]:
        """The next message, or None once the connection is over.  Also
        writes what other greenlets queued, in order."""
        received = self._received
        last_activity = _monotonic()
        while not received:
            if self.closed:
                return None
            self._wake.clear()
            try:
                self._flush()
                if self._close_code is not None:
                    self._end(self._close_code)
                    return None
                while True:
                    message = uwsgi.websocket_recv_nb()
                    if not message:
                        break
                    last_activity = _monotonic()
                    if self.max_message_size is not None and \
                            len(message) > self.max_message_size:
                        if self.logger is not None:
                            self.logger.error(
                                '%s: WebSocket message over the size '
                                'limit: closing (1009)', self.sid)
                        self._end(_ws.CLOSE_TOO_BIG)
                        return None
                    received.append(self._decode(message))
            except OSError:  # uWSGI saw the connection close or fail
                self.closed = True
                return None
            if received:
                break
            # uWSGI pings the peer from inside recv: come back now and then
            waited = 3.0 if self.timeout is None else min(3.0, self.timeout)
            watcher = self._watcher
            watcher.start(self._wake.set)
            try:
                self._wake.wait(waited)
            finally:
                watcher.stop()
            if self.timeout is not None and \
                    _monotonic() - last_activity > self.timeout and \
                    not self._wake.is_set():
                self.closed = True
                return None
        return received.popleft()

    @staticmethod
    def _decode(message: bytes) -> Union[str, bytes]:
        if message[:1] and message[0] in _PACKET_TYPES:
            try:
                return message.decode('utf-8')
            except UnicodeDecodeError:
                pass
        return message

    def _flush(self) -> None:
        outbox = self._outbox
        while outbox:
            data = outbox.popleft()
            if type(data) is str:
                uwsgi.websocket_send(data)
            else:
                uwsgi.websocket_send_binary(data)

    def _end(self, code: int) -> None:
        """Write a close frame (uWSGI has no call for it) and stop."""
        self.closed = True
        try:
            os.write(self._fd, _ws.build_frame(
                _ws.OP_CLOSE, _ws.build_close_payload(code)))
        except OSError:
            pass

    # -- any greenlet -----------------------------------------------------

    def send(self, data: Union[str, bytes]) -> None:
        """Send one message (str as text, bytes as binary).  Raises
        OSError when the connection is over."""
        if self.closed or self._close_code is not None:
            raise OSError('WebSocket is closed')
        if gevent.getcurrent() is self._reader and not self._outbox:
            if type(data) is str:
                uwsgi.websocket_send(data)
            else:
                uwsgi.websocket_send_binary(data)
            return
        self._outbox.append(data)
        self._wake.set()

    def close(self, code: int = _ws.CLOSE_NORMAL) -> None:
        """End the connection with ``code`` once what was queued before
        is written (done by the request greenlet)."""
        if self._close_code is None:
            self._close_code = code
        self._wake.set()

    def finish(self) -> None:
        """Stop watching the connection, then let uWSGI close it once the
        client had the chance to read our close frame: as
        :meth:`engineio._wsgi_websocket.WebSocket.finish` does, send our
        FIN and drain what the client still sends for at most
        :data:`~engineio._wsgi_websocket.CLOSE_LINGER` seconds (closing a
        socket with unread data resets the connection, and the client may
        then lose the frames before the reset)."""
        self.closed = True
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher.close()
            self._watcher = None
        if self._fd >= 0:
            # a view of uWSGI's descriptor, detached (not closed) after
            sock = gsocket.socket(fileno=self._fd)
            try:
                sock.shutdown(socket.SHUT_WR)
                sock.settimeout(CLOSE_LINGER)
                drained = 0
                while drained < _LINGER_BYTES:
                    data = sock.recv(65536)
                    if not data:
                        break
                    drained += len(data)
            except OSError:
                pass
            finally:
                sock.detach()
        try:
            uwsgi.disconnect()
        except OSError:
            pass

    def end_response(self) -> Any:
        """uWSGI already sent the 101: nothing more to write."""
        return []


_async = {
    # the unpatched lock, for locks that are never held across a switch
    'plain_lock': monkey.get_original('_thread', 'allocate_lock'),
    'thread': Thread,
    'queue': queue.JoinableQueue,
    'queue_empty': queue.Empty,
    'event': Event,
    'websocket': UWSGIWebSocket if _HAS_WEBSOCKET else None,
    'sleep': gevent.sleep,
}
