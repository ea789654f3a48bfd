# cython: annotation_typing=False
"""RFC 6455 framing, sans-I/O: the pure-Python source of truth.

Cython compiles this same file into ``engineio._speedups._websocket_c``, typed
by ``_websocket_c.pxd`` (the annotations here are for mypy and readers only:
``annotation_typing=False`` above keeps Cython from enforcing them, so both
twins accept the same arguments).  Keep it plain Python that runs on PyPy 3.9.

What lives here: the opcode and close-code constants, frame and close-payload
builders, a frame header decoder, and :class:`FrameParser`, the incremental
parser that turns received bytes into complete messages and enforces every
rule of RFC 6455 that a receiver can check.  No sockets, no clocks: bytes in,
messages (or a :class:`WebSocketProtocolError` carrying the close code) out.

Choices the RFC leaves open, decided here:

* A payload length not in its minimal encoding (126 with a length below 126,
  127 with a length below 65536) is refused with 1002.  Section 5.2 says the
  minimal number of bytes MUST be used; wsproto refuses too, ``ws`` and
  websockets accept.  No client in the wild sends one, and refusing gives
  every frame exactly one encoding.
* A text message is decoded (and so validated) once, when its last fragment
  arrives, not fragment by fragment: the whole message is bounded by
  ``max_message_size`` anyway, and one decode is cheaper than an incremental
  decoder.  The error is the same, only reported later (1007).
* Control frames do not count toward ``max_message_size`` (they are at most
  125 bytes and never buffered beyond their frame).
* The parser does not follow the closing handshake: frames after a close frame
  are parsed and returned like any other; the caller stops reading.
"""
from __future__ import annotations

import operator
from typing import List, Optional, Tuple, Union

try:
    import cython
    _COMPILED = cython.compiled
except ImportError:  # the pure twin, where Cython is not installed (PyPy)
    _COMPILED = False

# Cython accepts ``import cython`` inside try and treats ``cython.compiled`` as
# the compile-time constant True, so the compiled module binds the C masking
# routine and the pure one (compiled or not installed) the Python one; the
# test suite checks that the compiled parser really uses ``_mask_c``.
if _COMPILED:
    from ._mask_c import apply_mask
else:
    from ._mask import apply_mask

#: where :func:`apply_mask` came from (the compiled module keeps the function
#: in a C variable, invisible from Python: this is what tests can see)
_MASK_MODULE = apply_mask.__module__

__all__ = [
    'OP_CONTINUATION', 'OP_TEXT', 'OP_BINARY', 'OP_CLOSE', 'OP_PING', 'OP_PONG',
    'CLOSE_NORMAL', 'CLOSE_GOING_AWAY', 'CLOSE_PROTOCOL_ERROR',
    'CLOSE_UNSUPPORTED_DATA', 'CLOSE_NO_STATUS', 'CLOSE_ABNORMAL',
    'CLOSE_INVALID_DATA', 'CLOSE_POLICY_VIOLATION', 'CLOSE_TOO_BIG',
    'CLOSE_INTERNAL_ERROR', 'MAX_CONTROL_PAYLOAD',
    'WebSocketProtocolError', 'FrameParser',
    'build_frame_header', 'build_frame', 'build_close_payload',
    'parse_close_payload', 'parse_frame_header', 'is_valid_close_code',
]

Buffer = Union[bytes, bytearray, memoryview]

OP_CONTINUATION = 0
OP_TEXT = 1
OP_BINARY = 2
OP_CLOSE = 8
OP_PING = 9
OP_PONG = 10

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_UNSUPPORTED_DATA = 1003
#: reported by :func:`parse_close_payload` for an empty close payload; never
#: sent on the wire
CLOSE_NO_STATUS = 1005
#: the connection ended without a close frame (see :meth:`FrameParser.feed_eof`);
#: never sent on the wire
CLOSE_ABNORMAL = 1006
CLOSE_INVALID_DATA = 1007
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011

#: control frames (close, ping, pong) carry at most this many payload bytes
MAX_CONTROL_PAYLOAD = 125

