"""What ``Server`` and ``AsyncServer`` share that is not protocol.

Option storage under the reference's attribute names, the ``async_mode``
choice, logger set-up, the process-wide JSON hook, handler registration
(``on``), the ``reason`` constants and the socket lookups python-socketio
uses.  Every protocol decision lives in :mod:`engineio._sansio`; this class
only keeps the glue's bookkeeping.
"""
from __future__ import annotations

import importlib
import logging
from typing import Any, Callable, Dict, List, Optional

from . import packet, payload
from ._sansio import ServerConfig, ServerCore
from ._sansio.responses import Response
from ._sansio import server as _core_module

__all__ = ['BaseServer', 'default_logger']

default_logger = logging.getLogger('engineio.server')


class BaseServer:
    """Options, handlers and driver selection for the server classes.

    Subclasses set :meth:`async_modes` and :meth:`is_asyncio_based`.
    """

    compression_methods = ['gzip', 'deflate']
    event_names = ['connect', 'disconnect', 'message']
    valid_transports = ['polling', 'websocket']
    #: read by tests of the reference to turn the heartbeat service off
    _default_monitor_clients = True
    sequence_number = 0

    class reason:
        """Disconnect reasons, passed to the ``disconnect`` handler."""
        #: ``disconnect()`` was called on the server
        SERVER_DISCONNECT = _core_module.SERVER_DISCONNECT
        #: the client sent a CLOSE packet
        CLIENT_DISCONNECT = _core_module.CLIENT_DISCONNECT
        #: no PONG arrived within ``ping_timeout``
        PING_TIMEOUT = _core_module.PING_TIMEOUT
        #: the WebSocket closed or the client went away
        TRANSPORT_CLOSE = _core_module.TRANSPORT_CLOSE
        #: the client broke the protocol or stopped reading
        TRANSPORT_ERROR = _core_module.TRANSPORT_ERROR

    def __init__(self, async_mode: Optional[str] = None,
                 ping_interval: Any = 25, ping_timeout: float = 20,
                 max_http_buffer_size: int = 1000000,
                 allow_upgrades: bool = True, http_compression: bool = True,
                 compression_threshold: int = 1024, cookie: Any = None,
                 cors_allowed_origins: Any = None,
                 cors_credentials: bool = True, logger: Any = False,
                 json: Any = None, async_handlers: bool = True,
                 monitor_clients: Optional[bool] = None,
                 transports: Any = None, **kwargs: Any) -> None:
        # Our own options (allow_eio3, upgrade_timeout, close_timeout,
        # max_queued_packets) travel in **kwargs to ServerConfig; anything
        # else there is ignored, as the reference does ("reserved").
        config_options = {name: kwargs[name] for name in (
            'allow_eio3', 'upgrade_timeout', 'close_timeout',
            'max_queued_packets') if name in kwargs}
        self.config = ServerConfig(
            ping_interval=ping_interval, ping_timeout=ping_timeout,
            max_http_buffer_size=max_http_buffer_size,
            allow_upgrades=allow_upgrades, http_compression=http_compression,
            compression_threshold=compression_threshold, cookie=cookie,
            cors_allowed_origins=cors_allowed_origins,
            cors_credentials=cors_credentials, transports=transports,
            **config_options)
        config = self.config
        self.ping_interval = config.ping_interval
        self.ping_interval_grace_period = config.ping_interval_grace_period
        self.ping_timeout = config.ping_timeout
        self.max_http_buffer_size = max_http_buffer_size
        self.allow_upgrades = allow_upgrades
        self.http_compression = http_compression
        self.compression_threshold = compression_threshold
        self.cookie = cookie
        self.cors_allowed_origins = cors_allowed_origins
        self.cors_credentials = cors_credentials
        self.async_handlers = async_handlers
        self.transports = list(config.transports)
        self.monitor_clients = self._default_monitor_clients \
            if monitor_clients is None else monitor_clients
        #: sid -> Socket / AsyncSocket, for every session not yet closed
        self.sockets: Dict[str, Any] = {}
        #: event name -> handler
        self.handlers: Dict[str, Callable[..., Any]] = {}
        self.log_message_keys = set(('message', 'flash', 'error', 'warning'))
        self.start_service_task = False
        self.service_task_handle: Any = None
        self.service_task_event: Any = None
        if json is not None:
            # process-wide, as in the reference (REFERENCE §1.2)
            packet.Packet.json = json
        if not isinstance(logger, bool):
            self.logger = logger
        else:
            self.logger = default_logger
            if self.logger.level == logging.NOTSET:
                self.logger.setLevel(logging.INFO if logger
                                     else logging.ERROR)
                self.logger.addHandler(logging.StreamHandler())
        self._core = ServerCore(config)
        self.async_mode, self._async = self._select_async_mode(async_mode)

    # -- driver selection -------------------------------------------------

    def _select_async_mode(self, async_mode: Optional[str]) -> Any:
        """The first usable mode (or the requested one) and its driver
        dict.  A mode counts only if its driver module imports, which it
        does only when its framework is installed."""
        if async_mode is None:
            modes = self.async_modes()
        elif async_mode in self.async_modes():
            modes = [async_mode]
        else:
            raise ValueError('Invalid async_mode specified')
        for mode in modes:
            try:
                driver = importlib.import_module(
                    'engineio.async_drivers.' + mode)._async
            except ImportError:
                continue
            if driver.get('asyncio', False) == self.is_asyncio_based():
                return mode, driver
        raise ValueError('Invalid async_mode specified')

    def is_asyncio_based(self) -> bool:
        """Whether this server runs on asyncio."""
        return False

    def async_modes(self) -> List[str]:
        """The async modes this class supports, in selection order."""
        return ['eventlet', 'gevent_uwsgi', 'gevent', 'threading']

    # -- handlers ---------------------------------------------------------

    def on(self, event: str, handler: Optional[Callable[..., Any]] = None
           ) -> Any:
        """Register ``handler`` for ``event`` (``connect``, ``disconnect``
        or ``message``); without a handler, return a decorator.

        Raises ``ValueError('Invalid event')`` for any other event."""
        if event not in self.event_names:
            raise ValueError('Invalid event')

        def set_handler(handler: Callable[..., Any]) -> Callable[..., Any]:
            self.handlers[event] = handler
            return handler

        if handler is None:
            return set_handler
        set_handler(handler)
        return None

    # -- python-socketio's admin UI ---------------------------------------

    def _ok(self, packets: Any = None, headers: Any = None,
            jsonp_index: Any = None) -> Dict[str, Any]:
        """python-engineio's 200 response as a dict (``status``,
        ``headers``, ``response``).

        Kept because python-socketio's admin UI wraps it on the instance
        to count the bytes sent (REFERENCE §1.10).  Our core builds the
        responses: the glue calls this only while it is wrapped (``'_ok'``
        in the instance ``__dict__``), passing the finished ``Response`` as
        ``packets``, so an unwrapped server spends nothing here."""
        if isinstance(packets, Response):
            return {'status': packets.status_line,
                    'headers': packets.headers, 'response': packets.body}
        if packets is None:
            return {'status': '200 OK',
                    'headers': [('Content-Type', 'text/plain')],
                    'response': b'ok'}
        body = payload.Payload(packets=packets).encode(
            jsonp_index=jsonp_index)
        if isinstance(body, str):
            body = body.encode('utf-8')
        return {'status': '200 OK',
                'headers': list(headers or []) + [
                    ('Content-Type', 'text/plain; charset=UTF-8')],
                'response': body}

    # -- sockets ----------------------------------------------------------

    def transport(self, sid: str) -> str:
        """``'websocket'`` if the session is on WebSocket, else
        ``'polling'``.  Raises ``KeyError`` for an unknown sid."""
        return 'websocket' if self._get_socket(sid).upgraded else 'polling'

    def generate_id(self) -> str:
        """A new random 20-character session id."""
        return self._core.generate_id()

    def _forget_socket(self, socket: Any) -> None:
        # A session that ended (or whose handshake was refused): closed for
        # get_session & co., and out of ``sockets`` unless a newer socket
        # already took its sid.
        sid = socket.sid
        socket._closed = True
        if self.sockets.get(sid) is socket:
            del self.sockets[sid]

    def _get_socket(self, sid: str) -> Any:
        """The socket of ``sid`` (python-socketio's admin UI reads it).

        Raises ``KeyError('Session not found')`` or, for a session that
        closed, ``KeyError('Session is disconnected')``."""
        socket = self.sockets.get(sid)
        if socket is None:
            raise KeyError('Session not found')
        if socket.closed:
            self.sockets.pop(sid, None)
            raise KeyError('Session is disconnected')
        return socket
