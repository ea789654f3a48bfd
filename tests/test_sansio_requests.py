"""The sans-I/O core: config, request validation, errors, CORS, cookies,
handshake (engineio._sansio)."""
import json

import pytest

from engineio import packet
from engineio._sansio import (AcceptWebSocket, Handshake, Response,
                              ServerConfig, ServerCore, sid_cookie)
from engineio._sansio.requests import (Request, headers_from_asgi,
                                       headers_from_environ, parse_query,
                                       parse_request, request_from_environ)
from engineio._sansio.session import OPEN

HOST = {'host': 'example.com'}


def request(core, method='GET', query='EIO=4&transport=polling',
            headers=None, now=0.0):
    return core.handle_request(method, query, dict(HOST, **(headers or {})),
                               'http', {'env': 1}, now)


def connect(core, query='EIO=4&transport=polling', headers=None, result=None):
    outcome = request(core, 'GET', query, headers)
    assert isinstance(outcome, Handshake)
    return outcome.session, core.finish_handshake(outcome.session, result)


def error_body(code, message):
    return ('{"code":%d,"message":"%s"}' % (code, message)).encode()


# -- config ------------------------------------------------------------------

def test_config_defaults_match_reference():
    c = ServerConfig()
    assert (c.ping_interval, c.ping_interval_grace_period, c.ping_timeout) \
        == (25, 0, 20)
    assert c.max_http_buffer_size == 1_000_000
    assert c.allow_upgrades and c.http_compression and c.cors_credentials
    assert c.compression_threshold == 1024
    assert c.cookie is None and c.cors_allowed_origins is None
    assert c.transports == ('polling', 'websocket')
    assert c.allow_eio3 is False and c.upgrade_timeout == 10
    assert (c.ping_interval_ms, c.ping_timeout_ms) == (25000, 20000)


@pytest.mark.parametrize('interval,timeout,ms', [
    (0.3, 0.3, (300, 300)), (2.5, 1.5, (2500, 1500)),
    ((1, 0.25), 5, (1250, 5000)), (0.0004, 1, (0, 1000)),
])
def test_config_milliseconds_rounded(interval, timeout, ms):
    c = ServerConfig(ping_interval=interval, ping_timeout=timeout)
    assert (c.ping_interval_ms, c.ping_timeout_ms) == ms


def test_config_transports():
    assert ServerConfig(transports='polling').transports == ('polling',)
    assert ServerConfig(transports=['websocket', 'x']).transports == \
        ('websocket',)
    with pytest.raises(ValueError, match='No valid transports provided'):
        ServerConfig(transports=['foo'])
    with pytest.raises(ValueError):
        ServerConfig(ping_interval=0)
    with pytest.raises(ValueError):
        ServerConfig(ping_timeout=-1)
    ServerConfig(foo='ignored')  # reserved kwargs, as the reference


# -- query / headers ---------------------------------------------------------

def test_parse_query():
    assert parse_query('') == {}
    assert parse_query('a=1&a=2&b=%41+c&&d') == {'a': '1', 'b': 'A c',
                                                 'd': ''}


def test_headers_from_environ_and_asgi():
    env = {'HTTP_ORIGIN': 'http://a', 'CONTENT_LENGTH': '5',
           'HTTP_X_OTHER': 'x', 'HTTP_UPGRADE': ''}
    assert headers_from_environ(env) == {'origin': 'http://a',
                                         'content-length': '5'}
    assert headers_from_asgi([(b'Origin', b'http://a'), (b'a', b'1'),
                              (b'a', b'2')]) == {'origin': 'http://a',
                                                 'a': '1, 2'}


