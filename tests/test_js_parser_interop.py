"""Our codec against the official JavaScript parsers, in both directions.

The references are npm's ``engine.io-parser`` 5.x (protocol 4, the parser
of engine.io 6.x) and ``engine.io-parser`` 2.x installed as
``engine.io-parser-v3`` (protocol 3, the parser of engine.io 3.x), pinned in
``tests/js/package.json``.
``tests/js/parser_bridge.js`` runs them in one Node process for the whole
session; every case here is a few JSON lines through that process.

For each packet or payload we check three things: our encoding equals
theirs (same type too: ``str`` for text, ``bytes`` for binary), their decoder
reads our encoding back as the packets we meant, and our decoder reads their
encoding back as the packets they meant.  Every test runs through both
implementations of the codec kernel (the ``codec`` fixture of
``conftest.py``).

Without Node or ``tests/js/node_modules`` (``make setup`` installs them) the
tests are skipped, except under ``CI`` or ``ENGINEIO_EXPECT_EXTENSIONS=1``,
where they fail: a run that is meant to be complete must not pass by skipping.
"""
from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

JS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'js')
BRIDGE_SCRIPT = os.path.join(JS_DIR, 'parser_bridge.js')
#: the npm packages the bridge loads, with the major version each must have
JS_PARSERS = {'engine.io-parser': ('5.', 4), 'engine.io-parser-v3': ('2.', 3)}
#: how long to wait for one answer before calling the bridge hung (a guard
#: against a test run that never ends, not a timing assertion)
REPLY_TIMEOUT = 60
RS = '\x1e'  # the protocol 4 record separator
MESSAGE = 4


def _peers_required() -> bool:
    expect = os.environ.get('ENGINEIO_EXPECT_EXTENSIONS', '').strip().lower()
    return bool(os.environ.get('CI')) or expect in ('1', 'true', 'yes')


def _find_peers():
    """``(node, problem)``: the Node executable, and what is missing."""
    node = shutil.which('node')
    if node is None:
        return None, 'Node.js (`node`, 18 or later) is not on PATH'
    for name in JS_PARSERS:
        manifest = os.path.join(JS_DIR, 'node_modules', name, 'package.json')
        if not os.path.isfile(manifest):
            return node, ('tests/js/node_modules/%s is not installed (`make '
                          'setup`, or `cd tests/js && npm ci`, installs it)'
                          % name)
    return node, None


class JSParserError(Exception):
    """The JavaScript side threw, or its parser gave no answer."""


class ParserBridge:
    """The Node process running ``parser_bridge.js``."""

    def __init__(self, node: str):
        self._stderr = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            [node, BRIDGE_SCRIPT], cwd=JS_DIR, bufsize=0,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr)
        self._pending = bytearray()
        self._last_id = 0

    def call(self, op: str, **arguments):
        self._last_id += 1
        request = dict(arguments, op=op, id=self._last_id)
        # ensure_ascii: the line cannot contain a line break the bridge would
        # split on (U+2028 and friends travel as \u escapes).
        line = (json.dumps(request, ensure_ascii=True) + '\n').encode('ascii')
        try:
            self._process.stdin.write(line)
        except BrokenPipeError:
            raise RuntimeError(self._death_notice()) from None
        reply = json.loads(self._read_line())
        if reply.get('id') != self._last_id:
            raise RuntimeError('parser bridge answered out of order: %r'
                               % reply)
        if 'error' in reply:
            raise JSParserError(reply['error'])
        return reply['result']

    def _read_line(self) -> str:
        fd = self._process.stdout.fileno()
        while True:
            newline = self._pending.find(b'\n')
            if newline >= 0:
                line = bytes(self._pending[:newline])
                del self._pending[:newline + 1]
                return line.decode('utf-8')
            ready, _, _ = select.select([fd], [], [], REPLY_TIMEOUT)
            if not ready:
                raise RuntimeError('the parser bridge gave no answer in %d s'
                                   % REPLY_TIMEOUT)
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise RuntimeError(self._death_notice())
            self._pending += chunk

    def _death_notice(self) -> str:
        try:
            code = self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        self._stderr.seek(0)
        stderr = self._stderr.read().decode('utf-8', 'replace')[-4000:]
        return 'the parser bridge died (exit status %s):\n%s' % (code, stderr)

    def close(self):
        self._process.stdin.close()  # the bridge exits at the end of stdin
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process.stdout.close()
        self._stderr.close()


