"""Fuzz targets for the codec's decoders: only documented errors may escape.

Every decoder gets arbitrary text and bytes (and text built from the
characters its grammar uses, which reaches deeper than uniform noise); the
only exception allowed out is ``ValueError``.  A run is brief by default (the
hypothesis profile in conftest); ``HYPOTHESIS_PROFILE=fuzz`` runs long.
"""
from hypothesis import given, strategies as st

payload_v4_text = st.lists(st.one_of(
    st.text(alphabet='0123456789b{}[]":,aAQ=+/\x1e é😀\ud800', max_size=12),
    st.text(max_size=12)), max_size=20).map('\x1e'.join)
payload_v3_text = st.lists(st.tuples(
    st.one_of(st.integers(0, 20).map(str), st.text(max_size=3)),
    st.text(alphabet='0123456b4AQ=😀é:', max_size=10)), max_size=10).map(
        lambda parts: ''.join(length + ':' + body for length, body in parts))
payload_v3_binary = st.lists(st.tuples(
    st.sampled_from([b'\x00', b'\x01', b'\x02']),
    st.lists(st.integers(0, 12), max_size=12).map(bytes),
    st.sampled_from([b'\xff', b'']),
    st.binary(max_size=12)), max_size=10).map(
        lambda parts: b''.join(b''.join(part) for part in parts))


def only_value_errors(function, *args):
    try:
        function(*args)
    except ValueError:
        pass


@given(st.one_of(st.text(), st.binary(),
                 st.text(alphabet='b0123456789AQ=+/-{}[]"tfnNI ')))
def test_decode_packet(codec, data):
    only_value_errors(codec.decode_packet, data, None)


@given(st.one_of(st.text(), st.binary(), payload_v4_text,
                 payload_v4_text.map(lambda s: 'd=' + s)))
def test_decode_payload_v4(codec, data):
    only_value_errors(codec.decode_payload, data, 16)


@given(st.one_of(st.text(), st.binary(), payload_v3_text, payload_v3_binary))
def test_decode_payload_v3(codec, data):
    only_value_errors(codec.decode_payload_v3, data, 16)


@given(st.one_of(st.text(), st.text(alphabet='d=%0123456789ABCDEF&+\\n')))
def test_decode_jsonp_form(codec, data):
    only_value_errors(codec.decode_jsonp_form, data)


@given(st.one_of(st.text(), st.binary(),
                 st.text(alphabet='ABCabc0189+/=\n é')))
def test_b64decode(codec, data):
    only_value_errors(codec.b64decode, data)


@given(st.one_of(st.text(), st.binary(),
                 st.text(alphabet='{}[],:"\\0123456789.eE+-tfnrulasNIiy ')))
def test_json_loads(codec, data):
    try:
        codec.json_loads(data)
    except (ValueError, RecursionError):
        pass
