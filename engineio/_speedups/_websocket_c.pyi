"""Stub for engineio._speedups._websocket_c: _websocket.py compiled by Cython.

The same API as the pure twin (_websocket.py, the source of truth).
"""
from typing import List, Optional, Tuple, Union

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

_Buffer = Union[bytes, bytearray, memoryview]

OP_CONTINUATION: int
OP_TEXT: int
OP_BINARY: int
OP_CLOSE: int
OP_PING: int
OP_PONG: int
CLOSE_NORMAL: int
CLOSE_GOING_AWAY: int
CLOSE_PROTOCOL_ERROR: int
CLOSE_UNSUPPORTED_DATA: int
CLOSE_NO_STATUS: int
CLOSE_ABNORMAL: int
CLOSE_INVALID_DATA: int
CLOSE_POLICY_VIOLATION: int
CLOSE_TOO_BIG: int
CLOSE_INTERNAL_ERROR: int
MAX_CONTROL_PAYLOAD: int
_MASK_MODULE: str

class WebSocketProtocolError(ValueError):
    code: int
    reason: str
    messages: List[Tuple[int, object]]
    def __init__(self, code: int, reason: str) -> None: ...

def is_valid_close_code(code: int) -> bool: ...
def build_close_payload(code: int, reason: str = ...) -> bytes: ...
def parse_close_payload(payload: _Buffer) -> Tuple[int, str]: ...
def build_frame_header(opcode: int, length: int, fin: bool = ...,
                       mask_key: Optional[_Buffer] = ..., rsv: int = ...) -> bytes: ...
def build_frame(opcode: int, payload: Union[_Buffer, str], fin: bool = ...,
                mask_key: Optional[_Buffer] = ...) -> bytes: ...
def parse_frame_header(data: _Buffer, offset: int = ...) -> Optional[
    Tuple[bool, int, int, bool, int, int, Optional[bytes]]]: ...

class FrameParser:
    def __init__(self, max_message_size: Optional[int], *,
                 require_mask: bool = ..., validate_utf8: bool = ...) -> None: ...
    @property
    def max_message_size(self) -> Optional[int]: ...
    @property
    def buffered(self) -> int: ...
    def feed(self, data: _Buffer) -> List[Tuple[int, object]]: ...
    def feed_eof(self) -> None: ...
