"""Our own asyncio HTTP/1.1 client, for ``AsyncClient``'s polling transport.

``AsyncClient`` long-polls with two requests at most in flight (a GET held
by the server, a POST of queued packets).  aiohttp's ``ClientSession`` costs
more per request than the whole Engine.IO exchange (a connector, a timer
context, ``ClientResponse``, a ``StreamReader``, yarl URLs); this client
does what aiohttp's default session did for python-engineio with one
``asyncio.Protocol`` per connection and nothing else:

* keep-alive connections per origin (scheme, host, port), one request at a
  time on each (no pipelining), up to :data:`MAX_IDLE` idle ones kept per
  origin; :meth:`HTTPClient.take_connection` hands an idle one to the
  WebSocket upgrade, so the upgrade needs no new TCP/TLS connection;
* a new connection's first request goes out with the connect
  (:func:`engineio._async_tcp.open_socket`: no wait for writability when
  the kernel connected at once); what a URL's origin means, the lines of a
  caller's headers and resolved host names (:data:`DNS_TTL`) are cached
  for every client of the process (each ``AsyncClient`` has its own
  ``HTTPClient``);
* the answer parsed in ``data_received`` with ``bytes.find``: a bounded
  head (:data:`MAX_HEAD`), 1xx answers skipped, a body by
  ``Content-Length``, chunked (extensions and trailers, bounded size lines)
  or until the connection closes; gzip and deflate (zlib or raw) undone
  with a bound: the body, compressed or not, may not exceed ``max_body``;
* redirects as aiohttp follows them (at most :data:`MAX_REDIRECTS`);
* a cookie jar (``Set-Cookie`` with ``Max-Age``/``Expires``, ``Domain``,
  ``Path``, ``Secure``).  Unlike aiohttp's default jar, cookies from hosts
  that are IP addresses are kept: python-engineio's sync client (requests)
  keeps them, and sticky load balancers addressed by IP rely on them;
* one ``loop.call_later`` timer per request for its whole timeout
  (connecting, TLS, sending, the whole answer), which cancels the request's
  task when it fires (``asyncio.wait_for`` would cost a task per request).

Every failure of a request is an :class:`HTTPError` (:class:`HTTPTimeout`,
:class:`HTTPTooLarge`); a bad URL or header from the caller is a
ValueError; a cancelled caller gets CancelledError.  A connection that
failed, timed out or was cancelled is never reused.
"""
from __future__ import annotations

import asyncio
import base64
import email.utils
import ipaddress
import ssl
import sys
import time
import urllib.parse
import zlib
from http.cookies import CookieError, SimpleCookie
from typing import (Any, Callable, Dict, List, Optional, Set, Tuple)

from . import _async_tcp as _tcp
from ._version import __version__

__all__ = ['HTTPError', 'HTTPTimeout', 'HTTPTooLarge', 'HTTPClient',
           'MAX_HEAD', 'MAX_IDLE', 'MAX_REDIRECTS']

#: an answer's head (status line and headers) may not be longer
MAX_HEAD = 65536
#: idle keep-alive connections kept per origin
MAX_IDLE = 4
#: a request is given up on the 10th redirect, as aiohttp does
MAX_REDIRECTS = 10
#: a chunk-size line (with its extensions) may not be longer
MAX_CHUNK_LINE = 4096
#: an idle connection older than this is closed rather than reused (the
#: server has likely closed it already: aiohttp's keepalive_timeout)
IDLE_TIMEOUT = 15.0
#: seconds a host name's resolved addresses are reused (aiohttp's default
#: DNS cache time; the cache is engineio._async_tcp's)
DNS_TTL = _tcp.DNS_TTL
DEFAULT_USER_AGENT = 'Python/%d.%d engineio/%s' % (
    sys.version_info[0], sys.version_info[1], __version__)

_DEFAULT_PORTS = {'http': 80, 'https': 443, 'ws': 80, 'wss': 443}
_SECURE = {'http': False, 'ws': False, 'https': True, 'wss': True}
_REDIRECTS = frozenset([301, 302, 303, 307, 308])
#: characters left as they are when a request target must be quoted
_TARGET_SAFE = "!$&'()*+,;=:@/?%-._~[]"
_URL_CACHE_SIZE = 256
_HAS_UNCANCEL = sys.version_info >= (3, 11)

# parser states of a connection
_IDLE, _HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS, \
    _UNTIL_CLOSE = range(8)


class HTTPError(Exception):
    """An HTTP request failed; the message says why."""


class HTTPTimeout(HTTPError):
    """No whole answer arrived within the request's timeout."""


class HTTPTooLarge(HTTPError):
    """The answer's body (after decompression) is longer than ``max_body``."""


class _StaleConnection(HTTPError):
    """A reused connection was closed by the server before any byte of the
    answer: the request may be sent again on a new one (GET only)."""


