"""The request-level decisions of an Engine.IO server, made once.

:class:`ServerCore` takes input events from the glue (an HTTP request, a
POST body, a WebSocket message, the clock) and answers with outcomes and
actions, never doing I/O.  See the package docstring for how a sync and an
async server drive it.

Request validation order (REFERENCE §2.1 where PROTOCOL.md and the
JavaScript server agree; theirs where they differ):

1. ``Origin`` with control characters → 400 code 3 (JavaScript's
   ``INVALID_ORIGIN``: it could otherwise be echoed into a header).
2. ``Origin`` not allowed (skipped for ``cors_allowed_origins=[]``) → 403
   code 4 "Forbidden" (the reference: 400 ``"Not an accepted origin."``).
3. ``OPTIONS`` → 204 preflight with the CORS headers.
4. ``transport`` missing, unknown or not enabled → 400 code 0 (the reference
   defaults a missing transport to polling).
5. No ``sid`` (a handshake): not ``GET`` → 400 code 2; ``j`` not a number →
   code 3; ``transport=websocket`` without ``Upgrade: websocket`` → code 3;
   ``EIO`` other than ``4`` (or ``3`` with ``allow_eio3``) → code 5.  The
   reference's long "unsupported version" text goes to the log only.
6. With a ``sid``: unknown, closed or still ``CONNECTING`` → 400 code 1;
   ``EIO`` different from the session's → code 3; ``j`` not a number →
   code 3; a method other than GET/POST → code 3; a WebSocket request
   (``Upgrade: websocket``) → the upgrade checks; ``transport`` different
   from the session's current one → code 3 (so polls after an upgrade are
   refused); then the poll or the POST.

Errors that close the session (with reason ``transport error``): a second
concurrent GET or POST (the held GET gets ``1``), a POST that does not decode
or has more than ``Payload.max_decode_packets`` packets (400 code 3), a POST
over ``max_http_buffer_size`` (413, by ``Content-Length`` before the body is
read, or by the body's length), a binary (``application/octet-stream``) POST
in version 4.
"""
from __future__ import annotations

import binascii
import logging
import os
from typing import Any, List, Mapping, Optional, Tuple, Union

from .. import packet as _packet
from .. import payload as _payload
from .._speedups import codec as _codec
from .._speedups import compression as _compression
from . import responses as _r
from .config import POLLING, WEBSOCKET, ServerConfig
from .cookies import sid_cookie
from .cors import CorsPolicy
from .heartbeat import Deadlines
from .requests import INVALID, Request, is_valid_header_value, parse_request
from .session import (CLOSED, CLOSING, CONNECTING, HEARTBEAT_TIMER,
                      NOT_UPGRADING, OPEN, PROBED, PROBING, UPGRADE_TIMER,
                      UPGRADED, Session)

__all__ = [
    'ServerCore', 'Handshake', 'ReadBody', 'HoldPoll', 'AcceptWebSocket',
    'Outcome', 'ACTION_MESSAGE', 'ACTION_DISCONNECT', 'ACTION_WAKE_POLL',
    'ACTION_WS_SEND', 'ACTION_WS_CLOSE', 'SERVER_DISCONNECT',
    'CLIENT_DISCONNECT', 'PING_TIMEOUT', 'TRANSPORT_CLOSE', 'TRANSPORT_ERROR',
    'WS_CLOSE_NORMAL', 'WS_CLOSE_PROTOCOL_ERROR',
]

logger = logging.getLogger('engineio.server')

# Disconnect reasons (REFERENCE §1.5; the glue's ``Server.reason``).
SERVER_DISCONNECT = 'server disconnect'
CLIENT_DISCONNECT = 'client disconnect'
PING_TIMEOUT = 'ping timeout'
TRANSPORT_CLOSE = 'transport close'
TRANSPORT_ERROR = 'transport error'

# Actions, drained by the glue as ``(kind, session, argument)`` tuples.
#: deliver a message event: argument = the data (str, bytes or JSON value)
ACTION_MESSAGE = 0
#: deliver the disconnect event: argument = the reason (once per session)
ACTION_DISCONNECT = 1
#: answer the held GET now: call :meth:`ServerCore.answer_poll`
ACTION_WAKE_POLL = 2
#: write frames to the session's WebSocket: argument = list of str (text
#: frame) / bytes (binary frame) payloads, in order
ACTION_WS_SEND = 3
#: close WebSocket ``ws_id``: argument = ``(ws_id, close_code)``
ACTION_WS_CLOSE = 4

WS_CLOSE_NORMAL = 1000
WS_CLOSE_PROTOCOL_ERROR = 1002

