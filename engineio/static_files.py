"""The ``static_files`` option of ``WSGIApp`` and ``ASGIApp``.

``static_files`` maps URL paths to files, as in python-engineio::

    {'/': 'index.html',                       # one file
     '/static': './public',                    # a directory prefix
     '/img/logo': {'filename': 'logo.svg',
                   'content_type': 'image/svg+xml'},
     '': 'index.html'}                         # the file for a directory

The exact path wins; otherwise the longest prefix (``/a/b`` then ``/a``)
whose entry is a directory takes the rest of the path.  A file name ending
in ``/`` gets the ``''`` entry appended (no ``''`` entry: not found).  The
content type comes from ``content_type`` or the file extension.

Unlike python-engineio before 4.15 (and more strictly than it since), a
path with a ``..`` segment (also written ``%2e%2e``, with backslashes, or
with NUL bytes) never resolves, so a request cannot leave the configured
directories.
"""
from __future__ import annotations

from typing import Any, Dict, Optional
from urllib.parse import unquote

__all__ = ['CONTENT_TYPES', 'get_static_file']

#: extension -> content type (the reference's table, a few more)
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


def _is_unsafe(path: str) -> bool:
    # Decode repeatedly so that %252e%252e is caught as well as %2e%2e:
    # servers differ in how many times they decode.
    for _ in range(3):
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    if '\\' in path or '\x00' in path:
        return True
    return '..' in path.split('/')


def get_static_file(path: str, static_files: Dict[str, Any]
                    ) -> Optional[Dict[str, str]]:
    """The ``{'filename', 'content_type'}`` that serves URL ``path``, or
    None (no rule matches, or the path is unsafe).  The file may not exist:
    the caller checks."""
    if _is_unsafe(path):
        return None
    extra_path = ''
    entry = static_files.get(path)
    if entry is None:
        rest = path
        while rest:
            rest, _, last = rest.rpartition('/')
            extra_path = '/' + last + extra_path
            if rest and rest in static_files:  # '' is the default file
                entry = static_files[rest]
                break
            if rest + '/' in static_files:
                entry = static_files[rest + '/']
                extra_path = extra_path[1:]
                break
    if entry is None:
        return None
    if isinstance(entry, str):
        result = {'filename': entry}
    else:
        result = dict(entry)
    filename = result['filename']
    if filename.endswith('/') and extra_path.startswith('/'):
        extra_path = extra_path[1:]
    filename += extra_path
    if filename.endswith('/'):
        default = static_files.get('')
        if default is None:
            return None
        if isinstance(default, str):
            filename += default
        else:
            filename += default['filename']
            if 'content_type' in default:
                result['content_type'] = default['content_type']
    result['filename'] = filename
    if 'content_type' not in result:
        extension = filename.rpartition('/')[2].rpartition('.')[2]
        result['content_type'] = CONTENT_TYPES.get(
            extension.lower(), 'application/octet-stream')
    return result
