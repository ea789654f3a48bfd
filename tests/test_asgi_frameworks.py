"""``ASGIApp`` in front of a Starlette application and of Django's ASGI
application, on a real uvicorn on 127.0.0.1 (``tests.test_asgi_servers``
runs it).

What is checked: the framework's HTTP routes answer (a POST body reaches
it intact) and its own 404 answers what nobody serves; static files are
served before the framework; the Engine.IO path (HTTP and WebSocket) goes
to the Engine.IO server; WebSocket scopes that are not Engine.IO's go to
the framework; ``engineio_path=None`` sends everything to Engine.IO; and
the lifespan: ``on_startup``/``on_shutdown`` hooks run when given, else
the lifespan goes to the framework (Starlette runs its own; Django, which
has none, makes uvicorn carry on without it).  Each framework is skipped
where it is not installed (PyPy has neither).
"""
import contextlib
import json
import threading

import pytest

from tests.asgi_helpers import OP_TEXT, RawWebSocket
from tests.loopback import TIMEOUT, request
from tests.test_asgi_servers import STACKS, Events, echo_server, serving
from tests.test_asgi_servers import no_server_errors  # noqa: F401 (autouse)
from tests.test_wsgi_frameworks import configure_django, static_directory

import engineio

#: the stack these run on: uvicorn's default one
(STACK,) = [stack for stack in STACKS
            if stack.name == 'uvicorn-websockets-sansio']


class Lifespan:
    """The framework's own lifespan (or the ASGIApp hooks) ran."""

    def __init__(self):
        self.started = threading.Event()
        self.stopped = threading.Event()


def starlette_app(lifespan):
    pytest.importorskip('starlette')
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route, WebSocketRoute

    async def hello(request):
        return PlainTextResponse('hello from starlette')

    async def echo(request):
        return Response(await request.body(), media_type='text/plain')

    async def not_found(request, exc):
        return PlainTextResponse('starlette: no such page', status_code=404)

    async def websocket_echo(websocket):
        await websocket.accept()
        text = await websocket.receive_text()
        await websocket.send_text('starlette: ' + text)
        await websocket.close()

    @contextlib.asynccontextmanager
    async def starlette_lifespan(app):
        lifespan.started.set()
        yield
        lifespan.stopped.set()

    return Starlette(routes=[
        Route('/app/hello', hello),
        Route('/app/echo', echo, methods=['POST']),
        WebSocketRoute('/app/ws', websocket_echo),
    ], lifespan=starlette_lifespan, exception_handlers={404: not_found})


def django_app(lifespan):
    configure_django()
    from django.core.asgi import get_asgi_application
    return get_asgi_application()


FRAMEWORKS = {'starlette': starlette_app, 'django': django_app}


@contextlib.contextmanager
def running(tmp_path, framework, hooks=False, lifespan_mode='on',
            **options):
    """``ASGIApp(echo server, framework app)`` on uvicorn; yields
    ``(port, events, framework lifespan, ASGIApp hooks)``."""
    STACK.skip_if_missing()
    framework_lifespan, hook_lifespan = Lifespan(), Lifespan()
    other = FRAMEWORKS[framework](framework_lifespan)
    events = Events()
    eio = echo_server(events)
    if hooks:
        options.update(on_startup=hook_lifespan.started.set,
                       on_shutdown=hook_lifespan.stopped.set)
    app = engineio.ASGIApp(eio, other, static_files={
        '/static': static_directory(tmp_path)}, **options)
    with serving(app, STACK, lifespan=lifespan_mode) as port:
        yield port, events, framework_lifespan, hook_lifespan
    assert not eio.sockets, 'sessions outlived the test'


def check_routes(port, framework):
    status, _, body = request(port, 'GET', '/app/hello')
    assert (status, body) == (200, b'hello from ' + framework.encode())
    payload = b'\x00\xff' * 5000  # the body reaches the framework intact
    status, _, body = request(port, 'POST', '/app/echo', body=payload,
                              headers={'Content-Type': 'text/plain'})
    assert (status, body) == (200, payload)
    # nobody serves it: the framework's own 404, not ASGIApp's
    status, _, body = request(port, 'GET', '/app/nothing')
    assert (status, body) == (404, framework.encode() + b': no such page')


