"""Several Engine.IO workers behind a real nginx with sticky sessions
(``examples/nginx``).

Three uvicorn workers (``examples.nginx.app`` subprocesses on 127.0.0.1
ephemeral ports, started by ``examples.nginx.launch.WorkerPool``) and an
nginx in the foreground whose configuration, pid, logs and temp files are
in a temporary directory (``launch.Nginx``).  Clients connect from
127.0.1.1 ... 127.0.12.1 (the whole 127/8 is loopback; nginx's ``ip_hash``
keys on the first three octets, hence a different third octet each): each
handshakes on polling, exchanges messages over several polls, upgrades to
WebSocket and exchanges more.  Each worker answers ``worker?`` with its id,
so the test sees where every session lives: always the same worker, and not
all on one.  A round-robin nginx shows the failure stickiness prevents, a
killed worker shows the failover, and the official JavaScript client goes
through nginx too; a last test runs the same sessions on gunicorn workers
(``Server`` + ``WSGIApp``, threading mode).

Linux only (other systems have one loopback address, or cannot hand a
socket to nginx); skipped where uvicorn is missing (PyPy).  A missing nginx
(``make setup`` installs Debian's ``nginx-light``) or Node fails under
``CI``, else skips.
"""
import base64
import http.client
import json
import os
import signal
import socket
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from engineio import _speedups
from engineio._speedups import websocket as ws_kernel
from tests.asgi_helpers import OP_BINARY, OP_CLOSE, OP_TEXT
from tests.loopback import TIMEOUT, js_client_echo, request, require

if not sys.platform.startswith('linux'):
    # elsewhere 127.0.0.1 is the only loopback address a client can bind
    # (macOS), or listening sockets cannot be handed to nginx (Windows)
    pytest.skip('the nginx deployment test runs on Linux',
                allow_module_level=True)
pytest.importorskip('uvicorn')

from examples.nginx import launch  # noqa: E402

#: the third octet of each client's source address 127.0.N.1
CLIENTS = range(1, 13)
POLLING = '/engine.io/?EIO=4&transport=polling'
WEBSOCKET = '/engine.io/?EIO=4&transport=websocket'


def ip_hash_worker(n, count):
    """The worker id nginx's ``ip_hash`` picks for 127.0.n.1 among
    ``count`` healthy servers of equal weight, listed w0, w1, ...

    ngx_http_upstream_ip_hash_module: ``hash = 89``, then ``hash = (hash *
    113 + octet) % 6271`` over the first three octets; the server is
    ``hash % count``."""
    value = 89
    for octet in (127, 0, n):
        value = (value * 113 + octet) % 6271
    return 'w%d' % (value % count)


def source(n):
    return ('127.0.%d.1' % n, 0)


def connect(port, n):
    """An HTTP/1.1 connection from 127.0.n.1, kept open between requests
    (as a browser does)."""
    return http.client.HTTPConnection('127.0.0.1', port, timeout=TIMEOUT,
                                      source_address=source(n))


def call(conn, method, target, body=None):
    """One request on ``conn``: ``(status, body)``."""
    conn.request(method, target, body=body)
    return answer(conn)


def answer(conn):
    response = conn.getresponse()
    return response.status, response.read()


def error_code(body):
    return json.loads(body)['code']


class WebSocket:
    """A blocking WebSocket client from a chosen source address, on our own
    framing kernel (``tests.asgi_helpers.RawWebSocket`` always connects
    from 127.0.0.1, which would put every client on one ip_hash bucket)."""

    def __init__(self, port, target, source_address):
        self.sock = socket.create_connection(
            ('127.0.0.1', port), timeout=TIMEOUT,
            source_address=source_address)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((
            'GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n'
            'Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n'
            'Sec-WebSocket-Version: 13\r\n\r\n' % (target, port, key)
        ).encode())
        head = b''
        while b'\r\n\r\n' not in head:
            chunk = self.sock.recv(4096)
            assert chunk, 'connection closed during the handshake'
            head += chunk
        head, _, self.rest = head.partition(b'\r\n\r\n')
        self.status = int(head.split(b' ', 2)[1])
        self.parser = ws_kernel.FrameParser(None, require_mask=False)
        self.pending = []

    def send(self, data):
        opcode = OP_TEXT if isinstance(data, str) else OP_BINARY
        self.sock.sendall(ws_kernel.build_frame(opcode, data,
                                                mask_key=os.urandom(4)))

    def recv(self):
        """The next message ``(opcode, payload)``; ``(None, None)`` at EOF."""
        while not self.pending:
            data = self.rest or self.sock.recv(65536)
            self.rest = b''
            if not data:
                return None, None
            self.pending.extend(self.parser.feed(data))
        return self.pending.pop(0)

    def close(self):
        self.sock.close()


