"""Engine.IO packets (python-engineio's ``engineio.packet``).

:class:`Packet` is a plain Python class (subclass it, patch it, assign
``Packet.json``); it is defined in the codec kernel so that its methods are
compiled when the extensions are installed.
"""
import inspect as _inspect

from . import json as _json
from ._speedups import codec as _codec

__all__ = ['OPEN', 'CLOSE', 'PING', 'PONG', 'MESSAGE', 'UPGRADE', 'NOOP',
           'packet_names', 'binary_types', 'Packet']

OPEN, CLOSE, PING, PONG, MESSAGE, UPGRADE, NOOP = 0, 1, 2, 3, 4, 5, 6
packet_names = ['OPEN', 'CLOSE', 'PING', 'PONG', 'MESSAGE', 'UPGRADE', 'NOOP']
binary_types = (bytes, bytearray)

Packet = _codec.Packet
Packet.__module__ = __name__
# Compiled, __init__ is a C slot whose signature Python cannot see.
Packet.__signature__ = _inspect.Signature([  # type: ignore[attr-defined]
    _inspect.Parameter(name, _inspect.Parameter.POSITIONAL_OR_KEYWORD,
                       default=default)
    for name, default in (('packet_type', 6), ('data', None),
                          ('encoded_packet', None))])
#: the JSON module packets are encoded and decoded with (process-wide, as in
#: python-engineio: the servers' and clients' ``json=`` option sets it)
Packet.json = _json
