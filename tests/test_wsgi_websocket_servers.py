"""Our WSGI WebSocket under load shapes, on real servers on 127.0.0.1:
gunicorn's gthread worker (threading mode, plain sockets with kernel
timeouts), gevent's pywsgi with our handler and with its own (green
sockets, the request reader released), and eventlet.

* many frames in one TCP segment: every message is echoed, in order, and
  the echoes leave in a few writes rather than one per message;
* messages, a fragmented one with a ping inside, then a close frame, all in
  one segment: everything answered in order before the close;
* a client that sends without reading: the server stops reading it
  (back-pressure) instead of buffering, stays responsive to others, and
  loses nothing once the client reads;
* bytes sent right behind the opening handshake (pywsgi kinds).

The servers are ``tests/wsgi_apps.py`` subprocesses (see
``tests/test_wsgi_modes.py``); every wait is bounded.
"""
import json
import os
import socket
import struct
import threading
import time

import pytest

from engineio._speedups import websocket as ws_kernel
from tests.asgi_helpers import OP_BINARY, OP_CLOSE, OP_TEXT
from tests.loopback import TIMEOUT
from tests.test_wsgi_modes import close_code, open_websocket, recv, serve

OP_CONT, OP_PING, OP_PONG = 0, 9, 10
SERVER_KINDS = ['gunicorn-gthread', 'gevent', 'gevent-plain', 'eventlet']
#: the app's max_http_buffer_size is 1000
MESSAGE_SIZE = 900


def frame(opcode, payload, fin=True):
    return ws_kernel.build_frame(opcode, payload, fin=fin,
                                 mask_key=os.urandom(4))


@pytest.fixture(scope='module', params=SERVER_KINDS)
def server(request):
    yield from serve(request.param)


def server_rss_kb(server):
    """VmRSS of the server process and its children (gunicorn's worker)."""
    pids = [server.process.pid]
    try:
        with open('/proc/%d/task/%d/children' % (pids[0], pids[0])) as f:
            pids += [int(pid) for pid in f.read().split()]
    except OSError:
        pass
    total = 0
    for pid in pids:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    total += int(line.split()[1])
    return total


def test_many_frames_in_one_segment_echoed_in_order_in_few_writes(server):
    ws, sid = open_websocket(server)
    try:
        messages = ['4m%03d' % i for i in range(200)]
        ws.sock.sendall(b''.join(frame(OP_TEXT, m) for m in messages))
        reads = 0
        received = []
        while len(received) < len(messages):
            data = ws.sock.recv(1 << 20)
            assert data, 'connection closed after %d echoes' % len(received)
            reads += 1
            received.extend(payload for opcode, payload in
                            ws.parser.feed(data)
                            if (opcode, payload) != (OP_TEXT, '2'))
        assert received == messages
        # one sendall per wake-up (per 5 ms of handler time at most), not
        # one per message: 200 echoes in a few reads
        assert reads <= 40, reads
    finally:
        ws.close()
    assert server.wait_disconnect(sid) == 'transport close'


def test_fragments_ping_and_close_in_one_segment(server):
    ws, sid = open_websocket(server)
    try:
        ws.sock.sendall(
            frame(OP_TEXT, '4one') +
            frame(OP_TEXT, '4fr', fin=False) + frame(OP_PING, b'p') +
            frame(OP_CONT, 'ag') +
            frame(OP_BINARY, b'\x00\x01') +
            frame(OP_CLOSE, struct.pack('!H', 1000)))
        got = [recv(ws) for _ in range(5)]
        assert got[0] == (OP_PONG, b'p')  # answered as it is read
        assert got[1:4] == [(OP_TEXT, '4one'), (OP_TEXT, '4frag'),
                            (OP_BINARY, b'\x00\x01')]
        assert got[4][0] == OP_CLOSE and close_code(got[4][1]) == 1000
    finally:
        ws.close()
    assert server.wait_disconnect(sid) == 'transport close'


def test_client_that_does_not_read_is_not_buffered(server):
    """16 MB sent without reading: the server's writes block, so it stops
    reading this client (TCP pushes back on the sender) and does not grow;
    other clients are still served; once the client reads, every echo
    arrives, in order."""
    ws, sid = open_websocket(server)
    total = 16 * 1024 * 1024 // MESSAGE_SIZE
    payload = 'x' * (MESSAGE_SIZE - 10)
    before = server_rss_kb(server)
    sent = []
    failure = []

    def send_all():
        try:
            batch = []
            for i in range(total):
                batch.append(frame(OP_TEXT, '4%08d%s' % (i, payload)))
                if len(batch) == 64:
                    ws.sock.sendall(b''.join(batch))
                    batch = []
                sent.append(i)
            ws.sock.sendall(b''.join(batch))
        except OSError as exc:
            failure.append(exc)

    ws.sock.settimeout(TIMEOUT * 3)
    sender = threading.Thread(target=send_all, daemon=True)
    sender.start()
    try:
        # the sender gets stuck: the server stopped reading this client
        deadline = time.monotonic() + TIMEOUT
        previous = -1
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if len(sent) == previous:
                break
            previous = len(sent)
        assert len(sent) < total, 'nothing pushed back on the sender'
        # meanwhile another client is served
        other, other_sid = open_websocket(server)
        try:
            other.send('4still there?')
            assert recv(other) == (OP_TEXT, '4still there?')
        finally:
            other.close()
        # the server holds no backlog of its own
        grown = server_rss_kb(server) - before
        assert grown < 32 * 1024, 'the server grew by %d KB' % grown
        # now read: everything comes back in order
        for i in range(total):
            opcode, data = recv(ws)
            assert opcode == OP_TEXT and data[:9] == '4%08d' % i, (
                i, opcode, data[:20])
        sender.join(TIMEOUT)
        assert not failure, failure
    finally:
        ws.close()
    assert server.wait_disconnect(sid) == 'transport close'
    assert server.wait_disconnect(other_sid) == 'transport close'


def test_frames_right_behind_the_handshake(server):
    """A client that does not wait for the 101 before its first frames
    (RFC 6455 says it should): pywsgi's reader may already hold them when
    the WebSocket takes the socket over; they are not lost."""
    if not server.kind.startswith('gevent'):
        pytest.skip('the request reader of %s is not ours to release'
                    % server.kind)
    sock = socket.create_connection(('127.0.0.1', server.port),
                                    timeout=TIMEOUT)
    try:
        sock.sendall(
            b'GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\n'
            b'Host: 127.0.0.1\r\nUpgrade: websocket\r\n'
            b'Connection: Upgrade\r\n'
            b'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
            b'Sec-WebSocket-Version: 13\r\n\r\n' +
            frame(OP_TEXT, '4early') + frame(OP_TEXT, '4bird'))
        data = b''
        while b'\r\n\r\n' not in data:
            chunk = sock.recv(4096)
            assert chunk
            data += chunk
        head, _, rest = data.partition(b'\r\n\r\n')
        assert head.startswith(b'HTTP/1.1 101')
        parser = ws_kernel.FrameParser(None, require_mask=False)
        messages = parser.feed(rest) if rest else []
        while len([m for m in messages if m[1] != '2']) < 3:
            chunk = sock.recv(65536)
            assert chunk, messages
            messages += parser.feed(chunk)
        texts = [payload for opcode, payload in messages if payload != '2']
        assert texts[0].startswith('0{')
        assert texts[1:3] == ['4early', '4bird']
        sid = json.loads(texts[0][1:])['sid']
    finally:
        sock.close()
    assert server.wait_disconnect(sid) == 'transport close'