def check_static_files(port, framework):
    status, headers, body = request(port, 'GET', '/static/app.js')
    assert (status, body) == (200, b'console.log(1)')
    assert headers['content-type'] == 'application/javascript'
    assert request(port, 'GET', '/static/')[0::2] == (200, b'<h1>index</h1>')
    status, _, body = request(port, 'GET', '/static/%C3%A9t%C3%A9.txt')
    assert (status, body) == (200, b'summer')
    for path in ('/static/missing.js', '/static/../secret.txt',
                 '/static/%2e%2e/secret.txt'):
        status, _, body = request(port, 'GET', path)
        assert (status, body) == (
            404, framework.encode() + b': no such page'), path


def check_engineio(port, events, path='/engine.io/'):
    status, _, body = request(port, 'GET', path + '?EIO=4&transport=polling')
    assert status == 200 and body[:1] == b'0', body
    sid = json.loads(body[1:])['sid']
    target = path + '?EIO=4&transport=polling&sid=' + sid
    assert request(port, 'POST', target, body=b'4hi')[0::2] == (200, b'ok')
    assert request(port, 'GET', target)[0::2] == (200, b'4hi')
    ws = RawWebSocket(port, path + '?EIO=4&transport=websocket')
    try:
        assert ws.status == 101
        opcode, payload = ws.recv()
        assert opcode == OP_TEXT and payload.startswith('0{')
        ws.send('4over websocket')
        assert ws.recv() == (OP_TEXT, '4over websocket')
    finally:
        ws.close()
    assert request(port, 'POST', target, body=b'1')[0] == 200
    assert events.wait_disconnect(sid) == 'client disconnect'


@pytest.mark.parametrize('framework', sorted(FRAMEWORKS))
def test_framework_behind_asgiapp(tmp_path, framework):
    # Django has no lifespan: the hooks are what makes uvicorn's
    # lifespan='on' start
    hooks = framework == 'django'
    with running(tmp_path, framework, hooks=hooks) as (
            port, events, framework_lifespan, hook_lifespan):
        check_routes(port, framework)
        check_static_files(port, framework)
        check_engineio(port, events)
        if framework == 'starlette':
            # a WebSocket that is not Engine.IO's goes to the framework
            ws = RawWebSocket(port, '/app/ws')
            try:
                assert ws.status == 101
                ws.send('hi')
                assert ws.recv() == (OP_TEXT, 'starlette: hi')
            finally:
                ws.close()
        started = hook_lifespan.started if hooks else \
            framework_lifespan.started
        assert started.wait(TIMEOUT), 'lifespan startup did not run'
    assert (hook_lifespan if hooks else framework_lifespan).stopped.is_set()


def test_hooks_take_the_lifespan_from_the_framework(tmp_path):
    # python-engineio's rule: with hooks, the framework's lifespan does not
    # run (a framework with its own startup work gets no hooks)
    with running(tmp_path, 'starlette', hooks=True) as (
            port, _, framework_lifespan, hook_lifespan):
        assert hook_lifespan.started.wait(TIMEOUT)
        check_routes(port, 'starlette')
    assert hook_lifespan.stopped.is_set()
    assert not framework_lifespan.started.is_set()
    assert not framework_lifespan.stopped.is_set()


def test_django_without_hooks_runs_without_lifespan(tmp_path):
    # the lifespan goes to Django, which refuses it: uvicorn (auto) goes on
    with running(tmp_path, 'django', lifespan_mode='auto') as (port, *_):
        check_routes(port, 'django')


def test_no_routing_sends_everything_to_engineio(tmp_path):
    with running(tmp_path, 'starlette', engineio_path=None) as (
            port, events, framework_lifespan, _):
        # neither the framework's routes nor the static files are reached
        for path in ('/app/hello', '/static/app.js'):
            status, _, body = request(port, 'GET', path)
            assert status == 400 and json.loads(body)['code'] == 0, path
        check_engineio(port, events, path='/app/ws')
        # the lifespan still goes to the framework
        assert framework_lifespan.started.wait(TIMEOUT)


def test_custom_engineio_path(tmp_path):
    with running(tmp_path, 'starlette', engineio_path='realtime') as (
            port, events, *_):
        check_engineio(port, events, path='/realtime/')
        check_routes(port, 'starlette')
        status, _, body = request(port, 'GET',
                                  '/engine.io/?EIO=4&transport=polling')
        # the framework's: not an Engine.IO path now
        assert (status, body) == (404, b'starlette: no such page')
