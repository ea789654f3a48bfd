"""``python -m bench.clients`` (``make bench-clients``): the Engine.IO clients
under load, compiled vs pure vs python-engineio 4.15.1.

Every run starts a fresh official Node.js ``engine.io`` echo server
(``bench/e2e/js/server.js``) pinned to one CPU, and one client process
(``worker.py``) pinned to the other, which drives ``engineio.Client`` or
``engineio.AsyncClient`` through one scenario and reports what it counted.
The server is the same for every variant and is not the bottleneck (its
CPU share is in the tables), so the differences are the clients'.  For each
scenario the rounds are interleaved and the order of the variants rotates
every round; the tables show medians over rounds.  See bench/README.md
("Clients") for the scenarios and how to read the tables.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from bench.__main__ import (REF_VENV, Verdicts, ensure_reference_venv,
                            format_ratio, render_table)
from bench.e2e.__main__ import (choose_cpus, load_average, median_of, pick,
                                spread)
from bench.e2e.servers import (APP, JS, NODE_MODULES, ROOT, Server, Variant,
                               base_env, installed_version, log, node_binary,
                               pin, requirement_names)
from bench.e2e.tables import fmt
from bench.clients.worker import SCENARIOS

HERE = Path(__file__).resolve().parent
WORKER = HERE / 'worker.py'
RESULTS = ROOT / 'bench' / 'results'
VARIANTS = ('compiled', 'pure', 'reference')

# What the reference's clients need besides python-engineio (its `client`
# and `asyncio-client` extras): installed into .venv-ref at this
# environment's versions, with their own requirements pinned the same way;
# websocket-client, which this project does not use, at a fixed version.
CLIENT_STACK = ('requests', 'aiohttp', 'websocket-client')
REFERENCE_ONLY = {'websocket-client': '1.9.2'}


class Scenario:
    """One load shape (see worker.SCENARIOS for what the worker does).

    ``target``: the least compiled ÷ reference ratio of the headline the
    issue asks for (None: reported only)."""

    def __init__(self, name: str, kind: str, title: str,
                 target: Optional[float] = None) -> None:
        self.name = name
        self.kind = kind
        self.title = title
        self.target = target

    @property
    def headline(self) -> str:
        return 'msgs_per_s' if self.kind == 'echo' else 'conns_per_s'


def catalog(args: argparse.Namespace) -> List[Scenario]:
    echo = ('one client, %s only, %s, 100-byte text; echoes counted in the '
            '`message` handler over %g s after %g s of warm-up')
    conns = ('%d %s, %s, %s; timed from the first connect() to the last '
             'one returning (the %d connected first to warm up are not '
             'counted)')
    return [
        Scenario('sync_ws_echo', 'echo',
                 'Client: ' + echo % ('WebSocket', '1 message in flight (the '
                                      'handler sends the next)',
                                      args.duration, args.warmup), 3.0),
        Scenario('sync_ws_pipelined', 'echo',
                 'Client: ' + echo % ('WebSocket', '10 messages in flight',
                                      args.duration, args.warmup), 3.0),
        Scenario('async_ws_echo', 'echo',
                 'AsyncClient: ' + echo % ('WebSocket', '1 message in flight',
                                           args.duration, args.warmup), 1.5),
        Scenario('async_ws_pipelined', 'echo',
                 'AsyncClient: ' + echo % ('WebSocket', '10 messages in '
                                           'flight', args.duration,
                                           args.warmup), 1.5),
        Scenario('sync_polling_echo', 'echo',
                 'Client: ' + echo % ('long-polling', '1 message in flight',
                                      args.duration, args.warmup)),
        Scenario('async_polling_echo', 'echo',
                 'AsyncClient: ' + echo % ('long-polling', '1 message in '
                                           'flight', args.duration,
                                           args.warmup)),
        Scenario('async_connect_ws', 'connect',
                 conns % (args.connections, 'AsyncClients', 'WebSocket only',
                          '%d connecting at a time' % args.concurrency,
                          args.warm_connections), 2.0),
        Scenario('async_connect_upgrade', 'connect',
                 conns % (args.connections, 'AsyncClients',
                          'polling then upgrade to WebSocket',
                          '%d connecting at a time' % args.concurrency,
                          args.warm_connections), 2.0),
        Scenario('sync_connect_ws', 'connect',
                 conns % (args.sync_connections, 'Clients', 'WebSocket only',
                          'one after the other', args.warm_connections)),
        Scenario('sync_connect_upgrade', 'connect',
                 conns % (args.sync_connections, 'Clients',
                          'polling then upgrade to WebSocket',
                          'one after the other', args.warm_connections)),
    ]


# ---------------------------------------------------------------------------
# the reference's environment

def pinned_client_stack() -> Dict[str, str]:
    """``{distribution: version}`` for :data:`CLIENT_STACK` and everything
    it requires, at this environment's versions (as bench.e2e does for the
    servers)."""
    wanted: Dict[str, str] = {}
    todo = list(CLIENT_STACK)
    seen = set()
    while todo:
        name = todo.pop()
        key = name.lower().replace('_', '-')
        if key in seen:
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


def ensure_reference_clients() -> str:
    """.venv-ref's python, with what python-engineio's clients need."""
    python = REF_VENV / 'bin' / 'python'
    if not python.exists():
        ensure_reference_venv()
    wanted = pinned_client_stack()
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
    missing = ['%s==%s' % (name, version)
               for name, version in sorted(wanted.items())
               if have.get(name) != version]
    if missing:
        log('bench.clients: installing into %s: %s' % (REF_VENV.name,
                                                       ' '.join(missing)))
        subprocess.run([str(python), '-m', 'pip', 'install', '-q',
                        '--disable-pip-version-check'] + missing,
                       check=True, timeout=900)
    return str(python)


def make_variants(names: List[str], scratch: Path) -> List[Variant]:
    """The client processes: this tree's worker under .venv (compiled,
    pure), a copy of it under .venv-ref with ``-I`` (reference).  The
    variant objects are bench.e2e's, whose ``check`` refuses a process that
    imported the wrong ``engineio``."""
    variants = []
    for name in names:
        if name not in VARIANTS:
            raise SystemExit('bench.clients: unknown variant %r (choose '
                             'from %s)' % (name, ', '.join(VARIANTS)))
        env = base_env()
        if name == 'reference':
            python = ensure_reference_clients()
            # outside this tree and with -I: nothing on sys.path leads the
            # copy's `import engineio` here
            shutil.copy2(WORKER, scratch / WORKER.name)
            variants.append(Variant(name, 'clients', [
                python, '-I', str(scratch / WORKER.name)], env, scratch))
        else:
            env['PYTHONPATH'] = str(ROOT)
            if name == 'pure':
                env['ENGINEIO_NO_EXTENSIONS'] = '1'
            variants.append(Variant(name, 'clients',
                                    [sys.executable, str(WORKER)], env, ROOT))
    return variants


def server_variant(name: str, scratch: Path) -> Variant:
    """The echo server every client variant talks to: the official Node.js
    server (default), or this project's embedded server (``engineio.run``,
    compiled kernels), whose CPU per connection is lower, for the connect
    scenarios where Node's one core is the limit."""
    if name == 'node':
        return Variant('node', 'node', [node_binary(), str(JS / 'server.js'),
                                        str(NODE_MODULES)], base_env(),
                       scratch)
    env = base_env()
    env['PYTHONPATH'] = str(ROOT)
    return Variant('compiled', 'embedded', [
        sys.executable, str(APP), '--mode', 'embedded',
        '--max-connections', '4096'], env, ROOT)