class _Origin:
    """What a ``scheme://netloc`` prefix means, worked out once (the client
    keeps these in a small dict: no ``urlsplit`` per request)."""

    __slots__ = ('key', 'scheme', 'secure', 'host', 'port', 'is_ip',
                 'host_header', 'authorization', 'fixed')

    def __init__(self, scheme: str, netloc: str, user_agent: str) -> None:
        parsed = urllib.parse.urlsplit(scheme + '://' + netloc)
        try:
            port = parsed.port
            host = parsed.hostname
        except ValueError as exc:
            raise ValueError('Invalid URL %r: %s'
                             % (scheme + '://' + netloc, exc)) from None
        if not host:
            raise ValueError('Invalid URL %r: no host'
                             % (scheme + '://' + netloc))
        if not host.isascii():
            try:
                host = host.encode('idna').decode('ascii')
            except UnicodeError as exc:
                raise ValueError('Invalid host %r: %s' % (host, exc)) \
                    from None
        for char in host:
            if char in '\r\n\t\0 /\\':
                raise ValueError('Invalid host %r' % host)
        self.scheme = scheme
        self.secure = _SECURE[scheme]
        self.host = host
        self.port = port or _DEFAULT_PORTS[scheme]
        self.key: Tuple[bool, str, int] = (self.secure, host, self.port)
        try:
            ipaddress.ip_address(host)
            self.is_ip = True
        except ValueError:
            self.is_ip = False
        bracketed = '[%s]' % host if ':' in host else host
        self.host_header = bracketed if port is None or \
            port == _DEFAULT_PORTS[scheme] else '%s:%d' % (bracketed, port)
        self.authorization: Optional[str] = None
        if parsed.username is not None:
            credentials = '%s:%s' % (urllib.parse.unquote(parsed.username),
                                     urllib.parse.unquote(
                                         parsed.password or ''))
            self.authorization = 'Basic ' + base64.b64encode(
                credentials.encode('utf-8')).decode('ascii')
        # the headers of a request without caller headers, ready to join
        self.fixed = 'Host: %s\r\nUser-Agent: %s\r\nAccept: */*\r\n' \
            'Accept-Encoding: gzip, deflate\r\n' % (self.host_header,
                                                     user_agent)
        if self.authorization:
            self.fixed += 'Authorization: %s\r\n' % self.authorization


#: (scheme, netloc, user agent) -> _Origin (immutable once made)
_origins: Dict[Tuple[str, str, str], _Origin] = {}
#: a caller's headers -> their request lines, names, Cookie value
_header_cache: Dict[Any, Tuple[str, Set[str], Optional[str]]] = {}


class _Cookie:
    __slots__ = ('name', 'value', 'domain', 'host_only', 'path', 'secure',
                 'expires')

    def __init__(self, name: str, value: str, domain: str, host_only: bool,
                 path: str, secure: bool, expires: Optional[float]) -> None:
        self.name = name
        self.value = value
        self.domain = domain
        self.host_only = host_only
        self.path = path
        self.secure = secure
        self.expires = expires

    def matches(self, host: str, path: str, secure: bool) -> bool:
        if self.secure and not secure:
            return False
        if self.host_only:
            if host != self.domain:
                return False
        elif host != self.domain and not host.endswith('.' + self.domain):
            return False
        cookie_path = self.path
        if cookie_path == '/' or path == cookie_path:
            return True
        return path.startswith(cookie_path) and (
            cookie_path[-1] == '/' or path[len(cookie_path)] == '/')


def _split_url(url: str) -> Tuple[str, str, str]:
    """``(scheme, netloc, target)`` of an absolute URL, without urlsplit on
    the usual URLs; ValueError for a URL that is not http(s)/ws(s)."""
    if not isinstance(url, str):
        raise ValueError('Invalid URL %r' % (url,))
    start = url.find('://')
    if start <= 0:
        raise ValueError('Invalid URL %r: not absolute' % url)
    scheme = url[:start]
    if scheme not in _SECURE:
        scheme = scheme.lower()
        if scheme not in _SECURE:
            raise ValueError('Unsupported URL scheme in %r' % url)
    end = url.find('/', start + 3)
    if end < 0:
        end = len(url)
    netloc = url[start + 3:end]
    if '?' in netloc or '#' in netloc:
        parsed = urllib.parse.urlsplit(url)
        netloc = parsed.netloc
        target = (parsed.path or '/') + ('?' + parsed.query
                                         if parsed.query else '')
    else:
        target = url[end:] or '/'
        hash_at = target.find('#')
        if hash_at >= 0:
            target = target[:hash_at] or '/'
    if not (target.isascii() and target.isprintable()) or ' ' in target:
        # what aiohttp/yarl would send: spaces, controls and non-ASCII
        # characters percent-encoded
        target = urllib.parse.quote(target, safe=_TARGET_SAFE)
    return scheme, netloc, target


def _header_lines(headers: Dict[str, Any]
                  ) -> Tuple[str, Set[str], Optional[str]]:
    """The caller's headers as request lines (but ``Cookie``, merged with
    the jar's later), their lower-cased names, and the ``Cookie`` value;
    ValueError for a name or value that would inject headers."""
    lines = []
    names = set()
    cookie = None
    for name, value in headers.items():
        name = str(name)
        value = str(value)
        if not name or ':' in name or not name.isprintable() or \
                ' ' in name or '\r' in value or '\n' in value or \
                '\0' in value:
            raise ValueError('Invalid HTTP header %r: %r' % (name, value))
        lower = name.lower()
        names.add(lower)
        if lower == 'cookie':
            cookie = value if cookie is None else cookie + '; ' + value
        else:
            lines.append('%s: %s\r\n' % (name, value))
    return ''.join(lines), names, cookie


