"""``AsyncSocket``: the asyncio glue's view of one session.

An ordinary Python class on purpose: python-socketio's admin UI patches
``handle_post_request``, ``_websocket_handler`` and ``_send_ping`` at class
level, and the server calls them on its request path, so such patches take
effect.  The protocol state lives in the wrapped core session
(:class:`engineio._sansio.Session`); this class holds what only asyncio
needs: the future a held poll waits on, and the current WebSocket with its
writer.
"""
from __future__ import annotations

import asyncio
from types import CoroutineType
from typing import Any, Dict, Generator, List, Optional, Union

from ._sansio.session import OPEN, UPGRADED

__all__ = ['AsyncSocket']


class _Resume:
    """Awaitable that finishes a coroutine already stepped once (it yielded
    ``yielded``), forwarding what the awaiting task sends or throws."""

    __slots__ = ('coro', 'yielded')

    def __init__(self, coro: Any, yielded: Any) -> None:
        self.coro = coro
        self.yielded = yielded

    def __await__(self) -> Generator[Any, Any, Any]:
        coro = self.coro
        value = self.yielded
        self.coro = self.yielded = None
        while True:
            try:
                try:
                    sent = yield value
                except GeneratorExit:
                    coro.close()
                    raise
                except BaseException as exc:
                    value = coro.throw(exc)
                else:
                    value = coro.send(sent)
            except StopIteration as stop:
                return stop.value


class _Outbox:
    """Frames waiting for one WebSocket, written in order.

    No task while idle: a frame produced when no write is pending is written
    at once by the producer (the ASGI ``send`` coroutine is stepped
    synchronously; servers complete it without suspending unless the
    transport is paused).  A write that does suspend is finished by a task,
    which then writes what queued behind it and ends.  So producers never
    wait for a client, and frames keep their order.  The queue is bounded
    by the server's ``max_queued_packets``: a client that stops reading is
    disconnected with ``transport error`` rather than let the server buffer
    without bound.  An ``int`` in the queue is a close code: it is written
    last.

    The queue is a list, emptied with ``clear()`` once written: an idle
    connection keeps an empty list (56 bytes) where a deque would keep its
    first block (~600 bytes) for the life of the connection; at 10,000 idle
    WebSockets that is 6 MB.  Order is kept by writing from the front and
    cutting the written part off in one ``del`` (the writer task takes at
    most ``_DRAIN_BATCH`` at a time, so a long backlog costs linear time).
    """

    __slots__ = ('ws', 'queue', 'task', 'closing', 'done')

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.queue: List[Union[str, bytes, int]] = []
        #: the task finishing a suspended write (None: no write pending)
        self.task: Optional[asyncio.Future] = None
        #: a close code was queued (nothing is queued after it)
        self.closing = False
        #: closed or failed: nothing more is written
        self.done = False

    def flush(self, inline: bool) -> None:
        """Write what is queued: at once when ``inline`` (called from a
        task) and no write is pending, else from a task: the one task that
        writes every outbox deferred in this loop iteration (see
        :func:`_defer`)."""
        if self.task is not None or self.done or not self.queue:
            return
        if not inline:
            _defer(self)
            return
        queue = self.queue
        ws = self.ws
        written = 0
        while written < len(queue):
            item = queue[written]
            written += 1
            if type(item) is int:
                self.done = True
                coro = ws.close(item)
            else:
                coro = ws.send(item)
            if type(coro) is not CoroutineType:
                # an awaitable that cannot be stepped (a patched send)
                del queue[:written]
                self.task = asyncio.ensure_future(self._drain(coro, _AWAIT))
                return
            try:
                yielded = coro.send(None)
            except StopIteration:
                continue
            except Exception:  # the peer went away: the reader will notice
                self.done = True
                queue.clear()
                return
            # suspended (e.g. the transport is paused): a task finishes it
            del queue[:written]
            self.task = asyncio.ensure_future(self._drain(coro, yielded))
            return
        queue.clear()

    async def _drain(self, coro: Any, yielded: Any) -> None:
        queue = self.queue
        ws = self.ws
        try:
            if coro is not None:
                if yielded is _AWAIT:
                    await coro
                else:
                    await _Resume(coro, yielded)
            while queue and not self.done:
                batch = queue[:_DRAIN_BATCH]
                del queue[:_DRAIN_BATCH]
                for item in batch:
                    if self.done:
                        return
                    if type(item) is int:
                        self.done = True
                        await ws.close(item)
                        return
                    await ws.send(item)
        except asyncio.CancelledError:
            raise
        except Exception:  # the peer went away: the reader will notice
            self.done = True
            queue.clear()
        finally:
            self.task = None