def which_worker(packet):
    """The worker id in the answer to ``worker?`` (a message packet)."""
    assert packet[:1] in (b'4', '4'), packet
    return json.loads(packet[1:])['worker']


def session_through_nginx(port, n):
    """One client's whole session from 127.0.n.1; the id of the worker
    that served all of it."""
    poll, post = connect(port, n), connect(port, n)
    ws = None
    try:
        status, body = call(poll, 'GET', POLLING)
        assert status == 200 and body[:1] == b'0', (n, status, body)
        handshake = json.loads(body[1:])
        assert handshake['upgrades'] == ['websocket']
        target = POLLING + '&sid=' + handshake['sid']

        # several polls, each answering the packets of one POST; a session
        # that reached another worker would get 400 "Session ID unknown"
        worker = None
        for i in range(3):
            data = bytes([n, i, 255])
            payload = b'4worker?\x1e4poll %d\x1eb%s' % (
                i, base64.b64encode(data))
            assert call(post, 'POST', target, payload) == (200, b'ok'), n
            status, body = call(poll, 'GET', target)
            assert status == 200, (n, i, body)
            packets = body.split(b'\x1e')
            assert packets[1:] == payload.split(b'\x1e')[1:], (n, body)
            served_by = which_worker(packets[0])
            assert worker in (None, served_by), (n, worker, served_by)
            worker = served_by

        # a poll sent first, answered by the next POST's message: nginx
        # passes a held long poll on when it ends
        poll.request('GET', target)
        assert call(post, 'POST', target, b'4held') == (200, b'ok')
        assert answer(poll) == (200, b'4held'), n

        # the upgrade: the WebSocket must reach the same worker
        poll.request('GET', target)  # pending: the probe answers it "6"
        ws = WebSocket(port, WEBSOCKET + '&sid=' + handshake['sid'],
                       source(n))
        assert ws.status == 101, (n, ws.status)
        ws.send('2probe')
        assert ws.recv() == (OP_TEXT, '3probe'), n
        assert answer(poll) == (200, b'6'), n
        ws.send('5')
        ws.send('4worker?')
        opcode, text = ws.recv()
        assert opcode == OP_TEXT and which_worker(text) == worker, (n, text)
        for i in range(3):
            ws.send('4ws %d %d \u00e9' % (n, i))
            assert ws.recv() == (OP_TEXT, '4ws %d %d \u00e9' % (n, i))
            ws.send(bytes([n, i, 0, 255]))
            assert ws.recv() == (OP_BINARY, bytes([n, i, 0, 255]))

        # polling is over for this session
        status, body = call(poll, 'GET', target)
        assert status == 400 and error_code(body) == 3, (n, body)
        ws.send('1')
        assert ws.recv()[0] in (OP_CLOSE, None)
        return worker
    finally:
        poll.close()
        post.close()
        if ws is not None:
            ws.close()


def many_sessions(port, clients):
    """Every client's session at once, one thread each; their workers."""
    with ThreadPoolExecutor(len(clients)) as pool:
        return list(pool.map(lambda n: session_through_nginx(port, n),
                             clients))


@pytest.fixture(scope='module')
def workers(tmp_path_factory):
    require(launch.find_nginx(), 'nginx')
    with launch.WorkerPool(3, str(tmp_path_factory.mktemp('workers'))) as pool:
        yield pool


@pytest.fixture(scope='module', params=['ip_hash', 'hash'])
def nginx(request, workers, tmp_path_factory):
    prefix = str(tmp_path_factory.mktemp('nginx-' + request.param))
    with launch.Nginx(prefix, workers.upstreams, request.param) as proxy:
        yield proxy


def test_sessions_stick_to_one_worker_and_spread(nginx):
    served_by = many_sessions(nginx.port, CLIENTS)
    assert len(set(served_by)) > 1, served_by
    if nginx.balance == 'ip_hash':
        # the client's address alone chose the worker
        assert served_by == [ip_hash_worker(n, 3) for n in CLIENTS]


def test_official_js_client_through_nginx(nginx):
    js_client_echo(nginx.port, 'upgrade')


def test_same_origin_check_sees_the_clients_host(nginx):
    # nginx passes the client's Host on: the worker's same-origin check
    # compares the browser's Origin with it, not with the upstream address
    origin = 'http://127.0.0.1:%d' % nginx.port
    status, headers, body = request(nginx.port, 'GET', POLLING,
                                    headers={'Origin': origin})
    headers = {k.lower(): v for k, v in headers.items()}
    assert status == 200 and body[:1] == b'0'
    assert headers['access-control-allow-origin'] == origin
    # and another origin is still refused (403, code 4, as the JavaScript
    # server; python-engineio answers 400)
    status, headers, body = request(nginx.port, 'GET', POLLING,
                                    headers={'Origin': 'http://other.test'})
    assert status in (400, 403) and body[:1] != b'0', (status, body)
    assert 'access-control-allow-origin' not in {k.lower() for k in headers}


