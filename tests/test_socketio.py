"""python-socketio on our ``engineio``, with real servers and real clients.

* ``socketio.AsyncServer`` + ``socketio.ASGIApp`` on uvicorn, and
  ``socketio.Server`` in ``threading`` mode + ``socketio.WSGIApp`` on
  werkzeug's threaded server, both on 127.0.0.1, each talking to the official
  ``socket.io-client`` in Node (``tests/js/socketio_client.js``): connecting
  (polling then the upgrade, and WebSocket only), events and
  acknowledgements both ways, binary payloads, rooms, broadcasts, and
  disconnects from either side.
* python-socketio's admin instrumentation (``sio.instrument()``), which
  patches our ``Socket`` / ``AsyncSocket`` classes and the server instance
  (REFERENCE §1.10), with an admin client on ``/admin`` beside a normal one.
* python-socketio's own ``Client`` / ``AsyncClient``, which sit on
  ``engineio.Client`` / ``engineio.AsyncClient``.

python-socketio comes from PyPI on top of the ``python-engineio`` shim
(``shim/``), so the ``engineio`` underneath is ours: the first test checks
that.  Skipped where python-socketio is not installed (PyPy); the Node part
fails under ``CI`` when Node or ``tests/js/node_modules/socket.io-client`` is
missing, else skips.
"""
import base64
import contextlib
import importlib.metadata
import importlib.util
import json
import os
import queue
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from tests.loopback import JS_DIR, TIMEOUT, node, request

import engineio


#: why ``import socketio`` fails here (None: it imports)
SOCKETIO_MISSING = None


def import_socketio():
    """``import socketio``, or skip the calling module with the reason it
    cannot be imported.

    python-socketio 5.x reads ``engineio.Client.reason`` when it is imported
    (``socketio/base_client.py``), so it cannot be imported at all before
    this package has ``engineio.Client``."""
    if importlib.util.find_spec('socketio') is None:
        pytest.skip('python-socketio is not installed',
                    allow_module_level=True)
    if SOCKETIO_MISSING is not None:
        pytest.skip(SOCKETIO_MISSING, allow_module_level=True)
    return socketio


if importlib.util.find_spec('socketio') is None:
    pytest.skip('python-socketio is not installed', allow_module_level=True)
if hasattr(engineio, 'Client'):
    import socketio
else:
    socketio = None
    SOCKETIO_MISSING = ('python-socketio reads engineio.Client.reason at '
                        'import time and engineio.Client does not exist yet')


def require_socketio():
    if SOCKETIO_MISSING is not None:
        pytest.skip(SOCKETIO_MISSING)


@pytest.fixture(autouse=True)
def _socketio_imports(request):
    """Every test but the install check needs ``import socketio`` (the
    module-scoped ``server`` fixture, set up first, checks too)."""
    if request.node.originalname != 'test_install_keeps_this_engineio':
        require_socketio()


ENGINEIO_DIR = os.path.dirname(os.path.abspath(engineio.__file__))
REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(JS_DIR, 'socketio_client.js')


# -- the official client, driven from here --------------------------------

def to_wire(value):
    """bytes -> ``{"$binary": base64}``, at any depth (the JS driver's
    convention, both ways)."""
    if isinstance(value, (bytes, bytearray)):
        return {'$binary': base64.b64encode(value).decode()}
    if isinstance(value, (list, tuple)):
        return [to_wire(item) for item in value]
    if isinstance(value, dict):
        return {key: to_wire(item) for key, item in value.items()}
    return value


def from_wire(value):
    if isinstance(value, list):
        return [from_wire(item) for item in value]
    if isinstance(value, dict):
        if list(value) == ['$binary']:
            return base64.b64decode(value['$binary'])
        return {key: from_wire(item) for key, item in value.items()}
    return value


