"""RFC 6455 framing kernels: builders, header decoder, incremental parser.

Tests taking the ``websocket`` fixture run once per implementation available
here (``py`` always, ``c`` on CPython).  Every parser case goes through
:func:`parse`, which feeds the bytes whole, one byte at a time and in a few
fixed chunkings, and requires the same outcome each way.  Differential tests
compare the two twins on generated frames; wsproto (when installed) checks
that what we build is what another implementation reads, and back.
"""
from __future__ import annotations

import os
import pickle
import random

import pytest
from hypothesis import given, strategies as st

KEY = bytes([0x37, 0xFA, 0x21, 0x3D])
LIMIT = 1 << 16


def masked(data: bytes, key: bytes = KEY) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


def raw_frame(first: int, payload: bytes = b'', key=KEY, length_bytes=None):
    """A frame built by hand: ``first`` is the whole first byte.

    ``length_bytes`` forces an encoding of the length (for non-minimal ones).
    """
    size = len(payload)
    mask_bit = 0x80 if key is not None else 0
    if length_bytes is None:
        length_bytes = 0 if size < 126 else 2 if size < 65536 else 8
    if length_bytes == 0:
        header = bytes([first, mask_bit | size])
    elif length_bytes == 2:
        header = bytes([first, mask_bit | 126]) + size.to_bytes(2, 'big')
    else:
        header = bytes([first, mask_bit | 127]) + size.to_bytes(8, 'big')
    if key is None:
        return header + payload
    return header + key + masked(payload, key)


def run(websocket, chunks, limit=LIMIT, **options):
    """Feed ``chunks``; return (messages, error) where error is
    (type name, code, reason) or None.  Messages include the ones carried by
    the exception, so every chunking can be compared."""
    parser = websocket.FrameParser(limit, **options)
    messages = []
    for chunk in chunks:
        try:
            messages += parser.feed(chunk)
        except websocket.WebSocketProtocolError as exc:
            messages += exc.messages
            # dead: the same error again, with no messages
            with pytest.raises(websocket.WebSocketProtocolError) as again:
                parser.feed(b'\x81\x00')
            assert (again.value.code, again.value.reason) == \
                (exc.code, exc.reason)
            assert again.value.messages == []
            return messages, (type(exc).__name__, exc.code, exc.reason)
    return messages, None


def chunkings(data: bytes):
    yield [data]
    yield [data[i:i + 1] for i in range(len(data))]
    for size in (2, 3, 7, 64):
        yield [data[i:i + size] for i in range(0, len(data), size)]
    rng = random.Random(len(data))
    for _ in range(3):
        cuts = sorted(rng.sample(range(len(data) + 1),
                                 min(4, len(data) + 1)))
        yield [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]


def parse(websocket, data: bytes, **options):
    """The outcome of parsing ``data``, checked identical for all chunkings."""
    expected = run(websocket, [data], **options)
    for chunks in chunkings(data):
        assert run(websocket, chunks, **options) == expected, chunks
    return expected


def parse_error(websocket, data: bytes, **options):
    messages, error = parse(websocket, data, **options)
    assert error is not None, messages
    return error[1], error[2]


# -- constants and the exception --------------------------------------------

def test_constants(websocket):
    assert (websocket.OP_CONTINUATION, websocket.OP_TEXT, websocket.OP_BINARY,
            websocket.OP_CLOSE, websocket.OP_PING, websocket.OP_PONG) == \
        (0, 1, 2, 8, 9, 10)
    assert (websocket.CLOSE_NORMAL, websocket.CLOSE_GOING_AWAY,
            websocket.CLOSE_PROTOCOL_ERROR, websocket.CLOSE_UNSUPPORTED_DATA,
            websocket.CLOSE_NO_STATUS, websocket.CLOSE_ABNORMAL,
            websocket.CLOSE_INVALID_DATA, websocket.CLOSE_POLICY_VIOLATION,
            websocket.CLOSE_TOO_BIG, websocket.CLOSE_INTERNAL_ERROR) == \
        (1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1011)
    assert websocket.MAX_CONTROL_PAYLOAD == 125


def test_exports(websocket):
    for name in websocket.__all__:
        assert hasattr(websocket, name), name
    assert websocket.__doc__


def test_protocol_error(websocket):
    exc = websocket.WebSocketProtocolError(1002, 'bad frame')
    assert isinstance(exc, ValueError)
    assert (exc.code, exc.reason, str(exc), exc.messages) == \
        (1002, 'bad frame', 'bad frame', [])
    copy = pickle.loads(pickle.dumps(exc))
    assert type(copy) is type(exc)
    assert (copy.code, copy.reason) == (1002, 'bad frame')


