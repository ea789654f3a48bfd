"""``EmbeddedServer``: listening, per-iteration write batches, shutdown.

One :class:`EmbeddedServer` serves one ``engineio.AsyncServer`` on one
listening socket (plain or TLS).  Connections are asyncio protocols
(:class:`~engineio._embedded.http.HttpConnection`, which hands an accepted
WebSocket to :class:`~engineio._embedded.websocket.WebSocketConnection`):
no task per connection, per request or per message unless an application
handler really suspends.

Writes are batched per loop iteration: a connection that has output while
it is not inside its own ``data_received`` (a ping from the heartbeat timer,
a message sent by another connection's handler, a broadcast) joins the
server's *dirty* list, and one ``call_soon`` callback writes every dirty
connection's frames at the end of the iteration, one ``write`` each.

The ``AsyncServer`` keeps working as on any driver: its own generic paths
(a ``handle_post_request`` or ``_websocket_handler`` patched by
python-socketio's admin UI) read bodies and wait for clients through the
driver dict's ``read_body`` and ``wait_disconnect``: :meth:`start` wraps
them so that requests of this server are answered here and requests that
came through the original driver (the same ``AsyncServer`` may also be
mounted in an ASGI application) still go there.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import signal
import time
from email.utils import formatdate
from typing import Any, Callable, Dict, List, Optional, Set

from .._sansio.requests import endpoint_prefix
from .common import step
from .http import DEADLINE_TICK, REQUEST_KEY, HttpConnection

__all__ = ['EmbeddedServer', 'run', 'serve', 'step']

logger = logging.getLogger('engineio.server')


def _install_driver(eio: Any) -> None:
    """Let the server's generic paths read bodies and wait for clients of
    this server (requests from other drivers keep theirs)."""
    driver = eio._async
    if driver.get('embedded'):
        return
    original = dict(driver)

    async def driver_read_body(environ: Dict[str, Any],
                               limit: int) -> Optional[bytes]:
        request = environ.get(REQUEST_KEY)
        if request is None:
            return await original['read_body'](environ, limit)
        return await request.connection.read_body(request, limit)

    async def driver_wait_disconnect(environ: Dict[str, Any]) -> None:
        request = environ.get(REQUEST_KEY)
        if request is None:
            await original['wait_disconnect'](environ)
            return
        await request.connection.wait_closed()

    patched = dict(driver)
    patched.update(embedded=True, read_body=driver_read_body,
                   wait_disconnect=driver_wait_disconnect)
    eio._async = patched


class EmbeddedServer:
    """Serve ``eio`` (an ``engineio.AsyncServer``, or a python-socketio
    ``AsyncServer``, whose Engine.IO server is then served) on
    ``host``:``port``.

    Options (all keyword):

    * ``sock``: an already bound listening socket (then ``host``/``port``
      are ignored); ``ssl``: an ``ssl.SSLContext`` for HTTPS/WSS;
      ``backlog``: the listen backlog.
    * ``engineio_path``, ``static_files``, ``other_asgi_app``: as
      :class:`engineio.ASGIApp` (the default path is ``socket.io`` when a
      python-socketio server is given; the other application gets plain HTTP
      requests, and its lifespan when it has one; WebSocket requests outside
      the Engine.IO path are refused with 404).
    * Limits: ``max_request_line`` (bytes of the request target, else 414),
      ``max_header_size`` (bytes of the request line and headers, else 431),
      ``max_headers`` (else 431), ``max_body_size`` (a request body for the
      other application or a static file, else 413; Engine.IO bodies are
      limited by ``max_http_buffer_size``), ``write_buffer_limit`` (bytes
      buffered for a client before it stops being read).
    * Timeouts in seconds: ``header_timeout`` (a request's headers, and each
      pause in its body, else 408 and the connection is closed),
      ``keep_alive_timeout`` (an idle connection between requests),
      ``shutdown_timeout`` (how long :meth:`shutdown` lets sessions and
      writes finish).
    """

    def __init__(self, eio: Any, host: str = '127.0.0.1', port: int = 5000,
                 *, sock: Any = None, ssl: Any = None,
                 engineio_path: Optional[str] = 'engine.io',
                 static_files: Optional[Dict[str, Any]] = None,
                 other_asgi_app: Any = None, backlog: int = 2048,
                 header_timeout: float = 10.0,
                 keep_alive_timeout: float = 5.0,
                 shutdown_timeout: float = 10.0,
                 max_request_line: int = 8190,
                 max_header_size: int = 16384, max_headers: int = 100,
                 max_body_size: int = 16 * 1024 * 1024,
                 write_buffer_limit: int = 256 * 1024) -> None:
        if not hasattr(eio, '_core') and hasattr(eio, 'eio'):
            # a python-socketio AsyncServer: serve its Engine.IO server,
            # under socket.io's path unless another one was chosen
            eio = eio.eio
            if engineio_path == 'engine.io':
                engineio_path = 'socket.io'
        if not getattr(eio, 'is_asyncio_based', lambda: False)():
            raise ValueError('the embedded server needs an AsyncServer')
        self.eio = eio
        self.host = host
        self.port = port
        self.sock = sock
        self.ssl = ssl
        self.scheme = 'https' if ssl is not None else 'http'
        self.engineio_prefix = endpoint_prefix(engineio_path)
        self.static_files = static_files or {}
        self.other_asgi_app = other_asgi_app
        self.backlog = backlog
        self.header_timeout = header_timeout
        self.keep_alive_timeout = keep_alive_timeout
        self.shutdown_timeout = shutdown_timeout
        self.max_request_line = max_request_line
        self.max_header_size = max_header_size
        self.max_headers = max_headers
        self.max_body_size = max_body_size
        self.write_buffer_limit = write_buffer_limit
        self.loop: Any = None
        #: every open connection (HTTP and WebSocket), for shutdown
        self.connections: Set[Any] = set()
        #: connections with output waiting for the end of this iteration
        self.dirty: List[Any] = []
        self._flush_scheduled = False
        #: one-entry cache: the frame of the last text sent (a broadcast
        #: sends the same str object to every client)
        self.last_text: Any = None
        self.last_frame = b''
        self.shutting_down = False
        self._listener: Any = None
        self._stopped: Optional[asyncio.Event] = None
        self._all_closed: Optional[asyncio.Event] = None
        self._lifespan: Any = None
        self._date_second = -1
        self._date = b''
        self.server_name = host
        #: accepted sockets need TCP_NODELAY set (uvloop sets it itself)
        self.set_nodelay = True
        #: the part of every request's environ that is the server's
        self.environ_base: Dict[str, Any] = {}
        #: tick -> the connections whose deadline is checked then, and the
        #: loop timer of each tick (see :meth:`watch`)
        self._due: Dict[float, Dict[Any, None]] = {}
        self._tick_timers: Dict[float, Any] = {}

    # -- lifecycle --------------------------------------------------------

    async def start(self) -> None:
        """Bind (or adopt ``sock``), start the other application's lifespan
        and accept connections."""
        loop = self.loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        self._all_closed = asyncio.Event()
        eio = self.eio
        # the server's clock and timer belong to this loop from now on
        eio._loop = loop
        eio._timer = eio._timer_when = None
        eio._rearm_pushes = -1
        eio._shut_down = False
        _install_driver(eio)
        if self.other_asgi_app is not None:
            from .asgi_bridge import Lifespan
            self._lifespan = Lifespan(self.other_asgi_app)
            await self._lifespan.startup()
        kwargs: Dict[str, Any] = {'backlog': self.backlog, 'ssl': self.ssl}
        if self.sock is not None:
            kwargs['sock'] = self.sock
        else:
            kwargs.update(host=self.host, port=self.port,
                          reuse_address=True)
        self._listener = await loop.create_server(
            lambda: HttpConnection(self), **kwargs)
        sockname = self._listener.sockets[0].getsockname()
        self.server_name, self.port = str(sockname[0]), sockname[1]
        self.set_nodelay = not _is_uvloop(loop)
        self.environ_base = {
            'SCRIPT_NAME': '',
            'SERVER_NAME': self.server_name,
            'SERVER_PORT': str(self.port),
            'SERVER_SOFTWARE': 'engineio.embedded',
            'wsgi.url_scheme': self.scheme,
            'wsgi.async': True,
        }

    async def serve(self) -> None:
        """:meth:`start`, then serve until :meth:`shutdown` completes."""
        await self.start()
        assert self._stopped is not None
        await self._stopped.wait()

    def request_shutdown(self) -> None:
        """Begin a graceful :meth:`shutdown`; callable from any thread and
        from signal handlers."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return

        def begin() -> None:
            if not self.shutting_down:
                asyncio.ensure_future(self.shutdown())
        loop.call_soon_threadsafe(begin)

    async def shutdown(self, timeout: Optional[float] = None) -> None:
        """Stop accepting, close every session with a CLOSE packet (WebSocket
        clients also get a 1000 close frame, a held long poll is answered
        ``1``), let in-flight responses and writes finish, and after
        ``timeout`` (``shutdown_timeout``) drop whatever is still open.
        Then stop the ``AsyncServer``'s timer and tasks."""
        if self.shutting_down:
            assert self._stopped is not None
            await self._stopped.wait()
            return
        self.shutting_down = True
        timeout = self.shutdown_timeout if timeout is None else timeout
        loop = self.loop
        deadline = loop.time() + timeout
        if self._listener is not None:
            self._listener.close()
        for connection in list(self.connections):
            connection.begin_shutdown()
        try:
            await asyncio.wait_for(self.eio.disconnect(),
                                   max(deadline - loop.time(), 0.01))
        except asyncio.TimeoutError:
            logger.warning('embedded server: disconnect handlers did not '
                           'finish in time')
        assert self._all_closed is not None
        if self.connections:
            self._all_closed.clear()
            try:
                await asyncio.wait_for(self._all_closed.wait(),
                                       max(deadline - loop.time(), 0.01))
            except asyncio.TimeoutError:
                pass
        for connection in list(self.connections):
            connection.abort()
        for timer in self._tick_timers.values():
            timer.cancel()
        self._tick_timers.clear()
        self._due.clear()
        await self.eio.shutdown()
        if self._lifespan is not None:
            await self._lifespan.shutdown()
        if self._listener is not None:
            try:
                await asyncio.wait_for(self._listener.wait_closed(), 1)
            except asyncio.TimeoutError:
                pass
        assert self._stopped is not None
        self._stopped.set()

    # -- bookkeeping for the connections ----------------------------------

    def connection_opened(self, connection: Any) -> None:
        self.connections.add(connection)

    def connection_closed(self, connection: Any) -> None:
        self.connections.discard(connection)
        if not self.connections and self._all_closed is not None:
            self._all_closed.set()

    def mark_dirty(self, connection: Any) -> None:
        """Write ``connection``'s output at the end of this iteration."""
        self.dirty.append(connection)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush_dirty)

    def _flush_dirty(self) -> None:
        self._flush_scheduled = False
        dirty = self.dirty
        self.dirty = []
        for connection in dirty:
            connection.write_out()

    def watch(self, connection: Any, when: float) -> float:
        """Call ``connection._on_timer()`` at the first tick (a multiple of
        ``DEADLINE_TICK``) after ``when``; returns that tick, for
        :meth:`unwatch`.  One loop timer per tick, not per connection: a
        burst of new connections (each gets a deadline for its request
        head) costs a dict entry each."""
        tick = (when // DEADLINE_TICK + 1) * DEADLINE_TICK
        due = self._due.get(tick)
        if due is None:
            due = self._due[tick] = {}
            self._tick_timers[tick] = self.loop.call_at(tick, self._expire,
                                                        tick)
        due[connection] = None
        return tick

    def unwatch(self, connection: Any, tick: float) -> None:
        due = self._due.get(tick)
        if due is not None:
            due.pop(connection, None)

    def _expire(self, tick: float) -> None:
        self._tick_timers.pop(tick, None)
        due = self._due.pop(tick, None)
        if due:
            for connection in due:
                connection._on_timer()

    def date_header(self) -> bytes:
        """``Date: ...\\r\\n``, formatted once per second."""
        now = time.time()
        second = int(now)
        if second != self._date_second:
            self._date_second = second
            self._date = ('Date: %s\r\n' % formatdate(
                now, usegmt=True)).encode('ascii')
        return self._date


def _is_uvloop(loop: Any) -> bool:
    # uvloop turns TCP_NODELAY on for every accepted TCP connection; setting
    # it again costs a socket object per connection (its PseudoSocket)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - the package needs it
        return False
    return isinstance(loop, uvloop.Loop)


def _add_signal_handlers(loop: Any, server: EmbeddedServer
                         ) -> List[int]:
    installed: List[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, server.request_shutdown)
        except (NotImplementedError, RuntimeError, ValueError):
            continue  # not the main thread, or no signals here
        installed.append(signum)
    return installed


async def serve(eio: Any, host: str = '127.0.0.1', port: int = 5000,
                handle_signals: bool = True,
                ready: Optional[Callable[[EmbeddedServer], Any]] = None,
                **options: Any) -> None:
    """Serve ``eio`` on the running loop until shut down (SIGINT/SIGTERM
    when ``handle_signals`` and in the main thread).  ``ready(server)`` is
    called once it accepts connections.  ``options``: see
    :class:`EmbeddedServer`."""
    server = EmbeddedServer(eio, host, port, **options)
    await server.start()
    loop = asyncio.get_running_loop()
    installed = _add_signal_handlers(loop, server) if handle_signals else []
    scheme = 'https' if server.ssl is not None else 'http'
    eio.logger.info('Engine.IO embedded server on %s://%s:%d', scheme,
                    server.server_name, server.port)
    try:
        if ready is not None:
            ready(server)
        assert server._stopped is not None
        await server._stopped.wait()
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
        if not server.shutting_down:  # cancelled from outside
            await server.shutdown(0)


def run(eio: Any, host: str = '127.0.0.1', port: int = 5000,
        **options: Any) -> None:
    """Serve ``eio`` on a new uvloop event loop until SIGINT or SIGTERM,
    then shut down gracefully.  See :class:`EmbeddedServer` for
    ``options``.

    This call owns the process, so it also moves every object that exists
    now (modules, the application) out of the garbage collector's sight
    (``gc.freeze()``): every full collection would otherwise walk them all
    again, and sessions are opened fast enough to trigger many (measured:
    a tenth of the cost of opening a WebSocket)."""
    import uvloop
    gc.collect()
    gc.freeze()
    if hasattr(uvloop, 'run'):  # uvloop >= 0.18
        uvloop.run(serve(eio, host, port, **options))
    else:  # pragma: no cover
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        asyncio.run(serve(eio, host, port, **options))
