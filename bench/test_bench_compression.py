"""Polling-response compression: ``Accept-Encoding`` choice plus gzip/deflate.

Ours is ``engineio._speedups.compression.maybe_compress(body, accept_encoding,
threshold)``.  The peer ``reference-path`` is what python-engineio 4.15.1 does at
the end of ``Server.handle_request`` for a body at or above the threshold,
written out here with the same calls: split the header on ``,`` and ``;``, take
the first of ``gzip``/``deflate`` listed, then ``gzip.GzipFile`` into a
``BytesIO`` (compression level 9, its default) or ``zlib.compress``.  It uses
only the standard library, so it runs in the compiled process as a peer.
"""
from __future__ import annotations

import gzip
import io
import zlib
from itertools import repeat

import pytest

from bench.harness import kernel, require_peers

THRESHOLD = 1024
BROWSER_ACCEPT = 'gzip, deflate, br, zstd'
OPS = 10


def polling_body():
    """About 4 KiB of version 4 polling payload: 48 small socket.io events."""
    packets = ['42["tick",{"n":%d,"user":"user-%d","text":"message number %d"}]'
               % (i, i % 7, i * 31) for i in range(48)]
    return '\x1e'.join(packets).encode()


BODY = polling_body()


def reference_gzip(body):
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode='w') as compressed:
        compressed.write(body)
    return buffer.getvalue()


REFERENCE_METHODS = {'gzip': reference_gzip, 'deflate': zlib.compress}


def reference_compress(body, accept_encoding, threshold):
    if len(body) >= threshold:
        for encoding in [e.split(';')[0].strip()
                         for e in accept_encoding.split(',')]:
            if encoding in REFERENCE_METHODS:
                return REFERENCE_METHODS[encoding](body), encoding
    return body, None


def compress_many(function, body, accept_encoding, threshold, loops):
    for _ in repeat(None, loops):
        result = function(body, accept_encoding, threshold)
    return result


def decompressed(result):
    # Both return (body, encoding); accept a bare body too, so the check does not
    # depend on details of the kernel's return value.
    body = result[0] if isinstance(result, tuple) else result
    if body[:2] == b'\x1f\x8b':
        return gzip.decompress(body)
    return zlib.decompress(body)


@pytest.mark.parametrize('impl', ['ours', 'reference-path'])
@pytest.mark.parametrize('method, accept', [('gzip', BROWSER_ACCEPT),
                                            ('deflate', 'deflate')])
def test_compress(measure, method, accept, impl):
    op = 'compression.%s_4KiB' % method
    if impl == 'ours':
        function = kernel('compression', 'maybe_compress').maybe_compress
    else:
        require_peers()
        function = reference_compress
    result = measure(op, impl, OPS, compress_many, function, BODY, accept,
                     THRESHOLD, OPS)
    assert decompressed(result) == BODY
