"""engineio.json: the standard library's results (python-engineio's), faster.

The fast path (orjson when installed) must never answer differently from
the standard library with python-engineio's 100-digit integer rule; these
tests compare the two on fixed and generated inputs, in both codec
implementations.
"""
import dataclasses
import datetime
import decimal
import enum
import json as stdlib_json
import math

import pytest
from hypothesis import given, strategies as st

import engineio.json


def reference_loads(s):
    def safe_int(digits):
        if len(digits) > 100:
            raise ValueError('Integer is too large')
        return int(digits)
    return stdlib_json.loads(s, parse_int=safe_int)


def reference_dumps(obj):
    return stdlib_json.dumps(obj, separators=(',', ':'))


def same(a, b):
    """Equality that also holds for NaN, and checks types (1 vs 1.0 vs True)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def outcome(function, *args):
    try:
        return ('ok', function(*args))
    except Exception as exc:  # compared: type and message
        return ('error', type(exc), str(exc))


def same_outcome(a, b):
    if a[0] == 'ok' and b[0] == 'ok':
        return same(a[1], b[1])
    return a[0] == b[0] and a[1] is b[1]


class TestModule:
    def test_stdlib_names(self):
        for name in stdlib_json.__all__:
            assert hasattr(engineio.json, name)
        assert engineio.json.JSONDecodeError is stdlib_json.JSONDecodeError

    def test_loads_with_options_is_the_stdlib(self):
        assert engineio.json.loads('1.5', parse_float=decimal.Decimal) == \
            decimal.Decimal('1.5')
        with pytest.raises(ValueError):
            engineio.json.loads('[' + '1' * 101 + ']', parse_float=float)
        assert engineio.json.loads('[' + '1' * 101 + ']',
                                   parse_int=int) == [int('1' * 101)]

    def test_dumps_with_options_is_the_stdlib(self):
        obj = {'b': 1, 'a': [1, 2]}
        assert engineio.json.dumps(obj) == stdlib_json.dumps(obj)
        assert engineio.json.dumps(obj, sort_keys=True, indent=2) == \
            stdlib_json.dumps(obj, sort_keys=True, indent=2)
        assert engineio.json.dumps(obj, separators=(',', ':')) == \
            '{"b":1,"a":[1,2]}'

    def test_loads_bytes_like_the_stdlib(self):
        assert engineio.json.loads(b'{"a":1}') == {'a': 1}
        assert engineio.json.loads('{"a":1}'.encode('utf-16')) == {'a': 1}

    def test_loads_errors_like_the_stdlib(self):
        for bad in ['', '{', '[1,]', '\ufeff{}', 'nul', '"\x01"']:
            with pytest.raises(stdlib_json.JSONDecodeError):
                engineio.json.loads(bad)
        with pytest.raises(TypeError):
            engineio.json.loads(12)


@pytest.mark.parametrize('obj', [
    {'hello': 'world'}, [1, 2, 3], [], {}, [None], {'a': None},
    [float('nan'), float('inf'), float('-inf')], [1e-05, 1e-7, 1e16, 1e22],
    [0.1, -0.0, 5e-324, 1.7976931348623157e308, 123456789.123456789],
    [2 ** 63 - 1, -2 ** 63, 2 ** 64 - 1, 2 ** 64, -2 ** 63 - 1, 10 ** 40],
    {'é': 'ü', 'emoji': '😀', 'line': '\u2028'}, ['a/b', '\x00\x1f', '"\\'],
    {1: 'int key', True: 'bool key', None: 'none key', 1.5: 'float key'},
    (1, 2), [True, False], {'nested': {'deep': [[[[]]]]}},
])
def test_dumps_matches_stdlib(codec, obj):
    assert codec.json_dumps_compact(obj) == reference_dumps(obj)
    assert codec.json_dumps(obj, separators=(',', ':')) == reference_dumps(obj)


class IntSubclass(int):
    def __repr__(self):
        return 'IntSubclass()'


class StrSubclass(str):
    pass


class Colour(enum.IntEnum):
    RED = 1


@dataclasses.dataclass
class Point:
    x: int


@pytest.mark.parametrize('obj', [
    [IntSubclass(5)], {'a': StrSubclass('x')}, [Colour.RED],
    [Point(1)], [datetime.datetime(2026, 1, 1)], [object()], {(1, 2): 3},
    [decimal.Decimal('1.5')], [{1, 2}], [b'bytes'],
])
def test_dumps_outcome_matches_stdlib(codec, obj):
    assert same_outcome(outcome(codec.json_dumps_compact, obj),
                        outcome(reference_dumps, obj))


def test_dumps_circular(codec):
    loop = []
    loop.append(loop)
    with pytest.raises(ValueError, match='Circular reference'):
        codec.json_dumps_compact(loop)


@pytest.mark.parametrize('text', [
    '{"hello":"world"}', '[1,2,3]', 'true', 'null', '"x"', '-5', '1.5',
    'NaN', 'Infinity', '-Infinity', '[1e400]', '-1e400', '"\\ud800"',
    '9223372036854775807', '9223372036854775808', '18446744073709551615',
    '18446744073709551616', '-9223372036854775808', '-9223372036854775809',
    '[' + '1' * 100 + ']', '[' + '1' * 101 + ']', '0.1234567890123456789012',
    ' {"a" : [ 1 , 2 ] } ', '{"a":1,"a":2}', '\ufeff[]', '01', '1.', '.5',
    '"\\u00e9\\ud83d\\ude00"', '"\x7f"', '"\t"', '[' * 2000 + ']' * 2000,
    '"é"', '1E5', '1e-7', '-0', '-0.0', '[]]', '',
])
def test_loads_matches_reference(codec, text):
    assert same_outcome(outcome(codec.json_loads, text),
                        outcome(reference_loads, text))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=15)


@given(json_values)
def test_dumps_differential(codec, obj):
    assert same_outcome(outcome(codec.json_dumps_compact, obj),
                        outcome(reference_dumps, obj))


@given(json_values)
def test_loads_differential_on_json(codec, obj):
    text = reference_dumps(obj)
    assert same_outcome(outcome(codec.json_loads, text),
                        outcome(reference_loads, text))


@given(st.text(alphabet=st.sampled_from(
    list('{}[],:"\\0123456789.eE+-tfnrulasNIiy \t\n\x00é\ud800😀'))))
def test_loads_differential_on_json_like_text(codec, text):
    assert same_outcome(outcome(codec.json_loads, text),
                        outcome(reference_loads, text))
