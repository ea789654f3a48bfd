"""The ``static_files`` option: python-engineio's rules, and no way out of
the configured files.

Unit tests of :func:`engineio.static_files.get_static_file` (the rules, in
python-engineio 4.15.1's precedence, on the cases of its own test suite;
content types; the configuration left untouched; every traversal form
refused, symbolic links included), then the same files over HTTP through
``ASGIApp`` on uvicorn and ``WSGIApp`` on werkzeug.  The HTTP part skips
where its server is not installed.
"""
import os
import threading

import pytest

from engineio.static_files import CONTENT_TYPES, get_static_file
from tests.loopback import TIMEOUT, request

import engineio


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    """``root/public`` (served) beside ``root/secret.txt`` (not served)::

        public/index.html  public/app.js  public/data  public/sub/index.html
        public/sub/page.TXT  public/link_in -> app.js
        public/link_out -> ../secret.txt  public/dir_out -> ..
        alias -> public
    """
    root = tmp_path_factory.mktemp('static')
    public = root / 'public'
    (public / 'sub').mkdir(parents=True)
    (public / 'index.html').write_text('<h1>index</h1>')
    (public / 'app.js').write_text('js()')
    (public / 'data').write_bytes(b'\x00\x01')
    (public / 'sub' / 'index.html').write_text('<h1>sub</h1>')
    (public / 'sub' / 'page.TXT').write_text('upper')
    (root / 'secret.txt').write_text('secret')
    os.symlink('app.js', str(public / 'link_in'))
    os.symlink(os.path.join('..', 'secret.txt'), str(public / 'link_out'))
    os.symlink('..', str(public / 'dir_out'))
    os.symlink('public', str(root / 'alias'))
    return str(root)


def served(path, static_files):
    """What a request for ``path`` gets: ``(file content, content type)``
    when it resolves to a regular file (what ``ASGIApp`` and ``WSGIApp``
    serve), else None."""
    found = get_static_file(path, static_files)
    if found is None or not os.path.isfile(found['filename']):
        return None
    with open(found['filename']) as f:
        return f.read(), found['content_type']


# -- the rules --------------------------------------------------------------

def test_the_rules_of_python_engineio(tree):
    # the configuration and the expectations of python-engineio's
    # tests/async/test_asgi.py::test_static_file_routing
    public = os.path.join(tree, 'public')
    index = public + '/index.html'
    files = {
        '/': index,
        '/foo': {'content_type': 'text/plain', 'filename': index},
        '/static': public,
        '/static/test/': public + '/',
        '/static2/test/': {'filename': public + '/',
                           'content_type': 'image/gif'},
    }
    html = ('<h1>index</h1>', 'text/html')
    assert served('/', files) == html
    assert served('/foo', files) == ('<h1>index</h1>', 'text/plain')
    assert served('/foo/bar', files) is None
    assert served('/static/index.html', files) == html
    assert served('/static/foo.bar', files) is None
    assert served('/static/test/index.html', files) == html
    assert served('/static/test/sub/', files) == ('<h1>sub</h1>',
                                                  'text/html')
    assert served('/static/test/sub/x.html', files) is None
    assert served('/static2/test/', files) == ('<h1>index</h1>', 'image/gif')
    assert served('/static2/test/sub/', files) == ('<h1>sub</h1>',
                                                   'image/gif')
    assert served('/static2/test/app.js', files) == ('js()', 'image/gif')
    assert served('/bar/foo', files) is None
    assert served('', files) is None
    # the '' entry names the file for a path ending in '/'; its content
    # type, if any, wins
    files[''] = 'index.html'
    assert served('/static/test/', files) == html
    files[''] = {'filename': 'index.html', 'content_type': 'image/gif'}
    assert served('/static/test/', files) == ('<h1>index</h1>', 'image/gif')
    files[''] = {'filename': 'test.gif'}
    assert served('/static/test/', files) is None


def test_precedence():
    files = {'/a': 'dir-a', '/a/b': 'dir-ab', '/a/b/': 'dir-ab-slash',
             '/a/exact.txt': 'exact.txt', '/c/': 'dir-c/'}
    # the exact path first
    assert get_static_file('/a/exact.txt', files)['filename'] == 'exact.txt'
    # then the longest prefix; at one length, the key without the slash
    assert get_static_file('/a/b/c.txt', files)['filename'] == \
        'dir-ab/c.txt'
    assert get_static_file('/a/x/c.txt', files)['filename'] == \
        'dir-a/x/c.txt'
    assert get_static_file('/c/d/e.txt', files)['filename'] == 'dir-c/d/e.txt'
    # a directory request: index.html unless '' says otherwise
    assert get_static_file('/a/', files)['filename'] == 'dir-a/index.html'
    assert get_static_file('/c/', files)['filename'] == 'dir-c/index.html'
    # '' is the directory default, never a prefix
    files[''] = 'default.html'
    assert get_static_file('/a/', files)['filename'] == 'dir-a/default.html'
    assert get_static_file('/elsewhere', files) is None
    assert get_static_file('/c', files) is None


def test_content_types():
    for extension, content_type in CONTENT_TYPES.items():
        path = '/f.' + extension
        assert get_static_file(path, {path: 'f.' + extension}) == {
            'filename': 'f.' + extension, 'content_type': content_type}
    files = {'/d': 'dir'}
    assert get_static_file('/d/UP.HTML', files)['content_type'] == \
        'text/html'
    for name in ('noext', 'archive.tar.xz', '.profile', 'txt'):
        assert get_static_file('/d/' + name, files)['content_type'] == \
            'application/octet-stream', name
    # the extension is the file's, not a directory's
    assert get_static_file('/d/v1.js/file', files)['content_type'] == \
        'application/octet-stream'