# ---------------------------------------------------------------------------
# running

def worker_config(scenario: Scenario, args: argparse.Namespace,
                  server: Server) -> Dict[str, Any]:
    sync = scenario.name.startswith('sync_')
    return {'scenario': scenario.name,
            'url': 'http://127.0.0.1:%d' % server.info['port'],
            'server_pid': server.pid, 'warmup': args.warmup,
            'duration': args.duration, 'size': 100,
            'connections': args.sync_connections if sync
            else args.connections,
            'concurrency': args.concurrency,
            'warm_connections': args.warm_connections}


def time_limit(config: Dict[str, Any], scenario: Scenario) -> float:
    """Seconds a worker may take before it is killed: generous, a guard
    against a hung client, not a measurement."""
    if scenario.kind == 'echo':
        return 40.0 + config['warmup'] + config['duration']
    return 60.0 + 0.1 * (config['connections'] + config['warm_connections'])


def parse_lines(text: str) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            out.update(record)
    return out


def run_worker(variant: Variant, config: Dict[str, Any], limit: float,
               cpu: Optional[int]) -> Dict[str, Any]:
    command = pin(cpu) + variant.command + [json.dumps(config)]
    try:
        completed = subprocess.run(command, cwd=str(variant.cwd),
                                   env=variant.env, capture_output=True,
                                   text=True, timeout=limit)
        stdout, stderr, code = completed.stdout, completed.stderr, \
            completed.returncode
    except subprocess.TimeoutExpired as exc:
        def text(data: Any) -> str:
            return data.decode('utf-8', 'replace') \
                if isinstance(data, bytes) else data or ''
        stdout, stderr, code = text(exc.stdout), text(exc.stderr), None
    out = parse_lines(stdout)
    if code is None:
        out.setdefault('error', 'client still running after %.0f s%s' % (
            limit, ' (during the teardown)' if 'result' in out else ''))
    elif code and 'error' not in out:
        out['error'] = 'client exited %d' % code
    elif 'result' not in out and 'error' not in out:
        out['error'] = 'client reported nothing'
    if 'error' in out:
        out['stderr'] = stderr[-2000:]
    return out