class SocketIOClients:
    """Named ``socket.io-client`` sockets in one Node process.

    Commands go to the process's stdin, its events come back one JSON line
    each and are kept in arrival order; :meth:`expect` takes the first one
    that matches, so a test reads each socket's events in the order that
    socket got them.  Every wait is bounded; :meth:`close` ends the process
    (it also exits by itself when its stdin closes, or after a watchdog).
    """

    def __init__(self):
        self._stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [node('socket.io-client'), SCRIPT], cwd=JS_DIR,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr)
        self._events = queue.Queue()
        self._backlog = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._acks = 0

    def _read(self):
        for line in self.process.stdout:
            self._events.put(json.loads(line))
        self._events.put(None)  # the process ended

    def command(self, **command):
        self.process.stdin.write(json.dumps(command).encode() + b'\n')
        self.process.stdin.flush()

    def open(self, name, url, **options):
        """Connect socket ``name`` (options: ``namespace``, ``path``,
        ``transports``, ``upgrade``, ``auth``, ``query``) and return its
        ``connect`` event."""
        self.command(op='open', name=name, url=url, **options)
        return self.expect(name, 'connect')

    def emit(self, name, event, *args):
        self.command(op='emit', name=name, event=event, args=to_wire(args))

    def call(self, name, event, *args):
        """Emit with an acknowledgement; the server's answer (a list)."""
        self._acks += 1
        ack = self._acks
        self.command(op='emit', name=name, event=event, args=to_wire(args),
                     ack=ack)
        answer = self.expect(name, 'ack', lambda e: e['ack'] == ack)
        assert 'error' not in answer, answer
        return from_wire(answer['args'])

    def disconnect(self, name):
        self.command(op='close', name=name)

    def expect(self, name, kind, match=None, timeout=TIMEOUT):
        """The first event of socket ``name`` of type ``kind`` (for which
        ``match(event)`` holds), waiting at most ``timeout`` seconds.
        ``event`` events come back with their ``args`` decoded."""
        def wanted(event):
            return (event.get('name') == name and event['type'] == kind
                    and (match is None or match(event)))

        for index, event in enumerate(self._backlog):
            if wanted(event):
                return self._decoded(self._backlog.pop(index))
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                event = self._events.get(timeout=max(remaining, 0))
            except queue.Empty:
                raise AssertionError('%s: no %s event within %s s; got %r'
                                     % (name, kind, timeout, self._backlog))
            if event is None:
                raise AssertionError('the Node client ended: %s, got %r'
                                     % (self.stderr(), self._backlog))
            if event['type'] == 'error':
                raise AssertionError('Node client error: %s' % event)
            if wanted(event):
                return self._decoded(event)
            self._backlog.append(event)

    def next_event(self, name):
        """The next server event (``event`` type) socket ``name`` got,
        whatever its event name: for checking what a socket did NOT get
        before it."""
        return self.expect(name, 'event')

    @staticmethod
    def _decoded(event):
        if 'args' in event:
            event['args'] = from_wire(event['args'])
        return event

    def stderr(self):
        self._stderr.seek(0)
        return self._stderr.read().decode(errors='replace')

    def close(self):
        try:
            self.command(op='exit')
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(TIMEOUT)
        self._reader.join(TIMEOUT)
        self.process.stdout.close()
        self._stderr.close()


@pytest.fixture
def clients():
    driver = SocketIOClients()
    try:
        yield driver
    finally:
        driver.close()


# -- what the servers' handlers saw ----------------------------------------

class Record:
    """Server-side happenings, appended by handler threads or the server's
    event loop and awaited (bounded) by the test thread."""

    def __init__(self):
        self._cond = threading.Condition()
        self._items = []

    def add(self, kind, sid, *data):
        with self._cond:
            self._items.append((kind, sid) + data)
            self._cond.notify_all()

    def wait(self, kind, sid, timeout=TIMEOUT):
        """The data of the first ``kind`` record for ``sid``."""
        def find():
            for item in self._items:
                if item[0] == kind and item[1] == sid:
                    return item[2:]
            return None

        with self._cond:
            found = self._cond.wait_for(find, timeout)
        assert found is not None, 'no %s for %s: %r' % (kind, sid,
                                                        self._items)
        return found


# -- the servers -----------------------------------------------------------

class QuietHandler:
    """werkzeug's request handler without the access log (built lazily:
    werkzeug is imported only by the tests that use it)."""

    cls = None

    @classmethod
    def get(cls):
        if cls.cls is None:
            serving = pytest.importorskip('werkzeug.serving')

            class Handler(serving.WSGIRequestHandler):
                def log_request(self, *args, **kwargs):
                    pass

            cls.cls = Handler
        return cls.cls


