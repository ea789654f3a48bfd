# Declarations that type engineio/_speedups/_websocket.py when Cython compiles
# it as engineio._speedups._websocket_c.  Private helpers are cdef (invisible
# to Python); what the package and the tests call stays def or cpdef.
import cython

cdef bint _COMPILED
# the masking function, bound once at import (a C global: no dict lookup)
cdef object apply_mask
cdef long long _MAX_LENGTH

cdef bytes _as_bytes(object data, str name)
cdef bint _close_code_allowed(long code) noexcept
cdef bytes _check_mask_key(object mask_key)
cdef list _BYTE
cdef long long _check_range(object value, str name, long long high) except? -1
@cython.locals(first=int)
cpdef bytes build_frame_header(object opcode, object length, object fin=*,
                               object mask_key=*, object rsv=*)
cdef bytes _pack_header(int first, int mask_bit, long long length)
@cython.locals(first=int)
cpdef bytes build_frame(object opcode, object payload, object fin=*,
                        object mask_key=*)

# A C tuple (a struct returned by value): decoding a header allocates nothing.
@cython.locals(available=Py_ssize_t, first=int, second=int, masked=int,
               length='long long', header_length=Py_ssize_t, opcode=int,
               fin=int)
cdef (int, int, int, int, long long, Py_ssize_t) _decode_header(
    bytes data, Py_ssize_t pos) except *


cdef class FrameParser:
    cdef long long _max_size
    cdef bint _require_mask
    cdef bint _validate_utf8
    cdef bytearray _buffer
    cdef long long _need
    cdef int _opcode
    cdef bytearray _fragments
    cdef tuple _error

    @cython.locals(chunk=bytes, buffer=bytearray, messages=list,
                   pos=Py_ssize_t, end=Py_ssize_t, missing='long long')
    cpdef list feed(self, data)

    @cython.locals(size=Py_ssize_t, start=Py_ssize_t, end=Py_ssize_t,
                   fin=int, rsv=int, opcode=int, masked=int,
                   length='long long', header_length=Py_ssize_t,
                   payload=bytes)
    cdef Py_ssize_t _parse(self, bytes data, Py_ssize_t pos,
                           list messages) except -1

    cdef tuple _message(self, int opcode, bytes payload)
