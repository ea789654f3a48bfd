"""Parsing one HTTP request into what the protocol needs from it.

The glue hands the core a method, the raw query string and the request
headers as a mapping of **lower-case** names to str values
(:func:`headers_from_environ` and :func:`headers_from_asgi` build it from
WSGI and ASGI); :func:`parse_request` turns them into a :class:`Request`.
Parsing never raises and never decides: a malformed value is recorded (for
example ``jsonp_index`` is ``INVALID``) and :mod:`engineio._sansio.server`
decides what to answer, in one ordered place.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, Mapping, Optional, Tuple
from urllib.parse import unquote_plus

__all__ = ['Request', 'parse_request', 'parse_query', 'headers_from_environ',
           'headers_from_asgi', 'INVALID', 'is_valid_header_value']

#: marks a query value that was present but malformed (``j=abc``)
INVALID = -1

# The headers the protocol looks at, in their WSGI spelling.  Copying only
# these keeps the WSGI conversion to a handful of dict lookups.
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


def headers_from_environ(environ: Mapping[str, Any]) -> Dict[str, str]:
    """The headers the core reads, from a WSGI ``environ``."""
    headers = {}
    for wsgi_name, name in _WSGI_HEADERS:
        value = environ.get(wsgi_name)
        if value:
            headers[name] = value
    return headers


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


def parse_query(query_string: str) -> Dict[str, str]:
    """``a=1&b=2`` to a dict; the first occurrence of a name wins (as the
    reference's ``parse_qs(...)[0]``).  Percent-decoding only runs on the
    pieces that need it, so the usual ``EIO=4&transport=polling&sid=...``
    costs one split per parameter."""
    query: Dict[str, str] = {}
    if not query_string:
        return query
    for part in query_string.split('&'):
        if not part:
            continue
        name, sep, value = part.partition('=')
        if '%' in part or '+' in part:
            name = unquote_plus(name)
            value = unquote_plus(value)
        if name not in query:
            query[name] = value
    return query


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

    ``method`` upper-case; ``query`` the parsed query; ``headers`` the
    lower-case header mapping the glue gave; ``scheme`` ``'http'`` or
    ``'https'``; ``environ`` the opaque object the glue passes to the
    ``connect`` handler and to a callable ``cors_allowed_origins``.
    Derived: ``transport`` (None when absent), ``sid`` (None when absent or
    empty), ``eio`` (the raw ``EIO`` value or None), ``jsonp_index`` (None,
    an int >= 0, or ``INVALID``), ``supports_binary`` (``b64`` absent),
    ``origin``, ``is_upgrade`` (``Upgrade: websocket``, case-insensitive).
    """

    __slots__ = ('method', 'query', 'headers', 'scheme', 'environ',
                 'transport', 'sid', 'eio', 'jsonp_index', 'supports_binary',
                 'origin', 'is_upgrade')

    method: str
    query: Dict[str, str]
    headers: Mapping[str, str]
    scheme: str
    environ: Any
    transport: Optional[str]
    sid: Optional[str]
    eio: Optional[str]
    jsonp_index: Optional[int]
    supports_binary: bool
    origin: Optional[str]
    is_upgrade: bool


def parse_request(method: str, query_string: str,
                  headers: Mapping[str, str], scheme: str = 'http',
                  environ: Any = None) -> Request:
    """Parse a request; never raises for any str input."""
    request = Request()
    request.method = method.upper()
    query = parse_query(query_string)
    request.query = query
    request.headers = headers
    request.scheme = scheme
    request.environ = environ
    request.transport = query.get('transport')
    request.sid = query.get('sid') or None
    request.eio = query.get('EIO')
    j = query.get('j')
    if j is None:
        request.jsonp_index = None
    elif j.isdigit() and j.isascii() and len(j) < 10:
        request.jsonp_index = int(j)
    else:
        request.jsonp_index = INVALID
    request.supports_binary = 'b64' not in query
    request.origin = headers.get('origin') or None
    upgrade = headers.get('upgrade')
    request.is_upgrade = upgrade is not None and \
        upgrade.lower() == 'websocket'
    return request
