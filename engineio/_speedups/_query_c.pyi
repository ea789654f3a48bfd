"""Stub for the compiled twin of ``engineio._speedups._query``.

Cython builds it from the same source, so the public surface is identical;
see ``_query.py`` for the documentation of each function.
"""
from typing import Dict, Optional, Tuple

__all__ = ['engineio_query', 'parse_query', 'INVALID']

INVALID: int

def parse_query(query_string: str) -> Dict[str, str]: ...

def engineio_query(query_string: str) -> Tuple[
    Optional[str], Optional[str], Optional[str], Optional[int], bool]: ...
