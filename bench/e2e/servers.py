"""The servers under test: how each variant is set up, started, checked, stopped.

Every server is a subprocess pinned to one CPU, in a process group of its
own, listening on 127.0.0.1 on a port it picks itself, and announcing itself
with one JSON line on stdout (port, pids, what it imported).  The
orchestrator refuses a process whose announcement says it runs the wrong
code: a "reference" row measuring this project would make every ratio a
lie.  A Python variant runs under one async mode (``--modes``); a mode the
imported ``engineio`` does not support announces ``unsupported`` and ends,
and its rows say so.
"""
from __future__ import annotations

import json
import os
import re
import selectors
import shutil
import signal
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

# What each async mode runs on, installed in .venv-ref at the versions of
# this interpreter's environment (.venv), with their dependencies (see
# pinned_requirements).  For asgi, websockets is listed so that uvicorn's
# 'auto' ws choice is the same in both environments.
MODE_STACKS = {
    'asgi': ('uvicorn', 'uvloop', 'httptools', 'h11', 'wsproto', 'websockets'),
    'aiohttp': ('aiohttp',),
    'tornado': ('tornado',),
    'sanic': ('sanic',),
    # python-engineio's threading mode takes its WebSocket from
    # simple-websocket; ours has its own
    'threading': ('gunicorn', 'simple-websocket'),
    # python-engineio under gevent uses gevent-websocket's handler when it is
    # installed (ours: engineio.async_drivers.gevent.WebSocketHandler)
    'gevent': ('gevent', 'gevent-websocket', 'greenlet'),
    'eventlet': ('eventlet',),
    # this project's embedded server (engineio.run); the reference has none
    'embedded': ('uvloop', 'httptools'),
}
MODES = tuple(MODE_STACKS)
# pins for what the reference needs and .venv does not have
REFERENCE_ONLY = {'simple-websocket': '1.1.0', 'gevent-websocket': '0.10.1'}

VARIANTS = ('compiled', 'pure', 'reference', 'node')

START_TIMEOUT = 20.0   # seconds for a server to announce its port
STOP_TIMEOUT = 3.0     # after SIGTERM, before SIGKILL (nothing to flush)


class Unsupported(Exception):
    """The server's engineio does not support this async mode (or the run
    was not attempted, e.g. for want of threads)."""


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


def requirement_names(distribution: str) -> List[str]:
    """The distributions ``distribution`` requires (no extras)."""
    from importlib.metadata import PackageNotFoundError, requires
    try:
        lines = requires(distribution) or []
    except PackageNotFoundError:
        return []
    names = []
    for line in lines:
        if re.search(r'\bextra\s*==', line):
            continue
        match = re.match(r'\s*([A-Za-z0-9][A-Za-z0-9._-]*)', line)
        if match:
            names.append(match.group(1))
    return names


def pinned_requirements(modes: List[str]) -> Dict[str, str]:
    """``{distribution: version}`` for the modes' stacks and everything they
    require, at .venv's versions: the reference runs on the same framework
    code as this project.  Requirements .venv does not have (another
    platform's or Python's) are left to pip."""
    wanted: Dict[str, str] = {}
    todo = [name for mode in modes for name in MODE_STACKS[mode]]
    seen = set()
    while todo:
        name = todo.pop()
        key = name.lower().replace('_', '-')
        if key in seen or key in ('pip', 'setuptools', 'wheel'):
            continue
        seen.add(key)
        found = installed_version(name)
        if found is None:
            found = REFERENCE_ONLY.get(key)
            if found is None:
                continue
        else:
            todo.extend(requirement_names(name))
        wanted[key] = found
    return wanted


def ensure_reference_stack(modes: List[str]) -> str:
    """Return .venv-ref's python, with python-engineio 4.15.1 and what the
    modes run on (``MODE_STACKS``) at this environment's versions.

    .venv-ref itself is made by the kernel bench runner (``python -m bench
    --setup-ref``); here only the server packages are added, pinned, when
    missing or at another version.  pip never removes anything, so the kernel
    bench's own check of .venv-ref stays valid.
    """
    from bench.__main__ import REF_VENV, ensure_reference_venv
    python = REF_VENV / 'bin' / 'python'
    if not python.exists():
        ensure_reference_venv()
    wanted = pinned_requirements(modes)
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
                       check=True, timeout=900)
    return str(python)


def node_binary() -> str:
    node = shutil.which('node')
    if node is None:
        raise SystemExit('bench.e2e: node is needed (the load generator)')
    return node