#: frames the writer task takes off the queue at a time (they no longer
#: count towards ``max_queued_packets`` while it writes them)
_DRAIN_BATCH = 64
_AWAIT = object()

# the outboxes waiting for the deferred-write task of each running loop
_deferred: Dict[Any, List[_Outbox]] = {}


def _defer(outbox: _Outbox) -> None:
    """Have ``outbox`` written from a task, soon.

    Frames produced outside a task (the heartbeat timer's pings) are not
    written where they are produced: an ASGI ``send`` is stepped only from
    a task.  One task writes every outbox deferred until it runs, rather
    than a task per outbox: when one timer callback pings many sessions
    (the server's timer fires once for all the deadlines that are due),
    that is one task for the whole round instead of one per ping.  Frames
    keep their order: an inline write that comes first writes them, and
    the deferred task then finds nothing left."""
    loop = asyncio.get_running_loop()
    batch = _deferred.get(loop)
    if batch is not None:
        batch.append(outbox)
        return
    batch = _deferred[loop] = [outbox]
    task = loop.create_task(_write_deferred(batch))
    # removed when the task ends, even cancelled before it ran (a loop
    # closing): nothing keeps a closed loop alive
    task.add_done_callback(lambda _: _forget_batch(loop, batch))


def _forget_batch(loop: Any, batch: List[_Outbox]) -> None:
    if _deferred.get(loop) is batch:
        del _deferred[loop]


async def _write_deferred(batch: List[_Outbox]) -> None:
    loop = asyncio.get_running_loop()
    _forget_batch(loop, batch)   # deferred from now on: the next task
    for outbox in batch:
        outbox.flush(True)


