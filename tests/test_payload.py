"""Polling payloads: version 4, version 3 (text and XHR2 binary), JSONP.

Through both implementations of the codec.  Interoperability with the
official JavaScript parser is checked in test_js_parser_interop.py.
"""
import pytest
from hypothesis import given, strategies as st

from engineio import payload as public_payload


def packets_of(codec, payload):
    return [(p.packet_type, p.data, p.binary) for p in payload.packets]


def make(codec, *specs):
    return [codec.Packet(t, d) for t, d in specs]


class TestVersion4:
    def test_encode(self, codec):
        payload = codec.Payload(packets=make(
            codec, (4, 'hello'), (2, None), (4, b'\x01\x02\x03\x04'),
            (4, {'a': 1})))
        assert payload.encode() == \
            '4hello\x1e2\x1ebAQIDBA==\x1e4{"a":1}'

    def test_encode_empty(self, codec):
        assert codec.Payload().encode() == ''

    def test_decode(self, codec):
        payload = codec.Payload(
            encoded_payload='4hello\x1e2\x1ebAQIDBA==\x1e4{"a":1}\x1e412')
        assert packets_of(codec, payload) == [
            (4, 'hello', False), (2, '', False),
            (4, b'\x01\x02\x03\x04', True), (4, {'a': 1}, False),
            (4, '12', False)]
        for pkt in payload.packets:
            assert type(pkt) is codec.Packet and pkt.encode_cache is None

    def test_decode_empty(self, codec):
        assert codec.Payload(encoded_payload='').packets == []

    def test_decode_bytes(self, codec):
        payload = codec.Payload(encoded_payload='4é\x1e4x'.encode('utf-8'))
        assert packets_of(codec, payload) == [(4, 'é', False),
                                              (4, 'x', False)]
        with pytest.raises(ValueError, match='^Payload is not valid UTF-8$'):
            codec.Payload(encoded_payload=b'4\xff')

    @pytest.mark.parametrize('encoded, message', [
        ('4a\x1e\x1e4b', 'Invalid empty packet received'),
        ('4a\x1e', 'Invalid empty packet received'),
        ('4a\x1e7x', 'Invalid packet type'),
        ('bAQ', 'Invalid base64 data in binary packet'),
    ])
    def test_decode_invalid(self, codec, encoded, message):
        with pytest.raises(ValueError) as excinfo:
            codec.Payload(encoded_payload=encoded)
        assert str(excinfo.value) == message

    def test_packet_cap(self, codec, monkeypatch):
        assert codec.Payload.max_decode_packets == 16
        encoded = '\x1e'.join(['4x'] * 16)
        assert len(codec.Payload(encoded_payload=encoded).packets) == 16
        with pytest.raises(ValueError, match='^Too many packets in payload$'):
            codec.Payload(encoded_payload=encoded + '\x1e4x')
        monkeypatch.setattr(codec.Payload, 'max_decode_packets', 17)
        assert len(codec.Payload(
            encoded_payload=encoded + '\x1e4x').packets) == 17
        monkeypatch.setattr(codec.Payload, 'max_decode_packets', None)
        assert len(codec.Payload(
            encoded_payload='\x1e'.join(['4x'] * 1000)).packets) == 1000

    def test_packet_cap_per_instance(self, codec):
        payload = codec.Payload()
        payload.max_decode_packets = 2
        with pytest.raises(ValueError, match='Too many packets'):
            payload.decode('4a\x1e4b\x1e4c')

    def test_jsonp_response(self, codec):
        payload = codec.Payload(packets=make(codec, (4, 'say "hi"\\n'),
                                             (4, b'\x00')))
        assert payload.encode(jsonp_index=3) == \
            '___eio[3]("4say \\"hi\\"\\\\n\\u001ebAA==");'

    def test_jsonp_response_line_terminators(self, codec):
        payload = codec.Payload(packets=make(codec, (4, 'a\u2028b\u2029c\n')))
        assert payload.encode(jsonp_index=0) == \
            '___eio[0]("4a\\u2028b\\u2029c\\n");'

    def test_jsonp_form_body(self, codec):
        payload = codec.Payload(
            encoded_payload='d=4hello%1E4w%C3%B6rld%20%2B+x')
        assert packets_of(codec, payload) == [(4, 'hello', False),
                                              (4, 'wörld + x', False)]

    def test_jsonp_form_newlines(self, codec):
        # the client writes a newline as \n and a literal \n as \\n
        payload = codec.Payload(encoded_payload='d=4a%5Cnb%5C%5Cnc')
        assert packets_of(codec, payload) == [(4, 'a\nb\\nc', False)]

    @pytest.mark.parametrize('body', ['d=4a&d=4b', 'd=%FF', 'd=4a&d='])
    def test_jsonp_form_invalid(self, codec, body):
        with pytest.raises(ValueError, match='^Invalid JSONP form body$'):
            codec.Payload(encoded_payload=body)


