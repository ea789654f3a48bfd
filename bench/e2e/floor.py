"""``python -m bench.e2e.floor``: what idle WebSockets cost on uvicorn, by
WebSocket implementation and keepalive, with and without Engine.IO.

The idle scenario of ``python -m bench.e2e`` measures an Engine.IO server as
a whole; this tool separates uvicorn's part from the Engine.IO layer's.  For
every uvicorn stack (``--ws``: ``websockets``, ``websockets-sansio``,
``wsproto``) and every value of uvicorn's own keepalive (``--pings``:
``20`` = uvicorn's default ``ws_ping_interval``; ``none`` = off, which an
Engine.IO application can afford because Engine.IO pings on its own), it
starts ``apps/uvicorn_idle.py`` serving

- ``bare``: an ASGI app that accepts, sends one open packet and awaits
  ``receive()`` until the client leaves (uvicorn's floor: one ASGI task per
  connection, nothing else of its own);
- ``ping``: ``bare`` plus the least Engine.IO's heartbeat costs (one task
  sends ``2`` to every connection every 25 s, its ASGI task receives the
  ``3``): the CPU floor of an idle Engine.IO server on this stack;
- ``compiled`` / ``pure``: this project's ``ASGIApp`` + ``AsyncServer``;
- ``reference``: python-engineio 4.15.1's, from ``.venv-ref`` under ``-I``;

and runs the load generator's idle scenario against it (the same
``js/loadgen.js`` run as ``bench.e2e``'s ``idle_<N>``: 20 warm sessions,
baseline RSS, N sessions 200 at a time, RSS 2 s later, server CPU over a 30 s
window holding one Engine.IO ping round and one uvicorn ping round).  While
the sessions are held it samples the server's asyncio task count (SIGUSR1,
see the app) and reports tasks per connection.

Usage::

    python -m bench.e2e.floor --sizes 10000
    python -m bench.e2e.floor --sizes 1000 --ws websockets --pings 20,none \\
        --apps bare,compiled,reference

Each run takes ~35 s at 1k and ~45-60 s at 10k; the default (3 stacks x 2
keepalives x 3 apps at 10k) is ~15 minutes.  The report goes to
``bench/results/floor-<time>.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from bench.e2e.servers import (E2E, ROOT, Server, Variant, base_env, log,
                               ensure_reference_stack)
from bench.e2e.tables import IDLE_CPU_TARGET, fmt, render

__all__ = ['main']

APP = E2E / 'apps' / 'uvicorn_idle.py'
APPS = ('bare', 'ping', 'compiled', 'pure', 'reference')
STACKS = ('websockets', 'websockets-sansio', 'wsproto')
IDLE_WARM = 20
IDLE_SETTLE = 2.0
SAMPLE_EVERY = 1.0      # seconds between two task-count samples


class FloorVariant(Variant):
    """One (app, uvicorn stack, keepalive) server.  ``bare`` imports no
    engineio, so only the Engine.IO apps are checked for what they run."""

    def __init__(self, app: str, ws: str, ping: str, command: List[str],
                 env: Dict[str, str], cwd: Path) -> None:
        super().__init__(app, 'asgi', command, env, cwd)
        self.app = app
        self.ws = ws
        self.ping = ping
        self.label = '%s ws=%s ping=%s' % (app, ws, ping)

    def arguments(self, connections: int) -> List[str]:
        return []

    def check(self, info: Dict[str, Any]) -> Optional[str]:
        if self.app in ('bare', 'ping'):
            return None
        return super().check(info)


def make_variant(app: str, ws: str, ping: str, args: argparse.Namespace,
                 reference_python: Optional[str],
                 scratch: Path) -> FloorVariant:
    arguments = ['--app', app if app in ('bare', 'ping') else 'engineio',
                 '--loop', args.loop, '--http', args.http, '--ws', ws,
                 '--ws-ping-interval', ping]
    env = base_env()
    if app == 'reference':
        assert reference_python is not None
        command = [reference_python, '-I', str(scratch / APP.name)]
        cwd = scratch
    else:
        command = [sys.executable, str(APP)]
        cwd = ROOT
        if app not in ('bare', 'ping'):
            env['PYTHONPATH'] = str(ROOT)
        if app == 'pure':
            env['ENGINEIO_NO_EXTENSIONS'] = '1'
    return FloorVariant(app, ws, ping, command + arguments, env, cwd)


def task_samples(server: Server) -> List[int]:
    """The task counts the server printed so far (SIGUSR1 answers)."""
    server.stderr.seek(0)
    counts = []
    for line in server.stderr.read().decode('utf-8', 'replace').splitlines():
        if line.startswith('{"tasks"'):
            try:
                counts.append(int(json.loads(line)['tasks']))
            except (ValueError, KeyError):
                pass
    return counts


def one_run(variant: FloorVariant, n: int, args: argparse.Namespace,
            cpus: Any) -> Dict[str, Any]:
    from bench.e2e.__main__ import run_generator
    load = dict(scenario='idle', transport='websocket', clients=n,
                idleWarm=IDLE_WARM, settle=IDLE_SETTLE, window=args.window,
                concurrency=args.concurrency, connectTimeout=10 + n / 100)
    record: Dict[str, Any] = {'app': variant.app, 'ws': variant.ws,
                              'ping': variant.ping, 'clients': n}
    try:
        with Server(variant, cpus[0]) as server:
            record['server'] = server.info
            stop = threading.Event()

            def sample() -> None:
                # the task count while the sessions are held (the maximum
                # over the run: before and after, fewer are open)
                while not stop.wait(SAMPLE_EVERY):
                    try:
                        os.kill(server.pid, signal.SIGUSR1)
                    except ProcessLookupError:
                        return

            # the first count, before any session: the server's own tasks
            # (SIGUSR1 is ignored until the lifespan startup hooks it)
            deadline = time.monotonic() + 10
            while not task_samples(server) and time.monotonic() < deadline:
                os.kill(server.pid, signal.SIGUSR1)
                time.sleep(0.1)
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            try:
                result = run_generator(server.url, server.pids, load, 0, 0,
                                       cpus[1])
            finally:
                stop.set()
                sampler.join(5)
            time.sleep(0.2)
            counts = task_samples(server)
            if counts:
                result['tasks_idle_server'] = counts[0]
                result['tasks_max'] = max(counts)
                result['tasks_per_conn'] = (max(counts) - counts[0]) / (
                    n + IDLE_WARM)
            if not server.alive():
                result.setdefault('error', 'server exited during the run')
            if 'error' in result:
                result['server_stderr'] = server.stderr_tail(1500)
    except RuntimeError as exc:
        result = {'error': str(exc)}
    record['result'] = result
    return record


def table(records: List[Dict[str, Any]]) -> str:
    """One row per run; ``×ref``: the reference's KB/conn in the same stack
    and keepalive ÷ this row's."""
    reference = {(r['ws'], r['ping'], r['clients']): r['result']
                 for r in records if r['app'] == 'reference'}
    header = ['app', 'ws', 'uvicorn ping', 'N', 'KB/conn', '×ref',
              'idle CPU', 'tasks/conn', 'pings', 'conns/s', 'errors']
    rows = []
    for r in records:
        res = r['result']
        if 'error' in res:
            rows.append([r['app'], r['ws'], r['ping'], str(r['clients']),
                         'FAILED'] + [''] * 6)
            continue
        kb = res.get('rss_per_conn_kb')
        ref = reference.get((r['ws'], r['ping'], r['clients']), {})
        ref_kb = ref.get('rss_per_conn_kb')
        ratio = '%.2fx' % (ref_kb / kb) if kb and ref_kb else '—'
        cpu = res.get('server_cpu_pct')
        cpu_text = fmt(cpu, 'pct1')
        if cpu is not None and r['app'] in ('compiled', 'pure'):
            cpu_text += ' ✓' if cpu <= IDLE_CPU_TARGET else ' ✗'
        errors = sum((res.get('errors') or {}).values())
        tasks = res.get('tasks_per_conn')
        rows.append([r['app'], r['ws'], r['ping'], str(r['clients']),
                     fmt(kb, 'KB'), ratio, cpu_text,
                     '%.2f' % tasks if tasks is not None else '—',
                     fmt(res.get('pings'), 'count'),
                     fmt(res.get('conns_per_s'), 'rate'), str(errors)])
    return render(header, rows)