# The largest payload length a frame can announce: 64 bits, top bit clear.
_MAX_LENGTH = (1 << 63) - 1


class WebSocketProtocolError(ValueError):
    """The peer broke RFC 6455: fail the connection with close code ``code``.

    ``reason`` (also ``str(exc)``) is short enough to be sent as the close
    reason.  When raised by :meth:`FrameParser.feed`, ``messages`` holds the
    complete messages that preceded the violation in that same call (deliver
    them, then close); it is empty otherwise.
    """

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.messages: List[Tuple[int, object]] = []

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return type(self), (self.code, self.reason)


def is_valid_close_code(code: int) -> bool:
    """True for the close codes a peer may send (RFC 6455 section 7.4).

    1000-1003 and 1007-1011 from the RFC, 1012-1014 registered with IANA since,
    and 3000-4999 for libraries and applications.  1004 is reserved; 1005,
    1006 and 1015 are for reporting only and never sent.  TypeError for a
    non-integer.
    """
    code = operator.index(code)
    # range first: the C helper takes a C int
    return 1000 <= code <= 4999 and _close_code_allowed(code)


def _close_code_allowed(code: int) -> bool:
    if code <= 1014:
        return code >= 1000 and code != 1004 and code != 1005 and code != 1006
    return 3000 <= code <= 4999


def build_close_payload(code: int, reason: str = '') -> bytes:
    """The payload of a close frame: the 2-byte code and the UTF-8 reason.

    ``CLOSE_NO_STATUS`` (1005) with no reason gives the empty payload, the
    inverse of :func:`parse_close_payload`.  Raises ValueError for a code that
    may not be sent (see :func:`is_valid_close_code`), a reason with no code,
    or a reason longer than 123 bytes in UTF-8 (control payloads are at most
    125 bytes); TypeError when ``code`` is not an integer.
    """
    code = operator.index(code)
    if code == CLOSE_NO_STATUS and not reason:
        return b''
    if not is_valid_close_code(code):
        raise ValueError('close code %d may not be sent' % code)
    encoded = reason.encode('utf-8')
    if len(encoded) > MAX_CONTROL_PAYLOAD - 2:
        raise ValueError('close reason longer than %d bytes in UTF-8'
                         % (MAX_CONTROL_PAYLOAD - 2))
    return bytes((code >> 8, code & 0xFF)) + encoded


def parse_close_payload(payload: Buffer) -> Tuple[int, str]:
    """``(code, reason)`` from the payload of a received close frame.

    An empty payload gives ``(CLOSE_NO_STATUS, '')``.  Raises
    WebSocketProtocolError with 1002 for a 1-byte payload or a code a peer may
    not send, and with 1007 for a reason that is not valid UTF-8.
    """
    if type(payload) is not bytes:
        payload = _as_bytes(payload, 'payload')
    size = len(payload)
    if size == 0:
        return CLOSE_NO_STATUS, ''
    if size == 1:
        raise WebSocketProtocolError(CLOSE_PROTOCOL_ERROR,
                                     'close frame payload of 1 byte')
    code = payload[0] << 8 | payload[1]
    if not _close_code_allowed(code):
        raise WebSocketProtocolError(CLOSE_PROTOCOL_ERROR,
                                     'invalid close code %d' % code)
    try:
        reason = payload[2:].decode('utf-8')
    except UnicodeDecodeError:
        raise WebSocketProtocolError(CLOSE_INVALID_DATA,
                                     'invalid UTF-8 in close reason') from None
    return code, reason


def _as_bytes(data: object, name: str) -> bytes:
    """The bytes of any buffer (``bytes(5)`` would be five zeros: not that)."""
    try:
        return memoryview(data).tobytes()  # type: ignore[arg-type]
    except TypeError:
        raise TypeError('%s must be a bytes-like object, not %s'
                        % (name, type(data).__name__)) from None


def _check_mask_key(mask_key: Buffer) -> bytes:
    if type(mask_key) is not bytes:
        mask_key = _as_bytes(mask_key, 'mask key')
    if len(mask_key) != 4:
        raise ValueError('mask key must be 4 bytes')
    return mask_key