def test_the_configuration_is_not_changed():
    entry = {'filename': 'dir/', 'content_type': 'text/x-test'}
    default = {'filename': 'home.html', 'content_type': 'text/x-home'}
    files = {'/d': entry, '': default}
    assert get_static_file('/d/sub/', files) == {
        'filename': 'dir/sub/home.html', 'content_type': 'text/x-home'}
    assert get_static_file('/d/x', files) == {
        'filename': 'dir/x', 'content_type': 'text/x-test'}
    assert entry == {'filename': 'dir/', 'content_type': 'text/x-test'}
    assert default == {'filename': 'home.html', 'content_type': 'text/x-home'}


# -- no way out ---------------------------------------------------------------

TRAVERSALS = [
    '/static/../secret.txt', '/static/sub/../../secret.txt',
    '/static/..', '/static/%2e%2e/secret.txt', '/static/%2E%2E/secret.txt',
    '/static/%2e%2e%2fsecret.txt', '/static/%252e%252e/secret.txt',
    '/static/..%5csecret.txt', '/static/..\\secret.txt',
    '/static/sub\\..\\..\\secret.txt', '/static/secret.txt\x00.js',
    '/static/%00', 'static/app.js', '',
]


@pytest.mark.parametrize('path', TRAVERSALS)
def test_traversal_is_refused(tree, path):
    files = {'/static': os.path.join(tree, 'public'), '/': 'x'}
    assert get_static_file(path, files) is None


def test_absolute_paths_stay_inside(tree):
    public = os.path.join(tree, 'public')
    for directory in (public, public + '/'):
        files = {'/static': directory}
        found = get_static_file('/static//etc/passwd', files)
        assert found['filename'].startswith(directory)
        assert served('/static//etc/passwd', files) is None
        assert served('/static//app.js', files) == (
            'js()', 'application/javascript')


def test_symbolic_links_may_not_leave_the_directory(tree):
    public = os.path.join(tree, 'public')
    files = {'/static': public, '/alias': os.path.join(tree, 'alias'),
             '/secret': os.path.join(tree, 'secret.txt')}
    assert served('/static/link_in', files) == ('js()',
                                                'application/octet-stream')
    assert get_static_file('/static/link_out', files) is None
    assert get_static_file('/static/dir_out/secret.txt', files) is None
    # the configured paths themselves may be links, or anywhere
    assert served('/alias/app.js', files) == ('js()',
                                              'application/javascript')
    assert served('/secret', files) == ('secret', 'text/plain')


# -- over HTTP ----------------------------------------------------------------

def _asgi(static_files):
    from tests.test_asgi_servers import STACKS, serving
    (stack,) = [s for s in STACKS if s.name == 'uvicorn-websockets-sansio']
    eio = engineio.AsyncServer(async_mode='asgi')
    return serving(engineio.ASGIApp(eio, static_files=static_files), stack)


class _WSGIServer:
    def __init__(self, static_files):
        serving = pytest.importorskip('werkzeug.serving')

        class QuietHandler(serving.WSGIRequestHandler):
            def log_request(self, *args, **kwargs):
                pass

        eio = engineio.Server(async_mode='threading')
        self.httpd = serving.make_server(
            '127.0.0.1', 0, engineio.WSGIApp(eio, static_files=static_files),
            threaded=True, request_handler=QuietHandler)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        return self.httpd.server_port

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.thread.join(TIMEOUT)
        self.httpd.server_close()


@pytest.fixture(scope='module', params=['asgi', 'wsgi'])
def port(request, tree):
    public = os.path.join(tree, 'public')
    static_files = {
        '/': public + '/index.html',
        '/static': public,
        '/typed': {'filename': public + '/data',
                   'content_type': 'application/x-test'},
    }
    if request.param == 'asgi':
        pytest.importorskip('uvicorn')
        server = _asgi(static_files)
    else:
        server = _WSGIServer(static_files)
    with server as port:
        yield port


def test_files_over_http(port):
    for path, body, content_type in [
            ('/', b'<h1>index</h1>', 'text/html'),
            ('/static/app.js', b'js()', 'application/javascript'),
            ('/static/', b'<h1>index</h1>', 'text/html'),
            ('/static/sub/', b'<h1>sub</h1>', 'text/html'),
            ('/static/sub/page.TXT', b'upper', 'text/plain'),
            ('/typed', b'\x00\x01', 'application/x-test')]:
        status, headers, got = request(port, 'GET', path)
        headers = {k.lower(): v for k, v in headers.items()}
        assert (status, got) == (200, body), path
        assert headers['content-type'] == content_type, path
        assert headers['content-length'] == str(len(body)), path


@pytest.mark.parametrize('path', [
    p for p in TRAVERSALS if p.startswith('/') and '\x00' not in p] + [
    '/static/link_out', '/static/dir_out/secret.txt', '/static/sub',
    '/static/missing.js', '/static//etc/passwd'])
def test_nothing_else_over_http(port, path):
    status, _, body = request(port, 'GET', path.replace('\\', '%5C'))
    assert (status, body) == (404, b'Not Found')