def test_compiled_parser_uses_the_c_masking(websocket):
    expected = 'engineio._speedups._mask_c' \
        if websocket.__name__.endswith('_c') else 'engineio._speedups._mask'
    assert websocket._MASK_MODULE == expected


# -- build_frame_header / build_frame ----------------------------------------

@pytest.mark.parametrize('length,encoded', [
    (0, b'\x81\x00'), (125, b'\x81\x7d'), (126, b'\x81\x7e\x00\x7e'),
    (65535, b'\x81\x7e\xff\xff'),
    (65536, b'\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00'),
    (2 ** 63 - 1, b'\x81\x7f\x7f\xff\xff\xff\xff\xff\xff\xff'),
])
def test_header_length_forms(websocket, length, encoded):
    assert websocket.build_frame_header(1, length) == encoded
    with_key = websocket.build_frame_header(1, length, mask_key=KEY)
    assert with_key == bytes([encoded[0], encoded[1] | 0x80]) + \
        encoded[2:] + KEY


def test_header_bits(websocket):
    assert websocket.build_frame_header(0, 3, fin=False) == b'\x00\x03'
    assert websocket.build_frame_header(2, 3, rsv=4) == b'\xc2\x03'
    assert websocket.build_frame_header(15, 0, True, None, 7) == b'\xff\x00'
    assert websocket.build_frame_header(9, 0, mask_key=bytearray(KEY)) == \
        b'\x89\x80' + KEY


@pytest.mark.parametrize('args,error,message', [
    ((16, 0), ValueError, 'opcode must be between 0 and 15, not 16'),
    ((-1, 0), ValueError, 'opcode must be between 0 and 15, not -1'),
    ((1, -1), ValueError,
     'length must be between 0 and 9223372036854775807, not -1'),
    ((1, 2 ** 63), ValueError, 'length must be between 0 and '
     '9223372036854775807, not 9223372036854775808'),
    ((1, 0, True, None, 8), ValueError, 'rsv must be between 0 and 7, not 8'),
    ((1, 0, True, b'abc'), ValueError, 'mask key must be 4 bytes'),
    ((1, 0, True, 'abcd'), TypeError,
     'mask key must be a bytes-like object, not str'),
    ((1.0, 0), TypeError, None),
    ((1, '3'), TypeError, None),
])
def test_header_errors(websocket, args, error, message):
    with pytest.raises(error) as info:
        websocket.build_frame_header(*args)
    if message is not None:
        assert str(info.value) == message


def test_build_frame(websocket):
    assert websocket.build_frame(1, 'Hello') == b'\x81\x05Hello'
    # RFC 6455 section 5.7, a masked "Hello" from a client
    assert websocket.build_frame(1, b'Hello', mask_key=KEY) == \
        bytes.fromhex('818537fa213d7f9f4d5158')
    assert websocket.build_frame(2, bytearray(200)) == \
        b'\x82\x7e\x00\xc8' + bytes(200)
    assert websocket.build_frame(9, memoryview(b'ping'), mask_key=KEY) == \
        b'\x89\x84' + KEY + masked(b'ping')
    assert websocket.build_frame(1, 'é', fin=False) == b'\x01\x02\xc3\xa9'
    assert websocket.build_frame(0, b'') == b'\x80\x00'
    big = os.urandom(70000)
    assert websocket.build_frame(2, big, mask_key=KEY) == \
        b'\x82\xff' + (70000).to_bytes(8, 'big') + KEY + masked(big)


def test_build_frame_errors(websocket):
    with pytest.raises(TypeError) as info:
        websocket.build_frame(2, 12)
    assert str(info.value) == 'payload must be a bytes-like object, not int'
    with pytest.raises(ValueError, match='^opcode must be between'):
        websocket.build_frame(16, b'')
    with pytest.raises(ValueError, match='^mask key must be 4 bytes$'):
        websocket.build_frame(1, b'x', mask_key=b'12345')


# -- parse_frame_header -------------------------------------------------------

