"""``engineio.json.dumps`` / ``loads`` of small objects, as packets use them.

``Packet.encode`` calls ``json.dumps(data, separators=(',', ':'))`` and
``Packet.decode`` calls ``json.loads`` on every text packet, so these are the
JSON costs a message pays.  The reference is the standard library's ``json``
(with its ``parse_int`` guard on ``loads``); this project picks a faster backend
when one is installed.
"""
from __future__ import annotations

from itertools import repeat

import pytest

json = pytest.importorskip('engineio.json')

OPS = 200

SMALL = {'hello': 'world'}
# a socket.io-like event: a list with a name and a small object
EVENT = ['chat', {'user': 'alice', 'text': 'hello world', 'id': 12345, 'ok': True}]
SEPARATORS = (',', ':')


def dumps_many(obj, loops):
    dumps = json.dumps
    for _ in repeat(None, loops):
        text = dumps(obj, separators=SEPARATORS)
    return text


def loads_many(text, loops):
    loads = json.loads
    for _ in repeat(None, loops):
        obj = loads(text)
    return obj


@pytest.mark.parametrize('name, obj', [('small', SMALL), ('event', EVENT)])
def test_dumps(measure, name, obj):
    text = measure('json.dumps_' + name, 'engineio', OPS, dumps_many, obj, OPS)
    assert json.loads(text) == obj


@pytest.mark.parametrize('name, obj', [('small', SMALL), ('event', EVENT)])
def test_loads(measure, name, obj):
    text = json.dumps(obj, separators=SEPARATORS)
    assert measure('json.loads_' + name, 'engineio', OPS, loads_many, text, OPS) == obj