def _is_number(text: str) -> bool:
    return text.isdigit() and text.isascii()


def _parse_head(head: bytes) -> Tuple[int, bool, Dict[str, str],
                                      List[str]]:
    """``(status, HTTP/1.1?, headers, set-cookie values)`` of an answer's
    head (without its blank line).  Names are lower-cased; repeated headers
    are joined with ``', '``.  HTTPError for what is not HTTP/1.x."""
    lines = head.decode('latin-1').split('\r\n')
    status_line = lines[0]
    if status_line[:7] != 'HTTP/1.' or status_line[8:9] != ' ' or \
            status_line[7] not in '01' or not status_line[9:12].isdigit() \
            or status_line[12:13] not in ('', ' '):
        raise HTTPError('malformed HTTP status line %r' % status_line[:80])
    headers: Dict[str, str] = {}
    cookies: List[str] = []
    for line in lines[1:]:
        name, sep, value = line.partition(':')
        if not sep or not name or name[-1] in ' \t' or name[0] in ' \t':
            raise HTTPError('malformed HTTP header %r' % line[:80])
        name = name.lower()
        value = value.strip(' \t')
        if name == 'set-cookie':
            cookies.append(value)
        elif name in headers:
            headers[name] += ', ' + value
        else:
            headers[name] = value
    return int(status_line[9:12]), status_line[7] == '1', headers, cookies


