"""WebSocket masking (RFC 6455 section 5.3), pure Python.

Every byte ``i`` of a masked payload is XORed with byte ``i % 4`` of the 4-byte
masking key.  Clients mask what they send; servers unmask what they receive.

This is the source of truth for the API, the results and the errors; the
compiled twin :mod:`engineio._speedups._mask_c` is a different algorithm (a C
loop) behind the very same functions.  Both take a ``start``/``end`` range so
that a frame parser can unmask a payload where it lies in its receive buffer,
without slicing it out first.

The pure algorithm is chosen by measurement (16 B to 1 MiB, CPython 3.11 and
PyPy 3.9), see :func:`_xor`.
"""
from __future__ import annotations

import operator
import platform
from typing import List, Optional, Union

__all__ = ['apply_mask', 'apply_mask_inplace']

Buffer = Union[bytes, bytearray, memoryview]

#: On CPython, payloads of at least this many bytes are masked with
#: ``bytes.translate`` instead of one big-integer XOR (measured crossover: the
#: integer conversions grow faster than linearly, translate has a larger
#: constant cost).
_TRANSLATE_THRESHOLD = 1024

#: PyPy's JIT compiles a plain byte loop to machine code that beats both
#: CPython-oriented tricks by 5-10x there, and loses to both on CPython.
_BYTE_LOOP = platform.python_implementation() == 'PyPy'

#: ``_XOR_TABLES[k]`` is the 256-byte ``bytes.translate`` table that XORs with
#: ``k``; filled on first use (building all 256 at import would cost
#: milliseconds and 64 KiB for a path most processes never take).
_XOR_TABLES: List[Optional[bytes]] = [None] * 256
_IDENTITY = bytes(range(256))


def _xor_table(k: int) -> bytes:
    table = _XOR_TABLES[k]
    if table is None:
        table = _XOR_TABLES[k] = bytes(b ^ k for b in _IDENTITY)
    return table


def _xor(data: Buffer, key: bytes) -> bytes:
    """XOR the whole of ``data`` (bytes-like, 1-D bytes) with ``key``."""
    size = len(data)
    if not size:
        return b''
    if _BYTE_LOOP:
        # Read the input, write a fresh buffer: inside a caller's loop (the
        # frame parser) the JIT makes this twice as fast as copying first and
        # XORing in place.  Unrolled by one key period: no ``i & 3``, one test
        # per 4 bytes.
        out = bytearray(size)
        k0, k1, k2, k3 = key
        i = 0
        whole = size & ~3
        while i < whole:
            out[i] = data[i] ^ k0
            out[i + 1] = data[i + 1] ^ k1
            out[i + 2] = data[i + 2] ^ k2
            out[i + 3] = data[i + 3] ^ k3
            i += 4
        while i < size:
            out[i] = data[i] ^ key[i & 3]
            i += 1
        return bytes(out)
    if size < _TRANSLATE_THRESHOLD:
        # One XOR of two big integers: the work happens in C, 30 bits a digit.
        # The key is repeated to a whole number of periods (at most 3 bytes
        # too long), and the excess high bytes are cut off after the XOR.
        periods = (size >> 2) + 1
        mask = int.from_bytes(key * periods, 'little')
        return (int.from_bytes(data, 'little') ^ mask).to_bytes(
            periods << 2, 'little')[:size]
    # Larger: bytes.translate on each of the four strided lanes (every 4th
    # byte meets the same key byte), four C passes with no big integers.
    out = bytearray(data)
    out[0::4] = out[0::4].translate(_xor_table(key[0]))
    out[1::4] = out[1::4].translate(_xor_table(key[1]))
    out[2::4] = out[2::4].translate(_xor_table(key[2]))
    out[3::4] = out[3::4].translate(_xor_table(key[3]))
    return bytes(out)