@pytest.mark.parametrize('opcode', [0, 1, 2, 8, 9, 10])
@pytest.mark.parametrize('length', [0, 1, 125, 126, 65535, 65536, 2 ** 40])
@pytest.mark.parametrize('key', [None, KEY])
def test_header_round_trip(websocket, opcode, length, key):
    if opcode >= 8 and length > 125:
        return
    header = websocket.build_frame_header(opcode, length, mask_key=key)
    expected = (True, 0, opcode, key is not None, length, len(header), key)
    assert websocket.parse_frame_header(header) == expected
    assert websocket.parse_frame_header(header + b'payload') == expected
    assert websocket.parse_frame_header(b'xyz' + header, 3) == expected
    assert websocket.parse_frame_header(bytearray(header)) == expected
    assert websocket.parse_frame_header(memoryview(b'..' + header), 2) == \
        expected
    for cut in range(len(header)):
        assert websocket.parse_frame_header(header[:cut]) is None
        assert websocket.parse_frame_header(bytearray(header[:cut])) is None


def test_header_fields(websocket):
    assert websocket.parse_frame_header(b'\x72\x00') == \
        (False, 7, 2, False, 0, 2, None)
    assert websocket.parse_frame_header(b'\x00\x80abcd') == \
        (False, 0, 0, True, 0, 6, b'abcd')


@pytest.mark.parametrize('header,reason', [
    (b'\x83\x00', 'reserved opcode 3'),
    (b'\x87\x00', 'reserved opcode 7'),
    (b'\x8b\x00', 'reserved opcode 11'),
    (b'\x8f\x00', 'reserved opcode 15'),
    (b'\x09\x00', 'fragmented control frame'),
    (b'\x08\x00', 'fragmented control frame'),
    (b'\x89\x7e\x00\x7e', 'control frame payload of 126 bytes (at most 125)'),
    (b'\x81\x7e\x00\x7d', 'payload length 125 not in its minimal encoding'),
    (b'\x81\x7e\x00\x00', 'payload length 0 not in its minimal encoding'),
    (b'\x81\x7f\x00\x00\x00\x00\x00\x00\xff\xff',
     'payload length 65535 not in its minimal encoding'),
    (b'\x81\x7f\x80\x00\x00\x00\x00\x00\x00\x00',
     '64-bit payload length with the most significant bit set'),
    (b'\x81\xff\xff\xff\xff\xff\xff\xff\xff\xffabcd',
     '64-bit payload length with the most significant bit set'),
])
def test_header_violations(websocket, header, reason):
    with pytest.raises(websocket.WebSocketProtocolError) as info:
        websocket.parse_frame_header(header)
    assert (info.value.code, info.value.reason) == (1002, reason)
    # nothing is decided before the whole header is there
    assert websocket.parse_frame_header(header[:-1]) is None


def test_parse_frame_header_arguments(websocket):
    with pytest.raises(ValueError, match='^offset 3 outside the data'):
        websocket.parse_frame_header(b'ab', 3)
    with pytest.raises(ValueError, match='^offset -1 outside the data'):
        websocket.parse_frame_header(bytearray(b'ab'), -1)
    with pytest.raises(TypeError):
        websocket.parse_frame_header('\x81\x00')
    assert websocket.parse_frame_header(b'\x81\x00', 2) is None


# -- close payloads -------------------------------------------------------------

VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012,
               1013, 1014, 3000, 3999, 4000, 4999]
INVALID_CODES = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999,
                 5000, 65535]


@pytest.mark.parametrize('code', VALID_CODES)
def test_close_round_trip(websocket, code):
    assert websocket.is_valid_close_code(code)
    for reason in ('', 'bye', 'é' * 61, 'x' * 123):
        payload = websocket.build_close_payload(code, reason)
        assert payload == code.to_bytes(2, 'big') + reason.encode()
        assert websocket.parse_close_payload(payload) == (code, reason)
        assert websocket.parse_close_payload(bytearray(payload)) == \
            (code, reason)


@pytest.mark.parametrize('code', INVALID_CODES)
def test_close_codes_not_allowed(websocket, code):
    assert not websocket.is_valid_close_code(code)
    with pytest.raises(websocket.WebSocketProtocolError) as info:
        websocket.parse_close_payload(code.to_bytes(2, 'big') + b'why')
    assert (info.value.code, info.value.reason) == \
        (1002, 'invalid close code %d' % code)
    if code != 1005:
        with pytest.raises(ValueError) as error:
            websocket.build_close_payload(code)
        assert str(error.value) == 'close code %d may not be sent' % code


def test_close_no_status(websocket):
    assert websocket.parse_close_payload(b'') == (1005, '')
    assert websocket.build_close_payload(1005) == b''
    with pytest.raises(ValueError, match='^close code 1005 may not be sent$'):
        websocket.build_close_payload(1005, 'a reason needs a code')


