"""Shared test set-up.

Kernel tests run every case through each implementation that can run here: the
pure twin always, the compiled module on CPython unless ENGINEIO_NO_EXTENSIONS
asks for the pure path.  With ENGINEIO_EXPECT_EXTENSIONS=1 (``make test`` sets it
for the compiled run) a compiled module that fails to import is an error, not a
skip, so a build that silently fell back cannot pass.
"""
from __future__ import annotations

import importlib
import os
import platform

import pytest
from hypothesis import HealthCheck, settings

from engineio import _speedups

EXPECT_EXTENSIONS = os.environ.get(
    'ENGINEIO_EXPECT_EXTENSIONS', '').strip().lower() in ('1', 'true', 'yes')
CPYTHON = platform.python_implementation() == 'CPython'

#: the implementations every kernel test runs through in this process
IMPLEMENTATIONS = ['python']
if CPYTHON and not _speedups.NO_EXTENSIONS:
    IMPLEMENTATIONS.append('cython')

settings.register_profile(
    'default', deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    'ci', deadline=None, max_examples=150, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    'fuzz', deadline=None, max_examples=20000,
    suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get(
    'HYPOTHESIS_PROFILE', 'ci' if os.environ.get('CI') else 'default'))


def load_kernel(name: str, implementation: str):
    """Import kernel ``name`` (e.g. ``'_codec'``) in the given implementation."""
    if implementation == 'python':
        return importlib.import_module('engineio._speedups.' + name)
    try:
        return importlib.import_module('engineio._speedups.%s_c' % name)
    except ImportError as exc:
        if EXPECT_EXTENSIONS:
            pytest.fail('compiled kernel %s_c is missing: %s' % (name, exc))
        pytest.skip('compiled kernel %s_c is not built' % name)


def _kernel_fixture(name: str):
    @pytest.fixture(scope='session', params=IMPLEMENTATIONS,
                    ids=['py' if i == 'python' else 'c' for i in IMPLEMENTATIONS])
    def fixture(request):
        return load_kernel(name, request.param)
    fixture.__name__ = name.lstrip('_')
    return fixture


codec = _kernel_fixture('_codec')
websocket = _kernel_fixture('_websocket')
mask = _kernel_fixture('_mask')
compression = _kernel_fixture('_compression')


@pytest.fixture(scope='session')
def kernel_pair():
    """Both implementations of a kernel, for differential tests.

    Returns a function ``pair(name) -> (pure, compiled_or_None)``.
    """
    def pair(name):
        pure = load_kernel(name, 'python')
        compiled = load_kernel(name, 'cython') if 'cython' in IMPLEMENTATIONS \
            else None
        return pure, compiled
    return pair