# One-byte bytes objects: a short header is two of these concatenated, about
# twice as fast as ``bytes((a, b))`` (which builds a tuple and iterates it).
_BYTE = [bytes((i,)) for i in range(256)]


def _check_range(value: object, name: str, high: int) -> int:
    """``value`` as an int in ``0..high``: TypeError / ValueError otherwise."""
    if type(value) is not int:
        value = operator.index(value)  # type: ignore[call-overload,arg-type]
    if not 0 <= value <= high:  # type: ignore[operator]
        raise ValueError('%s must be between 0 and %d, not %d'
                         % (name, high, value))
    return value  # type: ignore[return-value]


def _pack_header(first: int, mask_bit: int, length: int) -> bytes:
    """The first two bytes and the length, in its minimal encoding."""
    if length < 126:
        return _BYTE[first] + _BYTE[mask_bit | length]
    if length < 65536:
        return bytes((first, mask_bit | 126, length >> 8, length & 0xFF))
    return _BYTE[first] + _BYTE[mask_bit | 127] + length.to_bytes(8, 'big')


def build_frame_header(opcode: int, length: int, fin: bool = True,
                       mask_key: Optional[Buffer] = None, rsv: int = 0) -> bytes:
    """The header of a frame carrying ``length`` payload bytes.

    The length takes its minimal encoding (7, 16 or 64 bits).  With
    ``mask_key`` (4 bytes: client frames) the mask bit is set and the key
    appended; the caller masks the payload (or use :func:`build_frame`).
    ``rsv`` holds the three reserved bits (RSV1 = 4, RSV2 = 2, RSV3 = 1).
    Only what cannot be encoded is refused, not what the RFC forbids (a long
    or fragmented control frame can be built, for tests): ValueError for an
    opcode outside 0-15, ``rsv`` outside 0-7, a length outside 0 to 2**63-1 or
    a mask key that is not 4 bytes; TypeError for non-integers.
    """
    opcode = _check_range(opcode, 'opcode', 15)
    length = _check_range(length, 'length', _MAX_LENGTH)
    first = _check_range(rsv, 'rsv', 7) << 4 | opcode
    if fin:
        first |= 0x80
    if mask_key is None:
        return _pack_header(first, 0, length)
    return _pack_header(first, 0x80, length) + _check_mask_key(mask_key)


def build_frame(opcode: int, payload: Union[Buffer, str], fin: bool = True,
                mask_key: Optional[Buffer] = None) -> bytes:
    """A whole frame: header and payload, masked with ``mask_key`` if given.

    ``payload`` is bytes-like, or a str sent as UTF-8.  Server frames pass no
    key; client frames a fresh random 4-byte key each (``os.urandom(4)``).
    Raises the errors of :func:`build_frame_header`, and TypeError when
    ``payload`` is neither bytes-like nor str.
    """
    if type(payload) is str:
        payload = payload.encode('utf-8')  # type: ignore[union-attr]
    elif type(payload) is not bytes:
        payload = _as_bytes(payload, 'payload')
    opcode = _check_range(opcode, 'opcode', 15)
    first = 0x80 | opcode if fin else opcode
    if mask_key is None:
        return _pack_header(first, 0, len(payload)) + payload  # type: ignore[operator]
    mask_key = _check_mask_key(mask_key)
    return _pack_header(first, 0x80, len(payload)) + mask_key + apply_mask(
        payload, mask_key)