def test_close_payload_errors(websocket):
    with pytest.raises(websocket.WebSocketProtocolError) as info:
        websocket.parse_close_payload(b'\x03')
    assert (info.value.code, info.value.reason) == \
        (1002, 'close frame payload of 1 byte')
    for bad in (b'\xff', b'\xc3', b'\xed\xa0\x80', b'\xf4\x90\x80\x80',
                b'\xc0\xaf'):
        with pytest.raises(websocket.WebSocketProtocolError) as info:
            websocket.parse_close_payload(b'\x03\xe8' + bad)
        assert (info.value.code, info.value.reason) == \
            (1007, 'invalid UTF-8 in close reason')
    with pytest.raises(ValueError,
                       match='^close reason longer than 123 bytes in UTF-8$'):
        websocket.build_close_payload(1000, 'é' * 62)
    with pytest.raises(TypeError):
        websocket.build_close_payload('1000')
    with pytest.raises(TypeError):
        websocket.parse_close_payload(1000)
    assert websocket.is_valid_close_code(2 ** 80) is False
    assert websocket.is_valid_close_code(-1000) is False


# -- FrameParser: messages ------------------------------------------------------

def test_single_frames(websocket):
    data = (raw_frame(0x81, 'héllo'.encode()) + raw_frame(0x82, b'\x00\xff')
            + raw_frame(0x89, b'ping') + raw_frame(0x8a, b'')
            + raw_frame(0x81, b'') + raw_frame(0x82, b''))
    assert parse(websocket, data) == ([
        (1, 'héllo'), (2, b'\x00\xff'), (9, b'ping'), (10, b''), (1, ''),
        (2, b'')], None)


