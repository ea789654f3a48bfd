"""The ``sanic`` async mode: ``AsyncServer`` on a Sanic application.

``eio.attach(app)`` adds one streaming route for the Engine.IO endpoint
(every method: the core answers those the protocol refuses; with and
without the trailing slash) and enables Sanic's WebSocket protocol.
``eio.handle_request(request)`` returns the ``HTTPResponse`` to send, or
None once an accepted WebSocket has ended.

* The route streams its body (``stream=True``): it is read lazily from
  ``request.stream``, at most ``max_http_buffer_size + 1`` bytes (Sanic's
  ``REQUEST_MAX_SIZE`` is lifted for streaming routes; Sanic drains and
  drops whatever the core did not read).
* Sanic cancels a request's task when its client disconnects, which is how
  a held long poll learns of it: this driver has no ``wait_disconnect``.
* A WebSocket the core refuses gets its HTTP error; an accepted one is
  upgraded with the protocol's ``websocket_handshake`` (as Sanic's own
  WebSocket routes are), its message size limit set to
  ``max_http_buffer_size`` (a larger message closes it with 1009, as the
  core would), and runs ``AsyncSocket._websocket_handler`` in a task of its
  own: Sanic cancels the request when the connection drops, and the session
  then ends at its next ``wait()`` (``transport close``) rather than being
  cancelled in the middle of a handler.

Importing this module raises ``ImportError`` without Sanic, so that
``AsyncServer(async_mode=None)`` picks only an installed framework
(python-engineio selects ``sanic`` even when it is missing).
"""
from __future__ import annotations

import asyncio
import sys
from typing import Any, Dict, List, Optional

from sanic.compat import Header
from sanic.exceptions import BadRequest
from sanic.response import HTTPResponse

from .._sansio import AcceptWebSocket, headers_from_environ
from .._sansio.requests import add_wsgi_headers

__all__ = ['create_route', 'translate_request', 'read_body',
           'handle_request', 'WebSocket']

#: every method goes to the core, which refuses those the protocol does not
#: use with the protocol's error
_METHODS = ['GET', 'POST', 'OPTIONS', 'PUT', 'PATCH', 'DELETE', 'HEAD']
_SCHEMES = {'http': 'http', 'https': 'https', 'ws': 'http', 'wss': 'https'}


def create_route(app: Any, engineio_server: Any,
                 engineio_endpoint: str) -> None:
    """Route ``engineio_endpoint`` (``'/engine.io/'``) to the server."""
    async def engineio_handler(request: Any) -> Any:
        return await engineio_server.handle_request(request)

    # after a WebSocket nothing is sent: Sanic must not ask for a response
    engineio_handler.is_websocket = True  # type: ignore[attr-defined]
    name = 'engineio' + engineio_endpoint.replace('/', '_').replace('.', '_')
    app.add_route(engineio_handler, engineio_endpoint, methods=_METHODS,
                  name=name, stream=True, strict_slashes=False)
    app.enable_websocket()


def translate_request(request: Any) -> Dict[str, Any]:
    """A WSGI-style environ for a Sanic request (what the ``connect``
    handler and a callable ``cors_allowed_origins`` receive), with the
    request under ``sanic.request``."""
    conn_info = request.conn_info
    if conn_info is not None:
        remote = (conn_info.client_ip, conn_info.client_port)
        local = (conn_info.server, conn_info.server_port)
    else:
        remote, local = ('', 0), ('sanic', 0)
    query_string = request.query_string
    path = request.path
    environ: Dict[str, Any] = {
        'wsgi.errors': sys.stderr,
        'wsgi.version': (1, 0),
        'wsgi.async': True,
        'wsgi.multithread': False,
        'wsgi.multiprocess': False,
        'wsgi.run_once': False,
        'wsgi.url_scheme': _SCHEMES.get(request.scheme, 'http'),
        'SERVER_SOFTWARE': 'sanic',
        'REQUEST_METHOD': request.method,
        'PATH_INFO': path,
        'QUERY_STRING': query_string,
        'RAW_URI': path + '?' + query_string if query_string else path,
        'SCRIPT_NAME': '',
        'SERVER_PROTOCOL': 'HTTP/' + request.version,
        'REMOTE_ADDR': str(remote[0]),
        'REMOTE_PORT': str(remote[1]),
        'SERVER_NAME': str(local[0]),
        'SERVER_PORT': str(local[1]),
        'sanic.request': request,
    }
    add_wsgi_headers(environ, request.headers.items())
    return environ


async def read_body(environ: Dict[str, Any], limit: int) -> Optional[bytes]:
    """The request body, read lazily and cut at ``limit`` bytes (the core
    refuses what reaches the limit); None if it could not be read."""
    request = environ['sanic.request']
    if request.body:  # a route without stream=True: Sanic read it whole
        return bytes(request.body[:limit])
    stream = request.stream
    if stream is None:
        return b''
    chunks: List[bytes] = []
    size = 0
    try:
        while size < limit:
            chunk = await stream.read()
            if chunk is None:
                break
            chunk = chunk[:limit - size]
            chunks.append(chunk)
            size += len(chunk)
    except asyncio.CancelledError:
        raise
    except Exception:  # a malformed chunked body, a lost connection
        return None
    return b''.join(chunks)