@pytest.mark.parametrize('query', [
    '', 'EIO=4&transport=polling&sid=abc', 'sid=x&sid=y&EIO=4',
    'a=1&&b=2&', '&sid&sid=abc', '=x&&=y', 'j=12&b64', 'j=&transport',
    's%69d=a+b&transport=polling', 'sid=&sid=z', 'EIO=4&t=Nx1&sid=a=b',
])
@pytest.mark.parametrize('headers', [
    {}, {'HTTP_ORIGIN': 'http://a', 'HTTP_HOST': 'a', 'CONTENT_LENGTH': '6',
         'CONTENT_TYPE': 'text/plain', 'HTTP_ACCEPT_ENCODING': 'gzip'},
    {'HTTP_UPGRADE': 'WebSocket', 'HTTP_X_FORWARDED_PROTO': 'https',
     'HTTP_X_FORWARDED_HOST': 'b',
     'HTTP_ACCESS_CONTROL_REQUEST_HEADERS': 'x-a'},
    {'HTTP_ORIGIN': '', 'HTTP_UPGRADE': '', 'CONTENT_LENGTH': '',
     'HTTP_HOST': ''},
])
def test_request_from_environ_is_parse_request_of_its_headers(query,
                                                              headers):
    environ = dict(headers, REQUEST_METHOD='post', QUERY_STRING=query)
    direct = request_from_environ(environ)
    mapped = parse_request('post', query, headers_from_environ(environ),
                           'http', environ)
    for name in Request.__slots__:
        assert getattr(direct, name) == getattr(mapped, name), name
    assert parse_query(query) == direct.query


def test_request_from_environ_defaults():
    request = request_from_environ({})
    assert (request.method, request.scheme, request.query) == \
        ('GET', 'http', {})


# -- the validation table ----------------------------------------------------

@pytest.mark.parametrize('method,query,headers,status,code', [
    # transport
    ('GET', 'EIO=4', {}, 400, 0),
    ('GET', 'EIO=4&transport=foo', {}, 400, 0),
    ('GET', 'EIO=4&transport=', {}, 400, 0),
    # handshake
    ('POST', 'EIO=4&transport=polling', {}, 400, 2),
    ('PUT', 'EIO=4&transport=polling', {}, 400, 2),
    ('GET', 'EIO=4&transport=polling&j=abc', {}, 400, 3),
    ('GET', 'EIO=4&transport=websocket', {}, 400, 3),
    ('GET', 'EIO=4&transport=websocket', {'upgrade': 'h2c'}, 400, 3),
    ('GET', 'EIO=3&transport=polling', {}, 400, 5),
    ('GET', 'transport=polling', {}, 400, 5),
    ('GET', 'EIO=5&transport=polling', {}, 400, 5),
    ('GET', 'EIO=x&transport=polling', {}, 400, 5),
    # sid
    ('GET', 'EIO=4&transport=polling&sid=nope', {}, 400, 1),
    ('POST', 'EIO=4&transport=polling&sid=nope', {}, 400, 1),
    # origin
    ('GET', 'EIO=4&transport=polling', {'origin': 'http://evil.com'},
     403, 4),
    ('GET', 'EIO=4&transport=polling', {'origin': 'http://a\r\nX: y'},
     400, 3),
])
def test_validation_errors(method, query, headers, status, code):
    core = ServerCore()
    r = request(core, method, query, headers)
    assert isinstance(r, Response)
    assert r.status == status and r.error_code == code
    from engineio._sansio.responses import ERROR_MESSAGES
    assert r.body == error_body(code, ERROR_MESSAGES[code])
    assert r.header('Content-Type') == 'application/json'
    assert r.header('Content-Length') == str(len(r.body))
    assert core.sessions == {}


def test_error_bodies_byte_for_byte():
    from engineio._sansio.responses import error_response
    expected = {
        0: b'{"code":0,"message":"Transport unknown"}',
        1: b'{"code":1,"message":"Session ID unknown"}',
        2: b'{"code":2,"message":"Bad handshake method"}',
        3: b'{"code":3,"message":"Bad request"}',
        4: b'{"code":4,"message":"Forbidden"}',
        5: b'{"code":5,"message":"Unsupported protocol version"}',
    }
    for code, body in expected.items():
        r = error_response(code, [])
        assert r.body == body
        assert r.status_line == ('403 Forbidden' if code == 4
                                 else '400 Bad Request')


def test_transport_not_enabled():
    core = ServerCore(ServerConfig(transports='polling'))
    r = request(core, 'GET', 'EIO=4&transport=websocket',
                {'upgrade': 'websocket'})
    assert r.error_code == 0