def one_run(variant: Variant, scenario: Scenario, args: argparse.Namespace,
            cpus: Tuple[Optional[int], Optional[int]],
            node: Variant) -> Dict[str, Any]:
    record: Dict[str, Any] = {'scenario': scenario.name,
                              'variant': variant.name,
                              'load_average': load_average()}
    try:
        with Server(node, cpus[0]) as server:
            record['server'] = server.info
            config = worker_config(scenario, args, server)
            out = run_worker(variant, config, time_limit(config, scenario),
                             cpus[1])
            if not server.alive():
                out.setdefault('error', 'the server exited during the run')
            if 'error' in out:
                out['server_stderr'] = server.stderr_tail(1000)
    except RuntimeError as exc:           # the server did not start
        out = {'error': str(exc)}
    identity = out.get('identity')
    if identity is not None:
        problem = variant.check(identity)
        if problem:
            raise SystemExit('bench.clients: ' + problem)
        variant.info = identity
    record.update(out)
    return record


# ---------------------------------------------------------------------------
# results

# metrics that describe a run rather than score it: the median, even with
# --stat best
DESCRIPTIVE = ('client_cpu_pct', 'server_cpu_pct', 'disconnect_s', 'left')


def summarize(record: Dict[str, Any]) -> Dict[str, Optional[float]]:
    result = record.get('result') or {}
    teardown = record.get('teardown') or {}
    echo = 'echoes' in result
    errors = (result.get('errors') or 0) + (result.get('lost') or 0)
    if not echo:
        errors += teardown.get('still_connected') or 0
    left = teardown.get('threads_left', teardown.get('tasks_left'))
    return {
        'msgs_per_s': result.get('per_s') if echo else None,
        'conns_per_s': None if echo else result.get('per_s'),
        'client_cpu_us': result.get('client_cpu_us'),
        'server_cpu_us': result.get('server_cpu_us'),
        'client_cpu_pct': result.get('client_cpu_pct'),
        'server_cpu_pct': result.get('server_cpu_pct'),
        'disconnect_s': teardown.get('disconnect_s'),
        'left': float(left) if left is not None else None,
        'errors': float(errors),
    }


def choose(values: List[Optional[float]], metric: str,
           stat: str) -> Optional[float]:
    if metric in DESCRIPTIVE:
        return median_of(values)
    return pick(values, metric, stat)


def ratio(mine: Optional[float], theirs: Optional[float],
          higher_better: bool = True) -> Optional[float]:
    if not mine or not theirs:
        return None
    return mine / theirs if higher_better else theirs / mine


