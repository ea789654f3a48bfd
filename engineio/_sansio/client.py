"""The Engine.IO client protocol, decided once for ``Client`` and ``AsyncClient``.

No sockets, threads, asyncio or clocks: the glue passes what the server sent
(an HTTP status and body, a WebSocket message) and its monotonic ``now``, and
gets back decoded packets, the action each one calls for, and the deadline by
which the server must have shown it is alive.  What lives here:

* the URLs (:func:`engineio_url`, :func:`timestamp_query`) and the choice of
  transports (:func:`choose_transports`);
* the handshake: a polling answer (:meth:`ClientCore.polling_handshake`) or
  the first WebSocket message (:meth:`ClientCore.websocket_handshake`), the
  OPEN packet checked field by field (:func:`parse_open`);
* received packets (:meth:`ClientCore.receive`): a MESSAGE is delivered, a
  PING is answered with a PONG carrying the same data and moves the
  heartbeat deadline to ``pingInterval + pingTimeout`` from now (what the
  JavaScript client does: a server that stops pinging is gone), a CLOSE ends
  the session, a NOOP is nothing, anything else is logged and ignored;
* the upgrade: :data:`PROBE` out, :func:`is_probe_answer` on what comes back,
  :data:`UPGRADE` out, then :meth:`ClientCore.upgraded`;
* the end: :meth:`ClientCore.claim_disconnect` lets exactly one caller (user,
  reader, writer) run the disconnect handler, whatever the race.

Every error a server can cause is raised as :class:`ServerProtocolError`
(a ``ValueError``) with a message for the log, or, during the handshake, as
``engineio.exceptions.ConnectionError`` with the message the application
sees (python-engineio's wording where it has one).
"""
from __future__ import annotations

import math
import urllib.parse
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from .. import exceptions
from .. import packet as _packet
from .._speedups import codec as _codec

__all__ = [
    'DISCONNECTED', 'CONNECTED', 'DISCONNECTING', 'CLIENT_DISCONNECT',
    'SERVER_DISCONNECT', 'TRANSPORT_ERROR', 'VALID_TRANSPORTS', 'PROBE',
    'UPGRADE', 'DEFAULT_MAX_MESSAGE_SIZE', 'ACTION_NONE', 'ACTION_MESSAGE',
    'ACTION_SEND', 'ACTION_CLOSE', 'ServerProtocolError', 'OpenInfo',
    'ClientCore', 'engineio_url', 'timestamp_query', 'choose_transports',
    'parse_open', 'is_probe_answer', 'connection_error',
]

DISCONNECTED = 'disconnected'
CONNECTED = 'connected'
DISCONNECTING = 'disconnecting'

CLIENT_DISCONNECT = 'client disconnect'
SERVER_DISCONNECT = 'server disconnect'
TRANSPORT_ERROR = 'transport error'

VALID_TRANSPORTS = ('polling', 'websocket')

#: the probe the client sends on the new WebSocket, and the answer it expects
PROBE = '2probe'
_PROBE_ANSWER = '3probe'
#: the packet that completes the upgrade
UPGRADE = '5'

#: the largest message (WebSocket) or polling response body the clients
#: accept from a server, in bytes; above it the connection is dropped
#: (``transport error``) rather than buffered without bound.  The attribute
#: ``max_message_size`` of a client overrides it.
DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024

# What a received packet asks of the glue (ints: checked per packet).
ACTION_NONE = 0      # nothing (NOOP, or an unexpected packet, logged)
ACTION_MESSAGE = 1   # run the message handler with ``data``
ACTION_SEND = 2      # send ``data`` (a Packet: the PONG)
ACTION_CLOSE = 3     # the server closed the session

_OPEN, _CLOSE, _PING, _PONG = _packet.OPEN, _packet.CLOSE, _packet.PING, \
    _packet.PONG
_MESSAGE, _NOOP = _packet.MESSAGE, _packet.NOOP
# the longest heartbeat interval accepted from a server: 2**31 - 1 ms is the
# largest delay a JavaScript timer takes, so no real server sends more
_MAX_INTERVAL_MS = 2 ** 31 - 1


