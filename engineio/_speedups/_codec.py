"""Engine.IO packet and payload codec: the pure-Python source of truth.

Cython compiles this same file into ``engineio._speedups._codec_c``, typed by
``_codec_c.pxd``.  Keep it plain Python that also runs on PyPy 3.9 (no
``match``, no ``X | Y`` at run time); types belong in the ``.pxd``.  The two
byte-scanning helpers (:func:`_dumps_needs_stdlib`, :func:`_has_long_digit_run`)
are written as explicit loops only because Cython turns such loops into C; the
pure twin takes the regular-expression branch instead (``_COMPILED``).

What lives here:

* :class:`Packet` and :class:`Payload`, the public classes of ``engineio.packet``
  and ``engineio.payload`` (plain Python classes: subclassable, patchable,
  ``Packet.json`` assignable).  They are defined in the kernel so that their
  methods are compiled too: a Python ``__init__`` alone costs more than the
  whole compiled round trip of a text packet.
* Packet encoding and decoding (text, JSON, binary, ``b`` + base64).
* Payload framing: version 4 (``\\x1e``), version 3 text (``<length>:<packet>``,
  the length in UTF-16 code units as JavaScript counts), version 3 XHR2 binary
  framing, JSONP responses and ``d=`` form bodies.
* Validated base64 decoding: bad base64 is a ``ValueError``, never garbage.
* The JSON fast path behind ``engineio.json``: orjson when installed, with
  guards that hand every input on which orjson would answer differently from
  the standard library (floats, NaN, big integers, non-ASCII output...) back to
  the standard library, so results are exactly python-engineio's.

Errors: every malformed input raises ``ValueError`` with a message (the
messages are part of the contract: both implementations give the same ones).
"""
from __future__ import annotations

import binascii
import json as _stdlib_json
import re
import sys
import urllib.parse

try:
    import orjson as _orjson
except ImportError:  # PyPy, or CPython without orjson: the standard library
    _orjson = None  # type: ignore[assignment]

try:
    import cython
    _COMPILED = cython.compiled
except ImportError:  # the pure twin, without Cython installed
    _COMPILED = False

__all__ = [
    'OPEN', 'CLOSE', 'PING', 'PONG', 'MESSAGE', 'UPGRADE', 'NOOP',
    'packet_names', 'binary_types', 'Packet', 'Payload',
    'decode_packet', 'encode_packet', 'b64decode', 'b64encode',
    'encode_payload', 'decode_payload', 'encode_payload_v3',
    'decode_payload_v3', 'encode_jsonp', 'decode_jsonp_form', 'utf16_length',
    'json_loads', 'json_dumps', 'json_dumps_compact', 'stdlib_loads',
]

OPEN, CLOSE, PING, PONG, MESSAGE, UPGRADE, NOOP = 0, 1, 2, 3, 4, 5, 6
packet_names = ['OPEN', 'CLOSE', 'PING', 'PONG', 'MESSAGE', 'UPGRADE', 'NOOP']
binary_types = (bytes, bytearray)

_TYPE_CHAR_OF = {0: '0', 1: '1', 2: '2', 3: '3', 4: '4', 5: '5', 6: '6'}
_PACKET_TYPES = (OPEN, CLOSE, PING, PONG, MESSAGE, UPGRADE, NOOP)
# The characters a document that the standard library's json.loads accepts
# can start with (JSON values, NaN, Infinity, -Infinity, leading whitespace).
# Text that starts with anything else cannot parse, so the default JSON module
# is not even asked: python-engineio pays a failed json.loads for every plain
# text message.  (_message_data spells it out as a literal, which Cython
# compiles into a switch.)
_JSON_START = '{["tfnNI- \t\n\r'

# -- JSON ------------------------------------------------------------------


def _safe_int(s):
    # python-engineio 4.1.0: integers longer than 100 digits are refused
    # (quadratic int() parsing); json.loads then fails with ValueError.
    if len(s) > 100:
        raise ValueError('Integer is too large')
    return int(s)


# python-engineio's loads builds a new JSONDecoder on every call (it passes
# parse_int); one decoder built once gives the same results.
_stdlib_decoder = _stdlib_json.JSONDecoder(parse_int=_safe_int)
_stdlib_compact_encoder = _stdlib_json.JSONEncoder(separators=(',', ':'))

