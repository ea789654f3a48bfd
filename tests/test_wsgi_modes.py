"""``Server`` in its eventlet, gevent and gevent_uwsgi modes, and under
gunicorn, on real servers on 127.0.0.1.

eventlet and gevent monkey-patch a process, so every server runs in a
subprocess (``tests/wsgi_apps.py``) and reports its handler events on
stdout.  One server per kind serves all the tests of that kind:

* ``eventlet`` / ``eventlet-unpatched``: ``eventlet.wsgi.server``, with and
  without monkey-patching (the mode auto-selected, or named);
* ``gevent`` / ``gevent-unpatched``: pywsgi with our ``WebSocketHandler``;
  ``gevent-plain``: pywsgi's own handler; ``geventwebsocket``:
  gevent-websocket's handler, which answers the handshake itself;
* ``gunicorn-gthread`` (threading mode) and ``gunicorn-gevent``, one worker;
* ``uwsgi``: ``uwsgi --gevent --http-websockets`` (the gevent_uwsgi mode on
  uWSGI's native WebSocket).

Every wait is bounded.  A missing server or framework skips its kind, and
fails it under ``CI`` on CPython (PyPy has none of them).
"""
import collections
import importlib.util
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.asgi_helpers import OP_BINARY, OP_CLOSE, OP_TEXT, RawWebSocket
from tests.loopback import (TIMEOUT, js_client_echo, open_session, request,
                            require)

OP_PING, OP_PONG = 9, 10
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)

#: kind -> (what it needs installed, the mode the app must be in)
KINDS = {
    'eventlet': (['eventlet'], 'eventlet'),
    'eventlet-unpatched': (['eventlet'], 'eventlet'),
    'gevent': (['gevent'], 'gevent'),
    'gevent-unpatched': (['gevent'], 'gevent'),
    'gevent-plain': (['gevent'], 'gevent'),
    'geventwebsocket': (['gevent', 'geventwebsocket'], 'gevent'),
    'gunicorn-gthread': (['gunicorn'], 'threading'),
    'gunicorn-gevent': (['gunicorn', 'gevent'], 'gevent'),
    'uwsgi': (['gevent', 'uwsgi:'], 'gevent_uwsgi'),
}


def available(need):
    """Skip (or fail under CI on CPython) when a requirement is missing;
    ``name:`` is an executable beside the interpreter."""
    for name in need:
        if name.endswith(':'):
            found = os.path.exists(os.path.join(BIN, name[:-1]))
        else:
            found = importlib.util.find_spec(name) is not None
        if not found and platform.python_implementation() == 'PyPy':
            pytest.skip('%s is not installed on PyPy' % name)
        require(found, name.rstrip(':'))


class ServerProcess:
    """One app server in a subprocess; its stdout lines are the events."""

    def __init__(self, kind):
        self.kind = kind
        self.lines = []
        self.cond = threading.Condition()
        listener = socket.socket()
        listener.bind(('127.0.0.1', 0))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        fd = listener.fileno()
        env = dict(os.environ, ENGINEIO_TEST_KIND=kind,
                   PYTHONPATH=ROOT + os.pathsep + os.environ.get(
                       'PYTHONPATH', ''))
        if kind.startswith('gunicorn'):
            command = [sys.executable, '-m', 'gunicorn',
                       '-k', kind.split('-')[1], '--threads', '20',
                       '-w', '1', '--bind', 'fd://%d' % fd,
                       '--graceful-timeout', '1', '--log-level', 'error',
                       'tests.wsgi_apps:application']
        elif kind == 'uwsgi':
            listener.close()  # uWSGI binds its own, reported as "ready"
            fd = None
            command = [os.path.join(BIN, 'uwsgi'),
                       '--http-socket', '127.0.0.1:0', '--gevent', '100',
                       '--http-websockets', '--disable-logging',
                       '--module', 'tests.wsgi_apps:application']
        else:
            command = [sys.executable, '-m', 'tests.wsgi_apps', kind,
                       str(fd)]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=[fd] if fd is not None else [])
        if fd is not None:
            listener.close()  # the server holds its own copy
        self.output = []  # everything, for a failure's message
        threading.Thread(target=self._read, daemon=True).start()
        ready = self.wait_line(lambda words: words[0] == 'ready')
        if kind == 'uwsgi':
            self.port = int(ready[1])

    def _read(self):
        for line in self.process.stdout:
            words = line.decode('utf-8', 'replace').split()
            with self.cond:
                self.output.append(words)
                if words[:1] == ['EIO']:  # the app's event lines
                    self.lines.append(words[1:])
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_line(self, predicate):
        deadline = time.monotonic() + TIMEOUT
        with self.cond:
            while True:
                for words in self.lines:
                    if words and predicate(words):
                        return words
                remaining = deadline - time.monotonic()
                assert remaining > 0 and self.process.poll() is None, (
                    'no such line from the %s server; output:\n%s' % (
                        self.kind, '\n'.join(' '.join(line) for line in
                                             self.output[-30:])))
                self.cond.wait(remaining)

    def wait_disconnect(self, sid):
        """The reason of ``sid``'s disconnect (it must be reported)."""
        words = self.wait_line(
            lambda words: words[:2] == ['disconnect', sid])
        return words[2].replace('_', ' ')

    def disconnect_counts(self):
        with self.cond:
            return collections.Counter(
                words[1] for words in self.lines
                if words[:1] == ['disconnect'])

    def stop(self):
        # uWSGI ends on SIGINT; the others on SIGTERM
        self.process.send_signal(signal.SIGINT if self.kind == 'uwsgi'
                                 else signal.SIGTERM)
        try:
            self.process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(TIMEOUT)


