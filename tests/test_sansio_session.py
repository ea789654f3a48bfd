"""The sans-I/O core: polling sessions, POST, close, heartbeat, upgrade, v3
(engineio._sansio).  Time is injected: nothing sleeps."""
import json

import pytest

from engineio import packet, payload
from engineio._sansio import (ACTION_DISCONNECT, ACTION_MESSAGE,
                              ACTION_WAKE_POLL, ACTION_WS_CLOSE,
                              ACTION_WS_SEND, AcceptWebSocket, Deadlines,
                              Handshake, HoldPoll, ReadBody, Response,
                              ServerConfig, ServerCore)
from engineio._sansio.session import CLOSED, CLOSING, OPEN


class Client:
    """Drives one session through the core as a client would."""

    def __init__(self, core, version=4, extra='', now=0.0):
        self.core = core
        self.version = version
        out = core.handle_request('GET', 'EIO=%d&transport=polling%s'
                                  % (version, extra), {}, now=now)
        assert isinstance(out, Handshake)
        self.session = out.session
        self.handshake = core.finish_handshake(self.session, now=now)
        self.sid = self.session.sid
        self.q = 'EIO=%d&transport=polling&sid=%s%s' % (version, self.sid,
                                                       extra)

    def get(self, headers=None):
        return self.core.handle_request('GET', self.q, headers or {})

    def post(self, body, headers=None, now=0.0):
        if isinstance(body, str):
            body = body.encode()
        out = self.core.handle_request('POST', self.q, headers or {})
        if isinstance(out, ReadBody):
            return self.core.receive_post(out, body, now)
        return out

    def ws(self, now=0.0):
        q = self.q.replace('transport=polling', 'transport=websocket')
        return self.core.handle_request('GET', q, {'upgrade': 'websocket'},
                                        now=now)


def kinds(actions):
    return [a[0] for a in actions]


def disconnects(actions):
    return [a[2] for a in actions if a[0] == ACTION_DISCONNECT]


def send(core, sid, data):
    return core.send(sid, packet.Packet(packet.MESSAGE, data))


# -- polling -----------------------------------------------------------------

def test_poll_returns_queued_packets_as_one_payload():
    core = ServerCore()
    c = Client(core)
    send(core, c.sid, 'hello')
    send(core, c.sid, b'\x01\x02')
    send(core, c.sid, {'a': 1})
    r = c.get()
    assert isinstance(r, Response) and r.status == 200
    assert r.body == b'4hello\x1ebAQI=\x1e4{"a":1}'
    assert c.session.queue == []


def test_poll_held_then_woken():
    core = ServerCore()
    c = Client(core)
    hold = c.get()
    assert isinstance(hold, HoldPoll) and hold.session is c.session
    send(core, c.sid, 'a')
    send(core, c.sid, 'b')
    assert core.drain() == [(ACTION_WAKE_POLL, c.session, None)]  # once
    r = core.answer_poll(c.session)
    assert r.body == b'4a\x1e4b'
    assert isinstance(c.get(), HoldPoll)


def test_jsonp_poll():
    core = ServerCore()
    c = Client(core, extra='&j=2')
    assert c.handshake.body.startswith(b'___eio[2]("0{\\"sid')
    send(core, c.sid, 'x"y')
    assert c.get().body == b'___eio[2]("4x\\"y");'


def test_second_get_is_bad_request_and_closes():
    core = ServerCore()
    c = Client(core)
    assert isinstance(c.get(), HoldPoll)
    r = c.get()
    assert (r.status, r.error_code) == (400, 3)
    actions = core.drain()
    assert disconnects(actions) == ['transport error']
    assert (ACTION_WAKE_POLL, c.session, None) in actions
    assert core.answer_poll(c.session).body == b'1'
    assert core.sessions == {} and c.session.state == CLOSED
    assert c.get().error_code == 1


def test_second_post_is_bad_request_and_closes():
    core = ServerCore()
    c = Client(core)
    first = core.handle_request('POST', c.q, {})
    assert isinstance(first, ReadBody)
    r = core.handle_request('POST', c.q, {})
    assert (r.status, r.error_code) == (400, 3)
    assert disconnects(core.drain()) == ['transport error']
    late = core.receive_post(first, b'4hi')
    assert late.status == 400 and core.drain() == []  # not delivered


