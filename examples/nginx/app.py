"""One worker of the nginx example: an Engine.IO echo server that says which
worker it is.

    python -m examples.nginx.app --id w0 --port 8001         # on uvicorn
    python -m examples.nginx.app --id w0 --port 8001 --server wsgi  # gunicorn
    python -m examples.nginx.app --id w0 --fd 3   # an inherited socket

``--server asgi`` (the default) runs ``engineio.AsyncServer`` +
``engineio.ASGIApp`` on uvicorn; ``--server wsgi`` runs ``engineio.Server``
(threading mode) + ``engineio.WSGIApp`` on gunicorn's threaded worker.  The
launcher (``examples.nginx.launch``) binds each worker's socket itself and
passes it with ``--fd``, so that ephemeral ports need no discovery and no
request is lost while the worker starts (it waits in the backlog).

Every message is echoed back, except the text ``worker?``, which is answered
with :func:`identity` as JSON: that is how a client (or a test) sees which
worker its session lives on.  ``GET /health`` answers the same JSON over
plain HTTP, for the launcher's readiness check and for nginx health checks.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import socket
import sys
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import engineio
from engineio import _speedups

__all__ = ['WHO', 'identity', 'create_asgi_app', 'create_wsgi_app',
           'serve_asgi', 'serve_wsgi', 'main']

#: the message that is answered with the worker's identity, not echoed
WHO = 'worker?'
#: seconds a stopping worker gives open connections to finish
GRACEFUL_SHUTDOWN = 2


def identity(worker_id: str) -> str:
    """The JSON a worker answers ``worker?`` and ``GET /health`` with: its
    id, its process and its kernels (``cython`` or ``python``)."""
    return json.dumps({'worker': worker_id, 'pid': os.getpid(),
                       'kernels': _speedups.IMPLEMENTATION})


def create_asgi_app(worker_id: str, **options: Any) -> engineio.ASGIApp:
    """``AsyncServer`` + ``ASGIApp``; ``options`` go to ``AsyncServer``."""
    eio = engineio.AsyncServer(async_mode='asgi', async_handlers=False,
                               **options)

    @eio.on('message')
    async def message(sid: str, data: Any) -> None:
        await eio.send(sid, identity(worker_id) if data == WHO else data)

    async def health(scope: Dict[str, Any], receive: Callable[..., Any],
                     send: Callable[..., Any]) -> None:
        """``/health`` answers 200, anything else that is not Engine.IO
        404 (a WebSocket elsewhere is refused)."""
        if scope['type'] == 'websocket':
            await receive()
            await send({'type': 'websocket.close', 'code': 1008})
            return
        if scope['type'] != 'http':
            return
        found = scope['path'] == '/health'
        body = identity(worker_id).encode() if found else b'Not Found'
        await send({'type': 'http.response.start',
                    'status': 200 if found else 404,
                    'headers': [(b'content-type', b'application/json'
                                 if found else b'text/plain'),
                                (b'content-length', b'%d' % len(body))]})
        await send({'type': 'http.response.body', 'body': body})

    # with a shutdown hook the lifespan stays with ASGIApp (not ``health``):
    # a stopping worker cancels the server's timer and tasks
    return engineio.ASGIApp(eio, other_asgi_app=health,
                            on_shutdown=eio.shutdown)


def create_wsgi_app(worker_id: str, **options: Any) -> engineio.WSGIApp:
    """``Server`` (threading mode) + ``WSGIApp``; ``options`` go to
    ``Server``."""
    eio = engineio.Server(async_mode='threading', async_handlers=False,
                          **options)

    @eio.on('message')
    def message(sid: str, data: Any) -> None:
        eio.send(sid, identity(worker_id) if data == WHO else data)

    def health(environ: Dict[str, Any],
               start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get('PATH_INFO') == '/health':
            body = identity(worker_id).encode()
            start_response('200 OK', [('Content-Type', 'application/json'),
                                      ('Content-Length', str(len(body)))])
            return [body]
        start_response('404 Not Found', [('Content-Type', 'text/plain'),
                                         ('Content-Length', '9')])
        return [b'Not Found']

    return engineio.WSGIApp(eio, wsgi_app=health)


def serve_asgi(app: Any, sock: socket.socket) -> None:
    """Run ``app`` on uvicorn on the listening socket ``sock``."""
    import uvicorn
    options: Dict[str, Any] = {}
    # the fast stack when it is installed (the bench extra has it)
    if importlib.util.find_spec('uvloop') is not None:
        options['loop'] = 'uvloop'
    if importlib.util.find_spec('httptools') is not None:
        options['http'] = 'httptools'
    # uvicorn's legacy ``websockets`` implementation is deprecated
    if importlib.util.find_spec('websockets') is not None:
        options['ws'] = 'websockets-sansio'
    config = uvicorn.Config(app, lifespan='on', log_level='warning',
                            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
                            **options)
    uvicorn.Server(config).run(sockets=[sock])


def serve_wsgi(app: Any, sock: socket.socket, threads: int = 100) -> None:
    """Run ``app`` on gunicorn (one ``gthread`` worker) on ``sock``.

    Threading mode holds one thread per WebSocket and per held long poll,
    so ``threads`` bounds the concurrent sessions of this worker."""
    from gunicorn.app.base import BaseApplication

    class Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            settings: List[Tuple[str, Any]] = [
                ('bind', ['fd://%d' % sock.fileno()]),
                ('workers', 1), ('worker_class', 'gthread'),
                ('threads', threads), ('loglevel', 'warning'),
                ('graceful_timeout', GRACEFUL_SHUTDOWN),
                # a held poll or a WebSocket is not a stuck worker
                ('timeout', 0),
            ]
            for name, value in settings:
                self.cfg.set(name, value)

        def load(self) -> Any:
            return app

    Gunicorn().run()


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--id', default='w%d' % os.getpid(),
                        help='the worker id in answers (default: w<pid>)')
    parser.add_argument('--server', choices=('asgi', 'wsgi'), default='asgi')
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument('--port', type=int, help='listen on 127.0.0.1:PORT')
    where.add_argument('--fd', type=int,
                       help='serve on this inherited listening socket')
    parser.add_argument('--host', default='127.0.0.1')
    args = parser.parse_args(argv)
    if args.fd is not None:
        sock = socket.socket(fileno=args.fd)
    else:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
        sock.listen(1024)
    if args.server == 'asgi':
        serve_asgi(create_asgi_app(args.id), sock)
    else:
        serve_wsgi(create_wsgi_app(args.id), sock)


if __name__ == '__main__':
    main(sys.argv[1:])
