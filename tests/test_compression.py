"""The HTTP compression kernel: ``Accept-Encoding`` negotiation, compress, decompress.

Every case runs through each implementation available here (the ``compression``
fixture: ids ``py`` and ``c``); the differential tests at the end feed both twins
the same hypothesis-generated input and require identical results, or the same
exception type and message.
"""
from __future__ import annotations

import gzip
import io
import os
import platform
import re
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

PUBLIC_NAMES = ['DEFAULT_CODINGS', 'DEFAULT_LEVEL', 'DEFAULT_THRESHOLD',
                'parse_accept_encoding', 'choose_encoding', 'compress',
                'maybe_compress', 'decompress']

BODY = b''.join(b'42["tick",{"n":%d,"text":"message number %d"}]\x1e'
                % (i, i * 31) for i in range(100))


def raised(function, *args):
    """``('ok', result)`` or ``(exception type, message)``: for parity checks."""
    try:
        return 'ok', function(*args)
    except Exception as exc:  # noqa: BLE001 - the point is to compare any
        return type(exc), str(exc)


# --- the module ---------------------------------------------------------------

def test_exports(compression):
    assert sorted(compression.__all__) == sorted(PUBLIC_NAMES)
    for name in PUBLIC_NAMES:
        assert hasattr(compression, name), name
    assert compression.__doc__
    assert compression.DEFAULT_CODINGS == ('gzip', 'deflate')
    assert compression.DEFAULT_THRESHOLD == 1024
    assert compression.DEFAULT_LEVEL == -1


def test_compiled_twin_is_compiled(kernel_pair):
    pure, compiled = kernel_pair('_compression')
    assert pure.__file__.endswith('.py')
    if compiled is None:
        pytest.skip('no compiled twin in this run')
    assert not compiled.__file__.endswith('.py')
    assert compiled.__name__ == 'engineio._speedups._compression_c'


# --- parse_accept_encoding -----------------------------------------------------

PARSE_CASES = [
    (None, []),
    ('', []),
    ('   \t ', []),
    (',,,', []),
    ('gzip', [('gzip', 1.0)]),
    ('gzip, deflate, br', [('gzip', 1.0), ('deflate', 1.0), ('br', 1.0)]),
    ('gzip,deflate', [('gzip', 1.0), ('deflate', 1.0)]),
    (' gzip ,\tdeflate\t', [('gzip', 1.0), ('deflate', 1.0)]),
    ('GZIP, Deflate, bR', [('gzip', 1.0), ('deflate', 1.0), ('br', 1.0)]),
    ('gzip,,deflate', [('gzip', 1.0), ('deflate', 1.0)]),
    (', gzip ,', [('gzip', 1.0)]),
    ('*', [('*', 1.0)]),
    ('identity', [('identity', 1.0)]),
    ('identity;q=0', [('identity', 0.0)]),
    ('x-gzip, x-compress', [('x-gzip', 1.0), ('x-compress', 1.0)]),
    # weights
    ('gzip;q=0.5', [('gzip', 0.5)]),
    ('gzip ; q=0.5', [('gzip', 0.5)]),
    ('gzip;\tq=0.5\t', [('gzip', 0.5)]),
    ('gzip;Q=0.5', [('gzip', 0.5)]),
    ('gzip;q = 0.5', [('gzip', 0.5)]),
    ('gzip;q=0', [('gzip', 0.0)]),
    ('gzip;q=0.', [('gzip', 0.0)]),
    ('gzip;q=0.000', [('gzip', 0.0)]),
    ('gzip;q=0.001', [('gzip', 0.001)]),
    ('gzip;q=0.25', [('gzip', 0.25)]),
    ('gzip;q=0.999', [('gzip', 0.999)]),
    ('gzip;q=1', [('gzip', 1.0)]),
    ('gzip;q=1.', [('gzip', 1.0)]),
    ('gzip;q=1.0', [('gzip', 1.0)]),
    ('gzip;q=1.000', [('gzip', 1.0)]),
    # malformed weights count as q=0
    ('gzip;q=abc', [('gzip', 0.0)]),
    ('gzip;q=2', [('gzip', 0.0)]),
    ('gzip;q=', [('gzip', 0.0)]),
    ('gzip;q', [('gzip', 0.0)]),
    ('gzip;q=1.5', [('gzip', 0.0)]),
    ('gzip;q=1.001', [('gzip', 0.0)]),
    ('gzip;q=1.0000', [('gzip', 0.0)]),
    ('gzip;q=0.1234', [('gzip', 0.0)]),
    ('gzip;q=-1', [('gzip', 0.0)]),
    ('gzip;q=-0', [('gzip', 0.0)]),
    ('gzip;q=.5', [('gzip', 0.0)]),
    ('gzip;q=+0.5', [('gzip', 0.0)]),
    ('gzip;q=00.5', [('gzip', 0.0)]),
    ('gzip;q="0.5"', [('gzip', 0.0)]),
    ('gzip;q=0.5x', [('gzip', 0.0)]),
    ('gzip;q=0.-1', [('gzip', 0.0)]),           # below '0' in ASCII
    ('gzip;q=0./', [('gzip', 0.0)]),
    ('gzip;q=0.:', [('gzip', 0.0)]),            # just above '9'
    ('gzip;q=0 .5', [('gzip', 0.0)]),
    ('gzip;q=0.\u00b2', [('gzip', 0.0)]),       # superscript two: isdigit()
    ('gzip;q=\u0660.5', [('gzip', 0.0)]),       # Arabic-Indic zero
    ('gzip;q=0e0', [('gzip', 0.0)]),
    ('gzip;q=nan', [('gzip', 0.0)]),
    # a comma ends the element, even inside what looks like a weight
    ('gzip;q=0,5', [('gzip', 0.0), ('5', 1.0)]),
    # other parameters are ignored; the first q counts
    ('gzip;level=1', [('gzip', 1.0)]),
    ('gzip;level=1;q=0.3', [('gzip', 0.3)]),
    ('gzip;q=0.3;q=1', [('gzip', 0.3)]),
    ('gzip;;q=0.3', [('gzip', 0.3)]),
    ('gzip;', [('gzip', 1.0)]),
    ('gzip;=;q=0.2', [('gzip', 0.2)]),
    # elements without a usable coding are dropped
    (';q=0.5', []),
    ('gz ip', []),
    ('"gzip"', []),
    ('gzip/1', []),
    ('gzip q=0.5', []),
    ('gz\u00edp, deflate', [('deflate', 1.0)]),
    ('x-\u212a', []),                           # Kelvin sign lowers to 'k'
    ('gzip\r\n, deflate', [('deflate', 1.0)]),
    # duplicates stay in the list
    ('gzip, gzip;q=0', [('gzip', 1.0), ('gzip', 0.0)]),
    ("!#$%&'*+-.^_`|~09azAZ", [("!#$%&'*+-.^_`|~09azaz", 1.0)]),
]


