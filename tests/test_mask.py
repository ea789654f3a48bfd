"""WebSocket masking kernels: the pure twin and the compiled one, case by case.

Every test taking the ``mask`` fixture runs once per implementation available
here (``py`` always, ``c`` on CPython); the differential tests compare both on
generated inputs, results and errors alike.
"""
from __future__ import annotations

import array
import os

import pytest
from hypothesis import given, strategies as st

from engineio._speedups import _mask as pure_mask


def reference_mask(data: bytes, key: bytes) -> bytes:
    """The definition in RFC 6455 section 5.3, one byte at a time."""
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


def outcome(function, *args):
    """The result, or the exception's type and message, for comparing twins."""
    try:
        return 'ok', function(*args)
    except Exception as exc:  # noqa: BLE001 - any difference is the finding
        return type(exc).__name__, str(exc)


KEY = bytes([0x37, 0xFA, 0x21, 0x3D])
# the lengths around every branch: the 8-byte C loop and its tail, the pure
# twin's big-integer / translate threshold
LENGTHS = list(range(0, 40)) + [63, 64, 65, 1023, 1024, 1025, 4099, 65536 + 3]


def test_rfc_example(mask):
    # RFC 6455 section 5.7: "Hello" from a client, masked with 37 fa 21 3d
    assert mask.apply_mask(b'Hello', KEY) == bytes.fromhex('7f9f4d5158')
    assert mask.apply_mask(bytes.fromhex('7f9f4d5158'), KEY) == b'Hello'


@pytest.mark.parametrize('length', LENGTHS)
def test_lengths(mask, length):
    data = os.urandom(length)
    key = os.urandom(4)
    expected = reference_mask(data, key)
    result = mask.apply_mask(data, key)
    assert type(result) is bytes
    assert result == expected
    buffer = bytearray(data)
    assert mask.apply_mask_inplace(buffer, key) is None
    assert buffer == expected


def test_returns_new_bytes_and_leaves_input_alone(mask):
    data = bytearray(b'abcdefgh')
    result = mask.apply_mask(data, KEY)
    assert data == b'abcdefgh'
    assert result is not data and type(result) is bytes
    assert mask.apply_mask(b'', KEY) == b''


@pytest.mark.parametrize('make', [
    bytes, bytearray, memoryview,
    lambda data: memoryview(bytearray(data)),
    lambda data: memoryview(b'xx' + data + b'yy')[2:-2],
    lambda data: memoryview(data).cast('c'),
], ids=['bytes', 'bytearray', 'memoryview', 'writable-view', 'view-slice',
        'char-format'])
def test_any_contiguous_buffer(mask, make):
    data = bytes(range(37))
    assert mask.apply_mask(make(data), KEY) == reference_mask(data, KEY)


def test_multibyte_format_buffers_are_masked_as_bytes(mask):
    data = array.array('I', [0x01020304, 0xA0B0C0D0, 7])
    raw = data.tobytes()
    assert mask.apply_mask(data, KEY) == reference_mask(raw, KEY)
    assert mask.apply_mask(memoryview(raw).cast('H', [2, 3]), KEY) == \
        reference_mask(raw, KEY)
    mask.apply_mask_inplace(data, KEY)
    assert data.tobytes() == reference_mask(raw, KEY)


@pytest.mark.parametrize('key', [
    KEY, bytearray(KEY), memoryview(KEY), memoryview(b'..' + KEY)[2:],
    array.array('B', KEY),
    memoryview(bytes([KEY[0], 0, KEY[1], 0, KEY[2], 0, KEY[3], 0]))[::2],
], ids=['bytes', 'bytearray', 'memoryview', 'view-slice', 'array',
        'strided-view'])
def test_key_types(mask, key):
    assert mask.apply_mask(b'Hello', key) == bytes.fromhex('7f9f4d5158')


@pytest.mark.parametrize('key', [b'', b'abc', b'abcde', bytearray(8),
                                 memoryview(b'ab'), array.array('H', [1])])
def test_wrong_key_length(mask, key):
    with pytest.raises(ValueError, match='^mask key must be 4 bytes$'):
        mask.apply_mask(b'data', key)
    with pytest.raises(ValueError, match='^mask key must be 4 bytes$'):
        mask.apply_mask_inplace(bytearray(b'data'), key)


