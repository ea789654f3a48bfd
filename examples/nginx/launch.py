"""Start N Engine.IO worker processes and nginx in front of them.

    python -m examples.nginx.launch [--workers 3] [--port 8080]
        [--balance ip_hash|hash|round-robin] [--server asgi|wsgi]
        [--run-dir DIR]

Each worker is ``examples.nginx.app`` (uvicorn by default, gunicorn with
``--server wsgi``) on its own 127.0.0.1 port; nginx listens on ``--port``
and ties each client address to one worker (``nginx.conf.template``).
Ctrl-C stops everything.  ``round-robin`` leaves stickiness out: it exists
to show what breaks without it (README.md).

Every listening socket is bound here, before its process starts, and handed
over as an inherited file descriptor (``--fd`` for a worker, nginx's own
``NGINX`` environment variable for nginx): ephemeral ports need no
discovery, and a request sent while a process starts waits in the backlog
instead of failing.  The launcher closes its copy once the process has it,
so a worker that dies refuses connections and nginx moves its clients to
another worker.

The classes are what ``tests/test_nginx_scaleout.py`` runs, too.  POSIX
only (inherited sockets); nginx 1.19.5 or later (``-e``).
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

__all__ = ['BALANCE', 'TEMPLATE', 'find_nginx', 'render_config',
           'listening_socket', 'Worker', 'WorkerPool', 'Nginx', 'main']

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TEMPLATE = os.path.join(HERE, 'nginx.conf.template')

#: the ``@BALANCE@`` line of each balancing choice
BALANCE = {
    'ip_hash': 'ip_hash;',
    'hash': 'hash $remote_addr consistent;',
    'round-robin': '# round-robin: NOT sticky, polling sessions break',
}

_PLACEHOLDER = re.compile(r'@[A-Z_]+@')

#: seconds to wait for a process to start answering, or to stop
STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


def find_nginx(name: str = 'nginx') -> Optional[str]:
    """The nginx executable: on the PATH, or in an ``sbin`` directory (where
    distributions install it, and which a normal user's PATH often lacks).
    """
    path = os.pathsep.join([os.environ.get('PATH', os.defpath),
                            '/usr/local/sbin', '/usr/sbin', '/sbin'])
    return shutil.which(name, path=path)


def render_config(prefix: str, listen: str,
                  upstreams: Sequence[Tuple[str, int]],
                  balance: str = 'ip_hash',
                  template: Optional[str] = None) -> str:
    """The nginx configuration: ``nginx.conf.template`` (or ``template``,
    its text) with the placeholders filled.

    ``prefix``: the directory for nginx's pid, logs and temp files;
    ``listen``: ``host:port`` for clients; ``upstreams``: the workers'
    ``(host, port)``; ``balance``: a key of :data:`BALANCE`.  Raises
    ``ValueError`` for an unknown ``balance``, no upstream, or a
    placeholder left unfilled."""
    if balance not in BALANCE:
        raise ValueError('balance must be one of %s' % ', '.join(BALANCE))
    if not upstreams:
        raise ValueError('at least one upstream is needed')
    if template is None:
        with open(TEMPLATE) as f:
            template = f.read()
    # a master started as root hands the connections to workers running as
    # "user" (nobody by default), who could not reach a private prefix
    user = 'user root;' if os.name == 'posix' and os.geteuid() == 0 else ''
    servers = '\n'.join('        server %s:%d;' % (host, port)
                        for host, port in upstreams)
    values = {'@PREFIX@': os.path.abspath(prefix), '@USER@': user,
              '@LISTEN@': listen, '@BALANCE@': BALANCE[balance],
              '@SERVERS@': servers}
    for name, value in values.items():
        template = template.replace(name, value)
    unknown = _PLACEHOLDER.search(template)
    if unknown is not None:
        raise ValueError('unknown placeholder %s' % unknown.group())
    return template


def listening_socket(host: str = '127.0.0.1', port: int = 0,
                     backlog: int = 1024) -> socket.socket:
    """A bound, listening, inheritable TCP socket."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def _get(host: str, port: int, path: str,
         timeout: float) -> Tuple[int, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request('GET', path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _stop(process: subprocess.Popen, sig: int = signal.SIGTERM,
          timeout: float = STOP_TIMEOUT) -> None:
    """Signal ``process`` and reap it, killing it after ``timeout``."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def _tail(path: str, size: int = 4000) -> str:
    try:
        with open(path, 'rb') as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - size))
            return f.read().decode('utf-8', 'replace')
    except OSError:
        return ''


class Worker:
    """One worker process (``examples.nginx.app``) on its own port."""

    def __init__(self, worker_id: str, host: str, port: int,
                 process: subprocess.Popen, log_path: str) -> None:
        self.id = worker_id
        self.host = host
        self.port = port
        self.process = process
        self.log_path = log_path

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Wait until ``GET /health`` answers with this worker's id.

        The socket listened before the process started, so one request
        suffices: it waits in the backlog while the worker imports.  A
        worker that died refuses it (``RuntimeError`` with its log)."""
        try:
            status, body = _get(self.host, self.port, '/health', timeout)
            ready = status == 200 and json.loads(body)['worker'] == self.id
        except (OSError, ValueError, KeyError):
            ready = False
        if not ready:
            raise RuntimeError('worker %s did not start (exit code %s):\n%s'
                               % (self.id, self.process.poll(),
                                  _tail(self.log_path)))

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the process (SIGTERM: graceful; SIGKILL: a crash)."""
        _stop(self.process, sig)


class WorkerPool:
    """``count`` workers on 127.0.0.1 ephemeral ports (or ``base_port``,
    ``base_port + 1``, ...), with ids ``w0``, ``w1``, ...; their output
    goes to ``<log_dir>/<id>.log``."""

    def __init__(self, count: int, log_dir: str, server: str = 'asgi',
                 host: str = '127.0.0.1', base_port: int = 0,
                 python: str = sys.executable,
                 env: Optional[Dict[str, str]] = None) -> None:
        self.count = count
        self.log_dir = log_dir
        self.server = server
        self.host = host
        self.base_port = base_port
        self.python = python
        self.env = env
        self.workers: List[Worker] = []

    @property
    def upstreams(self) -> List[Tuple[str, int]]:
        return [(worker.host, worker.port) for worker in self.workers]

    def start(self, timeout: float = STARTUP_TIMEOUT) -> 'WorkerPool':
        os.makedirs(self.log_dir, exist_ok=True)
        try:
            for index in range(self.count):
                port = self.base_port + index if self.base_port else 0
                self.workers.append(self._spawn('w%d' % index, port))
            deadline = time.monotonic() + timeout
            for worker in self.workers:
                worker.wait_ready(max(0.1, deadline - time.monotonic()))
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, worker_id: str, port: int) -> Worker:
        sock = listening_socket(self.host, port)
        log_path = os.path.join(self.log_dir, worker_id + '.log')
        try:
            with open(log_path, 'ab') as log:
                process = subprocess.Popen(
                    [self.python, '-m', 'examples.nginx.app',
                     '--id', worker_id, '--server', self.server,
                     '--fd', str(sock.fileno())],
                    cwd=ROOT, env=self.env, pass_fds=[sock.fileno()],
                    stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT)
            return Worker(worker_id, self.host, sock.getsockname()[1],
                          process, log_path)
        finally:
            # the worker holds the socket now: when it dies, the port
            # refuses connections (and nginx fails over)
            sock.close()

    def stop(self) -> None:
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        for worker in self.workers:
            worker.stop()

    def __enter__(self) -> 'WorkerPool':
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


class Nginx:
    """nginx in the foreground, its configuration, pid, logs and temp
    files under ``prefix``, listening on ``host:port`` (0: ephemeral)."""

    def __init__(self, prefix: str, upstreams: Sequence[Tuple[str, int]],
                 balance: str = 'ip_hash', host: str = '127.0.0.1',
                 port: int = 0, executable: str = 'nginx') -> None:
        self.prefix = os.path.abspath(prefix)
        self.upstreams = list(upstreams)
        self.balance = balance
        self.host = host
        self.port = port
        self.executable = executable
        self.config_path = os.path.join(self.prefix, 'nginx.conf')
        self.error_log = os.path.join(self.prefix, 'error.log')
        self.process: Optional[subprocess.Popen] = None

    def start(self, timeout: float = STARTUP_TIMEOUT) -> 'Nginx':
        executable = find_nginx(self.executable)
        if executable is None:
            raise RuntimeError('%s is not installed' % self.executable)
        os.makedirs(self.prefix, exist_ok=True)
        sock = listening_socket(self.host, self.port)
        try:
            self.port = sock.getsockname()[1]
            # nginx takes an inherited socket as it left it itself: in
            # non-blocking mode.  A blocking one stalls a worker process in
            # accept() whenever another process won the connection, with
            # the clients it already holds.
            sock.setblocking(False)
            with open(self.config_path, 'w') as f:
                f.write(render_config(self.prefix,
                                      '%s:%d' % (self.host, self.port),
                                      self.upstreams, self.balance))
            # NGINX="<fd>;" is how nginx inherits listening sockets (its
            # binary upgrade uses it): a listen directive with the same
            # address takes the socket instead of binding a new one
            env = dict(os.environ, NGINX='%d;' % sock.fileno())
            with open(self.error_log, 'ab') as log:
                self.process = subprocess.Popen(
                    [executable, '-p', self.prefix, '-c', self.config_path,
                     '-e', self.error_log],
                    env=env, pass_fds=[sock.fileno()],
                    stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT)
        finally:
            sock.close()
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Wait for ``GET /health`` through nginx (``RuntimeError`` with
        the error log when nginx does not answer)."""
        try:
            status, _ = _get(self.host, self.port, '/health', timeout)
        except OSError:
            status = None
        if status != 200:
            code = self.process.poll() if self.process else None
            raise RuntimeError('nginx did not start (status %s, exit code '
                               '%s):\n%s' % (status, code,
                                             _tail(self.error_log)))

    def stop(self) -> None:
        """Fast shutdown (SIGTERM): open connections are closed."""
        if self.process is not None:
            _stop(self.process)

    def __enter__(self) -> 'Nginx':
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--workers', type=int, default=3)
    parser.add_argument('--host', default='127.0.0.1',
                        help='the address nginx listens on')
    parser.add_argument('--port', type=int, default=8080,
                        help='the port nginx listens on (0: any free one)')
    parser.add_argument('--worker-base-port', type=int, default=0,
                        help='worker ports from here on (default: free '
                             'ports)')
    parser.add_argument('--balance', choices=sorted(BALANCE),
                        default='ip_hash')
    parser.add_argument('--server', choices=('asgi', 'wsgi'),
                        default='asgi')
    parser.add_argument('--run-dir',
                        help='for the nginx configuration, logs and temp '
                             'files (default: a new temporary directory)')
    args = parser.parse_args(argv)
    run_dir = args.run_dir or tempfile.mkdtemp(prefix='engineio-nginx-')
    pool = WorkerPool(args.workers, os.path.join(run_dir, 'logs'),
                      server=args.server, base_port=args.worker_base_port)
    nginx: Optional[Nginx] = None
    try:
        pool.start()
        nginx = Nginx(run_dir, pool.upstreams, args.balance, args.host,
                      args.port).start()
        for worker in pool.workers:
            print('worker %s: http://%s:%d (pid %d, log %s)' % (
                worker.id, worker.host, worker.port, worker.process.pid,
                worker.log_path))
        print('nginx (%s): http://%s:%d/engine.io/ (config %s, logs in %s)'
              % (args.balance, args.host, nginx.port, nginx.config_path,
                 run_dir))
        print('Ctrl-C stops everything')
        processes = [w.process for w in pool.workers] + [nginx.process]
        # a launcher, not a server: a coarse look every half second is
        # enough to notice a process that died
        while all(p is not None and p.poll() is None for p in processes):
            time.sleep(0.5)
        print('a process exited; stopping', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        if nginx is not None:
            nginx.stop()
        pool.stop()


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
