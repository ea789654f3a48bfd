"""``WSGIApp`` in front of a Flask application and of Django's WSGI
application, on werkzeug's threaded server on 127.0.0.1 (threading mode,
our WebSocket on werkzeug's raw socket).

The framework's routes answer (GET and a POST whose body must reach it
intact), its own 404 answers what nobody serves, static files are served
by ``WSGIApp`` before the framework sees the request, the Engine.IO path
goes to the server, and the official JavaScript client upgrades through
it.  Django is configured in process (no database, two URL routes); the
same configuration serves ``tests/test_asgi_frameworks.py``.  Each
framework is skipped where it is not installed (PyPy has neither).
"""
import json
import sys
import threading
import types

import pytest

from tests.loopback import TIMEOUT, js_client_echo, open_session, request

serving = pytest.importorskip('werkzeug.serving')

import engineio  # noqa: E402

#: the module Django's ROOT_URLCONF names (made by :func:`configure_django`)
DJANGO_URLS = 'engineio_test_django_urls'


def configure_django():
    """Configure Django once per process: no database, no middleware, the
    routes ``/app/hello`` and ``/app/echo`` (POST: the body back)."""
    pytest.importorskip('django')
    import django
    from django.conf import settings
    if settings.configured:
        return
    from django.http import HttpResponse, HttpResponseNotFound
    from django.urls import path

    def hello(request):
        return HttpResponse('hello from django', content_type='text/plain')

    def echo(request):
        return HttpResponse(request.body, content_type='text/plain')

    def not_found(request, exception):
        return HttpResponseNotFound('django: no such page',
                                    content_type='text/plain')

    urls = types.ModuleType(DJANGO_URLS)
    urls.urlpatterns = [path('app/hello', hello), path('app/echo', echo)]
    urls.handler404 = not_found
    sys.modules[DJANGO_URLS] = urls
    settings.configure(
        DEBUG=False, SECRET_KEY='engineio-tests', ALLOWED_HOSTS=['*'],
        ROOT_URLCONF=DJANGO_URLS, MIDDLEWARE=[], INSTALLED_APPS=[],
        DATABASES={}, LOGGING_CONFIG=None, USE_TZ=True)
    django.setup()


def flask_app():
    flask = pytest.importorskip('flask')
    app = flask.Flask('engineio_tests')

    @app.route('/app/hello')
    def hello():
        return 'hello from flask'

    @app.route('/app/echo', methods=['POST'])
    def echo():
        return flask.request.get_data()

    @app.errorhandler(404)
    def not_found(error):
        return 'flask: no such page', 404
    return app


def django_app():
    configure_django()
    from django.core.wsgi import get_wsgi_application
    return get_wsgi_application()


FRAMEWORKS = {'flask': flask_app, 'django': django_app}


class QuietHandler(serving.WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


class Events:
    """Disconnect reasons, readable from the test thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.disconnects = {}
        self.disconnected = {}

    def wait_disconnect(self, sid):
        with self.lock:
            event = self.disconnected.setdefault(sid, threading.Event())
        assert event.wait(TIMEOUT), 'no disconnect for %s' % sid
        return self.disconnects[sid]


def static_directory(root):
    """The static files the tests serve, and a secret beside them."""
    public = root / 'public'
    public.mkdir()
    (public / 'index.html').write_text('<h1>index</h1>')
    (public / 'app.js').write_text('console.log(1)')
    (public / '\u00e9t\u00e9.txt').write_text('summer')
    (root / 'secret.txt').write_text('secret')
    return str(public)


@pytest.fixture(scope='module', params=sorted(FRAMEWORKS))
def server(request, tmp_path_factory):
    name = request.param
    framework = FRAMEWORKS[name]()
    public = static_directory(tmp_path_factory.mktemp(name))
    events = Events()
    eio = engineio.Server(async_mode='threading', async_handlers=False,
                          max_http_buffer_size=1000)

    @eio.on('message')
    def message(sid, data):
        eio.send(sid, data)

    @eio.on('disconnect')
    def disconnect(sid, reason):
        with events.lock:
            events.disconnects[sid] = reason
            events.disconnected.setdefault(sid, threading.Event()).set()

    app = engineio.WSGIApp(eio, framework, static_files={'/static': public})
    httpd = serving.make_server('127.0.0.1', 0, app, threaded=True,
                                request_handler=QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield name, httpd.server_port, events
    finally:
        httpd.shutdown()
        thread.join(TIMEOUT)
        httpd.server_close()
        eio.shutdown()
    assert not eio.sockets, 'sessions outlived the tests'


def test_framework_routes(server):
    name, port, _ = server
    status, _, body = request(port, 'GET', '/app/hello')
    assert (status, body) == (200, b'hello from ' + name.encode())
    payload = b'\x00\xff' * 5000  # the body reaches the framework intact
    status, _, body = request(port, 'POST', '/app/echo', body=payload,
                              headers={'Content-Type': 'text/plain'})
    assert (status, body) == (200, payload)
    # nobody serves it: the framework's own 404, not WSGIApp's
    status, _, body = request(port, 'GET', '/app/nothing')
    assert (status, body) == (404, name.encode() + b': no such page')


def test_static_files_are_served_before_the_framework(server):
    name, port, _ = server
    status, headers, body = request(port, 'GET', '/static/app.js')
    assert (status, body) == (200, b'console.log(1)')
    assert headers['Content-Type'] == 'application/javascript'
    assert headers['Content-Length'] == '14'
    status, headers, body = request(port, 'GET', '/static/')
    assert (status, body) == (200, b'<h1>index</h1>')
    assert headers['Content-Type'] == 'text/html'
    # WSGI hands PATH_INFO over as latin-1: the UTF-8 file name is found
    status, _, body = request(port, 'GET', '/static/%C3%A9t%C3%A9.txt')
    assert (status, body) == (200, b'summer')
    # what static_files does not serve goes on to the framework
    for path in ('/static/missing.js', '/static/../secret.txt',
                 '/static/%2e%2e/secret.txt'):
        status, _, body = request(port, 'GET', path)
        assert (status, body) == (404, name.encode() + b': no such page'), \
            path


def test_engineio_path_goes_to_engineio(server):
    _, port, events = server
    sid = open_session(port)
    target = '/engine.io/?EIO=4&transport=polling&sid=' + sid
    assert request(port, 'POST', target, body=b'4hi')[0::2] == (200, b'ok')
    assert request(port, 'GET', target)[0::2] == (200, b'4hi')
    assert request(port, 'POST', target, body=b'1')[0] == 200
    assert events.wait_disconnect(sid) == 'client disconnect'
    status, _, body = request(port, 'GET', '/engine.io/?EIO=4&transport=x')
    assert status == 400 and json.loads(body)['code'] == 0


def test_official_js_client_upgrades_through_the_app(server):
    _, port, events = server
    output = js_client_echo(port, 'upgrade')
    assert events.wait_disconnect(output['sid']) == 'transport close'