@pytest.mark.parametrize('header, expected', PARSE_CASES)
def test_parse_accept_encoding(compression, header, expected):
    result = compression.parse_accept_encoding(header)
    assert result == expected
    assert all(type(coding) is str and type(q) is float
               for coding, q in result)


@pytest.mark.parametrize('header, expected', [
    (b'gzip;q=0.5, br', [('gzip', 0.5), ('br', 1.0)]),
    (bytearray(b'deflate'), [('deflate', 1.0)]),
    (memoryview(b'GZIP'), [('gzip', 1.0)]),
    (b'', []),
    (b'gz\xe9ip, gzip', [('gzip', 1.0)]),       # Latin-1, not a token
    (b'\xff\xfe', []),                          # not UTF-8 either: no error
])
def test_parse_accept_encoding_bytes(compression, header, expected):
    assert compression.parse_accept_encoding(header) == expected


def test_parse_accept_encoding_str_subclass(compression):
    class Header(str):
        def split(self, *args):
            raise AssertionError('the subclass must not be used as is')
    assert compression.parse_accept_encoding(Header('gzip;q=0.5')) == \
        [('gzip', 0.5)]


@pytest.mark.parametrize('header', [5, 1.0, ['gzip'], object()])
def test_parse_accept_encoding_type_error(compression, header):
    with pytest.raises(TypeError, match='^Accept-Encoding must be str, bytes '
                                        'or None, not '):
        compression.parse_accept_encoding(header)


def test_every_valid_weight(compression):
    # every qvalue RFC 9110 allows, in its shortest and longest spellings,
    # reads as the float of its text
    for thousandths in range(0, 1001):
        long_form = '%d.%03d' % divmod(thousandths, 1000)
        short_form = long_form.rstrip('0').rstrip('.') or '0'
        forms = {long_form, short_form}
        if '.' not in short_form:
            forms.add(short_form + '.')      # '0.' and '1.' are qvalues too
        for text in forms:
            assert compression.parse_accept_encoding('gzip;q=' + text) == \
                [('gzip', float(text))], text


