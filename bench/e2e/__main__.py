"""``python -m bench.e2e`` (``make bench-e2e``): end-to-end load, server by server.

For each scenario, round after round, each variant's server is started fresh
(pinned to one CPU), the Node.js load generator (pinned to another) runs a
warm-up and then a measurement window against it, and the server is stopped.
The variant order rotates every round so that a spell of load on the machine
does not always hit the same variant.  The tables show medians over rounds.

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

from bench.e2e.servers import (JS, NODE_MODULES, ROOT, VARIANTS, Server,
                               Variant, log, make_variants, node_binary, pin)

RESULTS = ROOT / 'bench' / 'results'


class Scenario:
    """One load shape.  ``load`` is the generator's config (see loadgen.js);
    ``ratios``: (column label, metric, True when higher is better)."""

    def __init__(self, name: str, title: str, load: Dict[str, Any],
                 ratios: List[Tuple[str, str, bool]],
                 targets: Optional[Dict[str, float]] = None,
                 bytes_metric: bool = False) -> None:
        self.name = name
        self.title = title
        self.load = load
        self.ratios = ratios
        # issue 4's targets, compiled vs reference: metric -> minimum ratio
        self.targets = targets or {}
        self.bytes_metric = bytes_metric


THROUGHPUT_RATIOS = [('msgs/s', 'msgs_per_s', True),
                     ('CPU/msg', 'server_cpu_us_per_msg', False)]


def scenarios(rate: int) -> List[Scenario]:
    return [
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


def run_generator(url: str, pid: int, load: Dict[str, Any], warmup: float,
                  duration: float, cpu: Optional[int]) -> Dict[str, Any]:
    config = dict(load, url=url, serverPid=pid, warmup=warmup,
                  duration=duration, clkTck=os.sysconf('SC_CLK_TCK'),
                  connectTimeout=10)
    # loadgen.js ends itself after connectTimeout + warmup + duration + 10 s;
    # this timeout is the second line of defence
    limit = 10 + warmup + duration + 20
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


def one_run(variant: Variant, scenario: Scenario, args: argparse.Namespace,
            cpus: Tuple[Optional[int], Optional[int]]) -> Dict[str, Any]:
    record: Dict[str, Any] = {'variant': variant.name,
                              'scenario': scenario.name,
                              'load_average': load_average()}
    try:
        with Server(variant, cpus[0]) as server:
            load = dict(scenario.load)
            if args.batch_writes and load['transport'] == 'websocket':
                load['batchWrites'] = True
            result = run_generator(server.url, server.pid, load,
                                   args.warmup, args.duration, cpus[1])
            if not server.alive():
                result.setdefault('error', 'server exited during the run')
            if 'error' in result:
                result['server_stderr'] = server.stderr_tail(1500)
    except RuntimeError as exc:          # did not start
        result = {'error': str(exc)}
    record['result'] = result
    return record


def summarize(result: Dict[str, Any]) -> Dict[str, Optional[float]]:
    latency = result.get('latency_us') or {}
    errors = result.get('errors') or {}
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
    }


def median_of(values: List[Optional[float]]) -> Optional[float]:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


# metrics where more is better; for the others (CPU, latency, errors) less is
HIGHER_IS_BETTER = {'msgs_per_s', 'bytes_per_s'}


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
    if metric in ('server_cpu_pct', 'generator_cpu_pct', 'server_rss_kb'):
        return statistics.median(present)   # descriptive, not a score
    return max(present) if metric in HIGHER_IS_BETTER else min(present)


def spread(values: List[Optional[float]]) -> Optional[float]:
    present = [v for v in values if v is not None]
    if len(present) < 2 or not statistics.median(present):
        return None
    return (max(present) - min(present)) / statistics.median(present)


# ---------------------------------------------------------------------------
# the table

def fmt(value: Optional[float], kind: str) -> str:
    if value is None:
        return '—'
    if kind == 'rate':
        return '%.1fk' % (value / 1e3) if value >= 1e3 else '%.0f' % value
    if kind == 'MB':
        return '%.1f' % (value / 1e6)
    if kind == 'us':
        return '%.1f' % value if value < 100 else '%.0f' % value
    if kind == 'ms':
        return '%.2f' % (value / 1e3) if value < 1e4 else '%.0f' % (value / 1e3)
    if kind == 'pct':
        return '%.0f%%' % value
    if kind == 'count':
        return '%d' % value
    if kind == 'ratio':
        return '%.2fx' % value if value < 10 else '%.1fx' % value
    return str(value)


def ratio(mine: Optional[float], theirs: Optional[float],
          higher_better: bool) -> Optional[float]:
    if not mine or not theirs:
        return None
    return mine / theirs if higher_better else theirs / mine


def render(header: List[str], rows: List[List[str]]) -> str:
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    lines = []
    for n, row in enumerate([header] + rows):
        lines.append('  '.join([row[0].ljust(widths[0])] +
                               [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
                               ).rstrip())
        if n == 0:
            lines.append('  '.join('-' * w for w in widths))
    return '\n'.join(lines)


def scenario_table(scenario: Scenario, names: List[str],
                   med: Dict[str, Dict[str, Optional[float]]]) -> Tuple[str, List[str]]:
    notes: List[str] = []
    closed_loop = not scenario.load.get('rate')
    first = 'MB/s' if scenario.bytes_metric else 'msgs/s'
    header = ['variant', first, 'CPU µs/msg', 'srv CPU', 'p50 ms', 'p99 ms',
              'gen CPU', 'errors']
    others = [o for o in ('reference', 'node') if o in names]
    for other in others:
        header += ['%s ×%s' % (label, 'ref' if other == 'reference' else 'node')
                   for label, _, _ in scenario.ratios]
    rows = []
    for name in names:
        m = med.get(name, {})
        main = fmt(m.get('bytes_per_s'), 'MB') if scenario.bytes_metric \
            else fmt(m.get('msgs_per_s'), 'rate')
        row = [name, main, fmt(m.get('server_cpu_us_per_msg'), 'us'),
               fmt(m.get('server_cpu_pct'), 'pct'), fmt(m.get('p50_us'), 'ms'),
               fmt(m.get('p99_us'), 'ms'), fmt(m.get('generator_cpu_pct'), 'pct'),
               fmt(m.get('errors'), 'count')]
        gen = m.get('generator_cpu_pct')
        if gen is not None and gen > 90:
            notes.append('%s: the generator used %.0f%% of its core: this '
                         'number may be the generator\'s limit, not the '
                         'server\'s' % (name, gen))
        busy = m.get('server_cpu_pct')
        if closed_loop and busy is not None and busy < 80:
            notes.append('%s: the server used only %.0f%% of its core in a '
                         'closed loop: something else (the machine, the '
                         'generator) limited this row' % (name, busy))
        for other in others:
            o = med.get(other, {})
            for label, metric, higher in scenario.ratios:
                if name == other:
                    row.append('')
                    continue
                value = ratio(m.get(metric), o.get(metric), higher)
                cell = fmt(value, 'ratio')
                target = scenario.targets.get(metric)
                if other == 'reference' and name == 'compiled' and target:
                    cell += ' %s(≥%gx)' % ('✓' if value and value >= target
                                           else '✗', target)
                row.append(cell)
        rows.append(row)
    return render(header, rows), notes


# ---------------------------------------------------------------------------

def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='python -m bench.e2e',
        description='End-to-end load: this project (compiled, pure), '
                    'python-engineio 4.15.1 and Node.js engine.io, each '
                    'serving echo on uvicorn / Node, under a Node load generator.')
    parser.add_argument('--quick', action='store_true',
                        help='1 round, 0.5 s warm-up, 2 s window')
    parser.add_argument('--rounds', type=int)
    parser.add_argument('--warmup', type=float, help='seconds (default 1)')
    parser.add_argument('--duration', type=float,
                        help='seconds measured per run (default 5)')
    parser.add_argument('--variants', default=','.join(VARIANTS),
                        help='comma-separated, from %(default)s')
    parser.add_argument('--scenarios',
                        default='ws_echo,polling_echo,ws_latency,ws_binary',
                        help='comma-separated, from %(default)s')
    parser.add_argument('--rate', type=int, default=3000,
                        help='ws_latency: offered messages/s in total '
                             '(default %(default)s, below every variant\'s capacity)')
    parser.add_argument('--stat', choices=('median', 'best'), default='median',
                        help='per metric, the median over rounds or the best '
                             'round (a busy machine; default %(default)s)')
    parser.add_argument('--batch-writes', action='store_true',
                        help='WebSocket scenarios: the generator sends the '
                             'frames of one tick in one write (cheaper for the '
                             'generator; default: one write per frame)')
    parser.add_argument('--loop', default='auto', help="uvicorn's loop")
    parser.add_argument('--http', default='auto', help="uvicorn's http")
    parser.add_argument('--ws', default='auto', help="uvicorn's ws")
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
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    names = [n.strip() for n in args.variants.split(',') if n.strip()]
    wanted = [n.strip() for n in args.scenarios.split(',') if n.strip()]
    catalog = {s.name: s for s in scenarios(args.rate)}
    unknown = [n for n in wanted if n not in catalog]
    if unknown:
        sys.exit('bench.e2e: unknown scenario(s) %s (choose from %s)'
                 % (', '.join(unknown), ', '.join(catalog)))
    chosen = [catalog[n] for n in wanted]
    if not (NODE_MODULES / 'ws').is_dir():
        sys.exit('bench.e2e: %s has no ws: run make setup' % NODE_MODULES)
    cpus = choose_cpus(args.server_cpu, args.generator_cpu, not args.no_pin)
    server_args = ['--loop', args.loop, '--http', args.http, '--ws', args.ws]
    started = time.strftime('%Y%m%d-%H%M%S')
    load_start = load_average()

    runs: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix='engineio-e2e-') as scratch:
        variants = make_variants(names, server_args, Path(scratch))
        total = len(chosen) * args.rounds * len(variants)
        count = 0
        for scenario in chosen:
            for round_number in range(args.rounds):
                # rotate: every variant goes first once every len() rounds
                shift = round_number % len(variants)
                for variant in variants[shift:] + variants[:shift]:
                    count += 1
                    log('bench.e2e: [%d/%d] %s round %d %s' % (
                        count, total, scenario.name, round_number + 1,
                        variant.name))
                    record = one_run(variant, scenario, args, cpus)
                    record['round'] = round_number + 1
                    runs.append(record)
                    if 'error' in record['result']:
                        log('bench.e2e:   error: %s' % record['result']['error'][:500])
    load_end = load_average()

    # medians per scenario and variant
    medians: Dict[str, Dict[str, Dict[str, Optional[float]]]] = {}
    spreads: Dict[str, Dict[str, Optional[float]]] = {}
    for scenario in chosen:
        for variant in variants:
            mine = [summarize(r['result']) for r in runs
                    if r['scenario'] == scenario.name and r['variant'] == variant.name
                    and 'error' not in r['result']]
            metrics = mine[0].keys() if mine else []
            medians.setdefault(scenario.name, {})[variant.name] = {
                k: pick([m[k] for m in mine], k, args.stat) for k in metrics}
            # the headline metric: throughput, or p50 at a fixed offered load
            headline = scenario.ratios[0][1]
            spreads.setdefault(scenario.name, {})[variant.name] = \
                spread([m[headline] for m in mine])

    # the report
    print()
    print('End-to-end load, %s; %d round(s) x %.1f s (after %.1f s warm-up), '
          '%s' % (started, args.rounds, args.duration, args.warmup,
                  'medians' if args.stat == 'median'
                  else 'best round per metric'))
    print('load average (1/5/15 min): %s at start, %s at end; %d CPUs; '
          'server on CPU %s, generator on CPU %s' % (
              load_start, load_end, os.cpu_count() or 0, cpus[0], cpus[1]))
    for variant in variants:
        info = variant.info
        if variant.name == 'node':
            print('  %-9s node %s, engine.io %s, ws %s' % (
                variant.name, info.get('node', '?'), info.get('engine.io', '?'),
                info.get('ws', '?')))
        elif info:
            versions = info.get('versions', {})
            print('  %-9s python %s, engineio %s kernels from %s; uvicorn %s, '
                  'loop=%s, http=%s, ws=%s; async_handlers=False' % (
                      variant.name, info.get('python'), info.get('kernels'),
                      info.get('engineio_file'), versions.get('uvicorn', '?'),
                      info.get('loop'), info.get('http'),
                      '%s %s' % (info.get('ws'), versions.get(info.get('ws'), ''))))
        else:
            print('  %-9s (never started)' % variant.name)
    print('  every server: echo on "message", default ping interval/timeout, '
          'no access log, no WebSocket compression; generator: %s' % (
              'frames of one tick batched in one write' if args.batch_writes
              else 'one write per WebSocket frame'))
    print('  ×ref / ×node: how many times better this row is than the reference '
          '/ Node (throughput: this ÷ theirs; CPU and latency: theirs ÷ this)')
    all_notes = []
    for scenario in chosen:
        print()
        print('%s: %s' % (scenario.name, scenario.title))
        loads = [r['load_average'][0] for r in runs
                 if r['scenario'] == scenario.name and r['load_average']]
        table, notes = scenario_table(scenario, [v.name for v in variants],
                                      medians[scenario.name])
        print(table)
        worst = max(((s, n) for n, s in spreads[scenario.name].items()
                     if s is not None), default=None)
        line = '  1-min load average %.2f–%.2f' % (min(loads), max(loads)) \
            if loads else ''
        if worst:
            line += '; largest round-to-round spread %.0f%% (%s)' % (
                worst[0] * 100, worst[1])
        print(line)
        for note in notes:
            print('  note: ' + note)
        failed = [r for r in runs if r['scenario'] == scenario.name
                  and 'error' in r['result']]
        for r in failed:
            print('  FAILED: %s round %d: %s' % (r['variant'], r['round'],
                                                 r['result']['error'][:300]))
        all_notes += notes
    print()
    print('not yet measured: idle capacity (1k/5k/10k connections), '
          'broadcast fan-out (issue 6)')

    report = {
        'started': started,
        'argv': sys.argv[1:] if argv is None else argv,
        'platform': platform.platform(),
        'cpus': os.cpu_count(), 'pinning': {'server': cpus[0], 'generator': cpus[1]},
        'load_average': {'start': load_start, 'end': load_end},
        'settings': {'rounds': args.rounds, 'warmup': args.warmup,
                     'duration': args.duration, 'rate': args.rate,
                     'batch_writes': args.batch_writes, 'stat': args.stat,
                     'uvicorn': {'loop': args.loop, 'http': args.http,
                                 'ws': args.ws},
                     'async_handlers': False},
        'variants': {v.name: v.info for v in variants},
        'scenarios': {s.name: {'title': s.title, 'load': s.load}
                      for s in chosen},
        'summary': medians,   # per --stat: medians, or best rounds
        'runs': runs,
    }
    path = Path(args.json) if args.json else RESULTS / ('e2e-%s.json' % started)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1))
    print('report: %s' % path)
    return 1 if any('error' in r['result'] for r in runs) else 0


if __name__ == '__main__':
    sys.exit(main())
