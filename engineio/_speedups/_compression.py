# cython: annotation_typing=False
# (The annotations below are for mypy and readers.  Types for the compiled build
# live in _compression_c.pxd only, so that an annotation can never make the
# compiled twin stricter than this pure one, e.g. refuse a bytearray.)
"""HTTP compression: ``Accept-Encoding`` negotiation, gzip/deflate, bounded inflate.

The pure-Python source of truth; Cython compiles this same file into
``_compression_c`` (typed by ``_compression_c.pxd``).  Both give the same results
and raise the same exception types with the same messages.

Negotiation follows RFC 9110 §12.5.3, not python-engineio 4.15.1.  The reference
takes the first token of ``Accept-Encoding`` that is literally ``gzip`` or
``deflate`` and ignores q-values, so ``gzip;q=0`` gets gzip.  Here q-values count
(the highest wins, ``q=0`` refuses a coding, ``*`` stands for every coding not
named), as in the official JavaScript server (``accepts``/``negotiator``), except
that equal weights go to the server's order of preference rather than the
client's: ``deflate, gzip`` gets gzip with the default ``('gzip', 'deflate')``.

Parsing is lenient, the way production servers are: no header value raises.
An element whose coding is not an RFC 9110 token is dropped; a malformed
weight (``q=abc``, ``q=2``, ``q=``, ``q=0.1234``, ``q``) counts as ``q=0``, which
refuses that coding: the client said something about it that we cannot read, so
we do not send it (nginx's gzip module reads malformed weights the same way).

Compression calls zlib directly; this module only adds the glue.  ``decompress``
is for request bodies and never inflates more than ``max_size + 1`` bytes, so a
small "zip bomb" is refused after doing a bounded amount of work.
"""
from __future__ import annotations

import zlib
from typing import Dict, Iterable, List, Optional, Tuple, Union

__all__ = [
    'DEFAULT_CODINGS', 'DEFAULT_LEVEL', 'DEFAULT_THRESHOLD',
    'parse_accept_encoding', 'choose_encoding', 'compress', 'maybe_compress',
    'decompress',
]

#: The codings a server produces, in its order of preference (the reference's
#: ``Server.compression_methods``).
DEFAULT_CODINGS: Tuple[str, ...] = ('gzip', 'deflate')

#: zlib's own default (``Z_DEFAULT_COMPRESSION``, level 6), as the JavaScript
#: server uses.  The reference gzips at level 9, which costs several times the
#: CPU for a few percent smaller bodies.
DEFAULT_LEVEL = -1

#: The reference's default ``compression_threshold``: smaller bodies are sent
#: as they are.
DEFAULT_THRESHOLD = 1024

# Private aliases: the .pxd types these, and the compiled module then reads
# them as C globals instead of looking names up in the module dict.
_DEFAULT_CODINGS = DEFAULT_CODINGS
_compressobj = zlib.compressobj
_decompressobj = zlib.decompressobj
_zlib_compress = zlib.compress
_zlib_error = zlib.error

# RFC 9110 §5.6.2 tchar and §5.6.3 OWS.  A string is a token when stripping every
# tchar from both of its ends leaves nothing: one C call instead of a Python
# loop over its characters, and non-ASCII characters can never pass.
_TOKEN_CHARS = ("!#$%&'*+-.^_`|~0123456789"
                'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ')
_WHITESPACE = ' \t'

# Weights are kept as integer thousandths (RFC 9110 allows three decimals), so
# comparisons are exact; the public parse result divides by 1000.
_FULL_WEIGHT = 1000

# choose_encoding() remembers its answer for the few header values real
# browsers send.  Bounded, and simply cleared when full: clear() is atomic, so
# no lock is needed, and a client cycling through odd headers costs at worst a
# parse per request.  Long values are not kept so the cache stays small.
_cache: Dict[object, Optional[str]] = {}
_CACHE_SIZE = 64
_CACHE_MAX_KEY = 256

_GZIP_MAGIC = b'\x1f\x8b'
_GZIP_WBITS = 31      # 16 + 15: a gzip wrapper around a 32 KiB-window deflate
_ZLIB_WBITS = 15      # RFC 1950 zlib wrapper
_RAW_WBITS = -15      # bare RFC 1951 deflate, no wrapper

