"""One Engine.IO session's state (the data; :mod:`.server` moves it).

States (``Session.state``, int constants for speed)::

    CONNECTING --accepted--> OPEN --server disconnect (polling)--> CLOSING
        |                     |                                      |
        +--refused--> CLOSED <+--any other close / last poll---------+

* ``CONNECTING``: the handshake is waiting for the ``connect`` handler.  The
  session is registered (so the handler may already ``send``) but requests
  naming its sid are refused as an unknown sid: the client cannot know it.
* ``OPEN``: requests and packets flow.
* ``CLOSING``: the server closed a polling session; the ``CLOSE`` packet is
  queued behind what was already queued and waits for the client's next
  poll (or ``close_timeout``).  POSTs are refused.
* ``CLOSED``: gone; removed from the server's sessions.

Upgrade sub-states (``upgrade_state``): ``NOT_UPGRADING`` → ``PROBING`` (a
WebSocket was accepted, ``2probe`` awaited) → ``PROBED`` (``3probe`` sent,
``5`` awaited; polls are answered with ``6`` at once) → ``UPGRADED``
(``transport`` is ``'websocket'``).  A bad probe, a closed WebSocket or
``upgrade_timeout`` returns to ``NOT_UPGRADING``: the session stays on
polling.

The outgoing queue (``queue``, polling only) is bounded by the server's
``max_queued_packets``.  Policy when it is full: the client is not reading,
so the session is closed with reason ``transport error`` (python-engineio
buffers without bound, issue #133).  WebSocket output is not queued here:
it goes to the glue at once, whose writer must bound its own buffer and
report overflow with ``ServerCore.transport_error``.

Glue classes (python-socketio's patchable ``Socket``) wrap a session: the
``glue`` attribute is free for them, and ``sid``, ``upgraded``, ``closed``
and ``connected`` have the reference's meanings.
"""
from __future__ import annotations

from typing import Any, List, Optional

__all__ = ['Session', 'CONNECTING', 'OPEN', 'CLOSING', 'CLOSED',
           'NOT_UPGRADING', 'PROBING', 'PROBED', 'UPGRADED',
           'HEARTBEAT_TIMER', 'UPGRADE_TIMER']

CONNECTING, OPEN, CLOSING, CLOSED = 0, 1, 2, 3
NOT_UPGRADING, PROBING, PROBED, UPGRADED = 0, 1, 2, 3

#: timer kinds (indexes into ``timer_due``/``timer_queued``).  The heartbeat
#: timer is the next ping (v4), the pong deadline (v4), the client's silence
#: deadline (v3) or, when CLOSING, the close timeout: one at a time.
HEARTBEAT_TIMER = 0
UPGRADE_TIMER = 1


class Session:
    """The state of one session (plain attributes; no behaviour beyond
    reading them).  Created by ``ServerCore`` only."""

    __slots__ = (
        'sid', 'version', 'state', 'transport', 'upgrade_state',
        'supports_binary', 'queue', 'poll_held', 'poll_woken', 'poll_cors',
        'poll_accept_encoding', 'poll_jsonp_index', 'post_pending',
        'awaiting_pong', 'pong_refreshed', 'ws_id', 'ws_open',
        'timer_due', 'timer_queued', 'environ', 'handshake_request',
        'close_reason', 'glue', '__weakref__')

    def __init__(self, sid: str, version: int, transport: str,
                 supports_binary: bool, environ: Any) -> None:
        self.sid = sid
        #: 4, or 3 for a version 3 client
        self.version = version
        self.state = CONNECTING
        #: the transport packets go over now: 'polling' or 'websocket'
        self.transport = transport
        self.upgrade_state = NOT_UPGRADING
        #: False when a version 3 client asked for base64 (``b64=1``)
        self.supports_binary = supports_binary
        #: packets waiting for the next poll (engineio.packet.Packet)
        self.queue: List[Any] = []
        #: a GET is held open by the glue, waiting for packets
        self.poll_held = False
        #: the glue was already told to answer the held GET
        self.poll_woken = False
        #: what the held GET's response needs from its request
        self.poll_cors: List[Any] = []
        self.poll_accept_encoding: Optional[str] = None
        self.poll_jsonp_index: Optional[int] = None
        #: a POST body is being read
        self.post_pending = False
        #: v4: a PING was sent and its PONG not yet received
        self.awaiting_pong = False
        #: v4: the pong deadline was already extended once for this ping
        self.pong_refreshed = False
        #: the id of the session's current WebSocket (0: none yet)
        self.ws_id = 0
        #: the glue confirmed that WebSocket open (websocket_open)
        self.ws_open = False
        self.timer_due: List[Optional[float]] = [None, None]
        self.timer_queued: List[Optional[float]] = [None, None]
        #: what the glue passed as environ with the handshake request
        self.environ = environ
        self.handshake_request: Any = None
        #: why the session closed (a ``reason`` string), once it has
        self.close_reason: Optional[str] = None
        #: free for the glue (its Socket object)
        self.glue: Any = None

    @property
    def upgraded(self) -> bool:
        """True once the session moved to WebSocket (direct or upgraded)."""
        return self.upgrade_state == UPGRADED

    @property
    def connected(self) -> bool:
        """True once the ``connect`` handler accepted, until closed."""
        return self.state == OPEN

    @property
    def closed(self) -> bool:
        """True once the session is closing or closed."""
        return self.state >= CLOSING

    @property
    def upgrading(self) -> bool:
        """True while an upgrade to WebSocket is in progress."""
        return self.upgrade_state == PROBING or self.upgrade_state == PROBED

    def __repr__(self) -> str:
        return '<Session %s v%d state=%d %s>' % (
            self.sid, self.version, self.state, self.transport)