class _Connection(asyncio.Protocol):
    """One keep-alive connection and the parser of its answers.

    ``waiter`` is the future of the request in flight: its result is
    ``(status, headers, set-cookie values, body)``, or an HTTPError.  When
    an answer is complete the connection goes back to its client's pool
    itself (or is closed), before the request's task resumes.
    """

    __slots__ = ('client', 'origin', 'transport', 'waiter', 'state',
                 'buffer', 'received', 'reused', 'lost', 'head_request',
                 'status', 'http11', 'headers', 'cookies', 'keep_alive',
                 'body', 'size', 'remaining', 'decoder', 'encoding',
                 'raw_size', 'max_body', 'idle_since', 'trailers')

    def __init__(self, client: HTTPClient, origin: _Origin) -> None:
        self.client: Optional[HTTPClient] = client
        self.origin = origin
        self.transport: Any = None
        self.waiter: Optional[asyncio.Future[Any]] = None
        self.state = _IDLE
        self.buffer = b''
        self.received = False
        self.reused = False
        self.lost = False
        self.head_request = False
        self.max_body = client.max_body
        self.idle_since = 0.0
        self.decoder: Any = None
        self._reset_answer()

    def _reset_answer(self) -> None:
        self.status = 0
        self.http11 = True
        self.headers: Dict[str, str] = {}
        self.cookies: List[str] = []
        self.keep_alive = True
        self.body: List[bytes] = []
        self.size = 0
        self.raw_size = 0
        self.remaining = 0
        self.decoder = None
        self.encoding = ''
        self.trailers = 0

    # -- the request ---------------------------------------------------------

    def start(self, request: bytes, head_request: bool) -> asyncio.Future[Any]:
        """Send ``request`` and return the future of its answer."""
        waiter = self.expect(head_request)
        self.transport.write(request)
        return waiter

    def expect(self, head_request: bool) -> asyncio.Future[Any]:
        """The future of the answer to a request sent (or being sent)
        now."""
        waiter = self.client._loop.create_future()  # type: ignore
        self.waiter = waiter
        self.state = _HEAD
        self.received = False
        self.head_request = head_request
        return waiter

    def abort(self) -> None:
        """Drop the connection (timeout, cancellation, a failure)."""
        self.lost = True
        self.state = _IDLE
        self.waiter = None
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, exc: Exception) -> None:
        waiter = self.waiter
        self.waiter = None
        self.state = _IDLE
        self.lost = True
        if self.transport is not None:
            self.transport.abort()
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    # -- asyncio.Protocol ---------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self._closed_by_peer(exc)

    def eof_received(self) -> bool:
        self._closed_by_peer(None)
        return False

    def _closed_by_peer(self, exc: Optional[Exception]) -> None:
        was_lost = self.lost
        self.lost = True
        client = self.client
        if self.state == _IDLE:
            if client is not None and not was_lost:
                client._forget(self)
            return
        if self.state == _UNTIL_CLOSE and exc is None:
            try:
                self._complete(b'')
            except HTTPError as error:
                self._fail(error)
            return
        if not self.received and self.reused:
            self._fail(_StaleConnection(
                'the server closed the kept-alive connection'))
        elif self.state == _HEAD:
            self._fail(HTTPError('connection closed before the answer%s'
                                 % (': %s' % exc if exc else '')))
        else:
            self._fail(HTTPError('connection closed before the end of the '
                                 'body%s' % (': %s' % exc if exc else '')))

    def data_received(self, data: bytes) -> None:
        if self.state == _IDLE:
            # nothing is asked: bytes now mean a confused server
            if self.transport is not None and self.client is not None:
                self.lost = True
                self.client._forget(self)
                self.transport.abort()
            return
        self.received = True
        if self.buffer:
            data = self.buffer + data
            self.buffer = b''
        try:
            self._feed(data)
        except HTTPError as exc:
            self._fail(exc)

    # -- parsing -------------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        while True:
            state = self.state
            if state == _HEAD:
                end = data.find(b'\r\n\r\n')
                if end < 0:
                    if len(data) > MAX_HEAD:
                        raise HTTPError('HTTP answer head longer than %d '
                                        'bytes' % MAX_HEAD)
                    self.buffer = data
                    return
                if end > MAX_HEAD:
                    raise HTTPError('HTTP answer head longer than %d bytes'
                                    % MAX_HEAD)
                status, http11, headers, cookies = _parse_head(data[:end])
                data = data[end + 4:]
                if status < 200:
                    if status == 101:
                        raise HTTPError('the server switched protocols '
                                        'unasked')
                    continue  # an interim answer: the real one follows
                self._begin_body(status, http11, headers, cookies)
                if self.state == _IDLE:  # complete (no body)
                    return self._complete(data)
            elif state == _LENGTH:
                remaining = self.remaining
                if len(data) < remaining:
                    self.remaining = remaining - len(data)
                    if data:
                        self._add(data)
                    return
                self._add(data[:remaining] if len(data) > remaining
                          else data)
                return self._complete(data[remaining:])
            elif state == _CHUNK_SIZE:
                end = data.find(b'\r\n')
                if end < 0:
                    if len(data) > MAX_CHUNK_LINE:
                        raise HTTPError('chunk size line too long')
                    self.buffer = data
                    return
                if end > MAX_CHUNK_LINE:
                    raise HTTPError('chunk size line too long')
                size_text = data[:end].split(b';', 1)[0].strip(b' \t')
                try:
                    if not size_text or size_text[:1] in b'+-' or \
                            b'_' in size_text:
                        raise ValueError(size_text)
                    size = int(size_text, 16)
                except ValueError:
                    raise HTTPError('bad chunk size %r'
                                    % data[:min(end, 40)]) from None
                data = data[end + 2:]
                if size == 0:
                    self.state = _TRAILERS
                else:
                    if self.raw_size + size > self.max_body:
                        raise HTTPTooLarge('HTTP answer longer than %d bytes'
                                           % self.max_body)
                    self.remaining = size
                    self.state = _CHUNK_DATA
            elif state == _CHUNK_DATA:
                remaining = self.remaining
                if len(data) <= remaining:
                    self.remaining = remaining - len(data)
                    if data:
                        self._add(data)
                    if self.remaining:
                        return
                    self.state = _CHUNK_END
                    return
                self._add(data[:remaining])
                data = data[remaining:]
                self.state = _CHUNK_END
            elif state == _CHUNK_END:
                if len(data) < 2:
                    if data and data != b'\r':
                        raise HTTPError('bad chunk ending')
                    self.buffer = data
                    return
                if data[:2] != b'\r\n':
                    raise HTTPError('bad chunk ending')
                data = data[2:]
                self.state = _CHUNK_SIZE
            elif state == _TRAILERS:
                end = data.find(b'\r\n')
                if end < 0:
                    if self.trailers + len(data) > MAX_HEAD:
                        raise HTTPError('HTTP trailers longer than %d bytes'
                                        % MAX_HEAD)
                    self.buffer = data
                    return
                self.trailers += end + 2
                if self.trailers > MAX_HEAD:
                    raise HTTPError('HTTP trailers longer than %d bytes'
                                    % MAX_HEAD)
                line = data[:end]
                data = data[end + 2:]
                if not line:
                    return self._complete(data)
                if b':' not in line:
                    raise HTTPError('malformed HTTP trailer %r' % line[:80])
            elif state == _UNTIL_CLOSE:
                if data:
                    self._add(data)
                return
            else:  # pragma: no cover (_IDLE: handled by data_received)
                return

    def _begin_body(self, status: int, http11: bool, headers: Dict[str, str],
                    cookies: List[str]) -> None:
        self.status = status
        self.http11 = http11
        self.headers = headers
        self.cookies = cookies
        connection = headers.get('connection')
        if connection is not None:
            connection = connection.lower()
            self.keep_alive = 'close' not in connection and (
                http11 or 'keep-alive' in connection)
        else:
            self.keep_alive = http11
        encoding = headers.get('content-encoding')
        if encoding is not None:
            encoding = encoding.strip().lower()
            if encoding in ('gzip', 'x-gzip'):
                self.decoder = zlib.decompressobj(31)
            elif encoding == 'deflate':
                self.encoding = 'deflate'  # zlib or raw: seen from 2 bytes
            elif encoding not in ('', 'identity'):
                raise HTTPError('unsupported Content-Encoding %r' % encoding)
        if self.head_request or status == 204 or status == 304:
            self.state = _IDLE
            return
        transfer = headers.get('transfer-encoding')
        if transfer is not None:
            codings = [c.strip() for c in transfer.lower().split(',')]
            if codings[-1] != 'chunked':
                self.keep_alive = False
                self.state = _UNTIL_CLOSE
                return
            if len(codings) > 1:
                raise HTTPError('unsupported Transfer-Encoding %r' % transfer)
            if 'content-length' in headers:
                self.keep_alive = False  # both: suspicious, not reused
            self.state = _CHUNK_SIZE
            return
        length = headers.get('content-length')
        if length is not None:
            if not _is_number(length):
                # repeated identical values are tolerated (RFC 9110 8.6)
                values = set(v.strip() for v in length.split(','))
                length = values.pop()
                if values or not _is_number(length):
                    raise HTTPError('bad Content-Length %r'
                                    % headers['content-length'][:40])
            size = int(length)
            if size > self.max_body:
                raise HTTPTooLarge('HTTP answer longer than %d bytes'
                                   % self.max_body)
            self.remaining = size
            self.state = _LENGTH if size else _IDLE
            return
        self.keep_alive = False
        self.state = _UNTIL_CLOSE

    def _add(self, data: bytes) -> None:
        """A piece of the body: kept, or decompressed within the bound."""
        if self.decoder is None and not self.encoding:
            self.size += len(data)
            if self.size > self.max_body:
                raise HTTPTooLarge('HTTP answer longer than %d bytes'
                                   % self.max_body)
            self.body.append(data)
            return
        self.raw_size += len(data)
        if self.raw_size > self.max_body:
            raise HTTPTooLarge('HTTP answer longer than %d bytes'
                               % self.max_body)
        if self.decoder is None:
            # deflate: RFC 9110 says zlib, some servers send it raw (as
            # browsers accept); a zlib stream starts with a valid header
            pending = self.buffer_deflate(data)
            if pending is None:
                return
            data = pending
        self._inflate(data)

    def buffer_deflate(self, data: bytes) -> Optional[bytes]:
        """Hold the first byte of a deflate body until the second comes,
        then pick zlib or raw."""
        pending = b''.join(self.body) + data
        if len(pending) < 2:
            self.body = [pending]
            return None
        self.body = []
        zlib_header = pending[0] & 0x0f == 8 and pending[0] >> 4 <= 7 and \
            ((pending[0] << 8) | pending[1]) % 31 == 0
        self.decoder = zlib.decompressobj(15 if zlib_header else -15)
        return pending

    def _inflate(self, data: bytes) -> None:
        left = self.max_body - self.size
        try:
            out = self.decoder.decompress(data, left + 1)
        except zlib.error as exc:
            raise HTTPError('cannot decompress the %s body: %s'
                            % (self.encoding or 'gzip', exc)) from None
        self.size += len(out)
        if self.size > self.max_body or self.decoder.unconsumed_tail:
            raise HTTPTooLarge('HTTP answer longer than %d bytes (after '
                               'decompression)' % self.max_body)
        if out:
            self.body.append(out)

    def _complete(self, rest: bytes) -> None:
        """The answer is whole: hand it to the request, then pool the
        connection (or close it)."""
        if self.encoding and self.decoder is None and self.body:
            # a one-byte deflate body: cannot be valid
            raise HTTPError('cannot decompress the deflate body: truncated')
        if self.decoder is not None:
            self._inflate(b'')
            tail = self.decoder.flush()
            if tail:
                self.size += len(tail)
                if self.size > self.max_body:
                    raise HTTPTooLarge('HTTP answer longer than %d bytes '
                                       '(after decompression)'
                                       % self.max_body)
                self.body.append(tail)
        body = self.body
        answer = (self.status, self.headers, self.cookies,
                  body[0] if len(body) == 1 else b''.join(body))
        waiter = self.waiter
        keep = self.keep_alive and not rest and not self.lost
        self.waiter = None
        self.state = _IDLE
        self.buffer = b''
        self._reset_answer()
        client = self.client
        if keep and client is not None and client._release(self):
            pass
        else:
            self.lost = True
            if self.transport is not None:
                self.transport.close()
        if waiter is not None and not waiter.done():
            waiter.set_result(answer)


