"""The servers under test: how each variant is set up, started, checked, stopped.

Every server is a subprocess pinned to one CPU, listening on 127.0.0.1 on a
port it picks itself, and announcing itself with one JSON line on stdout
(port, pid, what it imported).  The orchestrator refuses a process whose
announcement says it runs the wrong code: a "reference" column measuring
this project would make every ratio a lie.
"""
from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

E2E = Path(__file__).resolve().parent
ROOT = E2E.parent.parent
JS = E2E / 'js'
APP = E2E / 'apps' / 'py_echo.py'
NODE_MODULES = ROOT / 'tests' / 'js' / 'node_modules'

# The ASGI stack every Python variant must run, at the versions installed in
# this interpreter's environment (.venv).  websockets is listed so that, once
# installed, uvicorn's 'auto' ws choice stays the same in both environments.
STACK = ('uvicorn', 'uvloop', 'httptools', 'h11', 'wsproto', 'websockets')

VARIANTS = ('compiled', 'pure', 'reference', 'node')

START_TIMEOUT = 20.0   # seconds for a server to announce its port
STOP_TIMEOUT = 5.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def installed_version(distribution: str) -> Optional[str]:
    try:
        from importlib.metadata import version
        return version(distribution)
    except Exception:
        return None


def base_env() -> Dict[str, str]:
    env = dict(os.environ)
    for name in ('ENGINEIO_NO_EXTENSIONS', 'PYTHONPATH', 'PYTHONHOME'):
        env.pop(name, None)
    return env


def ensure_reference_stack() -> str:
    """Return .venv-ref's python, with python-engineio 4.15.1 and this
    environment's uvicorn stack at the same versions.

    .venv-ref itself is made by the kernel bench runner (``python -m bench
    --setup-ref``); here only the server packages are added, pinned, when
    missing or at another version.  pip never removes anything, so the kernel
    bench's own check of .venv-ref stays valid.
    """
    from bench.__main__ import REF_VENV, ensure_reference_venv
    python = REF_VENV / 'bin' / 'python'
    if not python.exists():
        ensure_reference_venv()
    wanted = {name: installed_version(name) for name in STACK}
    wanted = {name: v for name, v in wanted.items() if v is not None}
    probe = subprocess.run(
        [str(python), '-I', '-c',
         'import json, importlib.metadata as m\n'
         'out = {}\n'
         'for n in %r:\n'
         '    try: out[n] = m.version(n)\n'
         '    except Exception: pass\n'
         'print(json.dumps(out))' % (list(wanted),)],
        capture_output=True, text=True, timeout=60, check=True)
    have = json.loads(probe.stdout)
    missing = ['%s==%s' % (name, v) for name, v in sorted(wanted.items())
               if have.get(name) != v]
    if missing:
        log('bench.e2e: installing into %s: %s' % (REF_VENV.name,
                                                   ' '.join(missing)))
        subprocess.run([str(python), '-m', 'pip', 'install', '-q',
                        '--disable-pip-version-check'] + missing,
                       check=True, timeout=600)
    return str(python)


def node_binary() -> str:
    node = shutil.which('node')
    if node is None:
        raise SystemExit('bench.e2e: node is needed (the load generator)')
    return node


class Variant:
    """How to start one kind of server, and what it must announce."""

    def __init__(self, name: str, command: List[str], env: Dict[str, str],
                 cwd: Path) -> None:
        self.name = name
        self.command = command
        self.env = env
        self.cwd = cwd
        self.info: Dict[str, Any] = {}   # the last announcement

    def check(self, info: Dict[str, Any]) -> Optional[str]:
        """A problem with what the process says it imported, or None."""
        if self.name == 'node':
            return None
        where = info.get('engineio_file', '')
        kernels = info.get('kernels')
        if self.name == 'reference':
            from bench.__main__ import REF_VENV
            if kernels != 'reference' or \
                    not where.startswith(str(REF_VENV.resolve())):
                return 'reference server imported %s engineio from %s' % (
                    kernels, where)
            return None
        if not where.startswith(str(ROOT / 'engineio')):
            return '%s server imported engineio from %s' % (self.name, where)
        expected = 'cython' if self.name == 'compiled' else 'python'
        if kernels != expected:
            return '%s server runs %r kernels (expected %r)' % (
                self.name, kernels, expected)
        return None


