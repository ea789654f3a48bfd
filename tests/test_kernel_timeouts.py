"""``engineio._kernel_timeouts``: blocking sockets bounded by the kernel's
``SO_SNDTIMEO``/``SO_RCVTIMEO`` (one system call per send or recv instead of
Python's poll + call), for plain sockets only.  Real TCP on 127.0.0.1."""
import socket
import ssl
import sys
import time

import pytest

from engineio import _client_websocket, _kernel_timeouts

linux = pytest.mark.skipif(not sys.platform.startswith('linux'),
                           reason='kernel timeouts are used on Linux only')


def connected_pair():
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(1)
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    listener.close()
    return client, server


@linux
def test_a_write_to_a_peer_that_does_not_read_times_out():
    """The sync client's WebSocket on a plain socket: blocking, and a write
    the server never reads fails after the write timeout (not never)."""
    client, server = connected_pair()
    try:
        ws = _client_websocket.ClientWebSocket(client, timeout=0.3)
        assert client.gettimeout() is None  # blocking: no poll per call
        started = time.monotonic()
        with pytest.raises(OSError):
            for _ in range(10000):  # far more than the socket buffers hold
                ws.send(b'x' * 65536)
        assert 0.2 < time.monotonic() - started < 5
    finally:
        client.close()
        server.close()


@linux
def test_reads_still_wait_for_the_time_given():
    client, server = connected_pair()
    try:
        ws = _client_websocket.ClientWebSocket(client, timeout=5)
        started = time.monotonic()
        with pytest.raises(_client_websocket.WebSocketTimeout):
            ws.recv(0.3)
        assert 0.2 < time.monotonic() - started < 3
        # a frame that arrives is read (the socket is blocking: poll first)
        server.sendall(b'\x81\x05hello')
        assert ws.recv(5) == 'hello'
    finally:
        client.close()
        server.close()


def test_not_for_tls_or_other_sockets():
    client, server = connected_pair()
    try:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        wrapped = context.wrap_socket(client, do_handshake_on_connect=False,
                                      server_hostname='127.0.0.1')
        assert not _kernel_timeouts.use_kernel_timeouts(wrapped, 1, 1)

        class Green:  # a socket-like object that is not the C socket
            pass
        assert not _kernel_timeouts.use_kernel_timeouts(Green(), 1, 1)
        assert not _kernel_timeouts.use_kernel_timeouts(server, -1, 1)
    finally:
        client.close()
        server.close()
