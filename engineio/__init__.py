"""Engine.IO server and client for Python, with compiled hot paths.

A drop-in replacement for python-engineio 4.x: ``import engineio``.
"""
from . import exceptions, json, packet, payload  # noqa: F401
from ._version import __version__
from .async_drivers.asgi import ASGIApp
from .async_server import AsyncServer
from .middleware import Middleware, WSGIApp
from .server import Server

__all__ = ['__version__', 'Server', 'WSGIApp', 'Middleware', 'AsyncServer',
           'ASGIApp']