def test_sid_requests_with_wrong_version_method_transport():
    core = ServerCore()
    session, _ = connect(core)
    sid = session.sid
    for method, query, headers in [
            ('GET', 'EIO=3&transport=polling&sid=' + sid, {}),
            ('GET', 'transport=polling&sid=' + sid, {}),
            ('GET', 'EIO=4&transport=polling&j=x&sid=' + sid, {}),
            ('PUT', 'EIO=4&transport=polling&sid=' + sid, {}),
            ('GET', 'EIO=4&transport=websocket&sid=' + sid, {}),
            ('POST', 'EIO=4&transport=websocket&sid=' + sid, {})]:
        r = request(core, method, query, headers)
        assert (r.status, r.error_code) == (400, 3), (method, query)
    assert session.state == OPEN  # none of those closes the session


def test_connecting_session_is_unknown():
    core = ServerCore()
    outcome = request(core)
    r = request(core, 'GET', 'EIO=4&transport=polling&sid='
                + outcome.session.sid)
    assert r.error_code == 1


# -- handshake ---------------------------------------------------------------

def test_handshake_polling():
    core = ServerCore()
    session, r = connect(core)
    assert r.status == 200
    assert r.header('Content-Type') == 'text/plain; charset=UTF-8'
    assert r.header('Cache-Control') == 'no-store'
    assert r.header('Set-Cookie') is None
    assert r.body.startswith(b'0{"sid":"')
    doc = json.loads(r.body[1:])
    assert list(doc) == ['sid', 'upgrades', 'pingTimeout', 'pingInterval',
                         'maxPayload']
    assert doc == {'sid': session.sid, 'upgrades': ['websocket'],
                   'pingTimeout': 20000, 'pingInterval': 25000,
                   'maxPayload': 1000000}
    assert len(session.sid) == 20
    assert core.sessions == {session.sid: session}
    assert session.connected and not session.upgraded


def test_sid_shape():
    core = ServerCore()
    sids = {core.generate_id() for _ in range(200)}
    assert len(sids) == 200
    for sid in sids:
        assert len(sid) == 20 and '/' not in sid and '+' not in sid


@pytest.mark.parametrize('kwargs,upgrades', [
    ({}, ['websocket']), ({'allow_upgrades': False}, []),
    ({'transports': 'polling'}, []),
])
def test_handshake_upgrades(kwargs, upgrades):
    core = ServerCore(ServerConfig(**kwargs))
    _, r = connect(core)
    assert json.loads(r.body[1:])['upgrades'] == upgrades


def test_handshake_fractional_intervals_and_grace():
    core = ServerCore(ServerConfig(ping_interval=(0.3, 0.2),
                                   ping_timeout=0.3, max_http_buffer_size=7))
    _, r = connect(core)
    doc = json.loads(r.body[1:])
    assert (doc['pingInterval'], doc['pingTimeout'], doc['maxPayload']) == \
        (500, 300, 7)


def test_handshake_includes_packets_sent_by_connect_handler():
    core = ServerCore()
    outcome = request(core)
    core.send(outcome.session.sid, packet.Packet(packet.MESSAGE, 'hi'))
    r = core.finish_handshake(outcome.session)
    assert r.body.endswith(b'\x1e4hi')


def test_handshake_websocket_direct():
    core = ServerCore()
    outcome = request(core, 'GET', 'EIO=4&transport=websocket',
                      {'upgrade': 'WebSocket'})
    session = outcome.session
    accept = core.finish_handshake(session, True)
    assert isinstance(accept, AcceptWebSocket)
    assert core.drain() == []
    core.websocket_open(session, accept.ws_id)
    [(kind, s, frames)] = core.drain()
    assert s is session and len(frames) == 1
    assert json.loads(frames[0][1:])['upgrades'] == []
    assert session.upgraded and core.sessions[session.sid] is session


@pytest.mark.parametrize('result,body', [
    (False, b'"Unauthorized"'), ({'a': 1}, b'{"a": 1}'),
    ('nope', b'"nope"'),
])
def test_connect_refused(result, body):
    core = ServerCore()
    outcome = request(core)
    r = core.finish_handshake(outcome.session, result)
    assert (r.status, r.body) == (401, body)
    assert r.header('Content-Type') == 'application/json'
    assert core.sessions == {} and core.drain() == []  # no disconnect


