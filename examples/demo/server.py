"""The demo: an Engine.IO echo server, with a page that shows it working.

    python -m examples.demo.server [--host 127.0.0.1] [--port 5000]
                                   [--server embedded|uvicorn]

By default it runs on the embedded server (``engineio.run``: uvloop and
httptools, no ASGI server in between); ``--server uvicorn`` serves the same
application as ``ASGIApp`` on uvicorn.

(``make demo`` builds the compiled kernels and runs this.)  Open
http://127.0.0.1:5000: the page connects with the official JavaScript
Engine.IO client and shows the live round-trip latency, the transport in use
(polling first, then the upgrade to WebSocket) and whether the server runs
the compiled kernels.

The server echoes every message back, except the text ``info?``, which it
answers with a JSON description of itself.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
from typing import Any, Dict

import engineio
from engineio import _speedups

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CLIENT_JS = os.path.join(ROOT, 'tests', 'js', 'node_modules', 'engine.io-client',
                         'dist', 'engine.io.min.js')


def info() -> str:
    return json.dumps({
        'engineio': engineio.__version__,
        'implementation': _speedups.IMPLEMENTATION,
        'python': '%s %s' % (platform.python_implementation(),
                             platform.python_version()),
    })


def create_app() -> engineio.ASGIApp:
    """The ASGI application: Engine.IO under /engine.io/, the page at /."""
    eio = engineio.AsyncServer(async_mode='asgi', async_handlers=False)

    @eio.on('message')
    async def message(sid: str, data: object) -> None:
        await eio.send(sid, info() if data == 'info?' else data)

    static_files: Dict[str, Any] = {'/': os.path.join(HERE, 'index.html')}
    if os.path.exists(CLIENT_JS):
        static_files['/engine.io.js'] = {
            'filename': CLIENT_JS, 'content_type': 'application/javascript'}
    return engineio.ASGIApp(eio, static_files=static_files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=5000)
    parser.add_argument('--server', choices=['embedded', 'uvicorn'],
                        default='embedded')
    args = parser.parse_args()
    if not os.path.exists(CLIENT_JS):
        print('warning: %s is missing (run `make setup`): the page cannot '
              'load the JavaScript client' % CLIENT_JS)
    app = create_app()
    print('engineio %s, kernels: %s, server: %s; open http://%s:%d' % (
        engineio.__version__, _speedups.IMPLEMENTATION, args.server,
        args.host, args.port), flush=True)
    if args.server == 'embedded':
        def ready(server: object) -> None:
            print('serving on %s://%s:%d' % (
                server.scheme, server.server_name,  # type: ignore
                server.port), flush=True)  # type: ignore

        engineio.run(app.engineio_server, host=args.host, port=args.port,
                     static_files=app.static_files, ready=ready)
        return
    import uvicorn
    options: Dict[str, Any] = {}
    try:  # the fast stack when it is installed (the bench extra has it)
        import uvloop  # noqa: F401
        options['loop'] = 'uvloop'
    except ImportError:
        pass
    try:
        import httptools  # noqa: F401
        options['http'] = 'httptools'
    except ImportError:
        pass
    uvicorn.run(app, host=args.host, port=args.port, log_level='warning',
                **options)


if __name__ == '__main__':
    main()
