"""``engineio._wsgi_websocket.WebSocket`` on a real socket pair: what one
wake-up reads (every complete frame of a segment, handed over at once), a
frame cut across many segments, control frames between fragments, the
close handshake after the messages that preceded it, the size limit and
UTF-8, batched writes, the kernel timeouts of plain sockets, and bytes
read before the WebSocket took the connection over.

No framework needed: it runs with the extensions, without them and on
PyPy.  The peer is a plain socket speaking masked client frames built by
our kernel; every read is bounded by ``TIMEOUT``.
"""
import logging
import socket
import struct
import sys
import threading

import pytest

from engineio._speedups import websocket as ws_kernel
from engineio._wsgi_websocket import WebSocket

TIMEOUT = 10
OP_CONT, OP_TEXT, OP_BINARY = 0, 1, 2
OP_CLOSE, OP_PING, OP_PONG = 8, 9, 10


def frame(opcode, payload, fin=True):
    return ws_kernel.build_frame(opcode, payload, fin=fin,
                                 mask_key=b'\x01\x02\x03\x04')


class Peer:
    """The client end: sends raw bytes, parses what the server wrote."""

    def __init__(self, sock):
        self.sock = sock
        sock.settimeout(TIMEOUT)
        self.parser = ws_kernel.FrameParser(None, require_mask=False)
        self.pending = []
        self.reads = 0

    def recv(self):
        while not self.pending:
            data = self.sock.recv(65536)
            if not data:
                return None, None
            self.reads += 1
            self.pending.extend(self.parser.feed(data))
        return self.pending.pop(0)


@pytest.fixture
def pair():
    server_sock, client_sock = socket.socketpair()
    ws = WebSocket(server_sock, 'test', 1, 1000, TIMEOUT, sid='s')
    ws._set_timeout()
    try:
        yield ws, Peer(client_sock)
    finally:
        server_sock.close()
        client_sock.close()


def test_many_frames_in_one_segment_come_in_one_batch(pair):
    ws, peer = pair
    messages = ['4m%d' % i for i in range(50)] + [b'\x00\xff']
    peer.sock.sendall(b''.join(frame(OP_TEXT if type(m) is str
                                     else OP_BINARY, m) for m in messages))
    assert ws.receive() == messages


def test_frame_cut_across_many_segments(pair):
    ws, peer = pair
    data = frame(OP_TEXT, '4' + 'x' * 300) + frame(OP_TEXT, '4second')

    def trickle():
        for i in range(len(data)):
            peer.sock.sendall(data[i:i + 1])

    thread = threading.Thread(target=trickle)
    thread.start()
    received = []
    while len(received) < 2:
        batch = ws.receive()
        assert batch, 'the connection ended early'
        received.extend(batch)
    thread.join(TIMEOUT)
    assert received == ['4' + 'x' * 300, '4second']


def test_ping_between_fragments_is_answered_first(pair):
    ws, peer = pair
    peer.sock.sendall(frame(OP_TEXT, '4frag', fin=False) +
                      frame(OP_PING, b'hi') +
                      frame(OP_CONT, 'mented', fin=False) +
                      frame(OP_CONT, '!'))
    assert ws.receive() == ['4fragmented!']
    assert peer.recv() == (OP_PONG, b'hi')


def test_wait_returns_one_message_at_a_time(pair):
    ws, peer = pair
    peer.sock.sendall(frame(OP_TEXT, '4a') + frame(OP_BINARY, b'b') +
                      frame(OP_TEXT, '4c'))
    assert [ws.wait(), ws.wait()] == ['4a', b'b']
    peer.sock.sendall(frame(OP_TEXT, '4d'))
    # what wait() holds back goes first, to receive() as well
    assert ws.receive() == ['4c']
    assert ws.wait() == '4d'


def test_close_is_answered_after_the_messages_before_it(pair):
    ws, peer = pair
    peer.sock.sendall(frame(OP_TEXT, '4last') +
                      frame(OP_CLOSE, struct.pack('!H', 1001)) +
                      frame(OP_TEXT, '4after the close'))
    assert ws.receive() == ['4last']
    # the answer to the last message still goes out, before our close
    ws.send('4echo')
    assert ws.receive() is None
    assert peer.recv() == (OP_TEXT, '4echo')
    opcode, payload = peer.recv()
    assert (opcode, payload[:2]) == (OP_CLOSE, struct.pack('!H', 1001))
    with pytest.raises(OSError):
        ws.send('4too late')


def test_message_over_the_limit_closes_1009_after_earlier_ones(pair, caplog):
    ws, peer = pair
    peer.sock.sendall(frame(OP_TEXT, '4ok') +
                      frame(OP_TEXT, '4' + 'x' * 1000))
    with caplog.at_level(logging.ERROR, logger='engineio.server'):
        assert ws.receive() == ['4ok']
        assert ws.receive() is None
    assert 'size limit' in caplog.text
    opcode, payload = peer.recv()
    assert (opcode, payload[:2]) == (OP_CLOSE, struct.pack('!H', 1009))


def test_invalid_utf8_closes_1007(pair):
    ws, peer = pair
    peer.sock.sendall(ws_kernel.build_frame_header(
        OP_TEXT, 2, mask_key=b'\x00\x00\x00\x00') + b'\xc3\x28')
    assert ws.receive() is None
    opcode, payload = peer.recv()
    assert (opcode, payload[:2]) == (OP_CLOSE, struct.pack('!H', 1007))