def _decode_header(data: bytes, pos: int) -> Tuple[int, int, int, int, int, int]:
    """Decode the frame header at ``data[pos:]``, checking what no peer may send.

    Returns ``(fin, rsv, opcode, masked, payload_length, header_length)``, or
    when the header is not all there yet, zeros with ``header_length`` set to
    minus the number of bytes the header needs (so the caller knows how long
    to wait).  The mask key, when present, is the 4 bytes before the payload.

    Raises WebSocketProtocolError (1002) for a reserved opcode, a fragmented
    control frame, a control payload over 125 bytes, a 64-bit length with the
    top bit set, or a length not in its minimal encoding.  RSV bits and the
    mask bit depend on what was negotiated and on the direction: returned,
    not checked.  (A tuple in Python; a C struct, no allocation, compiled.)
    """
    available = len(data) - pos
    if available < 2:
        return 0, 0, 0, 0, 0, -2
    first = data[pos]
    second = data[pos + 1]
    masked = second >> 7
    length = second & 0x7F
    header_length = 2 + (masked << 2)
    if length == 126:
        header_length += 2
    elif length == 127:
        header_length += 8
    if available < header_length:
        return 0, 0, 0, 0, 0, -header_length
    opcode = first & 0x0F
    fin = first >> 7
    # Reserved opcodes: 3-7 (data) and 11-15 (control).  ``opcode & 7 > 2``
    # covers both ranges in one test.
    if (opcode & 7) > 2:
        raise WebSocketProtocolError(CLOSE_PROTOCOL_ERROR,
                                     'reserved opcode %d' % opcode)
    if length == 126:
        length = data[pos + 2] << 8 | data[pos + 3]
        if length < 126:
            raise WebSocketProtocolError(
                CLOSE_PROTOCOL_ERROR, 'payload length %d not in its minimal '
                'encoding' % length)
    elif length == 127:
        if data[pos + 2] & 0x80:
            raise WebSocketProtocolError(
                CLOSE_PROTOCOL_ERROR,
                '64-bit payload length with the most significant bit set')
        length = int.from_bytes(data[pos + 2:pos + 10], 'big')
        if length < 65536:
            raise WebSocketProtocolError(
                CLOSE_PROTOCOL_ERROR, 'payload length %d not in its minimal '
                'encoding' % length)
    if opcode & 8:
        if not fin:
            raise WebSocketProtocolError(CLOSE_PROTOCOL_ERROR,
                                         'fragmented control frame')
        if length > 125:
            raise WebSocketProtocolError(
                CLOSE_PROTOCOL_ERROR,
                'control frame payload of %d bytes (at most 125)' % length)
    return fin, (first >> 4) & 7, opcode, masked, length, header_length


def parse_frame_header(data: Buffer, offset: int = 0) -> Optional[
        Tuple[bool, int, int, bool, int, int, Optional[bytes]]]:
    """Decode the frame header at ``data[offset:]``.

    Returns None when the header is incomplete, else ``(fin, rsv, opcode,
    masked, payload_length, header_length, mask_key)`` (``mask_key`` is None
    for an unmasked frame; ``rsv`` has RSV1 = 4, RSV2 = 2, RSV3 = 1).  The
    payload, not looked at, starts at ``offset + header_length``.
    Raises WebSocketProtocolError (1002) for what no peer may send whatever
    was negotiated (see :class:`FrameParser` for the rest): a reserved opcode,
    a fragmented or over-long control frame, a 64-bit length with its top bit
    set, a length not in its minimal encoding.  ValueError for an offset
    outside ``0 <= offset <= len(data)``; TypeError for a non-buffer.
    """
    offset = operator.index(offset)
    if type(data) is not bytes:
        # at most 14 header bytes are read: copy those, not the payload
        try:
            view = memoryview(data)
        except TypeError:
            raise TypeError('data must be a bytes-like object, not %s'
                            % type(data).__name__) from None
        view = view.cast('B') if view.ndim != 1 or view.format != 'B' else view
        if not 0 <= offset <= len(view):
            raise ValueError('offset %d outside the data (%d bytes)'
                             % (offset, len(view)))
        data = view[offset:offset + 14].tobytes()
        offset = 0
    elif not 0 <= offset <= len(data):
        raise ValueError('offset %d outside the data (%d bytes)'
                         % (offset, len(data)))
    fin, rsv, opcode, masked, length, header_length = _decode_header(
        data, offset)
    if header_length <= 0:
        return None
    key = data[offset + header_length - 4:offset + header_length] \
        if masked else None
    return bool(fin), rsv, opcode, bool(masked), length, header_length, key