@pytest.mark.parametrize('size', [0, 1, 125, 126, 127, 65535, 65536, 100000])
@pytest.mark.parametrize('key', [KEY, None])
def test_every_length_form(websocket, size, key):
    payload = os.urandom(size)
    data = raw_frame(0x82, payload, key=key)
    options = {'require_mask': key is not None}
    parser = websocket.FrameParser(1 << 20, **options)
    assert parser.feed(data) == [(2, payload)]
    assert parser.buffered == 0
    # and split once at every header position, and in the payload
    cuts = list(range(1, 15)) + [len(data) // 2, len(data) - 1]
    for cut in sorted(set(c for c in cuts if 0 < c < len(data))):
        parser = websocket.FrameParser(1 << 20, **options)
        assert parser.feed(data[:cut]) == []
        assert parser.feed(data[cut:]) == [(2, payload)]
        assert parser.buffered == 0


def test_fragmented_messages(websocket):
    data = (raw_frame(0x01, b'he') + raw_frame(0x00, b'll')
            + raw_frame(0x89, b'between') + raw_frame(0x00, b'')
            + raw_frame(0x80, b'o') + raw_frame(0x02, b'\x01')
            + raw_frame(0x8a, b'') + raw_frame(0x80, b'\x02\x03'))
    assert parse(websocket, data) == (
        [(9, b'between'), (1, 'hello'), (10, b''), (2, b'\x01\x02\x03')], None)


def test_multibyte_character_split_across_fragments(websocket):
    text = 'aé€😀'.encode()
    for cut in range(len(text) + 1):
        data = raw_frame(0x01, text[:cut]) + raw_frame(0x80, text[cut:])
        assert parse(websocket, data) == ([(1, 'aé€😀')], None)


def test_empty_fragments(websocket):
    data = raw_frame(0x01, b'') + raw_frame(0x00, b'') + raw_frame(0x80, b'')
    assert parse(websocket, data) == ([(1, '')], None)


def test_client_side(websocket):
    data = raw_frame(0x81, b'hi', key=None) + raw_frame(0x89, b'', key=None)
    assert parse(websocket, data, require_mask=False) == \
        ([(1, 'hi'), (9, b'')], None)
    assert parse_error(websocket, raw_frame(0x81, b'hi'),
                       require_mask=False) == \
        (1002, 'masked frame from the server')


def test_without_utf8_validation(websocket):
    data = raw_frame(0x81, b'\xff\xfe') + raw_frame(0x01, b'a\xc3') + \
        raw_frame(0x80, b'\xa9')
    assert parse(websocket, data, validate_utf8=False) == \
        ([(1, b'\xff\xfe'), (1, b'a\xc3\xa9')], None)


def test_close_frames_are_validated_and_delivered(websocket):
    for payload in (b'', b'\x03\xe8', b'\x03\xe8bye', b'\x0f\xa0'):
        assert parse(websocket, raw_frame(0x88, payload)) == \
            ([(8, payload)], None)
    # frames after a close are still parsed: the caller stops reading
    assert parse(websocket, raw_frame(0x88, b'') + raw_frame(0x81, b'x')) == \
        ([(8, b''), (1, 'x')], None)


def test_trailing_partial_frame_completes_later(websocket):
    first = raw_frame(0x81, b'one')
    payload = os.urandom(300)
    second = raw_frame(0x82, payload)
    for cut in range(1, len(second)):
        parser = websocket.FrameParser(LIMIT)
        assert parser.feed(first + second[:cut]) == [(1, 'one')]
        assert parser.buffered == cut
        assert parser.feed(second[cut:] + first) == [(2, payload), (1, 'one')]
        assert parser.buffered == 0


def test_feed_accepts_buffers(websocket):
    data = raw_frame(0x81, b'abc')
    for chunk in (bytearray(data), memoryview(data)):
        assert websocket.FrameParser(LIMIT).feed(chunk) == [(1, 'abc')]
    with pytest.raises(TypeError):
        websocket.FrameParser(LIMIT).feed('text')
    with pytest.raises(TypeError):
        websocket.FrameParser(LIMIT).feed(3)
    assert websocket.FrameParser(LIMIT).feed(b'') == []


def test_parser_options(websocket):
    assert websocket.FrameParser(10).max_message_size == 10
    assert websocket.FrameParser(None).max_message_size is None
    with pytest.raises(ValueError):
        websocket.FrameParser(-1)
    with pytest.raises(TypeError):
        websocket.FrameParser(1.5)
    with pytest.raises(TypeError):
        websocket.FrameParser(10, False)  # the options are keyword-only


# -- FrameParser: violations -------------------------------------------------

@pytest.mark.parametrize('data,code,reason', [
    (raw_frame(0x83, b''), 1002, 'reserved opcode 3'),
    (raw_frame(0x8b, b''), 1002, 'reserved opcode 11'),
    (raw_frame(0xc1, b'x'), 1002,
     'reserved bits set (4) but no extension negotiated'),
    (raw_frame(0xa1, b'x'), 1002,
     'reserved bits set (2) but no extension negotiated'),
    (raw_frame(0x91, b'x'), 1002,
     'reserved bits set (1) but no extension negotiated'),
    (raw_frame(0x09, b''), 1002, 'fragmented control frame'),
    (raw_frame(0x01, b'a') + raw_frame(0x08, b''), 1002,
     'fragmented control frame'),
    (raw_frame(0x89, bytes(126)), 1002,
     'control frame payload of 126 bytes (at most 125)'),
    (raw_frame(0x8a, bytes(200)), 1002,
     'control frame payload of 200 bytes (at most 125)'),
    (raw_frame(0x81, b'x', key=None), 1002, 'unmasked frame from the client'),
    (raw_frame(0x80, b'x'), 1002,
     'continuation frame without a message to continue'),
    (raw_frame(0x00, b'x'), 1002,
     'continuation frame without a message to continue'),
    (raw_frame(0x81, b'a') + raw_frame(0x80, b'b'), 1002,
     'continuation frame without a message to continue'),
    (raw_frame(0x01, b'a') + raw_frame(0x81, b'b'), 1002,
     'new data frame inside a fragmented message'),
    (raw_frame(0x01, b'a') + raw_frame(0x02, b'b'), 1002,
     'new data frame inside a fragmented message'),
    (raw_frame(0x81, b'x', length_bytes=2), 1002,
     'payload length 1 not in its minimal encoding'),
    (raw_frame(0x82, bytes(200), length_bytes=8), 1002,
     'payload length 200 not in its minimal encoding'),
    (b'\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00' + KEY, 1002,
     '64-bit payload length with the most significant bit set'),
    (raw_frame(0x81, b'\xff'), 1007, 'invalid UTF-8 in text message'),
    (raw_frame(0x81, b'\xed\xa0\x80'), 1007, 'invalid UTF-8 in text message'),
    (raw_frame(0x81, b'\xc0\xaf'), 1007, 'invalid UTF-8 in text message'),
    (raw_frame(0x81, b'\xf4\x90\x80\x80'), 1007,
     'invalid UTF-8 in text message'),
    (raw_frame(0x81, b'ab\xc3'), 1007, 'invalid UTF-8 in text message'),
    (raw_frame(0x01, b'a\xc3') + raw_frame(0x80, b'b'), 1007,
     'invalid UTF-8 in text message'),
    (raw_frame(0x88, b'\x03'), 1002, 'close frame payload of 1 byte'),
    (raw_frame(0x88, b'\x03\xed'), 1002, 'invalid close code 1005'),
    (raw_frame(0x88, b'\x03\xe8\xff'), 1007, 'invalid UTF-8 in close reason'),
    (raw_frame(0x82, bytes(LIMIT + 1)), 1009,
     'message longer than %d bytes' % LIMIT),
    (raw_frame(0x02, bytes(LIMIT)) + raw_frame(0x80, b'x'), 1009,
     'message longer than %d bytes' % LIMIT),
])
def test_violations(websocket, data, code, reason):
    assert parse_error(websocket, data) == (code, reason)


def test_messages_before_a_violation_are_kept(websocket):
    data = raw_frame(0x81, b'first') + raw_frame(0x89, b'') + \
        raw_frame(0xc1, b'bad') + raw_frame(0x81, b'never')
    parser = websocket.FrameParser(LIMIT)
    with pytest.raises(websocket.WebSocketProtocolError) as info:
        parser.feed(data)
    assert info.value.messages == [(1, 'first'), (9, b'')]
    assert info.value.code == 1002
    assert parse(websocket, data) == (
        [(1, 'first'), (9, b'')],
        ('WebSocketProtocolError', 1002,
         'reserved bits set (4) but no extension negotiated'))


def test_size_limit_is_checked_on_the_header(websocket):
    # a 2**62-byte announcement fails at once, before any payload is kept
    header = b'\x82\xff' + (1 << 62).to_bytes(8, 'big') + KEY
    parser = websocket.FrameParser(LIMIT)
    with pytest.raises(websocket.WebSocketProtocolError) as info:
        parser.feed(header)
    assert info.value.code == 1009
    assert parser.buffered == 0
    # without a limit it waits for the payload, holding only the header
    parser = websocket.FrameParser(None)
    assert parser.feed(header) == []
    assert parser.buffered == len(header)
    # exactly at the limit is fine, fragments count together
    payload = bytes(LIMIT)
    assert parse(websocket, raw_frame(0x82, payload)) == ([(2, payload)], None)
    half = LIMIT // 2
    data = raw_frame(0x02, bytes(half)) + raw_frame(0x89, b'') + \
        raw_frame(0x80, bytes(LIMIT - half))
    assert parse(websocket, data) == ([(9, b''), (2, payload)], None)


def test_zero_limit(websocket):
    assert parse(websocket, raw_frame(0x81, b''), limit=0) == ([(1, '')], None)
    assert parse(websocket, raw_frame(0x89, b'ping'), limit=0) == \
        ([(9, b'ping')], None)
    assert parse_error(websocket, raw_frame(0x81, b'x'), limit=0) == \
        (1009, 'message longer than 0 bytes')


def test_feed_eof(websocket):
    parser = websocket.FrameParser(LIMIT)
    parser.feed(raw_frame(0x81, b'done'))
    assert parser.feed_eof() is None
    for data, reason in ((raw_frame(0x81, b'cut')[:-1],
                          'the stream ended inside a frame'),
                         (raw_frame(0x01, b'half'),
                          'the stream ended inside a fragmented message')):
        parser = websocket.FrameParser(LIMIT)
        parser.feed(data)
        with pytest.raises(websocket.WebSocketProtocolError) as info:
            parser.feed_eof()
        assert (info.value.code, info.value.reason) == (1006, reason)
        with pytest.raises(websocket.WebSocketProtocolError):
            parser.feed(b'')
        assert parser.buffered == 0
    parser = websocket.FrameParser(LIMIT)
    with pytest.raises(websocket.WebSocketProtocolError):
        parser.feed(raw_frame(0x83))
    with pytest.raises(websocket.WebSocketProtocolError) as info:
        parser.feed_eof()
    assert info.value.reason == 'reserved opcode 3'


def test_memory_is_released_after_messages(websocket):
    parser = websocket.FrameParser(1 << 20)
    big = os.urandom(300000)
    data = raw_frame(0x02, big[:100000]) + raw_frame(0x00, big[100000:200000])
    assert parser.feed(data) == []
    assert parser.buffered == 200000
    assert parser.feed(raw_frame(0x80, big[200000:])[:50]) == []
    assert parser.feed(raw_frame(0x80, big[200000:])[50:]) == [(2, big)]
    assert parser.buffered == 0


# -- generated frames: chunking, the twins, wsproto ------------------------------

@st.composite
def frame_streams(draw):
    """A stream of client frames: mostly well formed, in any order (so that
    the sequence rules are hit), with some raw bytes mixed in."""
    frames = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(['text', 'binary', 'control', 'close',
                                     'start', 'continue', 'end', 'raw']))
        key = draw(st.binary(min_size=4, max_size=4))
        payload = draw(st.binary(max_size=300))
        if kind == 'text':
            text = draw(st.text(max_size=100)).encode('utf-8', 'surrogatepass')
            frames.append(raw_frame(0x81, text, key))
        elif kind == 'binary':
            frames.append(raw_frame(0x82, payload, key))
        elif kind == 'control':
            opcode = draw(st.sampled_from([9, 10]))
            frames.append(raw_frame(0x80 | opcode, payload[:125], key))
        elif kind == 'close':
            code = draw(st.sampled_from([1000, 1001, 1005, 3000, 999]))
            frames.append(raw_frame(0x88, code.to_bytes(2, 'big')
                                    + payload[:draw(st.integers(0, 5))], key))
        elif kind == 'start':
            opcode = draw(st.sampled_from([1, 2]))
            if opcode == 1:
                payload = draw(st.text(max_size=50)).encode()
            frames.append(raw_frame(opcode, payload, key))
        elif kind in ('continue', 'end'):
            text = draw(st.text(max_size=50)).encode()
            frames.append(raw_frame(0x80 if kind == 'end' else 0x00,
                                    draw(st.sampled_from([payload, text])),
                                    key))
        else:
            frames.append(draw(st.binary(max_size=20)))
    return b''.join(frames)