@contextlib.contextmanager
def serve_wsgi(app):
    """``app`` on werkzeug's threaded server on 127.0.0.1; yields the port."""
    serving = pytest.importorskip('werkzeug.serving')
    httpd = serving.make_server('127.0.0.1', 0, app, threaded=True,
                                request_handler=QuietHandler.get())
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_port
    finally:
        httpd.shutdown()
        thread.join(TIMEOUT)
        httpd.server_close()


def _uvicorn_ws():
    if importlib.util.find_spec('websockets') is not None:
        return 'websockets-sansio'
    if importlib.util.find_spec('wsproto') is not None:
        return 'wsproto'
    pytest.skip('uvicorn has no WebSocket implementation installed')


@contextlib.contextmanager
def serve_asgi(sio, on_shutdown=None):
    """``socketio.ASGIApp(sio)`` on uvicorn on 127.0.0.1, in a thread, on a
    socket bound before it starts; yields the port once the lifespan
    startup ran.  ``on_shutdown`` (a coroutine function) runs in the
    server's loop at the lifespan shutdown."""
    uvicorn = pytest.importorskip('uvicorn')
    started = threading.Event()
    app = socketio.ASGIApp(sio, on_startup=started.set,
                           on_shutdown=on_shutdown)
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(128)
    config = uvicorn.Config(app, loop='asyncio', ws=_uvicorn_ws(),
                            lifespan='on', log_level='warning',
                            timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run,
                              kwargs={'sockets': [listener]}, daemon=True)
    thread.start()
    try:
        assert started.wait(TIMEOUT), 'lifespan startup did not run'
        yield listener.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(TIMEOUT)
        listener.close()
        assert not thread.is_alive(), 'uvicorn did not stop'


def sync_handlers(sio, record):
    """The application, for ``socketio.Server``."""

    @sio.event
    def connect(sid, environ, auth):
        if auth and auth.get('refuse'):
            return False
        record.add('connect', sid, auth)

    @sio.event
    def disconnect(sid, reason):
        record.add('disconnect', sid, reason)

    @sio.on('echo')
    def echo(sid, *args):
        sio.emit('echo', args, to=sid)
        return ('echoed',) + args

    @sio.on('join')
    def join(sid, room):
        sio.enter_room(sid, room)
        return 'joined ' + room

    @sio.on('to_room')
    def to_room(sid, room, data):
        sio.emit('room_message', data, to=room)

    @sio.on('broadcast')
    def broadcast(sid, data):
        sio.emit('broadcast', data)

    @sio.on('ask')
    def ask(sid, data):
        def answered(*args):
            record.add('answer', sid, args)
            sio.emit('answer_seen', args, to=sid)
        sio.emit('question', data, to=sid, callback=answered)

    @sio.on('kick')
    def kick(sid):
        sio.disconnect(sid)

    @sio.on('transport')
    def transport(sid):
        return sio.transport(sid)

    @sio.on('remember')
    def remember(sid, value):
        with sio.session(sid) as session:
            session['value'] = value

    @sio.on('recall')
    def recall(sid):
        return sio.get_session(sid).get('value')


def async_handlers(sio, record):
    """The same application, for ``socketio.AsyncServer``."""

    @sio.event
    async def connect(sid, environ, auth):
        if auth and auth.get('refuse'):
            return False
        record.add('connect', sid, auth)

    @sio.event
    async def disconnect(sid, reason):
        record.add('disconnect', sid, reason)

    @sio.on('echo')
    async def echo(sid, *args):
        await sio.emit('echo', args, to=sid)
        return ('echoed',) + args

    @sio.on('join')
    async def join(sid, room):
        await sio.enter_room(sid, room)
        return 'joined ' + room

    @sio.on('to_room')
    async def to_room(sid, room, data):
        await sio.emit('room_message', data, to=room)

    @sio.on('broadcast')
    async def broadcast(sid, data):
        await sio.emit('broadcast', data)

    @sio.on('ask')
    async def ask(sid, data):
        async def answered(*args):
            record.add('answer', sid, args)
            await sio.emit('answer_seen', args, to=sid)
        await sio.emit('question', data, to=sid, callback=answered)

    @sio.on('kick')
    async def kick(sid):
        await sio.disconnect(sid)

    @sio.on('transport')
    def transport(sid):
        return sio.transport(sid)

    @sio.on('remember')
    async def remember(sid, value):
        async with sio.session(sid) as session:
            session['value'] = value

    @sio.on('recall')
    async def recall(sid):
        return (await sio.get_session(sid)).get('value')


