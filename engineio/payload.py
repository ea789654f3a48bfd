"""Engine.IO polling payloads (python-engineio's ``engineio.payload``).

:class:`Payload` is a plain Python class defined in the codec kernel (so its
methods are compiled when the extensions are installed).  Beyond
python-engineio it speaks the version 3 framings: ``encode(version=3,
binary=...)`` and ``decode(..., version=3)``.
"""
from . import packet as _packet  # noqa: F401  (sets Packet.json first)
from ._speedups import codec as _codec

__all__ = ['Payload']

Payload = _codec.Payload
Payload.__module__ = __name__