@given(data=frame_streams(), cuts=st.lists(st.integers(0, 2000), max_size=6))
def test_any_chunking_gives_the_same_outcome(websocket, data, cuts):
    expected = run(websocket, [data])
    points = sorted(set(min(c, len(data)) for c in cuts))
    chunks = [data[a:b] for a, b in zip([0] + points, points + [len(data)])]
    assert run(websocket, chunks) == expected
    assert run(websocket, [data[i:i + 1] for i in range(len(data))]) == \
        expected


@given(data=frame_streams(), cuts=st.lists(st.integers(0, 2000), max_size=4),
       require_mask=st.booleans(), validate_utf8=st.booleans(),
       limit=st.sampled_from([0, 1, 100, 300, LIMIT, None]))
def test_twins_agree_on_frames(kernel_pair, data, cuts, require_mask,
                               validate_utf8, limit):
    pure, compiled = kernel_pair('_websocket')
    if compiled is None:
        pytest.skip('no compiled kernel here')
    points = sorted(set(min(c, len(data)) for c in cuts))
    chunks = [data[a:b] for a, b in zip([0] + points, points + [len(data)])]
    options = dict(limit=limit, require_mask=require_mask,
                   validate_utf8=validate_utf8)
    assert run(compiled, chunks, **options) == run(pure, chunks, **options)