class FrameParser:
    """Incremental RFC 6455 frame parser: bytes in, complete messages out.

    ``max_message_size`` bounds a data message (all its fragments together),
    in bytes; None for no limit other than the protocol's.  ``require_mask``
    True is the server side (client frames must be masked), False the client
    side (server frames must not be).  With ``validate_utf8`` False, text
    messages are returned as undecoded bytes, for callers that decode (and so
    validate) themselves, e.g. a JSON parser that takes bytes.

    Memory is bounded: the parser keeps the incomplete frame at the end of the
    data (whose announced length it has already checked against the limit) and
    the fragments of an incomplete message, nothing else.
    """

    def __init__(self, max_message_size: Optional[int], *,
                 require_mask: bool = True, validate_utf8: bool = True) -> None:
        if max_message_size is None:
            limit = _MAX_LENGTH
        else:
            limit = operator.index(max_message_size)
            if limit < 0:
                raise ValueError('max_message_size must not be negative')
            limit = min(limit, _MAX_LENGTH)
        self._max_size = limit
        self._require_mask = bool(require_mask)
        self._validate_utf8 = bool(validate_utf8)
        # the start of an incomplete frame, kept between calls
        self._buffer = bytearray()
        # how many bytes _buffer must hold before parsing can make progress
        self._need = 0
        # the opcode of the fragmented message being assembled, 0 when none,
        # and its unmasked payload so far
        self._opcode = 0
        self._fragments = bytearray()
        # (code, reason) once the peer broke the protocol: the parser is dead
        self._error: Optional[Tuple[int, str]] = None

    @property
    def max_message_size(self) -> Optional[int]:
        """The limit given to the constructor (None: none)."""
        return None if self._max_size == _MAX_LENGTH else self._max_size

    @property
    def buffered(self) -> int:
        """Bytes held between calls: the incomplete frame and message."""
        return len(self._buffer) + len(self._fragments)

    def feed(self, data: Buffer) -> List[Tuple[int, object]]:
        """Parse received bytes; return the messages they completed, in order.

        Each message is ``(opcode, payload)``: ``(OP_TEXT, str)`` (bytes when
        ``validate_utf8`` is False), ``(OP_BINARY, bytes)``, and control frames
        ``(OP_CLOSE | OP_PING | OP_PONG, bytes)`` as soon as they arrive, also
        between the fragments of a data message.  Fragments are reassembled;
        an incomplete frame is kept for the next call.

        Raises WebSocketProtocolError when the peer broke the protocol: 1002
        (a reserved opcode or RSV bit, a fragmented or long control frame, a
        frame masked the wrong way, a continuation without a message, a new
        message inside a fragmented one, a bad length encoding, a bad close
        payload), 1007 (invalid UTF-8 in a text message or close reason), 1009
        (a message over ``max_message_size``, known from the frame header,
        before its payload arrives).  The exception's ``messages`` holds the
        messages completed before the violation.  The parser is then dead:
        every later call raises the same error.
        """
        if self._error is not None:
            raise WebSocketProtocolError(self._error[0], self._error[1])
        messages: List[Tuple[int, object]] = []
        chunk = data if type(data) is bytes else _as_bytes(data, 'data')
        pos = 0
        try:
            buffer = self._buffer
            # First finish the frame begun in an earlier call, topping the
            # buffer up with just the bytes it needs at each stage (the rest
            # of the header, then the payload): at most three rounds, and
            # the rest of ``data`` is then parsed where it lies, not copied.
            while buffer:
                missing = self._need - len(buffer)
                if missing > len(chunk) - pos:
                    buffer += chunk[pos:] if pos else chunk
                    return messages
                buffer += chunk[pos:pos + missing]
                pos += missing
                # the frame was complete when all of it was used (the buffer
                # holds no more than one frame); else _need has grown
                if self._parse(bytes(buffer), 0, messages):
                    buffer.clear()
            end = self._parse(chunk, pos, messages)
            if end < len(chunk):
                buffer += chunk[end:]
        except WebSocketProtocolError as exc:
            self._error = (exc.code, exc.reason)
            self._buffer = bytearray()
            self._fragments = bytearray()
            exc.messages = messages
            raise
        return messages

    def feed_eof(self) -> None:
        """Tell the parser the stream ended; check nothing was cut off.

        Raises WebSocketProtocolError with ``CLOSE_ABNORMAL`` (1006, reported,
        never sent) when the data ended inside a frame or a fragmented message,
        and the parser's earlier error if it is dead.  Nothing otherwise.
        """
        if self._error is not None:
            raise WebSocketProtocolError(self._error[0], self._error[1])
        if self._buffer or self._opcode:
            self._error = (CLOSE_ABNORMAL, 'the stream ended inside a %s'
                           % ('frame' if self._buffer else 'fragmented message'))
            self._buffer = bytearray()
            self._fragments = bytearray()
            raise WebSocketProtocolError(self._error[0], self._error[1])

    def _parse(self, data: bytes, pos: int,
               messages: List[Tuple[int, object]]) -> int:
        """Parse the frames in ``data[pos:]``; return where the first incomplete
        one starts (``len(data)`` when none), having set ``_need``."""
        size = len(data)
        while pos < size:
            fin, rsv, opcode, masked, length, header_length = _decode_header(
                data, pos)
            if header_length <= 0:
                self._need = -header_length
                return pos
            if rsv:
                raise WebSocketProtocolError(
                    CLOSE_PROTOCOL_ERROR,
                    'reserved bits set (%d) but no extension negotiated' % rsv)
            if masked:
                if not self._require_mask:
                    raise WebSocketProtocolError(
                        CLOSE_PROTOCOL_ERROR, 'masked frame from the server')
            elif self._require_mask:
                raise WebSocketProtocolError(
                    CLOSE_PROTOCOL_ERROR, 'unmasked frame from the client')
            if opcode < 8:  # a data frame: the sequence and the size limit
                if opcode == 0:  # continuation
                    if not self._opcode:
                        raise WebSocketProtocolError(
                            CLOSE_PROTOCOL_ERROR,
                            'continuation frame without a message to continue')
                elif self._opcode:
                    raise WebSocketProtocolError(
                        CLOSE_PROTOCOL_ERROR,
                        'new data frame inside a fragmented message')
                # checked on the header, before any of the payload is
                # buffered: a 2**62-byte announcement costs nothing
                if length > self._max_size - len(self._fragments):
                    raise WebSocketProtocolError(
                        CLOSE_TOO_BIG, 'message longer than %d bytes'
                        % self._max_size)
            start = pos + header_length
            if length > size - start:
                self._need = header_length + length
                return pos
            end = start + length
            if masked:
                payload = apply_mask(data, data[start - 4:start], start, end)
            else:
                payload = data[start:end]
            pos = end
            if opcode & 8:  # close, ping, pong: delivered at once
                if opcode == 8:
                    parse_close_payload(payload)  # raises for a bad one
                messages.append((opcode, payload))
            elif not fin:  # a first or middle fragment
                if opcode:
                    self._opcode = opcode
                self._fragments += payload
            elif opcode == 0:  # the last fragment
                self._fragments += payload
                messages.append(self._message(self._opcode,
                                              bytes(self._fragments)))
                self._opcode = 0
                self._fragments = bytearray()
            elif opcode == 1 and self._validate_utf8:  # a whole text message
                try:
                    messages.append((1, payload.decode('utf-8')))
                except UnicodeDecodeError:
                    raise WebSocketProtocolError(
                        CLOSE_INVALID_DATA,
                        'invalid UTF-8 in text message') from None
            else:  # a whole binary message (or text left undecoded)
                messages.append((opcode, payload))
        return pos

    def _message(self, opcode: int, payload: bytes) -> Tuple[int, object]:
        if opcode == 1 and self._validate_utf8:
            try:
                return 1, payload.decode('utf-8')
            except UnicodeDecodeError:
                raise WebSocketProtocolError(
                    CLOSE_INVALID_DATA,
                    'invalid UTF-8 in text message') from None
        return opcode, payload
