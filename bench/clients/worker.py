"""One run of one client benchmark, in a process of its own.

Usage: ``python worker.py '<json config>'`` (the orchestrator,
``python -m bench.clients``, builds the config and runs this file under each
variant's Python; the reference's copy of it runs with ``-I`` from a
temporary folder, so that ``import engineio`` finds python-engineio 4.15.1).
The file imports nothing from this work tree but ``engineio``: the same code
drives this project's clients and the reference's.

It prints JSON lines on stdout: first what it imported (``engineio_file``,
``kernels``, versions), then the result of the measurement as soon as it is
taken, then the teardown's (disconnect time, threads or tasks left over).
The result comes before the teardown so that a run whose clients hang while
disconnecting still has its numbers.

Config keys: ``scenario`` (a name from :data:`SCENARIOS`), ``url`` (the
server, ``http://127.0.0.1:<port>``), ``server_pid`` (for its CPU time from
``/proc``), ``warmup`` and ``duration`` (seconds, echo scenarios),
``connections``, ``concurrency`` and ``warm_connections`` (connect
scenarios), ``size`` (message bytes).
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

#: what each scenario is: (kind, client, transports, messages in flight)
#: kind 'echo' measures echoes through the ``message`` handler over a
#: window; 'connect' opens ``connections`` clients and times it
SCENARIOS: Dict[str, Tuple[str, str, Optional[List[str]], int]] = {
    'sync_ws_echo': ('echo', 'sync', ['websocket'], 1),
    'sync_ws_pipelined': ('echo', 'sync', ['websocket'], 10),
    'async_ws_echo': ('echo', 'async', ['websocket'], 1),
    'async_ws_pipelined': ('echo', 'async', ['websocket'], 10),
    'sync_polling_echo': ('echo', 'sync', ['polling'], 1),
    'async_polling_echo': ('echo', 'async', ['polling'], 1),
    'async_connect_ws': ('connect', 'async', ['websocket'], 0),
    'async_connect_upgrade': ('connect', 'async', None, 0),
    'sync_connect_ws': ('connect', 'sync', ['websocket'], 0),
    'sync_connect_upgrade': ('connect', 'sync', None, 0),
}

#: seconds allowed for in-flight echoes to arrive once sending stopped, and
#: for one connect or disconnect
DRAIN_TIMEOUT = 10.0
CONNECT_TIMEOUT = 10.0


def emit(record: Dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + '\n')
    sys.stdout.flush()


def kernels() -> Optional[str]:
    try:
        from engineio import _speedups  # type: ignore[attr-defined]
        return getattr(_speedups, 'IMPLEMENTATION', None)
    except ImportError:
        return 'reference'        # python-engineio has no _speedups


def version_of(name: str) -> Optional[str]:
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:
        return None


def identity() -> Dict[str, Any]:
    import engineio
    return {
        'pid': os.getpid(),
        'engineio_file': engineio.__file__,
        'kernels': kernels(),
        'python': sys.version.split()[0],
        'versions': {name: version_of(name) for name in (
            'aiohttp', 'requests', 'urllib3', 'websocket-client')},
    }


def process_cpu_seconds(pid: int) -> Optional[float]:
    """utime + stime of process ``pid`` (all its threads), from /proc."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rpartition(')')[2].split()
    except OSError:
        return None
    # after the command: state is field 3, utime 14 and stime 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


class Meter:
    """Wall clock, this process's CPU and the server's CPU at one moment."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.wall = time.perf_counter()
        self.cpu = time.process_time()
        self.server_cpu = process_cpu_seconds(server_pid)

    def since(self, start: 'Meter', count: int, what: str) -> Dict[str, Any]:
        """The rates between ``start`` and this moment, for ``count``
        operations (echoes or connections) called ``what``."""
        seconds = self.wall - start.wall
        out: Dict[str, Any] = {
            'seconds': seconds, what: count,
            'per_s': count / seconds if seconds > 0 else None,
            'client_cpu_us': (self.cpu - start.cpu) * 1e6 / count
            if count else None,
            'client_cpu_pct': (self.cpu - start.cpu) * 100 / seconds
            if seconds > 0 else None,
            'server_cpu_us': None, 'server_cpu_pct': None}
        if self.server_cpu is not None and start.server_cpu is not None:
            used = self.server_cpu - start.server_cpu
            out['server_cpu_us'] = used * 1e6 / count if count else None
            out['server_cpu_pct'] = used * 100 / seconds if seconds > 0 \
                else None
        return out


class Echoes:
    """The messages of one client: numbered, each echo checked against
    what is still outstanding (a loss, a duplicate or a corrupt echo is an
    error).  Not thread-safe: the sync client's callers hold ``lock``."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.sent = 0
        self.received = 0
        self.errors = 0
        self.first_error: Optional[str] = None
        self.outstanding: set = set()
        self.sending = True
        self.lock = threading.Lock()
        self.padding = 'x' * size

    def next_message(self) -> str:
        number = self.sent
        self.sent += 1
        self.outstanding.add(number)
        head = 'm%08d ' % number
        return head + self.padding[:self.size - len(head)]

    def received_one(self, data: Any) -> None:
        try:
            ok = isinstance(data, str) and len(data) == self.size and \
                data[0] == 'm'
            number = int(data[1:9]) if ok else -1
        except ValueError:
            number = -1
        if number in self.outstanding:
            self.outstanding.remove(number)
            self.received += 1
        else:
            self.errors += 1
            if self.first_error is None:
                self.first_error = 'unexpected echo %r' % (str(data)[:40],)

    def drained(self) -> bool:
        return not self.sending and not self.outstanding


