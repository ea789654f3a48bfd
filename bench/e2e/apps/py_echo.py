"""Server app for the end-to-end harness: python-engineio's API under each
async mode.

The same file serves this project and python-engineio 4.15.1: both are
``import engineio``, and which one a process gets depends only on its
interpreter and ``sys.path`` (the orchestrator runs the reference from a
temporary copy of this file under ``python -I``).  It is one file on purpose:
``-I`` keeps the script's folder off ``sys.path``, so a sibling module could
not be imported.

Usage::

    python py_echo.py [--mode asgi|aiohttp|tornado|sanic|threading|gevent|eventlet]
                      [--loop auto|uvloop|asyncio] [--http ...] [--ws ...]
                      [--max-connections N]

What the app does, the same in every mode:

- ``message``: sends the data back to its sender (the echo scenarios), except
  the control message ``bench:broadcast <hz> <size>``, which starts one
  background task that sends a ``size``-byte text message to every connected
  session ``hz`` times a second, one ``send(sid, ...)`` per session, the way
  python-socketio broadcasts to a room.  The message is ``B<ms> `` padded
  with ``x``, ``<ms>`` the server's ``time.time()`` in milliseconds when the
  round started, so that the generator can measure the delivery lag.
- ``async_handlers=False`` (python-socketio's setting; it keeps a
  connection's messages in order), default heartbeat (25 s / 20 s), default
  compression.

It binds 127.0.0.1 on an ephemeral port itself (so there is no race for a
port number), prints one JSON line describing what it runs (port, pids,
which engineio file, kernels, server and versions) and then serves until
killed.  When the imported ``engineio`` does not support the mode (the
constructor, ``attach`` or a missing piece raises), the line is
``{"unsupported": "<why>", ...}`` and the process exits 0: the harness
reports that row as unsupported instead of failing.
"""
import argparse
import json
import os
import sys
import time

MODES = ('asgi', 'aiohttp', 'tornado', 'sanic', 'threading', 'gevent',
         'eventlet', 'embedded')
CONTROL = 'bench:broadcast '


def installed(module):
    import importlib.util
    return importlib.util.find_spec(module) is not None


def version_of(name):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:
        return None


def listening_socket():
    import socket
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(('127.0.0.1', 0))
    # the harness opens up to 200 connections at once
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def kernels():
    try:
        from engineio import _speedups
        return getattr(_speedups, 'IMPLEMENTATION', None)
    except ImportError:
        return 'reference'        # python-engineio has no _speedups


def describe(mode, port, pids, server, extra=None):
    import engineio
    versions = {}
    for name in server:
        found = version_of(name)
        if found:
            versions[name] = found
    info = {
        'port': port,
        'pid': pids[0],
        'pids': pids,
        'mode': mode,
        'engineio_file': engineio.__file__,
        'kernels': kernels(),
        'python': sys.version.split()[0],
        'server': server[0],
        'versions': versions,
        'async_handlers': False,
    }
    info.update(extra or {})
    return info


def announce(info):
    sys.stdout.write(json.dumps(info) + '\n')
    sys.stdout.flush()


def unsupported(mode, why):
    """This engineio cannot run ``mode``: say so and end."""
    import engineio
    announce({'pid': os.getpid(), 'pids': [os.getpid()], 'mode': mode,
              'engineio_file': engineio.__file__, 'kernels': kernels(),
              'python': sys.version.split()[0], 'unsupported': why})
    sys.stdout.flush()
    os._exit(0)


def broadcast_payload(size):
    text = 'B%.3f ' % (time.time() * 1000.0)
    return text + 'x' * (size - len(text))


def parse_control(data):
    """``(hz, size)`` of a broadcast control message, or None."""
    if not isinstance(data, str) or not data.startswith(CONTROL):
        return None
    try:
        hz, size = data[len(CONTROL):].split()
        return max(0.1, float(hz)), max(24, int(size))
    except ValueError:
        return None


def async_app(engineio, mode):
    """An AsyncServer that echoes and, on request, broadcasts."""
    eio = engineio.AsyncServer(async_mode=mode, async_handlers=False)
    sessions = {}      # an insertion-ordered set of connected sids
    state = {'broadcasting': False}

    async def broadcast(hz, size):
        period = 1.0 / hz
        next_round = time.monotonic()
        while True:
            payload = broadcast_payload(size)
            for sid in list(sessions):
                await eio.send(sid, payload)
            next_round += period
            delay = next_round - time.monotonic()
            if delay < 0:          # behind: do not burst to catch up
                next_round = time.monotonic()
                delay = 0
            await eio.sleep(delay)

    @eio.on('connect')
    async def connect(sid, environ):
        sessions[sid] = None

    @eio.on('disconnect')
    async def disconnect(sid, *reason):
        sessions.pop(sid, None)

    @eio.on('message')
    async def message(sid, data):
        control = parse_control(data)
        if control is None:
            await eio.send(sid, data)
        elif not state['broadcasting']:
            state['broadcasting'] = True
            eio.start_background_task(broadcast, *control)

    return eio


