"""Validated server options, shared by ``Server`` and ``AsyncServer``.

:class:`ServerConfig` holds every protocol-relevant constructor option of
python-engineio 4.15.1's ``Server`` (REFERENCE §1.2) with the same defaults,
plus our own ``allow_eio3`` (the JavaScript server's ``allowEIO3``), the
``upgrade_timeout`` (JavaScript ``upgradeTimeout``, 10 s), the
``close_timeout`` (how long a session closed by the server waits for the
client's last poll, JavaScript ``closeTimeout``, 30 s) and
``max_queued_packets`` (the bound of a polling session's outgoing queue, see
:mod:`engineio._sansio.session`).

Options that only the glue uses (``async_mode``, ``logger``, ``json``,
``async_handlers``, ``monitor_clients``) are not kept here: the glue
validates them (``ValueError('Invalid async_mode specified')`` is the
glue's).

Raises :class:`ValueError` (in the constructor):

* ``'No valid transports provided'``: ``transports`` names no valid
  transport (the reference's message).
* ``'ping_interval must be positive'`` and the like: a negative or zero
  interval would make the heartbeat schedule meaningless.  The reference does
  not check these; a zero interval there busy-loops its service task.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple, Union

__all__ = ['ServerConfig', 'VALID_TRANSPORTS', 'POLLING', 'WEBSOCKET',
           'to_milliseconds']

POLLING = 'polling'
WEBSOCKET = 'websocket'
#: in the reference's order (``Server.valid_transports``)
VALID_TRANSPORTS: Tuple[str, ...] = (POLLING, WEBSOCKET)


def to_milliseconds(seconds: float) -> int:
    """Seconds to the whole milliseconds the handshake announces.

    Rounded, never truncated: the reference sends ``int(2.5) * 1000`` = 2000
    for 2.5 s, and 0 for 0.3 s, which makes clients ping-time-out at once.
    """
    return int(round(seconds * 1000))


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError('%s must be a number of seconds' % name)
    if value <= 0:
        raise ValueError('%s must be positive' % name)
    return value


class ServerConfig:
    """The validated protocol options of one server (read-only by convention).

    Attributes keep the reference's names and meanings; ``ping_interval`` is
    split into ``ping_interval`` and ``ping_interval_grace_period`` as the
    reference does for the ``(interval, grace)`` tuple form.
    """

    def __init__(self, ping_interval: Union[float, Tuple[float, float]] = 25,
                 ping_timeout: float = 20,
                 max_http_buffer_size: int = 1_000_000,
                 allow_upgrades: bool = True,
                 http_compression: bool = True,
                 compression_threshold: int = 1024,
                 cookie: Union[None, str, Dict[str, Any]] = None,
                 cors_allowed_origins: Union[
                     None, str, List[str], Callable[..., Any]] = None,
                 cors_credentials: bool = True,
                 transports: Union[None, str, List[str]] = None,
                 allow_eio3: bool = False,
                 upgrade_timeout: float = 10,
                 close_timeout: float = 30,
                 max_queued_packets: int = 10_000,
                 **kwargs: Any) -> None:
        # **kwargs: the reference silently ignores unknown options
        # ("reserved"), and so do we, so that the glue can pass them through.
        if isinstance(ping_interval, tuple):
            self.ping_interval = _positive('ping_interval', ping_interval[0])
            self.ping_interval_grace_period = ping_interval[1]
        else:
            self.ping_interval = _positive('ping_interval', ping_interval)
            self.ping_interval_grace_period = 0
        self.ping_timeout = _positive('ping_timeout', ping_timeout)
        self.max_http_buffer_size = max_http_buffer_size
        self.allow_upgrades = allow_upgrades
        self.http_compression = http_compression
        self.compression_threshold = compression_threshold
        self.cookie = cookie
        self.cors_allowed_origins = cors_allowed_origins
        self.cors_credentials = cors_credentials
        if transports is not None:
            if isinstance(transports, str):
                transports = [transports]
            transports = [t for t in transports if t in VALID_TRANSPORTS]
            if not transports:
                raise ValueError('No valid transports provided')
            self.transports: Tuple[str, ...] = tuple(transports)
        else:
            self.transports = VALID_TRANSPORTS
        self.allow_eio3 = bool(allow_eio3)
        self.upgrade_timeout = _positive('upgrade_timeout', upgrade_timeout)
        self.close_timeout = _positive('close_timeout', close_timeout)
        if max_queued_packets < 1:
            raise ValueError('max_queued_packets must be at least 1')
        self.max_queued_packets = max_queued_packets

        # Derived once, used on every handshake.
        #: ``pingInterval`` of the OPEN packet: interval + grace, in ms
        self.ping_interval_ms = to_milliseconds(
            self.ping_interval + self.ping_interval_grace_period)
        #: ``pingTimeout`` of the OPEN packet, in ms
        self.ping_timeout_ms = to_milliseconds(self.ping_timeout)
        self.websocket_enabled = WEBSOCKET in self.transports
        #: whether a polling session may upgrade (``upgrades`` of OPEN);
        #: unlike the reference, honours ``transports`` (as JavaScript does)
        self.upgrades_from_polling: List[str] = (
            [WEBSOCKET] if allow_upgrades and self.websocket_enabled else [])