def test_parse_very_long_header(compression):
    codings = ['x-custom-%d' % i for i in range(20000)]
    header = ', '.join(codings) + ', gzip;q=0.5'
    result = compression.parse_accept_encoding(header)
    assert len(result) == 20001
    assert result[-1] == ('gzip', 0.5)
    assert result[0] == ('x-custom-0', 1.0)


# --- choose_encoding ---------------------------------------------------------

CHOOSE_CASES = [
    (None, None),
    ('', None),
    (b'', None),
    ('  ', None),
    ('gzip', 'gzip'),
    ('deflate', 'deflate'),
    ('GZip', 'gzip'),
    ('br', None),
    ('br, zstd', None),
    ('gzip, deflate, br', 'gzip'),
    ('gzip, deflate, br, zstd', 'gzip'),
    ('deflate, gzip', 'gzip'),           # equal q: the server's preference
    ('deflate, gzip;q=1.0', 'gzip'),
    ('deflate;q=1, gzip;q=0.9', 'deflate'),
    ('gzip;q=0.001, deflate;q=0.002', 'deflate'),
    ('gzip;q=0.001', 'gzip'),
    ('br;q=1.0, gzip;q=0.8, *;q=0.1', 'gzip'),
    ('gzip;q=0', None),
    ('gzip;q=0.000', None),
    ('gzip;q=0, deflate', 'deflate'),
    ('gzip;q=0, deflate;q=0', None),
    # '*' stands for every coding the header does not name
    ('*', 'gzip'),
    ('*;q=0', None),
    ('gzip;q=0, *', 'deflate'),
    ('br, *;q=0.1', 'gzip'),
    ('*;q=0.5, deflate', 'deflate'),
    ('*;q=0.5, deflate;q=0.4', 'gzip'),
    ('deflate;q=0.4, *;q=0.5', 'gzip'),
    ('*, *;q=0.2, gzip;q=0.1', 'deflate'),
    ('gzip;q=0.1, *;q=0', 'gzip'),
    # identity is not weighed against the codings we produce
    ('identity', None),
    ('identity;q=0', None),
    ('identity;q=0, *;q=0', None),
    ('identity;q=0, br', None),
    ('identity, gzip;q=0.1', 'gzip'),
    # malformed weights refuse the coding
    ('gzip;q=abc', None),
    ('gzip;q=abc, deflate', 'deflate'),
    ('gzip;q=2', None),
    ('gzip;q=', None),
    ('gzip;q=abc, *', 'deflate'),        # named, so '*' does not speak for it
    # duplicates: the highest weight counts
    ('gzip, gzip;q=0', 'gzip'),
    ('gzip;q=0, gzip', 'gzip'),
    ('gzip;q=0.1, gzip;q=0.3, deflate;q=0.2', 'gzip'),
    # only what we produce
    ('x-gzip', None),
    ('gzip,,deflate', 'gzip'),
    (',deflate,', 'deflate'),
    ('gz ip, deflate', 'deflate'),
    (b'gzip;q=0.5, deflate;q=0.6', 'deflate'),
    (bytearray(b'gzip'), 'gzip'),
]


@pytest.mark.parametrize('header, expected', CHOOSE_CASES)
def test_choose_encoding(compression, header, expected):
    assert compression.choose_encoding(header) == expected
    # a second call is answered from the cache: same answer
    assert compression.choose_encoding(header) == expected


@pytest.mark.parametrize('header, available, expected', [
    ('gzip, deflate', ('deflate', 'gzip'), 'deflate'),
    ('gzip, deflate', ['deflate', 'gzip'], 'deflate'),
    ('gzip, deflate', 'iterator', 'deflate'),
    ('gzip, deflate', (), None),
    ('gzip', ('deflate',), None),
    ('GZIP', ('GZIP',), 'gzip'),
    ('*', ('br', 'gzip'), 'br'),
    ('identity', ('identity',), 'identity'),
    ('gzip;q=0.5, br', ('gzip', 'br'), 'br'),
])
def test_choose_encoding_available(compression, header, available, expected):
    if available == 'iterator':
        available = iter(['deflate'])    # a fresh one for each implementation
    assert compression.choose_encoding(header, available) == expected


def test_choose_encoding_cache_keys_on_available(compression):
    header = 'deflate, gzip'
    assert compression.choose_encoding(header) == 'gzip'
    assert compression.choose_encoding(header, ('deflate', 'gzip')) == \
        'deflate'
    assert compression.choose_encoding(header, ('deflate',)) == 'deflate'
    assert compression.choose_encoding(header, ()) is None
    assert compression.choose_encoding(header) == 'gzip'
    assert compression.choose_encoding(header, ('gzip', 'deflate')) == 'gzip'


