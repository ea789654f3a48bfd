"""The ``static_files`` option of ``WSGIApp`` and ``ASGIApp``.

``static_files`` maps URL paths to files, as in python-engineio::

    {'/': 'index.html',                        # one file
     '/static': './public',                    # a directory
     '/img/logo': {'filename': 'logo.svg',     # a file, explicit type
                   'content_type': 'image/svg+xml'},
     '': 'index.html'}                         # the file for a directory

Rules, in python-engineio's order of precedence:

* the exact path wins;
* otherwise the longest prefix that is a key (``/a/b`` before ``/a``; at
  each length the key without, then with, a trailing ``/``) takes the rest
  of the path, appended to its file name (a directory);
* a file name that ends in ``/`` gets the ``''`` entry appended, or
  ``index.html`` when there is no ``''`` entry; the ``''`` entry's
  ``content_type``, if any, then applies;
* the content type is the entry's ``content_type``, else the one of the
  file extension (:data:`CONTENT_TYPES`), else
  ``application/octet-stream``.

Two deliberate differences from python-engineio: ``''`` is only the
directory default, never a prefix (python-engineio maps ``/x`` to
``index.html/x`` when ``''`` is set), and a path that could leave the
configured files is refused outright: a ``..`` segment (also encoded as
``%2e%2e``, once or several times), a backslash, a NUL byte, a path that
does not start with ``/``, or a file reached through a directory rule that
resolves (symbolic links followed) outside that directory.  python-engineio
4.15 only refuses a literal ``../``.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Optional
from urllib.parse import unquote

__all__ = ['CONTENT_TYPES', 'DEFAULT_INDEX', 'get_static_file']

#: extension (lower case) -> content type: python-engineio's table and a
#: few more common web types
CONTENT_TYPES = {
    'css': 'text/css',
    'gif': 'image/gif',
    'html': 'text/html',
    'ico': 'image/x-icon',
    'jpg': 'image/jpeg',
    'jpeg': 'image/jpeg',
    'js': 'application/javascript',
    'json': 'application/json',
    'png': 'image/png',
    'svg': 'image/svg+xml',
    'txt': 'text/plain',
}

#: the file served for a path ending in ``/`` when ``''`` is not configured
DEFAULT_INDEX = 'index.html'


def _is_unsafe(path: str) -> bool:
    if not path.startswith('/'):
        return True
    # Decode repeatedly so that %252e%252e is caught as well as %2e%2e:
    # servers and proxies differ in how many times they decode.
    for _ in range(3):
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    if '\\' in path or '\x00' in path:
        return True
    return '..' in path.split('/')


def _inside(filename: str, directory: str) -> bool:
    """Whether ``filename`` resolves to a path inside ``directory`` (both
    with symbolic links followed; neither has to exist)."""
    root = os.path.realpath(directory)
    target = os.path.realpath(filename)
    return target == root or target.startswith(os.path.join(root, ''))


def _entry(value: Any) -> Dict[str, str]:
    # a copy: the result is changed below, the configuration must not be
    return {'filename': value} if isinstance(value, str) else dict(value)


def get_static_file(path: str, static_files: Dict[str, Any]
                    ) -> Optional[Dict[str, str]]:
    """The ``{'filename', 'content_type'}`` that serves URL ``path``, or
    None (no rule matches, or the path is unsafe).  The file may not exist:
    the caller checks (and serves only regular files)."""
    if _is_unsafe(path):
        return None
    extra_path = ''
    value = static_files.get(path)
    if value is None:
        rest = path
        while rest:
            rest, _, last = rest.rpartition('/')
            extra_path = '/' + last + extra_path
            if rest and rest in static_files:  # '' is not a prefix
                value = static_files[rest]
                break
            if rest + '/' in static_files:
                value = static_files[rest + '/']
                break
        else:
            return None
    result = _entry(value)
    directory = result['filename']
    if directory.endswith('/') and extra_path.startswith('/'):
        extra_path = extra_path[1:]
    filename = directory + extra_path
    if filename.endswith('/'):
        default = static_files.get('')
        if default is None:
            filename += DEFAULT_INDEX
        else:
            default = _entry(default)
            filename += default['filename']
            if 'content_type' in default:
                result['content_type'] = default['content_type']
    if extra_path and not _inside(filename, directory):
        return None  # e.g. a symbolic link out of the directory
    result['filename'] = filename
    if 'content_type' not in result:
        _, dot, extension = filename.rpartition('/')[2].rpartition('.')
        result['content_type'] = CONTENT_TYPES.get(
            extension.lower() if dot else '', 'application/octet-stream')
    return result