def summary(echoes: Echoes, inflight: int) -> Dict[str, Any]:
    return {'sent': echoes.sent, 'received': echoes.received,
            'lost': len(echoes.outstanding), 'errors': echoes.errors,
            'first_error': echoes.first_error, 'inflight': inflight}


# ---------------------------------------------------------------------------
# echo: one client, ``inflight`` messages outstanding, a new one sent from
# the message handler for each echo

def sync_echo(config: Dict[str, Any], transports: List[str],
              inflight: int) -> None:
    import engineio
    echoes = Echoes(config['size'])
    drained = threading.Event()
    client = engineio.Client()

    def on_message(data: Any) -> None:
        message = None
        with echoes.lock:
            echoes.received_one(data)
            if echoes.sending:
                message = echoes.next_message()
            elif echoes.drained():
                drained.set()
        if message is not None:
            client.send(message)

    client.on('message', on_message)
    client.connect(config['url'], transports=transports)
    if client.transport() != transports[0]:
        raise RuntimeError('connected on %s' % client.transport())
    with echoes.lock:
        first = [echoes.next_message() for _ in range(inflight)]
    for message in first:
        client.send(message)
    time.sleep(config['warmup'])
    start = Meter(config['server_pid'])
    count = echoes.received
    time.sleep(config['duration'])
    end = Meter(config['server_pid'])
    result = end.since(start, echoes.received - count, 'echoes')
    with echoes.lock:
        echoes.sending = False
        if echoes.drained():
            drained.set()
    drained.wait(DRAIN_TIMEOUT)
    with echoes.lock:
        result.update(summary(echoes, inflight))
    emit({'result': result})
    began = time.perf_counter()
    client.disconnect()
    emit({'teardown': {'disconnect_s': time.perf_counter() - began,
                       'state': client.state,
                       'threads_left': threads_left()}})


async def async_echo(config: Dict[str, Any], transports: List[str],
                     inflight: int) -> None:
    import engineio
    echoes = Echoes(config['size'])
    drained = asyncio.Event()
    client = engineio.AsyncClient()

    async def on_message(data: Any) -> None:
        echoes.received_one(data)
        if echoes.sending:
            await client.send(echoes.next_message())
        elif echoes.drained():
            drained.set()

    client.on('message', on_message)
    await client.connect(config['url'], transports=transports)
    if client.transport() != transports[0]:
        raise RuntimeError('connected on %s' % client.transport())
    for _ in range(inflight):
        await client.send(echoes.next_message())
    await asyncio.sleep(config['warmup'])
    start = Meter(config['server_pid'])
    count = echoes.received
    await asyncio.sleep(config['duration'])
    end = Meter(config['server_pid'])
    result = end.since(start, echoes.received - count, 'echoes')
    echoes.sending = False
    if echoes.drained():
        drained.set()
    try:
        await asyncio.wait_for(drained.wait(), DRAIN_TIMEOUT)
    except asyncio.TimeoutError:
        pass
    result.update(summary(echoes, inflight))
    emit({'result': result})
    began = time.perf_counter()
    await client.disconnect()
    emit({'teardown': {'disconnect_s': time.perf_counter() - began,
                       'state': client.state,
                       'tasks_left': await tasks_left()}})


# ---------------------------------------------------------------------------
# connect: ``connections`` clients, opened ``concurrency`` at a time (async)
# or one after the other (sync), kept open until all are, then closed

def check_connected(clients: List[Any], transports: Optional[List[str]],
                    failures: List[str]) -> Dict[str, Any]:
    expected = 'websocket'    # polling first, then the upgrade
    if transports is not None:
        expected = transports[-1]
    connected = [c for c in clients if c.state == 'connected']
    wrong = [c.transport() for c in connected if c.transport() != expected]
    sids = {c.sid for c in connected}
    out: Dict[str, Any] = {
        'connected': len(connected), 'failed': len(failures),
        'first_error': failures[0] if failures else None,
        'transport': expected, 'wrong_transport': len(wrong),
        'unique_sids': len(sids)}
    if wrong and out['first_error'] is None:
        out['first_error'] = 'connected on %s' % wrong[0]
    out['errors'] = out['failed'] + out['wrong_transport'] + \
        len(connected) - len(sids)
    return out