def make_variants(names: List[str], server_args: List[str],
                  scratch: Path) -> List[Variant]:
    """``scratch``: a temporary folder for the reference's copy of the app."""
    variants = []
    for name in names:
        env = base_env()
        if name in ('compiled', 'pure'):
            # this work tree on sys.path: the editable install is not relied on
            env['PYTHONPATH'] = str(ROOT)
            if name == 'pure':
                env['ENGINEIO_NO_EXTENSIONS'] = '1'
            variants.append(Variant(name, [sys.executable, str(APP)] +
                                    server_args, env, ROOT))
        elif name == 'reference':
            python = ensure_reference_stack()
            # a copy of the app outside this tree, run with -I (no script
            # folder, no PYTHONPATH, no user site on sys.path) from there:
            # nothing can lead its ``import engineio`` to this project
            app = scratch / APP.name
            shutil.copy2(APP, app)
            variants.append(Variant(name, [python, '-I', str(app)] +
                                    server_args, env, scratch))
        elif name == 'node':
            variants.append(Variant(name, [node_binary(), str(JS / 'server.js'),
                                           str(NODE_MODULES)], env, scratch))
        else:
            raise SystemExit('bench.e2e: unknown variant %r (choose from %s)'
                             % (name, ', '.join(VARIANTS)))
    return variants


def pin(cpu: Optional[int]) -> List[str]:
    return ['taskset', '-c', str(cpu)] if cpu is not None else []


class Server:
    """A running server process; use as a context manager (always stopped)."""

    def __init__(self, variant: Variant, cpu: Optional[int]) -> None:
        self.variant = variant
        self.cpu = cpu
        self.process: Optional[subprocess.Popen] = None
        self.stderr = tempfile.TemporaryFile()
        self.info: Dict[str, Any] = {}

    def __enter__(self) -> 'Server':
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def start(self) -> None:
        # taskset execs the server, so the child's pid is the server's
        self.process = subprocess.Popen(
            pin(self.cpu) + self.variant.command, cwd=str(self.variant.cwd),
            env=self.variant.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=self.stderr)
        line = self._first_line(START_TIMEOUT)
        try:
            self.info = json.loads(line)
        except ValueError:
            raise RuntimeError('%s server did not start: %r\n%s' % (
                self.variant.name, line, self.stderr_tail()))
        if self.info.get('pid') != self.process.pid:
            raise RuntimeError('%s server pid %s is not the child %s' % (
                self.variant.name, self.info.get('pid'), self.process.pid))
        problem = self.variant.check(self.info)
        if problem:
            raise SystemExit('bench.e2e: ' + problem)
        self.variant.info = self.info

    def _first_line(self, timeout: float) -> str:
        assert self.process is not None and self.process.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        data = b''
        try:
            while b'\n' not in data:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise RuntimeError('%s server did not announce itself '
                                       'within %.0f s\n%s' % (
                                           self.variant.name, timeout,
                                           self.stderr_tail()))
                chunk = os.read(self.process.stdout.fileno(), 4096)
                if not chunk:
                    raise RuntimeError('%s server exited (%s)\n%s' % (
                        self.variant.name, self.process.poll(),
                        self.stderr_tail()))
                data += chunk
        finally:
            selector.close()
        return data.split(b'\n', 1)[0].decode('utf-8', 'replace')

    @property
    def url(self) -> str:
        return 'http://127.0.0.1:%d/engine.io/' % self.info['port']

    @property
    def pid(self) -> int:
        return int(self.info['pid'])

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stderr_tail(self, limit: int = 3000) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode('utf-8', 'replace')[-limit:]

    def stop(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT)
        if process is not None and process.stdout is not None:
            process.stdout.close()
        # stderr stays readable (stderr_tail) for the failure report; the
        # temporary file goes away with this object
