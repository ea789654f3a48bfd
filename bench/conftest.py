"""pytest set-up for the benchmark suites.

Provides the ``measure`` fixture (``benchmark`` plus the op/impl/ops labels the
runner needs, see harness.py) and writes two extra keys into every
``--benchmark-json`` report:

``engineio``
    which engineio this process imported (file, implementation, version), so the
    runner can refuse a "reference" column that silently measured this project;
``skipped``
    each skipped benchmark with its reason, so a kernel still being written shows
    up in the table as missing rather than vanishing.
"""
from __future__ import annotations

from typing import Any

import pytest

from bench.harness import describe_engineio, measure_with

_skipped: list[dict[str, str]] = []


@pytest.fixture
def measure(benchmark: Any) -> Any:
    return measure_with(benchmark)


def pytest_runtest_logreport(report: Any) -> None:
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) \
            else str(report.longrepr)
        if reason.startswith('Skipped: '):
            reason = reason[len('Skipped: '):]
        _skipped.append({'nodeid': report.nodeid, 'reason': reason})


def pytest_benchmark_update_json(config: Any, benchmarks: Any,
                                 output_json: dict[str, Any]) -> None:
    output_json['engineio'] = describe_engineio()
    output_json['skipped'] = list(_skipped)
