"""The session cookie of the polling handshake (REFERENCE §2.8).

``cookie`` option: ``None`` (no cookie), a str (the cookie name, with
``path=/; SameSite=Lax``), or a dict of attributes: ``name`` (default
``io``), then every other key in dict order as ``; key=value``; ``True``
gives the bare flag ``; key``; a callable value is called for its value
(e.g. a computed ``Expires``).  Only the polling handshake sets it, as the
reference does (load balancers' sticky sessions read it).
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Union

__all__ = ['sid_cookie']


def sid_cookie(cookie: Union[None, str, Dict[str, Any]],
               sid: str) -> Optional[str]:
    """The ``Set-Cookie`` value for ``sid``, or None when no cookie is
    configured.  A falsy non-True attribute value (``False``/``None``) leaves
    the attribute out rather than writing ``secure=False``.  Raises
    ``TypeError`` only if a callable attribute does."""
    if not cookie:
        return None
    if isinstance(cookie, str):
        return cookie + '=' + sid + '; path=/; SameSite=Lax'
    parts = [str(cookie.get('name', 'io')) + '=' + sid]
    for name, value in cookie.items():
        if name == 'name':
            continue
        if callable(value):
            value = value()
        if value is True:
            parts.append(name)
        elif value is False or value is None:
            continue
        else:
            parts.append(name + '=' + str(value))
    return '; '.join(parts)