def test_choose_encoding_cache_overflow(compression):
    # more distinct headers than the cache holds, asked twice in turn: every
    # answer stays right whether it comes from the cache or not
    thousandths = range(0, 1000, 7)
    headers = ['gzip;q=0.%03d, deflate;q=0.5' % i for i in thousandths]
    assert len(headers) > 64
    for _ in range(2):
        for i, header in zip(thousandths, headers):
            expected = 'gzip' if i >= 500 else 'deflate'
            assert compression.choose_encoding(header) == expected, header


def test_choose_encoding_cache_is_bounded(kernel_pair):
    # white box, on the pure twin (the compiled one keeps its cache in C): a
    # client cycling through distinct headers must not grow it without bound
    pure, _ = kernel_pair('_compression')
    for i in range(1000):
        pure.choose_encoding('gzip;q=0.5, x-%d' % i)
        pure.choose_encoding('deflate, x-%d' % i, ('deflate',))
        assert len(pure._cache) <= 64
    pure.choose_encoding('gzip, ' + 'x' * 1000)
    assert ('gzip, ' + 'x' * 1000) not in pure._cache


def test_choose_encoding_long_header(compression):
    header = ', '.join('x-custom-%d' % i for i in range(5000)) + ', deflate'
    assert compression.choose_encoding(header) == 'deflate'
    assert compression.choose_encoding(header + ';q=0') is None


def test_choose_encoding_str_subclass(compression):
    class Header(str):
        def __hash__(self):
            raise AssertionError('the subclass must not be used as a key')
    assert compression.choose_encoding(Header('deflate')) == 'deflate'


def test_choose_encoding_type_error(compression):
    with pytest.raises(TypeError, match='^Accept-Encoding must be str'):
        compression.choose_encoding(42)


# --- compress ----------------------------------------------------------------

BODIES = [b'', b'x', BODY, os.urandom(70000), b'\0' * 300000]


@pytest.mark.parametrize('body', BODIES, ids=lambda b: '%dB' % len(b))
def test_compress_round_trip(compression, body):
    gzipped = compression.compress(body, 'gzip')
    deflated = compression.compress(body, 'deflate')
    # the standard library reads what we write
    assert gzip.decompress(gzipped) == body
    assert zlib.decompress(deflated) == body
    with gzip.GzipFile(fileobj=io.BytesIO(gzipped)) as reader:
        assert reader.read() == body
    # and we read it back
    limit = max(len(body), 1)
    assert compression.decompress(gzipped, 'gzip', limit) == body
    assert compression.decompress(deflated, 'deflate', limit) == body


def test_compress_gzip_format(compression):
    out = compression.compress(BODY, 'gzip')
    assert out[:3] == b'\x1f\x8b\x08'          # magic, deflate
    assert out[4:8] == b'\0\0\0\0'              # mtime 0
    assert out == compression.compress(BODY, 'gzip')   # deterministic
    assert int.from_bytes(out[-4:], 'little') == len(BODY)
    assert int.from_bytes(out[-8:-4], 'little') == zlib.crc32(BODY)
    assert len(out) < len(BODY) // 3


def test_compress_deflate_is_zlib_wrapped(compression):
    out = compression.compress(BODY, 'deflate')
    assert out[0] == 0x78
    assert (out[0] * 256 + out[1]) % 31 == 0
    assert out == zlib.compress(BODY)
    assert out[-4:] == zlib.adler32(BODY).to_bytes(4, 'big')


@pytest.mark.parametrize('level', [-1, 0, 1, 5, 6, 9])
def test_compress_levels(compression, level):
    for encoding in ('gzip', 'deflate'):
        out = compression.compress(BODY, encoding, level)
        assert compression.decompress(out, encoding, len(BODY)) == BODY
    assert compression.compress(BODY, 'deflate', level) == \
        zlib.compress(BODY, level)
    assert compression.compress(BODY, 'gzip', 6) == \
        compression.compress(BODY, 'gzip', -1)


@pytest.mark.parametrize('level', [-2, 10, 100])
def test_compress_bad_level(compression, level):
    with pytest.raises(ValueError) as info:
        compression.compress(BODY, 'gzip', level)
    assert str(info.value) == 'compression level must be -1..9, not %d' % level


@pytest.mark.parametrize('encoding', ['br', 'identity', 'GZIP', 'x-gzip', '',
                                      None, 'gzip '])