def test_post_messages_delivered_ok():
    core = ServerCore()
    c = Client(core)
    r = c.post('4hello\x1e4{"a":1}\x1ebAQI=\x1e412')
    assert (r.status, r.body) == (200, b'ok')
    assert r.header('Content-Type') == 'text/html'
    assert [(k, d) for k, s, d in core.drain()] == [
        (ACTION_MESSAGE, 'hello'), (ACTION_MESSAGE, {'a': 1}),
        (ACTION_MESSAGE, b'\x01\x02'), (ACTION_MESSAGE, '12')]


@pytest.mark.parametrize('body', [
    b'9x', b'x', b'4a\x1e', b'\xff\xfe', b'bnot-base64!', b'4a\x1e\x1e4b',
])
def test_malformed_post_is_400_and_closes(body):
    core = ServerCore()
    c = Client(core)
    r = c.post(body)
    assert (r.status, r.error_code) == (400, 3)
    actions = core.drain()
    assert kinds(actions) == [ACTION_DISCONNECT]  # nothing delivered
    assert disconnects(actions) == ['transport error']
    assert core.sessions == {}


def test_too_many_packets_is_an_error_the_client_sees(monkeypatch):
    core = ServerCore()
    c = Client(core)
    ok = c.post('\x1e'.join(['4x'] * 16))
    assert ok.status == 200 and len(core.drain()) == 16
    r = c.post('\x1e'.join(['4x'] * 17))
    assert r.status == 400 and disconnects(core.drain()) == [
        'transport error']
    monkeypatch.setattr(payload.Payload, 'max_decode_packets', 100)
    c = Client(core)
    assert c.post('\x1e'.join(['4x'] * 50)).status == 200


def test_post_size_limit_by_header_and_by_body():
    core = ServerCore(ServerConfig(max_http_buffer_size=10))
    c = Client(core)
    r = c.post('4' + 'x' * 20, {'content-length': '21'})
    assert (r.status, r.body) == (413, b'')
    assert disconnects(core.drain()) == ['transport error']
    c = Client(core)
    r = c.post('4' + 'x' * 20)  # no content-length: the body is checked
    assert r.status == 413 and core.sessions == {}
    c = Client(core)
    assert c.post('4' + 'x' * 9, {'content-length': '10'}).status == 200
    assert c.post('4x', {'content-length': 'abc'}).status == 400


def test_binary_post_refused_in_v4():
    core = ServerCore()
    c = Client(core)
    r = c.post(b'\x00\x01', {'content-type': 'application/octet-stream'})
    assert r.status == 400 and core.sessions == {}


def test_post_aborted_closes():
    core = ServerCore()
    c = Client(core)
    ticket = core.handle_request('POST', c.q, {})
    core.post_aborted(ticket)
    assert disconnects(core.drain()) == ['transport error']


def test_poll_aborted_closes():
    core = ServerCore()
    c = Client(core)
    c.get()
    core.poll_aborted(c.session)
    assert disconnects(core.drain()) == ['transport error']
    assert core.sessions == {}


def test_queue_bound_closes_session():
    core = ServerCore(ServerConfig(max_queued_packets=3))
    c = Client(core)
    assert all(send(core, c.sid, 'x') for _ in range(3))
    assert send(core, c.sid, 'x') is False
    assert disconnects(core.drain()) == ['transport error']
    assert send(core, c.sid, 'x') is False  # unknown now


# -- close -------------------------------------------------------------------

def test_client_close_packet():
    core = ServerCore()
    c = Client(core)
    c.get()
    r = c.post('4a\x1e1\x1e4b')
    assert r.status == 200
    actions = core.drain()
    assert [(k, d) for k, s, d in actions if k != ACTION_WAKE_POLL] == [
        (ACTION_MESSAGE, 'a'), (ACTION_DISCONNECT, 'client disconnect')]
    assert core.answer_poll(c.session).body == b'6'
    assert c.get().error_code == 1


def test_server_disconnect_without_pending_poll():
    core = ServerCore()
    c = Client(core)
    send(core, c.sid, 'last')
    core.disconnect(c.session, now=1.0)
    assert disconnects(core.drain()) == ['server disconnect']
    assert c.session.state == CLOSING and send(core, c.sid, 'x') is False
    assert c.post('4x').status == 400  # never a 500
    assert c.get().body == b'4last\x1e1'
    assert core.sessions == {} and c.get().error_code == 1
    core.disconnect(c.session)
    assert core.drain() == []  # exactly once