@pytest.fixture(scope='session')
def js():
    """The running parser bridge (skip, or fail if the peers are required)."""
    node, problem = _find_peers()
    if problem is not None:
        message = ('cannot compare with the JavaScript engine.io-parser: %s'
                   % problem)
        if _peers_required():
            pytest.fail(message + '; required because CI or '
                        'ENGINEIO_EXPECT_EXTENSIONS=1 is set', pytrace=False)
        pytest.skip(message)
    bridge = ParserBridge(node)
    try:
        hello = bridge.call('hello')
        for name, (major, protocol) in JS_PARSERS.items():
            found = hello[name]
            if not found['version'].startswith(major) \
                    or found['protocol'] != protocol:
                pytest.fail('tests/js/node_modules/%s is %s (protocol %s); '
                            'expected %sx (protocol %d): run `npm ci` in '
                            'tests/js' % (name, found['version'],
                                          found['protocol'], major, protocol),
                            pytrace=False)
        yield bridge
    finally:
        bridge.close()


# -- values across the bridge -------------------------------------------------
# A packet is written here as a (packet_type, data) pair: data is str (text),
# bytes (a binary message) or None (no data).


def to_wire(value):
    if value is None or isinstance(value, str):
        return value
    return {'$binary': base64.b64encode(bytes(value)).decode('ascii')}


def from_wire(value):
    if value is None or isinstance(value, str):
        return value
    return base64.b64decode(value['$binary'], validate=True)


def packets_to_wire(specs):
    return [{'type': packet_type, 'data': to_wire(data)}
            for packet_type, data in specs]


def packets_from_wire(packets):
    return [(packet['type'], from_wire(packet['data'])) for packet in packets]


def as_js_decodes(specs):
    """The packets a JavaScript decoder gives back: no data for empty text."""
    return [(packet_type, data if isinstance(data, bytes) else (data or None))
            for packet_type, data in specs]


def _python_engineio_reading(text):
    # python-engineio 4.15.1 reads a text packet's data as JSON when it
    # parses (but never when it starts with a digit, its issue #75, and never
    # integers over 100 digits), and as the text itself otherwise.
    if text[:1].isdigit():
        return text

    def limited_int(digits):
        if len(digits) > 100:
            raise ValueError('Integer is too large')
        return int(digits)
    try:
        return json.loads(text, parse_int=limited_int)
    except ValueError:
        return text


def as_we_decode(specs):
    """The ``(packet_type, repr(data), binary)`` our decoder should give.

    ``repr`` makes the comparison exact (``1`` is not ``1.0`` or ``True``) and
    lets ``NaN`` read from JSON equal itself.
    """
    expected = []
    for packet_type, data in specs:
        if isinstance(data, bytes):
            expected.append((MESSAGE, repr(data), True))
        else:
            expected.append((packet_type,
                             repr(_python_engineio_reading(data or '')),
                             False))
    return expected


def decoded(packets):
    return [(pkt.packet_type, repr(pkt.data), pkt.binary) for pkt in packets]


def as_javascript_numbers(value):
    """``value`` with every number a float, as JavaScript has them.

    JSON.stringify writes a float with an integral value without a fraction
    (``36928749350027216.0`` is ``36928749350027220``), which Python reads
    back as a different int; compared as floats the two are the same.
    """
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        return [as_javascript_numbers(item) for item in value]
    return {key: as_javascript_numbers(item) for key, item in value.items()}