class TestVersion3:
    def test_encode_text(self, codec):
        payload = codec.Payload(packets=make(
            codec, (4, 'hello'), (2, None), (4, 'é😀'), (4, b'\x01\x02')))
        assert payload.encode(version=3) == \
            '6:4hello1:24:4é😀6:b4AQI='

    def test_encode_empty(self, codec):
        # the JavaScript server's empty payload; '' is a parse error there
        assert codec.Payload().encode(version=3) == '0:'
        assert codec.Payload().encode(version=3, binary=True) == '0:'
        payload = codec.Payload()
        payload.decode('0:', version=3)
        assert payload.packets == []

    def test_encode_text_when_binary_allowed_but_absent(self, codec):
        payload = codec.Payload(packets=make(codec, (4, 'hello')))
        assert payload.encode(version=3, binary=True) == '6:4hello'

    def test_encode_binary_framing(self, codec):
        payload = codec.Payload(packets=make(
            codec, (4, 'hello'), (4, b'\x01\x02\x03'), (4, 'é' * 6)))
        assert payload.encode(version=3, binary=True) == (
            b'\x00\x06\xff4hello'
            + b'\x01\x04\xff\x04\x01\x02\x03'
            + b'\x00\x01\x03\xff4' + 'é'.encode('utf-8') * 6)

    def test_encode_jsonp_is_text(self, codec):
        payload = codec.Payload(packets=make(codec, (4, b'\x01')))
        assert payload.encode(jsonp_index=1, version=3, binary=True) == \
            '___eio[1]("6:b4AQ==");'

    def test_decode_text(self, codec):
        payload = codec.Payload()
        payload.decode('6:4hello1:24:4é😀6:b4AQI=0:3:4[]', version=3)
        assert packets_of(codec, payload) == [
            (4, 'hello', False), (2, '', False), (4, 'é😀', False),
            (4, b'\x01\x02', True), (4, [], False)]

    def test_decode_binary_framing(self, codec):
        payload = codec.Payload()
        payload.decode(b'\x00\x06\xff4hello\x01\x04\xff\x04\x01\x02\x03'
                       + b'\x00\x03\xff4\xc3\xa9', version=3)
        assert packets_of(codec, payload) == [
            (4, 'hello', False), (4, b'\x01\x02\x03', True),
            (4, 'é', False)]

    def test_decode_jsonp_form(self, codec):
        payload = codec.Payload()
        payload.decode('d=6%3A4hello', version=3)
        assert packets_of(codec, payload) == [(4, 'hello', False)]

    @pytest.mark.parametrize('encoded, message', [
        ('6:4hell', 'Invalid payload: truncated packet'),
        ('4hello', 'Invalid payload: missing packet length'),
        (':4hello', 'Invalid payload: bad packet length'),
        ('x:4hello', 'Invalid payload: bad packet length'),
        ('1e1:4helloworld', 'Invalid payload: bad packet length'),
        ('\u0661:2', 'Invalid payload: bad packet length'),
        ('12345678901:4', 'Invalid payload: bad packet length'),
        ('2:4😀', 'Invalid payload: truncated packet'),  # splits a pair
        ('1:7', 'Invalid packet type'),
        ('3:b2A', 'Invalid packet type'),
        ('4:b4A=', 'Invalid base64 data in binary packet'),
        (b'\x02\x01\xff4', 'Invalid payload: bad packet kind'),
        (b'\x00\x0a\xff4', 'Invalid payload: bad packet length'),
        (b'\x00\xff4', 'Invalid payload: bad packet length'),
        (b'\x00\x01' + b'\x01' * 11 + b'\xff', 'Invalid payload: bad packet length'),
        (b'\x00\x05\xff4ab', 'Invalid payload: truncated packet'),
        (b'\x00\x02\xff4\xff', 'Payload is not valid UTF-8'),
        (b'\x01\x02\xff\x02\x01', 'Invalid packet type'),
        (b'\x01\x00\xff', 'Invalid packet type'),
    ])
    def test_decode_invalid(self, codec, encoded, message):
        payload = codec.Payload()
        with pytest.raises(ValueError) as excinfo:
            payload.decode(encoded, version=3)
        assert type(excinfo.value) is ValueError
        assert str(excinfo.value) == message

    def test_packet_cap(self, codec):
        payload = codec.Payload()
        payload.decode('2:4x' * 16, version=3)
        assert len(payload.packets) == 16
        with pytest.raises(ValueError, match='Too many packets'):
            payload.decode('2:4x' * 17, version=3)
        with pytest.raises(ValueError, match='Too many packets'):
            payload.decode(b'\x00\x02\xff4x' * 17, version=3)

    @pytest.mark.parametrize('text, units', [
        ('', 0), ('abc', 3), ('é', 1), ('✓', 1), ('😀', 2), ('a😀b😀', 6),
    ])
    def test_utf16_length(self, codec, text, units):
        assert codec.utf16_length(text) == units


def test_public_module():
    assert public_payload.Payload.max_decode_packets == 16
    assert type(public_payload.Payload) is type
    payload = public_payload.Payload(encoded_payload='4{"a":1}')
    assert payload.packets[0].data == {'a': 1}


packet_specs = st.lists(st.one_of(
    st.tuples(st.sampled_from(range(7)), st.text().filter(
        lambda s: '\x1e' not in s and (not s or s[0] not in '0123456789'
                                       and s[0] not in '{["tfnNI- \t\n\r'))),
    st.tuples(st.just(4), st.binary()),
), max_size=16)


@given(packet_specs)
def test_round_trip_every_framing(codec, specs):
    payload = codec.Payload(packets=make(codec, *specs))
    expected = [(t, d, isinstance(d, bytes)) for t, d in specs]
    for version, binary in ((4, False), (3, False), (3, True)):
        decoded = codec.Payload()
        decoded.decode(payload.encode(version=version, binary=binary),
                       version=version)
        assert packets_of(codec, decoded) == expected


@given(st.one_of(st.text(), st.binary()), st.sampled_from([3, 4]))
def test_decode_differential(kernel_pair, encoded, version):
    pure, compiled = kernel_pair('_codec')
    if compiled is None:
        pytest.skip('no compiled kernel in this run')
    results = []
    for codec in (pure, compiled):
        payload = codec.Payload()
        try:
            payload.decode(encoded, version=version)
            results.append(('ok', [(p.packet_type, repr(p.data), p.binary)
                                   for p in payload.packets]))
        except ValueError as exc:
            results.append(('error', type(exc), str(exc)))
    assert results[0] == results[1]