def _read_key(key: Buffer) -> bytes:
    if key.__class__ is not bytes:
        try:
            view = memoryview(key)
        except TypeError:
            raise TypeError('mask key must be a bytes-like object, not %s'
                            % type(key).__name__) from None
        key = view.tobytes()
    if len(key) != 4:
        raise ValueError('mask key must be 4 bytes')
    return key


def _byte_view(data: object, writable: bool) -> memoryview:
    """A flat, unsigned-byte memoryview of ``data``, checked like the C twin."""
    name = 'buffer' if writable else 'data'
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError('%s must be a bytes-like object, not %s'
                        % (name, type(data).__name__)) from None
    if writable and view.readonly:
        raise TypeError('buffer must be writable (a bytearray or a writable '
                        'memoryview), not a read-only %s' % type(data).__name__)
    # an empty view has nothing to mask, whatever its strides
    if not view.c_contiguous and view.nbytes:
        raise BufferError('%s must be a C-contiguous buffer' % name)
    if view.ndim != 1 or view.format != 'B':
        view = view.cast('B')
    return view


def _check_range(start: object, end: object, size: int) -> 'tuple[int, int]':
    # operator.index: the TypeError, for a float say, is the one the C twin's
    # PyNumber_Index raises; the exact-int test skips the call in the usual case
    first = start if start.__class__ is int else operator.index(start)  # type: ignore[call-overload,arg-type]
    last = size if end is None else (
        end if end.__class__ is int else operator.index(end))  # type: ignore[call-overload,arg-type]
    if not 0 <= first <= last <= size:
        raise ValueError(
            'start=%r and end=%r must satisfy 0 <= start <= end <= %d'
            % (start, end, size))
    return first, last


def apply_mask(data: Buffer, key: Buffer, start: int = 0,
               end: Optional[int] = None) -> bytes:
    """Return ``data[start:end]`` XORed with the 4-byte ``key``, as new bytes.

    ``data`` is any C-contiguous buffer; the key phase starts at ``start``
    (byte ``start`` meets ``key[0]``).  Raises TypeError when ``data`` or ``key``
    is not a bytes-like object (or ``start``/``end`` not an integer), ValueError
    for a key that is not 4 bytes long or a range outside
    ``0 <= start <= end <= len(data)``, BufferError for a non-contiguous buffer.
    """
    # the usual call (bytes key, whole buffer) tested inline: a function call
    # costs as much as the XOR of a short payload here
    if key.__class__ is not bytes or len(key) != 4:
        key = _read_key(key)
    cls = data.__class__
    if cls is bytes or cls is bytearray:
        if end is None and start.__class__ is int and not start:
            return _xor(data, key)
        first, last = _check_range(start, end, len(data))
        if first == 0 and last == len(data):
            return _xor(data, key)
        # a slice, not a memoryview: every branch of _xor copies its input
        # anyway (int.from_bytes, bytearray), and PyPy slices 3x faster
        return _xor(data[first:last], key)
    view = _byte_view(data, False)
    first, last = _check_range(start, end, len(view))
    return _xor(view[first:last], key)


def apply_mask_inplace(buffer: Union[bytearray, memoryview], key: Buffer,
                       start: int = 0, end: Optional[int] = None) -> None:
    """XOR ``buffer[start:end]`` with the 4-byte ``key`` in place; return None.

    ``buffer`` is a writable C-contiguous buffer (a bytearray, a writable
    memoryview...); the key phase starts at ``start``.  Raises TypeError for a
    read-only buffer (bytes, a read-only memoryview) or a non-buffer, and the
    other errors of :func:`apply_mask`.
    """
    key = _read_key(key)
    if buffer.__class__ is bytearray:
        first, last = _check_range(start, end, len(buffer))
        buffer[first:last] = _xor(memoryview(buffer)[first:last], key)
        return None
    view = _byte_view(buffer, True)
    first, last = _check_range(start, end, len(view))
    view[first:last] = _xor(view[first:last], key)
    return None
