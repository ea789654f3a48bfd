"""Stub for the compiled masking kernel (_mask_c.pyx); see _mask.py, its twin."""
from typing import Optional, Union

__all__ = ['apply_mask', 'apply_mask_inplace']

_Buffer = Union[bytes, bytearray, memoryview]

def apply_mask(data: _Buffer, key: _Buffer, start: int = ...,
               end: Optional[int] = ...) -> bytes: ...
def apply_mask_inplace(buffer: Union[bytearray, memoryview], key: _Buffer,
                       start: int = ..., end: Optional[int] = ...) -> None: ...