_MESSAGE = _packet.MESSAGE
_PING = _packet.PING
_PONG = _packet.PONG
_CLOSE = _packet.CLOSE
_UPGRADE = _packet.UPGRADE
_Packet = _packet.Packet
_encode_payload = _codec.encode_payload
_decode_packet = _codec.decode_packet
_decode_payload = _codec.decode_payload
_maybe_compress = _compression.maybe_compress

_TEXT_PLAIN = 'text/plain; charset=UTF-8'
_OCTET_STREAM = 'application/octet-stream'
_PROBE = 'probe'
_UNSUPPORTED_VERSION_LOG = ('The client is using an unsupported version of '
                            'the Socket.IO or Engine.IO protocols')

# Session ids: 12 random bytes each, read from the OS for _SID_BATCH sids at
# once (one system call per batch instead of per handshake), per ServerCore
# (whose calls are serialised).  A forked child must not hand out its
# parent's sids: it discards what its cores had read (_fork_generation).
_SID_RANDOM_BYTES = 12
_SID_BATCH = 64
_SID_ALPHABET = bytes.maketrans(b'/+', b'_-')
_fork_generation = 0
#: a sid-shaped string that no OPEN packet's other fields contain
_SID_PLACEHOLDER = 'SID' * 6 + '__'


def _after_fork_in_child() -> None:
    global _fork_generation
    _fork_generation += 1


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _content_length(text: str, limit: int) -> int:
    """A ``Content-Length`` that is not a short run of digits: its value
    (surrounding spaces allowed), ``limit + 1`` for a number too long to
    be within any limit, or -1 when it is not a number."""
    text = text.strip()
    if not (text.isdigit() and text.isascii()):
        return -1
    text = text.lstrip('0') or '0'
    if len(text) > 1000:  # int() refuses 4300+ digits; far over anyway
        return limit + 1
    return int(text)


class Handshake:
    """Run the ``connect`` handler for ``session`` (with ``environ``), then
    call :meth:`ServerCore.finish_handshake` with what it returned."""

    __slots__ = ('session', 'environ')

    def __init__(self, session: Session, environ: Any) -> None:
        self.session = session
        self.environ = environ


class ReadBody:
    """Read the POST body, at most ``limit + 1`` bytes (more is refused
    anyway), then call :meth:`ServerCore.receive_post` with this object and
    the bytes, or :meth:`ServerCore.post_aborted` if the client went away."""

    __slots__ = ('session', 'limit', 'cors', 'binary', 'length')

    def __init__(self, session: Session, limit: int, cors: List[Any],
                 binary: bool, length: int = -1) -> None:
        self.session = session
        self.limit = limit
        self.cors = cors
        #: version 3 XHR2 binary body (``application/octet-stream``)
        self.binary = binary
        #: the request's ``Content-Length`` (already checked: at most
        #: ``limit``), or -1 without one (a chunked body: read to its end)
        self.length = length


class HoldPoll:
    """Keep this GET open until an ``ACTION_WAKE_POLL`` for ``session``, then
    answer it with :meth:`ServerCore.answer_poll`; if the client goes away
    first, call :meth:`ServerCore.poll_aborted`."""

    __slots__ = ('session',)

    def __init__(self, session: Session) -> None:
        self.session = session


class AcceptWebSocket:
    """Complete the WebSocket handshake for ``session``; then call
    :meth:`ServerCore.websocket_open` (or ``websocket_closed`` if the
    handshake failed).  ``ws_id`` identifies this WebSocket in later calls."""

    __slots__ = ('session', 'ws_id')

    def __init__(self, session: Session, ws_id: int) -> None:
        self.session = session
        self.ws_id = ws_id


Outcome = Union[_r.Response, Handshake, ReadBody, HoldPoll, AcceptWebSocket]