class ServerProtocolError(ValueError):
    """The server sent something the protocol does not allow; the message
    says what.  The glue logs it and ends the session (transport error)."""


class OpenInfo:
    """The fields of a server's OPEN packet, checked.

    ``ping_interval`` and ``ping_timeout`` are in seconds (the wire has
    milliseconds), ``max_payload`` is None when the server did not say.
    """

    __slots__ = ('sid', 'upgrades', 'ping_interval', 'ping_timeout',
                 'max_payload')

    def __init__(self, sid: str, upgrades: List[str], ping_interval: float,
                 ping_timeout: float, max_payload: Optional[int]) -> None:
        self.sid = sid
        self.upgrades = upgrades
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.max_payload = max_payload


def connection_error(message: str, *args: Any) -> exceptions.ConnectionError:
    """The exception the application sees when connecting fails."""
    return exceptions.ConnectionError(message, *args)


def engineio_url(url: str, engineio_path: str, transport: str) -> str:
    """The endpoint URL for ``transport``, keeping the user's query string.

    ``http``/``ws`` become ``https``/``wss`` when ``url`` is secure (``https``
    or ``wss``); python-engineio's layout: ``{scheme}://{host}/{path}/?{query}
    &transport={transport}&EIO=4``.  ValueError for an unknown transport or a
    URL without a host.
    """
    if transport not in VALID_TRANSPORTS:
        raise ValueError('invalid transport')
    parsed = urllib.parse.urlparse(url)
    if not parsed.netloc:
        raise ValueError('Invalid URL %r: no host' % url)
    scheme = 'http' if transport == 'polling' else 'ws'
    if parsed.scheme in ('https', 'wss'):
        scheme += 's'
    query = parsed.query
    return '%s://%s/%s/?%s%stransport=%s&EIO=4' % (
        scheme, parsed.netloc, engineio_path.strip('/'), query,
        '&' if query else '', transport)


def timestamp_query(enabled: bool, wall_clock: float) -> str:
    """The cache-busting ``&t=...`` suffix (python-engineio's: the wall
    clock as ``str(time.time())``), or nothing when turned off."""
    return '&t=' + str(wall_clock) if enabled else ''


def choose_transports(transports: Union[None, str, Sequence[str]]) -> List[str]:
    """The transports to use, in order: the first is where the client starts.

    None means both, polling first.  Unknown names are dropped (as in
    python-engineio); none left raises ValueError.
    """
    if transports is None:
        return list(VALID_TRANSPORTS)
    if isinstance(transports, str):
        transports = [transports]
    chosen = [t for t in transports if t in VALID_TRANSPORTS]
    if not chosen:
        raise ValueError('No valid transports provided')
    return chosen


def _interval(data: Dict[str, Any], key: str) -> float:
    value = data.get(key)
    # bool is an int: refuse it explicitly
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or not 0 <= value <= _MAX_INTERVAL_MS:
        raise connection_error('Invalid OPEN packet from server: %s is %r'
                               % (key, value))
    return value / 1000.0


def parse_open(pkt: Any) -> OpenInfo:
    """Check a server's OPEN packet; return its fields.

    Raises ``exceptions.ConnectionError``: ``'OPEN packet not returned by
    server'`` when ``pkt`` is another packet, ``'Invalid OPEN packet from
    server: ...'`` when its JSON lacks a string ``sid``, has intervals that
    are not non-negative numbers of milliseconds, or ``upgrades`` that is not
    a list of strings.
    """
    if pkt.packet_type != _OPEN:
        raise connection_error('OPEN packet not returned by server')
    data = pkt.data
    if not isinstance(data, dict):
        raise connection_error('Invalid OPEN packet from server: not a JSON '
                               'object')
    sid = data.get('sid')
    if not isinstance(sid, str) or not sid:
        raise connection_error('Invalid OPEN packet from server: no sid')
    upgrades = data.get('upgrades', [])
    if not isinstance(upgrades, list) or \
            not all(isinstance(u, str) for u in upgrades):
        raise connection_error('Invalid OPEN packet from server: upgrades '
                               'is %r' % (upgrades,))
    ping_interval = _interval(data, 'pingInterval')
    ping_timeout = _interval(data, 'pingTimeout')
    max_payload = data.get('maxPayload')
    if isinstance(max_payload, bool) or not isinstance(max_payload, int):
        max_payload = None
    return OpenInfo(sid, upgrades, ping_interval, ping_timeout, max_payload)