def rate_cell(value: Optional[float], kind: str) -> str:
    unit = ' msg/s' if kind == 'echo' else ' conn/s'
    return fmt(value, 'rate') + unit if value is not None else '—'


def summary_table(chosen: List[Scenario], names: List[str],
                  med: Dict[str, Dict[str, Dict[str, Optional[float]]]],
                  verdicts: Verdicts) -> str:
    """One row per scenario: each variant's headline and the ratios."""
    ours = [n for n in names if n != 'reference']
    header = ['scenario'] + list(names)
    if 'reference' in names:
        header += ['%s ×ref' % n for n in ours]
    if 'compiled' in names and 'pure' in names:
        header.append('compiled ×pure')
    rows = []
    for scenario in chosen:
        metric = scenario.headline
        value = {n: med[scenario.name].get(n, {}).get(metric) for n in names}
        row = [scenario.name] + [rate_cell(value[n], scenario.kind)
                                 for n in names]
        if 'reference' in names:
            for n in ours:
                target = scenario.target if n == 'compiled' else None
                row.append(verdicts.ratio('%s %s vs reference' % (
                    scenario.name, n), ratio(value[n], value['reference']),
                    target))
        if 'compiled' in names and 'pure' in names:
            row.append(format_ratio(ratio(value['compiled'], value['pure'])))
        rows.append(row)
    return render_table(header, rows)


def detail_table(scenario: Scenario, names: List[str],
                 med: Dict[str, Dict[str, Optional[float]]],
                 failed: Dict[str, str]) -> str:
    per = 'msg' if scenario.kind == 'echo' else 'conn'
    header = ['client', 'msgs/s' if scenario.kind == 'echo' else 'conns/s',
              'client µs/%s' % per, 'server µs/%s' % per, 'client CPU',
              'server CPU', 'errors', 'left over']
    if scenario.kind == 'connect':
        header.append('disconnect s')
    rows = []
    for name in names:
        if name in failed:
            rows.append([name, failed[name]] + [''] * (len(header) - 2))
            continue
        m = med.get(name, {})
        row = [name, fmt(m.get(scenario.headline), 'rate'),
               fmt(m.get('client_cpu_us'), 'us'),
               fmt(m.get('server_cpu_us'), 'us'),
               fmt(m.get('client_cpu_pct'), 'pct'),
               fmt(m.get('server_cpu_pct'), 'pct'),
               fmt(m.get('errors'), 'count'), fmt(m.get('left'), 'count')]
        if scenario.kind == 'connect':
            disconnect = m.get('disconnect_s')
            row.append('%.2f' % disconnect if disconnect is not None else '—')
        rows.append(row)
    return render_table(header, rows)


# ---------------------------------------------------------------------------

