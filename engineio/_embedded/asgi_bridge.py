"""A small ASGI bridge: another ASGI application shares the port.

Requests outside the Engine.IO path (and not a static file) go to
``other_asgi_app`` as ASGI ``http`` scopes (ASGI 3.0, spec 2.3): the body
was already read by the connection (at most ``max_body_size``) and comes in
one ``http.request`` message; after it, ``receive`` waits for the client to
leave (``http.disconnect``).  The response is streamed: with the
application's ``Content-Length``, or ``Transfer-Encoding: chunked`` when it
sends several body messages without one.  WebSocket scopes are not bridged
(such requests get 404).  The application's ``lifespan`` runs when it
supports it (:class:`Lifespan`), and its ``state`` is copied into every
scope, as uvicorn does.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, List, Optional, Tuple

__all__ = ['run_http', 'Lifespan']

logger = logging.getLogger('engineio.server')

_ASGI = {'version': '3.0', 'spec_version': '2.3'}


def _scope(server: Any, connection: Any, request: Any) -> Dict[str, Any]:
    raw_path, _, query = request.target.partition('?')
    scope: Dict[str, Any] = {
        'type': 'http',
        'asgi': _ASGI,
        'http_version': request.version,
        'method': request.method,
        'scheme': server.scheme,
        'path': request.path,
        'raw_path': raw_path.encode('ascii'),
        'query_string': request.query.encode('ascii'),
        'root_path': '',
        'headers': [(name.lower(), value)
                    for name, value in request.header_list],
        'client': (connection.peer[0], int(connection.peer[1] or 0)),
        'server': (server.server_name, server.port),
    }
    lifespan = server._lifespan
    if lifespan is not None and lifespan.state is not None:
        scope['state'] = dict(lifespan.state)
    return scope


async def run_http(server: Any, connection: Any, request: Any) -> None:
    """Run ``server.other_asgi_app`` for one complete HTTP request."""
    app = server.other_asgi_app
    body_sent = False
    started = False
    finished = False
    chunked = False
    status = 500
    headers: List[Tuple[bytes, bytes]] = []

    async def receive() -> Dict[str, Any]:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {'type': 'http.request', 'body': request.body(),
                    'more_body': False}
        await connection.wait_closed()
        return {'type': 'http.disconnect'}

    async def send(message: Dict[str, Any]) -> None:
        nonlocal started, finished, chunked, status, headers
        kind = message['type']
        if finished or connection.lost:
            return
        if kind == 'http.response.start':
            if started:
                raise RuntimeError('http.response.start sent twice')
            status = int(message['status'])
            headers = list(message.get('headers') or [])
            started = True
            return
        if kind != 'http.response.body':
            return
        if not started:
            raise RuntimeError('http.response.body before start')
        body = message.get('body', b'')
        more = message.get('more_body', False)
        if headers is not None:
            names = {bytes(name).lower() for name, _ in headers}
            head = b''.join(bytes(name) + b': ' + bytes(value) + b'\r\n'
                            for name, value in headers)
            if b'content-length' not in names:
                if not more:
                    head += b'Content-Length: %d\r\n' % len(body)
                elif request.version == '1.0':
                    request.close_after = True  # the end is the close
                else:
                    chunked = True
                    head += b'Transfer-Encoding: chunked\r\n'
            headers = None  # type: ignore[assignment]
            connection.start_response(request, status, head)
        if chunked:
            if body:
                connection.write(b'%x\r\n%s\r\n' % (len(body), body))
            if not more:
                connection.write(b'0\r\n\r\n')
        elif body:
            connection.write(body)
        if not more:
            finished = True
            connection._finished(request)
        else:
            await connection.drain()

    try:
        await app(_scope(server, connection, request), receive, send)
    except Exception:
        logger.exception('embedded server: error in the other ASGI app')
    if not finished:
        if not started and not connection.lost:
            connection._plain_response(request, 500,
                                       b'Internal Server Error')
        else:  # a response cut short: the client must see the end
            request.close_after = True
            connection.closing = True
            connection._finished(request)
            connection.close()


class Lifespan:
    """The ASGI ``lifespan`` protocol of the other application, if it
    speaks it: an application that raises before acknowledging startup is
    taken not to (uvicorn's ``lifespan='auto'``)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state: Optional[Dict[str, Any]] = {}
        self._queue: 'asyncio.Queue[Dict[str, Any]]' = asyncio.Queue()
        self._task: Optional[asyncio.Future] = None
        self._startup: Optional[asyncio.Future] = None
        self._shutdown: Optional[asyncio.Future] = None
        self._supported = True

    async def startup(self) -> None:
        """Run the startup; RuntimeError when the application reports that
        it failed."""
        loop = asyncio.get_running_loop()
        self._startup = loop.create_future()
        self._shutdown = loop.create_future()
        self._task = asyncio.ensure_future(self._main())
        await self._queue.put({'type': 'lifespan.startup'})
        message = await self._startup
        if message is not None:
            raise RuntimeError('ASGI lifespan startup failed: %s' % message)

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Run the shutdown (bounded by ``timeout``)."""
        if not self._supported or self._task is None or self._task.done():
            return
        await self._queue.put({'type': 'lifespan.shutdown'})
        assert self._shutdown is not None
        try:
            await asyncio.wait_for(asyncio.shield(self._shutdown), timeout)
        except asyncio.TimeoutError:
            logger.warning('ASGI lifespan shutdown timed out')
        self._task.cancel()

    async def _main(self) -> None:
        scope = {'type': 'lifespan', 'asgi': _ASGI, 'state': self.state}
        try:
            await self.app(scope, self._queue.get, self._send)
        except asyncio.CancelledError:
            raise
        except Exception:
            if self._startup is not None and not self._startup.done():
                self._supported = False
                self.state = None
                logger.debug('the other ASGI app has no lifespan support')
            else:
                logger.exception('ASGI lifespan error')
        finally:
            for future in (self._startup, self._shutdown):
                if future is not None and not future.done():
                    future.set_result(None)

    async def _send(self, message: Dict[str, Any]) -> None:
        kind = message['type']
        if kind == 'lifespan.startup.complete':
            self._resolve(self._startup, None)
        elif kind == 'lifespan.startup.failed':
            self._resolve(self._startup, message.get('message', ''))
        elif kind in ('lifespan.shutdown.complete',
                      'lifespan.shutdown.failed'):
            if kind.endswith('failed'):
                logger.error('ASGI lifespan shutdown failed: %s',
                             message.get('message', ''))
            self._resolve(self._shutdown, None)

    @staticmethod
    def _resolve(future: Optional[asyncio.Future], value: Any) -> None:
        if future is not None and not future.done():
            future.set_result(value)
