"""``Server``: the sync (WSGI) Engine.IO server, a thin glue on the core.

Every protocol decision is :class:`engineio._sansio.ServerCore`'s.  This
module translates WSGI requests into core calls and performs the actions
the core leaves, as the :mod:`engineio._sansio` docstring describes:

* one lock (``_lock``) around every core call; the actions are drained
  inside it (WebSocket frames go to the socket's ordered outbox there) and
  performed after it is released;
* a held long poll waits on an event in its own request thread, with a
  bounded wait; a WebSocket is read in its own request thread;
* one service thread for all sessions sleeps until ``core.next_deadline()``
  (woken early through an event when a call moved the deadline earlier)
  and runs ``core.expire``: no thread per session or ping;
* ``message`` handlers run inline, or in a new thread each when
  ``async_handlers`` is set (the reference's default).

"Thread" means the async mode's: an OS thread in ``threading``, a green
thread in ``eventlet``, a greenlet in ``gevent`` and ``gevent_uwsgi``.
Everything that waits (the held poll's event, the service task's wake-up
event and task, a WebSocket's write lock and socket) comes from the driver,
so that with eventlet or gevent a wait yields to the hub whether or not the
standard library is monkey-patched.  The core lock stays a plain
``threading.Lock``: nothing that is done while holding it can block or
switch green threads (no I/O, no waiting), so it is never contended across
a switch, and it is the cheapest lock there is.
"""
from __future__ import annotations

import logging
import sys
import threading
import time
from io import BytesIO as _BytesIO
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from . import packet
from ._sansio import (ACTION_DISCONNECT, ACTION_MESSAGE, ACTION_WAKE_POLL,
                      ACTION_WS_CLOSE, ACTION_WS_SEND, AcceptWebSocket,
                      Handshake, HoldPoll, ReadBody, request_from_environ)
from ._sansio import responses as _responses
from ._wsgi_websocket import HandshakeRefused, get_raw_socket
from .base_server import BaseServer
from .socket import Socket

__all__ = ['Server']

_MESSAGE = packet.MESSAGE
_Packet = packet.Packet
_monotonic = time.monotonic
_INF = float('inf')
_NO_ACTIONS: Tuple[Tuple[int, Any, Any], ...] = ()
# compared with the class attribute at each ping: a patched hook is run
_ORIGINAL_SEND_PING = Socket._send_ping
# and at each POST: unpatched, the server reads the body itself
_ORIGINAL_HANDLE_POST = Socket.handle_post_request
# extra seconds a held poll waits beyond the heartbeat before giving up on
# a wake-up (the service thread normally answers it long before)
_POLL_SLACK = 5.0
_BODY_TIMEOUT = 10.0