def test_connect_handler_failed():
    core = ServerCore()
    outcome = request(core)
    r = core.finish_handshake(outcome.session, None, failed=True)
    assert (r.status, r.body) == (401, b'"Unauthorized"')
    assert core.sessions == {}


def test_disconnect_during_connect_refuses():
    core = ServerCore()
    outcome = request(core)
    core.disconnect(outcome.session)
    r = core.finish_handshake(outcome.session, True)
    assert r.status == 401 and core.sessions == {} and core.drain() == []


def test_eio3_allowed():
    core = ServerCore(ServerConfig(allow_eio3=True))
    session, r = connect(core, 'EIO=3&transport=polling')
    assert session.version == 3 and r.status == 200
    length, _, rest = r.body.partition(b':')
    assert rest.startswith(b'0{"sid":') and int(length) == len(rest)


# -- cookies -----------------------------------------------------------------

def test_cookies():
    assert sid_cookie(None, 's') is None
    assert sid_cookie('io', 's') == 'io=s; path=/; SameSite=Lax'
    assert sid_cookie({}, 's') is None
    assert sid_cookie({'name': 'x', 'path': '/p', 'HttpOnly': True,
                       'Secure': False, 'Expires': lambda: 'never'}, 's') \
        == 'x=s; path=/p; HttpOnly; Expires=never'
    assert sid_cookie({'SameSite': 'Strict'}, 's') == 'io=s; SameSite=Strict'


def test_cookie_on_polling_handshake_only():
    core = ServerCore(ServerConfig(cookie='sticky'))
    session, r = connect(core)
    assert r.header('Set-Cookie') == \
        'sticky=%s; path=/; SameSite=Lax' % session.sid
    core.send(session.sid, packet.Packet(packet.MESSAGE, 'x'))
    poll = request(core, 'GET', 'EIO=4&transport=polling&sid=' + session.sid)
    assert poll.header('Set-Cookie') is None


# -- CORS --------------------------------------------------------------------

def cors_of(r):
    return [(k, v) for k, v in r.headers if k.startswith('Access-Control')]


@pytest.mark.parametrize('option,origin,allowed', [
    (None, 'http://example.com', True),
    (None, 'https://example.com', False),
    (None, 'http://other.com', False),
    ('*', 'http://any.com', True),
    (['*'], 'http://any.com', True),
    ('http://a.com', 'http://a.com', True),
    ('http://a.com', 'http://b.com', False),
    (['http://a.com', 'http://b.com'], 'http://b.com', True),
    (['http://a.com'], 'http://c.com', False),
    (lambda origin, environ: environ == {'env': 1} and origin.endswith(
        'a.com'), 'http://a.com', True),
    (lambda origin: origin == 'http://a.com', 'http://a.com', True),
    (lambda origin: False, 'http://a.com', False),
])
def test_cors_origins(option, origin, allowed):
    core = ServerCore(ServerConfig(cors_allowed_origins=option))
    r = request(core, headers={'origin': origin})
    if allowed:
        assert isinstance(r, Handshake)
        r = core.finish_handshake(r.session)
        assert cors_of(r) == [('Access-Control-Allow-Origin', origin),
                              ('Access-Control-Allow-Credentials', 'true')]
    else:
        assert (r.status, r.error_code) == (403, 4)
        assert cors_of(r) == [('Access-Control-Allow-Credentials', 'true')]


def test_cors_forwarded_headers():
    core = ServerCore()
    r = request(core, headers={'origin': 'https://front.com',
                               'x-forwarded-proto': 'https, http',
                               'x-forwarded-host': 'front.com, x'})
    assert isinstance(r, Handshake)


def test_cors_disabled():
    core = ServerCore(ServerConfig(cors_allowed_origins=[]))
    r = request(core, headers={'origin': 'http://evil.com'})
    r = core.finish_handshake(r.session)
    assert cors_of(r) == []
    r = request(core, 'OPTIONS')
    assert r.status == 204 and cors_of(r) == []


