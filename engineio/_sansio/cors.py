"""Cross-origin checks and response headers (REFERENCE §2.7).

``cors_allowed_origins``:

* ``None`` (default): same origin only, i.e. ``{scheme}://{Host}``, plus the
  ``X-Forwarded-Proto``/``X-Forwarded-Host`` variant (first comma element of
  each) when either header is present.
* ``'*'`` or a list containing ``'*'``: any origin.
* a str: that origin; a list: those origins.
* a callable: ``f(origin, environ)`` or, if that raises ``TypeError``,
  ``f(origin)``; truthy allows.  It is called at most once per request.
* ``[]``: CORS handling off: no origin check and no CORS header at all.

Headers (every response, errors included, as the reference's async server):
``Access-Control-Allow-Origin: <the Origin>`` when an Origin is present and
allowed (the literal ``*`` is never sent), ``Access-Control-Allow-Methods:
OPTIONS, GET, POST`` on ``OPTIONS``, ``Access-Control-Allow-Headers`` echoing
``Access-Control-Request-Headers``, ``Access-Control-Allow-Credentials:
true`` when ``cors_credentials``.
"""
from __future__ import annotations

from typing import Any, List, Optional, Tuple

from .requests import Request

__all__ = ['CorsPolicy']

Headers = List[Tuple[str, str]]

_ANY = 0
_SAME_ORIGIN = 1
_LISTED = 2
_CALLABLE = 3
_DISABLED = 4


class CorsPolicy:
    """The origin rules of one server, classified once at construction."""

    __slots__ = ('_kind', '_origins', '_callable', '_credentials',
                 'plain_headers')

    def __init__(self, cors_allowed_origins: Any, cors_credentials: bool):
        self._credentials = bool(cors_credentials)
        self._callable = None
        self._origins: Tuple[str, ...] = ()
        value = cors_allowed_origins
        if value is None:
            self._kind = _SAME_ORIGIN
        elif isinstance(value, str):
            if value == '*':
                self._kind = _ANY
            else:
                self._kind = _LISTED
                self._origins = (value,)
        elif callable(value):
            self._kind = _CALLABLE
            self._callable = value
        else:
            origins = tuple(value)
            if not origins:
                self._kind = _DISABLED
            elif '*' in origins:
                self._kind = _ANY
            else:
                self._kind = _LISTED
                self._origins = origins
        #: :meth:`headers` of a request without ``Origin`` and without
        #: ``Access-Control-Request-Headers`` that is not ``OPTIONS`` (most
        #: requests): the same for all, so built once.  Shared: responses
        #: copy it into their own header lists, nobody modifies it.
        self.plain_headers: Headers = [] if self._kind == _DISABLED or \
            not self._credentials else [
                ('Access-Control-Allow-Credentials', 'true')]

    @property
    def enabled(self) -> bool:
        """False when ``cors_allowed_origins == []``."""
        return self._kind != _DISABLED

    def origin_allowed(self, request: Request) -> bool:
        """Whether the request's ``Origin`` is acceptable (True when there is
        no Origin, or CORS handling is off).  A callable's exceptions other
        than the ``TypeError`` of the one-argument retry propagate: they are
        application bugs, for the glue to log."""
        origin = request.origin
        if origin is None:
            return True
        kind = self._kind
        if kind == _ANY or kind == _DISABLED:
            return True
        if kind == _LISTED:
            return origin in self._origins
        if kind == _SAME_ORIGIN:
            return origin in _same_origins(request)
        function = self._callable
        assert function is not None
        try:
            return bool(function(origin, request.environ))
        except TypeError:
            return bool(function(origin))

    def headers(self, request: Request, origin_allowed: bool) -> Headers:
        """The CORS headers for a response to ``request``;
        ``origin_allowed`` is the answer :meth:`origin_allowed` gave."""
        if self._kind == _DISABLED:
            return []
        headers: Headers = []
        if request.origin is not None and origin_allowed:
            headers.append(('Access-Control-Allow-Origin', request.origin))
        if request.method == 'OPTIONS':
            headers.append(('Access-Control-Allow-Methods',
                            'OPTIONS, GET, POST'))
        requested = request.cors_request_headers
        if requested:
            headers.append(('Access-Control-Allow-Headers', requested))
        if self._credentials:
            headers.append(('Access-Control-Allow-Credentials', 'true'))
        return headers


def _same_origins(request: Request) -> List[str]:
    host = request.host
    if host is None:
        return []
    origins = [request.scheme + '://' + host]
    forwarded_proto = request.forwarded_proto
    forwarded_host = request.forwarded_host
    if forwarded_proto is not None or forwarded_host is not None:
        scheme = (forwarded_proto or request.scheme).split(',')[0].strip()
        host = (forwarded_host or host).split(',')[0].strip()
        origins.append(scheme + '://' + host)
    return origins