if _orjson is not None:
    # Subclasses of str/int/float/dict/list, dataclasses and datetimes go to
    # ``default``, which refuses them, so the standard library encodes them
    # exactly as python-engineio does (or raises the same TypeError).
    _ORJSON_OPTIONS = (_orjson.OPT_PASSTHROUGH_SUBCLASS
                       | _orjson.OPT_PASSTHROUGH_DATACLASS
                       | _orjson.OPT_PASSTHROUGH_DATETIME)
    _orjson_dumps = _orjson.dumps
    _orjson_loads = _orjson.loads
else:
    _ORJSON_OPTIONS = 0
    _orjson_dumps = None
    _orjson_loads = None

_FLOAT_OR_NULL_OR_NON_ASCII = re.compile(rb'[0-9][.eE]|null|[\x80-\xff]')
_LONG_DIGIT_RUN = re.compile('[0-9]{19}')


def _refuse(obj):
    raise TypeError('handled by the standard library')


def stdlib_loads(s):
    """``json.loads(s)`` exactly as python-engineio's ``engineio.json`` does it."""
    if type(s) is str and not s.startswith('\ufeff'):
        return _stdlib_decoder.decode(s)
    return _stdlib_json.loads(s, parse_int=_safe_int)


def _dumps_needs_stdlib(out):
    """Whether orjson's output could differ from the standard library's.

    orjson writes floats differently (``1e-05`` is ``0.00001``), turns NaN and
    Infinity into ``null`` and does not escape non-ASCII text; the standard
    library (``ensure_ascii=True``) is the reference.  So any output with a
    digit followed by ``.``/``e``, a ``null`` or a byte >= 0x80 is re-encoded
    by the standard library: slower, never different.
    """
    if not _COMPILED:
        return _FLOAT_OR_NULL_OR_NON_ASCII.search(out) is not None
    p = out  # compiled: a char pointer into the bytes object
    table = _JSON_BYTE_CLASS
    n = len(out)
    previous_digit = False
    i = 0
    while i < n:
        kind = table[p[i]]
        if kind == 0:
            previous_digit = False
        elif kind == 1:
            previous_digit = True
        elif kind == 2:  # '.', 'e', 'E'
            if previous_digit:
                return True
        elif kind == 3:  # 'n'
            if i + 3 < n and p[i + 1] == 0x75 and p[i + 2] == 0x6c \
                    and p[i + 3] == 0x6c:
                return True
            previous_digit = False
        else:  # a byte >= 0x80
            return True
        i += 1
    return False


# byte -> 0 plain, 1 digit, 2 '.'/'e'/'E', 3 'n', 4 non-ASCII
_JSON_BYTE_CLASS = bytes(
    1 if 0x30 <= i <= 0x39 else 2 if i in (0x2e, 0x65, 0x45) else
    3 if i == 0x6e else 4 if i >= 0x80 else 0 for i in range(256))


def _has_long_digit_run(s):
    """Whether ``s`` holds 19 or more digits in a row.

    orjson turns integers outside the 64-bit range into floats; an integer
    that needs 19 digits may be one of them, so such text goes to the
    standard library (which keeps python-engineio's 100-digit limit).
    """
    if not _COMPILED:
        return _LONG_DIGIT_RUN.search(s) is not None
    run = 0
    if PyUnicode_KIND(s) == 1:  # noqa: F821  (Latin-1: scan the bytes)
        p = PyUnicode_1BYTE_DATA(s)  # noqa: F821
        n = len(s)
        i = 0
        while i < n:
            if 0x30 <= p[i] <= 0x39:
                run += 1
                if run >= 19:
                    return True
            else:
                run = 0
            i += 1
        return False
    for ch in s:
        if '0' <= ch <= '9':
            run += 1
            if run >= 19:
                return True
        else:
            run = 0
    return False


def _ascii_concat(prefix, data):
    """``prefix + data.decode('ascii')`` for ASCII ``bytes``, in one string
    when compiled (no intermediate str)."""
    if not _COMPILED:
        return prefix + data.decode('ascii')
    plen = len(prefix)
    n = len(data)
    out = PyUnicode_New(plen + n, 127)  # noqa: F821
    dst = PyUnicode_1BYTE_DATA(out)  # noqa: F821
    i = 0
    while i < plen:
        dst[i] = prefix[i]
        i += 1
    memcpy(dst + plen, PyBytes_AS_STRING(data), n)  # noqa: F821
    return out


