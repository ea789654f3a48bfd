"""Flask-SocketIO's basic example on our ``engineio``, with the official
``socket.io-client``.

The example (a Flask app, ``SocketIO(app, async_mode=...)``, handlers that
emit back to the sender, broadcast, join a room, and disconnect) runs in a
child process, as an application does: in ``threading`` mode on werkzeug's
threaded server, and in ``gevent`` mode (monkey-patched) through
``socketio.run()``, which picks gevent's ``pywsgi`` server.  The child
prints the port it got, the test drives Node clients against it, and ends
it.  Everything the server did is checked through what the clients see.

Skipped where Flask-SocketIO (or, for its case, gevent) is not installed
(PyPy); the Node part fails under
``CI`` when Node or ``tests/js/node_modules/socket.io-client`` is missing,
else skips.
"""
import json
import os
import select
import subprocess
import sys
import tempfile

import pytest

from tests.loopback import TIMEOUT, request
from tests.test_socketio import SocketIOClients, import_socketio

import_socketio()
flask_socketio = pytest.importorskip('flask_socketio')

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- the example (runs in the child process) -------------------------------

def create_app(async_mode):
    """Flask-SocketIO's basic example, plus a room and a disconnect."""
    from flask import Flask, request as flask_request
    from flask_socketio import (SocketIO, disconnect, emit, join_room)

    app = Flask(__name__)
    app.config['SECRET_KEY'] = 'secret!'
    socketio = SocketIO(app, async_mode=async_mode)

    @app.route('/')
    def index():
        return 'flask index, %s' % socketio.async_mode

    @socketio.on('connect')
    def connect(auth):
        emit('welcome', {'sid': flask_request.sid,
                         'async_mode': socketio.async_mode})

    @socketio.on('my event')
    def my_event(data):
        emit('my response', data)

    @socketio.on('my broadcast event')
    def my_broadcast_event(data):
        emit('my response', data, broadcast=True)

    @socketio.on('join')
    def join(room):
        join_room(room)
        return 'joined ' + room

    @socketio.on('to room')
    def to_room(room, data):
        emit('room message', data, to=room)

    @socketio.on('leave me')
    def leave_me():
        disconnect()

    @socketio.on('disconnect')
    def gone(reason):
        socketio.emit('left', {'sid': flask_request.sid,
                               'reason': str(reason)})

    return app, socketio


def serve(async_mode):
    """Child process: serve the example on 127.0.0.1 on a free port, print
    ``{"port": N}``, and serve until killed."""
    app, socketio = create_app(async_mode)

    def report(port):
        sys.stdout.write(json.dumps({'port': port}) + '\n')
        sys.stdout.flush()

    if async_mode == 'gevent':
        import gevent

        def report_when_listening():
            while socketio.wsgi_server is None or \
                    socketio.wsgi_server.socket is None:
                gevent.sleep(0.01)
            report(socketio.wsgi_server.server_port)

        gevent.spawn(report_when_listening)
        socketio.run(app, host='127.0.0.1', port=0, log_output=False)
    else:
        from werkzeug.serving import WSGIRequestHandler, make_server

        class QuietHandler(WSGIRequestHandler):
            def log_request(self, *args, **kwargs):
                pass

        httpd = make_server('127.0.0.1', 0, app, threaded=True,
                            request_handler=QuietHandler)
        report(httpd.server_port)
        httpd.serve_forever()


# -- the test side ---------------------------------------------------------

CHILD = {
    'threading': 'import tests.test_flask_socketio as t; t.serve("threading")',
    # monkey-patching first, as a gevent application does
    'gevent': 'from gevent import monkey; monkey.patch_all(); '
              'import tests.test_flask_socketio as t; t.serve("gevent")',
}


def _require_mode(async_mode):
    if async_mode == 'gevent':
        pytest.importorskip('gevent')


@pytest.fixture(params=['threading', 'gevent'])
def example(request):
    """The example served by a child process; yields its base URL."""
    async_mode = request.param
    _require_mode(async_mode)
    stderr = tempfile.TemporaryFile()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [REPOSITORY] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
    child = subprocess.Popen([sys.executable, '-c', CHILD[async_mode]],
                             cwd=REPOSITORY, env=env, stdout=subprocess.PIPE,
                             stderr=stderr)
    try:
        ready, _, _ = select.select([child.stdout], [], [], TIMEOUT * 2)
        line = child.stdout.readline() if ready else b''
        if not line:
            stderr.seek(0)
            pytest.fail('the example did not start: %s'
                        % stderr.read().decode(errors='replace'))
        port = json.loads(line)['port']
        yield async_mode, port
    finally:
        child.terminate()
        try:
            child.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(TIMEOUT)
        child.stdout.close()
        stderr.close()


@pytest.fixture
def clients():
    driver = SocketIOClients()
    try:
        yield driver
    finally:
        driver.close()


def test_basic_example(example, clients):
    async_mode, port = example
    url = 'http://127.0.0.1:%d' % port
    # the Flask routes are served beside Socket.IO
    status, _, body = request(port, 'GET', '/')
    assert (status, body) == (200, ('flask index, %s' % async_mode).encode())

    first = clients.open('first', url)['id']
    welcome = clients.next_event('first')
    assert welcome['event'] == 'welcome'
    assert welcome['args'] == [{'sid': first, 'async_mode': async_mode}]
    assert clients.expect('first', 'upgrade')['transport'] == 'websocket'
    second = clients.open('second', url, transports=['websocket'])['id']
    assert clients.next_event('second')['args'][0]['sid'] == second

    # emit back to the sender only, text and binary
    clients.emit('first', 'my event', {'data': 'h\u00e9llo'})
    got = clients.next_event('first')
    assert (got['event'], got['args']) == ('my response',
                                           [{'data': 'h\u00e9llo'}])
    clients.emit('second', 'my event', {'blob': b'\x00\x01\xfe\xff'})
    got = clients.next_event('second')
    assert (got['event'], got['args']) == ('my response',
                                           [{'blob': b'\x00\x01\xfe\xff'}])

    # a room, with an acknowledgement
    assert clients.call('second', 'join', 'room 1') == ['joined room 1']
    clients.emit('first', 'to room', 'room 1', 'for the room')
    got = clients.next_event('second')
    assert (got['event'], got['args']) == ('room message', ['for the room'])

    # broadcast: both get it, and it is the first thing the first client
    # got since its own echo (neither its "my event" reply to the second
    # nor the room message reached it)
    clients.emit('second', 'my broadcast event', 'to all')
    for name in ('first', 'second'):
        got = clients.next_event(name)
        assert (got['event'], got['args']) == ('my response', ['to all'])

    # the second leaves: its disconnect handler broadcasts to the first
    clients.disconnect('second')
    assert clients.expect('second', 'disconnect')['reason'] == \
        'io client disconnect'
    got = clients.next_event('first')
    assert (got['event'], got['args']) == ('left', [
        {'sid': second, 'reason': 'client disconnect'}])

    # the server disconnects the first
    clients.emit('first', 'leave me')
    assert clients.expect('first', 'disconnect')['reason'] == \
        'io server disconnect'
