# Augmenting declarations for _compression.py, which Cython compiles unchanged
# into engineio._speedups._compression_c.  Only private names are typed here:
# a cdef global is invisible from Python, and the public constants must stay
# module attributes.  Public functions take plain objects, so a wrong argument
# type fails the same way in both twins; the typing is on the parse loops,
# which are the only Python-level work the compiled build can speed up (zlib
# does the rest).
cimport cython

cdef tuple _DEFAULT_CODINGS
cdef object _compressobj
cdef object _decompressobj
cdef object _zlib_compress
cdef object _zlib_error
cdef str _TOKEN_CHARS
cdef str _WHITESPACE
cdef int _FULL_WEIGHT
cdef dict _cache
cdef Py_ssize_t _CACHE_SIZE
cdef Py_ssize_t _CACHE_MAX_KEY
cdef bytes _GZIP_MAGIC
cdef int _GZIP_WBITS
cdef int _ZLIB_WBITS
cdef int _RAW_WBITS
cdef bint _ONE_SHOT_GZIP

cdef str _header_text(object header)

@cython.locals(length=Py_ssize_t, i=Py_ssize_t, first=Py_UCS4, digit=long,
               thousandths=int, scale=int)
cdef int _parse_qvalue(str value) except -1

@cython.locals(param=str, name=str, equals=str, value=str)
cdef int _parse_weight(str params) except -1

@cython.locals(entries=list, element=str, coding=str, separator=str,
               params=str, weight=int)
cdef list _parse(str header)

cpdef list parse_accept_encoding(object header)

@cython.locals(entries=list, best_weight=int, weight=int, wildcard=int,
               coding=str, entry_weight=int)
cdef object _choose(str header, tuple available)

cpdef object choose_encoding(object header, object available=*)

cpdef bytes compress(object data, object encoding, object level=*)

cpdef tuple maybe_compress(object body, object accept_encoding,
                           object threshold=*, object available=*,
                           object level=*)

cdef object _too_large(object max_size)

@cython.locals(output=bytes)
cdef tuple _inflate(object data, int wbits, str coding, object budget,
                    object max_size)

@cython.locals(output=bytes, rest=bytes, parts=list)
cdef bytes _inflate_gzip(object data, object max_size)

cdef bint _is_zlib_header(object data) except -1

@cython.locals(output=bytes, rest=bytes)
cpdef bytes decompress(object data, object encoding, object max_size)