def test_compress_unknown_encoding(compression, encoding):
    with pytest.raises(ValueError) as info:
        compression.compress(BODY, encoding)
    assert str(info.value) == 'unsupported content coding: %r' % (encoding,)


def test_compress_buffers(compression):
    for data in (bytearray(BODY), memoryview(BODY)):
        assert gzip.decompress(compression.compress(data, 'gzip')) == BODY
        assert zlib.decompress(compression.compress(data, 'deflate')) == BODY


# --- maybe_compress -------------------------------------------------------------

def test_maybe_compress_below_threshold(compression):
    body = b'x' * 1023
    result, encoding = compression.maybe_compress(body, 'gzip')
    assert result is body and encoding is None


def test_maybe_compress_at_threshold(compression):
    body = b'x' * 1024
    result, encoding = compression.maybe_compress(body, 'gzip, deflate, br')
    assert encoding == 'gzip'
    assert gzip.decompress(result) == body


@pytest.mark.parametrize('accept', [None, '', 'br', 'identity', 'gzip;q=0',
                                    '*;q=0'])
def test_maybe_compress_nothing_acceptable(compression, accept):
    result, encoding = compression.maybe_compress(BODY, accept)
    assert result is BODY and encoding is None


def test_maybe_compress_deflate(compression):
    result, encoding = compression.maybe_compress(BODY, 'deflate, br')
    assert encoding == 'deflate'
    assert zlib.decompress(result) == BODY


def test_maybe_compress_options(compression):
    assert compression.maybe_compress(b'abc', 'gzip', 3)[1] == 'gzip'
    assert compression.maybe_compress(b'abc', 'gzip', 4)[1] is None
    assert compression.maybe_compress(b'', 'gzip', 0)[1] == 'gzip'
    result, encoding = compression.maybe_compress(
        BODY, 'gzip, deflate', 10, ('deflate', 'gzip'), 1)
    assert encoding == 'deflate'
    assert result == zlib.compress(BODY, 1)
    result, encoding = compression.maybe_compress(BODY, 'gzip', 1024, ['gzip'])
    assert encoding == 'gzip'


def test_maybe_compress_unproducible_coding(compression):
    # an `available` coding compress() does not know is a programming error
    with pytest.raises(ValueError, match="^unsupported content coding: 'br'$"):
        compression.maybe_compress(BODY, 'br', 1024, ('br', 'gzip'))


# --- decompress --------------------------------------------------------------

def raw_deflate(data, level=6):
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def test_decompress_identity(compression):
    assert compression.decompress(BODY, 'identity', len(BODY)) == BODY
    assert compression.decompress(b'', 'identity', 0) == b''
    assert compression.decompress(bytearray(b'ab'), 'identity', 2) == b'ab'
    assert type(compression.decompress(bytearray(b'ab'), 'identity', 2)) \
        is bytes
    with pytest.raises(ValueError) as info:
        compression.decompress(BODY, 'identity', len(BODY) - 1)
    assert str(info.value) == \
        'decompressed body is larger than %d bytes' % (len(BODY) - 1)


@pytest.mark.parametrize('encoding', ['gzip', 'deflate'])
def test_decompress_limit_is_inclusive(compression, encoding):
    data = compression.compress(BODY, encoding)
    assert compression.decompress(data, encoding, len(BODY)) == BODY
    with pytest.raises(ValueError) as info:
        compression.decompress(data, encoding, len(BODY) - 1)
    assert str(info.value) == \
        'decompressed body is larger than %d bytes' % (len(BODY) - 1)
    empty = compression.compress(b'', encoding)
    assert compression.decompress(empty, encoding, 0) == b''
    with pytest.raises(ValueError, match='larger than 0 bytes'):
        compression.decompress(compression.compress(b'x', encoding),
                               encoding, 0)


@pytest.mark.parametrize('level', range(-1, 10))
def test_decompress_deflate_both_flavours(compression, level):
    for data in (zlib.compress(BODY, level), raw_deflate(BODY, level)):
        assert compression.decompress(data, 'deflate', len(BODY)) == BODY
    for data in (zlib.compress(b'', level), raw_deflate(b'', level)):
        assert compression.decompress(data, 'deflate', 0) == b''


def test_decompress_stdlib_gzip(compression):
    # gzip.GzipFile writes optional header fields (a file name here)
    buffer = io.BytesIO()
    with gzip.GzipFile(filename='payload.txt', fileobj=buffer, mode='wb',
                       mtime=1234567) as writer:
        writer.write(BODY)
    assert compression.decompress(buffer.getvalue(), 'gzip', len(BODY)) == \
        BODY
    assert compression.decompress(gzip.compress(BODY, 9), 'gzip', 10**6) == \
        BODY


