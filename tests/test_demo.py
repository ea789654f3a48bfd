"""The demo (``make demo``): its page, its server, and a real browser on it.

The demo runs as ``make demo`` runs it (``python -m examples.demo.server``,
the embedded uvloop server, in a subprocess) and on a real uvicorn in
process, both on 127.0.0.1.  The official JavaScript
client (Node) goes through polling, the upgrade and an echo; headless
Chromium (Debian's ``chromium``) loads the page and must show round trips,
the WebSocket transport and the server's kernels.  Under ``CI`` a missing
Node, ``tests/js/node_modules`` or Chromium is a failure (``make setup``
installs them); elsewhere those tests skip.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading

import pytest

from tests.loopback import (JS_DIR, TIMEOUT, js_client_echo, node,
                            open_session, request, require)

uvicorn = pytest.importorskip('uvicorn')

from engineio import _speedups  # noqa: E402
from examples.demo import server as demo  # noqa: E402


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def serve_uvicorn():
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(128)
    started = threading.Event()
    app = demo.create_app()
    app.on_startup = started.set
    config = uvicorn.Config(app, loop='asyncio', lifespan='on',
                            log_level='warning', timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run,
                              kwargs={'sockets': [listener]}, daemon=True)
    thread.start()
    try:
        assert started.wait(TIMEOUT), 'the demo did not start'
        yield listener.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(TIMEOUT)
        listener.close()


def serve_embedded():
    """``make demo``'s command, on a free port; stopped with SIGTERM."""
    pytest.importorskip('uvloop')
    pytest.importorskip('httptools')
    process = subprocess.Popen(
        [sys.executable, '-m', 'examples.demo.server', '--port', '0'],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        for line in process.stdout:
            if line.startswith('serving on '):
                port = int(line.rsplit(':', 1)[1])
                break
        assert port, process.stderr.read()[-2000:]
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            assert process.wait(TIMEOUT) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdout.close()
            process.stderr.close()


@pytest.fixture(scope='module', params=['embedded', 'uvicorn'])
def port(request):
    serve = serve_embedded if request.param == 'embedded' else serve_uvicorn
    yield from serve()


def test_page_and_client_script(port):
    status, headers, body = request(port, 'GET', '/')
    headers = {name.lower(): value for name, value in headers.items()}
    assert status == 200 and headers['content-type'].startswith('text/html')
    assert b'<title>Engine.IO demo</title>' in body
    require(os.path.exists(demo.CLIENT_JS), 'tests/js/node_modules')
    status, headers, body = request(port, 'GET', '/engine.io.js')
    headers = {name.lower(): value for name, value in headers.items()}
    assert status == 200 and 'javascript' in headers['content-type']
    assert len(body) > 1000


def test_info_over_polling(port):
    query = '/engine.io/?EIO=4&transport=polling&sid=' + open_session(port)
    assert request(port, 'POST', query, b'4info?')[0] == 200
    status, _, body = request(port, 'GET', query)
    info = json.loads(body.decode()[1:])
    assert info['implementation'] == _speedups.IMPLEMENTATION


def test_javascript_client_upgrades_and_echoes(port):
    js_client_echo(port, 'upgrade')


def test_chromium_shows_it_working(port):
    chromium = shutil.which('chromium')
    require(chromium, 'chromium (Debian package)')
    require(os.path.exists(demo.CLIENT_JS), 'tests/js/node_modules')
    result = subprocess.run(
        [node('playwright-core'), os.path.join(JS_DIR, 'browser_page.js'),
         'http://127.0.0.1:%d/' % port, chromium],
        cwd=JS_DIR, capture_output=True, text=True, timeout=60)
    lines = result.stdout.strip().splitlines()
    assert lines, result.stderr[-2000:]
    shown = json.loads(lines[-1])
    assert 'error' not in shown, (shown, result.stderr[-2000:])
    assert shown['status'] == 'connected'
    assert shown['transport'] == 'websocket'
    assert shown['roundTrips'] >= 3
    assert shown['rtt'].endswith(' ms')
    assert shown['implementation'] == _speedups.IMPLEMENTATION
    assert shown['consoleErrors'] == []