def comma_list(text: str) -> List[str]:
    return [n.strip() for n in text.split(',') if n.strip()]


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='python -m bench.e2e.floor',
                                     description=__doc__.split('\n\n')[0])
    parser.add_argument('--sizes', default='10000',
                        help='comma-separated idle connection counts')
    parser.add_argument('--apps', default='bare,compiled,reference',
                        help='comma-separated, from %s' % ','.join(APPS))
    parser.add_argument('--ws', default=','.join(STACKS),
                        help="uvicorn's ws implementations (comma-separated)")
    parser.add_argument('--pings', default='20,none',
                        help="uvicorn's ws_ping_interval values: seconds or "
                             "'none' (comma-separated)")
    parser.add_argument('--loop', default='uvloop')
    parser.add_argument('--http', default='httptools')
    parser.add_argument('--window', type=float, default=30.0,
                        help='idle seconds measured (30: one Engine.IO and '
                             'one uvicorn ping round fall in it)')
    parser.add_argument('--concurrency', type=int, default=200)
    parser.add_argument('--no-pin', action='store_true')
    parser.add_argument('--json', metavar='PATH')
    args = parser.parse_args(argv)
    args.sizes = [int(n) for n in comma_list(args.sizes)]
    args.apps = comma_list(args.apps)
    for app in args.apps:
        if app not in APPS:
            parser.error('--apps: unknown app %r' % app)
    args.ws = comma_list(args.ws)
    args.pings = comma_list(args.pings)
    return args