def sync_app(engineio, mode):
    """A Server (threads or greenlets) that echoes and broadcasts."""
    eio = engineio.Server(async_mode=mode, async_handlers=False)
    sessions = {}
    state = {'broadcasting': False}

    def broadcast(hz, size):
        period = 1.0 / hz
        next_round = time.monotonic()
        while True:
            payload = broadcast_payload(size)
            for sid in list(sessions):
                eio.send(sid, payload)
            next_round += period
            delay = next_round - time.monotonic()
            if delay < 0:
                next_round = time.monotonic()
                delay = 0
            eio.sleep(delay)

    @eio.on('connect')
    def connect(sid, environ):
        sessions[sid] = None

    @eio.on('disconnect')
    def disconnect(sid, *reason):
        sessions.pop(sid, None)

    @eio.on('message')
    def message(sid, data):
        control = parse_control(data)
        if control is None:
            eio.send(sid, data)
        elif not state['broadcasting']:
            state['broadcasting'] = True
            eio.start_background_task(broadcast, *control)

    return eio


def make_server(engineio, mode, factory):
    """``factory(engineio, mode)``, or the unsupported announcement."""
    try:
        return factory(engineio, mode)
    except (ValueError, ImportError, AttributeError) as exc:
        unsupported(mode, '%s(async_mode=%r): %s: %s' % (
            'Server' if factory is sync_app else 'AsyncServer', mode,
            type(exc).__name__, exc))


# ---------------------------------------------------------------------------
# one runner per mode

def resolve_uvicorn(args):
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


def run_asgi(args):
    loop, http, ws = resolve_uvicorn(args)
    import engineio
    import uvicorn
    eio = make_server(engineio, 'asgi', async_app)
    app = engineio.ASGIApp(eio)
    # uvicorn's own WebSocket keepalive: its default (20 s) unless
    # --ws-ping-interval ('none': off; Engine.IO pings on its own)
    keepalive = {}
    if args.ws_ping_interval is not None:
        keepalive['ws_ping_interval'] = None if \
            args.ws_ping_interval.lower() == 'none' else \
            float(args.ws_ping_interval)
    sock = listening_socket()
    announce(describe('asgi', sock.getsockname()[1], [os.getpid()],
                      ['uvicorn', 'uvloop', 'httptools', 'websockets',
                       'wsproto', 'h11'],
                      {'loop': loop, 'http': http, 'ws': ws,
                       'ws_ping_interval': keepalive.get('ws_ping_interval',
                                                         20.0)}))
    # No access log: uvicorn would otherwise format and write a line per
    # long-polling request, which is the logging config's cost, not the
    # server's.  Per-message WebSocket compression is not negotiated because
    # the generator does not offer it.
    config = uvicorn.Config(app, loop=loop, http=http, ws=ws,
                            access_log=False, log_level='warning',
                            lifespan='off', **keepalive)
    uvicorn.Server(config).run(sockets=[sock])


def run_embedded(args):
    """This project's embedded server (``engineio.run``: uvloop + httptools,
    no ASGI server); python-engineio has none, so its row is unsupported."""
    import engineio
    try:
        from engineio.embedded import run
    except ImportError as exc:
        unsupported('embedded', 'engineio.embedded: %s' % exc)
    eio = make_server(engineio, 'asgi', async_app)
    sock = listening_socket()
    announce(describe('embedded', sock.getsockname()[1], [os.getpid()],
                      ['uvloop', 'httptools'], {'loop': 'uvloop'}))
    run(eio, sock=sock, handle_signals=True)


def asyncio_loop(args):
    """aiohttp and tornado: the framework's default loop (asyncio) unless
    ``--loop uvloop``."""
    if args.loop == 'uvloop':
        import asyncio
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        return 'uvloop'
    return 'asyncio'


def run_aiohttp(args):
    loop = asyncio_loop(args)
    import engineio
    from aiohttp import web
    eio = make_server(engineio, 'aiohttp', async_app)
    app = web.Application()
    try:
        eio.attach(app)
    except (ValueError, KeyError, AttributeError) as exc:
        unsupported('aiohttp', 'attach(): %s: %s' % (type(exc).__name__, exc))
    sock = listening_socket()
    announce(describe('aiohttp', sock.getsockname()[1], [os.getpid()],
                      ['aiohttp'], {'loop': loop}))
    web.run_app(app, sock=sock, access_log=None, print=None,
                shutdown_timeout=0.5)


def run_tornado(args):
    loop = asyncio_loop(args)
    import asyncio
    import engineio
    import tornado.httpserver
    import tornado.web
    eio = make_server(engineio, 'tornado', async_app)
    make_handler = getattr(engineio, 'get_tornado_handler', None)
    if make_handler is None:
        unsupported('tornado', 'engineio.get_tornado_handler is None')
    app = tornado.web.Application([(r'/engine.io/', make_handler(eio))])
    sock = listening_socket()
    sock.setblocking(False)

    async def serve():
        server = tornado.httpserver.HTTPServer(app)
        server.add_sockets([sock])
        announce(describe('tornado', sock.getsockname()[1], [os.getpid()],
                          ['tornado'], {'loop': loop}))
        await asyncio.Event().wait()

    asyncio.run(serve())