class WebSocket:
    """An accepted Sanic WebSocket, as ``AsyncSocket._websocket_handler``
    uses it: ``wait()`` returns the next message (str or bytes) or None once
    the connection ended; ``send(data)`` writes a str (text frame) or bytes
    (binary frame); ``close(code)``.  ``ws`` is Sanic's
    ``WebsocketImplProtocol``."""

    def __init__(self, ws_id: int, ws: Any) -> None:
        self.ws_id = ws_id
        self.ws = ws
        self.closed = False

    async def wait(self) -> Any:
        """The next message, or None once the connection ended."""
        if self.closed:
            return None
        ws = self.ws
        try:
            data = await ws.recv()
        except asyncio.CancelledError:
            # Sanic's recv() raises CancelledError when a close frame
            # arrives or the connection drops; only a WebSocket still open
            # means that this task itself is being cancelled
            if _is_open(ws):
                raise
            self.closed = True
            return None
        except Exception:  # ConnectionClosed and Sanic's own errors
            self.closed = True
            return None
        if data is None:  # only with a timeout, which is never given
            self.closed = True
        return data

    async def send(self, data: Any) -> None:
        """Write one message."""
        await self.ws.send(data)

    async def close(self, code: int = 1000) -> None:
        """Close the connection with ``code``."""
        await self.ws.close(code)


def _is_open(ws: Any) -> bool:
    protocol = getattr(ws, 'ws_proto', None)
    state = getattr(protocol, 'state', None)
    return getattr(state, 'name', 'CLOSED') == 'OPEN' and \
        getattr(ws, 'io_proto', None) is not None


def _response(outcome: Any) -> HTTPResponse:
    headers = Header(outcome.headers)
    content_type = headers.pop('content-type', None)
    if outcome.status == 204:
        # Sanic warns about a Content-Length (even 0) on a 204
        headers.pop('content-length', None)
    return HTTPResponse(body=outcome.body, status=outcome.status,
                        headers=headers, content_type=content_type)


async def handle_request(server: Any, request: Any) -> Optional[HTTPResponse]:
    """Serve one request for ``server``: the response to send, or None (an
    ended WebSocket, or a client that went away)."""
    environ = translate_request(request)
    outcome = await server._handle_http(
        environ['REQUEST_METHOD'], environ['QUERY_STRING'],
        headers_from_environ(environ), environ['wsgi.url_scheme'], environ)
    if type(outcome) is AcceptWebSocket:
        await _run_websocket(server, request, outcome)
        return None
    if outcome is None:
        return None
    return _response(outcome)


async def _run_websocket(server: Any, request: Any,
                         accept: AcceptWebSocket) -> None:
    protocol = request.transport.get_protocol()
    handshake = getattr(protocol, 'websocket_handshake', None)
    if handshake is None:
        # Sanic runs without its WebSocket protocol (not through attach())
        server._core.websocket_closed(accept.session, accept.ws_id)
        await server._flush()
        raise BadRequest('WebSocket is not enabled')
    try:
        ws = await handshake(request)
    except BaseException:
        # a handshake Sanic refuses (its exception is the HTTP answer), or
        # the client left: the core lets this WebSocket go
        server._core.websocket_closed(accept.session, accept.ws_id)
        server._perform_in_background()
        raise
    _set_max_size(ws, server.max_http_buffer_size)
    task = server._track(asyncio.ensure_future(
        accept.session.glue._websocket_handler(WebSocket(accept.ws_id, ws))))
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        # Sanic cancels this request's task when the connection drops, but
        # does not wake a pending recv(): wake it as Sanic does for a close
        # frame, so that the session ends (transport close) at its next
        # wait() rather than being cancelled mid-step
        waiter = getattr(ws, 'recv_cancel', None)
        if waiter is not None and not waiter.done():
            waiter.cancel()
        raise


def _set_max_size(ws: Any, limit: int) -> None:
    # Sanic's WEBSOCKET_MAX_SIZE is app-wide; this server's limit applies
    # to its own WebSockets (the attribute name depends on websockets'
    # version: max_message_size since 14, max_size before)
    protocol = getattr(ws, 'ws_proto', None)
    for attribute in ('max_message_size', 'max_size'):
        if hasattr(protocol, attribute):
            setattr(protocol, attribute, limit)
            return


_async = {
    'asyncio': True,
    'create_route': create_route,
    'handle_request': handle_request,
    'translate_request': translate_request,
    'read_body': read_body,
    'wait_disconnect': None,
    'websocket': WebSocket,
}