def serve(kind):
    """A module fixture's body: the server ``kind`` in its subprocess
    (skipped when its stack is missing), stopped afterwards, and then the
    check that the disconnect handler ran at most once per session,
    whatever the tests did to it."""
    need, _ = KINDS[kind]
    available(need)
    process = ServerProcess(kind)
    try:
        yield process
    finally:
        process.stop()
    repeated = {sid: n for sid, n in process.disconnect_counts().items()
                if n > 1}
    assert not repeated, repeated


@pytest.fixture(scope='module', params=list(KINDS))
def server(request):
    yield from serve(request.param)


@pytest.fixture
def once(server):
    """Checks after the test that each session it ended was reported
    disconnected exactly once (so far)."""
    ended = []
    yield ended
    counts = server.disconnect_counts()
    for sid in ended:
        assert counts[sid] == 1, (sid, counts[sid])


def polling(sid):
    return '/engine.io/?EIO=4&transport=polling&sid=' + sid


def close_code(payload):
    return int.from_bytes(payload[:2], 'big')


def recv(ws):
    """The next WebSocket message that is not a ping: Engine.IO pings
    (``2``, every second here) are skipped, WebSocket pings (uWSGI sends
    its own) answered, as a browser would."""
    while True:
        opcode, payload = ws.recv()
        if opcode == OP_PING:
            ws.send(payload, opcode=OP_PONG)
        elif (opcode, payload) != (OP_TEXT, '2'):
            return opcode, payload


def open_websocket(server):
    ws = RawWebSocket(server.port, '/engine.io/?EIO=4&transport=websocket')
    assert ws.status == 101
    opcode, payload = recv(ws)
    assert opcode == OP_TEXT and payload.startswith('0{'), payload
    return ws, json.loads(payload[1:])['sid']


# -- the mode -------------------------------------------------------------

def test_mode_and_its_tasks(server):
    """The app is in the expected mode; in eventlet and gevent modes the
    background tasks and the service task are green."""
    _, mode = KINDS[server.kind]
    sid = open_session(server.port)
    assert request(server.port, 'POST', polling(sid),
                   body=b'4info?')[0::2] == (200, b'ok')
    status, _, body = request(server.port, 'GET', polling(sid))
    assert status == 200 and body[:1] == b'4'
    info = json.loads(body[1:])
    assert info['mode'] == mode
    green = mode != 'threading'
    assert info['task_is_greenlet'] is green, info
    assert info['service_is_greenlet'] is green, info
    # (that the events are green shows in the unpatched kinds: a held poll
    # waiting on a blocking event would stall the hub, and its ping)
    assert info['queue'].split('.')[0] == {
        'threading': 'queue', 'eventlet': 'eventlet', 'gevent': 'gevent',
        'gevent_uwsgi': 'gevent'}[mode], info
    request(server.port, 'POST', polling(sid), body=b'1')


# -- polling --------------------------------------------------------------

def test_polling_echo_held_poll_and_close(server, once):
    port = server.port
    sid = open_session(port)
    assert server.wait_line(lambda words: words == ['connect', sid])
    status, _, body = request(port, 'POST', polling(sid),
                              body=b'4hello\x1ebAQID')
    assert (status, body) == (200, b'ok')
    status, _, body = request(port, 'GET', polling(sid))
    assert (status, body) == (200, b'4hello\x1ebAQID')
    # nothing to send: the GET is held until the service task's ping
    status, _, body = request(port, 'GET', polling(sid))
    assert (status, body) == (200, b'2')
    assert request(port, 'POST', polling(sid), body=b'3')[0] == 200
    assert request(port, 'POST', polling(sid), body=b'1')[0] == 200
    assert server.wait_disconnect(sid) == 'client disconnect'
    once.append(sid)
    status, _, body = request(port, 'GET', polling(sid))
    assert status == 400 and json.loads(body)['code'] == 1


def test_polling_post_over_limit(server, once):
    sid = open_session(server.port)
    status, _, _ = request(server.port, 'POST', polling(sid),
                           body=b'4' + b'x' * 2000)
    assert status == 413
    assert server.wait_disconnect(sid) == 'transport error'
    once.append(sid)


# -- WebSocket ------------------------------------------------------------

