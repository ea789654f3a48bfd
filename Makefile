# The newcomer's path: `make demo` and `make test` set up everything they need.
#   make setup   the virtual environments (.venv: CPython with the compiled kernels,
#                .venv-pypy: PyPy 3.9, pure), the npm peers, Debian's pypy3
#                and chromium
#   make test    the suite three times: compiled, ENGINEIO_NO_EXTENSIONS=1, PyPy
#   make bench   kernels: compiled vs pure vs python-engineio 4.15.1, side by side
#   make bench-e2e  servers under load: ours compiled/pure, the reference, Node
#   make bench-clients  Client/AsyncClient: ours compiled/pure vs the reference, against Node's engine.io
#   make demo    the demo server at http://127.0.0.1:5000 (see README)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYPY_VENV := .venv-pypy
REF_VENV := .venv-ref
PYTEST_ARGS ?=

.PHONY: setup chromium nginx codec-demo build test test-compiled test-pure test-pypy demo bench bench-e2e bench-clients bench-compare bench-save clean

setup: $(VENV)/.installed $(PYPY_VENV)/.installed tests/js/node_modules/.installed chromium nginx

# Debian's nginx (light), for the scale-out test (tests/test_nginx_scaleout.py)
nginx:
	command -v nginx >/dev/null || test -x /usr/sbin/nginx || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light; }

# Debian's Chromium, for the browser test of the demo page (tests/test_demo.py)
chromium:
	command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

$(VENV)/.installed: pyproject.toml setup.py shim/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	ENGINEIO_BUILD_EXTENSION=yes $(PY) -m pip install -q -e '.[dev,bench]'
	# python-socketio / Flask-SocketIO on OUR engineio: the python-engineio
	# shim first, so that their requirement is met (shim/README.md)
	$(PY) -m pip install -q ./shim
	$(PY) -m pip install -q 'python-socketio>=5.12' 'flask-socketio>=5.3'
	$(PY) -c "import engineio, sys; sys.exit(None if hasattr(engineio, '__version__') else 'PyPI python-engineio replaced ours: see shim/README.md')"
	touch $@

# Debian's pypy3 (PyPy 7.3.x, Python 3.9) runs the pure twins.
$(PYPY_VENV)/.installed: pyproject.toml setup.py
	command -v pypy3 >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pypy3 pypy3-venv; }
	test -x $(PYPY_VENV)/bin/python || pypy3 -m venv $(PYPY_VENV)
	$(PYPY_VENV)/bin/python -m pip install -q -e '.[test]'
	touch $@

tests/js/node_modules/.installed: tests/js/package.json tests/js/package-lock.json
	cd tests/js && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Rebuild the compiled kernels when their sources changed (Cython is incremental).
build: $(VENV)/.installed
	ENGINEIO_BUILD_EXTENSION=yes $(PY) setup.py -q build_ext --inplace

test: setup build
	$(MAKE) --no-print-directory test-compiled test-pure test-pypy

test-compiled:
	ENGINEIO_EXPECT_EXTENSIONS=1 $(PY) -m pytest $(PYTEST_ARGS)

test-pure:
	ENGINEIO_NO_EXTENSIONS=1 $(PY) -m pytest $(PYTEST_ARGS)

test-pypy:
	$(PYPY_VENV)/bin/python -m pytest $(PYTEST_ARGS)

# The demo server (examples/demo) on uvicorn at http://127.0.0.1:5000, compiled.
demo: setup build
	$(PY) -m examples.demo.server $(DEMO_ARGS)

# A tour of the codec with compiled vs pure timings (the first demo).
codec-demo: setup build
	$(PY) -m bench.codec_demo

# python-engineio 4.15.1 in its own environment, for `make bench` to compare with
$(REF_VENV)/.installed: $(VENV)/.installed
	$(PY) -m bench --setup-ref
	touch $@

bench: setup build $(REF_VENV)/.installed
	$(PY) -m bench $(BENCH_ARGS)

# end-to-end load (bench/e2e/README.md): compiled, pure, python-engineio 4.15.1
# and Node's engine.io under one Node load generator (echo, idle 1k/10k,
# broadcast; asgi mode, see --modes); ~13 min, uses both CPUs
bench-e2e: setup build $(REF_VENV)/.installed tests/js/node_modules/.installed
	$(PY) -m bench.e2e $(BENCH_ARGS)

# Engine.IO clients against Node's engine.io echo server (bench/README.md
# "Clients"): compiled, pure, python-engineio 4.15.1; ~8-10 min, uses both CPUs
bench-clients: setup build $(REF_VENV)/.installed tests/js/node_modules/.installed
	$(PY) -m bench.clients $(BENCH_ARGS)

# regression mode, not part of `make test`: fails when a benchmark's fastest
# round is >30% slower than bench/baseline/ (compare on a quiet machine)
bench-compare: setup build
	$(PY) -m bench --compare $(BENCH_ARGS)

bench-save: setup build
	$(PY) -m bench --save $(or $(NAME),foundation)

clean:
	rm -rf build dist wheelhouse *.egg-info bench/results
	find engineio -name '*.so' -delete
