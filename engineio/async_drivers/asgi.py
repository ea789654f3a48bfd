"""The ``asgi`` async mode and :class:`ASGIApp`.

Needs nothing beyond the standard library: the ASGI server (uvicorn,
hypercorn, ...) does the HTTP and WebSocket work, and this module turns its
``http`` and ``websocket`` events into calls on ``AsyncServer``.

* HTTP bodies are read lazily, at most ``max_http_buffer_size + 1`` bytes.
* A held long poll watches for ``http.disconnect`` (the client left).
* A WebSocket refused by the protocol is answered with the HTTP error when
  the server offers the ``websocket.http.response`` extension (the client
  sees the same 400 as on polling), else with ``websocket.close`` (1008);
  a WebSocket no route takes gets 404 the same way.
* A client that leaves while its WebSocket is being accepted (the
  ``connect`` handler runs first) ends its session like any closed
  WebSocket, whether the server raises on ``websocket.accept`` or reports
  ``websocket.disconnect`` afterwards.  A ``websocket.close`` is sent at
  most once, never after ``websocket.disconnect``.
* Routes match ``path`` with or without the scope's ``root_path`` (uvicorn
  includes it, hypercorn does not).
* A failing lifespan hook is reported with ``lifespan.<phase>.failed``
  (its message is the exception) and logged with its traceback.
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
from inspect import isawaitable
from typing import Any, Callable, Dict, List, Optional, Tuple

from .._sansio import AcceptWebSocket, headers_from_environ
from .._sansio.requests import (add_wsgi_headers, endpoint_prefix,
                                is_endpoint)
from ..static_files import get_static_file

__all__ = ['ASGIApp', 'translate_request', 'read_body', 'wait_disconnect',
           'handle_request', 'WebSocket']

#: close code for a WebSocket the protocol refused (policy violation)
WS_CLOSE_REFUSED = 1008

_SCHEMES = {'http': 'http', 'https': 'https', 'ws': 'http', 'wss': 'https'}


class ASGIApp:
    """An ASGI application that serves Engine.IO, static files, and
    optionally another ASGI application.

    ``engineio_server``: an ``AsyncServer``; ``other_asgi_app``: where other
    requests (and the lifespan, when no hook is given) go;
    ``static_files``: see :mod:`engineio.static_files`; ``engineio_path``:
    the endpoint (``None``: every request is Engine.IO's); ``on_startup`` /
    ``on_shutdown``: lifespan hooks, plain functions or coroutines.
    Anything else is answered ``404 Not Found``.
    """

    def __init__(self, engineio_server: Any, other_asgi_app: Any = None,
                 static_files: Optional[Dict[str, Any]] = None,
                 engineio_path: Optional[str] = 'engine.io',
                 on_startup: Optional[Callable[[], Any]] = None,
                 on_shutdown: Optional[Callable[[], Any]] = None) -> None:
        self.engineio_server = engineio_server
        self.other_asgi_app = other_asgi_app
        self.engineio_path = endpoint_prefix(engineio_path)
        self.static_files = static_files or {}
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown

    def _is_engineio(self, scope: Dict[str, Any]) -> bool:
        path = scope.get('path', '/')
        if is_endpoint(path, self.engineio_path):
            return True
        relative = _relative_path(scope, path)
        return relative is not None and is_endpoint(relative,
                                                    self.engineio_path)

    def _find_static_file(self, scope: Dict[str, Any]
                          ) -> Optional[Dict[str, str]]:
        path = scope.get('path', '/')
        for candidate in (path, _relative_path(scope, path)):
            if candidate is not None:
                static_file = get_static_file(candidate, self.static_files)
                if static_file is not None and \
                        os.path.isfile(static_file['filename']):
                    return static_file
        return None

    async def __call__(self, scope: Dict[str, Any], receive: Any,
                       send: Any) -> None:
        kind = scope['type']
        if kind == 'http' or kind == 'websocket':
            if self._is_engineio(scope):
                server = self.engineio_server
                if _is_plain_asgi_server(server):
                    # AsyncServer.handle_request(*args, **kwargs) only
                    # forwards here: skipping it saves its coroutine, args
                    # tuple and kwargs dict, which an idle WebSocket would
                    # keep for its whole life (~360 bytes)
                    await handle_request(server, scope, receive, send)
                else:
                    await server.handle_request(scope, receive, send)
                return
            if kind == 'http' and self.static_files:
                static_file = self._find_static_file(scope)
                if static_file is not None:
                    await self.serve_static_file(static_file, receive, send)
                    return
        elif kind == 'lifespan':
            await self.lifespan(scope, receive, send)
            return
        if self.other_asgi_app is not None:
            await self.other_asgi_app(scope, receive, send)
        elif kind == 'websocket':
            message = await receive()
            if message['type'] == 'websocket.connect':
                await _refuse_websocket(scope, send, _NOT_FOUND)
        else:
            await self.not_found(receive, send)

    async def serve_static_file(self, static_file: Dict[str, str],
                                receive: Any, send: Any) -> None:
        """Send one static file (read whole: these are small assets)."""
        loop = asyncio.get_running_loop()
        try:
            payload = await loop.run_in_executor(
                None, _read_file, static_file['filename'])
        except OSError:
            await self.not_found(receive, send)
            return
        await send({'type': 'http.response.start', 'status': 200,
                    'headers': [
                        (b'content-type',
                         static_file['content_type'].encode('utf-8')),
                        (b'content-length', str(len(payload)).encode())]})
        await send({'type': 'http.response.body', 'body': payload})

    async def lifespan(self, scope: Dict[str, Any], receive: Any,
                       send: Any) -> None:
        """The ASGI lifespan protocol: run ``on_startup``/``on_shutdown``,
        or let ``other_asgi_app`` handle it when neither is set."""
        if self.other_asgi_app is not None and self.on_startup is None and \
                self.on_shutdown is None:
            await self.other_asgi_app(scope, receive, send)
            return
        while True:
            event = await receive()
            kind = event['type']
            if kind == 'lifespan.startup':
                phase, hook = 'startup', self.on_startup
            elif kind == 'lifespan.shutdown':
                phase, hook = 'shutdown', self.on_shutdown
            else:
                continue
            try:
                if hook is not None:
                    result = hook()
                    if isawaitable(result):
                        await result
            except Exception as exc:
                # the server prints the message (and, for startup, exits);
                # the traceback is only here
                _logger(self.engineio_server).exception(
                    'ASGIApp %s hook failed', phase)
                await send({'type': 'lifespan.%s.failed' % phase,
                            'message': '%s: %s' % (type(exc).__name__,
                                                   exc)})
                return
            await send({'type': 'lifespan.%s.complete' % phase})
            if phase == 'shutdown':
                return

    async def not_found(self, receive: Any, send: Any) -> None:
        """404 Not Found, text/plain."""
        await _send_response(send, _NOT_FOUND)


class _NotFound:
    """The 404 answer to a request no route takes (a ``Response``'s
    ``status``, ``headers`` and ``body``)."""

    status = 404
    headers = [('Content-Type', 'text/plain'), ('Content-Length', '9')]
    body = b'Not Found'


_NOT_FOUND = _NotFound()


_PLAIN_HANDLE_REQUEST: Any = None


def _is_plain_asgi_server(server: Any) -> bool:
    """True when ``server.handle_request`` is ``AsyncServer``'s own (not
    overridden by a subclass or on the instance) in the ``asgi`` mode, so
    that calling this driver's :func:`handle_request` is what it would do.
    python-socketio's server (whose ``handle_request`` forwards to its
    ``eio``) and patched servers take the ordinary way."""
    global _PLAIN_HANDLE_REQUEST
    if _PLAIN_HANDLE_REQUEST is None:
        from ..async_server import AsyncServer
        _PLAIN_HANDLE_REQUEST = AsyncServer.handle_request
    return getattr(type(server), 'handle_request', None) is \
        _PLAIN_HANDLE_REQUEST and \
        'handle_request' not in getattr(server, '__dict__', ()) and \
        server._async.get('handle_request') is handle_request


def _relative_path(scope: Dict[str, Any], path: str) -> Optional[str]:
    """``path`` without the scope's ``root_path`` (None: no root path, or
    not under it).  uvicorn puts the root path in ``path`` (ASGI 2.4
    wording), hypercorn does not: routes match either way."""
    root = scope.get('root_path')
    if not root or not path.startswith(root):
        return None
    relative = path[len(root):]
    if relative[:1] not in ('/', ''):
        return None  # /api2/... is not under /api
    return relative or '/'


def _logger(server: Any) -> logging.Logger:
    logger = getattr(server, 'logger', None)
    return logger if isinstance(logger, logging.Logger) else \
        logging.getLogger('engineio.server')


def _read_file(filename: str) -> bytes:
    with open(filename, 'rb') as f:
        return f.read()


def translate_request(scope: Dict[str, Any], receive: Any,
                      send: Any) -> Dict[str, Any]:
    """A WSGI-style environ for an ASGI scope (what the ``connect`` handler
    and a callable ``cors_allowed_origins`` receive), with the scope, receive
    and send under ``asgi.scope``, ``asgi.receive`` and ``asgi.send``."""
    query_string = scope.get('query_string', b'').decode('latin-1')
    path = scope.get('path', '/')
    client = scope.get('client') or ('127.0.0.1', 0)
    server = scope.get('server') or ('asgi', 0)
    environ: Dict[str, Any] = {
        'wsgi.errors': sys.stderr,
        'wsgi.version': (1, 0),
        'wsgi.async': True,
        'wsgi.multithread': False,
        'wsgi.multiprocess': False,
        'wsgi.run_once': False,
        'wsgi.url_scheme': _SCHEMES.get(scope.get('scheme', 'http'),
                                        'http'),
        'SERVER_SOFTWARE': 'asgi',
        'REQUEST_METHOD': scope.get('method', 'GET'),
        'PATH_INFO': path,
        'QUERY_STRING': query_string,
        'RAW_URI': path + '?' + query_string if query_string else path,
        'SCRIPT_NAME': scope.get('root_path', ''),
        'SERVER_PROTOCOL': 'HTTP/' + scope.get('http_version', '1.1'),
        'REMOTE_ADDR': client[0],
        'REMOTE_PORT': str(client[1]),
        'SERVER_NAME': str(server[0]),
        'SERVER_PORT': str(server[1]),
        'asgi.receive': receive,
        'asgi.send': send,
        'asgi.scope': scope,
    }
    add_wsgi_headers(environ, [
        (name.decode('latin-1'), value.decode('latin-1'))
        for name, value in scope.get('headers', ())])
    return environ


async def read_body(environ: Dict[str, Any], limit: int) -> Optional[bytes]:
    """The request body, read lazily and cut at ``limit`` bytes (the core
    refuses what reaches the limit, so nothing more is ever kept); None if
    the client disconnected first."""
    receive = environ['asgi.receive']
    chunks: List[bytes] = []
    size = 0
    while True:
        message = await receive()
        kind = message['type']
        if kind == 'http.disconnect':
            return None
        if kind != 'http.request':
            continue
        body = message.get('body', b'')
        more = message.get('more_body', False)
        if not chunks and not more and len(body) <= limit:
            return body  # the usual case: one message, no copy
        if body:
            chunks.append(body[:limit - size])
            size += len(chunks[-1])
        if size >= limit or not more:
            return b''.join(chunks)


async def wait_disconnect(environ: Dict[str, Any]) -> None:
    """Return when the client of this HTTP request disconnects."""
    receive = environ['asgi.receive']
    while True:
        message = await receive()
        if message['type'] == 'http.disconnect':
            return


def _encode_headers(headers: List[Tuple[str, str]]
                    ) -> List[Tuple[bytes, bytes]]:
    return [(name.lower().encode('latin-1'), value.encode('latin-1'))
            for name, value in headers]


async def _send_response(send: Any, response: Any) -> None:
    await send({'type': 'http.response.start', 'status': response.status,
                'headers': _encode_headers(response.headers)})
    await send({'type': 'http.response.body', 'body': response.body})


class WebSocket:
    """An accepted ASGI WebSocket, as ``AsyncSocket._websocket_handler``
    uses it: ``wait()`` returns the next message (str or bytes) or None when
    the connection ended; ``send(data)`` writes a str (text frame) or bytes
    (binary frame); ``close(code)``.  Plain class: python-socketio's admin
    UI wraps ``send`` and ``wait`` on the instance."""

    def __init__(self, ws_id: int, receive: Any, send: Any) -> None:
        self.ws_id = ws_id
        self._receive = receive
        self._send = send
        #: the connection ended (``websocket.disconnect`` received, or a
        #: ``websocket.close`` sent): nothing more is read or closed
        self.closed = False
        #: the code of the ``websocket.disconnect`` or of our close (1005
        #: when the server gave none); None while open
        self.close_code: Optional[int] = None

    async def wait(self) -> Any:
        """The next message, or None once the connection ended."""
        if self.closed:
            return None
        message = await self._receive()
        if message['type'] == 'websocket.receive':
            text = message.get('text')
            if text is not None:
                return text
            data = message.get('bytes')
            return b'' if data is None else data
        # websocket.disconnect (or anything else a server should not send)
        self.closed = True
        if self.close_code is None:
            self.close_code = message.get('code', 1005)
        return None

    async def send(self, data: Any) -> None:
        """Write one message."""
        if type(data) is str:
            await self._send({'type': 'websocket.send', 'text': data})
        else:
            await self._send({'type': 'websocket.send', 'bytes': data})

    async def close(self, code: int = 1000) -> None:
        """Close the connection with ``code``, once: after a
        ``websocket.disconnect`` or a first close, ASGI servers refuse
        another ``websocket.close`` (python-engineio #327)."""
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        await self._send({'type': 'websocket.close', 'code': code})


async def handle_request(server: Any, scope: Dict[str, Any], receive: Any,
                         send: Any) -> None:
    """Serve one ``http`` or ``websocket`` scope for ``server``."""
    environ = translate_request(scope, receive, send)
    headers = headers_from_environ(environ)
    scheme = environ['wsgi.url_scheme']
    query_string = environ['QUERY_STRING']
    if scope['type'] != 'websocket':
        outcome = await server._handle_http(
            environ['REQUEST_METHOD'], query_string, headers, scheme,
            environ)
        if outcome is not None:
            await _send_response(send, outcome)
        return
    # A websocket scope is an upgrade by definition, whatever its headers.
    headers['upgrade'] = 'websocket'
    message = await receive()
    if message['type'] != 'websocket.connect':
        return  # the client left before the handshake
    outcome = await server._handle_http('GET', query_string, headers,
                                        scheme, environ)
    if type(outcome) is not AcceptWebSocket:
        if outcome is not None:
            await _refuse_websocket(scope, send, outcome)
        return
    session = outcome.session
    ws_id = outcome.ws_id
    # This frame lives as long as the WebSocket (hours, for an idle one):
    # drop what it no longer needs (the headers, the query string; the
    # environ too, freed once neither the core's session nor the
    # application keeps it)
    del environ, headers, message, outcome, query_string
    try:
        await send({'type': 'websocket.accept'})
    except Exception:  # the client went away during the handshake
        server._core.websocket_closed(session, ws_id)
        await server._flush()
        return
    await session.glue._websocket_handler(WebSocket(ws_id, receive, send))


async def _refuse_websocket(scope: Dict[str, Any], send: Any,
                            response: Any) -> None:
    if 'websocket.http.response' in (scope.get('extensions') or {}):
        await send({'type': 'websocket.http.response.start',
                    'status': response.status,
                    'headers': _encode_headers(response.headers)})
        await send({'type': 'websocket.http.response.body',
                    'body': response.body})
    else:
        await send({'type': 'websocket.close', 'code': WS_CLOSE_REFUSED})


_async = {
    'asyncio': True,
    'handle_request': handle_request,
    'translate_request': translate_request,
    'read_body': read_body,
    'wait_disconnect': wait_disconnect,
    'websocket': WebSocket,
}
