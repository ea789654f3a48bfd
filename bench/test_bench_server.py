"""``Server.handle_request`` receiving a 6-byte POST, as the reference measures it.

The shape of python-engineio's ``tests/performance/server_receive.py``: open a
polling session with a GET, then POST ``4hello`` (one text message, version 4)
to it over and over through the WSGI entry point, with no event handlers.

The handshake names ``transport=polling`` (the JavaScript server, and ours,
refuse a request without it; python-engineio defaults it).  An accepted POST
answers ``ok`` here (as the JavaScript server does) and ``OK`` in the
reference.
"""
from __future__ import annotations

import io
from itertools import repeat

import pytest

engineio = pytest.importorskip('engineio')

OPS = 20


def start_response(status, headers):
    return None


def post_many(server, query, loops):
    for _ in repeat(None, loops):
        environ = {
            'REQUEST_METHOD': 'POST',
            'QUERY_STRING': query,
            'CONTENT_LENGTH': '6',
            'wsgi.input': io.BytesIO(b'4hello'),
        }
        body = server.handle_request(environ, start_response)
    return body


def test_handle_request_post(measure):
    if not hasattr(engineio, 'Server'):
        pytest.skip('engineio.Server does not exist yet')
    server = engineio.Server()
    try:
        server.handle_request({'REQUEST_METHOD': 'GET',
                               'QUERY_STRING': 'EIO=4&transport=polling'},
                              start_response)
        sid = next(iter(server.sockets))
        body = measure('server.post_6B', 'engineio', OPS, post_many, server,
                       'EIO=4&transport=polling&sid=' + sid, OPS)
        assert body in ([b'OK'], [b'ok'])
    finally:
        server.shutdown()