def test_server_disconnect_with_pending_poll():
    core = ServerCore()
    c = Client(core)
    c.get()
    core.disconnect(c.session)
    actions = core.drain()
    assert kinds(actions) == [ACTION_DISCONNECT, ACTION_WAKE_POLL]
    assert core.answer_poll(c.session).body == b'1'
    assert core.sessions == {}


def test_closing_session_times_out():
    core = ServerCore(ServerConfig(close_timeout=5))
    c = Client(core)
    core.disconnect(c.session, now=1.0)
    core.drain()
    core.expire(5.9)
    assert c.sid in core.sessions
    core.expire(6.0)
    assert core.sessions == {} and core.drain() == []


# -- heartbeat ---------------------------------------------------------------

def test_ping_pong_schedule():
    core = ServerCore(ServerConfig(ping_interval=25, ping_timeout=20))
    c = Client(core, now=100.0)
    assert core.next_deadline() == 125.0
    core.expire(124.9)
    assert core.drain() == [] and c.session.queue == []
    core.expire(125.0)
    assert c.get().body == b'2'
    assert core.next_deadline() == 145.0
    c.post('3', now=130.0)
    assert core.next_deadline() == 155.0
    c.post('3', now=131.0)  # unsolicited: ignored (CVE-2026-48802)
    assert core.next_deadline() == 155.0
    core.expire(155.0)
    assert c.get().body == b'2'
    core.expire(174.9)
    assert c.sid in core.sessions
    core.expire(175.0)
    assert disconnects(core.drain()) == ['ping timeout']
    assert core.sessions == {} and c.get().error_code == 1


def test_ping_wakes_held_poll_and_timeout_answers_it():
    core = ServerCore(ServerConfig(ping_interval=1, ping_timeout=1))
    c = Client(core)
    c.get()
    core.expire(1.0)
    assert core.drain() == [(ACTION_WAKE_POLL, c.session, None)]
    assert core.answer_poll(c.session).body == b'2'
    c.get()
    core.expire(2.0)
    assert kinds(core.drain()) == [ACTION_DISCONNECT, ACTION_WAKE_POLL]
    assert core.answer_poll(c.session).body == b'1'


def test_message_while_awaiting_pong_extends_deadline_once():
    core = ServerCore(ServerConfig(ping_interval=10, ping_timeout=5))
    c = Client(core)
    core.expire(10.0)
    c.post('4x', now=12.0)
    assert core.next_deadline() == 17.0
    c.post('4x', now=14.0)
    assert core.next_deadline() == 17.0


def test_v4_client_ping_is_an_error():
    core = ServerCore()
    c = Client(core)
    c.post('2')
    assert disconnects(core.drain()) == ['transport error']


def test_deadlines_lazy_heap():
    class Owner:
        def __init__(self):
            self.timer_due = [None, None]
            self.timer_queued = [None, None]
    d = Deadlines()
    owners = [Owner() for _ in range(1000)]
    for i, o in enumerate(owners):
        d.set(o, 0, 100.0 + i)
    assert d.next_deadline() == 100.0
    for o in owners:  # postponing does not grow the heap
        d.set(o, 0, 5000.0)
    assert len(d) == 1000
    d.set(owners[5], 0, 1.0)  # earlier: one more entry
    d.cancel(owners[6], 0)
    assert d.next_deadline() == 1.0
    assert d.pop_expired(1.0) == [(owners[5], 0)]
    assert d.pop_expired(4999.0) == []
    expired = d.pop_expired(5000.0)
    assert len(expired) == 998 and (owners[6], 0) not in expired
    assert d.next_deadline() is None and len(d) == 0


def test_deadlines_pushes_count_only_what_can_move_the_next_one_earlier():
    class Owner:
        def __init__(self):
            self.timer_due = [None, None]
            self.timer_queued = [None, None]
    d = Deadlines()
    a, b = Owner(), Owner()
    d.set(a, 0, 10.0)
    d.set(b, 0, 20.0)
    assert d.pushes == 2
    d.set(a, 0, 30.0)  # later: rewritten in place
    d.cancel(b, 0)
    assert d.next_deadline() == 30.0  # re-pushes a, as it settles
    assert d.pushes == 2
    d.set(a, 0, 5.0)  # earlier: pushed
    assert d.pushes == 3 and d.next_deadline() == 5.0


# -- upgrade -----------------------------------------------------------------