# zlib.compress() takes wbits from Python 3.11 on: one call and one output
# buffer for gzip, instead of a compressobj, two calls and a concatenation.
try:
    _zlib_compress(b'', 1, _GZIP_WBITS)
    _ONE_SHOT_GZIP = True
except TypeError:  # Python < 3.11, PyPy 3.9
    _ONE_SHOT_GZIP = False


def _header_text(header: object) -> str:
    """The header value as an exact ``str`` (bytes are read as Latin-1)."""
    if isinstance(header, str):
        # str.__str__ returns an exact str copy of a subclass instance
        return str.__str__(header)
    if isinstance(header, (bytes, bytearray, memoryview)):
        # ASGI hands headers over as bytes; HTTP field values are Latin-1
        return bytes(header).decode('latin-1')
    raise TypeError('Accept-Encoding must be str, bytes or None, not %s'
                    % type(header).__name__)


def _parse_qvalue(value: str) -> int:
    """RFC 9110 ``qvalue`` in thousandths; 0 when ``value`` is not one.

    ``qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )``
    """
    length = len(value)
    if length == 0 or length > 5:
        return 0
    if length > 1 and value[1] != '.':
        return 0
    first = value[0]
    if first == '1':
        for i in range(2, length):
            if value[i] != '0':
                return 0
        return _FULL_WEIGHT
    if first != '0':
        return 0
    thousandths = 0
    scale = 100
    for i in range(2, length):
        # ord() arithmetic rather than int() or isdigit(): only ASCII digits
        # may pass (isdigit() accepts '²'), and it compiles to plain C
        digit = ord(value[i]) - 48
        if digit < 0 or digit > 9:
            return 0
        thousandths += digit * scale
        scale //= 10
    return thousandths


def _parse_weight(params: str) -> int:
    """The weight in an element's parameters (the text after its first ``;``).

    The first ``q`` parameter counts (names are case-insensitive); other
    parameters are ignored; no ``q`` means full weight.
    """
    for param in params.split(';'):
        name, equals, value = param.partition('=')
        name = name.strip(_WHITESPACE)
        if name == 'q' or name == 'Q':
            if not equals:
                return 0
            return _parse_qvalue(value.strip(_WHITESPACE))
    return _FULL_WEIGHT


def _parse(header: str) -> List[Tuple[str, int]]:
    """``(coding, weight in thousandths)`` for each usable element, in order."""
    entries = []
    for element in header.split(','):
        coding, separator, params = element.partition(';')
        coding = coding.strip(_WHITESPACE)
        # empty elements (``gzip,,deflate``) and non-tokens are dropped
        if not coding or coding.strip(_TOKEN_CHARS):
            continue
        weight = _parse_weight(params) if separator else _FULL_WEIGHT
        # lower() only after the token check, so it sees ASCII alone
        entries.append((coding.lower(), weight))
    return entries


def parse_accept_encoding(
        header: Union[str, bytes, None]) -> List[Tuple[str, float]]:
    """Parse an ``Accept-Encoding`` value into ``[(coding, q), ...]``.

    Codings are lower-cased and listed in header order, duplicates included
    (:func:`choose_encoding` decides what they mean); ``q`` is a float in
    ``0.0 .. 1.0``, ``1.0`` when absent.  ``identity`` and ``*`` are listed like
    any coding.  Elements that are empty or whose coding is not a token are
    dropped; a malformed weight gives ``q=0.0`` (see the module docstring).

    ``None`` gives ``[]``; ``bytes`` are decoded as Latin-1.  Never raises for a
    ``str`` or ``bytes`` value; raises :class:`TypeError` for any other type.
    """
    if header is None:
        return []
    if type(header) is not str:
        header = _header_text(header)
    return [(coding, weight / 1000) for coding, weight in _parse(header)]


def _choose(header: str, available: Tuple[str, ...]) -> Optional[str]:
    entries = _parse(header)
    best = None
    best_weight = 0
    for name in available:
        wanted = name.lower()
        weight = -1     # from elements naming this coding; -1: none does
        wildcard = -1   # from ``*`` elements
        for coding, entry_weight in entries:
            # a duplicated coding gets its highest weight (as negotiator does)
            if coding == wanted:
                if entry_weight > weight:
                    weight = entry_weight
            elif coding == '*':
                if entry_weight > wildcard:
                    wildcard = entry_weight
        if weight < 0:
            # ``*`` only speaks for codings the client did not name
            weight = wildcard
        # strictly greater: equal weights keep the server's earlier preference
        if weight > best_weight:
            best = wanted
            best_weight = weight
    return best


