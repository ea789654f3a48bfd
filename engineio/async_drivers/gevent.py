"""The ``gevent`` async mode: greenlets, gevent's queues, events and sleep.

Imports only where gevent is installed.  Everything the server waits on
comes from gevent (:class:`gevent.event.Event`, :class:`gevent.lock.
Semaphore`, greenlets for background tasks and the one service task), so
the mode works with the standard library monkey-patched or not: nothing
blocks the hub.

WebSocket is our own (:mod:`engineio._wsgi_websocket`) on the connection's
raw socket.  Serve with gevent's pywsgi and pass this module's
:class:`WebSocketHandler`, which hands the socket over in the environ::

    from gevent import pywsgi
    from engineio.async_drivers.gevent import WebSocketHandler

    pywsgi.WSGIServer(('', 8000), app,
                      handler_class=WebSocketHandler).serve_forever()

A plain pywsgi server works too (the socket is then found behind the
request stream), and so does gunicorn's ``gevent`` worker
(``gunicorn.socket``).

gevent-websocket's ``geventwebsocket.handler.WebSocketHandler``, which
python-engineio requires when gevent-websocket is installed, keeps working:
that handler answers the opening handshake itself before the application
runs, so the server takes over its socket after the handshake and frames
the connection with our code (size limit, close codes and all).  The one
difference it makes: a WebSocket that Engine.IO refuses (an unknown sid,
say) has already been accepted by then, so it is closed instead of being
answered with 400.
"""
from __future__ import annotations

import io
from typing import Any, Dict, Optional

import gevent
from gevent import monkey, pywsgi, queue
from gevent.event import Event
from gevent.lock import Semaphore

from .._wsgi_websocket import HandshakeRefused, WebSocket

__all__ = ['Thread', 'GeventWebSocket', 'WebSocketHandler']


class Thread(gevent.Greenlet):
    """A greenlet with the ``threading.Thread`` interface the server uses
    (``Thread(target=, args=, kwargs=)``, ``start()``, ``join()``)."""

    def __init__(self, target: Any, args: Any = (),
                 kwargs: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(target, *args, **(kwargs or {}))

    def is_current(self) -> bool:
        """Whether the caller runs in this greenlet."""
        return gevent.getcurrent() is self


class GeventWebSocket(WebSocket):
    """Our WebSocket with a gevent write lock, taking over the connection
    from gevent-websocket's handler when that one answered the handshake.

    Writes try the green socket's own non-blocking socket first: gevent's
    ``sendall`` is Python code that asks the kernel for the send buffer
    size and reads the clock on every call, more than the rest of an echo
    costs; a frame that does not fit at once falls back to it (which waits
    for the socket, with its timeout)."""

    lock_class = Semaphore
    current_task = staticmethod(gevent.getcurrent)

    def _sendall(self, data: bytes) -> None:
        sock = self.sock
        raw = getattr(sock, '_sock', None)
        try:
            sent = raw.send(data) if raw is not None else 0
        except BlockingIOError:
            sent = 0
        except AttributeError:  # not a gevent socket (a test's double)
            raw = None
            sent = 0
        if sent < len(data):
            sock.sendall(memoryview(data)[sent:] if sent else data)

    @classmethod
    def for_request(cls, environ: Dict[str, Any], ws_id: int,
                    max_message_size: Optional[int],
                    timeout: Optional[float], logger: Any = None,
                    sid: str = '') -> WebSocket:
        theirs = environ.get('wsgi.websocket')
        if theirs is None:
            return super().for_request(environ, ws_id, max_message_size,
                                       timeout, logger, sid)
        # geventwebsocket.handler.WebSocketHandler already sent the 101 and
        # has read nothing since: its handler's socket is ours from here
        sock = getattr(getattr(theirs, 'handler', None), 'socket', None)
        if sock is None:
            raise HandshakeRefused('gevent-websocket gave no socket')
        return cls(sock, 'geventwebsocket', ws_id, max_message_size,
                   timeout, logger, sid)

    def accept(self, environ: Dict[str, Any]) -> None:
        if self.mode != 'geventwebsocket':
            super().accept(environ)
            if self.mode == 'pywsgi':
                self._release_reader(environ.get('wsgi.input'))
        else:
            self.sock.settimeout(self.timeout)

    def _release_reader(self, reader: Any) -> None:
        """Close pywsgi's request reader (``wsgi.input`` of an upgrade
        request: the connection's ``BufferedReader``), whose 8 KiB buffer
        would otherwise live as long as the WebSocket, a third of what an
        idle connection costs.  The WebSocket reads the socket itself;
        what the reader had buffered past the request (a client that did
        not wait for the 101) is kept for the parser.  Closing the reader
        leaves the socket open; pywsgi ends the connection after the
        application (``close_connection``, or the reader being closed)."""
        if not isinstance(reader, io.BufferedReader) or reader.closed:
            return
        sock = self.sock
        try:
            # a non-blocking look: what is buffered, or what the socket
            # has at once, never a wait
            sock.settimeout(0)
            try:
                early = reader.peek(1)
            finally:
                sock.settimeout(self.timeout)
            reader.close()
        except (OSError, ValueError):
            return
        if early:
            self._unread = bytes(early)


class WebSocketHandler(pywsgi.WSGIHandler):
    """A pywsgi handler that gives Engine.IO the connection's socket
    (``environ['engineio.raw_socket']``), so that the ``gevent`` mode can
    run its WebSocket on it.  Pass it as ``handler_class`` to
    ``gevent.pywsgi.WSGIServer``; plain HTTP requests are handled exactly
    as by pywsgi's own handler."""

    def get_environ(self) -> Dict[str, Any]:
        environ: Dict[str, Any] = super().get_environ()
        environ['engineio.raw_socket'] = self.socket
        return environ

    def run_application(self) -> None:
        super().run_application()
        if self.status is None and \
                self.environ.get('HTTP_UPGRADE', '').lower() == 'websocket':
            # the application answered on the socket itself (a WebSocket
            # that has ended): the connection carries no further request
            self.close_connection = True


_async = {
    # the unpatched lock, for locks that are never held across a switch
    'plain_lock': monkey.get_original('_thread', 'allocate_lock'),
    'thread': Thread,
    'queue': queue.JoinableQueue,
    'queue_empty': queue.Empty,
    'event': Event,
    'websocket': GeventWebSocket,
    'sleep': gevent.sleep,
}
