"""Packet encoding and decoding, through both implementations of the codec.

Expected values are python-engineio 4.15.1's (REFERENCE.md §2.5) except where
PROTOCOL.md says otherwise: unknown packet types and bad base64 are refused.
"""
import math

import pytest
from hypothesis import given, strategies as st

from engineio import json as engineio_json
from engineio import packet as public_packet


def encode(codec, packet_type, data, b64=False):
    return codec.Packet(packet_type, data).encode(b64=b64)


def decode(codec, encoded):
    pkt = codec.Packet(encoded_packet=encoded)
    return pkt.packet_type, pkt.data, pkt.binary


class TestEncode:
    @pytest.mark.parametrize('packet_type', range(7))
    def test_every_type_without_data(self, codec, packet_type):
        assert encode(codec, packet_type, None) == str(packet_type)

    @pytest.mark.parametrize('data, expected', [
        ('hello', '4hello'),
        ('', '4'),
        ('héllo ✓ 😀', '4héllo ✓ 😀'),
        ({'hello': 'world'}, '4{"hello":"world"}'),
        ([1, 'two', None, True], '4[1,"two",null,true]'),
        ({'é': 'ü'}, '4{"\\u00e9":"\\u00fc"}'),
        ({'n': float('nan'), 'i': float('inf')}, '4{"n":NaN,"i":Infinity}'),
        ([2 ** 70], '4[1180591620717411303424]'),
        ([1e-05, 1e16, 0.1], '4[1e-05,1e+16,0.1]'),
        (True, '4True'),
        (1.5, '41.5'),
        (12, '412'),
        (('a', 1), "4('a', 1)"),
    ])
    def test_message_data(self, codec, data, expected):
        assert encode(codec, 4, data) == expected

    def test_binary(self, codec):
        assert encode(codec, 4, b'\x01\x02\x03\x04') == b'\x01\x02\x03\x04'
        assert encode(codec, 4, b'\x01\x02\x03\x04', b64=True) == 'bAQIDBA=='
        assert encode(codec, 4, b'', b64=True) == 'b'
        assert encode(codec, 4, bytearray(b'ab')) == bytearray(b'ab')
        assert encode(codec, 4, bytearray(b'ab'), b64=True) == 'bYWI='

    def test_binary_must_be_a_message(self, codec):
        with pytest.raises(ValueError,
                           match='Binary packets can only be of type MESSAGE'):
            codec.Packet(codec.PING, b'x')

    def test_encode_is_cached(self, codec):
        pkt = codec.Packet(4, 'hello')
        assert pkt.encode() == '4hello'
        pkt.data = 'changed'
        assert pkt.encode() == '4hello'
        pkt.encode_cache = None
        assert pkt.encode() == '4changed'

    def test_binary_cache_serves_both_forms(self, codec):
        # python-engineio returns the cached bytes to a later b64 request, so
        # a packet broadcast to a WebSocket and a polling client breaks.
        pkt = codec.Packet(4, b'\x00\xff')
        assert pkt.encode() == b'\x00\xff'
        pkt.data = b'changed'
        assert pkt.encode(b64=True) == 'bAP8='
        assert pkt.encode() == b'\x00\xff'
        other = codec.Packet(4, b'\x00\xff')
        assert other.encode(b64=True) == 'bAP8='
        assert other.encode() == b'\x00\xff'

    def test_unusual_packet_type_is_written_as_given(self, codec):
        assert encode(codec, 12, 'x') == '12x'

    def test_custom_json_module(self, codec):
        class Loud:
            @staticmethod
            def dumps(obj, separators=None):
                assert separators == (',', ':')
                return 'JSON'

            @staticmethod
            def loads(s):
                return {'loaded': s}

        class Subclass(codec.Packet):
            json = Loud

        assert Subclass(4, {'a': 1}).encode() == '4JSON'
        assert Subclass(encoded_packet='4{}').data == {'loaded': '{}'}
        assert Subclass(encoded_packet='4hello').data == {'loaded': 'hello'}
        # the digit rule holds whatever the module
        assert Subclass(encoded_packet='412').data == '12'