def choose_encoding(header: Union[str, bytes, None],
                    available: Iterable[str] = DEFAULT_CODINGS
                    ) -> Optional[str]:
    """The content coding to compress a response with, or ``None``.

    ``header`` is the request's ``Accept-Encoding`` value (``None`` when absent);
    ``available`` the codings the server can produce, in its order of
    preference.  The coding with the highest q-value wins; equal q-values go to
    the earlier entry of ``available``; a coding named with ``q=0`` (or a
    malformed q) is refused; ``*`` gives its weight to every coding the header
    does not name; a duplicated coding gets its highest weight.  The result is
    the lower-cased entry of ``available``.

    ``None`` means "send the body as it is": for a missing or empty header, and
    when nothing in ``available`` is acceptable.  ``identity`` is never weighed
    against the codings in ``available`` (``identity;q=0`` with nothing else
    acceptable also gives ``None``: we cannot do better than identity, and an
    answer the client may refuse beats no answer), so a client that accepts
    gzip at any q > 0 gets gzip.

    Unlike python-engineio 4.15.1, which takes the first of ``gzip``/``deflate``
    in header order and ignores q-values, this follows RFC 9110 §12.5.3.

    Never raises for a ``str`` or ``bytes`` header; raises :class:`TypeError` for
    any other type.
    """
    if not header:
        return None
    if type(header) is not str:
        header = _header_text(header)
    if type(available) is not tuple:
        available = tuple(available)
    # keyed by the header alone for the default codings (no tuple to build or
    # hash on the hot path); a str key never equals a tuple key
    key: object
    if available is _DEFAULT_CODINGS:
        key = header
    else:
        key = (header, available)
    try:
        return _cache[key]
    except KeyError:
        pass
    result = _choose(header, available)
    if len(header) <= _CACHE_MAX_KEY:
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        _cache[key] = result
    return result


def compress(data: bytes, encoding: str, level: int = DEFAULT_LEVEL) -> bytes:
    """Compress ``data`` for ``Content-Encoding: encoding``.

    ``'gzip'`` gives a gzip member (RFC 1952) with mtime 0, so equal input gives
    equal output; ``'deflate'`` gives zlib-wrapped deflate (RFC 1950), which is
    what HTTP's ``deflate`` means, what the reference sends and what browsers
    read.  ``level`` is zlib's: 0 (store) to 9, or -1 for its default (6).

    Raises :class:`ValueError` for any other ``encoding`` or a level outside
    -1..9.
    """
    if level < -1 or level > 9:
        raise ValueError('compression level must be -1..9, not %r' % (level,))
    if encoding == 'gzip':
        if _ONE_SHOT_GZIP:
            return _zlib_compress(data, level, _GZIP_WBITS)
        compressor = _compressobj(level, zlib.DEFLATED, _GZIP_WBITS)
        return compressor.compress(data) + compressor.flush()
    if encoding == 'deflate':
        return _zlib_compress(data, level)
    raise ValueError('unsupported content coding: %r' % (encoding,))


def maybe_compress(body: bytes, accept_encoding: Union[str, bytes, None],
                   threshold: int = DEFAULT_THRESHOLD,
                   available: Iterable[str] = DEFAULT_CODINGS,
                   level: int = DEFAULT_LEVEL
                   ) -> Tuple[bytes, Optional[str]]:
    """``(body, coding)`` to send: compressed when worth it, else unchanged.

    Compresses when ``len(body) >= threshold`` (as the reference does) and
    :func:`choose_encoding` finds an acceptable coding in ``available``;
    ``coding`` is then the ``Content-Encoding`` value to add, else ``None`` and
    ``body`` is returned as it is.  Raises :class:`ValueError` as
    :func:`compress` does, for a bad ``level`` or a coding in ``available``
    that it cannot produce.
    """
    if len(body) < threshold:
        return body, None
    encoding = choose_encoding(accept_encoding, available)
    if encoding is None:
        return body, None
    return compress(body, encoding, level), encoding


