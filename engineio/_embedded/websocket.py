"""One WebSocket connection of the embedded server, on our framing kernels.

:class:`WebSocketConnection` takes the transport over from the HTTP
connection after the ``101``.  Received bytes go through a
:class:`~engineio._speedups.websocket.FrameParser` (masking required, the
message size limit is ``max_http_buffer_size``: over it, close 1009);
every complete message goes straight to ``core.websocket_message`` and the
actions it leaves are performed at once, handlers included, with no task
and no coroutine per message unless a handler really suspends (then reading
pauses until it is done, so that messages stay in order, as
``async_handlers=False`` promises).

Output: this object is also the session's *outbox*, standing where
``AsyncSocket`` keeps its ``_Outbox`` (``queue``, ``flush``, ``closing``,
``done``, ``task``, ``ws.ws_id``), so ``AsyncSocket._ws_send`` and
``_ws_close`` feed it directly.  Frames are built with
:func:`~engineio._speedups.websocket.build_frame` and written once per loop
iteration (inside ``data_received`` at its end, else through the server's
write batch).  Back-pressure: over the transport's write-buffer limit the
connection stops reading and stops writing; what is produced meanwhile
waits in ``queue``, which ``AsyncSocket._ws_send`` bounds by the server's
``max_queued_packets`` (then the session is closed with ``transport error``
and the connection dropped after :data:`CLOSE_LINGER` seconds).

When ``AsyncSocket._websocket_handler`` is patched (python-socketio's admin
UI), the connection runs the generic way instead: the patched handler gets
a :class:`GenericWebSocket` (``wait``, ``send``, ``close``) in a task.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections import deque
from typing import Any, Deque, List, Optional

from .._speedups import websocket as _ws
from .common import is_original, step

__all__ = ['WebSocketConnection', 'GenericWebSocket', 'CLOSE_LINGER']

logger = logging.getLogger('engineio.server')

#: seconds a closing connection waits for the client's close frame (or for
#: a paused client to take the close frame) before it is dropped
CLOSE_LINGER = 2.0
# SO_LINGER on, 0 s: close() resets the connection
_LINGER_RESET = struct.pack('ii', 1, 0)
#: messages a generic handler may leave unread before reading pauses
_GENERIC_BACKLOG = 64

_OP_TEXT = _ws.OP_TEXT
_OP_BINARY = _ws.OP_BINARY
_OP_CLOSE = _ws.OP_CLOSE
_OP_PING = _ws.OP_PING
_OP_PONG = _ws.OP_PONG
_build_frame = _ws.build_frame
_build_close_payload = _ws.build_close_payload
_ProtocolError = _ws.WebSocketProtocolError


class WebSocketConnection(asyncio.Protocol):
    """One accepted Engine.IO WebSocket (and its outbox)."""

    __slots__ = ('server', 'eio', 'core', 'loop', 'transport', 'session',
                 'socket', 'ws_id', 'parser', 'queue', '_closing', 'done',
                 'task', 'out', 'reading', 'dirty', 'write_paused',
                 'close_sent', 'reported', 'linger', 'busy', 'backlog',
                 'generic', 'lost', 'close_after_write', 'out_size')

    def __init__(self, server: Any, transport: Any, session: Any,
                 ws_id: int) -> None:
        self.server = server
        self.eio = server.eio
        self.core = self.eio._core
        self.loop = server.loop
        self.transport = transport
        self.session = session
        self.socket = session.glue
        self.ws_id = ws_id
        self.parser = _ws.FrameParser(self.eio.max_http_buffer_size,
                                      require_mask=True)
        #: frames (str: text, bytes: binary) and a close code (int) waiting
        #: to be written (the ``_Outbox`` interface)
        self.queue: List[Any] = []
        self._closing = False
        #: a close frame was written: nothing more is
        self.done = False
        #: the task finishing a suspended handler (``_Outbox.task``)
        self.task: Optional[asyncio.Future] = None
        #: encoded frames for the next write
        self.out: List[bytes] = []
        #: bytes in ``out``: over the write-buffer limit they are written at
        #: once, so the transport's flow control sees them
        self.out_size = 0
        self.reading = False
        self.dirty = False
        self.write_paused = False
        self.close_sent = False
        #: core.websocket_closed was called
        self.reported = False
        self.linger: Any = None
        #: a handler is suspended: later messages wait in ``backlog``
        self.busy = False
        self.backlog: Any = None
        self.generic: Optional[GenericWebSocket] = None
        self.lost = False
        #: the close handshake is complete: end TCP once the output is out
        self.close_after_write = False

    # -- the _Outbox interface --------------------------------------------

    @property
    def ws(self) -> 'WebSocketConnection':
        return self  # AsyncSocket._ws_close reads ``outbox.ws.ws_id``

    @property
    def closing(self) -> bool:
        return self._closing

    @closing.setter
    def closing(self, value: bool) -> None:
        # set by AsyncSocket._ws_close / _websocket_handler before they
        # queue a close code: bound how long the close may take
        self._closing = value
        if value and self.linger is None and not self.lost:
            self.linger = self.loop.call_later(CLOSE_LINGER, self._drop)

    def flush(self, inline: bool = False) -> None:
        """Encode what is queued into this iteration's write."""
        if self.done or self.write_paused:
            return
        queue = self.queue
        if not queue:
            return
        out = self.out
        server = self.server
        size = self.out_size
        for item in queue:
            kind = type(item)
            if kind is str:
                if item is server.last_text:  # a broadcast: encoded once
                    frame = server.last_frame
                else:
                    frame = _build_frame(_OP_TEXT, item)
                    server.last_text = item
                    server.last_frame = frame
            elif kind is int:
                self._write_close(item)
                break
            else:
                frame = _build_frame(_OP_BINARY, item)
            out.append(frame)
            size += len(frame)
        queue.clear()
        self.out_size = size
        if size >= server.write_buffer_limit:
            self.write_out()  # may pause writing: then the queue fills
        elif not self.reading and not self.dirty:
            self.dirty = True
            server.mark_dirty(self)

    def write_out(self) -> None:
        """Write the frames gathered in this iteration, in one call."""
        self.dirty = False
        out = self.out
        if self.lost:
            out.clear()
            return
        transport = self.transport
        if out:
            if len(out) == 1:
                transport.write(out[0])
            else:
                transport.write(b''.join(out))
            out.clear()
            self.out_size = 0
        if self.close_after_write:
            transport.close()

    # -- start ------------------------------------------------------------

    def start(self, response_head: bytes, leftover: bytes,
              resume: bool = True) -> None:
        """Begin: the fast path, or the generic one when
        ``AsyncSocket._websocket_handler`` is patched.  ``response_head``
        (the ``101``) leaves in one write with the frames the open produces
        (the OPEN packet): one system call per WebSocket open, not two.
        ``leftover``: what the client sent after its request head;
        ``resume``: reading was paused and is to resume now."""
        # the HTTP side put this object in ``server.connections`` and set
        # the transport's write-buffer limit
        self.out.append(response_head)
        self.reading = True  # what the open produces joins this write
        try:
            socket = self.socket
            if not is_original(type(socket), '_websocket_handler'):
                generic = self.generic = GenericWebSocket(self)
                self.reported = True  # the handler reports the end itself
                self.task = self.eio._track(asyncio.ensure_future(
                    self._run_generic(generic)))
            else:
                socket._outbox = self
                self.core.websocket_open(self.session, self.ws_id)
                self._perform(True)
        finally:
            self.reading = False
        if leftover:
            self.data_received(leftover)  # writes what is gathered
        elif self.out or self.close_after_write:
            self.write_out()
        if resume and not self.lost and not self.busy and \
                not self.write_paused:
            self.transport.resume_reading()

    async def _run_generic(self, generic: 'GenericWebSocket') -> None:
        try:
            await self.socket._websocket_handler(generic)
        finally:
            if not self.close_sent and not self.lost:
                self._write_close(_ws.CLOSE_NORMAL)
                self.write_out()

    # -- reading ----------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.reading = True
        try:
            try:
                messages = self.parser.feed(data)
                error = None
            except _ProtocolError as exc:
                messages = exc.messages
                error = exc
            if messages:
                if self.generic is not None:
                    self._deliver_generic(messages)
                elif self.busy:
                    self.backlog.extend(messages)
                else:
                    self._deliver(messages, 0)
            if error is not None:
                self._fail(error.code, error.reason)
        finally:
            self.reading = False
        if self.out or self.close_after_write:
            self.write_out()

    def _deliver(self, messages: Any, start: int) -> None:
        core = self.core
        session = self.session
        ws_id = self.ws_id
        eio = self.eio
        now = self.loop.time()
        index = start
        count = len(messages)
        while index < count:
            opcode, payload = messages[index]
            index += 1
            if opcode == _OP_TEXT or opcode == _OP_BINARY:
                if self.close_sent:
                    continue  # the close handshake is under way
                core.websocket_message(session, ws_id, payload, now)
                if core.actions:
                    calls = eio._perform(True)
                    if calls:
                        task = step(eio, eio._run_calls(calls))
                        if task is not None:
                            # keep the order: the rest waits for it
                            self._suspend(task, messages, index)
                            return
            elif opcode == _OP_PING:
                if not self.close_sent:
                    self.out.append(_build_frame(_OP_PONG, payload))
            elif opcode == _OP_CLOSE:
                self._on_close_frame(payload)
                return
            # a PONG needs nothing

    def _suspend(self, task: 'asyncio.Future[Any]', messages: Any,
                 index: int) -> None:
        self.busy = True
        self.task = task
        self.backlog = deque(messages[index:])
        if not self.lost:
            self.transport.pause_reading()
        task.add_done_callback(self._resume)

    def _resume(self, task: 'asyncio.Future[Any]') -> None:
        self.busy = False
        self.task = None
        backlog = self.backlog
        self.backlog = None
        if self.lost:
            return
        if backlog:
            self.reading = True
            try:
                self._deliver(list(backlog), 0)
            finally:
                self.reading = False
            if self.out or self.close_after_write:
                self.write_out()
        if not self.busy and not self.lost and not self.write_paused:
            self.transport.resume_reading()

    def _on_close_frame(self, payload: bytes) -> None:
        # the client closes: answer with its code (RFC 6455 5.5.1), then
        # the server ends the TCP connection
        if not self.close_sent:
            code = int.from_bytes(payload[:2], 'big') if payload else \
                _ws.CLOSE_NO_STATUS
            if code == _ws.CLOSE_NO_STATUS or \
                    not _ws.is_valid_close_code(code):
                code = _ws.CLOSE_NORMAL
            self._write_close(code)
        self._report_closed()
        self.done = True
        self.close_after_write = True
        if not self.reading:
            self.write_out()

    def _fail(self, code: int, reason: str) -> None:
        # the client broke RFC 6455 (or sent a message over the limit)
        if code == _ws.CLOSE_TOO_BIG:
            logger.error('WebSocket message of %s over the %d byte limit: '
                         'closing (1009)', self.session.sid,
                         self.eio.max_http_buffer_size)
        else:
            logger.info('WebSocket of %s: %s (closing, %d)',
                        self.session.sid, reason, code)
        if not self.close_sent:
            self._write_close(code)
        # the parser is dead: no close frame can be read back
        self.close_after_write = True
        self._report_closed()
        if self.generic is not None:
            self.generic.feed_eof()

    def _write_close(self, code: int) -> None:
        if self.close_sent:
            return
        self.close_sent = True
        self.done = True
        self.queue.clear()
        self.out.append(_build_frame(_OP_CLOSE, _build_close_payload(code)))
        if self.linger is None and not self.lost:
            self.linger = self.loop.call_later(CLOSE_LINGER, self._drop)
        if not self.reading and not self.dirty:
            self.dirty = True
            self.server.mark_dirty(self)

    def _report_closed(self) -> None:
        if self.reported:
            return
        self.reported = True
        socket = self.socket
        if socket._outbox is self:
            socket._outbox = None
        self.core.websocket_closed(self.session, self.ws_id)
        self._perform(False)

    def _perform(self, inline: bool) -> None:
        eio = self.eio
        calls = eio._perform(inline)
        if calls:
            step(eio, eio._run_calls(calls))

    # -- flow control and the end -----------------------------------------

    def pause_writing(self) -> None:
        self.write_paused = True
        if not self.lost:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.lost:
            return
        if not self.busy:
            self.transport.resume_reading()
        if self.generic is not None:
            self.generic.wake_writers()
        self.flush(True)
        if self.out and not self.reading:
            self.write_out()

    def eof_received(self) -> Optional[bool]:
        return None  # close our side too

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.lost = True
        self.done = True
        if self.linger is not None:
            self.linger.cancel()
            self.linger = None
        self.server.connection_closed(self)
        self.queue.clear()
        self.out.clear()
        if self.generic is not None:
            self.generic.feed_eof()
            self.generic.wake_writers()
        self._report_closed()
        self.backlog = None

    def _drop(self) -> None:
        # the close did not complete in time (or the client stopped reading):
        # reset the connection, so that the kernel does not keep trickling
        # what is buffered to a client that reads nothing
        self.linger = None
        if not self.lost:
            sock = self.transport.get_extra_info('socket')
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    _LINGER_RESET)
                except (OSError, AttributeError):
                    pass
            self.transport.abort()

    def begin_shutdown(self) -> None:
        """Nothing to do: ``AsyncServer.disconnect()`` closes the session
        (a CLOSE packet and a 1000 close frame)."""

    def abort(self) -> None:
        if not self.lost:
            self.transport.abort()

    # -- the generic path -------------------------------------------------

    def _deliver_generic(self, messages: Any) -> None:
        generic = self.generic
        assert generic is not None
        for opcode, payload in messages:
            if opcode == _OP_TEXT or opcode == _OP_BINARY:
                if not self.close_sent:
                    generic.feed(payload)
            elif opcode == _OP_PING:
                if not self.close_sent:
                    self.out.append(_build_frame(_OP_PONG, payload))
            elif opcode == _OP_CLOSE:
                self._on_close_frame(payload)
                generic.feed_eof()
                return
        if len(generic.inbox) >= _GENERIC_BACKLOG and not self.lost:
            self.transport.pause_reading()


