"""The public surface, pinned against python-engineio 4.15.1's.

The expected names and signatures were read from python-engineio 4.15.1
(REFERENCE.md §1.1, §1.8); ours may add, never lose.
"""
import inspect

import engineio
from engineio import exceptions, json, packet, payload

REFERENCE_PACKET = ['CLOSE', 'MESSAGE', 'NOOP', 'OPEN', 'PING', 'PONG',
                    'Packet', 'UPGRADE', 'binary_types', 'packet_names']
REFERENCE_PAYLOAD = ['Payload']
REFERENCE_EXCEPTIONS = ['ConnectionError', 'ContentTooLongError',
                        'EngineIOError', 'QueueEmpty', 'SocketIsClosedError',
                        'UnknownPacketError']
REFERENCE_JSON = ['JSONDecodeError', 'JSONDecoder', 'JSONEncoder', 'dump',
                  'dumps', 'load', 'loads', 'original_loads']


def public(module):
    return {name for name in vars(module) if not name.startswith('_')}


def test_version():
    assert isinstance(engineio.__version__, str)
    assert engineio.__version__[0].isdigit()


def test_module_names():
    assert set(REFERENCE_PACKET) <= public(packet)
    assert set(REFERENCE_PAYLOAD) <= public(payload)
    assert set(REFERENCE_EXCEPTIONS) <= public(exceptions)
    assert set(REFERENCE_JSON) <= public(json)


def test_every_module_declares_all():
    for module in (packet, payload, exceptions, json):
        assert set(module.__all__) <= public(module)


def test_exception_hierarchy():
    for name in REFERENCE_EXCEPTIONS[:2] + REFERENCE_EXCEPTIONS[3:]:
        assert issubclass(getattr(exceptions, name), exceptions.EngineIOError)
    assert issubclass(exceptions.EngineIOError, Exception)


def signature(obj):
    return str(inspect.signature(obj))


def test_signatures():
    assert signature(packet.Packet) == \
        '(packet_type=6, data=None, encoded_packet=None)'
    assert signature(packet.Packet.encode) == '(self, b64=False)'
    assert signature(packet.Packet.decode) == '(self, encoded_packet)'
    assert signature(payload.Payload) == '(packets=None, encoded_payload=None)'
    # ours adds keyword-only arguments for protocol version 3
    assert signature(payload.Payload.encode).startswith(
        '(self, jsonp_index=None')
    assert signature(payload.Payload.decode).startswith(
        '(self, encoded_payload')


def test_classes_are_plain_and_reachable_by_their_module():
    for cls in (packet.Packet, payload.Payload):
        assert type(cls) is type
    assert packet.Packet.__module__ == 'engineio.packet'
    assert payload.Payload.__module__ == 'engineio.payload'
