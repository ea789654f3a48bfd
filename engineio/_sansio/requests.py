"""Parsing one HTTP request into what the protocol needs from it.

The glue hands the core a method, the raw query string and the request
headers as a mapping of **lower-case** names to str values
(:func:`headers_from_environ` and :func:`headers_from_asgi` build it from
WSGI and ASGI); :func:`parse_request` turns them into a :class:`Request`.
:func:`request_from_environ` builds the same :class:`Request` from a WSGI
``environ`` directly (the sync server's path: no intermediate mapping).
Parsing never raises and never decides: a malformed value is recorded (for
example ``jsonp_index`` is ``INVALID``) and :mod:`engineio._sansio.server`
decides what to answer, in one ordered place.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, Mapping, Optional, Tuple

# the query kernel, compiled or pure as engineio._speedups chose
from .._speedups import query as _query_kernel

__all__ = ['Request', 'parse_request', 'request_from_environ', 'parse_query',
           'headers_from_environ', 'headers_from_asgi', 'add_wsgi_headers',
           'INVALID',
           'is_valid_header_value', 'endpoint_prefix', 'is_endpoint']

#: marks a query value that was present but malformed (``j=abc``)
INVALID = _query_kernel.INVALID
#: ``a=1&b=2`` to a dict, the first occurrence of a name winning (the
#: reference's ``parse_qs(...)[0]``); requests do not build it (see
#: :class:`Request`)
parse_query = _query_kernel.parse_query
_engineio_query = _query_kernel.engineio_query

# The headers the protocol looks at, in their WSGI spelling, with the name
# of the Request attribute that holds each (request_from_environ and
# parse_request fill them).
_WSGI_HEADERS = (
    ('HTTP_ORIGIN', 'origin'),
    ('HTTP_HOST', 'host'),
    ('HTTP_UPGRADE', 'upgrade'),
    ('HTTP_ACCEPT_ENCODING', 'accept-encoding'),
    ('HTTP_ACCESS_CONTROL_REQUEST_HEADERS', 'access-control-request-headers'),
    ('CONTENT_TYPE', 'content-type'),
    ('CONTENT_LENGTH', 'content-length'),
    ('HTTP_X_FORWARDED_PROTO', 'x-forwarded-proto'),
    ('HTTP_X_FORWARDED_HOST', 'x-forwarded-host'),
)


def endpoint_prefix(engineio_path: Optional[str]) -> Optional[str]:
    """``engineio_path`` as the WSGIApp/ASGIApp option gives it, normalised
    to a leading and a trailing ``/`` (``None``, for ASGIApp: every path)."""
    if engineio_path is None:
        return None
    if not engineio_path.startswith('/'):
        engineio_path = '/' + engineio_path
    if not engineio_path.endswith('/'):
        engineio_path += '/'
    return engineio_path


def is_endpoint(path: str, prefix: Optional[str]) -> bool:
    """Whether request ``path`` goes to Engine.IO: it is under ``prefix``,
    with or without the trailing slash (``/engine.io`` is the endpoint
    too); a ``None`` prefix takes every path."""
    if prefix is None:
        return True
    if not path.endswith('/'):
        path += '/'
    return path.startswith(prefix)


def headers_from_environ(environ: Mapping[str, Any]) -> Dict[str, str]:
    """The headers the core reads, from a WSGI ``environ`` (empty values
    left out).  The sync server skips this mapping: it builds its requests
    with :func:`request_from_environ`."""
    headers = {}
    for wsgi_name, name in _WSGI_HEADERS:
        value = environ.get(wsgi_name)
        if value:
            headers[name] = value
    return headers


def add_wsgi_headers(environ: Dict[str, Any],
                     headers: Iterable[Tuple[str, str]]) -> None:
    """Put HTTP ``headers`` (name, value pairs as str) into a WSGI-style
    ``environ`` as WSGI names them: ``CONTENT_TYPE``, ``CONTENT_LENGTH``,
    else ``HTTP_<NAME>``, repeated headers joined with ``,``.  The asyncio
    drivers build the environ the handlers see with it."""
    for name, value in headers:
        name = name.upper()
        if name == 'CONTENT-TYPE':
            environ['CONTENT_TYPE'] = value
            continue
        if name == 'CONTENT-LENGTH':
            environ['CONTENT_LENGTH'] = value
            continue
        key = 'HTTP_' + name.replace('-', '_')
        if key in environ:
            value = environ[key] + ',' + value
        environ[key] = value


def headers_from_asgi(raw: Iterable[Tuple[bytes, bytes]]) -> Dict[str, str]:
    """The headers of an ASGI scope (``scope['headers']``, lower-case byte
    names), decoded as latin-1 as HTTP/1.1 defines.  Repeated headers are
    joined with ``, `` (RFC 9110 §5.3)."""
    headers: Dict[str, str] = {}
    for name, value in raw:
        key = name.decode('latin-1').lower()
        text = value.decode('latin-1')
        if key in headers:
            headers[key] += ', ' + text
        else:
            headers[key] = text
    return headers


def is_valid_header_value(value: str) -> bool:
    """Whether ``value`` may be echoed in a response header: no control
    character other than tab, no DEL (the JavaScript server's
    ``checkInvalidHeaderChar``).  Echoing such an ``Origin`` would let a
    client inject headers."""
    for char in value:
        code = ord(char)
        if (code < 32 and code != 9) or code == 127:
            return False
    return True


class Request:
    """One parsed request (plain attributes, no behaviour).

    ``method`` upper-case; ``query_string`` the raw query (``query`` parses
    it into a dict on demand: the core only needs the fields below, so a
    request does not build the dict); ``scheme`` ``'http'`` or ``'https'``;
    ``environ`` the opaque object the glue passes to the ``connect`` handler
    and to a callable ``cors_allowed_origins``.  Derived: ``transport``
    (None when absent), ``sid`` (None when absent or empty), ``eio`` (the
    raw ``EIO`` value or None), ``jsonp_index`` (None, an int >= 0, or
    ``INVALID``), ``supports_binary`` (``b64`` absent), ``origin`` (None
    when absent or empty), ``is_upgrade`` (``Upgrade: websocket``,
    case-insensitive).

    The other headers the protocol reads, as their str values or None when
    absent: ``host``, ``accept_encoding``, ``cors_request_headers``
    (``Access-Control-Request-Headers``), ``content_type``,
    ``content_length``, ``forwarded_proto`` and ``forwarded_host``
    (``X-Forwarded-Proto``/``-Host``).  They are attributes rather than a
    mapping so that a WSGI request copies them straight from the environ.
    """

    __slots__ = ('method', 'query_string', 'scheme', 'environ', 'transport',
                 'sid', 'eio', 'jsonp_index', 'supports_binary', 'origin',
                 'is_upgrade', 'host', 'accept_encoding',
                 'cors_request_headers', 'content_type', 'content_length',
                 'forwarded_proto', 'forwarded_host')

    method: str
    query_string: str
    scheme: str
    environ: Any
    transport: Optional[str]
    sid: Optional[str]
    eio: Optional[str]
    jsonp_index: Optional[int]
    supports_binary: bool
    origin: Optional[str]
    is_upgrade: bool
    host: Optional[str]
    accept_encoding: Optional[str]
    cors_request_headers: Optional[str]
    content_type: Optional[str]
    content_length: Optional[str]
    forwarded_proto: Optional[str]
    forwarded_host: Optional[str]

    @property
    def query(self) -> Dict[str, str]:
        """The whole query as a dict (:func:`parse_query`), built on each
        read: nothing on the request path needs it."""
        return parse_query(self.query_string)


def _new_request(method: str, query_string: str, scheme: str,
                 environ: Any) -> Request:
    # The request line's part of parse_request and request_from_environ.
    request = Request()
    # upper() only for a method that is not already upper-case
    request.method = method if method == 'POST' or method == 'GET' \
        else method.upper()
    request.scheme = scheme
    request.environ = environ
    request.query_string = query_string
    (request.transport, request.sid, request.eio, request.jsonp_index,
     request.supports_binary) = _engineio_query(query_string)
    return request


def parse_request(method: str, query_string: str,
                  headers: Mapping[str, str], scheme: str = 'http',
                  environ: Any = None) -> Request:
    """Parse a request whose headers come as a mapping of lower-case names
    (see the module docstring); never raises for any str input."""
    request = _new_request(method, query_string, scheme, environ)
    get = headers.get
    request.origin = get('origin') or None
    upgrade = get('upgrade')
    request.is_upgrade = upgrade is not None and \
        upgrade.lower() == 'websocket'
    request.host = get('host')
    request.accept_encoding = get('accept-encoding')
    request.cors_request_headers = get('access-control-request-headers')
    request.content_type = get('content-type')
    request.content_length = get('content-length')
    request.forwarded_proto = get('x-forwarded-proto')
    request.forwarded_host = get('x-forwarded-host')
    return request


class _EnvironRequest(Request):
    """A :class:`Request` read from a WSGI ``environ``.  What only some
    requests need (the scheme and the headers of the same-origin check, a
    poll's ``Accept-Encoding``) is looked up in the environ when read
    rather than copied for every request."""

    __slots__ = ()

    @property
    def scheme(self) -> str:  # type: ignore[override]
        return self.environ.get('wsgi.url_scheme', 'http')

    @property
    def host(self) -> Optional[str]:  # type: ignore[override]
        return self.environ.get('HTTP_HOST') or None

    @property
    def accept_encoding(self) -> Optional[str]:  # type: ignore[override]
        return self.environ.get('HTTP_ACCEPT_ENCODING') or None

    @property
    def forwarded_proto(self) -> Optional[str]:  # type: ignore[override]
        return self.environ.get('HTTP_X_FORWARDED_PROTO') or None

    @property
    def forwarded_host(self) -> Optional[str]:  # type: ignore[override]
        return self.environ.get('HTTP_X_FORWARDED_HOST') or None


def request_from_environ(environ: Mapping[str, Any]) -> Request:
    """Parse a WSGI request straight from its ``environ``: what
    ``parse_request`` gives for ``headers_from_environ(environ)`` (empty
    header values count as absent), without building that mapping."""
    get = environ.get
    request = _EnvironRequest()
    method = get('REQUEST_METHOD', 'GET')
    # upper() only for a method that is not already upper-case
    request.method = method if method == 'POST' or method == 'GET' \
        else method.upper()
    request.environ = environ
    query_string = request.query_string = get('QUERY_STRING', '')
    (request.transport, request.sid, request.eio, request.jsonp_index,
     request.supports_binary) = _engineio_query(query_string)
    request.origin = get('HTTP_ORIGIN') or None
    upgrade = get('HTTP_UPGRADE')
    request.is_upgrade = upgrade is not None and \
        upgrade.lower() == 'websocket'
    request.cors_request_headers = \
        get('HTTP_ACCESS_CONTROL_REQUEST_HEADERS') or None
    request.content_type = get('CONTENT_TYPE') or None
    request.content_length = get('CONTENT_LENGTH') or None
    return request