class GenericWebSocket:
    """The ``ws`` object ``AsyncSocket._websocket_handler`` expects (as the
    asgi driver's ``WebSocket``): ``wait()`` returns the next message or
    None at the end, ``send(data)`` writes a text (str) or binary frame,
    ``close(code)`` starts the close.  A plain class: python-socketio's
    admin UI wraps ``send`` and ``wait`` on the instance."""

    def __init__(self, connection: WebSocketConnection) -> None:
        self.connection = connection
        self.ws_id = connection.ws_id
        self.inbox: Deque[Any] = deque()
        self.ended = False
        self._reader: Optional[asyncio.Future] = None
        self._writers: List[asyncio.Future] = []

    def feed(self, message: Any) -> None:
        self.inbox.append(message)
        self._wake_reader()

    def feed_eof(self) -> None:
        self.ended = True
        self._wake_reader()

    def _wake_reader(self) -> None:
        reader = self._reader
        if reader is not None and not reader.done():
            reader.set_result(None)

    def wake_writers(self) -> None:
        writers = self._writers
        self._writers = []
        for writer in writers:
            if not writer.done():
                writer.set_result(None)

    async def wait(self) -> Any:
        """The next message (str or bytes), or None once the connection
        ended."""
        connection = self.connection
        while not self.inbox:
            if self.ended or connection.lost:
                return None
            self._reader = connection.loop.create_future()
            try:
                await self._reader
            finally:
                self._reader = None
        message = self.inbox.popleft()
        if len(self.inbox) == _GENERIC_BACKLOG // 2 and not connection.lost \
                and not connection.write_paused:
            connection.transport.resume_reading()
        return message

    async def send(self, data: Any) -> None:
        """Write one message, waiting while the client's buffer is full."""
        connection = self.connection
        if connection.close_sent or connection.lost:
            return
        connection.out.append(_build_frame(
            _OP_TEXT if type(data) is str else _OP_BINARY, data))
        if not connection.reading:
            connection.write_out()
        while connection.write_paused and not connection.lost:
            waiter = connection.loop.create_future()
            self._writers.append(waiter)
            await waiter

    async def close(self, code: int = 1000) -> None:
        """Close with ``code`` (once)."""
        connection = self.connection
        if connection.close_sent or connection.lost:
            return
        connection._write_close(code)
        if not connection.reading:
            connection.write_out()
