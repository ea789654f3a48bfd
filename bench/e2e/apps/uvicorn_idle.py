"""Idle-capacity server for ``python -m bench.e2e.floor``: uvicorn with a
chosen WebSocket stack and keepalive, serving either a bare ASGI app (the
floor: what uvicorn alone costs per idle WebSocket) or an Engine.IO app.

Like ``py_echo.py`` this one file serves this project and python-engineio
4.15.1 (the orchestrator runs the reference from a temporary copy under
``python -I``, so nothing beside it can be imported), binds 127.0.0.1 on an
ephemeral port itself and announces itself with one JSON line on stdout.

Usage::

    python uvicorn_idle.py --app bare|ping|engineio [--loop ...] [--http ...]
                           [--ws websockets|websockets-sansio|wsproto]
                           [--ws-ping-interval SECONDS|none]

``bare``: accepts every WebSocket, sends one Engine.IO open packet (so that
the load generator counts the session as open) and then only awaits
``receive()`` until the client leaves: one ASGI task per connection and
nothing else of its own.  ``ping``: ``bare`` plus the least Engine.IO's
heartbeat can cost: one task pings every connection every 25 s and the
connection's ASGI task receives the pong.  ``engineio``: ``AsyncServer(async_mode='asgi',
async_handlers=False)`` in ``ASGIApp``, default heartbeat, no handlers but
``connect``/``disconnect`` keeping a set of sids (as ``py_echo.py`` does).

On SIGUSR1 the server prints ``{"tasks": N}`` (``asyncio.all_tasks()`` of
its loop) on stderr: the orchestrator samples it while the connections are
held to report tasks per connection.
"""
import argparse
import asyncio
import json
import os
import signal
import socket
import sys

from py_echo import kernels, version_of

OPEN_PACKET = ('0{"sid":"%s","upgrades":[],"pingInterval":25000,'
               '"pingTimeout":20000,"maxPayload":1000000}')


async def accept_and_open(receive, send):
    """Accept the WebSocket and send an Engine.IO OPEN packet; False when
    the client left before the connect event."""
    message = await receive()
    if message['type'] != 'websocket.connect':
        return False
    await send({'type': 'websocket.accept'})
    await send({'type': 'websocket.send',
                'text': OPEN_PACKET % os.urandom(10).hex()})
    return True


def report_tasks():
    sys.stderr.write(json.dumps({'tasks': len(asyncio.all_tasks())}) + '\n')
    sys.stderr.flush()


def install_report():
    """SIGUSR1 -> the task count on stderr (on the serving loop)."""
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1,
                                                  report_tasks)


async def bare_app(scope, receive, send):
    """Accept, send the open packet, await receive() until disconnect."""
    kind = scope['type']
    if kind == 'lifespan':
        while True:
            message = await receive()
            if message['type'] == 'lifespan.startup':
                install_report()
                await send({'type': 'lifespan.startup.complete'})
            elif message['type'] == 'lifespan.shutdown':
                await send({'type': 'lifespan.shutdown.complete'})
                return
    if kind != 'websocket':
        await send({'type': 'http.response.start', 'status': 404,
                    'headers': [(b'content-length', b'0')]})
        await send({'type': 'http.response.body', 'body': b''})
        return
    if not await accept_and_open(receive, send):
        return
    while True:
        message = await receive()
        if message['type'] == 'websocket.disconnect':
            return


class Pinger:
    """The ``ping`` app's heartbeat, the least an Engine.IO server can do:
    one task for all connections sends ``2`` to each every 25 s (in the
    order they opened, so a FIFO is the schedule); each connection's own
    ASGI task receives the ``3``.  No pong deadline, no protocol state."""

    INTERVAL = 25.0

    def __init__(self):
        from collections import deque
        self.due = deque()      # (when, send, state) in opening order
        self.wake = None
        self.task = None

    def add(self, send, state):
        loop = asyncio.get_running_loop()
        self.due.append((loop.time() + self.INTERVAL, send, state))
        if self.task is None:
            self.task = loop.create_task(self.run())

    async def run(self):
        loop = asyncio.get_running_loop()
        due = self.due
        while due:
            when, send, state = due[0]
            delay = when - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            due.popleft()
            if state['open']:
                try:
                    await send({'type': 'websocket.send', 'text': '2'})
                except Exception:
                    continue
                due.append((when + self.INTERVAL, send, state))
        self.task = None


PINGER = Pinger()


async def ping_app(scope, receive, send):
    """``bare`` plus Engine.IO's heartbeat (see :class:`Pinger`)."""
    if scope['type'] != 'websocket':
        await bare_app(scope, receive, send)
        return
    if not await accept_and_open(receive, send):
        return
    state = {'open': True}
    PINGER.add(send, state)
    try:
        while True:
            message = await receive()
            if message['type'] == 'websocket.disconnect':
                return
    finally:
        state['open'] = False


def engineio_app():
    import engineio
    eio = engineio.AsyncServer(async_mode='asgi', async_handlers=False)
    sessions = {}

    @eio.on('connect')
    async def connect(sid, environ):
        sessions[sid] = None

    @eio.on('disconnect')
    async def disconnect(sid, *reason):
        sessions.pop(sid, None)

    return engineio.ASGIApp(eio, on_startup=install_report)


def ping_interval(text):
    if text.lower() in ('none', 'off', '0'):
        return None
    return float(text)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--app', choices=('bare', 'ping', 'engineio'),
                        default='bare')
    parser.add_argument('--loop', default='uvloop')
    parser.add_argument('--http', default='httptools')
    parser.add_argument('--ws', default='websockets')
    parser.add_argument('--ws-ping-interval', type=ping_interval,
                        default=20.0,
                        help="uvicorn's own WebSocket keepalive ping, in "
                             "seconds, or 'none' (uvicorn's default: 20)")
    parser.add_argument('--max-connections', type=int, default=0,
                        help='ignored (the harness passes it to every app)')
    args = parser.parse_args()
    import uvicorn
    app = {'bare': bare_app, 'ping': ping_app}.get(args.app) or \
        engineio_app()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(('127.0.0.1', 0))
    sock.listen(2048)
    info = {'port': sock.getsockname()[1], 'pid': os.getpid(),
            'pids': [os.getpid()], 'mode': 'asgi', 'app': args.app,
            'kernels': None, 'engineio_file': None,
            'python': sys.version.split()[0], 'server': 'uvicorn',
            'loop': args.loop, 'http': args.http, 'ws': args.ws,
            'ws_ping_interval': args.ws_ping_interval,
            'versions': {name: version_of(name) for name in (
                'uvicorn', 'uvloop', 'httptools', 'websockets', 'wsproto')}}
    if args.app == 'engineio':
        import engineio
        info['engineio_file'] = engineio.__file__
        info['kernels'] = kernels()
    # until the lifespan startup hooks it, a SIGUSR1 must not end us
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    sys.stdout.write(json.dumps(info) + '\n')
    sys.stdout.flush()
    config = uvicorn.Config(app, loop=args.loop, http=args.http, ws=args.ws,
                            ws_ping_interval=args.ws_ping_interval,
                            access_log=False, log_level='warning',
                            lifespan='on')
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == '__main__':
    main()
