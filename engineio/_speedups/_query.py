"""The Engine.IO fields of a request's query string, read in one pass.

Every HTTP request to the server starts here, so this is a kernel: the
source of truth for the pure build and PyPy, compiled unchanged (typed by
``_query_c.pxd``) into ``engineio._speedups._query_c``.

:func:`engineio_query` answers what ``parse_query(query_string)`` (a dict,
the first occurrence of a name wins, as the reference's
``parse_qs(...)[0]``) would give for the five names the protocol reads,
without building that dict: the usual query
(``EIO=4&transport=polling&t=...&sid=...``) has nothing to percent-decode,
so one pass over its parts compares their first characters and
slices only the values it keeps.  A query with ``%`` or ``+`` takes the
general path (decode, then look up).
"""
from __future__ import annotations

from urllib.parse import unquote_plus

__all__ = ['engineio_query', 'parse_query', 'INVALID']

#: ``jsonp_index`` of a ``j`` that is present but not a small number
INVALID = -1


def parse_query(query_string):
    """``a=1&b=2`` to a dict; the first occurrence of a name wins.  Parts
    without ``=`` are names with an empty value, empty parts are skipped,
    and percent-decoding (``unquote_plus``) runs only on the parts that
    need it."""
    query = {}
    if not query_string:
        return query
    for part in query_string.split('&'):
        if not part:
            continue
        name, _, value = part.partition('=')
        if '%' in part or '+' in part:
            name = unquote_plus(name)
            value = unquote_plus(value)
        if name not in query:
            query[name] = value
    return query


def _jsonp_index(j):
    # None (no j), the index (a decimal number of at most 9 ASCII digits),
    # or INVALID
    if j is None:
        return None
    if j.isdigit() and j.isascii() and len(j) < 10:
        return int(j)
    return INVALID


def engineio_query(query_string):
    """``(transport, sid, eio, jsonp_index, supports_binary)`` of a query.

    ``transport`` and ``eio`` are the raw values (None when absent); ``sid``
    is None when absent or empty; ``jsonp_index`` is None, an int >= 0 or
    :data:`INVALID`; ``supports_binary`` is False when ``b64`` is present.
    The same as reading those names from :func:`parse_query`; never raises
    for a str.
    """
    if '%' in query_string or '+' in query_string:
        query = parse_query(query_string)
        get = query.get
        return (get('transport'), get('sid') or None, get('EIO'),
                _jsonp_index(get('j')), 'b64' not in query)
    transport = sid = eio = j = None
    supports_binary = True
    for part in query_string.split('&'):
        # Dispatch on the first character, then startswith: neither builds
        # a string (compiled, both are plain C); a name must end at '='
        # or at the end of the part ('sidx=1' is not 'sid').
        if not part:
            continue
        first = part[0]
        if first == 's':
            if sid is None:
                if part.startswith('sid='):
                    sid = part[4:]
                elif part == 'sid':
                    sid = ''
        elif first == 't':
            if transport is None:
                if part.startswith('transport='):
                    transport = part[10:]
                elif part == 'transport':
                    transport = ''
        elif first == 'E':
            if eio is None:
                if part.startswith('EIO='):
                    eio = part[4:]
                elif part == 'EIO':
                    eio = ''
        elif first == 'j':
            if j is None:
                if part.startswith('j='):
                    j = part[2:]
                elif part == 'j':
                    j = ''
        elif first == 'b':
            if part == 'b64' or part.startswith('b64='):
                supports_binary = False
    return transport, sid or None, eio, _jsonp_index(j), supports_binary
