"""Benchmarks for engineio: pytest-benchmark suites and the ``make bench`` runner.

Benchmarks report speed; they are not tests and never fail on speed, except in the
explicit regression mode of ``python -m bench --compare``.  ``make test`` does not
collect this folder (pytest's ``testpaths`` is ``tests``).

This package must import nothing from the project: the runner copies it next to
python-engineio 4.15.1 in its own virtualenv, where ``import engineio`` is the
reference.  See README.md here for how to run and read the numbers.
"""
