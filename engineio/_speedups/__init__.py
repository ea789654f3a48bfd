"""The one place that chooses between the compiled kernels and their pure twins.

Every hot kernel lives in a pure-Python module here (``_codec``, ``_websocket``,
``_compression``, ``_mask``, ``_query``): that module is the source of truth and
what runs on PyPy.  The build compiles each of them with Cython into a ``*_c`` sibling (the same
``.py`` plus an augmenting ``.pxd``, or a ``.pyx`` where the fast algorithm is a
different one, as for masking).  This module imports one set or the other, all or
nothing, and says which it chose in :data:`IMPLEMENTATION`.  Nothing else in the
package looks at which implementation is active: it imports the kernels from here.

``ENGINEIO_NO_EXTENSIONS`` set to ``1``, ``true`` or ``yes`` (any case) forces the
pure twins; any other value, ``0`` included, leaves the choice to what is installed.
"""
from __future__ import annotations

import os
import platform

__all__ = ['IMPLEMENTATION', 'NO_EXTENSIONS', 'codec', 'compression', 'mask',
           'query', 'websocket']


def _env_flag(name: str) -> bool:
    return os.environ.get(name, '').strip().lower() in ('1', 'true', 'yes')


#: True when ``ENGINEIO_NO_EXTENSIONS`` asks for the pure-Python twins.
NO_EXTENSIONS = _env_flag('ENGINEIO_NO_EXTENSIONS')

if NO_EXTENSIONS or platform.python_implementation() != 'CPython':
    _compiled = False
else:
    try:
        from . import _codec_c as codec
        from . import _compression_c as compression
        from . import _mask_c as mask
        from . import _query_c as query
        from . import _websocket_c as websocket
        _compiled = True
    except ImportError:  # no compiler at install time, or a pure wheel
        _compiled = False

if not _compiled:
    from . import _codec as codec  # type: ignore[no-redef]
    from . import _compression as compression  # type: ignore[no-redef]
    from . import _mask as mask  # type: ignore[no-redef]
    from . import _query as query  # type: ignore[no-redef]
    from . import _websocket as websocket  # type: ignore[no-redef]

#: ``"cython"`` when the compiled kernels are in use, ``"python"`` otherwise.
IMPLEMENTATION = 'cython' if _compiled else 'python'