def make_packets(codec, specs):
    return [codec.Packet(packet_type, data) for packet_type, data in specs]


# -- the checks ---------------------------------------------------------------


def check_v4_packet(js, codec, spec, supports_binary):
    packet_type, data = spec
    ours = codec.Packet(packet_type, data).encode(b64=not supports_binary)
    theirs = from_wire(js.call('v4.encodePacket',
                               packet=packets_to_wire([spec])[0],
                               supportsBinary=supports_binary))
    assert type(ours) is type(theirs)
    assert ours == theirs

    read_by_js = js.call('v4.decodePacket', encoded=to_wire(ours))
    assert packets_from_wire([read_by_js]) == as_js_decodes([spec])

    read_by_us = codec.Packet(encoded_packet=theirs)
    assert decoded([read_by_us]) == as_we_decode([spec])


def check_v4_payload(js, codec, specs):
    ours = codec.Payload(make_packets(codec, specs)).encode()
    theirs = js.call('v4.encodePayload', packets=packets_to_wire(specs))
    assert type(ours) is str
    assert ours == theirs

    read_by_js = js.call('v4.decodePayload', payload=ours)
    assert packets_from_wire(read_by_js) == as_js_decodes(specs)

    read_by_us = codec.Payload()
    read_by_us.decode(theirs)
    assert decoded(read_by_us.packets) == as_we_decode(specs)


def check_v3_payload(js, codec, specs, supports_binary):
    ours = codec.Payload(make_packets(codec, specs)).encode(
        version=3, binary=supports_binary)
    theirs = from_wire(js.call('v3.encodePayload',
                               packets=packets_to_wire(specs),
                               supportsBinary=supports_binary))
    # str: "<length>:<packet>" text framing; bytes: XHR2 binary framing
    assert type(ours) is type(theirs)
    assert ours == theirs

    read_by_js = js.call('v3.decodePayload', payload=to_wire(ours))
    assert (packets_from_wire(read_by_js['packets']), read_by_js['error']) \
        == (as_js_decodes(specs), False)

    read_by_us = codec.Payload()
    read_by_us.decode(theirs, version=3)
    assert decoded(read_by_us.packets) == as_we_decode(specs)


def check_jsonp(js, codec, specs, index, version):
    payload = codec.Payload(make_packets(codec, specs)).encode(version=version)
    # binary=True must not matter: a JSONP response is always text framing.
    script = codec.Payload(make_packets(codec, specs)).encode(
        index, version=version, binary=True)
    assert isinstance(script, str)
    # Raw U+2028/U+2029 end a line in pre-ES2019 JavaScript, so a string
    # literal holding them is a syntax error in older browsers.
    assert '\u2028' not in script and '\u2029' not in script
    calls = js.call('jsonp.eval', script=script, callbacks=index + 1)
    assert calls == [{'index': index, 'arg': payload, 'argType': 'string'}]


# -- generated cases ----------------------------------------------------------

SPECIAL_CHARACTERS = (
    'a', 'b', '0', '4', '9', ':', ' ', '"', "'", '\\', '/', '<', '>', '{', '}',
    '[', ']', ',', '\n', '\r', '\t', '\x00', '\x1f', '\x7f', '\x80', '\xe9',
    '\xdf', '\u20ac', '\u2028', '\u2029', '\ufeff', '\uffff',
    '\U0001f600', '\U0001d11e', '\U0010ffff',
)
JSON_LOOKING_TEXT = (
    '{"a":1}', '[1,"x",null]', 'true', 'false', 'null', '"quoted"', '1.5e3',
    '123', '-1', ' {}', 'NaN', '-Infinity', '{"\xe9":"\U0001f600"}',
    '{bad json', '0x10', '[]',
)