def _outcome(function, *args):
    try:
        return 'ok', function(*args)
    except Exception as exc:  # noqa: BLE001 - any difference is the finding
        return type(exc).__name__, str(exc), getattr(exc, 'code', None)


@given(data=st.binary(max_size=20), offset=st.integers(-1, 21))
def test_twins_agree_on_headers(kernel_pair, data, offset):
    pure, compiled = kernel_pair('_websocket')
    if compiled is None:
        pytest.skip('no compiled kernel here')
    assert _outcome(compiled.parse_frame_header, data, offset) == \
        _outcome(pure.parse_frame_header, data, offset)
    assert _outcome(compiled.parse_close_payload, data) == \
        _outcome(pure.parse_close_payload, data)


@given(opcode=st.integers(-1, 16), length=st.integers(-1, 2 ** 64),
       fin=st.booleans(), key=st.one_of(st.none(), st.binary(max_size=5)),
       rsv=st.integers(-1, 8), payload=st.binary(max_size=300),
       code=st.integers(-1, 70000), reason=st.text(max_size=70))
def test_twins_agree_on_builders(kernel_pair, opcode, length, fin, key, rsv,
                                 payload, code, reason):
    pure, compiled = kernel_pair('_websocket')
    if compiled is None:
        pytest.skip('no compiled kernel here')
    for name, args in (('build_frame_header', (opcode, length, fin, key, rsv)),
                       ('build_frame', (opcode, payload, fin, key)),
                       ('build_close_payload', (code, reason)),
                       ('is_valid_close_code', (code,))):
        assert _outcome(getattr(compiled, name), *args) == \
            _outcome(getattr(pure, name), *args), name


@given(opcode=st.sampled_from([1, 2, 8, 9, 10]), fin=st.booleans(),
       payload=st.binary(max_size=70000), key=st.binary(min_size=4, max_size=4))