def upgrade(core, c, now=0.0):
    accept = c.ws(now)
    assert isinstance(accept, AcceptWebSocket)
    core.websocket_open(c.session, accept.ws_id)
    return accept.ws_id


def test_upgrade_success():
    core = ServerCore()
    c = Client(core)
    send(core, c.sid, 'queued')
    c.get()  # gets 'queued'
    assert isinstance(c.get(), HoldPoll)
    ws = upgrade(core, c)
    assert c.session.upgrading
    send(core, c.sid, 'during')
    assert core.drain() == [(ACTION_WAKE_POLL, c.session, None)]
    core.websocket_message(c.session, ws, '2probe')
    assert core.drain() == [(ACTION_WS_SEND, c.session, ['3probe'])]
    core.websocket_message(c.session, ws, '5')
    assert core.drain() == [(ACTION_WS_SEND, c.session, ['4during'])]
    assert c.session.upgraded and c.session.transport == 'websocket'
    assert c.get().error_code == 3 and c.post('4x').error_code == 3
    send(core, c.sid, 'a')
    send(core, c.sid, b'\x00')
    assert [a[2] for a in core.drain()] == [['4a'], [b'\x00']]
    core.websocket_message(c.session, ws, '4hi')
    core.websocket_message(c.session, ws, b'\x01')
    assert [a[2] for a in core.drain()] == ['hi', b'\x01']


def test_probe_answers_held_poll_with_noop():
    core = ServerCore()
    c = Client(core)
    ws = upgrade(core, c)
    assert isinstance(c.get(), HoldPoll)
    send(core, c.sid, 'kept')
    core.drain()
    core.websocket_message(c.session, ws, '2probe')
    assert kinds(core.drain()) == [ACTION_WS_SEND]  # already woken
    assert core.answer_poll(c.session).body == b'6'
    assert c.get().body == b'6'  # polls during the probe return at once
    core.websocket_message(c.session, ws, '5')
    assert core.drain()[-1][2] == ['4kept']


def test_bad_probe_abandons_upgrade():
    core = ServerCore()
    c = Client(core)
    ws = upgrade(core, c)
    core.websocket_message(c.session, ws, '2notprobe')
    assert core.drain() == [(ACTION_WS_CLOSE, c.session, (ws, 1002))]
    assert not c.session.upgrading and c.session.state == OPEN
    send(core, c.sid, 'x')
    assert c.get().body == b'4x'
    assert isinstance(upgrade(core, c), int)  # may try again


def test_upgrade_timeout_stays_on_polling():
    core = ServerCore(ServerConfig(upgrade_timeout=10, ping_interval=100))
    c = Client(core)
    ws = upgrade(core, c, now=1.0)
    core.websocket_message(c.session, ws, '2probe')
    core.drain()
    core.expire(10.9)
    assert core.drain() == []
    core.expire(11.0)
    assert core.drain() == [(ACTION_WS_CLOSE, c.session, (ws, 1000))]
    assert c.session.transport == 'polling' and not c.session.upgrading
    core.websocket_closed(c.session, ws)
    assert core.drain() == [] and c.session.state == OPEN


def test_second_websocket_refused():
    core = ServerCore()
    c = Client(core)
    ws = upgrade(core, c)
    assert c.ws().error_code == 3
    core.websocket_message(c.session, ws, '5')
    assert c.ws().error_code == 3
    assert c.session.upgraded


def test_upgrade_refused_when_not_allowed():
    core = ServerCore(ServerConfig(allow_upgrades=False))
    c = Client(core)
    assert c.ws().error_code == 3


def test_websocket_closed_during_upgrade_and_after():
    core = ServerCore()
    c = Client(core)
    ws = upgrade(core, c)
    core.websocket_closed(c.session, ws)
    assert core.drain() == [] and c.session.state == OPEN
    ws = upgrade(core, c)
    core.websocket_message(c.session, ws, '5')
    core.drain()
    core.websocket_closed(c.session, ws)
    assert disconnects(core.drain()) == ['transport close']
    core.websocket_closed(c.session, ws)
    assert core.drain() == []


