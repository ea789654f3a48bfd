"""Packet round trips through the public ``engineio.packet`` API.

These are the shapes of python-engineio's own ``tests/performance`` scripts,
kept exactly: ``p = Packet(encoded_packet=p.encode())`` in a loop.  The packet
made by decoding has no encode cache, so every iteration really encodes and
really decodes.  The same code runs against this project (compiled and pure)
and against python-engineio 4.15.1; the runner puts the three side by side.
"""
from __future__ import annotations

from itertools import repeat

import pytest

packet = pytest.importorskip('engineio.packet')

# Operations per benchmarked call (see harness.py: batching keeps the harness's
# own calling cost out of the ratios).
OPS = 200


def round_trip(p, loops):
    for _ in repeat(None, loops):
        p = packet.Packet(encoded_packet=p.encode())
    return p


def round_trip_b64(p, loops):
    for _ in repeat(None, loops):
        p = packet.Packet(encoded_packet=p.encode(b64=True))
    return p


def test_text_packet(measure):
    start = packet.Packet(packet.MESSAGE, 'hello world')
    p = measure('packet.text', 'engineio', OPS, round_trip, start, OPS)
    assert (p.packet_type, p.data, p.binary) == (packet.MESSAGE, 'hello world', False)


def test_json_packet(measure):
    start = packet.Packet(packet.MESSAGE, {'hello': 'world'})
    p = measure('packet.json', 'engineio', OPS, round_trip, start, OPS)
    assert (p.packet_type, p.data) == (packet.MESSAGE, {'hello': 'world'})


def test_binary_packet(measure):
    start = packet.Packet(packet.MESSAGE, b'hello world')
    p = measure('packet.binary', 'engineio', OPS, round_trip, start, OPS)
    assert (p.packet_type, p.data, p.binary) == (packet.MESSAGE, b'hello world', True)


def test_binary_b64_packet(measure):
    start = packet.Packet(packet.MESSAGE, b'hello world')
    p = measure('packet.binary_b64', 'engineio', OPS, round_trip_b64, start, OPS)
    assert (p.packet_type, p.data, p.binary) == (packet.MESSAGE, b'hello world', True)
