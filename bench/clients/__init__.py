"""Client benchmarks (``python -m bench.clients``): ``engineio.Client`` and
``engineio.AsyncClient`` against the official Node.js server, compiled vs
pure vs python-engineio 4.15.1.  See bench/README.md."""