class Served:
    """A running python-socketio server: ``port``, ``url``, ``sio``,
    ``record``, ``admin``."""

    def __init__(self, kind, port, sio, record, admin=None):
        self.kind = kind
        self.port = port
        self.url = 'http://127.0.0.1:%d' % port
        self.sio = sio
        self.record = record
        #: the InstrumentedServer when instrumented
        self.admin = admin


def wait_no_sessions(sio):
    """Wait (bounded) until every Engine.IO session of ``sio`` ended
    (the clients of the last test closed theirs); what is left."""
    deadline = time.monotonic() + TIMEOUT
    while sio.eio.sockets and time.monotonic() < deadline:
        time.sleep(0.02)
    return dict(sio.eio.sockets)


@contextlib.contextmanager
def running_server(kind, instrument=None):
    """A python-socketio server of ``kind`` (``asgi``: AsyncServer on
    uvicorn; ``threading``: Server on werkzeug) with the test application;
    ``instrument``: keyword arguments for ``sio.instrument()``, undone
    (and its stats task stopped) when the server stops."""
    require_socketio()
    record = Record()
    if kind == 'asgi':
        sio = socketio.AsyncServer(async_mode='asgi')
        async_handlers(sio, record)
        admin = sio.instrument(**instrument) if instrument else None

        async def stop():
            if admin is not None:
                await admin.shutdown()
            await sio.shutdown()

        leftover = None
        try:
            with serve_asgi(sio, on_shutdown=stop) as port:
                yield Served(kind, port, sio, record, admin)
                leftover = wait_no_sessions(sio)
        finally:
            if admin is not None:
                admin.uninstrument()
        assert not leftover, 'sessions left open: %r' % leftover
    else:
        sio = socketio.Server(async_mode='threading')
        sync_handlers(sio, record)
        admin = sio.instrument(**instrument) if instrument else None
        leftover = None
        try:
            with serve_wsgi(socketio.WSGIApp(sio)) as port:
                yield Served(kind, port, sio, record, admin)
                leftover = wait_no_sessions(sio)
        finally:
            if admin is not None:
                admin.shutdown()  # joins the stats thread
                admin.uninstrument()
            sio.shutdown()
        assert not leftover, 'sessions left open: %r' % leftover


@pytest.fixture(scope='module', params=['asgi', 'threading'])
def server(request):
    with running_server(request.param) as served:
        yield served


def engine_sid(served, sid, namespace='/'):
    return served.sio.manager.eio_sid_from_sid(sid, namespace)


# -- the install: python-socketio on OUR engineio ---------------------------

def test_install_keeps_this_engineio():
    """python-socketio (and Flask-SocketIO) were installed on top of the
    ``python-engineio`` shim: their requirement is met by the shim's
    metadata, and ``import engineio`` is still this package (from this
    checkout when the tests run from one), not PyPI's python-engineio."""
    metadata = importlib.metadata
    assert hasattr(engineio, '__version__')  # python-engineio has none
    assert os.path.isdir(os.path.join(ENGINEIO_DIR, '_sansio'))
    if os.path.isdir(os.path.join(REPOSITORY, 'engineio')):
        assert ENGINEIO_DIR == os.path.join(REPOSITORY, 'engineio')
    shim = metadata.version('python-engineio')
    assert shim == '4.15.1+accel'
    # the shim is metadata only: no file of the engineio package is its
    assert not [path for path in metadata.files('python-engineio') or ()
                if path.parts[0] == 'engineio']
    assert [requirement for requirement in metadata.requires(
        'python-engineio') if requirement.startswith('engineio-accel')]
    specifiers = pytest.importorskip('packaging.specifiers')
    requirements = pytest.importorskip('packaging.requirements')
    for requirement in metadata.requires('python-socketio'):
        parsed = requirements.Requirement(requirement)
        if parsed.name == 'python-engineio':
            assert parsed.specifier.contains(shim, prereleases=True), \
                requirement
            break
    else:
        pytest.fail('python-socketio does not require python-engineio')
    assert specifiers.SpecifierSet('>=4.15.1').contains(shim)