def text_data(separator_allowed):
    """Text for a packet: any code point but lone surrogates (which are not
    text), with the characters framing code trips on made frequent.  The
    record separator only where it is not the separator (protocol 3)."""
    excluded = () if separator_allowed else (RS,)
    specials = [c for c in SPECIAL_CHARACTERS + (RS,) if c not in excluded]
    character = st.one_of(
        st.characters(exclude_categories=('Cs',), exclude_characters=excluded),
        st.sampled_from(specials),
        st.characters(min_codepoint=0x10000, exclude_categories=('Cs',)))
    return st.one_of(st.text(character, max_size=40),
                     st.sampled_from(JSON_LOOKING_TEXT))


def text_packets(separator_allowed=False):
    return st.tuples(st.integers(0, 6),
                     st.one_of(st.none(), text_data(separator_allowed)))


#: binary messages, some long enough for three-digit protocol 3 lengths
binary_packets = st.tuples(
    st.just(MESSAGE),
    st.one_of(st.binary(max_size=40), st.binary(min_size=100, max_size=400)))


def packet_lists(separator_allowed=False, max_size=16):
    # At most 16: Payload.max_decode_packets, our decoder's default cap.
    return st.lists(st.one_of(text_packets(separator_allowed), binary_packets),
                    min_size=1, max_size=max_size)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(),
              st.integers(-(2 ** 53) + 1, 2 ** 53 - 1),
              st.floats(allow_nan=False, allow_infinity=False),
              text_data(True)),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(text_data(True), children,
                                               max_size=4)),
    max_leaves=12)
#: what Packet sends as JSON: a dict or a list at the top
json_documents = st.one_of(st.lists(json_values, max_size=4),
                           st.dictionaries(text_data(True), json_values,
                                           max_size=4))


@given(spec=st.one_of(text_packets(), binary_packets),
       supports_binary=st.booleans())
def test_v4_packet_generated(js, codec, spec, supports_binary):
    check_v4_packet(js, codec, spec, supports_binary)


@given(specs=packet_lists())
def test_v4_payload_generated(js, codec, specs):
    check_v4_payload(js, codec, specs)


@given(specs=packet_lists(separator_allowed=True),
       supports_binary=st.booleans())
def test_v3_payload_generated(js, codec, specs, supports_binary):
    check_v3_payload(js, codec, specs, supports_binary)


@given(head=packet_lists(separator_allowed=True, max_size=7),
       binary=binary_packets,
       tail=st.lists(st.one_of(text_packets(True), binary_packets),
                     max_size=8))
def test_v3_binary_framing_generated(js, codec, head, binary, tail):
    # at least one binary packet, so supportsBinary picks the XHR2 framing
    check_v3_payload(js, codec, head + [binary] + tail, True)


@given(specs=packet_lists(separator_allowed=True),
       index=st.integers(0, 300), version=st.sampled_from([3, 4]))
def test_jsonp_generated(js, codec, specs, index, version):
    if version == 4:
        specs = [(t, d.replace(RS, '') if isinstance(d, str) else d)
                 for t, d in specs]
    check_jsonp(js, codec, specs, index, version)


@given(document=json_documents)
def test_json_data_read_by_javascript(js, codec, document):
    # What socket.io does on top of the parser: JSON.parse the data of a
    # message we encoded from a dict or list...
    encoded = codec.Packet(MESSAGE, document).encode()
    read_by_js = js.call('v4.decodePacket', encoded=encoded, parseJSON=True)
    assert read_by_js['type'] == MESSAGE
    assert as_javascript_numbers(read_by_js['json']) \
        == as_javascript_numbers(document)


@given(document=json_documents)
def test_json_data_written_by_javascript(js, codec, document):
    # ...and read what JSON.stringify wrote (raw non-ASCII, JavaScript's own
    # number formatting) as the same dict or list.
    theirs = js.call('v4.encodePacket', supportsBinary=False,
                     packet={'type': MESSAGE, 'data': None},
                     json=document)
    read_by_us = codec.Packet(encoded_packet=theirs)
    assert (read_by_us.packet_type, read_by_us.binary) == (MESSAGE, False)
    # JSON.stringify writes 1.0 as 1, so numbers are compared as JavaScript
    # sees them; everything else must come back exactly.
    assert as_javascript_numbers(read_by_us.data) \
        == as_javascript_numbers(document)


