"""``python -m bench`` (``make bench``): compiled vs pure vs python-engineio 4.15.1.

Runs the suites in this folder with pytest-benchmark in separate processes, one
per variant, interleaved round by round (compiled, pure, reference, compiled,
pure, reference, ...) so that a change in machine load hits every variant alike,
pinned to one core with ``taskset`` when it exists.  Each variant's result for an
operation is the median over rounds of pytest-benchmark's per-round median.  Then
it prints one table with the ratios the project's issue sets as targets.

Variants:

``compiled``  this project, ``engineio._speedups.IMPLEMENTATION == "cython"``;
              also runs the peers (wsproto, wsaccel, copy, the reference's
              compression path), whose numbers do not depend on the variant;
``pure``      this project with ``ENGINEIO_NO_EXTENSIONS=1``;
``reference`` python-engineio 4.15.1 from PyPI in its own virtualenv
              ``.venv-ref`` (created on first use), run from a temporary copy of
              these files so that its ``import engineio`` cannot find this
              project; the report says which file it imported and the run stops
              if it is not the reference's;
``pypy``      (``--pypy``) this project, pure, under ``.venv-pypy``.

Regression mode (not part of ``make test``): ``--save NAME`` stores a
pytest-benchmark run of this project (compiled, and pure) under
``bench/baseline/``; ``--compare [NAME]`` runs again and fails when an operation's
fastest round is more than ``--threshold`` slower than the stored one.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
REF_VENV = ROOT / '.venv-ref'
PYPY_VENV = ROOT / '.venv-pypy'
BASELINE = BENCH / 'baseline'
RESULTS = BENCH / 'results'
REFERENCE_REQUIREMENT = 'python-engineio==4.15.1'

# Regression mode compares each benchmark's fastest round (min), not its median:
# on the shared 2-core machine a busy neighbour moved medians of the same build
# by up to 1.9x between two runs, while the minimum (the rounds nobody
# interrupted) stayed within 10% but for one 32% spike (48% with the machine
# oversubscribed); see README.md.
REGRESSION_STAT = 'min'
DEFAULT_THRESHOLD = '30%'

# Timing per variant run: pytest-benchmark's --benchmark-max-time (seconds per
# benchmark) and --benchmark-min-rounds, and how many interleaved rounds.
QUICK = {'rounds': 3, 'max_time': '0.05', 'min_rounds': '3'}
FULL = {'rounds': 5, 'max_time': '0.25', 'min_rounds': '5'}

# Targets from the project's foundation issue, as "ours is at least N times as
# fast as X" (X's ns / ours' ns >= N).  Public-API operations compare with the
# reference's same call; kernel operations with a peer.  The pure twins must
# not be slower than the reference on any targeted operation.
API_TARGETS: Dict[str, float] = {
    'packet.text': 15.0,
    'packet.json': 8.0,
    'packet.binary': 2.0,
    'packet.binary_b64': 3.0,
    'payload.binary10': 5.0,
}
KERNEL_TARGETS: Dict[Tuple[str, str], Dict[str, float]] = {
    ('mask.16KiB', 'wsproto'): {'compiled': 50.0, 'pure': 1.0},
    ('mask.16KiB', 'copy'): {'compiled': 0.75},
    ('mask.16B', 'wsproto'): {'pure': 1.0},
    ('websocket.round_trip_125B', 'wsproto'): {'compiled': 20.0, 'pure': 1.0},
    ('compression.gzip_4KiB', 'reference-path'): {'compiled': 1.0, 'pure': 1.0},
    ('compression.deflate_4KiB', 'reference-path'): {'compiled': 1.0, 'pure': 1.0},
}
# Absolute ceilings in ns per operation.
ABSOLUTE_TARGETS: Dict[Tuple[str, str], float] = {
    ('mask.16B', 'compiled'): 50.0,
}
# Row order of the tables; operations not listed follow in name order.
ORDER = [
    'packet.text', 'packet.json', 'packet.binary', 'packet.binary_b64',
    'payload.binary10', 'payload.text10', 'json.dumps_small', 'json.loads_small',
    'json.dumps_event', 'json.loads_event', 'server.post_6B',
    'mask.16B', 'mask.16KiB', 'mask_inplace.16B', 'mask_inplace.16KiB',
    'websocket.round_trip_125B', 'compression.gzip_4KiB',
    'compression.deflate_4KiB',
]
PEER_ORDER = ['reference-path', 'wsproto', 'copy', 'wsaccel']
OURS = ('engineio', 'ours')
# bench.harness.EXPECTED (not imported: harness needs pytest, the runner does not)
EXPECTED_SKIP = 'expected: '


class Variant:
    """One process configuration: which Python, which environment, what to expect."""

    def __init__(self, name: str, python: str, env: Dict[str, str],
                 expect: str, isolated: bool = False,
                 extra_args: Optional[List[str]] = None) -> None:
        self.name = name
        self.python = python
        self.env = env
        self.expect = expect          # the IMPLEMENTATION this process must report
        self.isolated = isolated      # run from a temporary copy, not the work tree
        self.extra_args = extra_args or []
        self.info: Dict[str, Any] = {}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def base_env() -> Dict[str, str]:
    env = dict(os.environ)
    for name in ('ENGINEIO_NO_EXTENSIONS', 'PYTHONPATH', 'ENGINEIO_BENCH_PEERS'):
        env.pop(name, None)
    return env


def installed_version(distribution: str) -> Optional[str]:
    try:
        from importlib.metadata import version
        return version(distribution)
    except Exception:
        return None


def ensure_reference_venv() -> str:
    """Create ``.venv-ref`` with python-engineio 4.15.1 unless it is up to date.

    pytest and pytest-benchmark are pinned to the versions running here, so the
    harness around the timed code is the same in every variant.
    """
    requirements = [REFERENCE_REQUIREMENT]
    for tool in ('pytest', 'pytest-benchmark'):
        version = installed_version(tool)
        requirements.append('%s==%s' % (tool, version) if version else tool)
    python = REF_VENV / 'bin' / 'python'
    marker = REF_VENV / '.installed'
    wanted = '\n'.join(requirements) + '\n'
    if marker.exists() and python.exists() and marker.read_text() == wanted:
        return str(python)
    log('bench: setting up %s (%s)' % (REF_VENV.name, ', '.join(requirements)))
    if not python.exists():
        # venv uses the interpreter this one was made from: the same CPython
        # version for the reference as for this project.
        subprocess.run([sys.executable, '-m', 'venv', str(REF_VENV)], check=True)
    subprocess.run([str(python), '-m', 'pip', 'install', '-q',
                    '--disable-pip-version-check'] + requirements, check=True)
    marker.write_text(wanted)
    return str(python)


def ensure_pypy_venv(python: Path) -> str:
    if not python.exists():
        sys.exit('bench: --pypy needs %s (make setup creates .venv-pypy)' % python)
    probe = subprocess.run([str(python), '-c', 'import pytest_benchmark'],
                           capture_output=True)
    if probe.returncode:
        log('bench: installing pytest-benchmark for %s' % python)
        subprocess.run([str(python), '-m', 'pip', 'install', '-q',
                        '--disable-pip-version-check', 'pytest-benchmark'],
                       check=True)
    return str(python)


def make_variants(names: List[str], pypy: Optional[str] = None) -> List[Variant]:
    variants = []
    for name in names:
        env = base_env()
        if name == 'compiled':
            env['ENGINEIO_BENCH_PEERS'] = '1'
            variants.append(Variant(name, sys.executable, env, 'cython'))
        elif name == 'pure':
            env.update(ENGINEIO_NO_EXTENSIONS='1', ENGINEIO_BENCH_PEERS='0')
            variants.append(Variant(name, sys.executable, env, 'python'))
        elif name == 'reference':
            env['ENGINEIO_BENCH_PEERS'] = '0'
            variants.append(Variant(name, ensure_reference_venv(), env,
                                    'reference', isolated=True))
        elif name == 'pypy':
            env['ENGINEIO_BENCH_PEERS'] = '0'
            variants.append(Variant(name, ensure_pypy_venv(Path(
                pypy or PYPY_VENV / 'bin' / 'python')), env, 'python',
                                    extra_args=['--benchmark-warmup=on']))
        else:
            sys.exit('bench: unknown variant %r' % name)
    return variants


def isolated_copy() -> Path:
    """Copy the suites into a temporary ``<tmp>/bench`` package.

    pytest puts the folder above the package on ``sys.path``; there it finds
    only ``bench``, so ``import engineio`` resolves to the virtualenv's.
    """
    top = Path(tempfile.mkdtemp(prefix='engineio-bench-'))
    (top / 'bench').mkdir()
    for source in BENCH.glob('*.py'):
        shutil.copy2(source, top / 'bench' / source.name)
    (top / 'pytest.ini').write_text('[pytest]\n')  # pins pytest's rootdir here
    return top


def pin_prefix(cpu: Optional[int]) -> List[str]:
    if cpu is None:
        return []
    return ['taskset', '-c', str(cpu)]


def choose_cpu(requested: Optional[int], enabled: bool) -> Optional[int]:
    if not enabled or shutil.which('taskset') is None \
            or not hasattr(os, 'sched_getaffinity'):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    if requested is not None:
        return requested if requested in allowed else None
    # CPU 1 when it exists: CPU 0 tends to take the machine's interrupts.
    return 1 if 1 in allowed else allowed[-1]


def run_pytest(variant: Variant, pytest_args: List[str], cpu: Optional[int],
               scratch: Optional[Path] = None,
               capture: bool = True) -> Tuple[int, str]:
    """Run the suites in ``variant``'s process; return pytest's exit code and output.

    With ``capture`` the output (pytest-benchmark's own tables included) is
    returned for the failure report instead of printed.
    """
    cwd = scratch if variant.isolated else ROOT
    command = pin_prefix(cpu) + [variant.python]
    if variant.isolated:
        command.append('-I')  # no PYTHONPATH, no user site, no cwd on sys.path
    command += ['-m', 'pytest', 'bench', '-q', '-p', 'no:cacheprovider',
                '--benchmark-only'] + variant.extra_args + pytest_args
    if capture:
        # a wide terminal, so that pytest does not cut the FAILED lines we report
        completed = subprocess.run(
            command + ['--benchmark-quiet'], cwd=str(cwd),
            env=dict(variant.env, COLUMNS='400'),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return completed.returncode, completed.stdout
    return subprocess.run(command, cwd=str(cwd), env=variant.env).returncode, ''


def failures_in(output: str) -> List[str]:
    return [line for line in output.splitlines()
            if line.startswith(('FAILED', 'ERROR'))]


def check_identity(variant: Variant, info: Dict[str, Any]) -> Optional[str]:
    """Return a problem when a variant did not import the engineio it should."""
    implementation = info.get('implementation')
    where = info.get('file') or ', '.join(info.get('path') or []) or '?'
    if variant.name == 'reference':
        if implementation != 'reference' or \
                not where.startswith(str(REF_VENV.resolve())):
            return 'reference run imported %s engineio from %s' % (
                implementation, where)
        return None
    if implementation != variant.expect:
        return '%s run has IMPLEMENTATION=%r (expected %r): %s' % (
            variant.name, implementation, variant.expect,
            info.get('error', where))
    return None


# ---------------------------------------------------------------------------
# results

Samples = Dict[Tuple[str, str, str], List[float]]   # (variant, op, impl) -> ns per op


def collect(report: Dict[str, Any], variant: str, samples: Samples,
            stat: str) -> None:
    for bench in report.get('benchmarks', []):
        extra = bench.get('extra_info') or {}
        if 'op' not in extra:
            continue
        ns = bench['stats'][stat] / extra.get('ops', 1) * 1e9
        samples.setdefault((variant, extra['op'], extra['impl']), []).append(ns)


def medians(samples: Samples) -> Dict[Tuple[str, str, str], float]:
    return {key: statistics.median(values) for key, values in samples.items()}


def spread(values: List[float]) -> float:
    return (max(values) - min(values)) / statistics.median(values) \
        if len(values) > 1 else 0.0


def format_ns(ns: Optional[float]) -> str:
    if ns is None:
        return '—'
    if ns < 1e3:
        return '%.0f ns' % ns if ns >= 10 else '%.1f ns' % ns
    if ns < 1e6:
        return '%.2f µs' % (ns / 1e3) if ns < 1e4 else '%.1f µs' % (ns / 1e3)
    return '%.2f ms' % (ns / 1e6)


def format_ratio(value: Optional[float]) -> str:
    if value is None:
        return '—'
    return '%.2fx' % value if value < 10 else '%.1fx' % value


# "Not slower" (a 1x target) between two runs of the same C routine, such as
# zlib under both implementations, is a coin toss at the 1-3% level: a ratio
# this close below 1x is reported as a tie rather than a miss.
TIE_MARGIN = 0.05


class Verdicts:
    """Tallies each target as met, tied (a 1x target within TIE_MARGIN), or missed."""

    def __init__(self) -> None:
        self.met = 0
        self.ties: List[str] = []
        self.missed: List[str] = []
        self.unmeasured: List[str] = []

    def ratio(self, label: str, value: Optional[float],
              target: Optional[float]) -> str:
        text = format_ratio(value)
        if target is None:
            return text
        goal = '≥%gx' % target
        if value is None:
            self.unmeasured.append(label)
            return '— %s' % goal
        if value >= target:
            self.met += 1
            return '%s %s ✓' % (text, goal)
        if target == 1.0 and value >= 1.0 - TIE_MARGIN:
            self.ties.append('%s (%s)' % (label, text))
            return '%s %s ≈' % (text, goal)
        self.missed.append('%s (%s, target %s)' % (label, text, goal))
        return '%s %s ✗' % (text, goal)

    def ceiling(self, label: str, ns: Optional[float], limit: float) -> str:
        goal = '≤%g ns' % limit
        if ns is None:
            self.unmeasured.append(label)
            return '— %s' % goal
        if ns <= limit:
            self.met += 1
            return '%s ✓' % goal
        self.missed.append('%s (%s, target %s)' % (label, format_ns(ns), goal))
        return '%s ✗' % goal


def ordered(ops: List[str]) -> List[str]:
    known = [op for op in ORDER if op in ops]
    return known + sorted(op for op in ops if op not in ORDER)


def speedup(slow: Optional[float], fast: Optional[float]) -> Optional[float]:
    return slow / fast if slow and fast else None


def render_table(header: List[str], rows: List[List[str]]) -> str:
    widths = [max(len(row[i]) for row in [header] + rows)
              for i in range(len(header))]
    lines = []
    for number, row in enumerate([header] + rows):
        cells = [row[0].ljust(widths[0])] + \
            [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]
        lines.append('  '.join(cells).rstrip())
        if number == 0:
            lines.append('  '.join('-' * width for width in widths))
    return '\n'.join(lines)


def report_tables(results: Dict[Tuple[str, str, str], float],
                  variant_names: List[str], verdicts: Verdicts) -> str:
    ours_variants = [v for v in variant_names if v != 'reference']

    def ns(variant: str, op: str, impl: str) -> Optional[float]:
        return results.get((variant, op, impl))

    api_ops = ordered(sorted({op for (_, op, impl) in results if impl == 'engineio'}))
    kernel_ops = ordered(sorted({op for (_, op, impl) in results if impl != 'engineio'}))
    out = []

    if api_ops:
        header = ['public API, ns/op'] + variant_names
        if 'reference' in variant_names:
            header += ['%s vs ref' % v for v in ours_variants]
        if 'compiled' in variant_names and 'pure' in variant_names:
            header.append('compiled vs pure')
        rows = []
        for op in api_ops:
            row = [op] + [format_ns(ns(v, op, 'engineio')) for v in variant_names]
            if 'reference' in variant_names:
                reference = ns('reference', op, 'engineio')
                for v in ours_variants:
                    target = API_TARGETS.get(op)
                    if v == 'pure' and target is not None:
                        target = 1.0  # the pure twins: not slower than the reference
                    elif v != 'compiled':
                        target = None  # PyPy: shown, but the issue sets no target
                    row.append(verdicts.ratio('%s %s vs reference' % (op, v),
                                              speedup(reference, ns(v, op, 'engineio')),
                                              target))
            if 'compiled' in variant_names and 'pure' in variant_names:
                row.append(format_ratio(speedup(ns('pure', op, 'engineio'),
                                                ns('compiled', op, 'engineio'))))
            rows.append(row)
        out.append(render_table(header, rows))

    if kernel_ops:
        peers_seen = {impl for (_, _, impl) in results if impl not in OURS}
        peers = [p for p in PEER_ORDER if p in peers_seen] + \
            sorted(peers_seen - set(PEER_ORDER))
        header = ['kernels, ns/op'] + ours_variants + ['peer', 'peer ns/op'] + \
            ['%s vs peer' % v for v in ours_variants]
        rows = []
        for op in kernel_ops:
            ours = [ns(v, op, 'ours') for v in ours_variants]
            first = [op] + [format_ns(value) for value in ours]
            op_peers = [p for p in peers
                        if any(ns(v, op, p) is not None for v in variant_names)
                        or (op, p) in KERNEL_TARGETS]
            ceilings = [(v, limit) for (target_op, v), limit in ABSOLUTE_TARGETS.items()
                        if target_op == op and v in ours_variants]
            if not op_peers and not ceilings:
                rows.append(first + ['', ''] + [''] * len(ours_variants))
                continue
            for index, peer in enumerate(op_peers):
                peer_ns = None
                for v in variant_names:  # peers run in one variant only
                    peer_ns = peer_ns or ns(v, op, peer)
                targets = KERNEL_TARGETS.get((op, peer), {})
                cells = [verdicts.ratio('%s %s vs %s' % (op, v, peer),
                                        speedup(peer_ns, value), targets.get(v))
                         for v, value in zip(ours_variants, ours)]
                lead = first if index == 0 else [''] * (1 + len(ours_variants))
                rows.append(lead + [peer, format_ns(peer_ns)] + cells)
            for v, limit in ceilings:
                cells = [verdicts.ceiling('%s %s' % (op, v), value, limit)
                         if variant == v else ''
                         for variant, value in zip(ours_variants, ours)]
                lead = first if not op_peers else [''] * (1 + len(ours_variants))
                rows.append(lead + ['(absolute)', ''] + cells)
        out.append(render_table(header, rows))
    return '\n\n'.join(out)


# ---------------------------------------------------------------------------
# modes

class Run:
    """What the interleaved rounds gathered."""

    def __init__(self, stat: str) -> None:
        self.stat = stat                               # pytest-benchmark's statistic
        self.samples: Samples = {}
        self.skipped: Dict[str, Dict[str, str]] = {}   # variant -> nodeid -> reason
        self.problems: List[str] = []
        self.failures: Dict[str, List[str]] = {}       # variant -> FAILED lines

    def read(self, variant: Variant, report: Dict[str, Any]) -> None:
        variant.info = report.get('engineio', {})
        problem = check_identity(variant, variant.info)
        if problem:
            if variant.name == 'reference':
                # a "reference" column measuring this project would make
                # every ratio a lie: stop rather than print it
                sys.exit('bench: ' + problem)
            if problem not in self.problems:
                self.problems.append(problem)
        for item in report.get('skipped', []):
            if not item['reason'].startswith(EXPECTED_SKIP):
                self.skipped.setdefault(variant.name, {})[item['nodeid']] = \
                    item['reason']
        collect(report, variant.name, self.samples, self.stat)


def run_rounds(variants: List[Variant], rounds: int, pytest_args: List[str],
               cpu: Optional[int], out_dir: Path, stat: str) -> Run:
    run = Run(stat)
    scratch = isolated_copy() if any(v.isolated for v in variants) else None
    try:
        for round_number in range(1, rounds + 1):
            for variant in variants:
                path = out_dir / ('%s-%d.json' % (variant.name, round_number))
                log('bench: round %d/%d %-9s ...' % (round_number, rounds,
                                                     variant.name))
                code, output = run_pytest(
                    variant, pytest_args + ['--benchmark-json=%s' % path], cpu,
                    scratch)
                if code not in (0, 1, 5):  # 1: a benchmark's check failed
                    log(output[-4000:])
                    sys.exit('bench: the %s run failed (pytest exit %d)'
                             % (variant.name, code))
                lines = run.failures.setdefault(variant.name, [])
                lines += [line for line in failures_in(output) if line not in lines]
                if path.exists():  # not written when nothing selected ran
                    run.read(variant, json.loads(path.read_text()))
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return run


def print_report(run: Run, variants: List[Variant], header: str) -> None:
    verdicts = Verdicts()
    print()
    print(header)
    for variant in variants:
        info = variant.info
        if not info:
            print('  %-9s (ran no benchmark)' % variant.name)
            continue
        print('  %-9s %s %s (%s) %s' % (
            variant.name, info.get('python', '?'),
            'python-engineio' if variant.name == 'reference' else 'engineio',
            '%s %s' % (info.get('version', '?'), info.get('implementation', '?')),
            info.get('file') or ', '.join(info.get('path') or [])))
    print('  "X vs Y" = how many times faster X is than Y (Y ns / X ns);'
          ' targets from the foundation issue')
    for problem in run.problems:
        print('WARNING: ' + problem)
    print()
    print(report_tables(medians(run.samples), [v.name for v in variants],
                        verdicts))
    print()
    worst = max(((spread(values), key) for key, values in run.samples.items()
                 if len(values) > 1), default=None)
    if worst:
        print('largest round-to-round spread: %.0f%% (%s %s %s)'
              % (worst[0] * 100, worst[1][0], worst[1][1], worst[1][2]))
    print('targets: %d met, %d tied (≈: "not slower" within %d%%), %d missed, '
          '%d not measured' % (verdicts.met, len(verdicts.ties),
                               TIE_MARGIN * 100, len(verdicts.missed),
                               len(verdicts.unmeasured)))
    for line in verdicts.missed:
        print('  missed: ' + line)
    for problem in run.problems:  # again, next to the verdicts it spoils
        print('WARNING: ' + problem)
    for name, lines in run.failures.items():
        for line in lines:
            print('WARNING: %s run: %s' % (name, line))
    reasons: Dict[str, List[str]] = {}
    for name, items in run.skipped.items():
        for nodeid, reason in items.items():
            reasons.setdefault(reason, []).append('%s:%s' % (
                name, nodeid.split('::')[-1]))
    for reason, where in sorted(reasons.items()):
        print('skipped (%s): %s' % (reason, ', '.join(sorted(set(where)))))


def comparison_run(args: argparse.Namespace) -> int:
    timing = QUICK if args.quick else FULL
    rounds = args.rounds or timing['rounds']
    names = [n.strip() for n in args.variants.split(',') if n.strip()]
    if args.pypy and 'pypy' not in names:
        names.append('pypy')
    variants = make_variants(names, args.pypy)
    cpu = choose_cpu(args.cpu, not args.no_pin)
    pinning = 'pinned to CPU %d' % cpu if cpu is not None else 'not pinned'
    out_dir = Path(args.results) if args.results \
        else RESULTS / time.strftime('%Y%m%d-%H%M%S')
    out_dir.mkdir(parents=True, exist_ok=True)
    pytest_args = ['--benchmark-max-time=%s' % timing['max_time'],
                   '--benchmark-min-rounds=%s' % timing['min_rounds']]
    if args.k:
        pytest_args += ['-k', args.k]
    log('bench: %d round(s) of %s, %s' % (
        rounds, ' → '.join(v.name for v in variants), pinning))
    warn_if_busy()
    started = time.monotonic()
    run = run_rounds(variants, rounds, pytest_args, cpu, out_dir, args.stat)
    print_report(run, variants,
                 'engineio benchmarks: median over %d interleaved round(s) of '
                 'each run\'s %s, %s, %s'
                 % (rounds, args.stat, pinning, 'quick' if args.quick else 'full'))
    print('raw pytest-benchmark JSON: %s  (%.0f s)' % (
        out_dir, time.monotonic() - started))
    return 0


def warn_if_busy() -> None:
    """Say so when other work already keeps the machine's cores busy.

    Pinning guards against the scheduler, not against a neighbour on the other
    core sharing caches and memory bandwidth: with a load average above the
    cores we do not use, minima moved by up to 48% here.
    """
    if not hasattr(os, 'getloadavg'):
        return
    load = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    if load > max(cores - 1, 0.5):
        log('bench: WARNING: load average %.1f on %d cores: other work is '
            'running, expect noisy numbers' % (load, cores))


def machine_id() -> str:
    """The folder pytest-benchmark files this interpreter's saved runs under."""
    return '%s-%s-%s-%s' % (platform.system(), platform.python_implementation(),
                            '.'.join(platform.python_version_tuple()[:2]),
                            platform.architecture()[0])


def regression_run(args: argparse.Namespace) -> int:
    """Save or compare a pytest-benchmark baseline of this project's own code.

    Runs the compiled and the pure variant (not the reference, not the peers:
    a slower wsproto is no regression of this project), each against its own
    storage under ``bench/baseline/<variant>/``.  Returns 1 when pytest-benchmark
    reports a median slower than the baseline by more than the threshold.
    """
    cpu = choose_cpu(args.cpu, not args.no_pin)
    timing = QUICK if args.quick else FULL
    warn_if_busy()
    status = 0
    for variant in make_variants(['compiled', 'pure']):
        variant.env['ENGINEIO_BENCH_PEERS'] = '0'
        storage = BASELINE / variant.name
        pytest_args = ['--benchmark-storage=file://%s' % storage,
                       '--benchmark-max-time=%s' % timing['max_time'],
                       '--benchmark-min-rounds=%s' % timing['min_rounds'],
                       '--benchmark-sort=name',
                       '--benchmark-columns=min,median,iqr,rounds']
        if args.k:
            pytest_args += ['-k', args.k]
        if args.save:
            # Replace an earlier baseline of the same name rather than keep both:
            # --compare NAME would compare against every file it matches.
            for old in (storage / machine_id()).glob('[0-9]*_%s.json' % args.save):
                log('bench: replacing %s' % old.relative_to(ROOT))
                old.unlink()
            pytest_args.append('--benchmark-save=%s' % args.save)
        else:
            # stored files are named NNNN_NAME.json: a glob picks one by name
            pytest_args.append('--benchmark-compare' if args.compare is True
                               else '--benchmark-compare=*_%s' % args.compare)
            pytest_args.append('--benchmark-compare-fail=%s:%s'
                               % (REGRESSION_STAT, args.threshold))
        log('bench: %s %s (%s)' % ('saving' if args.save else 'comparing',
                                   variant.name, storage.relative_to(ROOT)))
        code, _ = run_pytest(variant, pytest_args, cpu, capture=False)
        if code not in (0, 5):
            status = 1
    if status and not args.save:
        log('bench: slower than the baseline by more than %s (or the run '
            'failed): see the tables above' % args.threshold)
    return status


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='python -m bench',
        description='Benchmark this engineio (compiled and pure) against '
                    'python-engineio 4.15.1, side by side.')
    parser.add_argument('--quick', action='store_true',
                        help='3 short rounds instead of 5 long ones (under a minute)')
    parser.add_argument('--rounds', type=int,
                        help='interleaved rounds (default 5, quick 3)')
    parser.add_argument('-k', metavar='EXPR',
                        help="pytest -k expression selecting benchmarks, "
                             "e.g. 'packet or mask'")
    parser.add_argument('--variants', default='compiled,pure,reference',
                        help='comma-separated, in run order '
                             '(compiled, pure, reference, pypy)')
    parser.add_argument('--pypy', nargs='?', metavar='PYTHON',
                        const=str(PYPY_VENV / 'bin' / 'python'),
                        help='add this project, pure, under PyPy (default '
                             '.venv-pypy/bin/python; pytest-benchmark is '
                             'installed into it when missing)')
    parser.add_argument('--stat', choices=['median', 'min'], default='median',
                        help="which of pytest-benchmark's statistics of a run "
                             "to take (default median; min, the fastest round, "
                             "is steadier on a busy machine)")
    parser.add_argument('--cpu', type=int, help='CPU to pin to (default 1)')
    parser.add_argument('--no-pin', action='store_true',
                        help='do not pin to one CPU with taskset')
    parser.add_argument('--results', metavar='DIR',
                        help='where to keep the JSON reports '
                             '(default bench/results/<time>)')
    parser.add_argument('--setup-ref', action='store_true',
                        help='only create/update .venv-ref and exit')
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--save', metavar='NAME',
                      help='regression mode: store a baseline under bench/baseline/')
    mode.add_argument('--compare', metavar='NAME', nargs='?', const=True,
                      help='regression mode: compare with the latest (or NAME) '
                           'baseline and fail on a slowdown')
    parser.add_argument('--threshold', default=DEFAULT_THRESHOLD,
                        help='regression mode: allowed slowdown of the fastest round '
                             '(default %(default)s)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.setup_ref:
        print(ensure_reference_venv())
        return 0
    if args.save or args.compare:
        return regression_run(args)
    return comparison_run(args)


if __name__ == '__main__':
    sys.exit(main())