def test_servers_are_this_engineio():
    assert socketio.Server(async_mode='threading').eio.__class__ is \
        engineio.Server
    assert socketio.AsyncServer(async_mode='asgi').eio.__class__ is \
        engineio.AsyncServer


# -- events, acknowledgements, binary, rooms, broadcasts, disconnects ------

@pytest.mark.parametrize('transports', [['polling', 'websocket'],
                                        ['websocket'], ['polling']],
                         ids=['upgrade', 'websocket', 'polling'])
def test_events_and_acks(server, clients, transports):
    connected = clients.open('a', server.url, transports=transports)
    sid = connected['id']
    assert server.record.wait('connect', sid) == (None,)
    if len(transports) == 2:
        # started on polling; it may have upgraded before the Socket.IO
        # connect completed
        assert clients.expect('a', 'upgrade')['transport'] == 'websocket'
        expected = 'websocket'
    else:
        expected = transports[0]
        assert connected['transport'] == expected
    assert clients.call('a', 'transport') == [expected]
    eio_sid = engine_sid(server, sid)
    assert server.sio.eio.transport(eio_sid) == expected

    # client -> server, with its acknowledgement; the server emits back
    answer = clients.call('a', 'echo', 'h\u00e9llo \U0001F600', 42,
                          {'list': [1, None, True]})
    assert answer == ['echoed', 'h\u00e9llo \U0001F600', 42,
                      {'list': [1, None, True]}]
    event = clients.expect('a', 'event', lambda e: e['event'] == 'echo')
    assert event['args'] == answer[1:] and not event['acked']

    # server -> client, with the client's acknowledgement reaching the
    # server's callback
    clients.emit('a', 'ask', 'what?')
    question = clients.expect('a', 'event',
                              lambda e: e['event'] == 'question')
    assert question['args'] == ['what?'] and question['acked']
    assert server.record.wait('answer', sid) == (('ack', 'what?'),)
    seen = clients.expect('a', 'event', lambda e: e['event'] == 'answer_seen')
    assert seen['args'] == ['ack', 'what?']

    clients.disconnect('a')
    assert clients.expect('a', 'disconnect')['reason'] == \
        'io client disconnect'
    assert server.record.wait('disconnect', sid) == (
        server.sio.reason.CLIENT_DISCONNECT,)


def test_user_session(server, clients):
    """python-socketio keeps its user sessions in ours
    (``eio.get_session`` / ``save_session``)."""
    clients.open('a', server.url)
    clients.open('b', server.url, transports=['websocket'])
    # acknowledged, so saved before the recall (the threading server runs
    # each event in its own thread)
    assert clients.call('a', 'remember', {'name': 'a'}) == []
    assert clients.call('b', 'remember', [1, 2]) == []
    assert clients.call('a', 'recall') == [{'name': 'a'}]
    assert clients.call('b', 'recall') == [[1, 2]]


@pytest.mark.parametrize('transports', [['polling'], ['websocket']],
                         ids=['polling', 'websocket'])
def test_binary_payloads(server, clients, transports):
    sid = clients.open('a', server.url, transports=transports)['id']
    blob = bytes(range(256)) * 4
    data = {'blob': blob, 'nested': [b'', b'\x00\xff', 'text'], 'n': 1}
    answer = clients.call('a', 'echo', data, b'\x01\x02\x03')
    assert answer == ['echoed', data, b'\x01\x02\x03']
    event = clients.expect('a', 'event', lambda e: e['event'] == 'echo')
    assert event['args'] == [data, b'\x01\x02\x03']

    # binary the client sends in an acknowledgement
    clients.emit('a', 'ask', b'\xde\xad\xbe\xef')
    question = clients.expect('a', 'event',
                              lambda e: e['event'] == 'question')
    assert question['args'] == [b'\xde\xad\xbe\xef']
    assert server.record.wait('answer', sid) == (('ack', b'\xde\xad\xbe\xef'),)
    clients.disconnect('a')
    server.record.wait('disconnect', sid)