@given(specs=packet_lists(), raw_first=st.booleans())
def test_same_packets_encoded_every_way(js, codec, specs, raw_first):
    """One set of Packet objects sent to every kind of client in turn: the
    encode cache of a binary packet is converted between raw and base64."""
    packets = make_packets(codec, specs)
    wire = packets_to_wire(specs)

    def single(supports_binary):
        ours = [pkt.encode(b64=not supports_binary) for pkt in packets]
        theirs = [from_wire(js.call('v4.encodePacket', packet=packet,
                                    supportsBinary=supports_binary))
                  for packet in wire]
        assert ours == theirs
        assert [type(x) for x in ours] == [type(x) for x in theirs]

    single(supports_binary=raw_first)
    assert codec.Payload(packets).encode() == js.call('v4.encodePayload',
                                                      packets=wire)
    for supports_binary in (False, True):
        assert codec.Payload(packets).encode(
            version=3, binary=supports_binary) == from_wire(js.call(
                'v3.encodePayload', packets=wire,
                supportsBinary=supports_binary))
    single(supports_binary=not raw_first)


# -- fixed cases --------------------------------------------------------------

FIXED_TEXT = (
    [(packet_type, None) for packet_type in range(7)]
    + [(packet_type, '') for packet_type in range(7)]
    + [
        (MESSAGE, 'hello'),
        (MESSAGE, 'h\xe9llo w\xf6rld \u20ac \u4e2d\u6587'),
        (MESSAGE, '\U0001f600'),
        (MESSAGE, '\U0001f600\U0001f4a9 emoji \U0001f1eb\U0001f1f7'),
        (MESSAGE, '\U0001d11e music and \U0010ffff'),
        (MESSAGE, 'a\u2028b\u2029c'),
        (MESSAGE, '"quoted" \\ back\\slash\n new\r\nline\ttab'),
        (MESSAGE, '\x00\x01\x1f\x7f'),
        (MESSAGE, 'b64'),
        (MESSAGE, 'bAQID'),
        (MESSAGE, '12:34'),
        (MESSAGE, ':'),
        (MESSAGE, '123'),
        (MESSAGE, '{"a":[1,2.5,"\xe9"]}'),
        (MESSAGE, 'null'),
        (MESSAGE, '\ufeff{}'),
        (MESSAGE, 'x' * 1234),
        (0, '{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],'
            '"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'),
        (2, 'probe'),
        (3, 'probe'),
    ])
FIXED_BINARY = [
    (MESSAGE, b''),
    (MESSAGE, b'\x00'),
    (MESSAGE, b'\x01\x02\x03\x04'),
    (MESSAGE, b'\xff' * 10),
    (MESSAGE, b'4hello'),
    (MESSAGE, bytes(range(256))),
]
#: text that only protocol 3 can carry in a payload
FIXED_TEXT_WITH_SEPARATOR = [
    (MESSAGE, RS),
    (MESSAGE, 'a' + RS + 'b'),
    (MESSAGE, '\U0001f600' * 5 + ':' + RS + '4'),
]


def _spec_id(spec):
    packet_type, data = spec
    return '%d-%s' % (packet_type, ascii(data)[:40])


def _list_id(specs):
    return '+'.join(_spec_id(spec) for spec in specs)[:80]


FIXED_PAYLOADS = (
    [[spec] for spec in FIXED_TEXT + FIXED_BINARY]
    + [
        [(MESSAGE, 'hello'), (2, None), (MESSAGE, 'w\xf6rld \U0001f600')],
        [(MESSAGE, b'\x01\x02\x03\x04'), (MESSAGE, '\xe9\U0001f600'),
         (MESSAGE, b''), (6, None)],
        [(MESSAGE, b''), (MESSAGE, b'')],
        [(MESSAGE, bytes(range(256))), (MESSAGE, 'x' * 1234),
         (MESSAGE, b'\x00' * 10)],
        [(MESSAGE, '%d' % i) for i in range(16)],
        FIXED_TEXT[14:30],
    ])


