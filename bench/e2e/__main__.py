"""``python -m bench.e2e`` (``make bench-e2e``): end-to-end load, server by server.

For each scenario, round after round, each variant's server is started fresh
(pinned to one CPU) under each chosen async mode, the Node.js load generator
(pinned to another) runs against it, and the server is stopped.  The
variant order rotates every round so that a spell of load on the machine
does not always hit the same variant.  The tables show medians over rounds.

Scenarios: echo under load (ws_echo, polling_echo, ws_latency, ws_binary),
idle capacity (idle_<N>: N idle WebSockets) and broadcast fan-out.
See bench/e2e/README.md for what is measured and how to read it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from bench.e2e.servers import (JS, MODES, NODE_MODULES, ROOT, VARIANTS,
                               Server, Unsupported, Variant, log,
                               ensure_reference_stack, make_variants,
                               node_binary, pin)
from bench.e2e.tables import Row, scenario_table

RESULTS = ROOT / 'bench' / 'results'

# idle: connections opened (and kept) before the baseline RSS, so that the
# first connections' one-time costs do not count per connection
IDLE_WARM = 20
IDLE_SETTLE = 2.0       # seconds between the last open and the RSS reading
ECHO_SCENARIOS = ('ws_echo', 'polling_echo', 'ws_latency', 'ws_binary')
DEFAULT_SCENARIOS = ECHO_SCENARIOS + ('idle', 'broadcast')


class Scenario:
    """One load shape.  ``load`` is the generator's config (see loadgen.js);
    ``ratios``: (column label, metric, True when higher is better);
    ``kind``: 'echo', 'idle' or 'broadcast'; ``connections``: how many the
    server holds at once (threads for gunicorn, eventlet's pool)."""

    def __init__(self, name: str, title: str, load: Dict[str, Any],
                 ratios: List[Tuple[str, str, bool]],
                 targets: Optional[Dict[str, float]] = None,
                 node_targets: Optional[Dict[str, float]] = None,
                 bytes_metric: bool = False, kind: str = 'echo',
                 connections: int = 0) -> None:
        self.name = name
        self.title = title
        self.load = load
        self.ratios = ratios
        # compiled vs reference (issue 4) and vs Node (issue 7):
        # metric -> minimum ratio
        self.targets = targets or {}
        self.node_targets = node_targets or {}
        self.bytes_metric = bytes_metric
        self.kind = kind
        self.connections = connections or int(load.get('clients', 100)) * (
            2 if load.get('transport') == 'polling' else 1)


THROUGHPUT_RATIOS = [('msgs/s', 'msgs_per_s', True),
                     ('CPU/msg', 'server_cpu_us_per_msg', False)]


def size_name(n: int) -> str:
    return '%dk' % (n // 1000) if n >= 1000 and n % 1000 == 0 else str(n)


def scenarios(args: argparse.Namespace) -> List[Scenario]:
    rate = args.rate
    out = [
        Scenario('ws_echo',
                 'WebSocket echo: 100 clients x 10 in flight, 100-byte text',
                 dict(transport='websocket', clients=100, inflight=10,
                      size=100, binary=False),
                 THROUGHPUT_RATIOS,
                 targets={'msgs_per_s': 2.0, 'server_cpu_us_per_msg': 2.0}),
        Scenario('polling_echo',
                 'Long-polling echo: 50 clients x 1 in flight, 100-byte text '
                 '(one POST + one GET answer per message)',
                 dict(transport='polling', clients=50, inflight=1, size=100,
                      binary=False),
                 THROUGHPUT_RATIOS, targets={'msgs_per_s': 2.0}),
        Scenario('ws_latency',
                 'WebSocket latency at a fixed offered load: 100 clients, '
                 '%d msg/s in total, 100-byte text' % rate,
                 dict(transport='websocket', clients=100, rate=rate, size=100,
                      binary=False),
                 [('p50', 'p50_us', False), ('p99', 'p99_us', False),
                  ('CPU/msg', 'server_cpu_us_per_msg', False)]),
        Scenario('ws_binary',
                 'WebSocket binary echo: 20 clients x 4 in flight, 16 KiB',
                 dict(transport='websocket', clients=20, inflight=4,
                      size=16384, binary=True),
                 [('MB/s', 'bytes_per_s', True),
                  ('CPU/msg', 'server_cpu_us_per_msg', False)],
                 bytes_metric=True),
    ]
    for n in args.idle_sizes:
        out.append(Scenario(
            'idle_%s' % size_name(n),
            '%d idle WebSockets (+%d opened first, in the baseline), opened '
            '%d handshakes at a time; RSS %g s after the last open; CPU over '
            '%g s of idleness (pings every 25 s answered)' % (
                n, IDLE_WARM, args.concurrency, IDLE_SETTLE, args.idle_window),
            dict(scenario='idle', transport='websocket', clients=n,
                 idleWarm=IDLE_WARM, settle=IDLE_SETTLE,
                 window=args.idle_window, concurrency=args.concurrency,
                 connectTimeout=10 + n / 100),
            [('KB/conn', 'rss_per_conn_kb', False),
             ('conns/s', 'conns_per_s', True),
             ('CPU', 'idle_cpu_pct', False)],
            # issue 4: memory per connection <= 0.5x the reference's;
            # issue 7: <= Node's, and opening at least as fast
            targets={'rss_per_conn_kb': 2.0},
            node_targets={'rss_per_conn_kb': 1.0, 'conns_per_s': 1.0},
            kind='idle', connections=n + IDLE_WARM))
    n = args.broadcast_clients
    out.append(Scenario(
        'broadcast',
        '%d WebSocket clients; the server\'s own task sends one %d-byte text '
        'message to each, %g times a second (one send per sid); lag = '
        'arrival - the server\'s send time in the message' % (
            n, args.broadcast_size, args.broadcast_hz),
        dict(scenario='broadcast', transport='websocket', clients=n,
             hz=args.broadcast_hz, broadcastSize=args.broadcast_size,
             concurrency=args.concurrency, connectTimeout=10 + n / 100),
        [('CPU/msg', 'server_cpu_us_per_msg', False),
         ('p50', 'p50_us', False), ('p99', 'p99_us', False)],
        kind='broadcast'))
    return out


def expand_scenarios(wanted: List[str], catalog: Dict[str, Scenario]) -> List[Scenario]:
    """Scenario names, with ``idle`` standing for every --idle-sizes one."""
    chosen = []
    for name in wanted:
        if name == 'idle':
            chosen += [s for s in catalog.values() if s.kind == 'idle']
        elif name in catalog:
            chosen.append(catalog[name])
        else:
            sys.exit('bench.e2e: unknown scenario %s (choose from %s, idle)'
                     % (name, ', '.join(catalog)))
    return chosen


# ---------------------------------------------------------------------------
# running

def load_average() -> List[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def choose_cpus(server_cpu: Optional[int], generator_cpu: Optional[int],
                enabled: bool) -> Tuple[Optional[int], Optional[int]]:
    import shutil
    if not enabled or shutil.which('taskset') is None \
            or not hasattr(os, 'sched_getaffinity'):
        return None, None
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        log('bench.e2e: one CPU only: server and generator share it')
        return allowed[0], allowed[0]
    server = server_cpu if server_cpu in allowed else allowed[0]
    generator = generator_cpu if generator_cpu in allowed and \
        generator_cpu != server else next(c for c in allowed if c != server)
    return server, generator


def run_generator(url: str, pids: List[int], load: Dict[str, Any],
                  warmup: float, duration: float,
                  cpu: Optional[int]) -> Dict[str, Any]:
    config = dict(load, url=url, serverPid=pids[0], serverPids=pids,
                  warmup=warmup, duration=duration,
                  clkTck=os.sysconf('SC_CLK_TCK'))
    config.setdefault('connectTimeout', 10)
    # loadgen.js ends itself after its own deadline (the sum of its phases +
    # 10 s); this timeout is the second line of defence
    if load.get('scenario') == 'idle':
        phases = 2 * config['connectTimeout'] + load['settle'] + 1 + \
            load['window']
    else:
        phases = config['connectTimeout'] + warmup + duration
    limit = phases + 30
    try:
        completed = subprocess.run(
            pin(cpu) + [node_binary(), str(JS / 'loadgen.js'),
                        str(NODE_MODULES), json.dumps(config)],
            capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return {'error': 'load generator still running after %.0f s' % limit}
    lines = completed.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, ValueError):
        return {'error': 'load generator exited %d: %s' % (
            completed.returncode, (completed.stderr or completed.stdout)[-2000:])}
    if completed.returncode and 'error' not in result:
        result['error'] = 'load generator exited %d' % completed.returncode
    if 'error' in result and result.get('errorSample'):
        result['error'] += ' (first error: %s)' % result['errorSample']
    return result


# OS threads a WebSocket holds in the threading mode: the reference's is
# gunicorn's request thread + simple-websocket's reader + Engine.IO's writer
# (+ a handler thread now and then); an estimate, to keep a run from
# exhausting the machine's process ids (other work shares them)
THREADS_PER_WEBSOCKET = 4


def thread_budget_problem(variant: Variant, scenario: Scenario) -> Optional[str]:
    """Why a threading-mode run would risk the machine's thread limit, or
    None."""
    if variant.mode != 'threading':
        return None
    try:
        with open('/proc/sys/kernel/pid_max') as f:
            limit = int(f.read())
        with open('/proc/sys/kernel/threads-max') as f:
            limit = min(limit, int(f.read()))
    except (OSError, ValueError):
        return None
    needed = scenario.connections * THREADS_PER_WEBSOCKET
    if needed > limit * 0.6:
        return 'skipped: ~%d threads (limit %d)' % (needed, limit)
    return None


def one_run(variant: Variant, scenario: Scenario, args: argparse.Namespace,
            cpus: Tuple[Optional[int], Optional[int]]) -> Dict[str, Any]:
    record: Dict[str, Any] = {'variant': variant.name, 'mode': variant.mode,
                              'label': variant.label,
                              'scenario': scenario.name,
                              'load_average': load_average()}
    if variant.unsupported is not None:
        record['result'] = {'unsupported': variant.unsupported}
        return record
    problem = thread_budget_problem(variant, scenario)
    if problem:
        record['result'] = {'skipped': problem}
        return record
    try:
        with Server(variant, cpus[0],
                    variant.arguments(scenario.connections)) as server:
            load = dict(scenario.load)
            if args.batch_writes and load['transport'] == 'websocket':
                load['batchWrites'] = True
            result = run_generator(server.url, server.pids, load,
                                   args.warmup, args.duration, cpus[1])
            if not server.alive():
                result.setdefault('error', 'server exited during the run')
            if 'error' in result:
                result['server_stderr'] = server.stderr_tail(1500)
    except Unsupported as exc:
        result = {'unsupported': str(exc)}
    except RuntimeError as exc:          # did not start
        result = {'error': str(exc)}
    record['result'] = result
    return record


def measured(result: Dict[str, Any]) -> bool:
    return not any(k in result for k in ('error', 'unsupported', 'skipped'))


def summarize(result: Dict[str, Any]) -> Dict[str, Optional[float]]:
    latency = result.get('latency_us') or {}
    errors = result.get('errors') or {}
    idle = result.get('scenario') == 'idle'
    return {
        'msgs_per_s': result.get('msgs_per_s'),
        'bytes_per_s': result.get('bytes_per_s'),
        'server_cpu_us_per_msg': result.get('server_cpu_us_per_msg'),
        'server_cpu_pct': result.get('server_cpu_pct'),
        'server_rss_kb': result.get('server_rss_kb'),
        'p50_us': latency.get('p50'),
        'p99_us': latency.get('p99'),
        'generator_cpu_pct': result.get('generator_cpu_pct'),
        'errors': float(sum(errors.values())),
        # idle
        'conns_per_s': result.get('conns_per_s'),
        'rss_per_conn_kb': result.get('rss_per_conn_kb'),
        'server_rss_baseline_kb': result.get('server_rss_baseline_kb'),
        'server_rss_end_kb': result.get('server_rss_end_kb'),
        'pings': result.get('pings'),
        # a score for idle (less is better), descriptive elsewhere
        'idle_cpu_pct': result.get('server_cpu_pct') if idle else None,
        # broadcast
        'expected_per_s': result.get('expected_per_s'),
        'per_client_min': result.get('per_client_min'),
    }


def median_of(values: List[Optional[float]]) -> Optional[float]:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


# metrics where more is better; for the others (CPU, latency, errors) less is
HIGHER_IS_BETTER = {'msgs_per_s', 'bytes_per_s', 'conns_per_s'}
# what describes a run rather than scores it: the median either way
DESCRIPTIVE = {'server_cpu_pct', 'generator_cpu_pct', 'server_rss_kb',
               'server_rss_baseline_kb', 'server_rss_end_kb', 'pings',
               'expected_per_s', 'per_client_min'}


def pick(values: List[Optional[float]], metric: str,
         stat: str) -> Optional[float]:
    """The median over rounds, or with ``--stat best`` each metric's best
    round (on a busy machine, the round nobody interrupted).  Errors are
    the total over rounds either way."""
    if metric == 'errors':
        return sum(v for v in values if v is not None)
    if stat == 'median':
        return median_of(values)
    present = [v for v in values if v is not None]
    if not present:
        return None
    if metric in DESCRIPTIVE:
        return statistics.median(present)
    return max(present) if metric in HIGHER_IS_BETTER else min(present)


def spread(values: List[Optional[float]]) -> Optional[float]:
    present = [v for v in values if v is not None]
    if len(present) < 2 or not statistics.median(present):
        return None
    return (max(present) - min(present)) / statistics.median(present)


# ---------------------------------------------------------------------------

def comma_list(text: str) -> List[str]:
    return [n.strip() for n in text.split(',') if n.strip()]


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='python -m bench.e2e',
        description='End-to-end load: this project (compiled, pure), '
                    'python-engineio 4.15.1 and Node.js engine.io, each '
                    'serving echo and broadcast under each async mode / '
                    'Node, under a Node load generator.')
    parser.add_argument('--quick', action='store_true',
                        help='1 round, 0.5 s warm-up, 2 s window; idle: '
                             '1,000 connections, 10 s window')
    parser.add_argument('--rounds', type=int,
                        help='rounds of the echo and broadcast scenarios '
                             '(default 3)')
    parser.add_argument('--warmup', type=float, help='seconds (default 1)')
    parser.add_argument('--duration', type=float,
                        help='seconds measured per run (default 5)')
    parser.add_argument('--variants', default=','.join(VARIANTS),
                        help='comma-separated, from %(default)s')
    parser.add_argument('--modes', default='asgi',
                        help='comma-separated async modes the Python variants '
                             'run under, from %s (default %%(default)s)'
                             % ','.join(MODES))
    parser.add_argument('--scenarios', default=','.join(DEFAULT_SCENARIOS),
                        help='comma-separated, from %(default)s (idle: one '
                             'scenario per --idle-sizes)')
    parser.add_argument('--setup-ref', action='store_true',
                        help='install what the reference needs for --modes '
                             'into .venv-ref (pinned to this environment\'s '
                             'versions) and exit')
    parser.add_argument('--rate', type=int, default=3000,
                        help='ws_latency: offered messages/s in total '
                             '(default %(default)s, below every variant\'s capacity)')
    parser.add_argument('--idle-sizes',
                        help='comma-separated idle connection counts '
                             '(default 1000,10000; --quick 1000)')
    parser.add_argument('--idle-window', type=float,
                        help='seconds of idleness measured (default 30: a '
                             'ping round at 25 s falls in it; --quick 10)')
    parser.add_argument('--idle-rounds', type=int, default=1,
                        help='rounds of each idle scenario (default '
                             '%(default)s: a 10k run takes ~40-60 s)')
    parser.add_argument('--concurrency', type=int, default=200,
                        help='idle and broadcast: handshakes outstanding at '
                             'once while opening (default %(default)s)')
    parser.add_argument('--broadcast-clients', type=int, default=1000)
    parser.add_argument('--broadcast-hz', type=float, default=10.0)
    parser.add_argument('--broadcast-size', type=int, default=100)
    parser.add_argument('--stat', choices=('median', 'best'), default='median',
                        help='per metric, the median over rounds or the best '
                             'round (a busy machine; default %(default)s)')
    parser.add_argument('--batch-writes', action='store_true',
                        help='WebSocket scenarios: the generator sends the '
                             'frames of one tick in one write (cheaper for the '
                             'generator; default: one write per frame)')
    parser.add_argument('--loop', default='auto',
                        help="uvicorn's loop; aiohttp and tornado: 'uvloop' "
                             "instead of their default asyncio loop")
    parser.add_argument('--http', default='auto', help="uvicorn's http")
    parser.add_argument('--ws', default='auto', help="uvicorn's ws")
    parser.add_argument('--ws-ping-interval', metavar='SECONDS|none',
                        help="uvicorn's own WebSocket keepalive "
                             "(ws_ping_interval) for the asgi mode: seconds, "
                             "or 'none' (Engine.IO pings on its own); "
                             "default: uvicorn's (20 s).  Needs py_echo.py's "
                             "--ws-ping-interval")
    parser.add_argument('--server-cpu', type=int, default=0)
    parser.add_argument('--generator-cpu', type=int, default=1)
    parser.add_argument('--no-pin', action='store_true')
    parser.add_argument('--json', metavar='PATH',
                        help='where to write the report (default '
                             'bench/results/e2e-<time>.json)')
    args = parser.parse_args(argv)
    quick = args.quick
    args.rounds = args.rounds or (1 if quick else 3)
    args.warmup = args.warmup if args.warmup is not None else (0.5 if quick else 1.0)
    args.duration = args.duration or (2.0 if quick else 5.0)
    sizes = args.idle_sizes or ('1000' if quick else '1000,10000')
    try:
        args.idle_sizes = [int(n) for n in comma_list(sizes)]
    except ValueError:
        parser.error('--idle-sizes: comma-separated integers')
    if any(n < 1 for n in args.idle_sizes):
        parser.error('--idle-sizes: at least 1')
    if args.idle_window is None:
        args.idle_window = 10.0 if quick else 30.0
    args.modes = comma_list(args.modes)
    for mode in args.modes:
        if mode not in MODES:
            parser.error('--modes: unknown mode %r (choose from %s)'
                         % (mode, ', '.join(MODES)))
    return args


def describe(variant: Variant) -> str:
    """One header line: what this variant's server announced."""
    info = variant.info
    if variant.name == 'node':
        return 'node %s, engine.io %s, ws %s' % (
            info.get('node', '?'), info.get('engine.io', '?'),
            info.get('ws', '?'))
    if variant.unsupported is not None:
        return 'unsupported: %s' % variant.unsupported
    if not info:
        return '(never started)'
    versions = info.get('versions', {})
    text = 'python %s, engineio %s kernels from %s; ' % (
        info.get('python'), info.get('kernels'), info.get('engineio_file'))
    server = info.get('server', '?')
    if variant.mode == 'asgi':
        text += 'uvicorn %s, loop=%s, http=%s, ws=%s %s' % (
            versions.get('uvicorn', '?'), info.get('loop'), info.get('http'),
            info.get('ws'), versions.get(info.get('ws'), ''))
        if 'ws_ping_interval' in info:
            text += ', ws_ping_interval=%s' % info['ws_ping_interval']
    elif variant.mode == 'embedded':
        text += 'embedded server (engineio.run), uvloop %s, httptools %s' % (
            versions.get('uvloop', '?'), versions.get('httptools', '?'))
    elif variant.mode == 'threading':
        text += 'gunicorn %s, 1 %s worker, %s threads' % (
            versions.get('gunicorn', '?'), info.get('worker'),
            info.get('threads'))
        if variant.name == 'reference':
            text += ', simple-websocket %s' % versions.get('simple-websocket', '?')
    else:
        text += '%s %s' % (server, versions.get(server, '?'))
        if info.get('loop'):
            text += ', loop=%s' % info['loop']
        if variant.mode == 'gevent':
            text += ', pywsgi + %s WebSocketHandler' % (
                'gevent-websocket %s' % versions.get('gevent-websocket', '?')
                if variant.name == 'reference' else 'engineio\'s')
    return text


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    names = comma_list(args.variants)
    if args.setup_ref:
        python = ensure_reference_stack(args.modes)
        log('bench.e2e: %s is ready for %s' % (python, ', '.join(args.modes)))
        return 0
    catalog = {s.name: s for s in scenarios(args)}
    chosen = expand_scenarios(comma_list(args.scenarios), catalog)
    if not (NODE_MODULES / 'ws').is_dir():
        sys.exit('bench.e2e: %s has no ws: run make setup' % NODE_MODULES)
    cpus = choose_cpus(args.server_cpu, args.generator_cpu, not args.no_pin)
    server_args = ['--loop', args.loop, '--http', args.http, '--ws', args.ws]
    if args.ws_ping_interval is not None:
        # only when asked: the default leaves uvicorn's own default
        server_args += ['--ws-ping-interval', args.ws_ping_interval]
    started = time.strftime('%Y%m%d-%H%M%S')
    load_start = load_average()

    def rounds_of(scenario: Scenario) -> int:
        return args.idle_rounds if scenario.kind == 'idle' else args.rounds

    runs: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix='engineio-e2e-') as scratch:
        variants = make_variants(names, args.modes, server_args, Path(scratch))
        total = sum(rounds_of(s) for s in chosen) * len(variants)
        count = 0
        for scenario in chosen:
            for round_number in range(rounds_of(scenario)):
                # rotate: every variant goes first once every len() rounds
                shift = round_number % len(variants)
                for variant in variants[shift:] + variants[:shift]:
                    count += 1
                    log('bench.e2e: [%d/%d] %s round %d %s' % (
                        count, total, scenario.name, round_number + 1,
                        variant.label))
                    record = one_run(variant, scenario, args, cpus)
                    record['round'] = round_number + 1
                    runs.append(record)
                    result = record['result']
                    for key in ('error', 'unsupported', 'skipped'):
                        if key in result:
                            log('bench.e2e:   %s: %s' % (key, result[key][:500]))
    load_end = load_average()

    # medians per scenario and row
    medians: Dict[str, Dict[str, Dict[str, Optional[float]]]] = {}
    statuses: Dict[str, Dict[str, str]] = {}
    spreads: Dict[str, Dict[str, Optional[float]]] = {}
    for scenario in chosen:
        for variant in variants:
            mine_runs = [r for r in runs if r['scenario'] == scenario.name
                         and r['label'] == variant.label]
            mine = [summarize(r['result']) for r in mine_runs
                    if measured(r['result'])]
            if not mine:
                first = mine_runs[0]['result'] if mine_runs else {}
                statuses.setdefault(scenario.name, {})[variant.label] = \
                    'unsupported' if 'unsupported' in first else \
                    first.get('skipped') or 'FAILED'
            metrics = mine[0].keys() if mine else []
            medians.setdefault(scenario.name, {})[variant.label] = {
                k: pick([m[k] for m in mine], k, args.stat) for k in metrics}
            # the headline metric: the first ratio's
            headline = scenario.ratios[0][1]
            spreads.setdefault(scenario.name, {})[variant.label] = \
                spread([m[headline] for m in mine])

    # the report
    print()
    print('End-to-end load, %s; %d round(s) x %.1f s (after %.1f s warm-up), '
          'idle: %d round(s) x %g s; modes %s; %s' % (
              started, args.rounds, args.duration, args.warmup,
              args.idle_rounds, args.idle_window, ','.join(args.modes),
              'medians' if args.stat == 'median' else 'best round per metric'))
    print('load average (1/5/15 min): %s at start, %s at end; %d CPUs; '
          'server on CPU %s, generator on CPU %s' % (
              load_start, load_end, os.cpu_count() or 0, cpus[0], cpus[1]))
    width = max(len(v.label) for v in variants)
    for variant in variants:
        print('  %s  %s' % (variant.label.ljust(width), describe(variant)))
    print('  every server: echo on "message", broadcast on request, default '
          'ping interval/timeout, no access log, no WebSocket compression, '
          'async_handlers=False; generator: %s' % (
              'frames of one tick batched in one write' if args.batch_writes
              else 'one write per WebSocket frame'))
    print('  ×ref / ×node: how many times better this row is than the '
          'reference in the same mode / Node (throughput: this ÷ theirs; '
          'CPU, memory and latency: theirs ÷ this)')
    rows = [Row(v.label, v.name, v.mode) for v in variants]
    for scenario in chosen:
        print()
        print('%s: %s' % (scenario.name, scenario.title))
        loads = [r['load_average'][0] for r in runs
                 if r['scenario'] == scenario.name and r['load_average']]
        table, notes = scenario_table(
            scenario.kind, rows, medians[scenario.name],
            statuses.get(scenario.name, {}), scenario.ratios,
            scenario.targets, scenario.node_targets,
            closed_loop=scenario.kind == 'echo' and not scenario.load.get('rate'),
            bytes_metric=scenario.bytes_metric)
        print(table)
        worst = max(((s, n) for n, s in spreads[scenario.name].items()
                     if s is not None), default=None)
        line = '  1-min load average %.2f–%.2f' % (min(loads), max(loads)) \
            if loads else ''
        if worst:
            line += '; largest round-to-round spread %.0f%% (%s)' % (
                worst[0] * 100, worst[1])
        if line:
            print(line)
        for note in notes:
            print('  note: ' + note)
        failed = [r for r in runs if r['scenario'] == scenario.name
                  and 'error' in r['result']]
        for r in failed:
            print('  FAILED: %s round %d: %s' % (r['label'], r['round'],
                                                 r['result']['error'][:300]))

    report = {
        'started': started,
        'argv': sys.argv[1:] if argv is None else argv,
        'platform': platform.platform(),
        'cpus': os.cpu_count(), 'pinning': {'server': cpus[0], 'generator': cpus[1]},
        'load_average': {'start': load_start, 'end': load_end},
        'settings': {'rounds': args.rounds, 'warmup': args.warmup,
                     'duration': args.duration, 'rate': args.rate,
                     'modes': args.modes,
                     'idle': {'sizes': args.idle_sizes,
                              'window': args.idle_window,
                              'rounds': args.idle_rounds, 'warm': IDLE_WARM,
                              'settle': IDLE_SETTLE},
                     'broadcast': {'clients': args.broadcast_clients,
                                   'hz': args.broadcast_hz,
                                   'size': args.broadcast_size},
                     'concurrency': args.concurrency,
                     'batch_writes': args.batch_writes, 'stat': args.stat,
                     'uvicorn': {'loop': args.loop, 'http': args.http,
                                 'ws': args.ws,
                                 'ws_ping_interval': args.ws_ping_interval},
                     'async_handlers': False},
        'variants': {v.label: dict(v.info, unsupported=v.unsupported)
                     if v.unsupported else v.info for v in variants},
        'scenarios': {s.name: {'title': s.title, 'kind': s.kind,
                               'load': s.load} for s in chosen},
        'summary': medians,   # per --stat: medians, or best rounds
        'status': statuses,   # rows without numbers: unsupported, skipped
        'runs': runs,
    }
    path = Path(args.json) if args.json else RESULTS / ('e2e-%s.json' % started)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1))
    print('report: %s' % path)
    return 1 if any('error' in r['result'] for r in runs) else 0


if __name__ == '__main__':
    sys.exit(main())
