# Augmenting declarations for _query.py, which Cython compiles unchanged into
# engineio._speedups._query_c.  Public functions take plain objects (a wrong
# argument type fails the same way in both twins); the typing is on the scan,
# where indexing, startswith and slicing become direct calls on the str.
cimport cython

cdef object unquote_plus

cdef object _jsonp_index(object j)

@cython.locals(part=str, first=Py_UCS4, supports_binary=bint)
cpdef tuple engineio_query(object query_string)
