"""What the core hands back to the glue: HTTP responses and error bodies.

Every HTTP answer the protocol gives is built here, so each status code,
content type and error body exists in one place.  Error bodies are the
JavaScript server's, byte for byte (``engine.io`` 6, ``server.js``
``abortRequest``): ``{"code":N,"message":"..."}`` with
``Content-Type: application/json``, status 400, or 403 for code 4.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

__all__ = [
    'Response', 'Headers',
    'UNKNOWN_TRANSPORT', 'UNKNOWN_SID', 'BAD_HANDSHAKE_METHOD', 'BAD_REQUEST',
    'FORBIDDEN', 'UNSUPPORTED_PROTOCOL_VERSION', 'ERROR_MESSAGES',
    'error_response', 'ok_response', 'preflight_response',
    'unauthorized_response', 'too_large_response', 'STATUS_LINES',
]

Headers = List[Tuple[str, str]]

# The protocol's error codes (PROTOCOL.md; JavaScript ``Server.errors``).
UNKNOWN_TRANSPORT = 0
UNKNOWN_SID = 1
BAD_HANDSHAKE_METHOD = 2
BAD_REQUEST = 3
FORBIDDEN = 4
UNSUPPORTED_PROTOCOL_VERSION = 5

ERROR_MESSAGES = {
    UNKNOWN_TRANSPORT: 'Transport unknown',
    UNKNOWN_SID: 'Session ID unknown',
    BAD_HANDSHAKE_METHOD: 'Bad handshake method',
    BAD_REQUEST: 'Bad request',
    FORBIDDEN: 'Forbidden',
    UNSUPPORTED_PROTOCOL_VERSION: 'Unsupported protocol version',
}

#: status lines for the statuses the core produces (WSGI needs the text)
STATUS_LINES = {
    200: '200 OK',
    204: '204 No Content',
    400: '400 Bad Request',
    401: '401 Unauthorized',
    403: '403 Forbidden',
    413: '413 Payload Too Large',
}


class Response:
    """One complete HTTP response, ready to write.

    ``status`` is the code, ``status_line`` its WSGI form (``'200 OK'``),
    ``headers`` a list of ``(name, value)`` str pairs that already includes
    ``Content-Type``, ``Content-Length``, CORS, ``Set-Cookie`` and
    ``Content-Encoding`` as applicable; ``body`` is the exact bytes to send
    (compressed when the headers say so).  The glue writes it as it is.

    ``error_code`` is the protocol error code (0-5) for a JSON error, else
    ``None``; the glue may use it for logging.
    """

    __slots__ = ('status', 'status_line', 'headers', 'body', 'error_code')

    def __init__(self, status: int, headers: Headers, body: bytes,
                 error_code: Optional[int] = None) -> None:
        self.status = status
        self.status_line = STATUS_LINES[status]
        self.headers = headers
        self.body = body
        self.error_code = error_code

    def header(self, name: str) -> Optional[str]:
        """The first value of header ``name`` (case-insensitive), or None."""
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def __repr__(self) -> str:
        return 'Response(%d, %r, %r)' % (self.status, self.headers, self.body)


# JSON.stringify({code, message}): no spaces, code first.
_ERROR_BODIES = {
    code: ('{"code":%d,"message":"%s"}' % (code, message)).encode('ascii')
    for code, message in ERROR_MESSAGES.items()
}


def error_response(code: int, cors: Headers) -> Response:
    """The protocol error ``code`` (see the constants), with ``cors`` headers.

    403 for ``FORBIDDEN``, 400 otherwise, as the JavaScript server answers.
    """
    body = _ERROR_BODIES[code]
    headers = [('Content-Type', 'application/json'),
               ('Content-Length', str(len(body)))]
    if cors:
        headers.extend(cors)
    return Response(403 if code == FORBIDDEN else 400, headers, body, code)


_OK_HEADERS = [('Content-Type', 'text/html'), ('Content-Length', '2'),
               ('Cache-Control', 'no-store')]


def ok_response(cors: Headers) -> Response:
    """The answer to an accepted POST: 200 ``ok`` (lower case, ``text/html``,
    as the JavaScript server sends; the reference sends ``OK``)."""
    return Response(200, _OK_HEADERS + cors, b'ok')  # a new list


def preflight_response(cors: Headers) -> Response:
    """The answer to an ``OPTIONS`` preflight: 204 with the CORS headers (as
    the ``cors`` middleware of the JavaScript server answers)."""
    headers = [('Content-Length', '0')]
    headers.extend(cors)
    return Response(204, headers, b'')


def unauthorized_response(body: bytes, cors: Headers) -> Response:
    """401 for a connection the ``connect`` handler refused (the reference's
    answer: ``application/json`` with ``"Unauthorized"`` or the JSON of the
    handler's return value)."""
    headers = [('Content-Type', 'application/json'),
               ('Content-Length', str(len(body)))]
    headers.extend(cors)
    return Response(401, headers, body)


def too_large_response(cors: Headers) -> Response:
    """413 with an empty body, for a POST over ``max_http_buffer_size`` (the
    JavaScript server's answer)."""
    headers = [('Content-Length', '0')]
    headers.extend(cors)
    return Response(413, headers, b'')
