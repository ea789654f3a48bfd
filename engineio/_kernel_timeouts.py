"""Blocking sockets with the kernel's timeouts, where that is possible.

A Python socket with a timeout (``settimeout``) asks ``poll()`` before every
``recv`` and ``send``: two system calls for each.  A blocking socket with
``SO_RCVTIMEO``/``SO_SNDTIMEO`` makes one, and the kernel still bounds the
wait (the call then fails with ``EAGAIN``: an OSError).  Only for plain
sockets on Linux: the C socket type, which gevent's and eventlet's green
sockets wrap but are not (their waits must go through their hub), and not
TLS (``ssl`` needs its own non-blocking handling of a timed-out read or
write).  Used by our WebSocket on a WSGI server's socket and by the sync
client's WebSocket.
"""
from __future__ import annotations

import _socket
import socket
import ssl
import struct
import sys
from typing import Any, Optional

__all__ = ['use_kernel_timeouts']

_POSSIBLE = sys.platform.startswith('linux') and \
    hasattr(socket, 'SO_RCVTIMEO') and hasattr(socket, 'SO_SNDTIMEO')


def _timeval(seconds: Optional[float]) -> bytes:
    if not seconds:
        return struct.pack('ll', 0, 0)  # 0: no timeout
    whole = int(seconds)
    return struct.pack('ll', whole, int((seconds - whole) * 1000000))


def use_kernel_timeouts(sock: Any, read: Optional[float],
                        write: Optional[float]) -> bool:
    """Make ``sock`` blocking with ``read``/``write`` seconds as the
    kernel's timeouts (None or 0: none) and return True; False (``sock``
    untouched) where that is not possible: the caller keeps
    ``settimeout``."""
    if not _POSSIBLE or not isinstance(sock, _socket.socket) or \
            isinstance(sock, ssl.SSLSocket):
        return False
    for value in (read, write):
        if value is not None and value < 0:
            return False
    try:
        sock.settimeout(None)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(read))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO,
                        _timeval(write))
    except (OSError, struct.error, OverflowError):
        return False
    return True