def json_loads(s, *args, **kwargs):
    """``engineio.json.loads``: python-engineio's results, faster.

    With arguments, the standard library's ``json.loads`` (with the 100-digit
    integer limit unless ``parse_int`` is given), as in python-engineio.
    """
    if args or kwargs:
        kwargs.setdefault('parse_int', _safe_int)
        return _stdlib_json.loads(s, *args, **kwargs)
    return _fast_loads(s)


def _fast_loads(s):
    """``json_loads(s)`` with no options: the standard library's results.

    orjson answers when it can answer exactly as the standard library would;
    everything it refuses or might read differently (NaN, Infinity, numbers
    beyond 64 bits or the float range, lone surrogates, a leading BOM, bytes)
    is parsed by the standard library.  Raises what the standard library
    raises (``ValueError`` subclasses for bad JSON).
    """
    if _orjson_loads is not None and type(s) is str \
            and not _has_long_digit_run(s):
        try:
            return _orjson_loads(s)
        except ValueError:  # JSONDecodeError, or a str that is not UTF-8
            pass
    return stdlib_loads(s)


def json_dumps_compact(obj):
    """``json.dumps(obj, separators=(',', ':'))``, exactly, faster."""
    return _compact_json(obj, '')


def _compact_json(obj, prefix):
    # prefix + json_dumps_compact(obj): a packet's type digit and its JSON
    # data become one string directly.
    if _orjson_dumps is not None:
        try:
            # positional: a keyword call would build a dict every time
            out = _orjson_dumps(obj, _refuse, _ORJSON_OPTIONS)
        except TypeError:  # JSONEncodeError: big int, non-str key, subclass
            out = None
        if out is not None and not _dumps_needs_stdlib(out):
            return _ascii_concat(prefix, out)
    return prefix + _stdlib_compact_encoder.encode(obj)


def json_dumps(obj, *args, **kwargs):
    """``engineio.json.dumps``: the standard library's, with the compact call
    that Engine.IO and Socket.IO make on every packet taken fast."""
    if not args and len(kwargs) == 1 and kwargs.get('separators') == (',', ':'):
        return json_dumps_compact(obj)
    return _stdlib_json.dumps(obj, *args, **kwargs)


# Packet.json can be any module with dumps/loads (the json= option of the
# servers and clients).  Resolving it costs a few attribute lookups, so the
# answer for the last module seen is kept.
_resolved_module = None
_resolved_fast = True
_resolved_loads = None
_resolved_dumps = None


def _resolve_json(module):
    global _resolved_module, _resolved_fast, _resolved_loads, _resolved_dumps
    if module is _resolved_module:
        return
    if module is None:  # Packet.json before engineio.packet set it
        _resolved_fast = True
        _resolved_module = None
        return
    loads = module.loads
    dumps = module.dumps
    fast = loads is json_loads and dumps is json_dumps
    if not fast:
        dumps = _compact_dumps_for(dumps)
    _resolved_fast = fast
    _resolved_loads = loads
    _resolved_dumps = dumps
    _resolved_module = module


def _compact_dumps_for(dumps):
    """A compact ``dumps(obj) -> str`` built on a JSON module's dumps.

    Modules like the standard library and ujson take ``separators``; orjson
    takes no such argument (its output is compact already) and returns bytes.
    """
    try:
        dumps({}, separators=(',', ':'))
    except TypeError:
        def compact(obj):
            out = dumps(obj)
            return out.decode('utf-8') if isinstance(out, bytes) else out
        return compact

    def compact_with_separators(obj):
        out = dumps(obj, separators=(',', ':'))
        return out.decode('utf-8') if isinstance(out, bytes) else out
    return compact_with_separators


# -- base64 ----------------------------------------------------------------

_B64_STRICT = sys.version_info >= (3, 11)
_B64_VALID = re.compile(
    '(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?')
_B64_ERROR = 'Invalid base64 data in binary packet'
_B64_ALPHABET = (b'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
                 b'0123456789+/')
