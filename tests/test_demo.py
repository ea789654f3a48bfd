"""The demo (``make demo``): its page, its server, and a real browser on it.

The demo app runs on a real uvicorn on 127.0.0.1.  The official JavaScript
client (Node) goes through polling, the upgrade and an echo; headless
Chromium (Debian's ``chromium``) loads the page and must show round trips,
the WebSocket transport and the server's kernels.  Under ``CI`` a missing
Node, ``tests/js/node_modules`` or Chromium is a failure (``make setup``
installs them); elsewhere those tests skip.
"""
import http.client
import json
import os
import shutil
import socket
import subprocess
import threading

import pytest

uvicorn = pytest.importorskip('uvicorn')

from engineio import _speedups  # noqa: E402
from examples.demo import server as demo  # noqa: E402

TIMEOUT = 10
JS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'js')


def require(condition, what):
    if not condition:
        if os.environ.get('CI'):
            pytest.fail('%s is missing (make setup installs it)' % what)
        pytest.skip('%s is not installed' % what)


@pytest.fixture(scope='module')
def port():
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


def get(port, target, method='GET', body=None):
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=TIMEOUT)
    try:
        conn.request(method, target, body=body)
        response = conn.getresponse()
        return response.status, response.getheader('Content-Type'), \
            response.read()
    finally:
        conn.close()


def test_page_and_client_script(port):
    status, content_type, body = get(port, '/')
    assert status == 200 and content_type.startswith('text/html')
    assert b'<title>Engine.IO demo</title>' in body
    require(os.path.exists(demo.CLIENT_JS), 'tests/js/node_modules')
    status, content_type, body = get(port, '/engine.io.js')
    assert status == 200 and 'javascript' in content_type
    assert len(body) > 1000


def test_info_over_polling(port):
    status, _, body = get(port, '/engine.io/?EIO=4&transport=polling')
    assert status == 200
    sid = json.loads(body[1:])['sid']
    query = '/engine.io/?EIO=4&transport=polling&sid=' + sid
    assert get(port, query, 'POST', b'4info?')[:1] == (200,)
    status, _, body = get(port, query)
    info = json.loads(body.decode()[1:])
    assert info['implementation'] == _speedups.IMPLEMENTATION


def test_javascript_client_upgrades_and_echoes(port):
    node = shutil.which('node')
    require(node and os.path.isdir(os.path.join(JS_DIR, 'node_modules')),
            'Node.js with tests/js/node_modules')
    result = subprocess.run(
        [node, os.path.join(JS_DIR, 'asgi_client.js'),
         'http://127.0.0.1:%d' % port, 'upgrade'],
        cwd=JS_DIR, capture_output=True, text=True, timeout=30)
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert 'error' not in outcome, outcome
    assert outcome['transport'] == 'websocket' and outcome['upgraded']
    assert outcome['echoes'] == [{'text': 'hello é😀'},
                                 {'binary': [0, 1, 2, 255]}]


def test_chromium_shows_it_working(port):
    chromium = shutil.which('chromium')
    require(chromium, 'chromium (Debian package)')
    node = shutil.which('node')
    require(node and os.path.isdir(os.path.join(JS_DIR, 'node_modules',
                                                'playwright-core')),
            'Node.js with tests/js/node_modules')
    result = subprocess.run(
        [node, os.path.join(JS_DIR, 'browser_page.js'),
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