def main(argv: Optional[List[str]] = None) -> int:
    from bench.e2e.__main__ import RESULTS, choose_cpus
    args = parse_args(argv)
    cpus = choose_cpus(0, 1, not args.no_pin)
    started = time.strftime('%Y%m%d-%H%M%S')
    records = []
    with tempfile.TemporaryDirectory(prefix='engineio-floor-') as scratch:
        reference_python = None
        if 'reference' in args.apps:
            reference_python = ensure_reference_stack(['asgi'])
            shutil.copy2(APP, Path(scratch) / APP.name)
        plan = [(n, ws, ping, app) for n in args.sizes for ws in args.ws
                for ping in args.pings for app in args.apps]
        for count, (n, ws, ping, app) in enumerate(plan, 1):
            variant = make_variant(app, ws, ping, args, reference_python,
                                   Path(scratch))
            log('bench.e2e.floor: [%d/%d] %d idle, %s' % (
                count, len(plan), n, variant.label))
            record = one_run(variant, n, args, cpus)
            if 'error' in record['result']:
                log('bench.e2e.floor:   error: %s' %
                    record['result']['error'][:500])
            records.append(record)
    print()
    print('Idle WebSockets on uvicorn (loop=%s, http=%s), %s; RSS %g s after '
          'the last open, CPU over %g s; load average %s' % (
              args.loop, args.http, started, IDLE_SETTLE, args.window,
              [round(x, 2) for x in os.getloadavg()]))
    print(table(records))
    path = Path(args.json) if args.json else \
        RESULTS / ('floor-%s.json' % started)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({'started': started, 'argv': argv or
                                sys.argv[1:], 'runs': records}, indent=1))
    print('report: %s' % path)
    return 1 if any('error' in r['result'] for r in records) else 0


if __name__ == '__main__':
    sys.exit(main())