def test_build_then_parse(websocket, opcode, fin, payload, key):
    if opcode >= 8:
        payload = payload[:125]
        fin = True
        if opcode == 8:
            payload = b'\x03\xe8' + payload[:4].hex().encode()
    body = payload.hex() if opcode == 1 else payload
    frame = websocket.build_frame(opcode, body, fin, key)
    header = websocket.parse_frame_header(frame)
    encoded = body.encode() if opcode == 1 else body
    assert header == (fin, 0, opcode, True, len(encoded),
                      len(frame) - len(encoded), key)
    parser = websocket.FrameParser(None)
    result = parser.feed(frame)
    if not fin:
        assert result == [] and parser.buffered == len(encoded)
        result = parser.feed(websocket.build_frame(0, b'', True, key))
    assert result == [(opcode, body)]


# -- against wsproto, another implementation ----------------------------------

@given(messages=st.lists(st.one_of(st.text(max_size=200),
                                   st.binary(max_size=1000)),
                         min_size=1, max_size=4),
       split=st.booleans())
def test_we_read_what_wsproto_writes(websocket, messages, split):
    frame_protocol = pytest.importorskip('wsproto.frame_protocol')
    client = frame_protocol.FrameProtocol(client=True, extensions=[])
    server = frame_protocol.FrameProtocol(client=False, extensions=[])
    data = b''
    expected = []
    for message in messages:
        if split and len(message) > 1:
            middle = len(message) // 2
            data += bytes(client.send_data(message[:middle], fin=False))
            data += bytes(client.ping(b'p'))
            data += bytes(client.send_data(message[middle:], fin=True))
            expected.append((9, b'p'))
        else:
            data += bytes(client.send_data(message, fin=True))
        expected.append((1 if isinstance(message, str) else 2, message))
    data += bytes(client.close(1000, 'bye'))
    expected.append((8, b'\x03\xe8bye'))
    assert parse(websocket, data, limit=None) == (expected, None)
    # and what a server sends, unmasked
    frames = b''.join(bytes(server.send_data(m, fin=True)) for m in messages)
    assert websocket.FrameParser(None, require_mask=False).feed(frames) == \
        [(1 if isinstance(m, str) else 2, m) for m in messages]


def test_we_read_large_wsproto_frames(websocket):
    frame_protocol = pytest.importorskip('wsproto.frame_protocol')
    client = frame_protocol.FrameProtocol(client=True, extensions=[])
    payload = os.urandom(200000)
    data = bytes(client.send_data(payload, fin=True))
    assert parse(websocket, data[:500])[0] == []
    parser = websocket.FrameParser(None)
    assert parser.feed(data[:70000]) == []
    assert parser.feed(data[70000:]) == [(2, payload)]


@given(opcode=st.sampled_from([1, 2]), payload=st.binary(max_size=70000),
       key=st.one_of(st.none(), st.binary(min_size=4, max_size=4)))
def test_wsproto_reads_what_we_write(websocket, opcode, payload, key):
    frame_protocol = pytest.importorskip('wsproto.frame_protocol')
    body = payload.hex()[:len(payload)] if opcode == 1 else payload
    receiver = frame_protocol.FrameProtocol(client=key is None, extensions=[])
    receiver.receive_bytes(websocket.build_frame(opcode, body, True, key))
    frames = list(receiver.received_frames())
    assert len(frames) == 1
    assert frames[0].opcode == opcode
    assert frames[0].payload == body


@pytest.mark.parametrize('data', [
    raw_frame(0xc1, b'x'), raw_frame(0x83, b''), raw_frame(0x09, b''),
    raw_frame(0x89, bytes(126)), raw_frame(0x80, b'x'),
    raw_frame(0x81, b'x', length_bytes=2), raw_frame(0x81, b'\xff'),
    raw_frame(0x88, b'\x03'), raw_frame(0x88, b'\x03\xed'),
    raw_frame(0x81, b'x', key=None),
])
def test_wsproto_also_refuses(websocket, data):
    """Our 1002/1007 verdicts on frames wsproto refuses too (its codes)."""
    frame_protocol = pytest.importorskip('wsproto.frame_protocol')
    receiver = frame_protocol.FrameProtocol(client=False, extensions=[])
    receiver.receive_bytes(data)
    with pytest.raises(frame_protocol.ParseFailed) as theirs:
        list(receiver.received_frames())
    code = parse_error(websocket, data)[0]
    assert code == int(theirs.value.code)