def test_without_stickiness_polling_sessions_break(workers, tmp_path):
    # The failure sticky sessions prevent: round-robin sends the request
    # after the handshake to another worker, which has never heard of the
    # session.  One kept-alive connection stays with one nginx process, whose
    # round-robin never picks the same one of several servers twice in a row.
    with launch.Nginx(str(tmp_path), workers.upstreams,
                      'round-robin') as proxy:
        conn = connect(proxy.port, 1)
        try:
            status, body = call(conn, 'GET', POLLING)
            assert status == 200
            target = POLLING + '&sid=' + json.loads(body[1:])['sid']
            status, body = call(conn, 'POST', target, b'6')
            assert status == 400 and json.loads(body) == {
                'code': 1, 'message': 'Session ID unknown'}
        finally:
            conn.close()


def test_a_dead_worker_s_clients_move_to_another(tmp_path):
    require(launch.find_nginx(), 'nginx')
    n = next(n for n in CLIENTS if ip_hash_worker(n, 2) == 'w0')
    with launch.WorkerPool(2, str(tmp_path / 'workers')) as pool, \
            launch.Nginx(str(tmp_path / 'nginx'), pool.upstreams) as proxy:
        conn = connect(proxy.port, n)
        try:
            status, body = call(conn, 'GET', POLLING)
            target = POLLING + '&sid=' + json.loads(body[1:])['sid']
            assert call(conn, 'POST', target, b'4worker?') == (200, b'ok')
            status, body = call(conn, 'GET', target)
            assert which_worker(body) == 'w0'

            pool.workers[0].stop(signal.SIGKILL)
            # the session died with its worker: nginx passes the poll on to
            # the next server, which does not know it (the client reconnects)
            status, body = call(conn, 'GET', target)
            assert status == 400 and error_code(body) == 1, body
            status, body = call(conn, 'GET', POLLING)
            assert status == 200
            target = POLLING + '&sid=' + json.loads(body[1:])['sid']
            assert call(conn, 'POST', target, b'4worker?') == (200, b'ok')
            status, body = call(conn, 'GET', target)
            assert which_worker(body) == 'w1'
        finally:
            conn.close()


def test_workers_run_the_kernels_of_this_run(workers):
    # the compiled and the pure run (ENGINEIO_NO_EXTENSIONS=1) each test
    # workers of their own kind: the subprocesses inherit the environment
    for worker in workers.workers:
        status, _, body = request(worker.port, 'GET', '/health')
        assert status == 200
        assert json.loads(body) == {
            'worker': worker.id, 'pid': worker.process.pid,
            'kernels': _speedups.IMPLEMENTATION}
        assert request(worker.port, 'GET', '/elsewhere')[0] == 404


def test_render_config_refuses_bad_input(tmp_path):
    with pytest.raises(ValueError, match='balance'):
        launch.render_config(str(tmp_path), '127.0.0.1:1', [('h', 1)],
                             'random')
    with pytest.raises(ValueError, match='upstream'):
        launch.render_config(str(tmp_path), '127.0.0.1:1', [])
    with pytest.raises(ValueError, match='@NOPE@'):
        launch.render_config(str(tmp_path), '127.0.0.1:1', [('h', 1)],
                             template='listen @LISTEN@; x @NOPE@;')
    config = launch.render_config(str(tmp_path), '127.0.0.1:8080',
                                  [('127.0.0.1', 8001), ('127.0.0.1', 8002)],
                                  'hash')
    assert 'listen 127.0.0.1:8080;' in config
    assert 'hash $remote_addr consistent;' in config
    assert 'server 127.0.0.1:8001;' in config
    assert 'server 127.0.0.1:8002;' in config
    assert 'pid %s/nginx.pid;' % tmp_path in config


def test_wsgi_workers_behind_nginx(tmp_path):
    # the same deployment with Server + WSGIApp on gunicorn (threading mode)
    pytest.importorskip('gunicorn')
    require(launch.find_nginx(), 'nginx')
    clients = range(1, 7)
    with launch.WorkerPool(2, str(tmp_path / 'workers'),
                           server='wsgi') as pool, \
            launch.Nginx(str(tmp_path / 'nginx'), pool.upstreams) as proxy:
        served_by = many_sessions(proxy.port, clients)
        assert served_by == [ip_hash_worker(n, 2) for n in clients]
        js_client_echo(proxy.port, 'upgrade')
