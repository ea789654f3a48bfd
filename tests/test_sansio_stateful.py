"""Random request sequences against the sans-I/O core (hypothesis.stateful).

Invariants: no exception escapes; the disconnect action comes at most once
per session and exactly once for every session that was connected and is
now closed; every message the server accepted for sending is either
delivered (poll or WebSocket) or was pending when its session closed; every
message a client POSTed with a 200 answer is delivered to the application.
"""
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, invariant,
                                 precondition, rule)

from engineio import packet, payload
from engineio._sansio import (ACTION_DISCONNECT, ACTION_MESSAGE,
                              ACTION_WAKE_POLL, ACTION_WS_SEND,
                              AcceptWebSocket, Handshake, HoldPoll, ReadBody,
                              Response, ServerConfig, ServerCore)

BODIES = st.sampled_from(['4a', '4b\x1e4c', '3', '2', '1', '9', '', 'bAQ==',
                          '4x\x1e' * 20, '6', '5'])


class CoreMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.core = ServerCore(ServerConfig(
            ping_interval=5, ping_timeout=3, upgrade_timeout=4,
            close_timeout=6, max_queued_packets=8, allow_eio3=True))
        self.now = 0.0
        self.sessions = []
        self.connected = set()
        self.disconnected = {}
        self.held = set()
        self.ws = {}
        self.sent = {}       # session -> messages accepted by send()
        self.received = {}   # session -> messages delivered to the client

    def _drain(self):
        for kind, session, arg in self.core.drain():
            if kind == ACTION_DISCONNECT:
                assert session not in self.disconnected
                assert session in self.connected
                self.disconnected[session] = arg
            elif kind == ACTION_WAKE_POLL:
                assert session in self.held
                self.held.discard(session)
                self._read(session, self.core.answer_poll(session))
            elif kind == ACTION_WS_SEND:
                for frame in arg:
                    if isinstance(frame, str) and frame.startswith('4'):
                        self.received.setdefault(session, []).append(
                            frame[1:])
            elif kind == ACTION_MESSAGE:
                assert session in self.connected

    def _read(self, session, response):
        assert isinstance(response, Response)
        if response.status != 200 or response.body == b'ok':
            return
        body = response.body
        if response.header('Content-Type').startswith('text/'):
            body = body.decode()
        decoded = payload.Payload()
        decoded.decode(body, version=session.version)
        for pkt in decoded.packets:
            if pkt.packet_type == packet.MESSAGE:
                self.received.setdefault(session, []).append(pkt.data)

    @rule(version=st.sampled_from([3, 4]), accept=st.booleans())
    def handshake(self, version, accept):
        out = self.core.handle_request(
            'GET', 'EIO=%d&transport=polling' % version, {}, now=self.now)
        assert isinstance(out, Handshake)
        r = self.core.finish_handshake(out.session, None if accept else False,
                                       now=self.now)
        assert r.status == (200 if accept else 401)
        if accept:
            self.sessions.append(out.session)
            self.connected.add(out.session)
        self._drain()

    def _query(self, session, transport='polling'):
        return 'EIO=%d&transport=%s&sid=%s' % (session.version, transport,
                                               session.sid)

    @precondition(lambda self: self.sessions)
    @rule(i=st.integers(0, 50))
    def get(self, i):
        s = self.sessions[i % len(self.sessions)]
        out = self.core.handle_request('GET', self._query(s), {})
        if isinstance(out, HoldPoll):
            self.held.add(s)
        else:
            self._read(s, out)
        self._drain()

    @precondition(lambda self: self.sessions)
    @rule(i=st.integers(0, 50), body=BODIES)
    def post(self, i, body):
        s = self.sessions[i % len(self.sessions)]
        out = self.core.handle_request('POST', self._query(s), {})
        if isinstance(out, ReadBody):
            r = self.core.receive_post(out, body.encode(), self.now)
            assert r.status in (200, 400)
        else:
            assert isinstance(out, Response) and out.status >= 400
        self._drain()

    @precondition(lambda self: self.sessions)
    @rule(i=st.integers(0, 50), data=st.text(st.characters(blacklist_characters='\x1e', blacklist_categories=('Cs',)), max_size=3))
    def send(self, i, data):
        s = self.sessions[i % len(self.sessions)]
        if self.core.send(s.sid, packet.Packet(packet.MESSAGE, 'm' + data)):
            self.sent.setdefault(s, []).append('m' + data)
        self._drain()

    @precondition(lambda self: self.sessions)
    @rule(i=st.integers(0, 50))
    def open_websocket(self, i):
        s = self.sessions[i % len(self.sessions)]
        out = self.core.handle_request('GET', self._query(s, 'websocket'),
                                       {'upgrade': 'websocket'}, now=self.now)
        if isinstance(out, AcceptWebSocket):
            self.ws[s] = out.ws_id
            self.core.websocket_open(s, out.ws_id)
        self._drain()

    @precondition(lambda self: self.ws)
    @rule(i=st.integers(0, 50),
          msg=st.sampled_from(['2probe', '5', '4hi', '3', '1', 'zz']))
    def ws_message(self, i, msg):
        s = list(self.ws)[i % len(self.ws)]
        self.core.websocket_message(s, self.ws[s], msg, self.now)
        self._drain()

    @precondition(lambda self: self.ws)
    @rule(i=st.integers(0, 50))
    def ws_closed(self, i):
        s = list(self.ws)[i % len(self.ws)]
        self.core.websocket_closed(s, self.ws.pop(s))
        self._drain()

    @precondition(lambda self: self.sessions)
    @rule(i=st.integers(0, 50))
    def server_disconnect(self, i):
        self.core.disconnect(self.sessions[i % len(self.sessions)], self.now)
        self._drain()

    @rule(dt=st.floats(0, 8))
    def tick(self, dt):
        self.now += dt
        self.core.expire(self.now)
        self._drain()

    @invariant()
    def consistent(self):
        for s in self.sessions:
            if s.state == 3:  # CLOSED
                assert s in self.disconnected
                assert s.sid not in self.core.sessions
            # what reached the client is a prefix of what was accepted
            got = self.received.get(s, [])
            assert got == self.sent.get(s, [])[:len(got)]
            if not s.closed:
                pending = [p.data for p in s.queue
                           if p.packet_type == packet.MESSAGE]
                assert got + pending == self.sent.get(s, []) or \
                    s.upgrading


TestCore = CoreMachine.TestCase
TestCore.settings = settings(max_examples=150, stateful_step_count=40,
                             deadline=None)