def test_websocket_echo_ping_and_close(server, once):
    ws, sid = open_websocket(server)
    try:
        ws.send('4h\u00e9llo')
        assert recv(ws) == (OP_TEXT, '4h\u00e9llo')
        ws.send(b'\x00\x01\xff')
        assert recv(ws) == (OP_BINARY, b'\x00\x01\xff')
        ws.send(b'are you there', opcode=OP_PING)
        # uWSGI answers pings itself, with an empty payload (RFC 6455 wants
        # the ping's; documented in async_drivers/gevent_uwsgi.py)
        assert recv(ws) == (OP_PONG, b'' if server.kind == 'uwsgi'
                            else b'are you there')
        ws.send('1')
        assert server.wait_disconnect(sid) == 'client disconnect'
        once.append(sid)
        opcode, payload = recv(ws)
        assert opcode == OP_CLOSE and close_code(payload) == 1000
    finally:
        ws.close()


def test_websocket_message_over_limit_closes_1009(server, once):
    ws, sid = open_websocket(server)
    try:
        ws.send('4' + 'x' * 2000)
        opcode, payload = recv(ws)
        assert opcode == OP_CLOSE and close_code(payload) == 1009
        assert server.wait_disconnect(sid) == 'transport close'
        once.append(sid)
    finally:
        ws.close()


def test_websocket_server_disconnect(server, once):
    ws, sid = open_websocket(server)
    try:
        ws.send('4disconnect me')
        assert recv(ws) == (OP_TEXT, '1')
        opcode, payload = recv(ws)
        assert opcode == OP_CLOSE and close_code(payload) == 1000
        assert server.wait_disconnect(sid) == 'server disconnect'
        once.append(sid)
    finally:
        ws.close()


def test_websocket_upgrade(server, once):
    port = server.port
    sid = open_session(port)
    ws = RawWebSocket(port, '/engine.io/?EIO=4&transport=websocket&sid=' +
                      sid)
    try:
        assert ws.status == 101
        ws.send('2probe')
        assert recv(ws) == (OP_TEXT, '3probe')
        status, _, body = request(port, 'GET', polling(sid))
        assert (status, body) == (200, b'6')
        ws.send('5')
        ws.send('4after')
        assert recv(ws) == (OP_TEXT, '4after')
        assert request(port, 'GET', polling(sid))[0] == 400
    finally:
        ws.close()  # gone without a close frame
    assert server.wait_disconnect(sid) == 'transport close'
    once.append(sid)


def test_websocket_refused(server):
    ws = RawWebSocket(server.port,
                      '/engine.io/?EIO=4&transport=websocket&sid=nope')
    try:
        if server.kind != 'geventwebsocket':
            assert ws.status == 400
        else:
            # gevent-websocket's handler accepted it before the app ran:
            # refused by closing (documented in async_drivers/gevent.py)
            assert ws.status == 101
            opcode, _ = ws.recv()
            assert opcode in (OP_CLOSE, None)
    finally:
        ws.close()


# -- the official JavaScript client ---------------------------------------

@pytest.mark.parametrize('mode', ['polling', 'websocket', 'upgrade'])
def test_official_js_client(server, once, mode):
    output = js_client_echo(server.port, mode)
    assert server.wait_disconnect(output['sid']) == (
        'client disconnect' if mode == 'polling' else 'transport close')
    once.append(output['sid'])


# -- the mode choice, in a fresh interpreter each -------------------------

SELECT = '''
import sys
setup = sys.argv[1]
if setup == 'eventlet-patched':
    import eventlet; eventlet.monkey_patch()
elif setup == 'gevent-patched':
    from gevent import monkey; monkey.patch_all()
elif setup == 'imported':
    # imported (servers and drivers too), but neither patched
    import eventlet.wsgi, gevent.pywsgi
    import engineio.async_drivers.eventlet, engineio.async_drivers.gevent
import engineio
mode = sys.argv[2] if len(sys.argv) > 2 else None
eio = engineio.Server(async_mode=mode)
print(eio.async_mode, type(eio.start_background_task(lambda: None)).__name__)
'''


@pytest.mark.parametrize('setup, mode, expected', [
    ('eventlet-patched', None, 'eventlet EventletThread'),
    ('gevent-patched', None, 'gevent Thread'),
    ('imported', None, 'threading DaemonThread'),
    ('none', 'eventlet', 'eventlet EventletThread'),
    ('none', 'gevent', 'gevent Thread'),
    ('none', 'threading', 'threading DaemonThread'),
])
def test_async_mode_selection(setup, mode, expected):
    available(['eventlet', 'gevent'])
    result = subprocess.run(
        [sys.executable, '-W', 'ignore', '-c', SELECT, setup] +
        ([mode] if mode else []), cwd=ROOT, capture_output=True,
        timeout=TIMEOUT * 3)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().split() == expected.split()


def test_gevent_uwsgi_needs_uwsgi():
    """Outside uWSGI the gevent_uwsgi mode cannot be had."""
    available(['gevent'])
    result = subprocess.run(
        [sys.executable, '-W', 'ignore', '-c',
         'import engineio\n'
         'try:\n'
         '    engineio.Server(async_mode="gevent_uwsgi")\n'
         'except ValueError as exc:\n'
         '    print(exc)\n'], cwd=ROOT, capture_output=True,
        timeout=TIMEOUT * 3)
    assert result.stdout.decode().strip() == 'Invalid async_mode specified'

