"""The query kernel (engineio._speedups._query and its compiled twin
_query_c): both give, for the five names the protocol reads, what the
general parse_query dict gives, on fixed cases and on generated ones."""
import importlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engineio import _speedups
from engineio._speedups import _query

IMPLEMENTATIONS = [pytest.param(_query, id='py-query')]
try:
    from engineio._speedups import _query_c
except ImportError:  # a pure install (PyPy, no compiler)
    _query_c = None
else:
    IMPLEMENTATIONS.append(pytest.param(_query_c, id='c-query'))


def expected(query_string):
    """What the Request fields are by definition: parse_query's dict."""
    query = _query.parse_query(query_string)
    j = query.get('j')
    if j is None:
        jsonp_index = None
    elif j.isdigit() and j.isascii() and len(j) < 10:
        jsonp_index = int(j)
    else:
        jsonp_index = _query.INVALID
    return (query.get('transport'), query.get('sid') or None,
            query.get('EIO'), jsonp_index, 'b64' not in query)


def test_compiled_twin_present_when_the_build_is_compiled():
    # a build that should have extensions must not silently fall back
    if _speedups.IMPLEMENTATION == 'cython':
        assert _query_c is not None
        assert importlib.import_module(
            'engineio._speedups._query_c').__file__.endswith(('.so', '.pyd'))


CASES = [
    ('', (None, None, None, None, True)),
    ('EIO=4&transport=polling', ('polling', None, '4', None, True)),
    ('EIO=4&transport=polling&t=PaBc-_1&sid=AbCd_-0123456789xyzW',
     ('polling', 'AbCd_-0123456789xyzW', '4', None, True)),
    ('sid=x&sid=y&EIO=4', (None, 'x', '4', None, True)),
    ('sid=&sid=z', (None, None, None, None, True)),
    ('sid&sid=z', (None, None, None, None, True)),
    ('sidx=1&sid=2&transportx=a&transport=b',
     ('b', '2', None, None, True)),
    ('t=sid=1&sid=2', (None, '2', None, None, True)),
    ('EIO=4&j=12&b64=1', (None, None, '4', 12, False)),
    ('j=&b64', (None, None, None, _query.INVALID, False)),
    ('j=1234567890', (None, None, None, _query.INVALID, True)),
    ('j=\u0661', (None, None, None, _query.INVALID, True)),
    ('j&j=3', (None, None, None, _query.INVALID, True)),
    ('b64x=1&b6=2', (None, None, None, None, True)),
    ('a=1&&b=2&', (None, None, None, None, True)),
    ('=x&&=y', (None, None, None, None, True)),
    ('EIO=4&t=Nx1&sid=a=b', (None, 'a=b', '4', None, True)),
    ('s%69d=a+b&transport=polling', ('polling', 'a b', None, None, True)),
    ('transport=poll%69ng&EIO=%34', ('polling', None, '4', None, True)),
    ('transport&EIO', ('', None, '', None, True)),
    ('\u00e9=1&sid=\u00e9\U0001f600', (None, '\u00e9\U0001f600', None, None,
                                       True)),
]


@pytest.mark.parametrize('kernel', IMPLEMENTATIONS)
@pytest.mark.parametrize('query_string,fields', CASES)
def test_fixed_cases(kernel, query_string, fields):
    assert kernel.engineio_query(query_string) == fields
    assert expected(query_string) == fields


@pytest.mark.parametrize('kernel', IMPLEMENTATIONS)
def test_parse_query(kernel):
    assert kernel.parse_query('') == {}
    assert kernel.parse_query('a=1&a=2&b=%41+c&&d') == {
        'a': '1', 'b': 'A c', 'd': ''}


@pytest.mark.parametrize('kernel', IMPLEMENTATIONS)
def test_not_a_str_fails_alike(kernel):
    with pytest.raises(TypeError):
        kernel.engineio_query(b'EIO=4')
    with pytest.raises(TypeError):
        kernel.engineio_query(None)


# names the kernel reads, near misses, and noise, joined in any order
_NAMES = st.sampled_from(['EIO', 'transport', 'sid', 'j', 'b64', 't', 's',
                          'si', 'sidd', 'EI', 'b6', 'jj', 'x', '', 'tra'])
_VALUES = st.text(alphabet='4 3 pollingwebsocketj0123456789=%+-_sidEIO\u00e9',
                  max_size=8)
_PART = st.one_of(
    st.tuples(_NAMES, st.sampled_from(['=', '']), _VALUES).map(''.join),
    st.text(max_size=6))


@pytest.mark.parametrize('kernel', IMPLEMENTATIONS)
@settings(max_examples=300, deadline=None)
@given(parts=st.lists(_PART, max_size=8))
def test_generated_queries_match_parse_query(kernel, parts):
    query_string = '&'.join(parts)
    assert kernel.engineio_query(query_string) == expected(query_string)


@pytest.mark.parametrize('kernel', IMPLEMENTATIONS)
@settings(max_examples=200, deadline=None)
@given(query_string=st.text(max_size=40))
def test_any_text_matches_parse_query(kernel, query_string):
    assert kernel.engineio_query(query_string) == expected(query_string)
