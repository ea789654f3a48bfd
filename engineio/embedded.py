"""The embedded server: Engine.IO on uvloop, no ASGI server in between.

One call serves an :class:`engineio.AsyncServer` (the same object, options,
events and methods as on any other driver) over HTTP/1.1 and WebSocket::

    import engineio

    eio = engineio.AsyncServer(async_handlers=False)

    @eio.on('message')
    async def message(sid, data):
        await eio.send(sid, data)

    engineio.run(eio, host='127.0.0.1', port=5000)
    # or: from engineio.embedded import run

or from the command line, for a module ``app`` holding ``eio``::

    python -m engineio.embedded app:eio --host 127.0.0.1 --port 5000

``run`` blocks until SIGINT or SIGTERM, then shuts down gracefully: it
stops accepting, closes every session with a CLOSE packet (WebSocket
clients also get a 1000 close frame; a held long poll is answered ``1``),
lets in-flight answers and writes finish, and drops what is left after
``shutdown_timeout`` seconds.

Options (keywords of :func:`run`, :func:`serve` and
:class:`EmbeddedServer`):

==================== ============ ==========================================
option               default      meaning
==================== ============ ==========================================
``ssl``              None         an ``ssl.SSLContext``: HTTPS and WSS
``sock``             None         a bound socket to listen on instead
``engineio_path``    'engine.io'  the Engine.IO endpoint
``static_files``     None         as :class:`engineio.ASGIApp`
``other_asgi_app``   None         an ASGI app for the other HTTP requests
                                  (its lifespan runs too)
``header_timeout``   10.0         s for a request head (and each pause in a
                                  body): 408 and the connection closes
``keep_alive_timeout`` 5.0        s an idle keep-alive connection is kept
``shutdown_timeout`` 10.0         s a graceful shutdown may take
``max_request_line`` 8190         bytes of a request target (414)
``max_header_size``  16384        bytes of a request head (431)
``max_headers``      100          header fields in a request (431)
``max_body_size``    16 MiB       body for the other app / static (413)
``write_buffer_limit`` 256 KiB    bytes buffered for a client before it is
                                  no longer read (back-pressure)
``backlog``          2048         the listen backlog
``handle_signals``   True         stop on SIGINT/SIGTERM (main thread)
==================== ============ ==========================================

Engine.IO limits are the ``AsyncServer``'s: ``max_http_buffer_size`` for a
POST body (413) and a WebSocket message (close 1009), and
``max_queued_packets`` for what waits for a client that does not read (the
session is then closed with ``transport error``).

Needs ``httptools`` and ``uvloop`` (CPython): importing this module without
them raises ImportError saying so.  ``engineio.run`` imports it only when
called.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import ssl as _ssl
import sys
from typing import Any, List, Optional

from ._embedded import EmbeddedServer, run, serve

__all__ = ['EmbeddedServer', 'run', 'serve', 'main']


def _load(target: str) -> Any:
    module_name, _, attribute = target.partition(':')
    if not module_name or not attribute:
        raise SystemExit('expected module:attribute, for example app:eio')
    if '' not in sys.path:
        sys.path.insert(0, '')  # the current directory, as ``python -m``
    obj: Any = importlib.import_module(module_name)
    for name in attribute.split('.'):
        obj = getattr(obj, name)
    return obj


def main(argv: Optional[List[str]] = None) -> None:
    """``python -m engineio.embedded module:attribute [options]``."""
    parser = argparse.ArgumentParser(
        prog='python -m engineio.embedded',
        description='Serve an engineio.AsyncServer on the embedded server.')
    parser.add_argument('app', help='module:attribute of the AsyncServer')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=5000)
    parser.add_argument('--certfile', help='TLS certificate (PEM)')
    parser.add_argument('--keyfile', help='TLS private key (PEM)')
    parser.add_argument('--engineio-path', default='engine.io')
    parser.add_argument('--shutdown-timeout', type=float, default=10.0)
    parser.add_argument('--log-level', default='info')
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format='%(levelname)s %(name)s: %(message)s')
    eio = _load(args.app)
    options: dict = {'engineio_path': args.engineio_path,
                     'shutdown_timeout': args.shutdown_timeout}
    if args.certfile:
        context = _ssl.SSLContext(_ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.certfile, args.keyfile)
        options['ssl'] = context
    def ready(server: EmbeddedServer) -> None:
        # always said, whatever the application's logging level
        print('engineio.embedded: serving on %s://%s:%d' % (
            server.scheme, server.server_name, server.port),
            file=sys.stderr, flush=True)

    run(eio, args.host, args.port, ready=ready, **options)


if __name__ == '__main__':
    main()