def _too_large(max_size: int) -> ValueError:
    return ValueError('decompressed body is larger than %d bytes' % max_size)


def _inflate(data: bytes, wbits: int, coding: str, budget: int,
             max_size: int) -> Tuple[bytes, bytes]:
    """Inflate one stream: ``(output, unused data after its end)``.

    Asks zlib for at most ``budget + 1`` bytes, so a stream that inflates past
    ``budget`` costs no more than that much memory and work before it is
    refused (``max_size`` is only for the message).  ``budget + 1`` is never
    0, which zlib would read as "no limit".
    """
    decoder = _decompressobj(wbits)
    try:
        output = decoder.decompress(data, budget + 1)
    except _zlib_error as exc:
        # zlib.error is not a ValueError; callers handle one type
        raise ValueError('invalid %s data: %s' % (coding, exc)) from None
    # zlib only leaves input unconsumed when the output limit stopped it
    if len(output) > budget or decoder.unconsumed_tail:
        raise _too_large(max_size)
    if not decoder.eof:
        raise ValueError('truncated %s data' % coding)
    return output, decoder.unused_data


def _inflate_gzip(data: bytes, max_size: int) -> bytes:
    # Concatenated members are one body (RFC 1952 §2.2; gzip(1) and
    # gzip.decompress read them so): each one inflates within what the members
    # before it left of max_size.
    output, rest = _inflate(data, _GZIP_WBITS, 'gzip', max_size, max_size)
    if not rest:
        return output
    parts = [output]
    budget = max_size - len(output)
    while rest:
        if rest[:2] != _GZIP_MAGIC:
            # includes the zero padding some tools append: not a member
            raise ValueError('unexpected data after the end of the gzip data')
        output, rest = _inflate(rest, _GZIP_WBITS, 'gzip', budget, max_size)
        parts.append(output)
        budget -= len(output)
    return b''.join(parts)


def _is_zlib_header(data: bytes) -> bool:
    """True when ``data`` starts with a zlib header (RFC 1950 §2.2).

    CM = 8 (deflate), CINFO <= 7, no preset dictionary, and the FCHECK
    checksum.  A raw deflate stream from a real encoder never passes: its
    first byte would be a non-final stored block with padding bits set.
    """
    if len(data) < 2:
        return False
    cmf = data[0]
    flags = data[1]
    return (cmf & 0x0F == 8 and cmf >> 4 <= 7 and not flags & 0x20
            and (cmf * 256 + flags) % 31 == 0)


def decompress(data: bytes, encoding: str, max_size: int) -> bytes:
    """Decode a request body sent with ``Content-Encoding: encoding``.

    ``encoding`` is ``gzip`` (or its alias ``x-gzip``), ``deflate`` (zlib-wrapped
    or raw: browsers and servers disagree on what ``deflate`` means, so both
    are read) or ``identity``; case and surrounding whitespace do not matter.
    Concatenated gzip members are read as one body, like gzip(1) does.

    The result is at most ``max_size`` bytes, and no more than ``max_size + 1``
    bytes are ever inflated to find out.

    Raises :class:`ValueError` (meant to become an HTTP 400 or 413) for an
    unsupported coding, a negative ``max_size``, a body larger than
    ``max_size`` once decoded, and corrupt, truncated or trailing data
    (anything after the end of the stream other than another gzip member).
    """
    if max_size < 0:
        raise ValueError('max_size must not be negative, not %r' % (max_size,))
    coding = encoding
    if coding != 'gzip' and coding != 'deflate' and coding != 'identity':
        # only off the common path: normalise what a client may send
        coding = coding.strip(_WHITESPACE).lower()
        if coding == 'x-gzip':
            coding = 'gzip'
    if coding == 'gzip':
        return _inflate_gzip(data, max_size)
    if coding == 'deflate':
        wbits = _ZLIB_WBITS if _is_zlib_header(data) else _RAW_WBITS
        output, rest = _inflate(data, wbits, 'deflate', max_size, max_size)
        if rest:
            raise ValueError(
                'unexpected data after the end of the deflate data')
        return output
    if coding == 'identity':
        if len(data) > max_size:
            raise _too_large(max_size)
        return data if type(data) is bytes else bytes(data)
    raise ValueError('unsupported content coding: %r' % (encoding,))
