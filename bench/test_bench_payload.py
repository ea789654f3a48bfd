"""Payload round trips through the public ``engineio.payload`` API.

The shape of python-engineio's ``tests/performance/payload.py``: ten binary
``MESSAGE`` packets, ``p = Payload(encoded_payload=p.encode())`` in a loop.
Binary packets go out base64-encoded inside a polling payload, so this times the
``\\x1e`` framing and the ``b`` + base64 path of every packet, both ways.
"""
from __future__ import annotations

from itertools import repeat

import pytest

packet = pytest.importorskip('engineio.packet')
payload = pytest.importorskip('engineio.payload')

OPS = 20


def round_trip(p, loops):
    for _ in repeat(None, loops):
        p = payload.Payload(encoded_payload=p.encode())
    return p


def test_payload_10_binary_packets(measure):
    start = payload.Payload(
        packets=[packet.Packet(packet.MESSAGE, b'hello world')] * 10)
    p = measure('payload.binary10', 'engineio', OPS, round_trip, start, OPS)
    assert [(q.packet_type, q.data) for q in p.packets] == \
        [(packet.MESSAGE, b'hello world')] * 10


def test_payload_10_text_packets(measure):
    # Not one of the reference's scripts, but the common case on the wire:
    # socket.io events are text packets.
    start = payload.Payload(
        packets=[packet.Packet(packet.MESSAGE, '2["chat","hello world"]')] * 10)
    p = measure('payload.text10', 'engineio', OPS, round_trip, start, OPS)
    assert [q.data for q in p.packets] == ['2["chat","hello world"]'] * 10
