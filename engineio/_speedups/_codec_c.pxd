# Declarations that type engineio/_speedups/_codec.py when Cython compiles it
# as engineio._speedups._codec_c.  Private helpers are cdef (invisible from
# Python); what tests or the package call stays cpdef or def.
import cython

from libc.string cimport memcpy

cdef extern from "Python.h":
    int PyUnicode_KIND(object o)
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    unsigned char* PyUnicode_1BYTE_DATA(object o)
    bint PyUnicode_IS_ASCII(object o)
    object PyBytes_FromStringAndSize(char* v, Py_ssize_t size)
    char* PyBytes_AS_STRING(object o)

cdef bint _COMPILED
cdef object _orjson, _orjson_dumps, _orjson_loads
cdef object _stdlib_decoder, _stdlib_compact_encoder
cdef object _ORJSON_OPTIONS
cdef object _resolved_module, _resolved_loads, _resolved_dumps
cdef bint _resolved_fast
cdef bint _B64_STRICT
cdef dict _TYPE_CHAR_OF
cdef tuple _PACKET_TYPES
cdef str _B64_ERROR, _RECORD_SEPARATOR
cdef bytes _B64_ALPHABET, _B64_VALUES

@cython.locals(n=Py_ssize_t, i=Py_ssize_t, kind=cython.uchar,
               previous_digit=bint, p='const unsigned char*',
               table='const unsigned char*')
cdef bint _dumps_needs_stdlib(bytes out) except -1
cdef bytes _JSON_BYTE_CLASS

@cython.locals(run=int, ch=Py_UCS4, n=Py_ssize_t, i=Py_ssize_t,
               p='const unsigned char*')
cdef bint _has_long_digit_run(str s) except -1

@cython.locals(plen=Py_ssize_t, n=Py_ssize_t, i=Py_ssize_t, dst=cython.p_uchar)
cdef str _ascii_concat(str prefix, bytes data)

cpdef object stdlib_loads(object s)
cdef object _fast_loads(object s)
cpdef str json_dumps_compact(object obj)
@cython.locals(out=object)
cdef str _compact_json(object obj, str prefix)
cdef object _resolve_json(object module)

cpdef str b64encode(object data)
@cython.locals(n=Py_ssize_t, plen=Py_ssize_t, i=Py_ssize_t, j=Py_ssize_t,
               rest=Py_ssize_t, end=Py_ssize_t,
               v=cython.uint, dst=cython.p_uchar, src='const unsigned char*',
               table='const unsigned char*')
cdef str _encode_base64(object data, str prefix)
cpdef bytes b64decode(object s)
cdef bytes _decode_base64_library(object s)
@cython.locals(n=Py_ssize_t, padding=Py_ssize_t, full=Py_ssize_t,
               i=Py_ssize_t, j=Py_ssize_t, a=cython.uchar, b=cython.uchar,
               c=cython.uchar, d=cython.uchar, v=cython.uint,
               src='const unsigned char*', dst='char*',
               table='const unsigned char*')
cdef bytes _decode_base64(str s, Py_ssize_t start)

cdef class _JsonHolder:
    cdef public object json

@cython.locals(char=object)
cdef str _type_char(object packet_type)
cdef str _encode_text(object packet_type, object data, object holder)
cpdef object encode_packet(object packet_type, object data, bint binary,
                           bint b64, object json_module=*)
@cython.locals(first=Py_UCS4)
cdef object _message_data(str data, object holder)
@cython.locals(first=Py_UCS4, text=str)
cdef object _decode_into(_PacketCore pkt, object encoded, object holder)
@cython.locals(pkt=_PacketCore)
cpdef tuple decode_packet(object encoded, object json_module=*)

cdef class _PacketCore:
    cdef public object packet_type, data, binary, encode_cache
    # cpdef: a payload calls it from C, while a Python override (a
    # subclass, or Packet.encode patched) is still found and called
    cpdef object encode(self, b64=*)

@cython.locals(pkt=_PacketCore)
cdef object _new_packet(object encoded)
@cython.locals(pkt=_PacketCore)
cdef object _binary_packet(object data)
cdef object _new_packet_v3(str text)

@cython.locals(pkt=_PacketCore)
cpdef str encode_payload(object packets)
@cython.locals(text=str)
cpdef list decode_payload(object encoded_payload, object max_packets)

@cython.locals(n=Py_ssize_t, pos=Py_ssize_t, colon=Py_ssize_t,
               start=Py_ssize_t, end=Py_ssize_t, length=Py_ssize_t,
               units=Py_ssize_t, astral=bint)
cdef list _decode_v3_text(str text, object max_packets)

@cython.locals(n=Py_ssize_t, pos=Py_ssize_t, terminator=Py_ssize_t,
               start=Py_ssize_t, end=Py_ssize_t, length=Py_ssize_t,
               i=Py_ssize_t, kind=int, digit=int)
cdef list _decode_v3_binary(bytes data, object max_packets)
