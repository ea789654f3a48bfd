"""Stub for the compiled twin of ``engineio._speedups._compression``.

Cython builds it from the same source, so the public surface is identical;
see ``_compression.py`` for the documentation of each function.
"""
from typing import Iterable, List, Optional, Tuple, Union

__all__ = [
    'DEFAULT_CODINGS', 'DEFAULT_LEVEL', 'DEFAULT_THRESHOLD',
    'parse_accept_encoding', 'choose_encoding', 'compress', 'maybe_compress',
    'decompress',
]

DEFAULT_CODINGS: Tuple[str, ...]
DEFAULT_LEVEL: int
DEFAULT_THRESHOLD: int

def parse_accept_encoding(
        header: Union[str, bytes, None]) -> List[Tuple[str, float]]: ...

def choose_encoding(header: Union[str, bytes, None],
                    available: Iterable[str] = ...) -> Optional[str]: ...

def compress(data: bytes, encoding: str, level: int = ...) -> bytes: ...

def maybe_compress(body: bytes, accept_encoding: Union[str, bytes, None],
                   threshold: int = ..., available: Iterable[str] = ...,
                   level: int = ...) -> Tuple[bytes, Optional[str]]: ...

def decompress(data: bytes, encoding: str, max_size: int) -> bytes: ...
