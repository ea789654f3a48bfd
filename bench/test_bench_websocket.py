"""WebSocket kernels: masking, and a frame build + parse + unmask round trip.

Only this project has these kernels (``engineio._speedups.mask`` and
``engineio._speedups.websocket``), so the reference process skips the ``ours``
benchmarks.  Peers measured beside them (in the compiled process only, see
harness.PEERS_ENABLED):

``wsproto``
    what python-engineio 4.15.1 really runs: simple-websocket drives wsproto,
    whose masking is ``XorMaskerSimple`` (a new masker per frame) and whose
    framing is ``Connection``;
``wsaccel``
    the C masker the design names (``wsaccel.xormask.XorMaskerSimple``);
``copy``
    ``bytes(buf)`` of the same buffer: one allocation and one memcpy, the floor
    for a masking function that returns new bytes.

Every implementation gets the same ``bytearray`` (``bytes(b)`` of a ``bytes``
object returns ``b`` itself and would copy nothing).
"""
from __future__ import annotations

from itertools import repeat

import pytest

from bench.harness import kernel, require_peers

MASK_KEY = b'\x37\xfa\x21\x3d'
SIZES = {'16B': 16, '16KiB': 16 * 1024}
# Operations per benchmarked call: many for the 16-byte case, where a single
# call is tens of nanoseconds and the harness's calling loop would dominate.
MASK_OPS = {'16B': 1000, '16KiB': 20}
OPCODE_TEXT = 1
FRAME_TEXT = 'x' * 125  # 125 bytes: the largest payload with a 7-bit length
FRAME_OPS = 50


# The loops below call the operation ten times per iteration so that the loop
# itself (a few ns per iteration) stays small beside a ~20 ns call.

def call2_many(function, a, b, loops):
    for _ in repeat(None, loops):
        function(a, b); function(a, b); function(a, b); function(a, b); function(a, b)  # noqa: E702,E501
        function(a, b); function(a, b); function(a, b); function(a, b); result = function(a, b)  # noqa: E702,E501
    return result


def copy_many(copy, buf, loops):
    for _ in repeat(None, loops):
        copy(buf); copy(buf); copy(buf); copy(buf); copy(buf)  # noqa: E702
        copy(buf); copy(buf); copy(buf); copy(buf); result = copy(buf)  # noqa: E702
    return result


def masker_many(masker, buf, key, loops):
    # wsproto (and wsaccel's drop-in class) keep the mask offset in the masker
    # object, so each frame gets a new one: that construction is part of the cost.
    for _ in repeat(None, loops):
        masker(key).process(buf); masker(key).process(buf)  # noqa: E702
        masker(key).process(buf); masker(key).process(buf)  # noqa: E702
        masker(key).process(buf); masker(key).process(buf)  # noqa: E702
        masker(key).process(buf); masker(key).process(buf)  # noqa: E702
        masker(key).process(buf); result = masker(key).process(buf)  # noqa: E702
    return result


def buffer_of(size):
    return bytearray((i * 7 + 3) & 0xFF for i in range(size))


def reference_masked(buf, key):
    return bytes(b ^ key[i % 4] for i, b in enumerate(buf))


@pytest.mark.parametrize('impl', ['ours', 'wsproto', 'wsaccel', 'copy'])
@pytest.mark.parametrize('size', list(SIZES))
def test_mask(measure, size, impl):
    buf = buffer_of(SIZES[size])
    ops = MASK_OPS[size]
    op = 'mask.' + size
    if impl == 'ours':
        apply_mask = kernel('mask', 'apply_mask').apply_mask
        result = measure(op, impl, ops, call2_many, apply_mask, buf, MASK_KEY,
                         ops // 10)
    else:
        require_peers()
        if impl == 'copy':
            result = measure(op, impl, ops, copy_many, bytes, buf, ops // 10)
            assert result == buf
            return
        if impl == 'wsaccel':
            masker = pytest.importorskip('wsaccel.xormask').XorMaskerSimple
        else:
            from wsproto.frame_protocol import XorMaskerSimple as masker
        result = measure(op, impl, ops, masker_many, masker, buf, MASK_KEY,
                         ops // 10)
    assert bytes(result) == reference_masked(buf, MASK_KEY)


@pytest.mark.parametrize('size', list(SIZES))
def test_mask_inplace(measure, size):
    apply_mask_inplace = kernel('mask', 'apply_mask_inplace').apply_mask_inplace
    buf = buffer_of(SIZES[size])
    ops = MASK_OPS[size]
    # an even number of maskings leaves the buffer as it was: a cheap check
    measure('mask_inplace.' + size, 'ours', ops, call2_many, apply_mask_inplace,
            buf, MASK_KEY, ops // 10)
    assert buf == buffer_of(SIZES[size])


def ours_round_trip(build_frame, parser, text, key, loops):
    # build_frame encodes a str as UTF-8; the parser validates and decodes
    # text messages back to str, as wsproto does.
    for _ in repeat(None, loops):
        for opcode, message in parser.feed(build_frame(OPCODE_TEXT, text, True, key)):
            pass
    return opcode, message


def wsproto_round_trip(client, server, message_class, text, loops):
    for _ in repeat(None, loops):
        server.receive_data(client.send(message_class(data=text)))
        for event in server.events():
            pass
    return OPCODE_TEXT, event.data


@pytest.mark.parametrize('impl', ['ours', 'wsproto'])
def test_frame_round_trip(measure, impl):
    """Build a masked 125-byte text frame (client side) and parse + unmask it.

    Ours uses a fixed mask key (the key is an input of ``build_frame``);
    wsproto draws ``os.urandom(4)`` inside ``send``, as any client must.
    """
    op = 'websocket.round_trip_125B'
    if impl == 'ours':
        websocket = kernel('websocket', 'build_frame', 'FrameParser')
        parser = websocket.FrameParser(1 << 20, require_mask=True)
        result = measure(op, impl, FRAME_OPS, ours_round_trip,
                         websocket.build_frame, parser, FRAME_TEXT, MASK_KEY,
                         FRAME_OPS)
    else:
        require_peers()
        from wsproto.connection import Connection, ConnectionType
        from wsproto.events import TextMessage
        result = measure(op, impl, FRAME_OPS, wsproto_round_trip,
                         Connection(ConnectionType.CLIENT),
                         Connection(ConnectionType.SERVER), TextMessage,
                         FRAME_TEXT, FRAME_OPS)
    assert result == (OPCODE_TEXT, FRAME_TEXT)
