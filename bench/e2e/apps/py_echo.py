"""Echo server for the end-to-end harness: python-engineio's API on uvicorn.

The same file serves this project and python-engineio 4.15.1: both are
``import engineio``, and which one a process gets depends only on its
interpreter and ``sys.path`` (the orchestrator runs the reference from a
temporary copy of this file under ``python -I``).

Usage: ``python py_echo.py [--loop auto|uvloop|asyncio] [--http ...] [--ws ...]``

It binds 127.0.0.1 on an ephemeral port itself (so there is no race for a
port number), prints one JSON line describing what it runs (port, pid, which
engineio file, kernels, uvicorn's loop/http/ws) and then serves until killed.
"""
import argparse
import importlib.util
import json
import os
import socket
import sys


def installed(module):
    return importlib.util.find_spec(module) is not None


def resolve(args):
    # Resolve uvicorn's 'auto' choices here, the same way uvicorn does, so
    # that the report names the implementation that really ran instead of
    # 'auto'.
    loop = args.loop
    if loop == 'auto':
        loop = 'uvloop' if installed('uvloop') else 'asyncio'
    http = args.http
    if http == 'auto':
        http = 'httptools' if installed('httptools') else 'h11'
    ws = args.ws
    if ws == 'auto':
        ws = 'websockets' if installed('websockets') else 'wsproto'
    # An explicit choice whose package is missing would only fail at the
    # first request (uvicorn refuses the upgrade): fail before announcing.
    needs = {'uvloop': 'uvloop', 'httptools': 'httptools', 'h11': 'h11',
             'websockets': 'websockets', 'websockets-sansio': 'websockets',
             'wsproto': 'wsproto'}
    for choice in (loop, http, ws):
        module = needs.get(choice)
        if module and not installed(module):
            sys.exit('py_echo: %s needs the %s package' % (choice, module))
    return loop, http, ws


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--loop', default='auto')
    parser.add_argument('--http', default='auto')
    parser.add_argument('--ws', default='auto')
    args = parser.parse_args()
    loop, http, ws = resolve(args)

    import engineio
    import uvicorn

    # async_handlers=False: python-socketio creates its Engine.IO server this
    # way, and it keeps each connection's messages in order (the load
    # generator checks the order).  Heartbeat options stay at their defaults
    # (25 s / 20 s), as in Node's engine.io.
    eio = engineio.AsyncServer(async_mode='asgi', async_handlers=False)

    @eio.on('message')
    async def message(sid, data):
        await eio.send(sid, data)

    app = engineio.ASGIApp(eio)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(('127.0.0.1', 0))
    # the harness opens up to a few hundred connections at once
    sock.listen(2048)
    sock.set_inheritable(True)

    try:
        from engineio import _speedups
        kernels = getattr(_speedups, 'IMPLEMENTATION', None)
    except ImportError:
        kernels = 'reference'        # python-engineio has no _speedups
    versions = {}
    for name in ('uvicorn', 'uvloop', 'httptools', 'websockets', 'wsproto',
                 'h11'):
        try:
            from importlib.metadata import version
            versions[name] = version(name)
        except Exception:
            pass
    print(json.dumps({
        'port': sock.getsockname()[1],
        'pid': os.getpid(),
        'engineio_file': engineio.__file__,
        'kernels': kernels,
        'python': sys.version.split()[0],
        'loop': loop, 'http': http, 'ws': ws,
        'versions': versions,
        'async_handlers': False,
    }), flush=True)

    # No access log: uvicorn would otherwise format and write a line per
    # long-polling request, which is the logging config's cost, not the
    # server's.  Per-message WebSocket compression is not negotiated because
    # the generator does not offer it.
    config = uvicorn.Config(app, loop=loop, http=http, ws=ws,
                            access_log=False, log_level='warning',
                            lifespan='off')
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == '__main__':
    main()