class TestDecode:
    @pytest.mark.parametrize('encoded, expected', [
        ('4hello', (4, 'hello', False)),
        ('4', (4, '', False)),
        ('2', (2, '', False)),
        ('2probe', (2, 'probe', False)),
        ('6', (6, '', False)),
        ('412', (4, '12', False)),
        ('40.5', (4, '0.5', False)),
        ('4"abc"', (4, 'abc', False)),
        ('4true', (4, True, False)),
        ('4false', (4, False, False)),
        ('4null', (4, None, False)),
        ('4-5', (4, -5, False)),
        ('4[1,2]', (4, [1, 2], False)),
        ('4{"a":{"b":[]}}', (4, {'a': {'b': []}}, False)),
        ('4 {"a":1}', (4, {'a': 1}, False)),
        ('4{"a":1', (4, '{"a":1', False)),
        ('4[1,2]x', (4, '[1,2]x', False)),
        ('4 hello', (4, ' hello', False)),
        ('4{"\\u00e9":1}', (4, {'é': 1}, False)),
        ('4["' + '1' * 101 + '"]', (4, ['1' * 101], False)),
        ('4[' + '1' * 101 + ']', (4, '[' + '1' * 101 + ']', False)),
        ('4[' + '9' * 30 + ']', (4, [int('9' * 30)], False)),
        ('4[18446744073709551616]', (4, [18446744073709551616], False)),
        ('4[-9223372036854775809]', (4, [-9223372036854775809], False)),
        ('4Infinity', (4, float('inf'), False)),
        ('4-Infinity', (4, float('-inf'), False)),
        ('4"\\ud800"', (4, '\ud800', False)),
        ('4\ufeff{}', (4, '\ufeff{}', False)),
        ('bAQIDBA==', (4, b'\x01\x02\x03\x04', True)),
        ('b', (4, b'', True)),
        (b'\x01\x02', (4, b'\x01\x02', True)),
        (bytearray(b'\x01\x02'), (4, b'\x01\x02', True)),
        (b'', (4, b'', True)),
    ])
    def test_reference_cases(self, codec, encoded, expected):
        packet_type, data, binary = decode(codec, encoded)
        assert (packet_type, data, binary) == expected
        assert type(data) is type(expected[1])

    def test_nan(self, codec):
        packet_type, data, binary = decode(codec, '4NaN')
        assert packet_type == 4 and math.isnan(data) and not binary

    def test_deep_nesting_stays_text(self, codec):
        # python-engineio lets RecursionError escape here
        text = '[' * 100000 + ']' * 100000
        assert decode(codec, '4' + text) == (4, text, False)

    @pytest.mark.parametrize('encoded, message', [
        ('', 'Invalid empty packet received'),
        ('7', 'Invalid packet type'),
        ('9hello', 'Invalid packet type'),
        ('xhello', 'Invalid packet type'),
        ('\u0663hello', 'Invalid packet type'),  # an Arabic-Indic digit 3
        ('bAQID*', 'Invalid base64 data in binary packet'),
        ('bAQI', 'Invalid base64 data in binary packet'),
        ('bAQ=I', 'Invalid base64 data in binary packet'),
        ('bAQID\n', 'Invalid base64 data in binary packet'),
        ('bé', 'Invalid base64 data in binary packet'),
        ('b=', 'Invalid base64 data in binary packet'),
    ])
    def test_invalid(self, codec, encoded, message):
        with pytest.raises(ValueError) as excinfo:
            decode(codec, encoded)
        assert type(excinfo.value) is ValueError
        assert str(excinfo.value) == message

    def test_wrong_type(self, codec):
        with pytest.raises(TypeError, match='must be str or bytes, not int'):
            decode(codec, 12)

    def test_decode_method(self, codec):
        pkt = codec.Packet(4, 'x')
        pkt.decode('3pong')
        assert (pkt.packet_type, pkt.data, pkt.binary) == (3, 'pong', False)