def comma_list(text: str) -> List[str]:
    return [n.strip() for n in text.split(',') if n.strip()]


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='python -m bench.clients',
        description='engineio.Client and AsyncClient against the Node.js '
                    'engine.io echo server: this project (compiled, pure) '
                    'and python-engineio 4.15.1.')
    parser.add_argument('--quick', action='store_true',
                        help='1 round, 0.5 s warm-up, 2 s window, 100 sync '
                             'connections')
    parser.add_argument('--rounds', type=int, help='default 3 (--quick 1)')
    parser.add_argument('--warmup', type=float,
                        help='seconds before an echo window (default 1)')
    parser.add_argument('--duration', type=float,
                        help='seconds of an echo window (default 5)')
    parser.add_argument('--variants', default=','.join(VARIANTS),
                        help='comma-separated, from %(default)s')
    parser.add_argument('--scenarios',
                        help='comma-separated (default: all): %s'
                        % ', '.join(SCENARIOS))
    parser.add_argument('--connections', type=int, default=1000,
                        help='AsyncClients opened in the async connect '
                             'scenarios (default %(default)s)')
    parser.add_argument('--concurrency', type=int, default=100,
                        help='AsyncClients connecting at once (default '
                             '%(default)s)')
    parser.add_argument('--sync-connections', type=int,
                        help='Clients opened one by one in the sync connect '
                             'scenarios (default 200, --quick 100)')
    parser.add_argument('--warm-connections', type=int, default=20,
                        help='clients connected and closed before a connect '
                             'scenario is timed (default %(default)s)')
    parser.add_argument('--stat', choices=('median', 'best'),
                        default='median',
                        help='per metric, the median over rounds or the best '
                             'round (a busy machine; default %(default)s)')
    parser.add_argument('--setup-ref', action='store_true',
                        help='install what the reference clients need into '
                             '.venv-ref and exit')
    parser.add_argument('--server', choices=('node', 'embedded'),
                        default='node',
                        help="the echo server: Node.js engine.io (default) "
                             "or this project's embedded server")
    parser.add_argument('--server-cpu', type=int, default=0)
    parser.add_argument('--client-cpu', type=int, default=1)
    parser.add_argument('--no-pin', action='store_true')
    parser.add_argument('--json', metavar='PATH',
                        help='where to write the report (default '
                             'bench/results/clients-<time>.json)')
    args = parser.parse_args(argv)
    quick = args.quick
    args.rounds = args.rounds or (1 if quick else 3)
    args.warmup = args.warmup if args.warmup is not None else (
        0.5 if quick else 1.0)
    args.duration = args.duration or (2.0 if quick else 5.0)
    args.sync_connections = args.sync_connections or (100 if quick else 200)
    for name in ('rounds', 'connections', 'concurrency', 'sync_connections'):
        if getattr(args, name) < 1:
            parser.error('--%s: at least 1' % name.replace('_', '-'))
    if args.warm_connections < 0:
        parser.error('--warm-connections: at least 0')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.setup_ref:
        log('bench.clients: %s is ready' % ensure_reference_clients())
        return 0
    names = comma_list(args.variants)
    scenarios = {s.name: s for s in catalog(args)}
    wanted = comma_list(args.scenarios) if args.scenarios else list(scenarios)
    unknown = [n for n in wanted if n not in scenarios]
    if unknown:
        sys.exit('bench.clients: unknown scenario %s (choose from %s)' % (
            ', '.join(unknown), ', '.join(scenarios)))
    chosen = [scenarios[n] for n in wanted]
    if not (NODE_MODULES / 'engine.io').is_dir():
        sys.exit('bench.clients: %s has no engine.io: run make setup'
                 % NODE_MODULES)
    cpus = choose_cpus(args.server_cpu, args.client_cpu, not args.no_pin)
    started = time.strftime('%Y%m%d-%H%M%S')
    load_start = load_average()
    runs: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix='engineio-clients-') as scratch:
        variants = make_variants(names, Path(scratch))
        node = server_variant(args.server, Path(scratch))
        total = len(chosen) * args.rounds * len(variants)
        count = 0
        for scenario in chosen:
            for round_number in range(args.rounds):
                # rotate: every variant goes first once every len() rounds
                shift = round_number % len(variants)
                for variant in variants[shift:] + variants[:shift]:
                    count += 1
                    log('bench.clients: [%d/%d] %s round %d %s' % (
                        count, total, scenario.name, round_number + 1,
                        variant.name))
                    record = one_run(variant, scenario, args, cpus, node)
                    record['round'] = round_number + 1
                    runs.append(record)
                    if 'error' in record:
                        log('bench.clients:   error: %s' %
                            record['error'][:500])
    load_end = load_average()

    med: Dict[str, Dict[str, Dict[str, Optional[float]]]] = {}
    failed: Dict[str, Dict[str, str]] = {}
    spreads: Dict[str, Tuple[float, str]] = {}
    for scenario in chosen:
        for name in names:
            mine = [r for r in runs if r['scenario'] == scenario.name
                    and r['variant'] == name]
            measured = [summarize(r) for r in mine if 'result' in r]
            if not measured:
                failed.setdefault(scenario.name, {})[name] = 'FAILED'
            keys = measured[0].keys() if measured else []
            med.setdefault(scenario.name, {})[name] = {
                k: choose([m[k] for m in measured], k, args.stat)
                for k in keys}
            found = spread([m[scenario.headline] for m in measured])
            if found is not None and found > spreads.get(
                    scenario.name, (-1.0, ''))[0]:
                spreads[scenario.name] = (found, name)

    print()
    print('Engine.IO clients, %s; %d round(s); echo: %g s window after %g s '
          'warm-up; %s' % (started, args.rounds, args.duration, args.warmup,
                           'medians' if args.stat == 'median'
                           else 'best round per metric'))
    print('load average (1/5/15 min): %s at start, %s at end; server on CPU '
          '%s, client on CPU %s' % (load_start, load_end, cpus[0], cpus[1]))
    server_info: Dict[str, Any] = next(
        (r['server'] for r in runs if r.get('server')), {})
    if args.server == 'node':
        print('  server: node %s, engine.io %s, ws %s (bench/e2e/js/server.js:'
              ' echo, default options)' % (server_info.get('node', '?'),
                                           server_info.get('engine.io', '?'),
                                           server_info.get('ws', '?')))
    else:
        print('  server: this project\'s embedded server, %s kernels '
              '(bench/e2e/apps/py_echo.py --mode embedded: echo, default '
              'options)' % server_info.get('kernels', '?'))
    for variant in variants:
        info = variant.info
        versions = info.get('versions') or {}
        print('  %-9s python %s, engineio %s from %s; %s' % (
            variant.name, info.get('python', '?'), info.get('kernels', '?'),
            info.get('engineio_file', '?'), ', '.join(
                '%s %s' % (k, v) for k, v in sorted(versions.items()) if v)))
    verdicts = Verdicts()
    print()
    print('Headline per scenario (×ref: this ÷ the reference, with the '
          "issue's target next to compiled)")
    print(summary_table(chosen, names, med, verdicts))
    for scenario in chosen:
        print()
        print('%s: %s' % (scenario.name, scenario.title))
        print(detail_table(scenario, names, med[scenario.name],
                           failed.get(scenario.name, {})))
        worst = spreads.get(scenario.name)
        if worst and worst[0] > 0:
            print('  largest round-to-round spread %.0f%% (%s)' % (
                worst[0] * 100, worst[1]))
        for name in names:
            m = med[scenario.name].get(name, {})
            busy = m.get('server_cpu_pct')
            if busy is not None and busy > 80:
                print('  note: %s: the server used %.0f%% of its core: this '
                      'row may be the server\'s limit' % (name, busy))
        for r in runs:
            if r['scenario'] == scenario.name and 'error' in r:
                print('  FAILED: %s round %d: %s' % (
                    r['variant'], r['round'], r['error'][:300]))
            result = r.get('result') or {}
            if r['scenario'] == scenario.name and result.get('first_error'):
                print('  error: %s round %d: %s' % (
                    r['variant'], r['round'], result['first_error'][:300]))
    print()
    print('targets: %d met, %d missed%s' % (
        verdicts.met, len(verdicts.missed),
        ': ' + '; '.join(verdicts.missed) if verdicts.missed else ''))

    report = {
        'started': started,
        'argv': sys.argv[1:] if argv is None else argv,
        'platform': platform.platform(), 'cpus': os.cpu_count(),
        'pinning': {'server': cpus[0], 'client': cpus[1]},
        'load_average': {'start': load_start, 'end': load_end},
        'settings': {'rounds': args.rounds, 'warmup': args.warmup,
                     'duration': args.duration,
                     'connections': args.connections,
                     'concurrency': args.concurrency,
                     'sync_connections': args.sync_connections,
                     'warm_connections': args.warm_connections,
                     'stat': args.stat, 'message_size': 100},
        'variants': {v.name: v.info for v in variants},
        'scenarios': {s.name: {'title': s.title, 'kind': s.kind,
                               'target': s.target} for s in chosen},
        'summary': med,
        'targets': {'met': verdicts.met, 'missed': verdicts.missed},
        'runs': runs,
    }
    path = Path(args.json) if args.json else \
        RESULTS / ('clients-%s.json' % started)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1))
    print('report: %s' % path)
    return 1 if any('error' in r for r in runs) else 0


if __name__ == '__main__':
    sys.exit(main())