class Server(BaseServer):
    """An Engine.IO server for WSGI (python-engineio 4.15.1's API).

    Options: see REFERENCE §1.2 (``async_mode``, ``ping_interval``,
    ``ping_timeout``, ``max_http_buffer_size``, ``allow_upgrades``,
    ``http_compression``, ``compression_threshold``, ``cookie``,
    ``cors_allowed_origins``, ``cors_credentials``, ``logger``, ``json``,
    ``async_handlers``, ``monitor_clients``, ``transports``), plus ours:
    ``allow_eio3``, ``upgrade_timeout``, ``close_timeout``,
    ``max_queued_packets``.  ``handle_request(environ, start_response)`` is
    the WSGI entry point (or use :class:`engineio.WSGIApp`).

    ``async_mode``: ``threading``, ``eventlet``, ``gevent`` or
    ``gevent_uwsgi``.  Left to None, the first of eventlet, gevent_uwsgi,
    gevent that is installed *and in charge of this process* is taken,
    else threading: eventlet or gevent once it monkey-patched the standard
    library, gevent_uwsgi inside a uWSGI process running its gevent loop.
    (python-engineio takes eventlet or gevent whenever it is merely
    installed, which breaks a threaded server in the same environment.)
    To run eventlet's or gevent's server without monkey-patching, name the
    mode: in threading mode, a held poll would block their hub.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()
        # set to wake the service task early (a deadline moved earlier, or
        # shutdown); cleared by the task, under the lock, before it sleeps
        self._service_wake = self._async['event']()
        # the deadline the service thread sleeps toward: INF while it waits
        # for any deadline, -INF while it is not waiting (no wake needed)
        self._service_when = -_INF
        self._service_thread: Any = None
        # ``Deadlines.pushes`` when the service thread last read the next
        # deadline: while it is unchanged, no deadline moved earlier and a
        # drain need not look (most requests set no deadline)
        self._deadlines = self._core.deadlines
        self._service_pushes = 0
        self._shut_down = False
        # cached: per-packet logging only when someone listens
        self._debug = self.logger.isEnabledFor(logging.DEBUG)
        if self._async['websocket'] is None:
            # the mode has no WebSocket (uWSGI built without it): offer no
            # upgrade, refuse the transport
            self.config.upgrades_from_polling = []
            self.config.websocket_enabled = False

    def _select_async_mode(self, async_mode: Optional[str]) -> Any:
        """With ``async_mode=None``, skip eventlet, gevent_uwsgi and gevent
        unless they are in use in this process (see the class docstring)."""
        if async_mode is None:
            for mode in self.async_modes():
                if mode == 'threading' or _mode_in_use(mode):
                    try:
                        return super()._select_async_mode(mode)
                    except ValueError:  # installed, but will not import
                        continue
        return super()._select_async_mode(async_mode)

    # -- public API -------------------------------------------------------

    def send(self, sid: str, data: Any) -> None:
        """Send ``data`` (str, bytes, or a JSON-able list/dict) to ``sid``.
        An unknown sid logs a warning."""
        self.send_packet(sid, _Packet(_MESSAGE, data))

    def send_packet(self, sid: str, pkt: Any) -> None:
        """Send a raw ``engineio.packet.Packet`` to ``sid``; the packet's
        encode cache is shared when the same object goes to many sids."""
        core = self._core
        with self._lock:
            session = core.sessions.get(sid)
            if session is not None:
                core.send_packet(session, pkt)
                actions = self._drain()
        if session is None:
            self.logger.warning('Cannot send to sid %s', sid)
            return
        if actions:
            self._perform(actions)

    def get_session(self, sid: str) -> Any:
        """The user session of ``sid``.  Raises ``KeyError`` when unknown."""
        return self._get_socket(sid).session

    def save_session(self, sid: str, session: Any) -> None:
        """Replace the user session of ``sid``.  Raises ``KeyError``."""
        self._get_socket(sid).session = session

    def session(self, sid: str) -> Any:
        """``with eio.session(sid) as session:``: the user session, saved
        back on exit."""
        return _SessionContext(self, sid)

    def disconnect(self, sid: Optional[str] = None) -> None:
        """Disconnect ``sid`` (or everyone) with ``server disconnect``.
        Returns once the disconnect handler has run, without waiting for a
        polling client to come back for its CLOSE packet (the reference
        hangs here, REFERENCE §2.14).  Unknown sids are ignored."""
        core = self._core
        with self._lock:
            now = _monotonic()
            if sid is not None:
                session = core.sessions.get(sid)
                if session is not None:
                    core.disconnect(session, now)
            else:
                for session in list(core.sessions.values()):
                    core.disconnect(session, now)
            actions = self._drain()
        self._perform(actions)

    def handle_request(self, environ: Dict[str, Any],
                       start_response: Callable[..., Any]) -> Any:
        """The WSGI entry point: answer one Engine.IO request."""
        core = self._core
        request = request_from_environ(environ)  # parsing needs no lock
        outcome: Any
        lock = self._lock
        # acquire/release rather than ``with``: half the cost, on the path
        # every request takes; _drain() only when it has work (most
        # requests leave no action and set no deadline)
        lock.acquire()
        try:
            outcome = core.handle_parsed(request, _monotonic())
            if core.actions or \
                    self._deadlines.pushes != self._service_pushes:
                actions = self._drain()
            else:
                actions = _NO_ACTIONS
        finally:
            lock.release()
        if actions:
            self._perform(actions)
        kind = type(outcome)
        if kind is ReadBody:
            if Socket.handle_post_request is _ORIGINAL_HANDLE_POST:
                outcome = self._receive_post(outcome, environ)
            else:  # python-socketio's admin UI patched it: let it see this
                socket = outcome.session.glue
                socket._post_ticket = outcome
                outcome = socket.handle_post_request(environ)
        elif kind is HoldPoll:
            outcome = self._hold_poll(outcome.session)
        elif kind is Handshake:
            outcome = self._handshake(outcome.session, environ)
        if type(outcome) is AcceptWebSocket:
            return self._run_websocket(outcome, environ, start_response)
        if '_ok' in self.__dict__ and outcome.status == 200:
            # python-socketio's admin UI wrapped _ok: it counts bytes out
            self._ok(packets=outcome)
        # a copy: the core may share a response between requests (the
        # POST's "ok"), and a middleware may add to the list it is given
        start_response(outcome.status_line, outcome.headers[:])
        return [outcome.body]

    def start_background_task(self, target: Callable[..., Any], *args: Any,
                              **kwargs: Any) -> Any:
        """Run ``target(*args, **kwargs)`` in a daemon thread; returns the
        started thread (it has ``join()``)."""
        thread = self._async['thread'](target=target, args=args,
                                       kwargs=kwargs)
        thread.start()
        return thread

    def sleep(self, seconds: float = 0) -> None:
        """Sleep with the driver's sleep (``time.sleep`` in threading)."""
        self._async['sleep'](seconds)

    def create_queue(self, *args: Any, **kwargs: Any) -> Any:
        """A new queue of the driver (``queue.Queue`` in threading)."""
        return self._async['queue'](*args, **kwargs)

    def get_queue_empty_exception(self) -> Any:
        """The exception the driver's queue raises when empty."""
        return self._async['queue_empty']

    def create_event(self, *args: Any, **kwargs: Any) -> Any:
        """A new event of the driver (``threading.Event`` in threading)."""
        return self._async['event'](*args, **kwargs)

    def shutdown(self) -> None:
        """Stop the service thread (pings and timeouts stop) and answer the
        held polls.  Connections are not closed: the web server does that."""
        with self._lock:
            self._shut_down = True
            self._service_wake.set()
            thread = self._service_thread
            sockets = list(self.sockets.values())
        if thread is not None and not thread.is_current():
            thread.join(5)
        for socket in sockets:
            socket._wake_poll()

    # -- driving the core -------------------------------------------------

    @staticmethod
    def _now() -> float:
        return _monotonic()

    def _call_core(self, method: Callable[..., Any], *args: Any) -> Any:
        """``method(*args)`` on the core under the lock, then perform the
        actions it left.  Used by ``Socket`` on its request paths."""
        with self._lock:
            result = method(*args)
            actions = self._drain()
        if actions:
            self._perform(actions)
        return result

    def _drain(self) -> Sequence[Tuple[int, Any, Any]]:
        """Take the core's actions (lock held).  WebSocket frames and
        closes go to the socket's outbox here, so that they keep the core's
        order whatever thread writes them; the service thread is told when
        the next deadline moved earlier."""
        core = self._core
        taken = core.actions
        if not taken:
            # the usual case; the empty list stays the core's (it appends
            # to it), so hand back a constant
            actions: Sequence[Tuple[int, Any, Any]] = _NO_ACTIONS
        else:
            # take the core's list as it is (core.drain() without the call)
            core.actions = []
            actions = taken
            while True:
                for kind, session, argument in taken:
                    if kind == ACTION_WS_SEND:
                        if not session.glue._queue_ws(argument):
                            self.logger.warning(
                                'WebSocket output of %s is full: closing',
                                session.sid)
                            core.transport_error(session)
                    elif kind == ACTION_WS_CLOSE:
                        session.glue._queue_ws_close(*argument)
                taken = core.actions  # an overflow may have closed one
                if not taken:
                    break
                core.actions = []
                actions.extend(taken)
        if self._deadlines.pushes != self._service_pushes:
            self._check_service()
        return actions

    def _check_service(self) -> None:
        """A deadline was set since the service thread last read the next
        one (lock held): start the thread at the first deadline, or wake it
        when the next deadline is now earlier than the one it sleeps
        toward."""
        if self._service_thread is None:
            if not self._shut_down:
                self._start_service()
            return
        when = self._service_when
        if when == -_INF:
            return  # running: it reads the next deadline before it sleeps
        self._service_pushes = self._deadlines.pushes
        deadline = self._core.next_deadline()
        if deadline is not None and deadline < when:
            self._service_when = -_INF  # woken: no need to wake it again
            self._service_wake.set()

    def _perform(self, actions: Sequence[Tuple[int, Any, Any]]) -> None:
        """Perform drained actions (no lock held)."""
        handlers = self.handlers
        flushed = None
        for kind, session, argument in actions:
            if kind == ACTION_MESSAGE:  # the usual one first
                handler = handlers.get('message')
                if handler is None:
                    continue
                if self._debug:
                    self.logger.debug('%s: received %r', session.sid,
                                      argument)
                if self.async_handlers:
                    self.start_background_task(
                        self._call_handler, 'message', handler, session.sid,
                        argument)
                else:
                    self._call_handler('message', handler, session.sid,
                                       argument)
            elif kind == ACTION_WS_SEND or kind == ACTION_WS_CLOSE:
                socket = session.glue
                if socket is not flushed:
                    socket._flush_ws()
                    flushed = socket
            elif kind == ACTION_WAKE_POLL:
                session.glue._wake_poll()
            elif kind == ACTION_DISCONNECT:
                self._call_disconnect(session.glue, argument)

    def _call_handler(self, event: str, handler: Callable[..., Any],
                      *args: Any) -> None:
        try:
            handler(*args)
        except Exception:
            self.logger.exception('%s handler error', event)

    def _call_disconnect(self, socket: Socket, reason: str) -> None:
        handler = self.handlers.get('disconnect')
        sid = socket.sid
        try:
            if handler is not None:
                try:
                    handler(sid, reason)
                except TypeError:
                    # handlers written before 4.11 take no reason
                    handler(sid)
        except Exception:
            self.logger.exception('disconnect handler error')
        finally:
            self._forget_socket(socket)

    def _handshake(self, session: Any, environ: Any) -> Any:
        socket = Socket(self, session)
        session.glue = socket
        sid = session.sid
        self.sockets[sid] = socket
        result: Any = None
        failed = False
        handler = self.handlers.get('connect')
        if handler is not None:
            try:
                result = handler(sid, environ)
            except Exception:
                self.logger.exception('connect handler error')
                failed = True
        with self._lock:
            outcome: Any = self._core.finish_handshake(
                session, result, failed, _monotonic())
            actions = self._drain()
        if type(outcome) is not AcceptWebSocket and outcome.status != 200:
            self._forget_socket(socket)
        if actions:
            self._perform(actions)
        return outcome

    def _hold_poll(self, session: Any) -> Any:
        """Wait (bounded) until the core wakes this GET, then answer it.
        The core wakes it at the next ping at the latest, and a client that
        never answers is timed out, which wakes it too."""
        socket = session.glue
        event = self._async['event']()
        with self._lock:
            if session.poll_held and not session.poll_woken:
                socket._poll_event = event
            else:
                event.set()  # woken between the two lock holds
        config = self.config
        event.wait(config.ping_interval + config.ping_timeout + _POLL_SLACK)
        with self._lock:
            socket._poll_event = None
            response = self._core.answer_poll(session)
            actions = self._drain()
        if actions:
            self._perform(actions)
        return response

    def _receive_post(self, ticket: ReadBody, environ: Dict[str, Any]
                      ) -> Any:
        """Read the body the core asked for (``ticket``) and hand it over:
        called directly for an unpatched ``Socket``, else through
        ``Socket.handle_post_request``.  A 400 when the client went away
        mid-body."""
        wsgi_input = environ.get('wsgi.input')
        length = ticket.length
        core = self._core
        if type(wsgi_input) is _BytesIO and length >= 0:
            # in memory, with a Content-Length the core checked against the
            # limit: one read (see _read_body)
            try:
                body: Optional[bytes] = wsgi_input.read(length)
            except ValueError:  # closed
                body = None
            if body is not None and len(body) < length:
                body = None  # Content-Length promised more
        else:
            body = self._read_body(environ, ticket.limit + 1)
        if body is None:
            self._call_core(core.post_aborted, ticket)
            return _responses.error_response(_responses.BAD_REQUEST,
                                             ticket.cors)
        lock = self._lock
        lock.acquire()
        try:
            response = core.receive_post(ticket, body, _monotonic())
            if core.actions or \
                    self._deadlines.pushes != self._service_pushes:
                actions = self._drain()
            else:
                actions = _NO_ACTIONS
        finally:
            lock.release()
        if actions:
            self._perform(actions)
        return response

    def _read_body(self, environ: Dict[str, Any], limit: int
                   ) -> Optional[bytes]:
        """The request body, at most ``limit`` bytes; None when the client
        went away (or stalled past a timeout) before sending it all."""
        wsgi_input = environ.get('wsgi.input')
        length_text = environ.get('CONTENT_LENGTH')
        if wsgi_input is None:
            return b''
        if length_text:
            try:
                length = int(length_text)
            except ValueError:
                return None
            to_read = min(length, limit)
        elif environ.get('wsgi.input_terminated'):
            length = -1  # chunked: read to the end, up to the limit
            to_read = limit
        else:
            return b''  # no length, no terminated stream: no body (WSGI)
        if type(wsgi_input) is _BytesIO:
            # already in memory (test clients, servers that buffer bodies):
            # it cannot stall, so no socket timeout and no read loop
            try:
                body = wsgi_input.read(to_read)
            except ValueError:  # closed
                return None
            if length >= 0 and len(body) < to_read:
                return None  # Content-Length promised more
            return body
        sock: Any
        sock, _ = get_raw_socket(environ)
        restore = False
        if sock is not None:
            # a client that stops mid-body must not hold this thread
            try:
                if sock.gettimeout() is None:
                    sock.settimeout(_BODY_TIMEOUT)
                    restore = True
            except OSError:
                sock = None
        try:
            chunks = []
            size = 0
            while size < to_read:
                chunk = wsgi_input.read(to_read - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except (OSError, ValueError):
            return None
        finally:
            if restore:
                try:
                    sock.settimeout(None)
                except OSError:
                    pass
        if length >= 0 and size < to_read:
            return None  # Content-Length promised more
        return chunks[0] if len(chunks) == 1 else b''.join(chunks)

    def _run_websocket(self, outcome: AcceptWebSocket, environ: Any,
                       start_response: Callable[..., Any]) -> Any:
        """Complete the WebSocket handshake on the raw socket and run the
        session's WebSocket in this request thread."""
        session = outcome.session
        socket = session.glue
        config = self.config
        try:
            ws = self._async['websocket'].for_request(
                environ, outcome.ws_id, config.max_http_buffer_size,
                config.ping_interval + config.ping_timeout, self.logger,
                session.sid)
        except HandshakeRefused as exc:
            self.logger.info('%s: WebSocket refused: %s', session.sid, exc)
            self._call_core(self._core.websocket_closed, session,
                            outcome.ws_id)
            response = _responses.error_response(_responses.BAD_REQUEST,
                                                 [])
            start_response(response.status_line, response.headers)
            return [response.body]
        try:
            ws.accept(environ)
        except OSError:
            self._call_core(self._core.websocket_closed, session,
                            outcome.ws_id)
            return ws.end_response()
        try:
            socket._websocket_handler(ws)
        finally:
            ws.finish()
        return ws.end_response()

    # -- the service thread -----------------------------------------------

    def _start_service(self) -> None:
        """Start the one service thread (lock held; first session).
        Starting a thread or greenlet neither blocks nor switches."""
        thread = self._async['thread'](target=self._service)
        thread.name = 'engineio-service'
        self._service_thread = thread
        self._service_when = _INF  # treated as waiting until it runs
        thread.start()

    def _service(self) -> None:
        core = self._core
        lock = self._lock
        wake = self._service_wake
        pinged: Optional[List[Any]]
        actions: Sequence[Tuple[int, Any, Any]] = _NO_ACTIONS
        while True:
            lock.acquire()
            try:
                if self._shut_down:
                    self._service_when = -_INF
                    return
                self._service_pushes = self._deadlines.pushes
                deadline = core.next_deadline()
                now = _monotonic()
                if deadline is None or deadline > now:
                    # sleep toward it; a caller that moves the next
                    # deadline earlier sets ``wake`` (cleared here, under
                    # the lock, so that no such wake-up is lost)
                    self._service_when = _INF if deadline is None \
                        else deadline
                    wake.clear()
                    pinged = None
                else:
                    self._service_when = -_INF
                    pinged = core.expire(now)
                    actions = self._drain()
            finally:
                lock.release()
            if pinged is None:
                wake.wait(None if deadline is None else deadline - now)
                continue
            if pinged and Socket._send_ping is not _ORIGINAL_SEND_PING:
                # python-socketio's admin UI patched the hook: run it
                for session in pinged:
                    try:
                        session.glue._send_ping()
                    except Exception:
                        self.logger.exception('_send_ping hook error')
            if actions:
                try:
                    self._perform(actions)
                except Exception:  # a handler bug must not stop heartbeats
                    self.logger.exception('service thread error')


def _mode_in_use(mode: str) -> bool:
    """Whether ``mode``'s framework is in charge of this process: it
    monkey-patched the standard library (or, for gevent_uwsgi, uWSGI runs
    its gevent loop).  Looked up in ``sys.modules``, so that a mode that is
    merely installed, or imported (our own drivers import their framework),
    is neither imported nor chosen."""
    modules = sys.modules
    if mode == 'eventlet':
        patcher: Any = modules.get('eventlet.patcher')
        return patcher is not None and patcher.is_monkey_patched('socket')
    if mode == 'gevent':
        monkey: Any = modules.get('gevent.monkey')
        return monkey is not None and monkey.is_module_patched('socket')
    if mode == 'gevent_uwsgi':
        # the ``uwsgi`` module exists only inside a uWSGI process
        try:
            import uwsgi  # type: ignore
        except ImportError:
            return False
        return 'gevent' in getattr(uwsgi, 'opt', {})
    return False


class _SessionContext:
    """The ``with eio.session(sid)`` context manager."""

    def __init__(self, server: Server, sid: str) -> None:
        self.server = server
        self.sid = sid
        self.session: Any = None

    def __enter__(self) -> Any:
        self.session = self.server.get_session(self.sid)
        return self.session

    def __exit__(self, *exc: Any) -> None:
        self.server.save_session(self.sid, self.session)
