"""The embedded server: an ``engineio.AsyncServer`` served straight from an
asyncio ``Protocol`` on uvloop, without an ASGI server in between.

Public entry points are in :mod:`engineio.embedded`; this package holds the
parts, each small:

* :mod:`.server`: :class:`EmbeddedServer` (listening, the write batch of each
  loop iteration, graceful shutdown) and the driver functions that let the
  generic ``AsyncServer`` paths read a body or wait for a client here;
* :mod:`.http`: one HTTP/1.1 connection (httptools), its limits and
  timeouts, and the Engine.IO polling fast path;
* :mod:`.websocket`: one WebSocket connection on our framing kernels
  (:mod:`engineio._speedups`), the Engine.IO WebSocket fast path, and the
  generic ``ws`` object for a patched ``AsyncSocket._websocket_handler``;
* :mod:`.asgi_bridge`: a small ASGI bridge so that another ASGI application
  (Starlette, ...) can share the port for plain HTTP requests.

Every protocol decision is :class:`engineio._sansio.ServerCore`'s: this
package parses HTTP and WebSocket frames, calls the core and writes what it
answers, exactly as the ASGI driver does, minus the ASGI messages, the
coroutine per message and the task per connection.

Needs ``httptools`` and ``uvloop`` (CPython); importing it without them
raises ImportError saying so.
"""
from __future__ import annotations

try:
    import httptools  # noqa: F401
    import uvloop  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        'engineio.embedded needs the httptools and uvloop packages '
        '(CPython only): pip install httptools uvloop (missing: %s)'
        % (exc.name or exc)) from exc

from .server import EmbeddedServer, run, serve  # noqa: E402

__all__ = ['EmbeddedServer', 'run', 'serve']
