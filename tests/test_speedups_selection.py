"""The selector: which implementation runs, and the opt-out variable.

A build that was expected to be compiled (``ENGINEIO_EXPECT_EXTENSIONS=1``,
set by ``make test`` for its compiled run) must not silently fall back.
"""
import os
import platform
import subprocess
import sys

import pytest

import engineio
import engineio.json
from engineio import _speedups

from .conftest import CPYTHON, EXPECT_EXTENSIONS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(engineio.__file__)))
KERNELS = ('codec', 'compression', 'mask', 'websocket')


def implementation_with(env_value, block=None):
    """IMPLEMENTATION in a fresh interpreter with ENGINEIO_NO_EXTENSIONS set
    to ``env_value`` (``None``: unset), optionally making one compiled module
    fail to import."""
    env = dict(os.environ)
    env.pop('ENGINEIO_NO_EXTENSIONS', None)
    if env_value is not None:
        env['ENGINEIO_NO_EXTENSIONS'] = env_value
    code = ''
    if block:
        code += (
            'import sys\n'
            'class Block:\n'
            '    def find_spec(self, name, path=None, target=None):\n'
            '        if name == %r:\n'
            '            raise ImportError("blocked")\n'
            'sys.meta_path.insert(0, Block())\n' % block)
    code += ('import engineio._speedups as s\n'
             'print(s.IMPLEMENTATION, *[getattr(s, k).__name__ '
             'for k in %r])' % (KERNELS,))
    output = subprocess.run([sys.executable, '-c', code], env=env, cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout
    implementation, *modules = output.split()
    return implementation, modules


def test_expected_extensions_are_active():
    if not EXPECT_EXTENSIONS:
        pytest.skip('this run does not expect the compiled extensions')
    assert _speedups.IMPLEMENTATION == 'cython'
    for name in KERNELS:
        module = getattr(_speedups, name)
        assert module.__name__.endswith('_c'), module.__name__
        assert not module.__file__.endswith('.py'), module.__file__


def test_the_chosen_kernels_are_consistent():
    suffix = '_c' if _speedups.IMPLEMENTATION == 'cython' else ''
    for name in KERNELS:
        assert getattr(_speedups, name).__name__ == \
            'engineio._speedups._%s%s' % (name, suffix)
    # the public modules use the chosen kernels
    assert engineio.json.loads is _speedups.codec.json_loads
    assert engineio.packet.Packet is _speedups.codec.Packet
    assert engineio.payload.Payload is _speedups.codec.Payload


@pytest.mark.parametrize('value', ['1', 'true', 'yes', 'TRUE', ' Yes '])
def test_opt_out(value):
    implementation, modules = implementation_with(value)
    assert implementation == 'python'
    assert all(not m.endswith('_c') for m in modules)


@pytest.mark.parametrize('value', [None, '', '0', 'no', 'false', 'off', '2'])
def test_other_values_do_not_opt_out(value):
    default, _ = implementation_with(None)
    assert implementation_with(value)[0] == default
    if EXPECT_EXTENSIONS:
        assert default == 'cython'


def test_no_extensions_flag_matches_this_process():
    assert _speedups.NO_EXTENSIONS == (os.environ.get(
        'ENGINEIO_NO_EXTENSIONS', '').strip().lower() in ('1', 'true', 'yes'))
    if _speedups.NO_EXTENSIONS or not CPYTHON:
        assert _speedups.IMPLEMENTATION == 'python'


@pytest.mark.skipif(not CPYTHON, reason='PyPy never uses the extensions')
def test_all_or_nothing_when_one_compiled_module_is_missing():
    implementation, modules = implementation_with(
        None, block='engineio._speedups._mask_c')
    assert implementation == 'python'
    assert all(not m.endswith('_c') for m in modules)


def test_pypy_is_pure():
    if platform.python_implementation() == 'PyPy':
        assert _speedups.IMPLEMENTATION == 'python'
