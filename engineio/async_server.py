"""``AsyncServer``: the asyncio Engine.IO server, a thin glue on the core.

Every protocol decision is :class:`engineio._sansio.ServerCore`'s; this
module reads requests through the driver of its ``async_mode``, calls the
core, performs the actions it leaves (wake a held poll, write WebSocket
frames, run handlers) and keeps one ``loop.call_at`` timer armed at the
core's next deadline: idle sessions cost one heap entry each, not a task.
"""
from __future__ import annotations

import asyncio
import logging
import math
from inspect import isawaitable
from types import CoroutineType
from typing import Any, Callable, List, Optional, Set, Tuple

from . import packet
from ._sansio import (ACTION_DISCONNECT, ACTION_MESSAGE, ACTION_WAKE_POLL,
                      ACTION_WS_CLOSE, ACTION_WS_SEND, AcceptWebSocket,
                      Handshake, HoldPoll, ReadBody)
from ._sansio.responses import Response as _Response
from .async_socket import AsyncSocket
from .base_server import BaseServer

__all__ = ['AsyncServer']

#: seconds: the heartbeat timer fires at multiples of this, so the deadlines
#: of sessions that opened close together (a ping round) share one callback
#: and their pings one write task (a ping or a timeout is up to 50 ms late)
_TIMER_GRID = 0.05
_MESSAGE = packet.MESSAGE
_Packet = packet.Packet
# compared with the class attribute at each ping: a patched hook is run
_ORIGINAL_SEND_PING = AsyncSocket._send_ping


