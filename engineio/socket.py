"""``Socket``: the sync (WSGI) glue's view of one session.

An ordinary Python class on purpose: python-socketio's admin UI patches
``handle_post_request``, ``_websocket_handler`` and ``_send_ping`` at class
level, and :class:`engineio.Server` calls them on its request path, so such
patches take effect.  The protocol state lives in the wrapped core session
(:class:`engineio._sansio.Session`); this class holds only what threads
need: the event a held poll waits on and the current WebSocket with its
ordered outbox.

Threads: a held GET waits in its own request thread; a WebSocket is read
by its request thread; writes to the WebSocket come from any thread and are
serialised by the connection's write lock.  Frames are appended to
``_outbox`` while the server's core lock is held (so they keep the core's
order) and written after it is released by whichever thread gets the
outbox's flush lock first.

"Thread" means the async mode's (a greenlet under gevent, a green thread
under eventlet).  The flush lock is only ever tried without blocking, so a
plain lock serves in every mode: a holder that yields to the hub in the
middle of a write never makes another green thread block on it.  It is the
unpatched one (the driver's ``plain_lock``): once gevent or eventlet
monkey-patched ``threading``, its ``Lock`` is a green one written in
Python, several times dearer to take.

Writes are batched: the messages one wake-up of the reader brings are run
through the core back to back, and what they queue for this same
WebSocket leaves in one ``sendall`` after the batch (see
:meth:`Socket._websocket_handler`), so that a client with several
messages in flight costs one system call per wake-up, not one per message.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Deque, Optional, Union

from ._sansio.session import OPEN, UPGRADED

__all__ = ['Socket']

_monotonic = time.monotonic
_Lock = threading.Lock
#: a reader thread's batch flushes what it queued at least this often
#: (seconds), so that slow handlers do not hold their answers back
_BATCH_FLUSH = 0.005


class Socket:
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
        # the event the held GET waits on (set by ACTION_WAKE_POLL)
        self._poll_event: Optional[threading.Event] = None
        # the POST body ticket of the request being handled
        self._post_ticket: Any = None
        # the current WebSocket (None: none) and the frames / close codes
        # (int) waiting for it, appended under the server's core lock
        self._ws: Any = None
        self._outbox: Deque[Union[str, bytes, int]] = deque()
        # only ever tried without blocking (see the module docstring)
        self._flush_lock = server._async.get('plain_lock', _Lock)()
        # the reader's identity while it runs a batch (its writes to this
        # WebSocket wait for the batch's end), else None
        self._batch_owner: Any = None
        # send one message at a time with ws.send (someone wrapped it)
        self._ws_wrapped = False
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

    def handle_post_request(self, environ: Any) -> Any:
        """Read this POST's body (at most the size limit plus one byte,
        honouring ``Content-Length``) and hand it to the core.  Returns the
        core's response (a 400 when the client went away mid-body).  The
        server calls this only when it was patched (python-socketio's admin
        UI counts bytes here); unpatched, it reads the body itself."""
        ticket = self._post_ticket
        self._post_ticket = None
        return self.server._receive_post(ticket, environ)

    def _websocket_handler(self, ws: Any) -> None:
        """Run WebSocket ``ws`` (already accepted) to its end in this
        request thread, nothing spawned per message.

        Each wake-up's messages (``ws.receive()``) go through the core back
        to back; what they make this thread send to this same WebSocket
        (the echo of a ``message`` handler, say) stays in the outbox until
        the batch is done, and then leaves in one ``sendall``.  A batch that
        runs long (slow handlers) flushes every :data:`_BATCH_FLUSH`
        seconds.  Writes from other threads are never held back.  When
        python-socketio's admin UI wrapped ``wait``/``send`` on ``ws``, or
        the WebSocket has no ``receive`` (uWSGI's), it is read with
        ``ws.wait()`` one message at a time."""
        server = self.server
        core = server._core
        session = self.core_session
        ws_id = ws.ws_id
        call_core = server._call_core
        receive = getattr(ws, 'receive', None)
        instance = ws.__dict__ if hasattr(ws, '__dict__') else {}
        self._ws_wrapped = 'send' in instance or \
            getattr(ws, 'send_many', None) is None
        self._ws = ws
        try:
            call_core(core.websocket_open, session, ws_id)
            if receive is None or 'wait' in instance:
                self._read_one_by_one(ws)
            else:
                self._read_batches(ws, receive)
        finally:
            self._batch_owner = None
            call_core(core.websocket_closed, session, ws_id)
            if self._ws is ws:
                self._ws = None

    def _read_one_by_one(self, ws: Any) -> None:
        server = self.server
        core = server._core
        session = self.core_session
        ws_id = ws.ws_id
        call_core = server._call_core
        while True:
            data = ws.wait()
            if data is None:
                break
            call_core(core.websocket_message, session, ws_id, data,
                      _monotonic())

    def _read_batches(self, ws: Any, receive: Any) -> None:
        server = self.server
        core = server._core
        session = self.core_session
        ws_id = ws.ws_id
        lock = server._lock
        drain = server._drain
        perform = server._perform
        owner = ws.current_task()
        message = core.websocket_message
        outbox = self._outbox
        while True:
            messages = receive()
            if messages is None:
                break
            started = _monotonic()
            self._batch_owner = owner
            try:
                for data in messages:
                    now = _monotonic()
                    # server._call_core spelled out: this runs per message
                    lock.acquire()
                    try:
                        message(session, ws_id, data, now)
                        actions = drain()
                    finally:
                        lock.release()
                    if actions:
                        perform(actions)
                    if outbox and now - started > _BATCH_FLUSH:
                        self._batch_owner = None
                        self._flush_ws()
                        self._batch_owner = owner
                        started = now
            finally:
                self._batch_owner = None
            if outbox:
                self._flush_ws()

    def _send_ping(self) -> None:
        """Hook run after the server sent this session a PING.

        The core sends pings itself; the server calls this only when it was
        patched (python-socketio's admin UI reports sockets here), so an
        unpatched server spends nothing per ping."""

    # -- the reference's other socket methods -----------------------------

    def send(self, pkt: Any) -> None:
        """Send a ``packet.Packet`` to this client."""
        self.server.send_packet(self.sid, pkt)

    def close(self, wait: bool = True, abort: bool = False,
              reason: Optional[str] = None) -> None:
        """Disconnect this client (``server disconnect``)."""
        self.server.disconnect(self.sid)

    # -- called by the server (core lock held: no I/O) --------------------

    def _queue_ws(self, frames: Any) -> bool:
        """Queue frames for the WebSocket; False when the outbox overflowed
        (the client is not reading: the caller closes the session)."""
        outbox = self._outbox
        outbox.extend(frames)
        if len(outbox) > self.server.config.max_queued_packets:
            outbox.clear()
            return False
        return True

    def _queue_ws_close(self, ws_id: int, code: int) -> None:
        ws = self._ws
        if ws is not None and ws.ws_id == ws_id:
            self._outbox.append(code)

    # -- called by the server (no lock held) ------------------------------

    def _flush_ws(self) -> None:
        """Write what the outbox holds, in order, as few ``sendall`` as it
        takes (one, unless a close code is queued in between).  A thread
        that finds the flush lock taken leaves the work to its holder,
        which loops until the outbox is empty; the reader thread in the
        middle of a batch leaves it to the end of its batch."""
        outbox = self._outbox
        owner = self._batch_owner
        if owner is not None and self._ws is not None and \
                owner == self._ws.current_task():
            return
        flush_lock = self._flush_lock
        while outbox:
            if not flush_lock.acquire(False):
                return
            try:
                while outbox:
                    ws = self._ws
                    if ws is None:
                        outbox.clear()
                        break
                    item = outbox.popleft()
                    if type(item) is int:
                        ws.close(item)
                        continue
                    try:
                        if self._ws_wrapped or not outbox:
                            ws.send(item)
                            continue
                        batch = [item]
                        while outbox and type(outbox[0]) is not int:
                            batch.append(outbox.popleft())
                        ws.send_many(batch)
                    except (OSError, ValueError):
                        # the reader will see the connection end; what
                        # followed is dropped, but a close code is still
                        # worth trying (it shuts the reader down)
                        codes = [code for code in outbox
                                 if type(code) is int]
                        outbox.clear()
                        outbox.extend(codes[:1])
            finally:
                flush_lock.release()

    def _wake_poll(self) -> None:
        event = self._poll_event
        if event is not None:
            event.set()