def sync_connect(config: Dict[str, Any],
                 transports: Optional[List[str]]) -> None:
    import engineio

    def open_one(failures: List[str]) -> Optional[Any]:
        client = engineio.Client()
        try:
            client.connect(config['url'], transports=transports)
            return client
        except Exception as exc:
            failures.append('%s: %s' % (type(exc).__name__, exc))
            return None

    warm_failures: List[str] = []
    warm = [open_one(warm_failures) for _ in range(config['warm_connections'])]
    for client in warm:
        if client is not None:
            client.disconnect()
    failures: List[str] = []
    start = Meter(config['server_pid'])
    opened = [open_one(failures) for _ in range(config['connections'])]
    end = Meter(config['server_pid'])
    clients = [c for c in opened if c is not None]
    result = end.since(start, len(clients), 'connections')
    result.update(check_connected(clients, transports, failures))
    result['warm_failed'] = len(warm_failures)
    result['concurrency'] = 1
    emit({'result': result})
    began = time.perf_counter()
    for client in clients:
        client.disconnect()
    emit({'teardown': {
        'disconnect_s': time.perf_counter() - began,
        'still_connected': sum(c.state != 'disconnected' for c in clients),
        'threads_left': threads_left()}})


async def async_connect(config: Dict[str, Any],
                        transports: Optional[List[str]]) -> None:
    import engineio
    gate = asyncio.Semaphore(config['concurrency'])

    async def open_one(failures: List[str]) -> Optional[Any]:
        async with gate:
            client = engineio.AsyncClient()
            try:
                await asyncio.wait_for(
                    client.connect(config['url'], transports=transports),
                    CONNECT_TIMEOUT)
                return client
            except Exception as exc:
                failures.append('%s: %s' % (type(exc).__name__, exc))
                # a half-open client must not stay behind
                await disconnect(client)
                return None

    async def close_one(client: Any) -> None:
        async with gate:
            await disconnect(client)

    async def disconnect(client: Any) -> None:
        try:
            await asyncio.wait_for(client.disconnect(), CONNECT_TIMEOUT)
        except Exception:
            pass

    warm_failures: List[str] = []
    warm = await asyncio.gather(*[open_one(warm_failures) for _ in range(
        config['warm_connections'])])
    await asyncio.gather(*[close_one(c) for c in warm if c is not None])
    failures: List[str] = []
    start = Meter(config['server_pid'])
    opened = await asyncio.gather(*[open_one(failures) for _ in range(
        config['connections'])])
    end = Meter(config['server_pid'])
    clients = [c for c in opened if c is not None]
    result = end.since(start, len(clients), 'connections')
    result.update(check_connected(clients, transports, failures))
    result['warm_failed'] = len(warm_failures)
    result['concurrency'] = config['concurrency']
    emit({'result': result})
    began = time.perf_counter()
    await asyncio.gather(*[close_one(c) for c in clients])
    emit({'teardown': {
        'disconnect_s': time.perf_counter() - began,
        'still_connected': sum(c.state != 'disconnected' for c in clients),
        'tasks_left': await tasks_left()}})


# ---------------------------------------------------------------------------

def threads_left(wait: float = 2.0) -> int:
    """Threads other than this one still running, after up to ``wait``
    seconds for them to end (a client's threads end shortly after its
    ``disconnect()`` returns)."""
    deadline = time.monotonic() + wait
    while True:
        others = [t for t in threading.enumerate()
                  if t is not threading.current_thread() and t.is_alive()]
        if not others or time.monotonic() > deadline:
            return len(others)
        others[0].join(max(deadline - time.monotonic(), 0))


async def tasks_left(wait: float = 2.0) -> int:
    """asyncio tasks other than this one still pending, after up to
    ``wait`` seconds for them to end."""
    deadline = time.monotonic() + wait
    while True:
        others = [t for t in asyncio.all_tasks()
                  if t is not asyncio.current_task()]
        if not others or time.monotonic() > deadline:
            return len(others)
        await asyncio.wait(others, timeout=max(deadline - time.monotonic(), 0))


def run(config: Dict[str, Any]) -> None:
    kind, flavour, transports, inflight = SCENARIOS[config['scenario']]
    if kind == 'echo':
        assert transports is not None
        if flavour == 'sync':
            sync_echo(config, transports, inflight)
        else:
            asyncio.run(async_echo(config, transports, inflight))
    elif flavour == 'sync':
        sync_connect(config, transports)
    else:
        asyncio.run(async_connect(config, transports))


def main() -> None:
    config = json.loads(sys.argv[1])
    emit({'identity': identity()})
    try:
        run(config)
    except Exception as exc:
        emit({'error': '%s: %s' % (type(exc).__name__, exc)})
        sys.stdout.flush()
        os._exit(1)
    # a client library's stray non-daemon thread must not keep the process
    # (and the orchestrator) waiting: threads_left already reported it
    sys.stdout.flush()
    os._exit(0)


if __name__ == '__main__':
    main()