class ServerCore:
    """The protocol state of one server: its sessions and their deadlines.

    Not thread-safe: the sync glue serialises calls with one lock; the
    asyncio glue calls it from the event loop only.  After each call the
    glue runs :meth:`drain` and performs the actions in order.  ``now`` is
    a monotonic time in seconds, read by the glue.
    """

    def __init__(self, config: Optional[ServerConfig] = None) -> None:
        self.config = config if config is not None else ServerConfig()
        #: sid -> Session, for every session not yet CLOSED
        self.sessions: dict = {}
        self.deadlines = Deadlines()
        self.cors = CorsPolicy(self.config.cors_allowed_origins,
                               self.config.cors_credentials)
        # the CORS headers of most requests, and the answer to a POST that
        # carries them: built once (responses are read-only to the glue)
        self._plain_cors = self.cors.plain_headers
        self._plain_ok = _r.ok_response(self._plain_cors)
        self.actions: List[Tuple[int, Session, Any]] = []
        self.sequence_number = 0
        self._debug = logger.isEnabledFor(logging.DEBUG)
        #: the OPEN packet's text around its sid, for the last handshake's
        #: settings: ``(key, prefix, suffix)`` (see :meth:`_open_packet`)
        self._open_template: Any = None
        #: random bytes for the next sids, where the unused ones begin, and
        #: the process (fork generation) they were read in
        self._sid_random = b''
        self._sid_offset = 0
        self._sid_generation = _fork_generation

    # -- plumbing ---------------------------------------------------------

    def drain(self) -> List[Tuple[int, Session, Any]]:
        """Take the actions produced so far, in order."""
        actions = self.actions
        if actions:
            self.actions = []
        return actions

    def generate_id(self) -> str:
        """A new 20-character sid: base64 of 12 random bytes and a 3-byte
        sequence number, ``/`` → ``_`` and ``+`` → ``-`` (the reference's
        shape)."""
        offset = self._sid_offset
        if offset >= len(self._sid_random) or \
                self._sid_generation != _fork_generation:
            self._sid_random = os.urandom(_SID_RANDOM_BYTES * _SID_BATCH)
            self._sid_generation = _fork_generation
            offset = 0
        end = self._sid_offset = offset + _SID_RANDOM_BYTES
        raw = self._sid_random[offset:end] + \
            self.sequence_number.to_bytes(3, 'big')
        self.sequence_number = (self.sequence_number + 1) & 0xffffff
        return binascii.b2a_base64(raw, newline=False).translate(
            _SID_ALPHABET).decode('ascii')

    def next_deadline(self) -> Optional[float]:
        """When :meth:`expire` next has something to do (None: never)."""
        return self.deadlines.next_deadline()

    # -- requests ---------------------------------------------------------

    def handle_request(self, method: str, query_string: str,
                       headers: Mapping[str, str], scheme: str = 'http',
                       environ: Any = None, now: float = 0.0) -> Outcome:
        """Decide what to do with an HTTP request (WebSocket handshakes
        included).  ``headers``: lower-case names (see
        :mod:`engineio._sansio.requests`).  Exceptions from a callable
        ``cors_allowed_origins`` propagate (an application bug)."""
        return self.handle_parsed(
            parse_request(method, query_string, headers, scheme, environ),
            now)

    def handle_parsed(self, request: Request, now: float = 0.0) -> Outcome:
        """:meth:`handle_request` for a request already parsed (WSGI glues
        build it with :func:`~engineio._sansio.requests.request_from_environ`).
        """
        origin = request.origin
        method = request.method
        if origin is None:
            if method != 'OPTIONS' and request.cors_request_headers is None:
                # the usual request: headers() would give these
                cors = self._plain_cors
            else:
                # nothing to check (and headers() gives [] when CORS is off)
                cors = self.cors.headers(request, True)
        elif not is_valid_header_value(origin):
            request.origin = None  # never echoed
            return _r.error_response(_r.BAD_REQUEST,
                                     self.cors.headers(request, False))
        elif self.cors.enabled:
            cors_policy = self.cors
            allowed = cors_policy.origin_allowed(request)
            cors = cors_policy.headers(request, allowed)
            if not allowed:
                logger.info('%s is not an accepted origin.', origin)
                return _r.error_response(_r.FORBIDDEN, cors)
        else:
            cors = []
        if method == 'OPTIONS':
            return _r.preflight_response(cors)
        transport = request.transport
        if transport is None or transport not in self.config.transports:
            return _r.error_response(_r.UNKNOWN_TRANSPORT, cors)
        sid = request.sid
        if sid is None:
            return self._handshake(request, cors)
        session = self.sessions.get(sid)
        if session is None:
            return _r.error_response(_r.UNKNOWN_SID, cors)
        state = session.state
        if state != OPEN and state != CLOSING:
            return _r.error_response(_r.UNKNOWN_SID, cors)
        if request.eio != ('4' if session.version == 4 else '3') or \
                request.jsonp_index == INVALID:
            return _r.error_response(_r.BAD_REQUEST, cors)
        if request.is_upgrade:
            return self._upgrade(session, request, cors, now)
        if transport != session.transport:
            return _r.error_response(_r.BAD_REQUEST, cors)
        if method == 'POST':
            # the POST checks, here rather than in a method of their own:
            # every message a polling client sends comes this way
            if state != OPEN:
                return _r.error_response(_r.BAD_REQUEST, cors)
            if session.post_pending:
                self.close(session, TRANSPORT_ERROR)
                return _r.error_response(_r.BAD_REQUEST, cors)
            binary = request.content_type == _OCTET_STREAM
            if binary and session.version == 4:
                self.close(session, TRANSPORT_ERROR)
                return _r.error_response(_r.BAD_REQUEST, cors)
            limit = self.config.max_http_buffer_size
            text = request.content_length
            if text is None:
                length = -1
            elif text.isdigit() and text.isascii() and len(text) < 16:
                length = int(text)
            else:
                length = _content_length(text, limit)
                if length == -1:
                    self.close(session, TRANSPORT_ERROR)
                    return _r.error_response(_r.BAD_REQUEST, cors)
            if length > limit:
                self.close(session, TRANSPORT_ERROR)
                return _r.too_large_response(cors)
            session.post_pending = True
            return ReadBody(session, limit, cors, binary, length)
        if method == 'GET':
            return self._poll(session, request, cors)
        return _r.error_response(_r.BAD_REQUEST, cors)

    def _handshake(self, request: Request, cors: List[Any]) -> Outcome:
        if request.method != 'GET':
            return _r.error_response(_r.BAD_HANDSHAKE_METHOD, cors)
        if request.jsonp_index == INVALID:
            return _r.error_response(_r.BAD_REQUEST, cors)
        transport = request.transport
        if transport == WEBSOCKET and not request.is_upgrade:
            return _r.error_response(_r.BAD_REQUEST, cors)
        eio = request.eio
        if eio == '4':
            version = 4
        elif eio == '3' and self.config.allow_eio3:
            version = 3
        else:
            logger.info(_UNSUPPORTED_VERSION_LOG)
            return _r.error_response(_r.UNSUPPORTED_PROTOCOL_VERSION, cors)
        config = self.config
        sid = self.generate_id()
        assert transport is not None
        session = Session(sid, version, transport, request.supports_binary,
                          request.environ)
        session.handshake_request = (request, cors)
        if transport == WEBSOCKET:
            session.upgrade_state = UPGRADED
            upgrades: List[str] = []
        else:
            upgrades = config.upgrades_from_polling
        session.queue.append(self._open_packet(sid, upgrades))
        self.sessions[sid] = session
        return Handshake(session, request.environ)

    def _open_packet(self, sid: str, upgrades: List[str]) -> Any:
        """The OPEN packet of a new session.  Its encoding is the same for
        every session but the sid: it is encoded once (per settings and
        ``Packet.json`` module) and the sid spliced in, which is what
        encoding it would give, since a sid needs no JSON escaping."""
        config = self.config
        data = {'sid': sid, 'upgrades': upgrades,
                'pingTimeout': config.ping_timeout_ms,
                'pingInterval': config.ping_interval_ms,
                'maxPayload': config.max_http_buffer_size}
        pkt = _Packet(_packet.OPEN, data)
        key = (_Packet.json, upgrades, config.ping_timeout_ms,
               config.ping_interval_ms, config.max_http_buffer_size)
        template = self._open_template
        if template is None or template[0] != key:
            encoded = _Packet(_packet.OPEN, dict(
                data, sid=_SID_PLACEHOLDER)).encode()
            if not isinstance(encoded, str):
                return pkt
            prefix, found, suffix = encoded.partition(_SID_PLACEHOLDER)
            if not found or _SID_PLACEHOLDER in suffix:
                return pkt  # a JSON module that writes it otherwise
            template = self._open_template = (
                (key[0], list(upgrades)) + key[2:], prefix, suffix)
        pkt.encode_cache = template[1] + sid + template[2]
        return pkt

    def finish_handshake(self, session: Session, result: Any = None,
                         failed: bool = False, now: float = 0.0
                         ) -> Union[_r.Response, AcceptWebSocket]:
        """Complete a handshake after the ``connect`` handler returned
        ``result`` (``failed=True``: it raised).  ``None``/``True`` accept;
        ``False`` or a failure refuse with 401 ``"Unauthorized"``; any other
        value refuses with 401 and its JSON.  A session closed while the
        handler ran is refused too.  Accepted: the polling handshake
        response, or :class:`AcceptWebSocket` for a direct WebSocket."""
        request, cors = session.handshake_request
        # neither is read after the handshake: an idle session must not keep
        # the handshake request's environ alive (~1.8 KB each)
        session.handshake_request = session.environ = None
        if failed or session.state != CONNECTING or \
                (result is not None and result is not True):
            if not failed and session.state == CONNECTING and \
                    result is not False:
                body = _packet.Packet.json.dumps(result)
            else:
                body = '"Unauthorized"'
            self._remove(session)
            return _r.unauthorized_response(body.encode('utf-8'), cors)
        session.state = OPEN
        config = self.config
        if session.version == 4:
            self.deadlines.set(session, HEARTBEAT_TIMER,
                               now + config.ping_interval)
        else:
            self.deadlines.set(session, HEARTBEAT_TIMER,
                               now + config.ping_interval + config.ping_timeout)
        if session.transport == WEBSOCKET:
            session.ws_id += 1
            return AcceptWebSocket(session, session.ws_id)
        packets = session.queue
        session.queue = []
        response = self._payload_response(
            session, packets, cors, request.accept_encoding,
            request.jsonp_index)
        cookie = sid_cookie(config.cookie, session.sid)
        if cookie is not None:
            response.headers.append(('Set-Cookie', cookie))
        return response

    def _payload_response(self, session: Session, packets: List[Any],
                          cors: List[Any], accept_encoding: Optional[str],
                          jsonp_index: Optional[int]) -> _r.Response:
        if session.version == 4 and jsonp_index is None:
            encoded: Union[str, bytes] = _encode_payload(packets)
        else:
            encoded = _payload.Payload(packets).encode(
                jsonp_index, version=session.version,
                binary=session.supports_binary)
        if isinstance(encoded, str):
            body = encoded.encode('utf-8')
            content_type = _TEXT_PLAIN
        else:
            body = encoded
            content_type = _OCTET_STREAM
        config = self.config
        coding = None
        if config.http_compression and accept_encoding and \
                len(body) >= config.compression_threshold:
            body, coding = _maybe_compress(body, accept_encoding,
                                           config.compression_threshold)
        headers = [('Content-Type', content_type),
                   ('Content-Length', str(len(body))),
                   ('Cache-Control', 'no-store')]
        if coding is not None:
            headers.append(('Content-Encoding', coding))
        if cors:
            headers.extend(cors)
        return _r.Response(200, headers, body)

    # -- polling ----------------------------------------------------------

    def _poll(self, session: Session, request: Request,
              cors: List[Any]) -> Outcome:
        if session.poll_held:
            # JavaScript: "overlap from client" closes the session; the held
            # GET is answered with a CLOSE packet.
            self.close(session, TRANSPORT_ERROR)
            return _r.error_response(_r.BAD_REQUEST, cors)
        session.poll_cors = cors
        session.poll_accept_encoding = request.accept_encoding
        session.poll_jsonp_index = request.jsonp_index
        if session.queue or session.state == CLOSING or \
                session.upgrade_state == PROBED:
            return self._answer(session)
        session.poll_held = True
        session.poll_woken = False
        return HoldPoll(session)

    def answer_poll(self, session: Session) -> _r.Response:
        """The response to the held GET of ``session`` (after
        ``ACTION_WAKE_POLL``, or whenever the glue gives up waiting)."""
        session.poll_held = False
        session.poll_woken = False
        return self._answer(session)

    def _answer(self, session: Session) -> _r.Response:
        state = session.state
        if state == OPEN and session.upgrade_state >= PROBED or \
                not session.queue:
            # During an upgrade the queue is kept for the WebSocket; the
            # poll only has to return so that the client can send "5".
            packets = [_Packet(_packet.NOOP)]
        else:
            packets = session.queue
            session.queue = []
        response = self._payload_response(
            session, packets, session.poll_cors,
            session.poll_accept_encoding, session.poll_jsonp_index)
        if state == CLOSING:
            # the CLOSE packet went out: the session is over
            self._remove(session)
        return response

    def poll_aborted(self, session: Session) -> None:
        """The client went away while its GET was held (JavaScript: "poll
        connection closed prematurely"): the session closes with
        ``transport error``."""
        session.poll_held = False
        session.poll_woken = False
        if session.state == OPEN:
            self.close(session, TRANSPORT_ERROR)
        elif session.state == CLOSING:
            self._remove(session)

    def _wake(self, session: Session) -> None:
        if session.poll_held and not session.poll_woken:
            session.poll_woken = True
            self.actions.append((ACTION_WAKE_POLL, session, None))

    def receive_post(self, ticket: ReadBody, body: bytes,
                     now: float = 0.0) -> _r.Response:
        """Handle the body of a POST the core asked to read.  Packets are
        processed in order (messages become ``ACTION_MESSAGE``); a ``CLOSE``
        packet ends the session and the rest of the payload is ignored.
        Answers 200 ``ok``, 413, or 400 code 3 (the session then closed)."""
        session = ticket.session
        session.post_pending = False
        cors = ticket.cors
        if session.state != OPEN:
            return _r.error_response(_r.BAD_REQUEST, cors)
        if len(body) > ticket.limit:
            self.close(session, TRANSPORT_ERROR)
            return _r.too_large_response(cors)
        try:
            if session.version == 4:
                # Payload().decode(body) without the Payload object; the
                # cap is read from the class, where applications tune it
                packets = _decode_payload(
                    body, _payload.Payload.max_decode_packets) if body else ()
            else:
                encoded: Union[str, bytes] = body
                if not ticket.binary:
                    encoded = bytes(body).decode('utf-8')
                decoder = _payload.Payload()
                decoder.decode(encoded, version=3)
                packets = decoder.packets
        except (ValueError, TypeError) as exc:  # UnicodeDecodeError too
            logger.info('Bad payload from %s: %s', session.sid, exc)
            self.close(session, TRANSPORT_ERROR)
            return _r.error_response(_r.BAD_REQUEST, cors)
        actions = self.actions
        for pkt in packets:
            packet_type = pkt.packet_type
            if packet_type == _MESSAGE and not session.awaiting_pong:
                # the usual packet, inline: all _on_packet would do
                actions.append((ACTION_MESSAGE, session, pkt.data))
                continue
            self._on_packet(session, packet_type, pkt.data, now)
            if session.state != OPEN:
                break
        if cors is self._plain_cors:
            return self._plain_ok  # shared: the glue copies its headers
        return _r.ok_response(cors)

    def post_aborted(self, ticket: ReadBody) -> None:
        """The client went away before its POST body was complete
        (JavaScript: "data request connection closed prematurely")."""
        session = ticket.session
        session.post_pending = False
        if session.state == OPEN:
            self.close(session, TRANSPORT_ERROR)

    # -- packets ----------------------------------------------------------

    def _on_packet(self, session: Session, packet_type: int, data: Any,
                   now: float) -> None:
        if packet_type == _MESSAGE:
            if session.awaiting_pong and not session.pong_refreshed:
                self._refresh_pong_deadline(session, now)
            self.actions.append((ACTION_MESSAGE, session, data))
            return
        if packet_type == _PONG:
            if session.version == 3:
                self.close(session, TRANSPORT_ERROR)  # wrong direction
            elif session.awaiting_pong:
                # Only an outstanding ping reschedules the next one
                # (CVE-2026-48802): unsolicited PONGs are ignored.
                session.awaiting_pong = False
                self.deadlines.set(session, HEARTBEAT_TIMER,
                                   now + self.config.ping_interval)
            return
        if packet_type == _PING:
            if session.version == 4:
                # JavaScript: "invalid heartbeat direction"
                self.close(session, TRANSPORT_ERROR)
                return
            config = self.config
            self.deadlines.set(session, HEARTBEAT_TIMER,
                               now + config.ping_interval + config.ping_timeout)
            self._send(session, _Packet(_PONG, data))
            return
        if packet_type == _CLOSE:
            self.close(session, CLIENT_DISCONNECT)
            return
        if session.awaiting_pong and not session.pong_refreshed:
            self._refresh_pong_deadline(session, now)
        # OPEN, UPGRADE and NOOP from a client carry nothing to act on.

    def _refresh_pong_deadline(self, session: Session, now: float) -> None:
        # JavaScript: any packet while a PONG is awaited shows the client is
        # alive; extend the pong deadline once per ping (a busy client whose
        # PONG sits behind large messages is not timed out).
        session.pong_refreshed = True
        self.deadlines.set(session, HEARTBEAT_TIMER,
                           now + self.config.ping_timeout)

    # -- sending ----------------------------------------------------------

    def send_packet(self, session: Session, pkt: Any) -> bool:
        """Queue or write ``pkt`` (an ``engineio.packet.Packet``) to the
        client.  False when the session does not take packets (closing or
        closed), or when its queue overflowed (the session is then closed
        with ``transport error``)."""
        if session.state > OPEN:
            return False
        return self._send(session, pkt)

    def send_text(self, session: Session, data: str) -> bool:
        """:meth:`send_packet` of ``Packet(MESSAGE, data)`` for a str
        ``data``; the packet is not built when the frame goes straight to
        an open WebSocket (its encoding is ``'4' + data``)."""
        if session.state == OPEN and session.ws_open and \
                session.transport == WEBSOCKET:
            self.actions.append((ACTION_WS_SEND, session, ['4' + data]))
            return True
        if session.state > OPEN:
            return False
        return self._send(session, _Packet(_MESSAGE, data))

    def send(self, sid: str, pkt: Any) -> bool:
        """:meth:`send_packet` by sid; False for an unknown sid."""
        session = self.sessions.get(sid)
        if session is None:
            return False
        return self.send_packet(session, pkt)

    def _send(self, session: Session, pkt: Any) -> bool:
        if session.transport == WEBSOCKET and session.state == OPEN:
            if session.ws_open:
                self.actions.append((ACTION_WS_SEND, session,
                                     [self._ws_frame(session, pkt)]))
            else:
                session.queue.append(pkt)  # flushed by websocket_open
            return True
        queue = session.queue
        if len(queue) >= self.config.max_queued_packets:
            logger.warning('Outgoing queue of %s is full: closing',
                           session.sid)
            self.close(session, TRANSPORT_ERROR)
            return False
        queue.append(pkt)
        if session.poll_held and not session.poll_woken and \
                session.upgrade_state < PROBED:
            session.poll_woken = True
            self.actions.append((ACTION_WAKE_POLL, session, None))
        return True

    @staticmethod
    def _ws_frame(session: Session, pkt: Any) -> Union[str, bytes]:
        encoded = pkt.encode()
        if session.version == 3 and not isinstance(encoded, str):
            # version 3 binary frames carry the type byte
            return b'\x04' + bytes(encoded)
        return encoded

    # -- WebSocket --------------------------------------------------------

    def _upgrade(self, session: Session, request: Request, cors: List[Any],
                 now: float) -> Outcome:
        if request.method != 'GET' or request.transport != WEBSOCKET or \
                not self.config.allow_upgrades or session.state != OPEN or \
                session.transport != POLLING or \
                session.upgrade_state != NOT_UPGRADING:
            # includes a second WebSocket for the sid (JavaScript accepts it
            # and closes it at once; refusing the handshake says the same)
            return _r.error_response(_r.BAD_REQUEST, cors)
        session.upgrade_state = PROBING
        session.ws_id += 1
        session.ws_open = False
        self.deadlines.set(session, UPGRADE_TIMER,
                           now + self.config.upgrade_timeout)
        return AcceptWebSocket(session, session.ws_id)

    def websocket_open(self, session: Session, ws_id: int) -> None:
        """The WebSocket handshake of ``ws_id`` completed.  A direct
        WebSocket session gets its OPEN packet (and anything the connect
        handler sent) as ``ACTION_WS_SEND``."""
        if ws_id != session.ws_id:
            self.actions.append((ACTION_WS_CLOSE, session,
                                 (ws_id, WS_CLOSE_NORMAL)))
            return
        if session.state != OPEN or (session.transport == POLLING and
                                     session.upgrade_state != PROBING):
            self.actions.append((ACTION_WS_CLOSE, session,
                                 (ws_id, WS_CLOSE_NORMAL)))
            return
        session.ws_open = True
        if session.transport == WEBSOCKET:
            self._flush_to_websocket(session)

    def _flush_to_websocket(self, session: Session) -> None:
        if session.queue:
            frames = [self._ws_frame(session, pkt) for pkt in session.queue]
            session.queue = []
            self.actions.append((ACTION_WS_SEND, session, frames))

    def websocket_message(self, session: Session, ws_id: int,
                          data: Union[str, bytes], now: float = 0.0) -> None:
        """One WebSocket message (a text frame as str, a binary one as
        bytes) from WebSocket ``ws_id``."""
        if ws_id != session.ws_id or session.state != OPEN:
            return  # a WebSocket already let go of, or a closed session
        if session.transport == WEBSOCKET:
            if isinstance(data, str):
                try:
                    packet_type, value, _ = _decode_packet(
                        data, _packet.Packet.json)
                except ValueError:
                    self._ws_protocol_error(session)
                    return
                self._on_packet(session, packet_type, value, now)
            elif session.version == 4:
                self._on_packet(session, _MESSAGE, bytes(data), now)
            elif data and data[0] == 4:
                self._on_packet(session, _MESSAGE, bytes(data[1:]), now)
            else:
                self._ws_protocol_error(session)
            return
        # an upgrade in progress
        upgrade_state = session.upgrade_state
        if upgrade_state == PROBING and data == '2probe':
            session.upgrade_state = PROBED
            self.actions.append((ACTION_WS_SEND, session, ['3probe']))
            self._wake(session)  # the held poll returns "6"
        elif (upgrade_state == PROBING or upgrade_state == PROBED) and \
                data == '5':
            self.deadlines.cancel(session, UPGRADE_TIMER)
            session.upgrade_state = UPGRADED
            session.transport = WEBSOCKET
            self._wake(session)
            self._flush_to_websocket(session)
        else:
            self._abandon_upgrade(session, WS_CLOSE_PROTOCOL_ERROR)

    def _ws_protocol_error(self, session: Session) -> None:
        self.close(session, TRANSPORT_ERROR,
                   ws_close_code=WS_CLOSE_PROTOCOL_ERROR)

    def _abandon_upgrade(self, session: Session, code: int) -> None:
        self.deadlines.cancel(session, UPGRADE_TIMER)
        session.upgrade_state = NOT_UPGRADING
        session.ws_open = False
        self.actions.append((ACTION_WS_CLOSE, session, (session.ws_id, code)))
        # polls answered with "6" during the probe may now wait again;
        # anything queued meanwhile goes to the next poll
        self._wake_if_queued(session)

    def _wake_if_queued(self, session: Session) -> None:
        if session.queue:
            self._wake(session)

    def websocket_closed(self, session: Session, ws_id: int) -> None:
        """WebSocket ``ws_id`` is gone (closed by the client, a read error,
        a frame over the size limit...).  On an upgraded session that ends
        the session (``transport close``); during an upgrade it abandons the
        upgrade; otherwise it is ignored."""
        if ws_id != session.ws_id or session.state != OPEN:
            return
        session.ws_open = False
        if session.transport == WEBSOCKET:
            self.close(session, TRANSPORT_CLOSE, websocket_gone=True)
        elif session.upgrade_state != NOT_UPGRADING:
            self.deadlines.cancel(session, UPGRADE_TIMER)
            session.upgrade_state = NOT_UPGRADING
            self._wake_if_queued(session)

    # -- closing ----------------------------------------------------------

    def transport_error(self, session: Session) -> None:
        """The glue's transport failed (e.g. its WebSocket write buffer
        overflowed): close with ``transport error``."""
        self.close(session, TRANSPORT_ERROR)

    def disconnect(self, session: Session, now: float = 0.0) -> None:
        """Server-side close (``Server.disconnect``): reason
        ``server disconnect``; a polling client gets what was queued and
        then ``1`` on its next poll (or the session ends after
        ``close_timeout``)."""
        self.close(session, SERVER_DISCONNECT, now=now)

    def close(self, session: Session, reason: str, now: float = 0.0,
              ws_close_code: int = WS_CLOSE_NORMAL,
              websocket_gone: bool = False) -> None:
        """Close ``session`` for ``reason`` (idempotent).  Emits
        ``ACTION_DISCONNECT`` exactly once per session that was connected
        (never for a refused or still-connecting handshake)."""
        state = session.state
        if state >= CLOSING:
            return
        session.close_reason = reason
        deadlines = self.deadlines
        deadlines.cancel(session, HEARTBEAT_TIMER)
        deadlines.cancel(session, UPGRADE_TIMER)
        session.awaiting_pong = False
        actions = self.actions
        if state == CONNECTING:
            # refused before it began: no disconnect event, nothing to send
            session.state = CLOSED
            session.queue = []
            return
        actions.append((ACTION_DISCONNECT, session, reason))
        if session.transport == WEBSOCKET:
            if not websocket_gone and session.ws_open:
                if reason == SERVER_DISCONNECT:
                    session.queue.append(_Packet(_CLOSE))
                    self._flush_to_websocket(session)
                actions.append((ACTION_WS_CLOSE, session,
                                (session.ws_id, ws_close_code)))
            session.queue = []
            self._remove(session)
            return
        if session.upgrade_state != NOT_UPGRADING:
            session.upgrade_state = NOT_UPGRADING
            actions.append((ACTION_WS_CLOSE, session,
                            (session.ws_id, WS_CLOSE_NORMAL)))
        if reason == SERVER_DISCONNECT:
            # orderly: what was queued still goes out, then CLOSE
            session.queue.append(_Packet(_CLOSE))
            session.state = CLOSING
            if session.poll_held:
                self._wake(session)
            else:
                deadlines.set(session, HEARTBEAT_TIMER,
                              now + self.config.close_timeout)
            return
        # abrupt: queued packets are dropped (the client is gone or broken);
        # a held poll learns of it at once
        self._remove(session)
        if session.poll_held:
            session.queue = [_Packet(_packet.NOOP if
                                     reason == CLIENT_DISCONNECT else _CLOSE)]
            session.state = CLOSING  # _answer sends the queue, then removes
            self._wake(session)
        else:
            session.queue = []

    def _remove(self, session: Session) -> None:
        session.state = CLOSED
        self.deadlines.cancel(session, HEARTBEAT_TIMER)
        self.deadlines.cancel(session, UPGRADE_TIMER)
        if self.sessions.get(session.sid) is session:
            del self.sessions[session.sid]

    # -- time -------------------------------------------------------------

    def expire(self, now: float) -> List[Session]:
        """Act on every deadline up to ``now``: send pings (v4), close
        sessions whose client is silent (``ping timeout``), abandon stalled
        upgrades, end CLOSING sessions whose client never came back.

        Returns the sessions that were sent a PING, in order (usually
        empty), so that the glue can run a per-ping hook such as
        python-socketio's patched ``Socket._send_ping`` without the core
        producing an action nobody else needs."""
        pinged: List[Session] = []
        for session, kind in self.deadlines.pop_expired(now):
            state = session.state
            if kind == UPGRADE_TIMER:
                if state == OPEN and session.upgrade_state in (PROBING,
                                                               PROBED):
                    self._abandon_upgrade(session, WS_CLOSE_NORMAL)
                continue
            if state == CLOSING:
                if not session.poll_held:
                    self._remove(session)
                continue
            if state != OPEN:
                continue
            if session.version == 3 or session.awaiting_pong:
                self.close(session, PING_TIMEOUT)
                continue
            session.awaiting_pong = True
            session.pong_refreshed = False
            self.deadlines.set(session, HEARTBEAT_TIMER,
                               now + self.config.ping_timeout)
            if self._send(session, _Packet(_PING)):
                pinged.append(session)
        return pinged