@pytest.mark.parametrize('supports_binary', [False, True],
                         ids=['base64', 'binary'])
@pytest.mark.parametrize('spec', FIXED_TEXT + FIXED_BINARY, ids=_spec_id)
def test_v4_packet(js, codec, spec, supports_binary):
    check_v4_packet(js, codec, spec, supports_binary)


@pytest.mark.parametrize('specs', FIXED_PAYLOADS, ids=_list_id)
def test_v4_payload(js, codec, specs):
    check_v4_payload(js, codec, specs)


@pytest.mark.parametrize('supports_binary', [False, True],
                         ids=['text', 'binary'])
@pytest.mark.parametrize(
    'specs',
    FIXED_PAYLOADS + [[spec] for spec in FIXED_TEXT_WITH_SEPARATOR]
    + [FIXED_TEXT_WITH_SEPARATOR + [(MESSAGE, b'\x1e')],
       [(MESSAGE, '\U0001f600'), (MESSAGE, b'\x01'),
        (MESSAGE, '\U0001f600' * 10)]],
    ids=_list_id)
def test_v3_payload(js, codec, specs, supports_binary):
    check_v3_payload(js, codec, specs, supports_binary)


@pytest.mark.parametrize('supports_binary', [False, True],
                         ids=['text', 'binary'])
def test_v3_empty_payload(js, codec, supports_binary):
    # engine.io-parser 2.x writes a payload without packets as "0:" (an
    # empty packet, which decoders skip); it never produces an empty string,
    # which its own decoder refuses as a parser error.
    ours = codec.Payload([]).encode(version=3, binary=supports_binary)
    theirs = from_wire(js.call('v3.encodePayload', packets=[],
                               supportsBinary=supports_binary))
    assert ours == theirs
    read_by_js = js.call('v3.decodePayload', payload=to_wire(ours))
    assert read_by_js == {'packets': [], 'error': False}


@pytest.mark.parametrize('index', [0, 1, 12, 345])
@pytest.mark.parametrize('version', [3, 4])
@pytest.mark.parametrize('specs', [
    [(MESSAGE, '"quotes" and \'apostrophes\'')],
    [(MESSAGE, 'back\\slash \\" \\\\n \\u2028')],
    [(MESSAGE, 'new\nline\r\n and \t tab')],
    [(MESSAGE, 'line\u2028separator\u2029paragraph')],
    [(MESSAGE, 'h\xe9llo \u4e2d\u6587 \U0001f600 \U0010ffff')],
    [(MESSAGE, '</script><script>alert(1)</script>')],
    [(MESSAGE, '\x00\x01\x1f\x7f')],
    [(MESSAGE, b'\x00"\\\n\xff'), (MESSAGE, '\u2028"'), (2, None)],
    [(0, '{"sid":"abc","upgrades":[],"pingInterval":25000,'
         '"pingTimeout":20000}'), (MESSAGE, '{"a":"\\"\\u2028"}')],
], ids=_list_id)
def test_jsonp(js, codec, specs, index, version):
    check_jsonp(js, codec, specs, index, version)


def test_bridge_reports_parser_errors(js):
    # The bridge must not hide the JavaScript parsers' refusals, or the
    # checks above could pass on an error reply.
    assert js.call('v4.decodePacket', encoded='9x') == {
        'type': 'error', 'data': 'parser error'}
    assert js.call('v3.decodePayload', payload='5:4ab') == {
        'packets': [], 'error': True}
    with pytest.raises(JSParserError):
        js.call('v4.encodePayload', packets=[])  # never calls back
