"""``WSGIApp`` (and its deprecated alias ``Middleware``): routing for WSGI.

Requests under ``engineio_path`` go to the Engine.IO server; others are
served from ``static_files`` (see :mod:`engineio.static_files`), passed to
``wsgi_app``, or answered ``404 Not Found``.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Optional

from ._sansio.requests import endpoint_prefix, is_endpoint
from .static_files import get_static_file

__all__ = ['WSGIApp', 'Middleware']


class _SocketInput:
    """``environ['eventlet.input']`` stand-in exposing gunicorn's socket
    through ``get_socket()``, as the reference provides."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket

    def get_socket(self) -> Any:
        return self.socket


def _unicode_path(path: str) -> str:
    """``PATH_INFO`` as the client wrote it: WSGI (PEP 3333) hands over
    the URL's bytes decoded as latin-1, while file names are UTF-8."""
    try:
        return path.encode('latin-1').decode('utf-8')
    except UnicodeError:
        return path  # not latin-1 (a lenient server) or not UTF-8


class WSGIApp:
    """A WSGI application that serves Engine.IO, static files, and
    optionally another WSGI application.

    ``engineio_app``: an ``engineio.Server``; ``wsgi_app``: where other
    requests go; ``static_files``: see :mod:`engineio.static_files`;
    ``engineio_path``: the endpoint (normalised to a leading and trailing
    ``/``).  Anything else is answered ``404 Not Found``.
    """

    def __init__(self, engineio_app: Any, wsgi_app: Any = None,
                 static_files: Optional[Dict[str, Any]] = None,
                 engineio_path: str = 'engine.io') -> None:
        self.engineio_app = engineio_app
        self.wsgi_app = wsgi_app
        self.engineio_path = endpoint_prefix(engineio_path)
        self.static_files = static_files or {}

    def __call__(self, environ: Dict[str, Any],
                 start_response: Callable[..., Any]) -> Any:
        if 'gunicorn.socket' in environ and 'eventlet.input' not in environ:
            environ['eventlet.input'] = _SocketInput(
                environ['gunicorn.socket'])
        path = environ.get('PATH_INFO') or '/'
        if is_endpoint(path, self.engineio_path):
            return self.engineio_app.handle_request(environ, start_response)
        if self.static_files:
            static_file = get_static_file(_unicode_path(path),
                                          self.static_files)
            if static_file is not None and \
                    os.path.isfile(static_file['filename']):
                try:
                    with open(static_file['filename'], 'rb') as f:
                        payload = f.read()
                except OSError:
                    return self.not_found(start_response)
                start_response('200 OK', [
                    ('Content-Type', static_file['content_type']),
                    ('Content-Length', str(len(payload)))])
                return [payload]
        if self.wsgi_app is not None:
            return self.wsgi_app(environ, start_response)
        return self.not_found(start_response)

    def not_found(self, start_response: Callable[..., Any]) -> List[bytes]:
        """404 Not Found, text/plain."""
        start_response('404 Not Found', [('Content-Type', 'text/plain'),
                                         ('Content-Length', '9')])
        return [b'Not Found']


class Middleware(WSGIApp):
    """Deprecated: the former name of :class:`WSGIApp` (no static files)."""

    def __init__(self, engineio_app: Any, wsgi_app: Any = None,
                 engineio_path: str = 'engine.io') -> None:
        super().__init__(engineio_app, wsgi_app, engineio_path=engineio_path)
