"""The sans-I/O Engine.IO server core, shared by ``Server`` and ``AsyncServer``.

No sockets, threads, asyncio or clocks here: the glue feeds input events in
and performs what comes out.  Modules:

* :mod:`.config`: :class:`ServerConfig`, the validated options.
* :mod:`.requests`: query/header parsing into a :class:`Request`.
* :mod:`.cors`, :mod:`.cookies`: origin rules, CORS headers, the sid cookie.
* :mod:`.responses`: every HTTP answer and error body.
* :mod:`.session`: one session's state (:class:`Session`, state constants).
* :mod:`.heartbeat`: :class:`Deadlines`, every session's deadlines in a heap.
* :mod:`.server`: :class:`ServerCore`, where every protocol decision is made.
* :mod:`.client`: :class:`ClientCore`, the client side (handshake, packets,
  heartbeat deadline, upgrade, the one disconnect), for both clients.

Calls into :class:`ServerCore` return an *outcome* for the request at hand
(:class:`Response`, :class:`Handshake`, :class:`ReadBody`, :class:`HoldPoll`,
:class:`AcceptWebSocket`), and leave *actions* for other parties in
``core.drain()``: ``(ACTION_MESSAGE, session, data)``,
``(ACTION_DISCONNECT, session, reason)``, ``(ACTION_WAKE_POLL, session,
None)``, ``(ACTION_WS_SEND, session, frames)`` and ``(ACTION_WS_CLOSE,
session, (ws_id, code))``.  Times are the glue's monotonic clock, passed as
``now``.

**A sync (WSGI) server** keeps one lock around every core call and drains
the actions inside it.  ``handle_request(environ)`` calls
``core.handle_parsed(request_from_environ(environ), now)`` (the same as
``core.handle_request(method, QUERY_STRING, headers_from_environ(environ),
scheme, environ, now)``, without the header mapping): a ``Response`` is
written as is; ``Handshake`` runs
the ``connect`` handler outside the lock and calls ``finish_handshake``;
``ReadBody`` reads ``wsgi.input`` up to ``limit + 1`` bytes and calls
``receive_post``; ``HoldPoll`` waits on an event kept in ``session.glue``
(set by ``ACTION_WAKE_POLL``) and then calls ``answer_poll``;
``AcceptWebSocket`` runs our WebSocket on the raw socket in that request's
thread, calling ``websocket_open``, then ``websocket_message`` per message
and ``websocket_closed`` at the end.  Actions are performed after the lock
is released: messages are dispatched inline (or in a thread when
``async_handlers``), ``ACTION_WS_SEND`` frames are written by whichever
thread owns that WebSocket's writer.  One service thread sleeps until
``core.next_deadline()`` (woken early through a condition when a call moved
it earlier) and calls ``core.expire(now)``: no thread per session or ping.

**An asyncio server** calls the core from the event loop only, so it needs
no lock.  The request coroutine does as above, awaiting the ``connect``
handler if it is a coroutine, awaiting the body read, and for ``HoldPoll``
awaiting a future stored in ``session.glue`` that ``ACTION_WAKE_POLL``
resolves (``poll_aborted`` when the ASGI ``http.disconnect`` arrives first).
WebSocket messages arrive through the framework's receive loop (one per
connection, no task per message); ``ACTION_WS_SEND`` writes through the
connection's bounded writer.  One ``loop.call_at`` handle, re-armed to
``core.next_deadline()`` after every call, runs ``core.expire``: 10,000 idle
sessions cost one timer, not 10,000 tasks.

Glue ``Socket``/``AsyncSocket`` classes (python-socketio patches
``handle_post_request``, ``_websocket_handler`` and ``_send_ping``) wrap a
:class:`Session` (``session.glue``) and expose ``sid``, ``upgraded``,
``closed`` and ``connected`` from it; the server keeps ``sockets`` as its
own dict of those wrappers.
"""
from __future__ import annotations

from .config import ServerConfig
from .cookies import sid_cookie
from .cors import CorsPolicy
from .heartbeat import Deadlines
from .requests import (Request, headers_from_asgi, headers_from_environ,
                       parse_request, request_from_environ)
from .responses import Response
from .server import (ACTION_DISCONNECT, ACTION_MESSAGE, ACTION_WAKE_POLL,
                     ACTION_WS_CLOSE, ACTION_WS_SEND, CLIENT_DISCONNECT,
                     PING_TIMEOUT, SERVER_DISCONNECT, TRANSPORT_CLOSE,
                     TRANSPORT_ERROR, AcceptWebSocket, Handshake, HoldPoll,
                     ReadBody, ServerCore)
from .session import Session

__all__ = [
    'ServerConfig', 'ServerCore', 'Session', 'Request', 'Response',
    'Handshake', 'ReadBody', 'HoldPoll', 'AcceptWebSocket', 'Deadlines',
    'CorsPolicy', 'sid_cookie', 'parse_request', 'request_from_environ',
    'headers_from_environ',
    'headers_from_asgi', 'ACTION_MESSAGE', 'ACTION_DISCONNECT',
    'ACTION_WAKE_POLL', 'ACTION_WS_SEND', 'ACTION_WS_CLOSE',
    'SERVER_DISCONNECT', 'CLIENT_DISCONNECT', 'PING_TIMEOUT',
    'TRANSPORT_CLOSE', 'TRANSPORT_ERROR',
]