@pytest.mark.parametrize('encoding, coding', [
    ('GZIP', 'gzip'), (' gzip\t', 'gzip'), ('x-gzip', 'gzip'),
    ('X-Gzip', 'gzip'), ('Deflate', 'deflate'), ('IDENTITY', 'identity'),
])
def test_decompress_coding_names(compression, encoding, coding):
    data = BODY if coding == 'identity' else \
        compression.compress(BODY, coding)
    assert compression.decompress(data, encoding, len(BODY)) == BODY


@pytest.mark.parametrize('encoding', ['br', 'compress', '', 'gzip, deflate',
                                      'zstd', 'x-deflate'])
def test_decompress_unknown_coding(compression, encoding):
    with pytest.raises(ValueError) as info:
        compression.decompress(b'abc', encoding, 100)
    assert str(info.value) == 'unsupported content coding: %r' % (encoding,)


def test_decompress_negative_limit(compression):
    with pytest.raises(ValueError) as info:
        compression.decompress(b'', 'identity', -1)
    assert str(info.value) == 'max_size must not be negative, not -1'


def test_decompress_buffers(compression):
    data = compression.compress(BODY, 'gzip')
    for view in (bytearray(data), memoryview(data)):
        assert compression.decompress(view, 'gzip', len(BODY)) == BODY


@pytest.mark.parametrize('encoding', ['gzip', 'deflate', 'raw'])
def test_decompress_every_truncation(compression, encoding):
    body = BODY[:500]
    if encoding == 'raw':
        data, encoding = raw_deflate(body), 'deflate'
    else:
        data = compression.compress(body, encoding)
    for end in range(len(data)):
        with pytest.raises(ValueError) as info:
            compression.decompress(data[:end], encoding, 10**6)
        message = str(info.value)
        assert message == 'truncated %s data' % encoding or \
            message.startswith('invalid %s data: ' % encoding), (end, message)


def test_decompress_empty_is_truncated(compression):
    for encoding in ('gzip', 'deflate'):
        with pytest.raises(ValueError) as info:
            compression.decompress(b'', encoding, 100)
        assert str(info.value) == 'truncated %s data' % encoding


@pytest.mark.parametrize('data, encoding, message', [
    (b'not compressed at all', 'gzip', 'invalid gzip data: '),
    (b'\x1f\x8b\x09' + bytes(20), 'gzip', 'invalid gzip data: '),
    (b'\xff\xff\xff\xff', 'deflate', 'invalid deflate data: '),
    (b'\x78\x9c\xff\xff', 'deflate', 'invalid deflate data: '),
])
def test_decompress_corrupt(compression, data, encoding, message):
    with pytest.raises(ValueError) as info:
        compression.decompress(data, encoding, 10**6)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize('encoding', ['gzip', 'deflate'])
def test_decompress_checksum_mismatch(compression, encoding):
    data = bytearray(compression.compress(BODY, encoding))
    data[-5 if encoding == 'gzip' else -1] ^= 0x01   # CRC32 / Adler-32
    with pytest.raises(ValueError) as info:
        compression.decompress(bytes(data), encoding, 10**6)
    assert str(info.value).startswith('invalid %s data: ' % encoding)


def test_decompress_gzip_length_mismatch(compression):
    data = bytearray(compression.compress(BODY, 'gzip'))
    data[-1] ^= 0x01                                    # ISIZE
    with pytest.raises(ValueError, match='^invalid gzip data: '):
        compression.decompress(bytes(data), 'gzip', 10**6)


def test_decompress_preset_dictionary_refused(compression):
    compressor = zlib.compressobj(zdict=b'message number')
    data = compressor.compress(BODY) + compressor.flush()
    with pytest.raises(ValueError, match='^invalid deflate data: '):
        compression.decompress(data, 'deflate', 10**6)


@pytest.mark.parametrize('trailer', [b'x', b'\0', b'\0' * 8, b'\x1f', b'PK'])
def test_decompress_trailing_data(compression, trailer):
    for encoding, data in (('gzip', compression.compress(BODY, 'gzip')),
                           ('deflate', compression.compress(BODY, 'deflate')),
                           ('deflate', raw_deflate(BODY))):
        with pytest.raises(ValueError) as info:
            compression.decompress(data + trailer, encoding, 10**6)
        assert str(info.value) == \
            'unexpected data after the end of the %s data' % encoding