class AsyncServer(BaseServer):
    """An Engine.IO server for asyncio (python-engineio 4.15.1's API).

    Options as :class:`engineio.Server` (see REFERENCE §1.2).  The
    ``async_mode`` is ``'aiohttp'``, ``'sanic'``, ``'tornado'`` or
    ``'asgi'``; ``None`` picks the first of them whose framework is
    installed (``asgi`` needs none).  ``handle_request`` is the driver's
    entry point: ``await eio.handle_request(scope, receive, send)`` for
    ``asgi`` (or use :class:`engineio.ASGIApp`), the aiohttp or Sanic
    request for those (``eio.attach(app)`` routes it), and for tornado the
    request handler, an instance of the class that
    ``engineio.get_tornado_handler(eio)`` returns.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._timer: Optional[asyncio.TimerHandle] = None
        self._timer_when: Optional[float] = None
        # ``Deadlines.pushes`` when _rearm last read the next deadline:
        # while it is unchanged no deadline moved earlier, so the timer
        # needs no look (most calls set no deadline); -1 forces a look
        self._deadlines = self._core.deadlines
        self._rearm_pushes = -1
        # every task we start (handlers, pings hooks, poll watchers, user
        # background tasks), kept alive here and cancelled by shutdown()
        self._tasks: Set[asyncio.Future] = set()
        self._shut_down = False
        # cached: per-packet logging only when someone listens
        self._debug = self.logger.isEnabledFor(logging.DEBUG)

    def is_asyncio_based(self) -> bool:
        """True: this server runs on asyncio."""
        return True

    def async_modes(self) -> List[str]:
        """The asyncio modes, in auto-selection order (only those whose
        driver and framework import are ever picked)."""
        return ['aiohttp', 'sanic', 'tornado', 'asgi']

    def attach(self, app: Any, engineio_path: str = 'engine.io') -> None:
        """Route ``/<engineio_path>/`` of an aiohttp or Sanic application
        to this server (modes whose driver has ``create_route`` only;
        ``ValueError`` for the others)."""
        create_route = self._async.get('create_route')
        if create_route is None:
            raise ValueError('attach() is not supported by async_mode %s'
                             % self.async_mode)
        create_route(app, self, '/{}/'.format(engineio_path.strip('/')))

    # -- public API -------------------------------------------------------

    async def send(self, sid: str, data: Any) -> None:
        """Send ``data`` (str, bytes, or a JSON-able list/dict) to ``sid``.
        An unknown sid logs a warning."""
        if type(data) is not str or \
                type(self).send_packet is not _ORIGINAL_SEND_PACKET:
            await self.send_packet(sid, _Packet(_MESSAGE, data))
            return
        # send_packet without building the packet (the core encodes a str)
        core = self._core
        session = core.sessions.get(sid)
        if session is None:
            self.logger.warning('Cannot send to sid %s', sid)
            return
        core.send_text(session, data)
        if core.actions:
            calls = self._perform(True)  # self._flush() inline
            if calls:
                await self._run_calls(calls)

    async def send_packet(self, sid: str, pkt: Any) -> None:
        """Send a raw ``engineio.packet.Packet`` to ``sid``; the packet's
        encode cache is shared when the same object goes to many sids."""
        core = self._core
        session = core.sessions.get(sid)
        if session is None:
            self.logger.warning('Cannot send to sid %s', sid)
            return
        core.send_packet(session, pkt)
        if core.actions:
            await self._flush()

    async def get_session(self, sid: str) -> Any:
        """The user session of ``sid``.  Raises ``KeyError`` when unknown."""
        return self._get_socket(sid).session

    async def save_session(self, sid: str, session: Any) -> None:
        """Replace the user session of ``sid``.  Raises ``KeyError``."""
        self._get_socket(sid).session = session

    def session(self, sid: str) -> Any:
        """``async with eio.session(sid) as session:``: the user session,
        saved back on exit."""
        return _SessionContext(self, sid)

    async def disconnect(self, sid: Optional[str] = None) -> None:
        """Disconnect ``sid`` (or everyone) with ``server disconnect``; the
        disconnect handler has run when this returns.  Unknown sids are
        ignored."""
        core = self._core
        now = self._now()
        if sid is not None:
            session = core.sessions.get(sid)
            if session is not None:
                core.disconnect(session, now)
        else:
            for session in list(core.sessions.values()):
                core.disconnect(session, now)
        await self._flush()

    async def handle_request(self, *args: Any, **kwargs: Any) -> Any:
        """The driver's entry point: ``(scope, receive, send)`` for
        ``asgi``; ``(request)`` for ``aiohttp`` and ``sanic`` (returns the
        response); ``(handler)`` for ``tornado``."""
        return await self._async['handle_request'](self, *args, **kwargs)

    def start_background_task(self, target: Callable[..., Any], *args: Any,
                              **kwargs: Any) -> 'asyncio.Future[Any]':
        """Run coroutine function ``target`` as an ``asyncio.Task``."""
        return self._track(asyncio.ensure_future(target(*args, **kwargs)))

    async def sleep(self, seconds: float = 0) -> None:
        """``asyncio.sleep``."""
        await asyncio.sleep(seconds)

    def create_queue(self, *args: Any, **kwargs: Any) -> asyncio.Queue:
        """A new ``asyncio.Queue``."""
        return asyncio.Queue(*args, **kwargs)

    def get_queue_empty_exception(self) -> type:
        """``asyncio.QueueEmpty``."""
        return asyncio.QueueEmpty

    def create_event(self, *args: Any, **kwargs: Any) -> asyncio.Event:
        """A new ``asyncio.Event``."""
        return asyncio.Event(*args, **kwargs)

    async def shutdown(self) -> None:
        """Stop the heartbeat timer and cancel every task this server
        started (handlers, WebSocket writers, poll watchers, background
        tasks).  Connections are not closed: the web server does that."""
        self._shut_down = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = self._timer_when = None
        tasks = [t for t in self._tasks if not t.done()]
        for socket in list(self.sockets.values()):
            outbox = socket._outbox
            task = outbox.task if outbox is not None else None
            if task is not None and not task.done():
                tasks.append(task)
        current = asyncio.current_task()
        tasks = [t for t in tasks if t is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    # -- driving the core (called by the driver and AsyncSocket) ----------

    def _now(self) -> float:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop.time()

    async def _handle_http(self, method: str, query_string: str,
                           headers: Any, scheme: str, environ: Any) -> Any:
        """Answer one request: a ``Response`` to write, an
        ``AcceptWebSocket`` for the driver to run (then
        ``AsyncSocket._websocket_handler``), or None when the client went
        away and nothing is to be written."""
        core = self._core
        now = self._now()
        outcome = core.handle_request(method, query_string, headers, scheme,
                                      environ, now)
        if isinstance(outcome, HoldPoll):
            outcome = await self._hold_poll(outcome.session, environ)
        elif isinstance(outcome, ReadBody):
            socket = outcome.session.glue
            socket._post_ticket = outcome
            outcome = await socket.handle_post_request(environ)
        else:
            if isinstance(outcome, Handshake):
                outcome = await self._handshake(outcome.session, environ)
            if core.actions:
                await self._flush()
            else:
                self._rearm()
        if '_ok' in self.__dict__ and type(outcome) is _Response and \
                outcome.status == 200:
            # python-socketio's admin UI wrapped _ok: it counts bytes out
            self._ok(packets=outcome)
        return outcome

    async def _handshake(self, session: Any, environ: Any) -> Any:
        socket = AsyncSocket(self, session)
        session.glue = socket
        sid = session.sid
        self.sockets[sid] = socket
        result: Any = None
        failed = False
        handler = self.handlers.get('connect')
        if handler is not None:
            try:
                result = handler(sid, environ)
                if isawaitable(result):
                    result = await result
            except Exception:
                self.logger.exception('connect handler error')
                failed = True
        outcome = self._core.finish_handshake(session, result, failed,
                                              self._now())
        if not isinstance(outcome, AcceptWebSocket) and outcome.status != 200:
            self._forget_socket(socket)
        return outcome

    async def _hold_poll(self, session: Any, environ: Any) -> Any:
        core = self._core
        socket = session.glue
        loop = asyncio.get_running_loop()
        waiter = socket._poll_waiter = loop.create_future()
        if core.actions:
            await self._flush()  # e.g. a ping armed by this very poll
        else:
            self._rearm()
        # the one task per held poll: it notices the client leaving (a
        # driver without ``wait_disconnect`` has its framework cancel the
        # request instead)
        watcher = None
        if self._async.get('wait_disconnect') is not None:
            watcher = self._track(loop.create_task(
                self._watch_disconnect(socket, waiter, environ)))
        try:
            aborted = await waiter
        except asyncio.CancelledError:
            if watcher is not None:
                watcher.cancel()
            socket._poll_waiter = None
            core.poll_aborted(session)
            self._perform_in_background()
            raise
        if watcher is not None:
            watcher.cancel()
        socket._poll_waiter = None
        if aborted:
            core.poll_aborted(session)
            await self._flush()
            return None
        response = core.answer_poll(session)
        if core.actions:
            await self._flush()
        return response

    async def _watch_disconnect(self, socket: AsyncSocket,
                                waiter: asyncio.Future, environ: Any) -> None:
        await self._async['wait_disconnect'](environ)
        if socket._poll_waiter is waiter:
            socket._wake_poll(True)

    # -- actions ----------------------------------------------------------

    async def _flush(self) -> None:
        """Perform the core's pending actions; await the handlers they
        call (message handlers become tasks when ``async_handlers``)."""
        calls = self._perform(True)
        if calls:
            await self._run_calls(calls)

    def _perform_in_background(self) -> None:
        """Perform pending actions from a sync context (the timer): handler
        calls, if any, run in one task."""
        calls = self._perform(False)
        if calls:
            self._track(asyncio.ensure_future(self._run_calls(calls)))

    def _perform(self, inline: bool) -> Optional[List[Tuple[int, Any, Any]]]:
        """Perform the core's pending actions but the handler calls, which
        are returned.  ``inline``: called from a task, so WebSocket frames
        may be written at once (else a writer task writes them)."""
        core = self._core
        calls: Optional[List[Tuple[int, Any, Any]]] = None
        actions = core.actions
        while actions:
            core.actions = []
            for action in actions:
                kind, session, argument = action
                if kind == ACTION_WS_SEND:
                    session.glue._ws_send(argument, inline)
                elif kind == ACTION_MESSAGE or kind == ACTION_DISCONNECT:
                    if calls is None:
                        calls = [action]
                    else:
                        calls.append(action)
                elif kind == ACTION_WAKE_POLL:
                    session.glue._wake_poll(False)
                elif kind == ACTION_WS_CLOSE:
                    ws_id, code = argument
                    session.glue._ws_close(ws_id, code, inline)
            actions = core.actions  # a full outbox may have closed one
        if self._deadlines.pushes != self._rearm_pushes:
            self._rearm()
        return calls

    async def _run_calls(self, calls: List[Tuple[int, Any, Any]]) -> None:
        handlers = self.handlers
        for kind, session, argument in calls:
            sid = session.sid
            if kind == ACTION_MESSAGE:
                handler = handlers.get('message')
                if handler is None:
                    continue
                if self._debug:
                    self.logger.debug('%s: received %r', sid, argument)
                if self.async_handlers:
                    self._track(asyncio.ensure_future(
                        self._call_handler('message', handler, sid,
                                           argument)))
                    continue
                # _call_handler inline: no coroutine frame per message
                try:
                    result = handler(sid, argument)
                    if result is not None and (
                            type(result) is CoroutineType or
                            isawaitable(result)):
                        await result
                except asyncio.CancelledError:
                    raise
                except Exception:
                    self.logger.exception('message handler error')
            else:
                await self._call_disconnect(session.glue, argument)

    async def _call_handler(self, event: str, handler: Callable[..., Any],
                            *args: Any) -> None:
        try:
            result = handler(*args)
            if result is not None and isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception:
            self.logger.exception('%s handler error', event)

    async def _call_disconnect(self, socket: AsyncSocket,
                               reason: str) -> None:
        handler = self.handlers.get('disconnect')
        sid = socket.sid
        try:
            if handler is not None:
                try:
                    result = handler(sid, reason)
                except TypeError:
                    # handlers written before 4.11 take no reason
                    result = handler(sid)
                if isawaitable(result):
                    await result
        except asyncio.CancelledError:
            raise
        except Exception:
            self.logger.exception('disconnect handler error')
        finally:
            self._forget_socket(socket)

    # -- the one timer ----------------------------------------------------

    def _rearm(self) -> None:
        """Point the one timer at the core's next deadline (only ever moved
        earlier here; a late-firing timer re-arms itself)."""
        pushes = self._deadlines.pushes
        if pushes == self._rearm_pushes:
            return
        self._rearm_pushes = pushes
        deadline = self._core.next_deadline()
        if deadline is None or self._shut_down:
            return
        deadline = math.ceil(deadline / _TIMER_GRID) * _TIMER_GRID
        when = self._timer_when
        if when is not None and when <= deadline:
            return
        if self._timer is not None:
            self._timer.cancel()
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        self._timer_when = deadline
        self._timer = loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = self._timer_when = None
        self._rearm_pushes = -1
        assert self._loop is not None
        pinged = self._core.expire(self._loop.time())
        if pinged and AsyncSocket._send_ping is not _ORIGINAL_SEND_PING:
            # python-socketio's admin UI patched the hook: run it
            for session in pinged:
                self._track(asyncio.ensure_future(session.glue._send_ping()))
        self._perform_in_background()

    def _track(self, task: 'asyncio.Future[Any]') -> 'asyncio.Future[Any]':
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task




_ORIGINAL_SEND_PACKET = AsyncServer.send_packet


class _SessionContext:
    """The ``async with eio.session(sid)`` context manager."""

    def __init__(self, server: AsyncServer, sid: str) -> None:
        self.server = server
        self.sid = sid
        self.session: Any = None

    async def __aenter__(self) -> Any:
        self.session = await self.server.get_session(self.sid)
        return self.session

    async def __aexit__(self, *exc: Any) -> None:
        await self.server.save_session(self.sid, self.session)
