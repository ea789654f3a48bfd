"""End-to-end load harness: real servers on 127.0.0.1 under a Node.js load
generator speaking raw Engine.IO v4.  Run it with ``python -m bench.e2e``
(``make bench-e2e``); see README.md in this folder."""