@pytest.mark.parametrize('key,name', [('abcd', 'str'), (1234, 'int'),
                                      ([1, 2, 3, 4], 'list'), (None, 'NoneType')])
def test_key_not_bytes(mask, key, name):
    with pytest.raises(TypeError) as info:
        mask.apply_mask(b'data', key)
    assert str(info.value) == 'mask key must be a bytes-like object, not ' + name


@pytest.mark.parametrize('data,name', [('text', 'str'), (4, 'int'),
                                       ([1, 2], 'list'), (None, 'NoneType')])
def test_data_not_bytes(mask, data, name):
    with pytest.raises(TypeError) as info:
        mask.apply_mask(data, KEY)
    assert str(info.value) == 'data must be a bytes-like object, not ' + name
    with pytest.raises(TypeError) as info:
        mask.apply_mask_inplace(data, KEY)
    assert str(info.value) == 'buffer must be a bytes-like object, not ' + name


def test_non_contiguous_buffer(mask):
    strided = memoryview(bytearray(range(16)))[::2]
    with pytest.raises(BufferError, match='^data must be a C-contiguous buffer$'):
        mask.apply_mask(strided, KEY)
    with pytest.raises(BufferError,
                       match='^buffer must be a C-contiguous buffer$'):
        mask.apply_mask_inplace(strided, KEY)


@pytest.mark.parametrize('buffer,name', [
    (b'abcd', 'bytes'), (memoryview(b'abcd'), 'memoryview'),
    (memoryview(bytearray(b'abcd')).toreadonly(), 'memoryview'),
])
def test_inplace_needs_a_writable_buffer(mask, buffer, name):
    with pytest.raises(TypeError) as info:
        mask.apply_mask_inplace(buffer, KEY)
    assert str(info.value) == ('buffer must be writable (a bytearray or a '
                               'writable memoryview), not a read-only ' + name)


def test_inplace_on_writable_memoryviews(mask):
    backing = bytearray(b'0123456789abcdef')
    view = memoryview(backing)[3:11]
    mask.apply_mask_inplace(view, KEY)
    assert backing == b'012' + reference_mask(b'3456789a', KEY) + b'bcdef'


@pytest.mark.parametrize('start,end', [(0, None), (0, 0), (3, None), (3, 3),
                                       (1, 9), (5, 37), (37, 37), (0, 37),
                                       (2, 20)])
def test_start_end(mask, start, end):
    data = bytes(range(100, 137))
    stop = len(data) if end is None else end
    # the key phase starts at ``start``
    expected = reference_mask(data[start:stop], KEY)
    assert mask.apply_mask(data, KEY, start, end) == expected
    assert mask.apply_mask(memoryview(data), KEY, start, end) == expected
    assert mask.apply_mask(data, KEY, start=start, end=end) == expected
    buffer = bytearray(data)
    mask.apply_mask_inplace(buffer, KEY, start, end)
    assert buffer == data[:start] + expected + data[stop:]
    view = memoryview(bytearray(data))
    mask.apply_mask_inplace(view, KEY, start, end)
    assert view.tobytes() == data[:start] + expected + data[stop:]


@pytest.mark.parametrize('start,end', [(-1, None), (0, -1), (5, 4), (0, 38),
                                       (38, None), (2 ** 64, None),
                                       (0, 2 ** 70), (-2 ** 70, None)])
def test_bad_range(mask, start, end):
    data = bytes(37)
    message = ('start=%r and end=%r must satisfy 0 <= start <= end <= 37'
               % (start, end))
    for function, buffer in ((mask.apply_mask, data),
                             (mask.apply_mask, memoryview(data)),
                             (mask.apply_mask_inplace, bytearray(data)),
                             (mask.apply_mask_inplace,
                              memoryview(bytearray(data)))):
        with pytest.raises(ValueError) as info:
            function(buffer, KEY, start, end)
        assert str(info.value) == message


@pytest.mark.parametrize('start,end', [(1.0, None), (0, 2.5), ('1', None)])
def test_range_must_be_integers(mask, start, end):
    with pytest.raises(TypeError):
        mask.apply_mask(b'abcdef', KEY, start, end)
    with pytest.raises(TypeError):
        mask.apply_mask_inplace(bytearray(b'abcdef'), KEY, start, end)


def test_index_objects_are_accepted(mask):
    class Index:
        def __index__(self):
            return 2
    assert mask.apply_mask(b'abcdef', KEY, Index(), Index()) == b''
    assert mask.apply_mask(b'abcdef', KEY, True) == reference_mask(b'bcdef', KEY)