# byte -> its 6-bit value, 0xff for bytes outside the alphabet ('=' included)
_B64_VALUES = bytes(_B64_ALPHABET.find(bytes((i,))) & 0xff
                    for i in range(256))


def b64encode(data):
    """Standard padded base64 of a bytes-like object, as ``str``."""
    return _encode_base64(data, '')


def _encode_base64(data, prefix):
    """``prefix + base64(data)`` (``prefix`` is ASCII).

    Compiled, for ``bytes``: one table-driven pass writing straight into the
    result string.  ``binascii.b2a_base64(data, newline=False)`` is a keyword
    call plus a decode plus a concatenation: three objects and most of the
    time of a small binary packet.
    """
    if not _COMPILED or type(data) is not bytes:
        return prefix + binascii.b2a_base64(data, newline=False).decode(
            'ascii')
    n = len(data)
    plen = len(prefix)
    out = PyUnicode_New(plen + (n + 2) // 3 * 4, 127)  # noqa: F821
    dst = PyUnicode_1BYTE_DATA(out)  # noqa: F821
    j = 0
    while j < plen:
        dst[j] = prefix[j]
        j += 1
    dst += plen
    src = data
    table = _B64_ALPHABET
    i = 0
    rest = n % 3
    end = n - rest
    while i < end:
        v = (src[i] << 16) | (src[i + 1] << 8) | src[i + 2]
        dst[0] = table[v >> 18]
        dst[1] = table[(v >> 12) & 63]
        dst[2] = table[(v >> 6) & 63]
        dst[3] = table[v & 63]
        dst += 4
        i += 3
    if rest:
        v = src[i] << 16
        if rest == 2:
            v |= src[i + 1] << 8
        dst[0] = table[v >> 18]
        dst[1] = table[(v >> 12) & 63]
        dst[2] = table[(v >> 6) & 63] if rest == 2 else 61  # 61 is '='
        dst[3] = 61
    return out


def b64decode(s):
    """Decode standard, padded base64; anything else is a ``ValueError``.

    ``base64.b64decode`` (what python-engineio uses) silently drops characters
    outside the alphabet and so turns bad input into garbage bytes.  Here the
    whole string must be valid: the standard alphabet, a length that is a
    multiple of 4, ``=`` padding only at the end.  The empty string is an
    empty binary message.
    """
    if type(s) is str:
        return _decode_base64(s, 0)
    return _decode_base64_library(s)


def _decode_base64_library(s):
    if _B64_STRICT:
        try:
            return binascii.a2b_base64(s, strict_mode=True)
        except ValueError:  # binascii.Error, or a non-ASCII str
            raise ValueError(_B64_ERROR) from None
    if isinstance(s, str):
        valid = _B64_VALID.fullmatch(s) is not None
    else:
        try:
            valid = _B64_VALID.fullmatch(bytes(s).decode('ascii')) is not None
        except UnicodeDecodeError:
            valid = False
    if not valid:
        raise ValueError(_B64_ERROR)
    return binascii.a2b_base64(s)


def _decode_base64(s, start):
    """``b64decode(s[start:])`` for a ``str``, without the slice when compiled.

    Compiled: one pass over the string's ASCII buffer with a lookup table,
    validating as it goes, writing into the result bytes.
    """
    if not _COMPILED:
        return _decode_base64_library(s[start:] if start else s)
    n = len(s) - start
    if n == 0:
        return b''
    if n < 0 or n % 4 or not PyUnicode_IS_ASCII(s):  # noqa: F821
        raise ValueError(_B64_ERROR)
    src = PyUnicode_1BYTE_DATA(s)  # noqa: F821
    src += start
    padding = 0
    if src[n - 1] == 61:
        padding = 2 if src[n - 2] == 61 else 1
    out = PyBytes_FromStringAndSize(cython.NULL,  # noqa: F821
                                    n // 4 * 3 - padding)
    dst = PyBytes_AS_STRING(out)  # noqa: F821
    table = _B64_VALUES
    full = n - 4 if padding else n  # the last quad is handled below
    i = 0
    j = 0
    while i < full:
        a = table[src[i]]
        b = table[src[i + 1]]
        c = table[src[i + 2]]
        d = table[src[i + 3]]
        if (a | b | c | d) & 0x80:
            raise ValueError(_B64_ERROR)
        v = (a << 18) | (b << 12) | (c << 6) | d
        dst[j] = (v >> 16) & 0xff
        dst[j + 1] = (v >> 8) & 0xff
        dst[j + 2] = v & 0xff
        i += 4
        j += 3
    if padding:
        a = table[src[i]]
        b = table[src[i + 1]]
        c = 0 if padding == 2 else table[src[i + 2]]
        if (a | b | c) & 0x80:
            raise ValueError(_B64_ERROR)
        v = (a << 18) | (b << 12) | (c << 6)
        dst[j] = (v >> 16) & 0xff
        if padding == 1:
            dst[j + 1] = (v >> 8) & 0xff
    return out


# -- packets -----------------------------------------------------------------
#
# The JSON module of a packet is its ``json`` attribute (``Packet.json``, set
# process-wide by the servers' and clients' ``json=`` option).  The helpers
# below take the object to read it from (a packet, or a _JsonHolder) rather
# than the module itself, so that it is only looked up for the packets that
# need JSON: most packets are plain text or binary.


class _JsonHolder:
    """Carries a JSON module where a packet is not at hand."""

    __slots__ = ('json',)

    def __init__(self, json_module):
        self.json = json_module


def _type_char(packet_type):
    if type(packet_type) is int:
        char = _TYPE_CHAR_OF.get(packet_type)
        if char is not None:
            return char
    return str(packet_type)  # python-engineio writes whatever it was given


def _encode_text(packet_type, data, holder):
    # python-engineio's rules: str as is, dict/list as compact JSON, None as
    # nothing, anything else as str(data).
    prefix = _type_char(packet_type)
    if isinstance(data, str):
        return prefix + data
    if data is None:
        return prefix
    if isinstance(data, (dict, list)):
        _resolve_json(holder.json)
        if _resolved_fast:
            return _compact_json(data, prefix)
        return prefix + _resolved_dumps(data)
    return prefix + str(data)


def encode_packet(packet_type, data, binary, b64, json_module=None):
    """Encode one packet: ``str`` for text, the bytes themselves for a binary
    message (or ``'b' + base64`` when ``b64``).  ``json_module`` encodes
    dict and list data (``None``: ``engineio.json``)."""
    if binary:
        if b64:
            return _encode_base64(data, 'b')
        return data
    return _encode_text(packet_type, data, _JsonHolder(json_module))


def _message_data(data, holder):
    """The data of a text packet: JSON when it parses, else the text itself.

    A payload starting with a digit stays a string, as in python-engineio
    (a bare number like ``412`` is not turned into an int, #75).
    """
    if not data:
        return data
    first = data[0]
    if first in '0123456789':
        return data
    _resolve_json(holder.json)
    if _resolved_fast:
        if first not in '{["tfnNI- \t\n\r':  # see _JSON_START
            return data
        try:
            return _fast_loads(data)
        except (ValueError, RecursionError):
            return data
    try:
        return _resolved_loads(data)
    except (ValueError, IndexError, RecursionError):
        return data


def _decode_into(pkt, encoded, holder):
    """Decode ``encoded`` into the fields of ``pkt``: the one packet decoder.

    Raises ``ValueError`` for an empty packet, an unknown packet type or bad
    base64, ``TypeError`` for something that is neither str nor bytes-like.
    """
    if isinstance(encoded, str):
        text = encoded  # compiled: typed as str, so slicing is direct
        if not text:
            raise ValueError('Invalid empty packet received')
        first = text[0]
        if first == 'b':
            pkt.data = _decode_base64(text, 1)
            pkt.packet_type = MESSAGE
            pkt.binary = True
            return
        if not '0' <= first <= '6':
            raise ValueError('Invalid packet type')
        pkt.packet_type = _PACKET_TYPES[ord(first) - 48]
        pkt.data = _message_data(text[1:], holder)
        pkt.binary = False
        return
    if isinstance(encoded, bytes):
        pkt.data = encoded
    elif isinstance(encoded, (bytearray, memoryview)):
        pkt.data = bytes(encoded)
    else:
        raise TypeError('An encoded packet must be str or bytes, not '
                        + type(encoded).__name__)
    pkt.packet_type = MESSAGE
    pkt.binary = True


def decode_packet(encoded, json_module=None):
    """Decode one packet into ``(packet_type, data, binary)``.

    ``encoded`` is ``str`` (a text packet, or ``'b'`` + base64 for a binary
    message) or a bytes-like object (a binary message); ``json_module``
    decodes JSON data (``None``: ``engineio.json``).  Raises what
    :func:`_decode_into` raises.
    """
    pkt = _PacketCore.__new__(_PacketCore)
    _decode_into(pkt, encoded, _JsonHolder(json_module))
    return pkt.packet_type, pkt.data, pkt.binary


class _PacketCore:
    """Fields and methods of :class:`Packet`.

    Compiled, this is an extension type whose fields are C slots and whose
    methods are C functions; :class:`Packet` subclasses it as a plain Python
    class, so ``Packet.json`` stays assignable and methods stay patchable.
    """

    json = None

    def __init__(self, packet_type=NOOP, data=None, encoded_packet=None):
        self.packet_type = packet_type
        self.data = data
        self.encode_cache = None
        if data is None or isinstance(data, str):
            self.binary = False
        elif isinstance(data, binary_types):
            self.binary = True
            if packet_type != MESSAGE:
                raise ValueError('Binary packets can only be of type MESSAGE')
        else:
            self.binary = False
        if encoded_packet is not None:
            _decode_into(self, encoded_packet, self)

    def encode(self, b64=False):
        """Encode the packet for transmission.

        Note: as a performance optimization, subsequent calls to this method
        will return a cached encoded packet, even if the data has changed.
        Set ``encode_cache`` to ``None`` to encode again.
        """
        cache = self.encode_cache
        if cache:
            if not self.binary or isinstance(cache, str) == bool(b64):
                return cache
            # A binary packet cached in the other form (the same packet sent
            # to a WebSocket and to a polling client): convert the cached
            # encoding, so that later changes to data stay ignored.
            if b64:
                return _encode_base64(cache, 'b')
            return _decode_base64(cache, 1)
        if self.binary:
            encoded = _encode_base64(self.data, 'b') if b64 else self.data
        else:
            encoded = _encode_text(self.packet_type, self.data, self)
        self.encode_cache = encoded
        return encoded

    def decode(self, encoded_packet):
        """Decode a transmitted package."""
        _decode_into(self, encoded_packet, self)


class Packet(_PacketCore):
    """Engine.IO packet."""

    json = None  # engineio.packet sets it to the engineio.json module


def _new_packet(encoded):
    # A packet decoded from a payload, without going through __init__.
    pkt = _PacketCore.__new__(Packet)
    pkt.encode_cache = None
    _decode_into(pkt, encoded, pkt)
    return pkt


# -- payloads ----------------------------------------------------------------

_RECORD_SEPARATOR = '\x1e'


def _check_count(count, max_packets):
    if max_packets is not None and count > max_packets:
        raise ValueError('Too many packets in payload')


def encode_payload(packets):
    """Version 4 polling payload: the packets joined by ``\\x1e``, binary
    messages as ``b`` + base64."""
    return _RECORD_SEPARATOR.join([pkt.encode(True) for pkt in packets])


def _as_text(encoded_payload):
    if isinstance(encoded_payload, str):
        return encoded_payload
    try:
        return bytes(encoded_payload).decode('utf-8')
    except UnicodeDecodeError:
        raise ValueError('Payload is not valid UTF-8') from None


def decode_payload(encoded_payload, max_packets):
    """Decode a version 4 payload into a list of :class:`Packet`.

    Accepts ``str`` or UTF-8 bytes, and JSONP ``d=`` form bodies.  More than
    ``max_packets`` packets (``None``: no cap) is a ``ValueError``, raised
    before any packet is decoded.
    """
    text = _as_text(encoded_payload)
    if not text:
        return []
    if text.startswith('d='):
        text = decode_jsonp_form(text)
        if not text:
            return []
    _check_count(text.count(_RECORD_SEPARATOR) + 1, max_packets)
    return [_new_packet(part) for part in text.split(_RECORD_SEPARATOR)]


_ASTRAL = re.compile('[\U00010000-\U0010ffff]')


def utf16_length(s):
    """The length of ``s`` as JavaScript counts it (UTF-16 code units)."""
    if s.isascii():
        return len(s)
    return len(s) + len(_ASTRAL.findall(s))


def _packet_v3_text(pkt):
    # Version 3 writes a binary message inside a text payload as 'b4' + base64.
    if pkt.binary:
        return _encode_base64(pkt.encode(), 'b4')
    return pkt.encode()


def encode_payload_v3(packets, binary):
    """Version 3 polling payload.

    With ``binary`` (the client takes binary, no ``b64=1``) and at least one
    binary packet, the XHR2 binary framing as ``bytes``: per packet a byte
    ``0`` (text) or ``1`` (binary), the decimal digits of its length one per
    byte, ``0xff``, then the packet (UTF-8 text; or the type byte and the raw
    data).  Otherwise text framing as ``str``: ``<length>:<packet>`` with the
    length in UTF-16 code units, binary packets as ``b<type><base64>``.
    """
    if binary and any(pkt.binary for pkt in packets):
        parts = []
        for pkt in packets:
            if pkt.binary:
                body = bytes((pkt.packet_type,)) + bytes(pkt.encode())
                parts.append(b'\x01')
            else:
                body = pkt.encode().encode('utf-8')
                parts.append(b'\x00')
            parts.append(bytes([int(d) for d in str(len(body))]))
            parts.append(b'\xff')
            parts.append(body)
        return b''.join(parts)
    if not packets:
        return '0:'  # what the JavaScript server sends; '' does not decode
    chunks = []
    for pkt in packets:
        text = _packet_v3_text(pkt)
        chunks.append(str(utf16_length(text)))
        chunks.append(':')
        chunks.append(text)
    return ''.join(chunks)


def _binary_packet(data):
    pkt = _PacketCore.__new__(Packet)
    pkt.packet_type = MESSAGE
    pkt.data = data
    pkt.binary = True
    pkt.encode_cache = None
    return pkt


def _new_packet_v3(text):
    # Version 3 writes a binary message in a text payload as 'b4' + base64.
    if len(text) > 1 and text[0] == 'b':
        if text[1] != '4':
            raise ValueError('Invalid packet type')
        return _binary_packet(_decode_base64(text, 2))
    return _new_packet(text)


def decode_payload_v3(encoded_payload, max_packets):
    """Decode a version 3 payload into a list of :class:`Packet`.

    ``str`` is the text framing (``<length>:<packet>``, lengths in UTF-16
    code units; a JSONP ``d=`` form body is unwrapped first); a bytes-like
    object is the XHR2 binary framing.  Raises ``ValueError`` for a length
    that is not a number, a packet shorter than its length, more than
    ``max_packets`` packets, or a packet that does not decode.
    """
    if isinstance(encoded_payload, str):
        text = encoded_payload
        if text.startswith('d='):
            text = decode_jsonp_form(text)
        return _decode_v3_text(text, max_packets)
    return _decode_v3_binary(bytes(encoded_payload), max_packets)


def _v3_length(digits):
    if not digits or len(digits) > 10 or not digits.isdigit() \
            or not digits.isascii():
        raise ValueError('Invalid payload: bad packet length')
    return int(digits)


def _decode_v3_text(text, max_packets):
    packets = []
    n = len(text)
    # Lengths count UTF-16 code units; without characters outside the BMP
    # that is the number of characters, and slicing is direct.
    astral = not text.isascii() and _ASTRAL.search(text) is not None
    pos = 0
    while pos < n:
        colon = text.find(':', pos)
        if colon < 0:
            raise ValueError('Invalid payload: missing packet length')
        length = _v3_length(text[pos:colon])
        start = colon + 1
        if astral:
            end = start
            units = 0
            while units < length and end < n:
                units += 2 if ord(text[end]) > 0xffff else 1
                end += 1
            if units != length:
                raise ValueError('Invalid payload: truncated packet')
        else:
            end = start + length
            if end > n:
                raise ValueError('Invalid payload: truncated packet')
        if end > start:  # "0:" is an empty packet, which version 3 skips
            _check_count(len(packets) + 1, max_packets)
            packets.append(_new_packet_v3(text[start:end]))
        pos = end
    return packets


def _decode_v3_binary(data, max_packets):
    packets = []
    n = len(data)
    pos = 0
    while pos < n:
        kind = data[pos]
        if kind > 1:
            raise ValueError('Invalid payload: bad packet kind')
        terminator = data.find(b'\xff', pos + 1, pos + 12)
        if terminator < 0:
            raise ValueError('Invalid payload: bad packet length')
        length = 0
        for i in range(pos + 1, terminator):
            digit = data[i]
            if digit > 9:
                raise ValueError('Invalid payload: bad packet length')
            length = length * 10 + digit
        if terminator == pos + 1:
            raise ValueError('Invalid payload: bad packet length')
        start = terminator + 1
        end = start + length
        if end > n:
            raise ValueError('Invalid payload: truncated packet')
        _check_count(len(packets) + 1, max_packets)
        if kind == 0:
            try:
                text = data[start:end].decode('utf-8')
            except UnicodeDecodeError:
                raise ValueError('Payload is not valid UTF-8') from None
            packets.append(_new_packet(text))
        else:
            if length == 0 or data[start] != MESSAGE:
                raise ValueError('Invalid packet type')
            packets.append(_binary_packet(data[start + 1:end]))
        pos = end
    return packets


def encode_jsonp(payload, jsonp_index):
    """Wrap a text payload for a JSONP response: ``___eio[N]("...");``.

    The payload is written as a JavaScript string literal the way the
    JavaScript server writes it (``JSON.stringify``, then U+2028 and U+2029
    escaped, as they end a line in older JavaScript).  python-engineio only
    escapes ``"``, which breaks on backslashes and newlines.
    """
    literal = _stdlib_json.dumps(payload, ensure_ascii=False)
    if '\u2028' in literal or '\u2029' in literal:
        literal = literal.replace('\u2028', '\\u2028').replace(
            '\u2029', '\\u2029')
    return '___eio[' + str(jsonp_index) + '](' + literal + ');'


_ESCAPED_NEWLINE = re.compile(r'(\\)?\\n')


def _unescape_newline(match):
    return match.group(0) if match.group(1) else '\n'


def decode_jsonp_form(body):
    """The payload inside a JSONP POST body ``d=<form-encoded payload>``.

    As the JavaScript server does: the client writes newlines as ``\\n`` and
    ``\\n`` as ``\\\\n`` (a form field cannot carry them as they are), so
    both are turned back.  A body without exactly one ``d`` field, or with
    percent-escapes that are not UTF-8, is a ``ValueError``.
    """
    try:
        fields = urllib.parse.parse_qs(body, keep_blank_values=True,
                                       errors='strict', max_num_fields=16)
    except ValueError:  # also UnicodeDecodeError
        raise ValueError('Invalid JSONP form body') from None
    values = fields.get('d')
    if values is None or len(values) != 1:
        raise ValueError('Invalid JSONP form body')
    return _ESCAPED_NEWLINE.sub(_unescape_newline, values[0]).replace(
        '\\\\n', '\\n')


class Payload:
    """Engine.IO payload."""

    #: the most packets one payload may carry; a payload with more is refused
    #: with ``ValueError('Too many packets in payload')`` (tunable, as in
    #: python-engineio; ``None`` removes the cap)
    max_decode_packets = 16

    def __init__(self, packets=None, encoded_payload=None):
        self.packets = packets or []
        if encoded_payload is not None:
            self.decode(encoded_payload)

    def encode(self, jsonp_index=None, *, version=4, binary=False):
        """Encode the payload for transmission.

        ``version=3`` uses the version 3 framing; with ``binary=True`` (the
        client accepts binary) a version 3 payload holding binary packets is
        returned as ``bytes`` in the XHR2 framing.  ``jsonp_index`` wraps a
        text payload in a JSONP response.
        """
        if version == 3:
            encoded = encode_payload_v3(self.packets,
                                        binary and jsonp_index is None)
        else:
            encoded = encode_payload(self.packets)
        if jsonp_index is not None:
            return encode_jsonp(encoded, jsonp_index)
        return encoded

    def decode(self, encoded_payload, *, version=4):
        """Decode a transmitted payload (``version=3`` for the version 3
        framings).  Raises ``ValueError`` if it does not decode or carries
        more than ``max_decode_packets`` packets."""
        self.packets = []
        if version == 3:
            self.packets = decode_payload_v3(encoded_payload,
                                             self.max_decode_packets)
        else:
            self.packets = decode_payload(encoded_payload,
                                          self.max_decode_packets)
