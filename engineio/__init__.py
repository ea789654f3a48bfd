"""Engine.IO server and client for Python, with compiled hot paths.

A drop-in replacement for python-engineio 4.x: ``import engineio``.
"""
from . import exceptions, json, packet, payload  # noqa: F401
from ._version import __version__
from .async_client import AsyncClient
from .async_drivers.asgi import ASGIApp
from .async_server import AsyncServer
from .client import Client
from .middleware import Middleware, WSGIApp
from .server import Server

try:  # None without tornado, as in python-engineio
    from .async_drivers.tornado import get_tornado_handler
except ImportError:
    get_tornado_handler = None  # type: ignore[assignment]


def run(eio: AsyncServer, host: str = '127.0.0.1', port: int = 5000,
        **options: object) -> None:
    """Serve ``eio`` (an ``AsyncServer``) on the embedded uvloop server
    until SIGINT/SIGTERM; options and docs in :mod:`engineio.embedded`
    (needs uvloop and httptools, imported only here)."""
    from .embedded import run as _run
    _run(eio, host, port, **options)


__all__ = ['__version__', 'run', 'Server', 'WSGIApp', 'Middleware', 'Client',
           'AsyncServer', 'ASGIApp', 'get_tornado_handler', 'AsyncClient']
