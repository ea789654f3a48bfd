"""What the benchmark suites share: which engineio is running, kernels, peers.

The same suite files run in three processes (this project compiled, this project
pure, python-engineio 4.15.1 in its own virtualenv), so nothing here may import
the project at module level: a suite asks for what it needs and is skipped, with
a reason the runner prints, when that engineio does not have it.

Every benchmark records three facts in pytest-benchmark's ``extra_info``:

``op``
    a stable operation id (``packet.text``, ``mask.16KiB``...) that the runner
    uses to line up results across processes and rounds;
``impl``
    who did the work: ``engineio`` (whichever engineio this process imports:
    the column is then decided by the variant), ``ours`` (one of this project's
    kernels, likewise compiled or pure by variant), or a peer (``wsproto``,
    ``wsaccel``, ``copy``, ``reference-path``);
``ops``
    how many operations one benchmarked call performs.  Each call runs a batch
    of operations because a single call of a sub-microsecond operation would
    mostly time pytest-benchmark's own calling loop (~50 ns a call), which
    would flatten every ratio against the reference.
"""
from __future__ import annotations

import importlib
import os
import platform
import sys
from typing import Any, Callable

import pytest

__all__ = ['EXPECTED', 'PEERS_ENABLED', 'describe_engineio', 'kernel', 'measure_with',
           'require_peers']

#: The start of the reason of a skip that is part of the plan (the runner does
#: not list those), as opposed to a kernel or a server not written yet.
EXPECTED = 'expected: '

#: Peers (wsproto, wsaccel, a plain copy, the reference's compression path)
#: run in one variant only: their numbers do not depend on which engineio is
#: active, so the runner turns them off for the pure and reference processes.
PEERS_ENABLED = os.environ.get(
    'ENGINEIO_BENCH_PEERS', '1').strip().lower() in ('1', 'true', 'yes')


def describe_engineio() -> dict[str, Any]:
    """Say which engineio this process imports, for the runner to verify.

    ``implementation`` is ``cython`` or ``python`` for this project (from
    ``engineio._speedups.IMPLEMENTATION``) and ``reference`` for
    python-engineio, which has no ``_speedups`` package.
    """
    info: dict[str, Any] = {
        'python': '%s %s' % (platform.python_implementation(),
                             platform.python_version()),
        'executable': sys.executable,
    }
    try:
        engineio = importlib.import_module('engineio')
    except ImportError as exc:
        info.update(implementation='missing', error=str(exc))
        return info
    info['file'] = getattr(engineio, '__file__', None)
    info['path'] = list(getattr(engineio, '__path__', []))
    try:
        speedups = importlib.import_module('engineio._speedups')
    except ModuleNotFoundError as exc:
        if exc.name != 'engineio._speedups':
            # the project's selector exists but cannot import a kernel
            info.update(implementation='broken', error=str(exc))
            return info
        info['implementation'] = 'reference'
        try:
            from importlib.metadata import version
            info['version'] = version('python-engineio')
        except Exception as exc:  # metadata missing: still say so
            info['version'] = 'unknown (%s)' % exc
        return info
    except ImportError as exc:
        info.update(implementation='broken', error=str(exc))
        return info
    info['implementation'] = getattr(speedups, 'IMPLEMENTATION', 'unknown')
    try:
        info['version'] = importlib.import_module('engineio._version').__version__
    except ImportError:
        info['version'] = getattr(engineio, '__version__', 'unknown')
    return info


def kernel(name: str, *attributes: str) -> Any:
    """Return the selected kernel ``engineio._speedups.<name>``, or skip.

    The kernel must have every name in ``attributes``: a kernel still being
    written (a placeholder module) or python-engineio (no kernels at all)
    skips the benchmark with a reason instead of failing it.
    """
    try:
        speedups = importlib.import_module('engineio._speedups')
    except ModuleNotFoundError as exc:
        if exc.name != 'engineio._speedups':
            raise  # the project's selector is broken: say so, loudly
        pytest.skip(EXPECTED + 'python-engineio has no kernels')
    module = getattr(speedups, name, None)
    if module is None:
        pytest.skip('engineio._speedups has no %s kernel' % name)
    missing = [a for a in attributes if not hasattr(module, a)]
    if missing:
        pytest.skip('engineio._speedups.%s lacks %s (not written yet?)'
                    % (name, ', '.join(missing)))
    return module


def require_peers() -> None:
    """Skip a peer's benchmark in the processes where the runner turned peers off."""
    if not PEERS_ENABLED:
        pytest.skip(EXPECTED + 'peers run in another variant '
                    '(ENGINEIO_BENCH_PEERS=0)')


def measure_with(benchmark: Any) -> Callable[..., Any]:
    """Wrap the ``benchmark`` fixture so every result carries op, impl and ops.

    ``run(op, impl, ops, function, *args)`` times ``function(*args)``, which
    must perform ``ops`` operations, and returns its result so the caller can
    check the work was really done (a benchmark of a wrong answer is worthless).
    """
    def run(op: str, impl: str, ops: int, function: Callable[..., Any],
            *args: Any) -> Any:
        benchmark.group = op
        benchmark.extra_info['op'] = op
        benchmark.extra_info['impl'] = impl
        benchmark.extra_info['ops'] = ops
        return benchmark(function, *args)
    return run
