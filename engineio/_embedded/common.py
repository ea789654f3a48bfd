"""What the embedded server's connection modules share.

:func:`step` runs a coroutine without a task until it first suspends
(:data:`Resume` finishes one that did), and :func:`is_original` tells
whether a method of ``AsyncSocket`` was patched.  They live here because
:mod:`.http` and :mod:`.websocket` use them on every request and message
and :mod:`.server` imports both: from here each imports them once, at
module level, with no import cycle.  (An ``import`` statement inside a
function was measured at thousands of instructions per call: it goes
through the import machinery every time.)
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, Optional, Tuple

from .. import async_socket as _async_socket
from ..async_socket import AsyncSocket

__all__ = ['step', 'Resume', 'is_original']

logger = logging.getLogger('engineio.server')

#: the awaitable that finishes a coroutine already stepped once (it yielded
#: ``yielded``): ``await Resume(coro, yielded)``; the one AsyncSocket's
#: outbox uses
Resume = _async_socket._Resume


async def _finish(coro: Any, yielded: Any) -> Any:
    return await Resume(coro, yielded)


def step(eio: Any, coro: Any) -> Optional['asyncio.Future[Any]']:
    """Run coroutine ``coro`` until it first suspends.

    None when it finished without suspending (the usual case: a sync
    handler, or an async one that only sends), else the task (tracked by
    ``eio``, so ``shutdown()`` cancels it) that finishes it.  Saves the task
    per message that ``ensure_future`` would cost.  An exception is logged:
    the coroutines stepped here already log their handlers' errors."""
    try:
        yielded = coro.send(None)
    except StopIteration:
        return None
    except Exception:
        logger.exception('embedded server: unexpected error')
        return None
    return eio._track(asyncio.ensure_future(_finish(coro, yielded)))


def is_original(cls: type, name: str) -> bool:
    """Whether ``cls.name`` is still ``AsyncSocket``'s own method: python-
    socketio's admin UI replaces ``handle_post_request`` and
    ``_websocket_handler`` on the class (with ``functools.partialmethod``),
    and the fast paths must then give way to the generic ones.  Checked by
    name rather than against a saved function, so that a patch made before
    this module was imported is noticed too."""
    method = getattr(cls, name, None)
    key = (cls, name)
    known = _ORIGINAL.get(key)
    if known is not None and known[0] is method:
        return known[1]  # asked per request: the answer for this method
    original = getattr(method, '__module__', None) == \
        AsyncSocket.__module__ and \
        getattr(method, '__qualname__', None) == 'AsyncSocket.' + name
    if len(_ORIGINAL) < 64:
        _ORIGINAL[key] = (method, original)
    return original


#: (class, name) -> (the method found there, whether it is the original)
_ORIGINAL: Dict[Tuple[type, str], Tuple[Any, bool]] = {}