class Variant:
    """How to start one kind of server under one async mode, and what it
    must announce.  ``label`` names its rows: ``"<mode> <name>"``, or
    ``node``."""

    def __init__(self, name: str, mode: str, command: List[str],
                 env: Dict[str, str], cwd: Path) -> None:
        self.name = name
        self.mode = mode
        self.label = name if name == 'node' else '%s %s' % (mode, name)
        self.command = command
        self.env = env
        self.cwd = cwd
        self.info: Dict[str, Any] = {}   # the last announcement
        self.unsupported: Optional[str] = None

    def arguments(self, connections: int) -> List[str]:
        """Extra arguments for a run holding ``connections`` at once."""
        if self.name == 'node':
            return []
        return ['--max-connections', str(connections)]

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


def make_variants(names: List[str], modes: List[str], server_args: List[str],
                  scratch: Path) -> List[Variant]:
    """One variant per (mode, Python variant), mode by mode, then Node.

    ``server_args``: uvicorn's --loop/--http/--ws (``--loop`` also reaches
    aiohttp and tornado); ``scratch``: a temporary folder for the
    reference's copy of the app."""
    for name in names:
        if name not in VARIANTS:
            raise SystemExit('bench.e2e: unknown variant %r (choose from %s)'
                             % (name, ', '.join(VARIANTS)))
    for mode in modes:
        if mode not in MODES:
            raise SystemExit('bench.e2e: unknown mode %r (choose from %s)'
                             % (mode, ', '.join(MODES)))
    reference_python = None
    if 'reference' in names:
        reference_python = ensure_reference_stack(modes)
        # a copy of the app outside this tree, run with -I (no script
        # folder, no PYTHONPATH, no user site on sys.path) from there:
        # nothing can lead its ``import engineio`` to this project
        shutil.copy2(APP, scratch / APP.name)
    variants = []
    for mode in modes:
        for name in names:
            env = base_env()
            arguments = ['--mode', mode] + server_args
            if name in ('compiled', 'pure'):
                # this work tree on sys.path: the editable install is not
                # relied on
                env['PYTHONPATH'] = str(ROOT)
                if name == 'pure':
                    env['ENGINEIO_NO_EXTENSIONS'] = '1'
                variants.append(Variant(name, mode, [sys.executable, str(APP)]
                                        + arguments, env, ROOT))
            elif name == 'reference':
                assert reference_python is not None
                variants.append(Variant(
                    name, mode, [reference_python, '-I',
                                 str(scratch / APP.name)] + arguments,
                    env, scratch))
    if 'node' in names:
        variants.append(Variant('node', 'node',
                                [node_binary(), str(JS / 'server.js'),
                                 str(NODE_MODULES)], base_env(), scratch))
    return variants


def pin(cpu: Optional[int]) -> List[str]:
    return ['taskset', '-c', str(cpu)] if cpu is not None else []


class Server:
    """A running server process; use as a context manager (always stopped)."""

    def __init__(self, variant: Variant, cpu: Optional[int],
                 arguments: Optional[List[str]] = None) -> None:
        self.variant = variant
        self.cpu = cpu
        self.arguments = arguments or []
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
        # taskset execs the server, so the child's pid is the server's; a
        # session of its own makes it the leader of a process group that
        # holds its children too (gunicorn's worker), all stopped together
        self.process = subprocess.Popen(
            pin(self.cpu) + self.variant.command + self.arguments,
            cwd=str(self.variant.cwd), env=self.variant.env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self.stderr, start_new_session=True)
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
        if 'unsupported' in self.info:
            self.variant.unsupported = str(self.info['unsupported'])
            raise Unsupported(self.variant.unsupported)
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

    @property
    def pids(self) -> List[int]:
        """Every process whose CPU time and memory count (gunicorn: the
        master and its worker)."""
        return [int(p) for p in self.info.get('pids') or [self.pid]]

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stderr_tail(self, limit: int = 3000) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode('utf-8', 'replace')[-limit:]

    def _signal_group(self, number: int) -> None:
        assert self.process is not None
        try:
            os.killpg(self.process.pid, number)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self) -> None:
        process = self.process
        if process is not None:
            # the whole group: a worker must not outlive its master
            if process.poll() is None:
                self._signal_group(signal.SIGTERM)
                try:
                    process.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    pass
            self._signal_group(signal.SIGKILL)
            if process.poll() is None:
                process.wait(STOP_TIMEOUT)
        if process is not None and process.stdout is not None:
            process.stdout.close()
        # stderr stays readable (stderr_tail) for the failure report; the
        # temporary file goes away with this object
