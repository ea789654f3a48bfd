"""JSON-compatible module with sane defaults (python-engineio's ``engineio.json``).

The standard library's ``json`` API (``from json import *``), with:

* ``loads`` refusing integers of more than 100 digits (they leave the text
  unparsed), as python-engineio does since 4.1.0;
* fast paths: ``loads(s)`` and ``dumps(obj, separators=(',', ':'))`` (the
  call Engine.IO and Socket.IO make for every packet) use orjson when it is
  installed, and hand every input on which orjson would answer differently
  back to the standard library, so the results are the standard library's:
  floats written the same way, ``NaN``/``Infinity`` kept, integers beyond 64
  bits exact, non-ASCII text escaped as ``\\uXXXX``, subclasses, dataclasses
  and datetimes encoded (or refused) as the standard library does.  The one
  exception: orjson serializes ``enum.Enum`` members and ``uuid.UUID`` values
  that the standard library refuses with ``TypeError``.

Any other module with ``dumps``/``loads`` (ujson, orjson, the standard
library...) can still be passed as the ``json=`` option of the servers and
clients.
"""
from json import *  # noqa: F401,F403
from json import __all__ as _stdlib_all
from json import loads as original_loads  # noqa: F401  (python-engineio has it)

from ._speedups import codec as _codec

__all__ = list(_stdlib_all)

#: ``json.loads``; without options, orjson-accelerated (see the module doc)
loads = _codec.json_loads
#: ``json.dumps``; ``dumps(obj, separators=(',', ':'))`` is orjson-accelerated
dumps = _codec.json_dumps
