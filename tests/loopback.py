"""Helpers shared by the tests that run a real server on 127.0.0.1.

Raw HTTP requests, opening a polling session, and the official JavaScript
client (``tests/js/asgi_client.js``, which takes any server URL).  Node,
``tests/js/node_modules`` and Chromium are installed by ``make setup``: under
``CI`` a missing one is a failure, elsewhere the test skips.
"""
import http.client
import json
import os
import shutil
import subprocess

import pytest

TIMEOUT = 10
JS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'js')


def require(condition, what):
    """Fail under CI, else skip, when ``what`` is missing."""
    if not condition:
        if os.environ.get('CI'):
            pytest.fail('%s is missing (make setup installs it)' % what)
        pytest.skip('%s is not installed' % what)


def node(package='engine.io-client'):
    """The Node.js executable, with ``tests/js/node_modules/<package>``."""
    executable = shutil.which('node')
    require(executable, 'Node.js')
    require(os.path.isdir(os.path.join(JS_DIR, 'node_modules', package)),
            'tests/js/node_modules/' + package)
    return executable


def request(port, method, target, body=None, headers=None):
    """One request on its own connection: ``(status, headers, body)``."""
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=TIMEOUT)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def open_session(port):
    """Handshake over polling; the new sid."""
    status, _, body = request(port, 'GET',
                              '/engine.io/?EIO=4&transport=polling')
    assert status == 200 and body[:1] == b'0'
    return json.loads(body[1:])['sid']


def js_client_echo(port, mode):
    """Run the official client against an echo server on ``port``.

    ``mode`` is ``polling``, ``websocket`` or ``upgrade``.  Checks that the
    client ended on the right transport and got its text and binary
    messages back; returns the client's report (``sid`` included).
    """
    result = subprocess.run(
        [node(), os.path.join(JS_DIR, 'asgi_client.js'),
         'http://127.0.0.1:%d' % port, mode],
        cwd=JS_DIR, capture_output=True, timeout=TIMEOUT + 20)
    lines = result.stdout.decode().strip().splitlines()
    assert lines, result.stderr
    output = json.loads(lines[-1])
    assert 'error' not in output, (output, result.stderr)
    assert output['transport'] == ('polling' if mode == 'polling'
                                   else 'websocket')
    assert output['upgraded'] == (mode == 'upgrade')
    assert output['echoes'] == [{'text': 'hello \u00e9\U0001F600'},
                                {'binary': [0, 1, 2, 255]}]
    return output
