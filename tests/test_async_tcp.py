"""``engineio._async_tcp.open_socket``: the client connection that sends its
first request with the connect.

Real sockets on 127.0.0.1 (and ::1 where the machine has IPv6): the
immediate send on a connection the kernel completed inside ``connect()``,
the fallback when the connection is still being made (a listener whose
backlog is full drops the SYN, so the client stays in SYN_SENT until it is
accepted), host names, refusals, cancellation.  Runs on every
interpreter (asyncio only).
"""
import asyncio
import os
import socket

import pytest

from engineio import _async_tcp

TIMEOUT = 10.0


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT))


def listener(family=socket.AF_INET, host='127.0.0.1', backlog=16):
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((host, 0))
    sock.listen(backlog)
    return sock


def full_listener():
    """A listener that never accepts, its accept queue full (its length is
    the backlog + 1 on Linux): the next SYN is dropped.  Returns it and the
    sockets that fill it."""
    server = listener(backlog=0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect(('127.0.0.1', port))
        except BlockingIOError:
            pass
        fillers.append(filler)
    return server, fillers


def open_fds():
    return len(os.listdir('/proc/self/fd'))


def read_exactly(conn, size):
    conn.settimeout(TIMEOUT)
    data = b''
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        assert chunk, 'closed early'
        data += chunk
    return data


def test_first_bytes_go_with_the_connect():
    server = listener()
    port = server.getsockname()[1]

    async def main():
        sock, sent = await _async_tcp.open_socket(
            asyncio.get_running_loop(), '127.0.0.1', port, b'hello')
        return sock, sent

    sock, sent = run(main())
    try:
        # on loopback the kernel finishes the connection inside connect()
        assert sent == 5
        assert sock.getblocking() is False
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        conn, _ = server.accept()
        assert read_exactly(conn, 5) == b'hello'
        conn.close()
    finally:
        sock.close()
        server.close()


def test_without_first_bytes_and_a_transport_on_it():
    server = listener()
    port = server.getsockname()[1]
    received = []

    class Protocol(asyncio.Protocol):
        def connection_made(self, transport):
            transport.write(b'ping')

    async def main():
        loop = asyncio.get_running_loop()
        sock, sent = await _async_tcp.open_socket(loop, '127.0.0.1', port)
        assert sent == 0
        transport, _ = await loop.create_connection(Protocol, sock=sock)
        conn, _ = await loop.run_in_executor(None, server.accept)
        received.append(await loop.run_in_executor(
            None, read_exactly, conn, 4))
        transport.close()
        conn.close()

    try:
        run(main())
    finally:
        server.close()
    assert received == [b'ping']


def test_a_connection_still_being_made_is_waited_for():
    """A listener that never accepts and whose backlog is full drops the
    SYN: the client's send says EAGAIN, nothing is sent early, and the
    socket is connected once the server makes room (the SYN is sent
    again after about a second)."""
    server, fillers = full_listener()
    port = server.getsockname()[1]
    try:
        async def main():
            loop = asyncio.get_running_loop()
            opening = asyncio.ensure_future(_async_tcp.open_socket(
                loop, '127.0.0.1', port, b'first'))
            await asyncio.sleep(0.3)
            assert not opening.done()  # the SYN was dropped: still waiting
            # make room: accept everything queued, then the retry gets in
            server.setblocking(False)
            accepted = []
            deadline = loop.time() + TIMEOUT
            while not opening.done():
                assert loop.time() < deadline
                try:
                    accepted.append(server.accept()[0])
                except BlockingIOError:
                    pass
                await asyncio.sleep(0.05)
            sock, sent = opening.result()
            for conn in accepted:
                conn.close()
            return sock, sent

        sock, sent = run(main())
        # connected through loop.sock_connect: nothing of it sent early
        assert sent == 0
        assert sock.getpeername()[1] == port
        sock.close()
    finally:
        for filler in fillers:
            filler.close()
        server.close()


def test_host_name_is_resolved():
    server = listener()
    port = server.getsockname()[1]

    async def main():
        return await _async_tcp.open_socket(
            asyncio.get_running_loop(), 'localhost', port, b'x')

    try:
        sock, sent = run(main())
    except OSError:  # pragma: no cover (localhost is not 127.0.0.1 here)
        pytest.skip('localhost does not reach 127.0.0.1 here')
    try:
        # localhost may resolve to ::1 first (refused: nothing listens
        # there): the next address is tried, as create_connection does
        assert sock.getpeername()[:2] == ('127.0.0.1', port)
        assert sent == 1
    finally:
        sock.close()
        server.close()


def test_ipv6_literal():
    try:
        server = listener(socket.AF_INET6, '::1')
    except OSError:
        pytest.skip('no IPv6 loopback')
    port = server.getsockname()[1]

    async def main():
        return await _async_tcp.open_socket(
            asyncio.get_running_loop(), '::1', port, b'six')

    sock, sent = run(main())
    try:
        assert sock.family == socket.AF_INET6 and sent == 3
        conn, _ = server.accept()
        assert read_exactly(conn, 3) == b'six'
        conn.close()
    finally:
        sock.close()
        server.close()


@pytest.mark.parametrize('first', [b'', b'request'])
def test_refused_raises_and_leaks_no_socket(first):
    server = listener()
    port = server.getsockname()[1]
    server.close()  # nothing listens there now

    async def main():
        with pytest.raises(ConnectionRefusedError):
            await _async_tcp.open_socket(asyncio.get_running_loop(),
                                         '127.0.0.1', port, first)

    before = open_fds()
    run(main())
    assert open_fds() == before


def test_unresolvable_host_is_an_oserror():
    async def main():
        with pytest.raises(OSError):
            await _async_tcp.open_socket(asyncio.get_running_loop(),
                                         'no-such-host.invalid', 80, b'x')

    run(main())


def test_cancelled_while_connecting_closes_the_socket():
    server, fillers = full_listener()
    port = server.getsockname()[1]

    async def main():
        before = open_fds()
        opening = asyncio.ensure_future(_async_tcp.open_socket(
            asyncio.get_running_loop(), '127.0.0.1', port, b'x'))
        await asyncio.sleep(0.2)
        assert not opening.done()
        opening.cancel()
        with pytest.raises(asyncio.CancelledError):
            await opening
        assert open_fds() == before

    try:
        run(main())
    finally:
        for filler in fillers:
            filler.close()
        server.close()


def test_host_names_resolved_once_per_ttl(monkeypatch):
    """Every client of the process connects to the same few hosts: their
    addresses are asked for once per DNS_TTL (the default loop resolves in
    a thread of its executor)."""
    asked = []

    async def main():
        loop = asyncio.get_running_loop()
        real = loop.getaddrinfo

        async def counting(host, port, **kwargs):
            asked.append((host, port))
            return await real(host, port, **kwargs)

        monkeypatch.setattr(loop, 'getaddrinfo', counting)
        monkeypatch.setattr(_async_tcp, '_dns', {})
        first = await _async_tcp.resolve(loop, 'localhost', 8080)
        again = await _async_tcp.resolve(loop, 'localhost', 8080)
        assert first == again and len(asked) == 1
        assert await _async_tcp.resolve(loop, '127.0.0.1', 80) == \
            [(socket.AF_INET, ('127.0.0.1', 80))]
        assert len(asked) == 1  # a literal is not resolved
        # once expired, asked again
        monkeypatch.setattr(_async_tcp, 'DNS_TTL', -1.0)
        _async_tcp._dns.clear()
        await _async_tcp.resolve(loop, 'localhost', 8080)
        await _async_tcp.resolve(loop, 'localhost', 8080)
        assert len(asked) == 3

    try:
        run(main())
    except OSError:  # pragma: no cover
        pytest.skip('localhost does not resolve here')