@pytest.mark.parametrize('length', [0, 1, 5, 17, 1023, 1024, 5000])
def test_pure_byte_loop_branch(monkeypatch, length):
    """The PyPy branch of the pure twin, run on any interpreter."""
    monkeypatch.setattr(pure_mask, '_BYTE_LOOP', True)
    data = os.urandom(length)
    key = os.urandom(4)
    assert pure_mask.apply_mask(data, key) == reference_mask(data, key)
    assert pure_mask.apply_mask(data, key, 1 if length else 0) == \
        reference_mask(data[1:], key)


@pytest.mark.parametrize('length', [1, 5, 17, 2000])
def test_pure_cpython_branches(monkeypatch, length):
    """The big-integer and translate branches, run on any interpreter."""
    monkeypatch.setattr(pure_mask, '_BYTE_LOOP', False)
    data = os.urandom(length)
    key = os.urandom(4)
    for threshold in (0, 10 ** 9):
        monkeypatch.setattr(pure_mask, '_TRANSLATE_THRESHOLD', threshold)
        assert pure_mask.apply_mask(data, key) == reference_mask(data, key)


@given(data=st.binary(max_size=3000), key=st.binary(min_size=4, max_size=4))
def test_mask_is_an_involution(mask, data, key):
    masked = mask.apply_mask(data, key)
    assert len(masked) == len(data)
    assert mask.apply_mask(masked, key) == data
    assert masked == reference_mask(data, key)


_buffer_kinds = st.sampled_from(['bytes', 'bytearray', 'memoryview',
                                 'strided', 'str'])


def _make(kind, data):
    if kind == 'bytes':
        return bytes(data)
    if kind == 'bytearray':
        return bytearray(data)
    if kind == 'memoryview':
        return memoryview(bytearray(data))
    if kind == 'strided':
        return memoryview(bytearray(data + data))[::2]
    return data.decode('latin-1')


@given(kind=_buffer_kinds, data=st.binary(max_size=2100),
       key=st.one_of(st.binary(min_size=3, max_size=5), st.none()),
       start=st.one_of(st.none(), st.integers(-3, 2200)),
       end=st.one_of(st.none(), st.integers(-3, 2200)))
def test_differential(kernel_pair, kind, data, key, start, end):
    pure, compiled = kernel_pair('_mask')
    if compiled is None:
        pytest.skip('no compiled kernel here')
    args = [key] + ([0 if start is None else start, end]
                    if start is not None or end is not None else [])
    expected = outcome(pure.apply_mask, _make(kind, data), *args)
    assert outcome(compiled.apply_mask, _make(kind, data), *args) == expected
    first, second = _make(kind, data), _make(kind, data)
    result = outcome(pure.apply_mask_inplace, first, *args)
    assert outcome(compiled.apply_mask_inplace, second, *args) == result
    assert first == second


def test_matches_wsproto_and_wsaccel():
    frame_protocol = pytest.importorskip('wsproto.frame_protocol')
    from engineio._speedups import mask as selected
    for length in (0, 1, 7, 125, 1000, 20000):
        data = os.urandom(length)
        key = os.urandom(4)
        expected = bytes(frame_protocol.XorMaskerSimple(key).process(data))
        assert selected.apply_mask(data, key) == expected
        assert pure_mask.apply_mask(data, key) == expected
        try:
            from wsaccel.xormask import XorMaskerSimple
        except ImportError:
            continue
        assert XorMaskerSimple(key).process(data) == expected


def test_exports(mask):
    assert sorted(mask.__all__) == ['apply_mask', 'apply_mask_inplace']
    assert mask.__doc__


def test_index_method_resizing_the_buffer_is_memory_safe(mask):
    """An __index__ that empties the bytearray must not leave the kernel with
    a dangling pointer: either an error or a result, never a crash."""
    for function in (mask.apply_mask, mask.apply_mask_inplace):
        buffer = bytearray(100000)

        class Shrinking:
            def __index__(self):
                try:
                    buffer.clear()
                except BufferError:  # the compiled twin holds an export
                    pass
                return 1
        try:
            function(buffer, KEY, Shrinking(), None)
        except ValueError:
            pass
        try:
            function(buffer, KEY, 0, Shrinking())
        except ValueError:
            pass
