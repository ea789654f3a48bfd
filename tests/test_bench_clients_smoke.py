"""The client benchmark harness (``python -m bench.clients``) works, end to end,
at tiny scale: every scenario against the official Node.js server, with this
project's ``Client`` and ``AsyncClient``.

This checks the harness, not the speed: every assertion is about what the
client process counted (each echo matched to a message sent, none lost, every
connection open on the right transport with its own sid, nothing left running
after the disconnects) and about the report it wrote.  One harness process
runs all the scenarios once (~15 s).  The variant is ``compiled``, or ``pure``
in the ``ENGINEIO_NO_EXTENSIONS=1`` run.  Skipped where requests or aiohttp
is missing (PyPy) and, outside CI, where Node or ``tests/js/node_modules`` is.
"""
import json
import os
import subprocess
import sys

import pytest

from tests.loopback import node

pytest.importorskip('requests')
pytest.importorskip('aiohttp')

from engineio import _speedups  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONNECTIONS = 30          # async connect scenarios
SYNC_CONNECTIONS = 8      # sync connect scenarios
WARM = 2
ECHO = {  # scenario: messages in flight
    'sync_ws_echo': 1, 'sync_ws_pipelined': 10, 'async_ws_echo': 1,
    'async_ws_pipelined': 10, 'sync_polling_echo': 1,
    'async_polling_echo': 1}
CONNECT = {  # scenario: clients opened
    'async_connect_ws': CONNECTIONS, 'async_connect_upgrade': CONNECTIONS,
    'sync_connect_ws': SYNC_CONNECTIONS,
    'sync_connect_upgrade': SYNC_CONNECTIONS}


@pytest.fixture(scope='module')
def report(tmp_path_factory):
    node('engine.io')
    if _speedups.NO_EXTENSIONS:
        variant = 'pure'
    elif _speedups.IMPLEMENTATION == 'cython':
        variant = 'compiled'
    else:
        pytest.skip('the compiled kernels are not built here')
    path = tmp_path_factory.mktemp('clients') / 'report.json'
    env = dict(os.environ)
    env.pop('ENGINEIO_NO_EXTENSIONS', None)  # the harness sets it per variant
    completed = subprocess.run(
        [sys.executable, '-m', 'bench.clients', '--no-pin',
         '--variants', variant, '--rounds', '1',
         '--warmup', '0.1', '--duration', '0.4',
         '--connections', str(CONNECTIONS), '--concurrency', '10',
         '--sync-connections', str(SYNC_CONNECTIONS),
         '--warm-connections', str(WARM), '--json', str(path)],
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
    run = runs[0]
    assert 'error' not in run, run
    assert run['variant'] == report['variant']
    # the client process ran this tree's engineio, with the right kernels
    identity = run['identity']
    assert identity['engineio_file'].startswith(
        os.path.join(ROOT, 'engineio'))
    assert identity['kernels'] == ('python' if report['variant'] == 'pure'
                                   else 'cython')
    # a fresh official server per run
    assert run['server']['engine.io'].startswith('6.')
    return run


@pytest.mark.parametrize('scenario', sorted(ECHO))
def test_echo_counts_every_message(report, scenario):
    run = run_of(report, scenario)
    result = run['result']
    assert result['inflight'] == ECHO[scenario]
    # every message sent came back once, unaltered, and nothing is missing
    assert result['errors'] == 0, result['first_error']
    assert result['lost'] == 0
    assert result['received'] == result['sent'] > 0
    # the window counted some of them; the rate is that count over the window
    assert 0 < result['echoes'] <= result['received']
    assert result['seconds'] >= 0.4
    assert result['per_s'] == pytest.approx(result['echoes'] /
                                            result['seconds'])
    assert result['client_cpu_us'] > 0
    assert result['server_cpu_us'] is not None
    teardown = run['teardown']
    assert teardown['state'] == 'disconnected'
    left = teardown.get('threads_left', teardown.get('tasks_left'))
    assert left == 0
    assert report['summary'][scenario][report['variant']]['msgs_per_s'] == \
        result['per_s']


@pytest.mark.parametrize('scenario', sorted(CONNECT))
def test_connect_opens_every_client(report, scenario):
    run = run_of(report, scenario)
    result = run['result']
    clients = CONNECT[scenario]
    assert result['connections'] == result['connected'] == clients
    assert result['unique_sids'] == clients
    assert result['failed'] == result['warm_failed'] == 0
    # polling-then-upgrade clients end up on the WebSocket too
    assert result['transport'] == 'websocket'
    assert result['wrong_transport'] == 0 and result['errors'] == 0
    assert result['concurrency'] == (1 if scenario.startswith('sync_')
                                     else 10)
    assert result['per_s'] == pytest.approx(clients / result['seconds'])
    teardown = run['teardown']
    assert teardown['still_connected'] == 0
    left = teardown.get('threads_left', teardown.get('tasks_left'))
    assert left == 0


def test_tables_name_every_scenario(report):
    out = report['stdout']
    for scenario in list(ECHO) + list(CONNECT):
        assert '\n%s: ' % scenario in out          # its detail table
        assert report['summary'][scenario][report['variant']]
    assert 'Headline per scenario' in out
    assert 'FAILED' not in out
    assert report['settings']['connections'] == CONNECTIONS
    assert report['variants'][report['variant']]['kernels'] in (
        'cython', 'python')