def test_decompress_gzip_members(compression):
    first, second = BODY[:1000], BODY[1000:]
    data = compression.compress(first, 'gzip') + gzip.compress(second)
    assert compression.decompress(data, 'gzip', len(BODY)) == BODY
    assert gzip.decompress(data) == BODY
    # empty members are members too
    empty = compression.compress(b'', 'gzip')
    assert compression.decompress(empty * 50, 'gzip', 0) == b''
    assert compression.decompress(empty + data + empty, 'gzip', len(BODY)) \
        == BODY


def test_decompress_gzip_members_share_the_limit(compression):
    member = compression.compress(b'a' * 600, 'gzip')
    assert compression.decompress(member * 2, 'gzip', 1200) == b'a' * 1200
    for limit in (1199, 1000, 600, 599):
        with pytest.raises(ValueError) as info:
            compression.decompress(member * 2, 'gzip', limit)
        assert str(info.value) == \
            'decompressed body is larger than %d bytes' % limit
    with pytest.raises(ValueError, match='larger than 6000 bytes'):
        compression.decompress(member * 11, 'gzip', 6000)


def test_decompress_gzip_bad_second_member(compression):
    member = compression.compress(BODY, 'gzip')
    with pytest.raises(ValueError, match='^truncated gzip data$'):
        compression.decompress(member + member[:30], 'gzip', 10**6)
    with pytest.raises(ValueError, match='^invalid gzip data: '):
        compression.decompress(member + b'\x1f\x8b\x00' + bytes(20), 'gzip',
                               10**6)


@pytest.fixture(scope='module')
def bombs():
    """10 MB of zeros, gzip'ed and deflated (about 10 KB each)."""
    size = 10 * 1024 * 1024
    zeros = bytes(size)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    return size, {
        'gzip': compressor.compress(zeros) + compressor.flush(),
        'deflate': zlib.compress(zeros, 9),
        'raw': raw_deflate(zeros, 9),
    }


@pytest.mark.parametrize('kind', ['gzip', 'deflate', 'raw'])
def test_decompress_bomb_refused(compression, bombs, kind):
    size, data = bombs
    body = data[kind]
    assert len(body) < 20000
    encoding = 'deflate' if kind == 'raw' else kind
    with pytest.raises(ValueError) as info:
        compression.decompress(body, encoding, 65536)
    assert str(info.value) == 'decompressed body is larger than 65536 bytes'
    # and a limit above the real size lets it through, so the refusal above
    # is the limit at work and not some other failure
    assert len(compression.decompress(body, encoding, size)) == size


@pytest.mark.skipif(platform.python_implementation() != 'CPython',
                    reason='tracemalloc traces CPython allocations only')
@pytest.mark.parametrize('kind', ['gzip', 'deflate', 'raw'])
def test_decompress_bomb_memory_is_bounded(compression, bombs, kind):
    import tracemalloc
    _, data = bombs
    body = data[kind]
    encoding = 'deflate' if kind == 'raw' else kind
    limit = 256 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match='larger than'):
            compression.decompress(body, encoding, limit)
        with pytest.raises(ValueError, match='larger than'):
            # many members, each far below the limit, together far above it
            compression.decompress(
                compression.compress(bytes(100000), 'gzip') * 100, 'gzip',
                limit)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # inflating everything would take 10 MB; allow a few times the limit
    assert peak < 4 * limit, peak


# --- the two twins agree ------------------------------------------------------

def twins(kernel_pair):
    pure, compiled = kernel_pair('_compression')
    if compiled is None:
        pytest.skip('no compiled twin to compare with in this run')
    return pure, compiled


CODINGS = ['gzip', 'deflate', 'br', 'zstd', 'identity', '*', 'x-gzip',
           'compress', 'GZIP', 'Deflate', 'gz ip', '']
QVALUES = ['0', '0.', '0.5', '0.001', '0.999', '1', '1.0', '1.000', '0.000',
           'abc', '2', '', '1.5', '0.1234', '-1', '.5', 'nan', '1.0000']
OWS = st.sampled_from(['', ' ', '\t', '  '])


@st.composite
def header_elements(draw):
    """``(element text, coding, q text or None)`` lists for a header."""
    elements = []
    for _ in range(draw(st.integers(0, 6))):
        coding = draw(st.sampled_from(CODINGS))
        q = draw(st.one_of(st.none(), st.sampled_from(QVALUES)))
        text = draw(OWS) + coding + draw(OWS)
        if q is not None:
            text += ';' + draw(OWS) + draw(st.sampled_from(['q', 'Q'])) + \
                '=' + q + draw(OWS)
        elements.append((text, coding, q))
    return elements