def test_rooms_and_broadcast(server, clients):
    member = clients.open('member', server.url)['id']
    outsider = clients.open('outsider', server.url,
                            transports=['websocket'])['id']
    sender = clients.open('sender', server.url, transports=['polling'])['id']
    assert clients.call('member', 'join', 'r1') == ['joined r1']

    clients.emit('sender', 'to_room', 'r1', {'hello': 'room'})
    got = clients.next_event('member')
    assert (got['event'], got['args']) == ('room_message', [{'hello': 'room'}])

    clients.emit('sender', 'broadcast', 'everyone')
    for name in ('member', 'outsider', 'sender'):
        # for the outsider and the sender this is the first event they got:
        # the room message did not reach them
        got = clients.next_event(name)
        assert (got['event'], got['args']) == ('broadcast', ['everyone'])

    for name, sid in (('member', member), ('outsider', outsider),
                      ('sender', sender)):
        clients.disconnect(name)
        assert server.record.wait('disconnect', sid) == (
            server.sio.reason.CLIENT_DISCONNECT,)


@pytest.mark.parametrize('transports', [['polling'], ['websocket']],
                         ids=['polling', 'websocket'])
def test_server_disconnect(server, clients, transports):
    sid = clients.open('a', server.url, transports=transports)['id']
    clients.emit('a', 'kick')
    assert clients.expect('a', 'disconnect')['reason'] == \
        'io server disconnect'
    assert server.record.wait('disconnect', sid) == (
        server.sio.reason.SERVER_DISCONNECT,)


def test_connect_refused(server, clients):
    clients.command(op='open', name='a', url=server.url,
                    auth={'refuse': True})
    error = clients.expect('a', 'connect_error')
    assert error['message'] == 'Connection rejected by server'


# -- the admin UI instrumentation ------------------------------------------

@pytest.mark.parametrize('kind', ['asgi', 'threading'])
def test_admin_instrumentation(kind, clients):
    with running_server(kind, instrument={
            'auth': False, 'server_stats_interval': 0.3}) as server:
        admin = clients.open('admin', server.url, namespace='/admin',
                             transports=['websocket'])
        config = clients.expect('admin', 'event',
                                lambda e: e['event'] == 'config')
        assert 'ALL_EVENTS' in config['args'][0]['supportedFeatures']
        clients.expect('admin', 'event',
                       lambda e: e['event'] == 'all_sockets')

        # a normal client, over polling then upgraded, exchanging messages
        sid = clients.open('user', server.url)['id']
        eio_sid = engine_sid(server, sid)
        connected = clients.expect(
            'admin', 'event', lambda e: e['event'] == 'socket_connected'
            and e['args'][0]['id'] == sid)
        assert connected['args'][0]['clientId'] == eio_sid
        assert connected['args'][0]['nsp'] == '/'
        assert clients.call('user', 'echo', 'hi') == ['echoed', 'hi']
        received = clients.expect(
            'admin', 'event', lambda e: e['event'] == 'event_received'
            and e['args'][1] == sid)
        assert received['args'][:3] == ['/', sid, ['echo', 'hi']]
        sent = clients.expect(
            'admin', 'event', lambda e: e['event'] == 'event_sent'
            and e['args'][1] == sid)
        assert sent['args'][:3] == ['/', sid, ['echo', 'hi']]
        clients.expect('user', 'upgrade')
        # the admin checks the transport of a polling client 5 s later,
        # through eio._get_socket(sid).upgraded
        updated = clients.expect(
            'admin', 'event', lambda e: e['event'] == 'socket_updated',
            timeout=TIMEOUT)
        assert updated['args'][0] == {'id': sid, 'nsp': '/',
                                      'transport': 'websocket'}

        # the stats: both engine sessions, and the traffic the patched
        # Socket methods, WebSocket and _ok counted
        counted = {}

        def stats_complete(event):
            if event['event'] != 'server_stats':
                return False
            stats = event['args'][0]
            for item in stats['aggregatedEvents']:
                counted[item['type']] = counted.get(item['type'], 0) + \
                    item['count']
            return stats['clientsCount'] == 2 and all(
                counted.get(name) for name in (
                    'rawConnection', 'packetsIn', 'packetsOut', 'bytesIn',
                    'bytesOut'))

        stats = clients.expect('admin', 'event', stats_complete)['args'][0]
        assert stats['pollingClientsCount'] == 0
        assert {'name': '/', 'socketsCount': 1} in stats['namespaces']

        clients.disconnect('user')
        gone = clients.expect(
            'admin', 'event', lambda e: e['event'] == 'socket_disconnected'
            and e['args'][1] == sid)
        assert gone['args'][:3] == ['/', sid, 'client disconnect']
        clients.disconnect('admin')
        assert clients.expect('admin', 'disconnect')['reason'] == \
            'io client disconnect'
        assert server.record.wait('disconnect', sid) == (
            server.sio.reason.CLIENT_DISCONNECT,)
        assert wait_no_sessions(server.sio) == {}
        assert admin['id']


