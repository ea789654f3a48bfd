"""Fuzz target for the incremental WebSocket frame parser.

Arbitrary bytes in arbitrary chunks, on both sides (server: frames must be
masked; client: must not be), with and without UTF-8 validation: the only
exception that may escape is WebSocketProtocolError, with a close code the
glue can send, and memory stays bounded by the limit whatever the input
announces.  The default run is short (the hypothesis profile from conftest);
``HYPOTHESIS_PROFILE=fuzz`` runs it long.
"""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

LIMIT = 1000
# what the parser may hold between calls: an incomplete frame (a header of at
# most 14 bytes and a payload the limit or 125 allows) and the fragments of an
# incomplete message (at most the limit)
BOUND = 14 + max(LIMIT, 125) + LIMIT
SENDABLE_CODES = {1002, 1007, 1009}


def header(draw):
    """A frame header with a random first byte and length encoding: most
    random bytes fail on the first header, these get further."""
    first = draw(st.integers(0, 255))
    masked = draw(st.sampled_from([0x80, 0x80, 0]))
    form = draw(st.sampled_from(['short', '16', '64']))
    if form == 'short':
        encoded = bytes([masked | draw(st.integers(0, 125))])
    elif form == '16':
        encoded = bytes([masked | 126]) + draw(
            st.integers(0, 65535)).to_bytes(2, 'big')
    else:
        encoded = bytes([masked | 127]) + draw(
            st.integers(0, 2 ** 64 - 1)).to_bytes(8, 'big')
    key = draw(st.binary(min_size=4, max_size=4)) if masked else b''
    return bytes([first]) + encoded + key


@st.composite
def streams(draw):
    parts = []
    for _ in range(draw(st.integers(1, 8))):
        if draw(st.booleans()):
            parts.append(header(draw))
        parts.append(draw(st.binary(max_size=200)))
    return b''.join(parts)


@st.composite
def chunked(draw):
    data = draw(st.one_of(st.binary(max_size=600), streams()))
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=10)))
    return [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]


def consume(websocket, chunks, **options):
    parser = websocket.FrameParser(LIMIT, **options)
    delivered = []
    for chunk in chunks:
        try:
            delivered += parser.feed(chunk)
        except websocket.WebSocketProtocolError as exc:
            assert exc.code in SENDABLE_CODES, exc.code
            assert isinstance(exc.reason, str) and exc.reason == str(exc)
            assert len(exc.reason.encode()) <= 123
            delivered += exc.messages
            assert parser.buffered == 0
            return delivered, exc
        assert parser.buffered <= BOUND
    try:
        parser.feed_eof()
    except websocket.WebSocketProtocolError as exc:
        assert exc.code == 1006
    return delivered, None


def check_messages(websocket, delivered, validate_utf8):
    for opcode, payload in delivered:
        if opcode == 1 and validate_utf8:
            assert type(payload) is str
            assert len(payload.encode('utf-8', 'surrogatepass')) <= LIMIT
        elif opcode in (1, 2):
            assert type(payload) is bytes and len(payload) <= LIMIT
        else:
            assert opcode in (8, 9, 10)
            assert type(payload) is bytes and len(payload) <= 125
            if opcode == 8:
                websocket.parse_close_payload(payload)  # was validated


@given(chunks=chunked(), require_mask=st.booleans(),
       validate_utf8=st.booleans())
def test_fuzz_frame_parser(websocket, chunks, require_mask, validate_utf8):
    delivered, _ = consume(websocket, chunks, require_mask=require_mask,
                           validate_utf8=validate_utf8)
    check_messages(websocket, delivered, validate_utf8)


@given(chunks=chunked(), require_mask=st.booleans())
def test_fuzz_twins_agree(kernel_pair, chunks, require_mask):
    pure, compiled = kernel_pair('_websocket')
    if compiled is None:
        pytest.skip('no compiled kernel here')
    ours, our_error = consume(compiled, chunks, require_mask=require_mask)
    theirs, their_error = consume(pure, chunks, require_mask=require_mask)
    assert ours == theirs
    assert (our_error is None) == (their_error is None)
    if our_error is not None:
        assert (our_error.code, our_error.reason) == \
            (their_error.code, their_error.reason)


@given(data=st.binary(max_size=40), offset=st.integers(0, 40))
def test_fuzz_header_decoder(websocket, data, offset):
    offset = min(offset, len(data))
    try:
        result = websocket.parse_frame_header(data, offset)
    except websocket.WebSocketProtocolError as exc:
        assert exc.code == 1002
        return
    if result is not None:
        fin, rsv, opcode, masked, length, header_length, key = result
        assert header_length == 2 + (4 if masked else 0) + (
            0 if length < 126 else 2 if length < 65536 else 8)
        assert offset + header_length <= len(data)
        assert (key is not None) == masked and 0 <= rsv <= 7
        assert opcode in (0, 1, 2, 8, 9, 10)
