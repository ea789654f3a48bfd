"""The ``eventlet`` async mode: green threads, eventlet's queues, events
and sleep.

Imports only where eventlet is installed.  Everything the server waits on
is green (``eventlet.green.threading.Event``, ``eventlet.semaphore``, green
threads for background tasks and the one service task), so the mode works
with the standard library monkey-patched or not.  Serve with
``eventlet.wsgi.server``: WebSocket is our own
(:mod:`engineio._wsgi_websocket`) on ``environ['eventlet.input']
.get_socket()``, a green socket.  Recent gunicorn releases (27 here)
have no eventlet worker any more (``-k eventlet`` is not found); under
gunicorn, use its ``gevent`` worker and the ``gevent`` mode.

Eventlet itself is deprecated by its maintainers; prefer ``gevent`` or
``threading`` for new deployments.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import eventlet
from eventlet import patcher, queue
from eventlet.green.threading import Event
from eventlet.semaphore import Semaphore

from .._wsgi_websocket import WebSocket

__all__ = ['EventletThread', 'EventletWebSocket']


class EventletThread:
    """A green thread with the ``threading.Thread`` interface the server
    uses.  Not eventlet's own green ``Thread`` class, which leaks
    ``_DummyThread`` objects (python-engineio works around it the same
    way)."""

    def __init__(self, target: Any, args: Any = (),
                 kwargs: Optional[Dict[str, Any]] = None) -> None:
        self.target = target
        self.args = args
        self.kwargs = kwargs or {}
        self.name = 'engineio-task'
        self.green_thread: Any = None

    def start(self) -> None:
        self.green_thread = eventlet.spawn(self.target, *self.args,
                                           **self.kwargs)

    def join(self, timeout: Optional[float] = None) -> Any:
        """Wait for the task to end (at most ``timeout`` seconds) and
        return its result (None on timeout)."""
        if self.green_thread is None:
            return None
        with eventlet.Timeout(timeout, False):
            return self.green_thread.wait()
        return None

    def is_alive(self) -> bool:
        return self.green_thread is not None and \
            not self.green_thread.dead

    def is_current(self) -> bool:
        """Whether the caller runs in this green thread."""
        return eventlet.getcurrent() is self.green_thread


class EventletWebSocket(WebSocket):
    """Our WebSocket with a green write lock."""

    lock_class = Semaphore
    current_task = staticmethod(eventlet.getcurrent)


_async = {
    # the unpatched lock, for locks that are never held across a switch
    'plain_lock': patcher.original('_thread').allocate_lock,
    'thread': EventletThread,
    'queue': queue.Queue,
    'queue_empty': queue.Empty,
    'event': Event,
    'websocket': EventletWebSocket,
    'sleep': eventlet.sleep,
}
