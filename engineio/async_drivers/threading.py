"""The ``threading`` async mode: standard-library threads, queues, events.

Needs nothing beyond the standard library.  WebSocket is our own
(:mod:`engineio._wsgi_websocket`) on the raw socket that werkzeug, gunicorn
or eventlet expose in the WSGI environ.  Background tasks are daemon
threads, so that they never keep the process alive on their own.
"""
from __future__ import annotations

import queue
import threading
import time
from typing import Any

from .._wsgi_websocket import WebSocket

__all__ = ['DaemonThread']


class DaemonThread(threading.Thread):
    """A ``threading.Thread`` that is always a daemon."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs['daemon'] = True
        super().__init__(*args, **kwargs)

    def is_current(self) -> bool:
        """Whether the caller runs in this thread (the server does not
        join its service thread from inside it)."""
        return threading.current_thread() is self


_async = {
    'plain_lock': threading.Lock,
    'thread': DaemonThread,
    'queue': queue.Queue,
    'queue_empty': queue.Empty,
    'event': threading.Event,
    'websocket': WebSocket,
    'sleep': time.sleep,
}