def test_cors_no_credentials_and_no_origin():
    core = ServerCore(ServerConfig(cors_credentials=False))
    r = request(core, 'GET', 'EIO=4')
    assert cors_of(r) == []


def test_preflight():
    core = ServerCore(ServerConfig(cors_allowed_origins='http://a.com'))
    r = request(core, 'OPTIONS', 'EIO=4&transport=polling&sid=x',
                {'origin': 'http://a.com',
                 'access-control-request-headers': 'X-Foo'})
    assert r.status == 204 and r.body == b''
    assert cors_of(r) == [
        ('Access-Control-Allow-Origin', 'http://a.com'),
        ('Access-Control-Allow-Methods', 'OPTIONS, GET, POST'),
        ('Access-Control-Allow-Headers', 'X-Foo'),
        ('Access-Control-Allow-Credentials', 'true')]
    r = request(core, 'OPTIONS', '', {'origin': 'http://b.com'})
    assert r.status == 403


def test_cors_headers_on_errors():
    core = ServerCore(ServerConfig(cors_allowed_origins='*'))
    r = request(core, 'GET', 'EIO=3&transport=polling',
                {'origin': 'http://x.com'})
    assert r.error_code == 5
    assert ('Access-Control-Allow-Origin', 'http://x.com') in r.headers


def test_invalid_origin_never_echoed():
    core = ServerCore(ServerConfig(cors_allowed_origins='*'))
    r = request(core, headers={'origin': 'http://a\nSet-Cookie: x'})
    assert r.error_code == 3
    assert all('\n' not in v for _, v in r.headers)


# -- compression -------------------------------------------------------------

def test_poll_compression():
    import gzip
    core = ServerCore(ServerConfig(compression_threshold=100))
    session, _ = connect(core)
    core.send(session.sid, packet.Packet(packet.MESSAGE, 'x' * 200))
    r = request(core, 'GET', 'EIO=4&transport=polling&sid=' + session.sid,
                {'accept-encoding': 'gzip'})
    assert r.header('Content-Encoding') == 'gzip'
    assert gzip.decompress(r.body) == b'4' + b'x' * 200
    assert r.header('Content-Length') == str(len(r.body))
    core.send(session.sid, packet.Packet(packet.MESSAGE, 'x' * 50))
    r = request(core, 'GET', 'EIO=4&transport=polling&sid=' + session.sid,
                {'accept-encoding': 'gzip'})
    assert r.header('Content-Encoding') is None


def test_no_compression_when_disabled():
    core = ServerCore(ServerConfig(compression_threshold=1,
                                   http_compression=False))
    _, r = connect(core, headers={'accept-encoding': 'gzip'})
    assert r.header('Content-Encoding') is None and r.body.startswith(b'0{')


def test_endpoint_routing():
    from engineio._sansio.requests import endpoint_prefix, is_endpoint
    assert endpoint_prefix('engine.io') == '/engine.io/'
    assert endpoint_prefix('/socket.io/') == '/socket.io/'
    assert endpoint_prefix(None) is None
    prefix = endpoint_prefix('engine.io')
    assert is_endpoint('/engine.io/', prefix)
    assert is_endpoint('/engine.io', prefix)
    assert is_endpoint('/engine.io/x', prefix)
    assert not is_endpoint('/engine.iox', prefix)
    assert not is_endpoint('/', prefix)
    assert is_endpoint('/anything', None)


def test_add_wsgi_headers_names_and_joins_as_wsgi_does():
    from engineio._sansio.requests import add_wsgi_headers
    environ = {'REQUEST_METHOD': 'GET'}
    add_wsgi_headers(environ, [('Content-Type', 'text/plain'),
                               ('content-length', '6'),
                               ('X-Forwarded-For', '10.0.0.1'),
                               ('x-forwarded-for', '10.0.0.2'),
                               ('Sec-WebSocket-Key', 'abc')])
    assert environ == {'REQUEST_METHOD': 'GET', 'CONTENT_TYPE': 'text/plain',
                       'CONTENT_LENGTH': '6',
                       'HTTP_X_FORWARDED_FOR': '10.0.0.1,10.0.0.2',
                       'HTTP_SEC_WEBSOCKET_KEY': 'abc'}
