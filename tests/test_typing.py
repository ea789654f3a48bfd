"""mypy over the package: the kernels, their stubs and the public modules.

Runs where mypy is installed (the dev extra, on CPython); elsewhere it skips.
"""
import importlib.util
import os
import subprocess
import sys

import pytest

import engineio

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(engineio.__file__)))


@pytest.mark.skipif(importlib.util.find_spec('mypy') is None,
                    reason='mypy is not installed (dev extra)')
def test_mypy_is_clean():
    result = subprocess.run(
        [sys.executable, '-m', 'mypy', 'engineio'], cwd=ROOT,
        capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