def expected_choice(elements, available=('gzip', 'deflate')):
    """An independent statement of the rules, for structured headers."""
    weights = {}
    for _, coding, q in elements:
        coding = coding.strip().lower()
        if not re.fullmatch(r"[!#$%&'*+\-.^_`|~0-9a-z]+", coding):
            continue
        if q is None:
            weight = 1.0
        elif re.fullmatch(r'0(\.[0-9]{0,3})?|1(\.0{0,3})?', q):
            weight = float(q + '0' if q.endswith('.') else q)
        else:
            weight = 0.0
        weights[coding] = max(weight, weights.get(coding, -1.0))
    best, best_weight = None, 0.0
    for name in available:
        weight = weights.get(name, weights.get('*', 0.0))
        if weight > best_weight:
            best, best_weight = name, weight
    return best


@given(header_elements())
def test_choose_matches_the_rules(compression, elements):
    header = ','.join(text for text, _, _ in elements)
    assert compression.choose_encoding(header) == expected_choice(elements)
    assert compression.choose_encoding(header, ('deflate', 'gzip')) == \
        expected_choice(elements, ('deflate', 'gzip'))


@given(header_elements())
def test_twins_agree_on_structured_headers(kernel_pair, elements):
    pure, compiled = twins(kernel_pair)
    header = ','.join(text for text, _, _ in elements)
    assert raised(pure.parse_accept_encoding, header) == \
        raised(compiled.parse_accept_encoding, header)
    assert raised(pure.choose_encoding, header) == \
        raised(compiled.choose_encoding, header)


@given(st.one_of(st.text(), st.binary(), st.text(alphabet=',;=q. \t01gzipGZ*')))
def test_twins_agree_on_any_header(kernel_pair, header):
    pure, compiled = twins(kernel_pair)
    assert raised(pure.parse_accept_encoding, header) == \
        raised(compiled.parse_accept_encoding, header)
    assert raised(pure.choose_encoding, header) == \
        raised(compiled.choose_encoding, header)
    available = ('deflate', 'br', 'gzip')
    assert raised(pure.choose_encoding, header, available) == \
        raised(compiled.choose_encoding, header, available)


@given(st.binary(max_size=5000), st.sampled_from(['gzip', 'deflate']),
       st.integers(-1, 9))
def test_twins_agree_on_compress(kernel_pair, body, encoding, level):
    pure, compiled = twins(kernel_pair)
    out = pure.compress(body, encoding, level)
    assert compiled.compress(body, encoding, level) == out
    assert compiled.decompress(out, encoding, len(body)) == body
    assert pure.maybe_compress(body, encoding, 100) == \
        compiled.maybe_compress(body, encoding, 100)


@given(st.binary(max_size=300),
       st.sampled_from(['gzip', 'deflate', 'identity', 'x-gzip', 'br']),
       st.integers(0, 400))
def test_twins_agree_on_decompress_garbage(kernel_pair, data, encoding, limit):
    pure, compiled = twins(kernel_pair)
    assert raised(pure.decompress, data, encoding, limit) == \
        raised(compiled.decompress, data, encoding, limit)


@given(st.binary(min_size=1, max_size=2000),
       st.sampled_from(['gzip', 'deflate']), st.data())
def test_twins_agree_on_damaged_streams(kernel_pair, body, encoding, data):
    pure, compiled = twins(kernel_pair)
    stream = bytearray(pure.compress(body * 3, encoding))
    position = data.draw(st.integers(0, len(stream) - 1))
    stream[position] ^= data.draw(st.integers(1, 255))
    end = data.draw(st.integers(0, len(stream) + 2))
    damaged = bytes(stream[:end])
    limit = data.draw(st.integers(0, len(body) * 4))
    assert raised(pure.decompress, damaged, encoding, limit) == \
        raised(compiled.decompress, damaged, encoding, limit)


def test_twins_agree_on_type_errors(kernel_pair):
    pure, compiled = twins(kernel_pair)
    for call in [('parse_accept_encoding', 5), ('choose_encoding', 5.0),
                 ('compress', BODY, 'gzip', 11),
                 ('compress', BODY, 'br'),
                 ('decompress', b'', 'br', 10),
                 ('decompress', b'', 'identity', -5)]:
        name, args = call[0], call[1:]
        assert raised(getattr(pure, name), *args) == \
            raised(getattr(compiled, name), *args)