def run_sanic(args):
    import engineio
    from sanic import Sanic
    eio = make_server(engineio, 'sanic', async_app)
    app = Sanic('bench_e2e', configure_logging=False)
    try:
        eio.attach(app)
    except (ValueError, KeyError, AttributeError) as exc:
        unsupported('sanic', 'attach(): %s: %s' % (type(exc).__name__, exc))
    sock = listening_socket()
    announce(describe('sanic', sock.getsockname()[1], [os.getpid()],
                      ['sanic', 'websockets'],
                      {'loop': 'uvloop' if installed('uvloop') else 'asyncio'}))
    # one process (no worker manager), no banner, no access log
    app.run(sock=sock, single_process=True, access_log=False, motd=False,
            debug=False)


def run_threading(args):
    """The sync Server + WSGIApp on gunicorn's gthread worker: one worker,
    a thread for every connection the scenario holds (a WebSocket keeps its
    thread for its whole life)."""
    import engineio
    from gunicorn.app.base import BaseApplication
    make_server(engineio, 'threading', sync_app)   # fail here, not in the worker
    sock = listening_socket()
    port = sock.getsockname()[1]    # gunicorn takes the descriptor over
    threads = max(64, args.max_connections + 64)

    def announce_worker(worker):
        # in the worker: the master is the process the harness started
        announce(describe('threading', port,
                          [os.getppid(), os.getpid()],
                          ['gunicorn', 'simple-websocket'],
                          {'worker': 'gthread', 'threads': threads}))

    class Application(BaseApplication):
        def load_config(self):
            for key, value in {
                    'bind': ['fd://%d' % sock.fileno()],
                    'workers': 1, 'worker_class': 'gthread',
                    'threads': threads, 'worker_connections': threads + 64,
                    'backlog': 2048, 'accesslog': None, 'loglevel': 'warning',
                    'graceful_timeout': 1, 'timeout': 60,
                    # gthread's default (2 s) closes keep-alive connections
                    # a client is about to reuse: under this load the
                    # long-polling clients then see "connection closed"
                    # (measured: 17-83 errors per 2 s run); the same value
                    # for every variant
                    'keepalive': 75,
                    'post_worker_init': announce_worker}.items():
                self.cfg.set(key, value)

        def load(self):
            return engineio.WSGIApp(sync_app(engineio, 'threading'))

    Application().run()


def run_gevent(args):
    # before anything creates a socket or a thread
    from gevent import monkey
    monkey.patch_all()
    import engineio
    from gevent import pywsgi
    if kernels() == 'reference':
        # python-engineio uses gevent-websocket when it is installed
        from geventwebsocket.handler import WebSocketHandler
        package = 'gevent-websocket'
    else:
        try:
            from engineio.async_drivers.gevent import WebSocketHandler
        except (ImportError, AttributeError) as exc:
            unsupported('gevent', 'engineio.async_drivers.gevent.'
                        'WebSocketHandler: %s: %s' % (type(exc).__name__, exc))
        package = 'engineio'
    eio = make_server(engineio, 'gevent', sync_app)
    sock = listening_socket()
    server = pywsgi.WSGIServer(sock, engineio.WSGIApp(eio),
                               handler_class=WebSocketHandler, log=None)
    announce(describe('gevent', sock.getsockname()[1], [os.getpid()],
                      ['gevent', 'gevent-websocket', 'greenlet'],
                      {'websocket': package}))
    server.serve_forever()


def run_eventlet(args):
    import eventlet
    eventlet.monkey_patch()
    import eventlet.wsgi
    import engineio
    eio = make_server(engineio, 'eventlet', sync_app)
    sock = eventlet.listen(('127.0.0.1', 0), backlog=2048)
    announce(describe('eventlet', sock.getsockname()[1], [os.getpid()],
                      ['eventlet', 'greenlet']))
    # max_size: eventlet serves at most 1,024 connections at once by default
    eventlet.wsgi.server(sock, engineio.WSGIApp(eio), log_output=False,
                         max_size=max(1024, args.max_connections + 64))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--mode', default='asgi', choices=MODES)
    parser.add_argument('--loop', default='auto')
    parser.add_argument('--http', default='auto')
    parser.add_argument('--ws', default='auto')
    parser.add_argument('--ws-ping-interval', default=None,
                        help="asgi: uvicorn's ws_ping_interval, seconds or "
                             "'none' (default: uvicorn's, 20 s)")
    parser.add_argument('--max-connections', type=int, default=1000,
                        help='connections the scenario holds at once '
                             '(threads for threading, pool for eventlet)')
    args = parser.parse_args()
    globals()['run_' + args.mode](args)


if __name__ == '__main__':
    main()
