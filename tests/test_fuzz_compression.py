"""Fuzzing the compression kernel: only documented outcomes may come out.

``parse_accept_encoding`` and ``choose_encoding`` must answer for any header
text (a bad header is the client's problem, never a server error), and
``decompress`` may only return at most ``max_size`` bytes or raise
``ValueError``, whatever bytes it is given.  Brief by default (the ``ci``
hypothesis profile runs 150 examples); ``HYPOTHESIS_PROFILE=fuzz`` runs long.
"""
from __future__ import annotations

import zlib

from hypothesis import example, given
from hypothesis import strategies as st

# Text biased towards the characters the parser cares about, mixed with any.
HEADER_TEXT = st.one_of(
    st.text(),
    st.text(alphabet=' \t,;=qQ.0123456789*gzipdeflatGZIPidentybr-"\r\n\u212a'),
    st.lists(st.sampled_from(['gzip', 'deflate', 'br', '*', 'identity', ',',
                              ';', 'q=', '0', '1', '.', ' ', '\t', '5', 'Q',
                              '\x00', '\u00e9', '=']),
             max_size=40).map(''.join),
)

AVAILABLE = st.one_of(
    st.just(('gzip', 'deflate')),
    st.lists(st.sampled_from(['gzip', 'deflate', 'br', 'identity', '*',
                              'GZIP', '']), max_size=4),
    st.lists(st.text(max_size=8), max_size=3),
)

CODINGS = st.one_of(
    st.sampled_from(['gzip', 'deflate', 'identity', 'x-gzip', 'GZIP',
                     ' deflate ']),
    st.text(max_size=10),
)


@given(HEADER_TEXT)
@example('gzip;q=' + '9' * 10000)
@example(',' * 10000)
@example('gzip;' + ';' * 5000 + 'q=0.5')
def test_parse_never_raises(compression, header):
    result = compression.parse_accept_encoding(header)
    assert isinstance(result, list)
    for coding, q in result:
        assert coding and coding == coding.lower() and coding.isascii()
        assert 0.0 <= q <= 1.0
    assert compression.parse_accept_encoding(header.encode('utf-8')) == \
        compression.parse_accept_encoding(
            header.encode('utf-8').decode('latin-1'))


@given(HEADER_TEXT, AVAILABLE)
def test_choose_never_raises(compression, header, available):
    choice = compression.choose_encoding(header, available)
    assert choice is None or choice in [name.lower() for name in available]
    default = compression.choose_encoding(header)
    assert default in (None, 'gzip', 'deflate')
    # whatever it picked is something the client accepts with some weight
    if default is not None:
        weights = compression.parse_accept_encoding(header)
        named = [q for coding, q in weights if coding == default]
        star = [q for coding, q in weights if coding == '*']
        assert max(named) > 0 if named else max(star) > 0


@given(st.binary(max_size=64))
def test_choose_never_raises_on_bytes(compression, header):
    choice = compression.choose_encoding(header)
    assert choice in (None, 'gzip', 'deflate')


@given(st.binary(max_size=2000), CODINGS, st.integers(0, 3000))
@example(b'\x1f\x8b', 'gzip', 0)
@example(b'\x78\x9c', 'deflate', 0)
@example(b'\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x03\x00\x00\x00\x00\x00'
         b'\x00\x00\x00\x00' * 3 + b'\x00', 'gzip', 5)
def test_decompress_arbitrary_bytes(compression, data, encoding, max_size):
    try:
        result = compression.decompress(data, encoding, max_size)
    except ValueError:
        return
    assert isinstance(result, bytes)
    assert len(result) <= max_size


@st.composite
def damaged_streams(draw):
    """A real compressed stream, then damaged a little."""
    body = draw(st.one_of(
        st.binary(max_size=3000),
        st.integers(0, 200000).map(bytes),          # very compressible
        st.text(max_size=500).map(lambda t: (t * 8).encode())))
    encoding = draw(st.sampled_from(['gzip', 'zlib', 'raw']))
    level = draw(st.integers(0, 9))
    wbits = {'gzip': 31, 'zlib': 15, 'raw': -15}[encoding]
    compressor = zlib.compressobj(level, zlib.DEFLATED, wbits)
    stream = bytearray(compressor.compress(body) + compressor.flush())
    members = draw(st.integers(1, 3)) if encoding == 'gzip' else 1
    stream = stream * members
    damages = draw(st.integers(0, 3))
    for _ in range(damages):
        action = draw(st.sampled_from(['flip', 'cut', 'insert', 'append']))
        position = draw(st.integers(0, len(stream)))
        if action == 'flip' and position < len(stream):
            stream[position] ^= draw(st.integers(1, 255))
        elif action == 'cut':
            del stream[position:]
        elif action == 'insert':
            stream[position:position] = draw(st.binary(min_size=1,
                                                       max_size=4))
        else:
            stream += draw(st.binary(min_size=1, max_size=4))
    coding = 'gzip' if encoding == 'gzip' else 'deflate'
    return bytes(stream), coding, body * members, damages > 0


@given(damaged_streams(), st.data())
def test_decompress_damaged_streams(compression, stream, data):
    damaged, encoding, body, was_damaged = stream
    size = len(body)
    # around the real size, where the limit check has to be exact
    max_size = data.draw(st.one_of(st.integers(0, size + 2),
                                   st.integers(max(size - 2, 0), size + 2)))
    try:
        result = compression.decompress(damaged, encoding, max_size)
    except ValueError as exc:
        # an intact stream is refused only for its size
        assert was_damaged or (size > max_size and 'larger than' in str(exc))
        return
    assert isinstance(result, bytes)
    assert len(result) <= max_size
    if not was_damaged:
        assert result == body
