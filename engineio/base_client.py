"""What ``Client`` and ``AsyncClient`` share: options, handlers, attributes.

The protocol itself is :class:`engineio._sansio.client.ClientCore`; this
module holds python-engineio's ``BaseClient`` surface around it: the
constructor options, ``on()``, ``transport()``, the ``reason`` constants, the
attributes python-socketio reads (``state``, ``sid``, ``transports``,
``upgrades``, ``ping_interval``, ``ping_timeout``, ``current_transport``,
kept in the core and exposed here as properties), and the SIGINT handler
that disconnects every connected client (``connected_clients``).
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any, Callable, Dict, List, Optional

from . import packet
from ._sansio import client as _core

__all__ = ['BaseClient', 'connected_clients', 'signal_handler',
           'default_logger']

default_logger = logging.getLogger('engineio.client')
#: the clients currently connected, for the SIGINT handler
connected_clients: List['BaseClient'] = []
#: the SIGINT handler that was there before ours (None until installed)
original_signal_handler: Any = None


def signal_handler(sig: int, frame: Any) -> Any:
    """SIGINT: disconnect every sync client, then run the previous handler
    (the asyncio clients are handled on their loop, see async_client)."""
    for client in connected_clients[:]:
        if not client.is_asyncio_based():
            client.disconnect()  # type: ignore[attr-defined]
    if callable(original_signal_handler):
        return original_signal_handler(sig, frame)
    return signal.default_int_handler(sig, frame)  # pragma: no cover


def _core_attribute(name: str, doc: str) -> property:
    """A client attribute kept in its :class:`ClientCore` (assignable, as
    python-engineio's plain attributes are)."""
    def get(self: 'BaseClient') -> Any:
        return getattr(self._core, name)

    def set_(self: 'BaseClient', value: Any) -> None:
        setattr(self._core, name, value)
    return property(get, set_, doc=doc)


class BaseClient:
    """The options and attributes of both clients (see ``Client``)."""

    event_names = ['connect', 'disconnect', 'message']
    #: largest WebSocket message or polling response accepted from a server
    #: (bytes); set on an instance or a subclass to change it
    max_message_size = _core.DEFAULT_MAX_MESSAGE_SIZE

    # provided by the glue (Client / AsyncClient): declared for the shared
    # methods below, never assigned here
    _generation: int
    start_background_task: Callable[..., Any]
    _write_loop: Callable[..., Any]
    _read_loop_polling: Callable[..., Any]
    _read_loop_websocket: Callable[..., Any]

    class reason:
        """Disconnection reasons."""
        #: Client-initiated disconnection.
        CLIENT_DISCONNECT = _core.CLIENT_DISCONNECT
        #: Server-initiated disconnection.
        SERVER_DISCONNECT = _core.SERVER_DISCONNECT
        #: Transport error.
        TRANSPORT_ERROR = _core.TRANSPORT_ERROR

    state = _core_attribute(
        'state', "'disconnected', 'connected' or 'disconnecting'")
    sid = _core_attribute('sid', 'the session id, None when disconnected')
    transports = _core_attribute(
        'transports', 'the transports allowed for this connection')
    upgrades = _core_attribute('upgrades', 'what the server offers')
    ping_interval = _core_attribute('ping_interval', 'seconds')
    ping_timeout = _core_attribute('ping_timeout', 'seconds')
    current_transport = _core_attribute(
        'current_transport', "'polling', 'websocket' or None")

    def __init__(self, logger: Any = False, json: Any = None,
                 request_timeout: float = 5, http_session: Any = None,
                 ssl_verify: bool = True, handle_sigint: bool = True,
                 websocket_extra_options: Optional[Dict[str, Any]] = None,
                 timestamp_requests: bool = True) -> None:
        global original_signal_handler
        self._core = _core.ClientCore()
        if handle_sigint and original_signal_handler is None and \
                threading.current_thread() is threading.main_thread():
            original_signal_handler = signal.signal(signal.SIGINT,
                                                    signal_handler)
        self.handlers: Dict[str, Callable[..., Any]] = {}
        self.base_url: Optional[str] = None
        self.http: Any = None
        self.http_factory: Optional[Callable[[], Any]] = None
        if http_session is not None:
            if callable(http_session):
                self.http_factory = http_session
            else:
                self.http = http_session
        #: an http_session given as an instance is the application's: never
        #: closed nor replaced
        self.external_http = self.http is not None
        self.handle_sigint = handle_sigint
        self.ws: Any = None
        self.read_loop_task: Any = None
        self.write_loop_task: Any = None
        # connect() makes each connection's queue; an asyncio.Queue made
        # here would bind to no loop on Python 3.9 outside a running loop
        self.queue: Any = None if self.is_asyncio_based() \
            else self.create_queue()
        self.queue_empty = self.get_queue_empty_exception()
        self.ssl_verify = ssl_verify
        self.websocket_extra_options = dict(websocket_extra_options or {})
        self.timestamp_requests = timestamp_requests
        if json is not None:
            packet.Packet.json = json
        if not isinstance(logger, bool):
            self.logger = logger
        else:
            self.logger = default_logger
            if self.logger.level == logging.NOTSET:
                self.logger.setLevel(logging.INFO if logger else logging.ERROR)
                self.logger.addHandler(logging.StreamHandler())
        self.request_timeout = request_timeout
        self._init_glue()

    def _init_glue(self) -> None:
        """Set up what the sync or asyncio glue needs; check the
        ``websocket_extra_options`` (ValueError for a key not understood)."""

    def is_asyncio_based(self) -> bool:
        return False

    def on(self, event: str, handler: Optional[Callable[..., Any]] = None
           ) -> Any:
        """Register an event handler.

        :param event: The event name. Can be ``'connect'``, ``'message'`` or
                      ``'disconnect'``.
        :param handler: The function that should be invoked to handle the
                        event. When this parameter is not given, the method
                        acts as a decorator for the handler function.

        Example usage::

            # as a decorator:
            @eio.on('connect')
            def connect_handler():
                print('Connection request')

            # as a method:
            def message_handler(msg):
                print('Received message: ', msg)
                eio.send('response')
            eio.on('message', message_handler)
        """
        if event not in self.event_names:
            raise ValueError('Invalid event')

        def set_handler(handler: Callable[..., Any]) -> Callable[..., Any]:
            self.handlers[event] = handler
            return handler

        if handler is None:
            return set_handler
        set_handler(handler)
        return None

    def transport(self) -> Optional[str]:
        """Return the name of the transport currently in use.

        The possible values returned by this function are ``'polling'`` and
        ``'websocket'``.
        """
        return self.current_transport

    def _get_engineio_url(self, url: str, engineio_path: str,
                          transport: str) -> str:
        """Generate the Engine.IO connection URL."""
        return _core.engineio_url(url, engineio_path, transport)

    def _get_url_timestamp(self) -> str:
        """Generate the Engine.IO query string timestamp."""
        return _core.timestamp_query(self.timestamp_requests, time.time())

    def _log_packet(self, direction: str, pkt: Any) -> None:
        if self.logger.isEnabledFor(logging.INFO):
            names = packet.packet_names
            name = names[pkt.packet_type] \
                if 0 <= pkt.packet_type < len(names) else 'UNKNOWN'
            self.logger.info('%s packet %s data %s', direction, name,
                             '<binary>' if pkt.binary else pkt.data)

    def _log_unexpected(self, pkt: Any) -> None:
        self.logger.error('Received unexpected packet of type %s',
                          pkt.packet_type)

    # -- the connected loops (the glue defines _write_loop and the readers)

    def _start_loops(self, ws: Any) -> None:
        """Start the writer and the reader (``Client`` overrides it)."""
        generation = self._generation
        self.write_loop_task = self.start_background_task(
            self._write_loop, generation, ws, self.queue)
        if ws is None:
            self.read_loop_task = self.start_background_task(
                self._read_loop_polling, generation)
        else:
            self.read_loop_task = self.start_background_task(
                self._read_loop_websocket, generation, ws)

    def _alive(self, generation: int) -> bool:
        return generation == self._generation and self._core.can_send()

    def _send_packet(self, pkt: Any) -> bool:
        """Queue a packet for the writer; False when not connected (the
        queue is unbounded: ``put_nowait`` never refuses).  ``Client``
        overrides it: on a WebSocket it writes without a writer task."""
        if not self._core.can_send():
            return False
        self.queue.put_nowait(pkt)
        self._log_packet('Sending', pkt)
        return True

    def create_queue(self, *args: Any, **kwargs: Any) -> Any:
        """Create a queue object."""
        raise NotImplementedError('must be implemented in a subclass')

    def get_queue_empty_exception(self) -> Any:
        """Return the queue empty exception raised by queues created by the
        ``create_queue()`` method.
        """
        raise NotImplementedError('must be implemented in a subclass')