def is_probe_answer(message: Any) -> bool:
    """True when the WebSocket message answers the upgrade probe."""
    return message == _PROBE_ANSWER


def _decode_packet(message: Union[str, bytes]) -> Any:
    try:
        return _packet.Packet(encoded_packet=message)
    except (ValueError, TypeError) as exc:
        raise ServerProtocolError('undecodable packet from server (%s)'
                                  % exc) from None


class ClientCore:
    """One client's protocol state, reused from connection to connection.

    The glue reads ``state``, ``sid``, ``upgrades``, ``ping_interval``,
    ``ping_timeout``, ``transports`` and ``current_transport`` through the
    client's attributes of the same names (python-socketio reads them).
    ``deadline`` is the monotonic time by which the server must send its
    next PING (or the handshake's first one): past it the connection is
    dead.
    """

    def __init__(self) -> None:
        self.state = DISCONNECTED
        self.sid: Optional[str] = None
        self.upgrades: Optional[List[str]] = None
        self.ping_interval: Optional[float] = None
        self.ping_timeout: Optional[float] = None
        self.max_payload: Optional[int] = None
        self.transports: Optional[List[str]] = None
        self.current_transport: Optional[str] = None
        self.deadline = 0.0
        # True once a party has been given the right to end this session
        self._claimed = False

    # -- connecting --------------------------------------------------------

    def start(self, transports: Union[None, str, Sequence[str]]) -> str:
        """Begin a connection; return the transport to start with.

        Raises ValueError when the client is not disconnected, or for
        ``transports`` with no valid name.
        """
        if self.state != DISCONNECTED:
            raise ValueError('Client is not in a disconnected state')
        self.transports = choose_transports(transports)
        return self.transports[0]

    def polling_handshake(self, status: int, body: bytes,
                          json_body: Any, now: float) -> List[Any]:
        """The answer to the polling handshake GET; returns the packets the
        server sent after OPEN, to be handled once connected.

        ``json_body`` is the body parsed as JSON (None when it is not), for
        the error.  Raises ``exceptions.ConnectionError``: ``'Unexpected
        status code N in server response'`` (with ``json_body`` as the second
        argument, as python-engineio does), ``'Unexpected response from
        server'`` for a body that does not decode or is empty, or what
        :func:`parse_open` raises.
        """
        if not 200 <= status < 300:
            raise connection_error(
                'Unexpected status code %d in server response' % status,
                json_body)
        try:
            packets = _codec.decode_payload(body, None)
        except (ValueError, TypeError):
            raise connection_error('Unexpected response from server') \
                from None
        if not packets:
            raise connection_error('Unexpected response from server')
        self.opened(parse_open(packets[0]), 'polling', now)
        return packets[1:]

    def websocket_handshake(self, message: Union[str, bytes, None],
                            now: float) -> None:
        """The first message of a WebSocket opened without a session.

        Raises ``exceptions.ConnectionError`` (``'no OPEN packet'``, as
        python-engineio says) unless it is a valid OPEN packet.
        """
        if not isinstance(message, str) or not message.startswith('0'):
            raise connection_error('no OPEN packet')
        try:
            pkt = _packet.Packet(encoded_packet=message)
        except ValueError:
            raise connection_error('no OPEN packet') from None
        self.opened(parse_open(pkt), 'websocket', now)

    def opened(self, info: OpenInfo, transport: str, now: float) -> None:
        """The session exists: take the server's parameters."""
        self.sid = info.sid
        self.upgrades = info.upgrades
        self.ping_interval = info.ping_interval
        self.ping_timeout = info.ping_timeout
        self.max_payload = info.max_payload
        self.current_transport = transport
        self.state = CONNECTED
        self._claimed = False
        self.deadline = now + info.ping_interval + info.ping_timeout

    def should_upgrade(self) -> bool:
        """Whether to try the WebSocket upgrade after a polling handshake:
        the server offers it and the application allowed it."""
        return 'websocket' in (self.upgrades or ()) and \
            'websocket' in (self.transports or ())

    def upgraded(self) -> None:
        """The upgrade completed: every packet goes over the WebSocket."""
        self.current_transport = 'websocket'

    # -- connected ---------------------------------------------------------

    @property
    def polling_timeout(self) -> float:
        """How long a polling GET or the writer's queue may stay idle:
        python-engineio's ``max(pingInterval, pingTimeout) + 5`` seconds."""
        return max(self.ping_interval or 0, self.ping_timeout or 0) + 5

    def time_left(self, now: float) -> float:
        """Seconds until the heartbeat deadline (0 once it passed)."""
        return max(self.deadline - now, 0.0)

    @staticmethod
    def check_status(status: int) -> None:
        """Raise ServerProtocolError unless ``status`` (of a polling GET or
        POST answer) is a success."""
        if not 200 <= status < 300:
            raise ServerProtocolError(
                'Unexpected status code %s in server response' % status)

    @staticmethod
    def encode_polling(packets: Sequence[Any]) -> Tuple[bytes, Dict[str, str]]:
        """The body and headers of a polling POST carrying ``packets``."""
        return (_codec.encode_payload(packets).encode('utf-8'),
                {'Content-Type': 'text/plain;charset=UTF-8'})

    def polling_answer(self, status: int, body: bytes) -> List[Any]:
        """The packets of a polling GET answer.  Raises ServerProtocolError
        for a failed status or a body that does not decode."""
        self.check_status(status)
        return self.decode_polling(body)

    def decode_polling(self, body: bytes) -> List[Any]:
        """The packets of a polling GET answer.  Raises ServerProtocolError
        for a body that does not decode."""
        try:
            return _codec.decode_payload(body, None)  # type: ignore
        except (ValueError, TypeError) as exc:
            raise ServerProtocolError('undecodable polling payload from '
                                      'server (%s)' % exc) from None

    def decode_websocket(self, message: Union[str, bytes]) -> Any:
        """The packet of a WebSocket message.  Raises ServerProtocolError
        for one that does not decode (an empty text, an unknown type)."""
        return _decode_packet(message)

    def receive(self, pkt: Any, now: float) -> Tuple[int, Any]:
        """What to do with a received packet: ``(action, data)``.

        ``(ACTION_MESSAGE, data)`` for a message, ``(ACTION_SEND, pong)``
        for a PING (the heartbeat deadline moves on), ``(ACTION_CLOSE,
        None)`` when the server closed the session, ``(ACTION_NONE, None)``
        for a NOOP and for packets a server should not send (OPEN, PONG,
        UPGRADE), which the glue logs.
        """
        packet_type = pkt.packet_type
        if packet_type == _MESSAGE:
            return ACTION_MESSAGE, pkt.data
        if packet_type == _PING:
            self.deadline = now + (self.ping_interval or 0) + \
                (self.ping_timeout or 0)
            return ACTION_SEND, _packet.Packet(_PONG, pkt.data)
        if packet_type == _CLOSE:
            return ACTION_CLOSE, None
        return ACTION_NONE, None

    def can_send(self) -> bool:
        """Whether packets may still be queued for the server."""
        return self.state == CONNECTED and not self._claimed

    # -- ending ------------------------------------------------------------

    def claim_disconnect(self, reason: str) -> bool:
        """Take the right to end the session; True for exactly one caller.

        The winner sends what it must, runs the disconnect handler and
        finally calls :meth:`reset`.  For ``TRANSPORT_ERROR`` the state stays
        ``'connected'`` while the handler runs (python-socketio reconnects
        only then, as with python-engineio); for the other reasons it is
        ``'disconnecting'``.
        """
        if self.state != CONNECTED or self._claimed:
            return False
        self._claimed = True
        if reason != TRANSPORT_ERROR:
            self.state = DISCONNECTING
        return True

    def reset(self) -> None:
        """The session is over: back to ``'disconnected'``."""
        self.state = DISCONNECTED
        self.sid = None
        self._claimed = False