@pytest.mark.parametrize('kind', ['asgi', 'threading'])
def test_admin_counts_polling_traffic(kind):
    """The admin UI counts HTTP traffic through the patched
    ``Socket.handle_post_request`` (in) and the wrapped ``eio._ok`` (out):
    both must be on the path of every polling request."""
    with running_server(kind, instrument={'auth': False}) as server:
        buffer = server.admin.event_buffer

        def counted(kind):
            return sum(item['count'] for item in list(buffer.buffer.values())
                       if item['type'] == kind)

        target = '/socket.io/?EIO=4&transport=polling'
        status, _, body = request(server.port, 'GET', target)
        assert status == 200 and body[:1] == b'0'
        sid = json.loads(body[1:])['sid']
        assert counted('rawConnection') == 1
        assert counted('packetsOut') == 1
        assert counted('bytesOut') == len(body)
        target += '&sid=' + sid
        status, _, reply = request(server.port, 'POST', target, body=b'1')
        assert (status, reply) == (200, b'ok')
        assert counted('packetsIn') == 1 and counted('bytesIn') == 1
        assert counted('packetsOut') == 2
        assert counted('bytesOut') == len(body) + len(reply)
        assert wait_no_sessions(server.sio) == {}


# -- python-socketio's own clients (on engineio.Client / AsyncClient) ------

def _require_client(name):
    if not hasattr(engineio, name):
        pytest.skip('engineio.%s does not exist yet (python-socketio\'s '
                    'client runs on it)' % name)


@pytest.mark.parametrize('transports', [['polling', 'websocket'],
                                        ['websocket']],
                         ids=['upgrade', 'websocket'])
def test_socketio_client(server, transports):
    _require_client('Client')
    client = socketio.Client(reconnection=False)
    got = queue.Queue()
    client.on('echo', lambda *args: got.put(('echo', args)))
    client.on('question', lambda data: ('python', data))
    client.on('answer_seen', lambda *args: got.put(('answer_seen', args)))
    client.connect(server.url, transports=transports, wait_timeout=TIMEOUT)
    try:
        sid = client.get_sid()
        assert server.record.wait('connect', sid) == (None,)
        answer = client.call('echo', ('x', b'\x00\x01'), timeout=TIMEOUT)
        assert answer == ('echoed', 'x', b'\x00\x01')
        assert got.get(timeout=TIMEOUT) == ('echo', ('x', b'\x00\x01'))
        client.emit('ask', 'q')
        assert server.record.wait('answer', sid) == (('python', 'q'),)
        assert got.get(timeout=TIMEOUT) == ('answer_seen', ('python', 'q'))
    finally:
        client.disconnect()
    assert server.record.wait('disconnect', sid) == (
        server.sio.reason.CLIENT_DISCONNECT,)


def test_socketio_async_client(server):
    _require_client('AsyncClient')
    import asyncio

    async def main():
        client = socketio.AsyncClient(reconnection=False)
        echoes = asyncio.Queue()

        @client.on('echo')
        async def echo(*args):
            await echoes.put(args)

        await client.connect(server.url, wait_timeout=TIMEOUT)
        try:
            sid = client.get_sid()
            answer = await client.call('echo', ('y', b'\xff'),
                                       timeout=TIMEOUT)
            assert answer == ('echoed', 'y', b'\xff')
            assert await asyncio.wait_for(echoes.get(), TIMEOUT) == \
                ('y', b'\xff')
        finally:
            await client.disconnect()
        return sid

    sid = asyncio.run(asyncio.wait_for(main(), TIMEOUT * 2))
    assert server.record.wait('disconnect', sid) == (
        server.sio.reason.CLIENT_DISCONNECT,)