def test_websocket_server_disconnect_and_ping():
    core = ServerCore(ServerConfig(ping_interval=1, ping_timeout=1))
    c = Client(core)
    ws = upgrade(core, c)
    core.websocket_message(c.session, ws, '5')
    core.drain()
    core.expire(1.0)
    assert core.drain() == [(ACTION_WS_SEND, c.session, ['2'])]
    core.websocket_message(c.session, ws, '3', now=1.5)
    core.disconnect(c.session)
    assert core.drain() == [
        (ACTION_DISCONNECT, c.session, 'server disconnect'),
        (ACTION_WS_SEND, c.session, ['1']),
        (ACTION_WS_CLOSE, c.session, (ws, 1000))]


def test_websocket_bad_packet_closes():
    core = ServerCore()
    c = Client(core)
    ws = upgrade(core, c)
    core.websocket_message(c.session, ws, '5')
    core.drain()
    core.websocket_message(c.session, ws, '9x')
    assert core.drain() == [
        (ACTION_DISCONNECT, c.session, 'transport error'),
        (ACTION_WS_CLOSE, c.session, (ws, 1002))]


def test_ping_timeout_during_upgrade_closes_probe():
    core = ServerCore(ServerConfig(ping_interval=1, ping_timeout=1,
                                   upgrade_timeout=50))
    c = Client(core)
    ws = upgrade(core, c)
    core.expire(1.0)
    core.expire(2.0)
    actions = core.drain()
    assert disconnects(actions) == ['ping timeout']
    assert (ACTION_WS_CLOSE, c.session, (ws, 1000)) in actions


# -- version 3 ---------------------------------------------------------------

def v3core(**kw):
    return ServerCore(ServerConfig(allow_eio3=True, **kw))


def test_v3_text_framing_and_client_heartbeat():
    core = v3core(ping_interval=10, ping_timeout=5)
    c = Client(core, version=3)
    assert core.next_deadline() == 15.0
    r = c.post('1:2\x1e'.replace('\x1e', '') + '6:4hello', now=3.0)
    assert r.status == 200
    assert core.drain()[0][2] == 'hello'
    assert core.next_deadline() == 18.0
    send(core, c.sid, 'é')
    assert c.get().body == '1:3\x1e'.replace('\x1e', '').encode() + \
        '2:4é'.encode()
    core.expire(18.0)
    assert disconnects(core.drain()) == ['ping timeout']


def test_v3_binary_framing():
    core = v3core()
    c = Client(core, version=3)
    send(core, c.sid, b'\x01\x02')
    r = c.get()
    assert r.header('Content-Type') == 'application/octet-stream'
    assert r.body == b'\x01\x03\xff\x04\x01\x02'
    body = b'\x00\x06\xff4hello\x01\x03\xff\x04\x09\x08'
    assert c.post(body, {'content-type': 'application/octet-stream'}
                  ).status == 200
    assert [a[2] for a in core.drain()] == ['hello', b'\x09\x08']


def test_v3_b64_and_jsonp():
    core = v3core()
    c = Client(core, version=3, extra='&b64=1&j=0')
    assert c.handshake.body.startswith(b'___eio[0]("')
    send(core, c.sid, b'\x01')
    assert c.get().body == b'___eio[0]("6:b4AQ==");'
    assert c.post('d=' + '3%3A4ab').status == 200
    assert core.drain()[0][2] == 'ab'


def test_v3_pong_from_client_is_error_and_v3_websocket_binary():
    core = v3core()
    c = Client(core, version=3)
    ws = upgrade(core, c)
    core.websocket_message(c.session, ws, '2probe')
    core.websocket_message(c.session, ws, '5')
    core.drain()
    send(core, c.sid, b'\x07')
    core.websocket_message(c.session, ws, b'\x04\x08')
    assert [a[2] for a in core.drain()] == [[b'\x04\x07'], b'\x08']
    core.websocket_message(c.session, ws, '3')
    assert disconnects(core.drain()) == ['transport error']


def test_v3_refused_by_default_and_version_pinned():
    core = v3core()
    c = Client(core, version=3)
    r = core.handle_request('GET', c.q.replace('EIO=3', 'EIO=4'), {})
    assert r.error_code == 3


def test_expire_returns_the_sessions_it_pinged():
    # the glue runs its per-ping hook (python-socketio's patched
    # Socket._send_ping) for exactly these, without a new action kind
    core = ServerCore(ServerConfig(ping_interval=1, ping_timeout=1))
    first, second = Client(core), Client(core)
    assert core.expire(0.5) == []
    assert core.expire(1.0) == [first.session, second.session]
    assert core.expire(2.0) == []  # no pong: timeouts, not pings