class HTTPClient:
    """An HTTP/1.1 client for the polling transport (see the module).

    :param ssl_context_factory: returns the TLS context for ``https``
                                URLs; called once, on the first one.
    :param max_body: the longest body accepted, in bytes, after
                     decompression (the compressed bytes count too).
    :param user_agent: the ``User-Agent`` header.
    """

    def __init__(self, *, ssl_context_factory: Callable[[], ssl.SSLContext],
                 max_body: int, user_agent: str = DEFAULT_USER_AGENT) -> None:
        self.max_body = max_body
        self.user_agent = user_agent
        self._ssl_context_factory = ssl_context_factory
        self._ssl_context: Optional[ssl.SSLContext] = None
        self._closed = False
        self._loop: Any = None
        self._idle: Dict[Tuple[bool, str, int], List[_Connection]] = {}
        self._active: Set[_Connection] = set()
        self._connecting: Set[Any] = set()
        self._cookies: Dict[Tuple[str, str, str], _Cookie] = {}

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    # -- URLs ----------------------------------------------------------------

    def _origin(self, scheme: str, netloc: str) -> _Origin:
        # shared by every client of the process: an application's clients
        # all go to the same few places (and each AsyncClient has an
        # HTTPClient of its own)
        key = (scheme, netloc, self.user_agent)
        origin = _origins.get(key)
        if origin is None:
            origin = _Origin(scheme, netloc, self.user_agent)
            if len(_origins) >= _URL_CACHE_SIZE:
                _origins.clear()
            _origins[key] = origin
        return origin

    def _resolve(self, url: str) -> Tuple[_Origin, str]:
        scheme, netloc, target = _split_url(url)
        return self._origin(scheme, netloc), target

    # -- requests ------------------------------------------------------------

    async def request(self, method: str, url: str,
                      headers: Optional[Dict[str, str]] = None,
                      body: Optional[bytes] = None,
                      timeout: Optional[float] = None) -> Tuple[int, bytes]:
        """Send a request, follow redirects, return ``(status, body)``.

        Raises HTTPError (HTTPTimeout when ``timeout`` seconds pass before
        the whole answer, HTTPTooLarge for a body over ``max_body``),
        ValueError for a bad URL or header.
        """
        if self._closed:
            raise HTTPError('the HTTP client is closed')
        origin, target = self._resolve(url)
        if not method.isalpha():
            raise ValueError('Invalid HTTP method %r' % method)
        if headers:
            # AsyncClient passes the same few headers on every POST: their
            # lines are worked out once
            try:
                header_key: Any = tuple(headers.items())
                extra, names, given_cookie = _header_cache[header_key]
            except (KeyError, TypeError):
                extra, names, given_cookie = _header_lines(headers)
                if len(_header_cache) >= _URL_CACHE_SIZE:
                    _header_cache.clear()
                try:
                    _header_cache[header_key] = (extra, names,
                                                      given_cookie)
                except TypeError:  # unhashable values
                    pass
        else:
            extra, names, given_cookie = '', None, None
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            if self._loop is not None:
                # used from another event loop: the pooled connections
                # belong to the old one
                self._drop_idle()
            self._loop = loop
        timer = None
        expired = [False]
        task: Any = None
        cancelling = 0
        if timeout is not None:
            task = asyncio.current_task()
            if _HAS_UNCANCEL:
                cancelling = task.cancelling()
            timer = loop.call_later(timeout, _expire, task, expired)
        conn: Optional[_Connection] = None
        waiter: Any = None
        try:
            redirects = 0
            while True:
                if names is None:
                    head = origin.fixed
                else:
                    head = self._custom_head(origin, names)
                cookie = self._cookie_value(origin, target, given_cookie)
                if cookie:
                    head += 'Cookie: ' + cookie + '\r\n'
                if body is not None:
                    if names is None or 'content-type' not in names:
                        head += 'Content-Type: text/plain;charset=UTF-8\r\n'
                    if names is None or 'content-length' not in names:
                        head += 'Content-Length: %d\r\n' % len(body)
                elif method in ('POST', 'PUT', 'PATCH') and \
                        (names is None or 'content-length' not in names):
                    head += 'Content-Length: 0\r\n'
                request = ('%s %s HTTP/1.1\r\n%s%s\r\n' % (
                    method, target, head, extra)).encode('utf-8')
                if body:
                    request += body
                retried = False
                while True:
                    conn = None if retried else \
                        self._idle_connection(origin)
                    if conn is None:
                        conn, waiter = await self._connect(
                            origin, loop, request, method == 'HEAD')
                        self._active.add(conn)
                    else:
                        self._active.add(conn)
                        waiter = conn.start(request, method == 'HEAD')
                    try:
                        answer = await waiter
                    except _StaleConnection:
                        self._active.discard(conn)
                        conn = None
                        if method == 'GET' and not retried:
                            retried = True  # on a new connection
                            continue
                        raise HTTPError('the server closed the connection '
                                        'before answering') from None
                    self._active.discard(conn)
                    conn = None
                    break
                status, answer_headers, cookies, answer_body = answer
                if cookies:
                    self._store_cookies(cookies, origin, target)
                if status not in _REDIRECTS:
                    return status, answer_body
                location = answer_headers.get('location') or \
                    answer_headers.get('uri')
                if location is None:
                    return status, answer_body
                redirects += 1
                if redirects >= MAX_REDIRECTS:
                    raise HTTPError('too many redirects (%d)' % redirects)
                if status == 303 and method != 'HEAD' or \
                        status in (301, 302) and method == 'POST':
                    method = 'GET'
                    body = None
                    if headers and 'content-length' in names:  # type: ignore
                        headers = {k: v for k, v in headers.items()
                                   if k.lower() != 'content-length'}
                new_origin, target = self._redirect_target(
                    origin, target, location)
                if headers and (new_origin.key != origin.key or
                                new_origin.scheme != origin.scheme):
                    # as aiohttp: credentials stay with their origin
                    headers = {k: v for k, v in headers.items()
                               if k.lower() not in ('authorization',
                                                    'cookie')}
                origin = new_origin
                if headers:
                    extra, names, given_cookie = _header_lines(headers)
                else:
                    extra, names, given_cookie = '', None, None
        except BaseException as exc:
            if conn is not None:
                self._active.discard(conn)
                if conn.waiter is waiter:
                    # still on our request (not complete and pooled, maybe
                    # already serving another one): never to be reused
                    conn.abort()
            if expired[0] and isinstance(exc, asyncio.CancelledError) and \
                    (not _HAS_UNCANCEL or task.uncancel() <= cancelling):
                raise HTTPTimeout('no whole HTTP answer within %g s'
                                  % (timeout or 0)) from None
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def _custom_head(self, origin: _Origin, names: Set[str]) -> str:
        """Our headers for a request with caller headers: those the caller
        did not give."""
        lines = []
        if 'host' not in names:
            lines.append('Host: %s\r\n' % origin.host_header)
        if 'user-agent' not in names:
            lines.append('User-Agent: %s\r\n' % self.user_agent)
        if 'accept' not in names:
            lines.append('Accept: */*\r\n')
        if 'accept-encoding' not in names:
            lines.append('Accept-Encoding: gzip, deflate\r\n')
        if origin.authorization and 'authorization' not in names:
            lines.append('Authorization: %s\r\n' % origin.authorization)
        return ''.join(lines)

    def _redirect_target(self, origin: _Origin, target: str,
                         location: str) -> Tuple[_Origin, str]:
        base = '%s://%s%s' % (origin.scheme, origin.host_header, target)
        try:
            url = urllib.parse.urljoin(base, location.strip())
            scheme = url.partition('://')[0].lower()
            if scheme not in ('http', 'https'):
                raise ValueError('not an HTTP URL')
            return self._resolve(url)
        except ValueError as exc:
            raise HTTPError('bad redirect to %r: %s'
                            % (location[:200], exc)) from None

    def _idle_connection(self, origin: _Origin) -> Optional[_Connection]:
        idle = self._idle.get(origin.key)
        while idle:
            conn = idle.pop()
            if conn.lost or conn.transport.is_closing():
                continue
            if self._loop.time() - conn.idle_since > IDLE_TIMEOUT:
                conn.lost = True
                conn.transport.close()
                continue
            conn.reused = True
            return conn
        return None

    def _release(self, conn: _Connection) -> bool:
        """Keep a connection whose answer is complete; False when it is not
        wanted (closed client, pool full)."""
        if self._closed:
            return False
        idle = self._idle.get(conn.origin.key)
        if idle is None:
            idle = self._idle[conn.origin.key] = []
        elif len(idle) >= MAX_IDLE:
            return False
        conn.idle_since = self._loop.time()
        idle.append(conn)
        return True

    def _forget(self, conn: _Connection) -> None:
        """An idle connection closed (by the server): out of the pool."""
        idle = self._idle.get(conn.origin.key)
        if idle:
            try:
                idle.remove(conn)
            except ValueError:
                pass

    async def _connect(self, origin: _Origin, loop: Any, request: bytes,
                       head_request: bool
                       ) -> Tuple[_Connection, asyncio.Future[Any]]:
        """A new connection to ``origin`` with ``request`` sent on it, and
        the future of the answer.  Without TLS the request goes out with
        the connect (engineio._async_tcp.open_socket: no wait for the
        socket to be writable when the kernel connected at once)."""
        context = None
        if origin.secure:
            context = self._ssl_context
            if context is None:
                context = self._ssl_context = self._ssl_context_factory()
        addresses: List[Any] = [(0, origin.host)] if origin.is_ip else \
            await self._addresses(origin, loop)
        conn = _Connection(self, origin)
        # expecting the answer before the transport exists: it may come as
        # soon as the loop reads the socket
        waiter = conn.expect(head_request)
        first = b'' if context is not None else request
        error: Optional[Exception] = None
        sent = 0
        for _, address in addresses:
            try:
                sock, sent = await _tcp.open_socket(loop, address,
                                                    origin.port, first)
            except OSError as exc:
                error = exc
                continue
            try:
                await loop.create_connection(
                    lambda: conn, sock=sock, ssl=context,
                    server_hostname=origin.host if context else None)
                break
            except (OSError, ValueError) as exc:
                sock.close()
                error = exc
            except BaseException:
                sock.close()
                raise
        else:
            raise HTTPError('cannot connect to %s: %s' % (
                origin.host_header, error or 'no address')) from None
        if self._closed:
            conn.abort()
            raise HTTPError('the HTTP client is closed')
        if sent < len(request):
            conn.transport.write(request[sent:] if sent else request)
        return conn, waiter

    async def _addresses(self, origin: _Origin, loop: Any) -> List[Any]:
        """The addresses of a host name (engineio._async_tcp.resolve: cached
        :data:`DNS_TTL` seconds for the whole process)."""
        try:
            infos = await _tcp.resolve(loop, origin.host, origin.port)
        except (OSError, UnicodeError) as exc:
            raise HTTPError('cannot resolve %s: %s'
                            % (origin.host, exc)) from None
        return [(family, sockaddr[0]) for family, sockaddr in infos]

    def take_connection(self, url: str) -> Optional[asyncio.Transport]:
        """An idle keep-alive connection to ``url``'s origin (``ws`` is
        ``http``'s, ``wss`` is ``https``'s), out of the pool and no longer
        watched: the caller sets its own protocol on the transport.  None
        when there is no live idle one."""
        origin, _ = self._resolve(url)
        if self._loop is None:
            return None
        conn = self._idle_connection(origin)
        if conn is None:
            return None
        conn.client = None  # its callbacks now touch nothing of ours
        conn.state = _IDLE
        return conn.transport  # type: ignore[no-any-return]

    def _drop_idle(self) -> int:
        """Abort the pooled connections; how many there were."""
        idle = [conn for conns in self._idle.values() for conn in conns]
        self._idle.clear()
        for conn in idle:
            conn.client = None
            conn.abort()
        return len(idle)

    async def close(self) -> None:
        """Close every connection; requests in flight fail with HTTPError.
        Calling it again does nothing."""
        if self._closed:
            return
        self._closed = True
        idle = self._drop_idle()
        active = list(self._active)
        self._active.clear()
        for conn in active:
            conn._fail(HTTPError('the HTTP client was closed'))
        if idle or active:
            await asyncio.sleep(0)  # the transports' connection_lost

    # -- cookies -------------------------------------------------------------

    def _cookie_value(self, origin: _Origin, target: str,
                      given: Optional[str]) -> Optional[str]:
        """The Cookie header of a request: the caller's cookies (if any)
        then the jar's of other names (aiohttp merged them too)."""
        jar = self._jar_cookies(origin, target) if self._cookies else None
        if given is None or not jar:
            return jar or given
        taken = set(part.partition('=')[0].strip()
                    for part in given.split(';'))
        merged = [given] + [pair for pair in jar.split('; ')
                            if pair.partition('=')[0] not in taken]
        return '; '.join(merged)

    def _jar_cookies(self, origin: _Origin, target: str) -> Optional[str]:
        path = target.partition('?')[0]
        now = time.time()
        found = []
        for key, cookie in list(self._cookies.items()):
            if cookie.expires is not None and cookie.expires <= now:
                del self._cookies[key]
            elif cookie.matches(origin.host, path, origin.secure):
                found.append(cookie)
        if not found:
            return None
        found.sort(key=lambda c: -len(c.path))
        return '; '.join('%s=%s' % (c.name, c.value) for c in found)

    def cookie_header(self, url: str) -> Optional[str]:
        """The Cookie header value the jar sends to ``url`` (http, https,
        ws, wss), or None."""
        if not self._cookies:
            return None
        origin, target = self._resolve(url)
        return self._jar_cookies(origin, target)

    def add_cookies(self, header_value: str, url: str) -> None:
        """Keep the cookies of a ``Cookie`` header (``'a=1; b=2'``) given by
        the application, for ``url``'s host (all paths)."""
        origin, _ = self._resolve(url)
        parsed: SimpleCookie = SimpleCookie()
        try:
            parsed.load(header_value)
        except CookieError:
            pass
        for name, morsel in parsed.items():
            self._cookies[(origin.host, '/', name)] = _Cookie(
                name, morsel.coded_value, origin.host, True, '/', False, None)

    def store_cookies(self, set_cookie: str, url: str) -> None:
        """Keep the cookies of ``Set-Cookie`` headers received elsewhere
        (the WebSocket handshake's answer), one value per line, as those
        of an answer from ``url``."""
        origin, target = self._resolve(url)
        self._store_cookies(set_cookie.split('\n'), origin, target)

    def _store_cookies(self, values: List[str], origin: _Origin,
                       target: str) -> None:
        """``Set-Cookie`` values of an answer to ``origin``/``target``."""
        host = origin.host
        now = time.time()
        for value in values:
            parsed: SimpleCookie = SimpleCookie()
            try:
                parsed.load(value)
            except CookieError:
                continue
            for name, morsel in parsed.items():
                domain = morsel['domain'].lower().lstrip('.')
                host_only = not domain
                if host_only:
                    domain = host
                elif domain != host and (origin.is_ip or
                                         not host.endswith('.' + domain)):
                    continue  # a Domain that is not this host's: ignored
                path = morsel['path']
                if not path or path[0] != '/':
                    path = target.partition('?')[0]
                    path = path[:path.rfind('/')] or '/'
                expires: Optional[float] = None
                max_age = morsel['max-age']
                if max_age:
                    try:
                        expires = now + int(max_age)
                    except ValueError:
                        expires = None
                elif morsel['expires']:
                    parsed_date = email.utils.parsedate_tz(
                        morsel['expires'])
                    if parsed_date is not None:
                        try:
                            expires = float(email.utils.mktime_tz(
                                parsed_date))
                        except (OverflowError, ValueError):
                            expires = None
                key = (domain, path, name)
                if expires is not None and expires <= now:
                    self._cookies.pop(key, None)
                    continue
                self._cookies[key] = _Cookie(
                    name, morsel.coded_value, domain, host_only, path,
                    bool(morsel['secure']), expires)


def _expire(task: Any, expired: List[bool]) -> None:
    """A request's timer: its task is cancelled, and the cancellation
    becomes HTTPTimeout in :meth:`HTTPClient.request`."""
    expired[0] = True
    task.cancel()