class TestPublicModule:
    def test_constants(self):
        assert (public_packet.OPEN, public_packet.CLOSE, public_packet.PING,
                public_packet.PONG, public_packet.MESSAGE,
                public_packet.UPGRADE, public_packet.NOOP) == tuple(range(7))
        assert public_packet.packet_names == [
            'OPEN', 'CLOSE', 'PING', 'PONG', 'MESSAGE', 'UPGRADE', 'NOOP']
        assert public_packet.binary_types == (bytes, bytearray)

    def test_packet_is_a_plain_class(self):
        Packet = public_packet.Packet
        assert type(Packet) is type
        assert Packet.json is engineio_json
        pkt = Packet()
        assert (pkt.packet_type, pkt.data, pkt.binary, pkt.encode_cache) == (
            public_packet.NOOP, None, False, None)
        pkt.custom_attribute = 1  # instances keep a __dict__, as before
        assert pkt.custom_attribute == 1

    def test_json_is_assignable_and_patchable(self, monkeypatch):
        import json as stdlib_json
        Packet = public_packet.Packet
        monkeypatch.setattr(Packet, 'json', stdlib_json)
        assert Packet(4, {'é': 1}).encode() == '4{"\\u00e9":1}'
        assert Packet(encoded_packet='4[1]').data == [1]
        monkeypatch.setattr(Packet, 'encode', lambda self, b64=False: 'X')
        assert Packet(4, 'a').encode() == 'X'


@given(st.one_of(
    st.text(),
    st.binary(),
    st.builds(lambda t, s: t + s, st.sampled_from('0123456b'), st.text()),
))
def test_decode_differential(kernel_pair, encoded):
    """Both implementations agree on every input, errors included."""
    pure, compiled = kernel_pair('_codec')
    if compiled is None:
        pytest.skip('no compiled kernel in this run')
    results = []
    for codec in (pure, compiled):
        try:
            results.append(('ok',) + decode(codec, encoded))
        except ValueError as exc:
            results.append(('error', type(exc), str(exc)))
    if results[0][0] == 'ok' and isinstance(results[0][2], float) \
            and math.isnan(results[0][2]):
        assert math.isnan(results[1][2])
    else:
        assert results[0] == results[1]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10 ** 50, 10 ** 50)
    | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12)


@given(st.sampled_from(range(7)), json_values)
def test_encode_decode_round_trip(codec, packet_type, value):
    data = value if isinstance(value, (dict, list)) else str(value)
    encoded = encode(codec, packet_type, data)
    decoded_type, decoded, binary = decode(codec, encoded)
    assert decoded_type == packet_type and not binary
    if isinstance(data, str):
        # text stays text unless it is itself JSON (the reference's rule)
        if decoded != data:
            assert engineio_json.loads(data) == decoded or \
                math.isnan(decoded)
    else:
        assert engineio_json.dumps(decoded, separators=(',', ':')) == \
            engineio_json.dumps(data, separators=(',', ':'))


@given(st.binary())
def test_binary_round_trip(codec, data):
    assert decode(codec, encode(codec, 4, data)) == (4, data, True)
    assert decode(codec, encode(codec, 4, data, b64=True)) == (4, data, True)


@pytest.mark.parametrize('module_name', ['ujson', 'orjson', 'json'])
def test_third_party_json_modules(codec, module_name):
    """ujson, orjson and the standard library all work as ``json=``."""
    module = pytest.importorskip(module_name)

    class WithModule(codec.Packet):
        json = module

    for data in ({'hello': 'world', 'n': [1, 2.5, None]}, ['a', {'b': True}]):
        encoded = WithModule(4, data).encode()
        assert isinstance(encoded, str) and encoded[0] == '4'
        assert WithModule(encoded_packet=encoded).data == data
    assert WithModule(encoded_packet='4hello').data == 'hello'
    assert WithModule(encoded_packet='412').data == '12'
    # compact separators whatever the module's own default
    assert WithModule(4, {'a': [1, 2]}).encode() == '4{"a":[1,2]}'