def test_send_many_is_one_write_in_order(pair):
    ws, peer = pair
    messages = ['4t%d' % i for i in range(20)] + [b'\x01\x02']
    ws.send_many(messages)
    received = [peer.recv() for _ in messages]
    assert received == [(OP_TEXT if type(m) is str else OP_BINARY, m)
                        for m in messages]
    assert peer.reads == 1


def test_peer_gone_ends_the_connection(pair):
    ws, peer = pair
    peer.sock.sendall(frame(OP_TEXT, '4bye'))
    peer.sock.close()
    assert ws.receive() == ['4bye']
    assert ws.receive() is None
    assert ws.closed


def test_bytes_read_before_the_takeover_are_parsed_first(pair):
    ws, peer = pair
    early = frame(OP_TEXT, '4early') + frame(OP_TEXT, '4sp')
    ws._unread = early[:-3]
    peer.sock.sendall(early[-3:] + frame(OP_TEXT, '4later'))
    received = ws.receive()
    if received == ['4early']:  # the split frame completes on the socket
        received += ws.receive()
    assert received == ['4early', '4sp', '4later']


@pytest.mark.skipif(not sys.platform.startswith('linux'),
                    reason='kernel timeouts are used on Linux')
def test_plain_socket_gets_kernel_timeouts(pair):
    ws, _ = pair
    sock = ws.sock
    assert sock.gettimeout() is None  # blocking: no poll before each call
    size = struct.calcsize('ll')
    for option in (socket.SO_RCVTIMEO, socket.SO_SNDTIMEO):
        seconds, micros = struct.unpack('ll', sock.getsockopt(
            socket.SOL_SOCKET, option, size))
        assert seconds + micros / 1e6 == pytest.approx(TIMEOUT, abs=0.01)


def test_kernel_read_timeout_ends_a_silent_connection():
    server_sock, client_sock = socket.socketpair()
    try:
        ws = WebSocket(server_sock, 'test', 1, 1000, 0.2)
        ws._set_timeout()
        # nothing arrives: the read gives up after its timeout
        assert ws.receive() is None
        assert ws.closed
    finally:
        server_sock.close()
        client_sock.close()


def test_a_writer_facing_a_peer_that_does_not_read_gives_up():
    """Back-pressure: the socket's buffers fill, then the write times out
    (OSError) instead of buffering without bound."""
    server_sock, client_sock = socket.socketpair()
    try:
        ws = WebSocket(server_sock, 'test', 1, None, 0.3)
        ws._set_timeout()
        with pytest.raises(OSError):
            for _ in range(10000):
                ws.send(b'x' * 65536)
    finally:
        server_sock.close()
        client_sock.close()


# -- through the server, on werkzeug (threading mode) ---------------------

@pytest.fixture
def werkzeug_server():
    """A threading-mode server on werkzeug whose WebSockets count their
    writes; ``message`` echoes, and ``4block`` waits for the test."""
    serving = pytest.importorskip('werkzeug.serving')
    import engineio

    writes = []
    release = threading.Event()
    blocked = threading.Event()

    class CountingWebSocket(WebSocket):
        def _sendall(self, data):
            writes.append(len(data))
            super()._sendall(data)

    class QuietHandler(serving.WSGIRequestHandler):
        def log_request(self, *args, **kwargs):
            pass

    eio = engineio.Server(async_mode='threading', async_handlers=False)
    eio._async = dict(eio._async, websocket=CountingWebSocket)

    @eio.on('message')
    def message(sid, data):
        eio.send(sid, data)
        if data == 'block':
            blocked.set()
            release.wait(TIMEOUT * 3)  # longer than the client waits

    httpd = serving.make_server('127.0.0.1', 0, engineio.WSGIApp(eio),
                                threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_port, eio, writes, blocked, release
    finally:
        release.set()
        httpd.shutdown()
        thread.join(TIMEOUT)
        eio.shutdown()


def open_client(port):
    from tests.asgi_helpers import RawWebSocket
    ws = RawWebSocket(port, '/engine.io/?EIO=4&transport=websocket')
    assert ws.status == 101
    opcode, payload = ws.recv()
    assert payload.startswith('0{')
    return ws, payload[payload.index('"sid":"') + 7:].split('"')[0]


def test_echoes_of_one_wake_up_leave_in_few_writes(werkzeug_server):
    port, _, writes, _, _ = werkzeug_server
    ws, _ = open_client(port)
    try:
        messages = ['4m%03d' % i for i in range(100)]
        ws.sock.sendall(b''.join(frame(OP_TEXT, m) for m in messages))
        del writes[:]
        received = [ws.recv() for _ in messages]
        assert received == [(OP_TEXT, m) for m in messages]
        # one sendall per batch (and per 5 ms of handlers), not per echo
        assert len(writes) < 25, len(writes)
    finally:
        ws.close()


def test_other_threads_writes_are_not_held_by_a_busy_reader(
        werkzeug_server):
    port, eio, _, blocked, release = werkzeug_server
    ws, sid = open_client(port)
    try:
        ws.sock.sendall(frame(OP_TEXT, '4before') + frame(OP_TEXT, '4block'))
        assert blocked.wait(TIMEOUT)
        # the reader thread is stuck in a handler, mid-batch: a send from
        # another thread goes out now, after what the batch queued
        eio.send(sid, 'from outside')
        assert [ws.recv() for _ in range(3)] == [
            (OP_TEXT, '4before'), (OP_TEXT, '4block'),
            (OP_TEXT, '4from outside')]
        release.set()
        ws.sock.sendall(frame(OP_TEXT, '4after'))
        assert ws.recv() == (OP_TEXT, '4after')
    finally:
        release.set()
        ws.close()
