# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""WebSocket masking (RFC 6455 section 5.3), compiled.

The same API, results and errors as the pure twin :mod:`engineio._speedups._mask`;
only the algorithm differs: a C loop that XORs eight bytes at a time with the
key repeated into a ``uint64_t``.  The loop is written so that ``gcc -O3``
vectorizes it (16 bytes per instruction with SSE2, 32 with AVX2 where the CPU has
it) and is memory bound: masking 16 KiB costs about as much as copying it.

Call overhead matters as much as throughput: most Engine.IO messages are a few
dozen bytes, so ``bytes`` and ``bytearray`` arguments are read straight from the
object (no buffer export, no typed memoryview to set up) and only other buffers
go through ``PyObject_GetBuffer``.
"""

from cpython.buffer cimport (
    PyBUF_FULL_RO, PyBuffer_IsContiguous, PyBuffer_Release, PyObject_CheckBuffer,
    PyObject_GetBuffer)
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.bytes cimport (
    PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE)
from cpython.number cimport PyNumber_Index
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcpy

__all__ = ['apply_mask', 'apply_mask_inplace']


cdef extern from *:
    """
    /* The masking loop, in C so that its shape is exactly what gcc vectorizes.
     *
     * memcpy() to and from a uint64_t is how C spells an unaligned 8-byte load
     * or store without undefined behaviour; gcc turns each into one mov, and at
     * -O3 the loop into SSE2 (16-byte) XORs.  With target_clones gcc also emits
     * an AVX2 copy of the function and picks one at load time (an ifunc), the
     * way glibc's memcpy picks its own: without it a copy of 16 KiB with
     * glibc's AVX2 memcpy would be noticeably faster than our SSE2 loop.
     * src and dst are either the same buffer (in place) or disjoint; gcc adds
     * the runtime overlap check itself.  The key byte order does not matter:
     * data and key are loaded the same way, so byte i of the data always meets
     * byte i % 4 of the key. */
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) \\
        && defined(__linux__) && defined(__OPTIMIZE__)
    #define ENGINEIO_MASK_CLONES __attribute__((target_clones("avx2", "default")))
    #else
    #define ENGINEIO_MASK_CLONES
    #endif

    ENGINEIO_MASK_CLONES
    static void engineio_xor_mask(const unsigned char *src, unsigned char *dst,
                                  Py_ssize_t n, const unsigned char key[4])
    {
        uint32_t key32;
        uint64_t key64, word;
        Py_ssize_t i, words = n >> 3;

        memcpy(&key32, key, 4);
        key64 = ((uint64_t)key32 << 32) | key32;
        for (i = 0; i < words; i++) {
            memcpy(&word, src + 8 * i, 8);
            word ^= key64;
            memcpy(dst + 8 * i, &word, 8);
        }
        /* at most 7 bytes left, and 8 * words is a multiple of 4, so the
           key phase restarts at 0 */
        for (i = 8 * words; i < n; i++)
            dst[i] = src[i] ^ key[i & 3];
    }
    """
    void engineio_xor_mask(const unsigned char *src, unsigned char *dst,
                           Py_ssize_t n, const unsigned char *key) noexcept nogil


cdef inline int _read_key(object key, unsigned char out[4]) except -1:
    """Copy the four key bytes into ``out``; bytes keys without a buffer export."""
    if type(key) is bytes:
        if PyBytes_GET_SIZE(key) != 4:
            raise ValueError('mask key must be 4 bytes')
        memcpy(out, PyBytes_AS_STRING(key), 4)
        return 0
    if not PyObject_CheckBuffer(key):
        raise TypeError('mask key must be a bytes-like object, not %s'
                        % type(key).__name__)
    # any other buffer (bytearray, memoryview, array...): its bytes, like the
    # pure twin's memoryview(key).tobytes(), contiguous or not
    key = memoryview(key).tobytes()
    if PyBytes_GET_SIZE(key) != 4:
        raise ValueError('mask key must be 4 bytes')
    memcpy(out, PyBytes_AS_STRING(key), 4)
    return 0


cdef object _ZERO = 0  # CPython's cached small int: the default ``start``


cdef inline Py_ssize_t _index(object value) except? -2:
    """``start``/``end`` as a C integer, -1 for anything out of range.

    ``PyNumber_Index`` raises the same TypeError as the pure twin's
    ``operator.index``; an int too large for ``Py_ssize_t`` is simply out of
    range, which the caller reports with the pure twin's message.
    """
    cdef Py_ssize_t result
    value = PyNumber_Index(value)
    try:
        result = value
    except OverflowError:
        return -1
    return result if result >= 0 else -1


cdef inline bint _plain_range(object start, object end) noexcept:
    """True when resolving start/end cannot run Python code."""
    return type(start) is int and (end is None or type(end) is int)


cdef inline int _check_range(object start, object end, Py_ssize_t size,
                             Py_ssize_t *first, Py_ssize_t *last) except -1:
    """Resolve ``start``/``end`` against ``size``, as the pure twin does."""
    # the defaults are tested by identity first: the usual call passes neither
    first[0] = 0 if start is _ZERO else _index(start)
    last[0] = size if end is None else _index(end)
    if first[0] < 0 or last[0] < 0 or first[0] > last[0] or last[0] > size:
        raise ValueError(
            'start=%r and end=%r must satisfy 0 <= start <= end <= %d'
            % (start, end, size))
    return 0


def apply_mask(data, key, start=0, end=None):
    """Return ``data[start:end]`` XORed with the 4-byte ``key``, as new bytes.

    ``data`` is any C-contiguous buffer; the key phase starts at ``start``
    (byte ``start`` meets ``key[0]``).  Raises TypeError when ``data`` or ``key``
    is not a bytes-like object (or ``start``/``end`` not an integer), ValueError
    for a key that is not 4 bytes long or a range outside
    ``0 <= start <= end <= len(data)``, BufferError for a non-contiguous buffer.
    """
    cdef unsigned char mask_key[4]
    cdef const unsigned char *src
    cdef Py_ssize_t size, first = 0, last = 0  # set by _check_range
    cdef Py_buffer view
    cdef bytes result
    _read_key(key, mask_key)
    # bytes and bytearray are read in place, without a buffer export.  For a
    # bytearray that is only safe while no Python code can run before the XOR
    # ends (it could resize the array under our pointer): hence exact ints for
    # start/end (an __index__ method is Python code), else the export below.
    if type(data) is bytes:
        src = <const unsigned char *>PyBytes_AS_STRING(data)
        size = PyBytes_GET_SIZE(data)
    elif type(data) is bytearray and _plain_range(start, end):
        src = <const unsigned char *>PyByteArray_AS_STRING(data)
        size = PyByteArray_GET_SIZE(data)
    else:
        _get_buffer(data, &view, False)
        try:
            _check_range(start, end, view.len, &first, &last)
            result = PyBytes_FromStringAndSize(NULL, last - first)
            engineio_xor_mask(<const unsigned char *>view.buf + first,
                              <unsigned char *>PyBytes_AS_STRING(result),
                              last - first, mask_key)
        finally:
            PyBuffer_Release(&view)
        return result
    _check_range(start, end, size, &first, &last)
    result = PyBytes_FromStringAndSize(NULL, last - first)
    engineio_xor_mask(src + first, <unsigned char *>PyBytes_AS_STRING(result),
                      last - first, mask_key)
    return result


def apply_mask_inplace(buffer, key, start=0, end=None):
    """XOR ``buffer[start:end]`` with the 4-byte ``key`` in place; return None.

    ``buffer`` is a writable C-contiguous buffer (a bytearray, a writable
    memoryview...); the key phase starts at ``start``.  Raises TypeError for a
    read-only buffer (bytes, a read-only memoryview) or a non-buffer, and the
    other errors of :func:`apply_mask`.
    """
    cdef unsigned char mask_key[4]
    cdef unsigned char *target
    cdef Py_ssize_t first = 0, last = 0  # set by _check_range
    cdef Py_buffer view
    _read_key(key, mask_key)
    if type(buffer) is bytearray and _plain_range(start, end):  # see apply_mask
        _check_range(start, end, PyByteArray_GET_SIZE(buffer), &first, &last)
        target = <unsigned char *>PyByteArray_AS_STRING(buffer)
        engineio_xor_mask(target + first, target + first, last - first, mask_key)
        return None
    _get_buffer(buffer, &view, True)
    try:
        _check_range(start, end, view.len, &first, &last)
        target = <unsigned char *>view.buf
        engineio_xor_mask(target + first, target + first, last - first, mask_key)
    finally:
        PyBuffer_Release(&view)
    return None


cdef int _get_buffer(object data, Py_buffer *view, bint writable) except -1:
    """Export ``data``'s buffer, with the pure twin's checks and messages.

    The export asks for strides so that a non-contiguous view is accepted by
    the exporter and refused here with our own message, not CPython's.
    """
    if not PyObject_CheckBuffer(data):
        raise TypeError('%s must be a bytes-like object, not %s'
                        % ('buffer' if writable else 'data', type(data).__name__))
    PyObject_GetBuffer(data, view, PyBUF_FULL_RO)
    if writable and view.readonly:
        PyBuffer_Release(view)
        raise TypeError('buffer must be writable (a bytearray or a writable '
                        'memoryview), not a read-only %s' % type(data).__name__)
    # an empty view is contiguous whatever its strides (memoryview says so)
    if view.len and not PyBuffer_IsContiguous(view, b'C'):
        PyBuffer_Release(view)
        raise BufferError('%s must be a C-contiguous buffer'
                          % ('buffer' if writable else 'data'))
    return 0