class AsyncSocket:
    """One Engine.IO session as python-socketio sees it.

    ``sid``; ``session`` (the user's dict for ``get_session``);
    ``upgraded``, ``connected`` and ``closed`` with the reference's
    meanings; ``core_session`` is the protocol state.
    """

    def __init__(self, server: Any, core_session: Any) -> None:
        self.server = server
        self.core_session = core_session
        self.sid = core_session.sid
        #: the user session (``get_session`` / ``save_session``)
        self.session: Any = {}
        # the future a held GET waits on (True: the client went away)
        self._poll_waiter: Optional[asyncio.Future] = None
        # the POST body ticket of the request being handled
        self._post_ticket: Any = None
        # the current WebSocket's outbox (None: no WebSocket)
        self._outbox: Optional[_Outbox] = None
        # set once the disconnect handler ran (or the session was refused)
        self._closed = False

    @property
    def upgraded(self) -> bool:
        """True once the session is on WebSocket."""
        return self.core_session.upgrade_state == UPGRADED

    @property
    def connected(self) -> bool:
        """True once accepted by the ``connect`` handler, until closed."""
        return self.core_session.state == OPEN

    @property
    def closed(self) -> bool:
        """True once the session ended and its disconnect handler ran."""
        return self._closed

    # -- the methods python-socketio patches ------------------------------

    async def handle_post_request(self, environ: Any) -> Any:
        """Read this POST's body (lazily, at most the size limit plus one
        byte) and hand it to the core.  Returns the core's response, or None
        when the client went away before sending it all."""
        server = self.server
        core = server._core
        ticket = self._post_ticket
        self._post_ticket = None
        try:
            body = await server._async['read_body'](environ,
                                                    ticket.limit + 1)
        except asyncio.CancelledError:
            # the framework cancelled the request (Sanic does when its
            # client disconnects): the session may not keep a POST pending
            core.post_aborted(ticket)
            server._perform_in_background()
            raise
        if body is None:
            core.post_aborted(ticket)
            await server._flush()
            return None
        response = core.receive_post(ticket, body, server._now())
        await server._flush()
        return response

    async def _websocket_handler(self, ws: Any) -> None:
        """Run WebSocket ``ws`` (accepted by the driver) to its end: one
        ``await ws.wait()`` per message, nothing spawned per message.

        An idle WebSocket is this coroutine suspended in ``ws.wait()``, for
        hours: its frame holds only what the loop needs (no cached bound
        methods: each is a 64-byte object per connection, and on 3.11 a
        method call on a local is as fast as calling a cached one)."""
        server = self.server
        core = server._core
        session = self.core_session
        ws_id = ws.ws_id
        outbox = self._outbox = _Outbox(ws)
        limit = server.max_http_buffer_size
        loop = server._loop
        if loop is None:
            server._now()  # sets server._loop
            loop = server._loop
        try:
            core.websocket_open(session, ws_id)
            await server._flush()
            while True:
                data = await ws.wait()
                if data is None:
                    break
                # a str's UTF-8 size is between len and 4 * len: encode only
                # when the cheap bounds cannot decide
                size = len(data)
                if size > limit or (type(data) is str and size * 4 > limit
                                    and len(data.encode('utf-8')) > limit):
                    server.logger.error(
                        'WebSocket message of %s over the %d byte limit: '
                        'closing (1009)', self.sid, limit)
                    outbox.closing = True
                    outbox.queue.append(1009)
                    outbox.flush(True)
                    break
                core.websocket_message(session, ws_id, data, loop.time())
                if core.actions:
                    # server._flush() inline: one coroutine less per message
                    calls = server._perform(True)
                    if calls:
                        await server._run_calls(calls)
        finally:
            core.websocket_closed(session, ws_id)
            if self._outbox is outbox:
                self._outbox = None
            task = outbox.task
            if task is not None and outbox.closing and not task.done():
                # let the close frame go out (ASGI sends do not block long)
                try:
                    await asyncio.wait_for(asyncio.shield(task), 5)
                except (asyncio.TimeoutError, Exception):
                    pass
            task = outbox.task
            if task is not None:
                task.cancel()
            await server._flush()

    async def _send_ping(self) -> None:
        """Hook run after the server sent this session a PING.

        The core sends pings itself; the server calls this only when it was
        patched (python-socketio's admin UI reports sockets here), so an
        unpatched server spends no task per ping."""

    # -- the reference's other socket methods -----------------------------

    async def send(self, pkt: Any) -> None:
        """Send a ``packet.Packet`` to this client."""
        await self.server.send_packet(self.sid, pkt)

    async def close(self, wait: bool = True, abort: bool = False,
                    reason: Optional[str] = None) -> None:
        """Disconnect this client (``server disconnect``)."""
        await self.server.disconnect(self.sid)

    # -- called by the server's action loop (sync) ------------------------

    def _ws_send(self, frames: Any, inline: bool = False) -> None:
        outbox = self._outbox
        if outbox is None:
            return
        queue = outbox.queue
        queue.extend(frames)
        if len(queue) > self.server.config.max_queued_packets:
            queue.clear()
            self.server.logger.warning(
                'WebSocket output of %s is full: closing', self.sid)
            self.server._core.transport_error(self.core_session)
            return
        outbox.flush(inline)

    def _ws_close(self, ws_id: int, code: int, inline: bool = False) -> None:
        outbox = self._outbox
        if outbox is None or outbox.ws.ws_id != ws_id or outbox.closing:
            return
        outbox.closing = True
        outbox.queue.append(code)
        outbox.flush(inline)

    def _wake_poll(self, aborted: bool) -> None:
        waiter = self._poll_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(aborted)

