"""The end-to-end load harness (``python -m bench.e2e``) works, end to end, at
tiny scale: its idle and broadcast scenarios against this project on
uvicorn, under the real Node.js load generator.

This checks the harness, not the speed: every assertion is about what the
generator counted (connections opened and still open, messages delivered to
every client at the rate asked for, no errors) and about the report it
wrote.  One harness process runs both scenarios (~15 s), and
``python -m bench.e2e.floor`` measures uvicorn's bare floor, the ping floor
and this project on one stack (~15 s).  The variant is
``compiled``, or ``pure`` in the ``ENGINEIO_NO_EXTENSIONS=1`` run.  Skipped
where uvicorn is missing (PyPy) and, outside CI, where Node or
``tests/js/node_modules`` is missing.
"""
import json
import os
import subprocess
import sys

import pytest

from tests.loopback import node

pytest.importorskip('uvicorn')

from engineio import _speedups  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IDLE = 50
CLIENTS = 20
HZ = 10
DURATION = 2.0


@pytest.fixture(scope='module')
def report(tmp_path_factory):
    node('ws')
    node('engine.io')
    if _speedups.NO_EXTENSIONS:
        variant = 'pure'
    elif _speedups.IMPLEMENTATION == 'cython':
        variant = 'compiled'
    else:
        pytest.skip('the compiled kernels are not built here')
    path = tmp_path_factory.mktemp('e2e') / 'report.json'
    env = dict(os.environ)
    env.pop('ENGINEIO_NO_EXTENSIONS', None)   # the harness sets it per variant
    completed = subprocess.run(
        [sys.executable, '-m', 'bench.e2e', '--quick', '--no-pin',
         '--variants', variant, '--modes', 'asgi',
         '--scenarios', 'idle,broadcast',
         '--idle-sizes', str(IDLE), '--idle-window', '2',
         '--broadcast-clients', str(CLIENTS), '--broadcast-hz', str(HZ),
         '--warmup', '0.5', '--duration', str(DURATION),
         '--json', str(path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    with open(path) as f:
        data = json.load(f)
    data['stdout'] = completed.stdout
    data['variant'] = variant
    return data


def run_of(report, scenario):
    runs = [r for r in report['runs'] if r['scenario'] == scenario]
    assert len(runs) == 1, runs
    assert runs[0]['label'] == 'asgi ' + report['variant']
    return runs[0]['result']


def no_errors(result):
    assert 'error' not in result, result
    assert sum(result['errors'].values()) == 0, result['errors']


def test_idle_counts_every_connection(report):
    result = run_of(report, 'idle_%d' % IDLE)
    no_errors(result)
    warm = result['warm']
    assert result['clients'] == IDLE
    # none closed while idle: the N measured plus the ones opened first
    assert result['still_open'] == IDLE + warm
    assert result['conns_per_s'] > 0
    baseline = result['server_rss_baseline_kb']
    assert baseline > 10_000                   # a Python server's RSS, in KB
    assert result['server_rss_kb'] >= baseline
    assert result['rss_per_conn_kb'] == pytest.approx(
        (result['server_rss_kb'] - baseline) / IDLE)
    assert result['server_cpu_pct'] is not None
    # the window is shorter than the 25 s ping interval: no ping fell in it
    assert result['pings'] == 0
    assert report['summary']['idle_%d' % IDLE]['asgi ' + report['variant']][
        'rss_per_conn_kb'] == result['rss_per_conn_kb']


def test_broadcast_reaches_every_client(report):
    result = run_of(report, 'broadcast')
    no_errors(result)
    assert result['clients'] == CLIENTS == result['still_open']
    assert result['expected_per_s'] == CLIENTS * HZ
    rounds = HZ * result['seconds']
    # each round reaches every client (counts differ only by the rounds cut
    # by the window's edges), none twice, at about the rate asked for (a
    # server stalled by a busy machine skips rounds rather than bursting)
    assert result['per_client_max'] - result['per_client_min'] <= 2, result
    assert rounds / 2 <= result['per_client_min'], result
    assert result['per_client_max'] <= rounds + 2, result
    assert result['messages'] >= CLIENTS * rounds / 2
    lag = result['latency_us']
    # the lag is measured from the server's clock in the message: positive
    # and well under a second on loopback
    assert 0 < lag['p50'] <= lag['p99'] < 1e6, lag
    assert result['server_cpu_us_per_msg'] is not None


def test_tables_name_the_new_scenarios(report):
    out = report['stdout']
    assert 'idle_%d:' % IDLE in out
    assert 'KB/conn' in out and 'idle CPU' in out
    assert 'broadcast:' in out and 'lag p99 ms' in out
    assert 'FAILED' not in out
    assert report['settings']['modes'] == ['asgi']


# -- bench/e2e/floor.py: uvicorn's own floor beside the Engine.IO app ------

FLOOR_N = 30


@pytest.fixture(scope='module')
def floor_report(tmp_path_factory):
    node('ws')
    pytest.importorskip('websockets')
    variant = 'pure' if _speedups.NO_EXTENSIONS else 'compiled'
    path = tmp_path_factory.mktemp('floor') / 'floor.json'
    env = dict(os.environ)
    env.pop('ENGINEIO_NO_EXTENSIONS', None)   # the tool sets it per app
    completed = subprocess.run(
        [sys.executable, '-m', 'bench.e2e.floor', '--no-pin',
         '--sizes', str(FLOOR_N), '--ws', 'websockets-sansio',
         '--pings', 'none', '--apps', 'bare,ping,' + variant,
         '--window', '1', '--json', str(path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    with open(path) as f:
        data = json.load(f)
    data['stdout'] = completed.stdout
    data['variant'] = variant
    return data


def test_floor_measures_each_app_on_the_same_stack(floor_report):
    runs = floor_report['runs']
    assert [r['app'] for r in runs] == ['bare', 'ping',
                                        floor_report['variant']]
    for run in runs:
        result = run['result']
        no_errors(result)
        assert (run['ws'], run['ping'], run['clients']) == (
            'websockets-sansio', 'none', FLOOR_N)
        assert result['still_open'] == FLOOR_N + result['warm']
        assert result['rss_per_conn_kb'] is not None
        assert run['server']['ws'] == 'websockets-sansio'
        assert run['server']['ws_ping_interval'] is None
        # websockets-sansio keeps no task of its own: one ASGI task per
        # connection, for the bare app and for ours alike (the ping app
        # adds its one pinger task)
        held = FLOOR_N + result['warm']
        extra = 1 if run['app'] == 'ping' else 0
        assert result['tasks_max'] - result['tasks_idle_server'] == \
            held + extra, result
    ours = runs[-1]['server']
    assert ours['kernels'] == ('python' if floor_report['variant'] == 'pure'
                               else 'cython')
    assert ours['engineio_file'].startswith(os.path.join(ROOT, 'engineio'))
    out = floor_report['stdout']
    assert 'KB/conn' in out and 'tasks/conn' in out and 'FAILED' not in out
