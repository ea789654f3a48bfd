"""The asgi glue's own paths, in process: the WebSocket writer's backlog
(the outbox is a list written from the front, the writer task taking a
batch at a time) and which ``handle_request`` ``ASGIApp`` calls (the
driver's directly only for a plain ``AsyncServer``; an overridden or
patched one, or python-socketio's server, is called as before).
"""
import asyncio

import engineio
from engineio import async_socket
from tests.asgi_helpers import Connection, http_scope, run

WS_QUERY = 'EIO=4&transport=websocket'


def ws_scope():
    scope = http_scope('GET', '/engine.io/', WS_QUERY, scope_type='websocket')
    scope['scheme'] = 'ws'
    return scope


def echo(eio):
    @eio.on('message')
    async def message(sid, data):
        await eio.send(sid, data)
    return eio


def test_backlog_longer_than_a_batch_is_written_in_order():
    """A write that suspends (a paused transport) leaves the echoes of
    many messages queued: the writer task writes them all, in order, in
    several batches, and the outbox is empty and task-free afterwards."""
    count = async_socket._DRAIN_BATCH * 3 + 5
    eio = echo(engineio.AsyncServer(async_mode='asgi', async_handlers=False,
                                    max_queued_packets=count + 10))
    app = engineio.ASGIApp(eio)
    sent = []
    gate = {}

    async def send(event):
        if event.get('text') == '4slow':
            gate['future'] = asyncio.get_running_loop().create_future()
            await gate['future']
        sent.append(event)

    async def main():
        inbox = asyncio.Queue()
        inbox.put_nowait({'type': 'websocket.connect'})
        inbox.put_nowait({'type': 'websocket.receive', 'text': '4slow'})
        for i in range(count):
            inbox.put_nowait({'type': 'websocket.receive', 'text': '4m%d' % i})
        task = asyncio.ensure_future(app(ws_scope(), inbox.get, send))
        while not inbox.empty() or 'future' not in gate:
            await asyncio.sleep(0)
        (socket,) = eio.sockets.values()
        assert len(socket._outbox.queue) == count    # all waiting
        gate['future'].set_result(None)
        while socket._outbox.task is not None:
            await asyncio.sleep(0)
        texts = [e.get('text') for e in sent[2:]]
        assert texts == ['4slow'] + ['4m%d' % i for i in range(count)]
        assert not socket._outbox.queue
        # idle again: the next echo is written inline, without a task
        inbox.put_nowait({'type': 'websocket.receive', 'text': '4last'})
        while sent[-1].get('text') != '4last':
            await asyncio.sleep(0)
        assert socket._outbox.task is None
        inbox.put_nowait({'type': 'websocket.disconnect', 'code': 1000})
        await asyncio.wait_for(task, 5)
        assert eio.sockets == {}
    run(main())


def _ws_open(app):
    """Open a WebSocket session on ``app`` and close it; the OPEN packet."""
    async def main():
        conn = Connection(app, ws_scope()).start()
        conn.feed({'type': 'websocket.connect'})
        accepted = await conn.next_sent()
        assert accepted == {'type': 'websocket.accept'}
        opened = await conn.next_sent()
        conn.feed({'type': 'websocket.disconnect', 'code': 1000})
        await conn.finished()
        return opened['text']
    return run(main())


def test_asgi_app_calls_an_overridden_handle_request():
    calls = []

    class Server(engineio.AsyncServer):
        async def handle_request(self, *args, **kwargs):
            calls.append('subclass')
            return await super().handle_request(*args, **kwargs)

    assert _ws_open(engineio.ASGIApp(Server(async_mode='asgi')))[:1] == '0'
    assert calls == ['subclass']


def test_asgi_app_calls_a_handle_request_patched_on_the_instance():
    eio = engineio.AsyncServer(async_mode='asgi')
    original = eio.handle_request
    calls = []

    async def patched(*args, **kwargs):
        calls.append('instance')
        return await original(*args, **kwargs)

    eio.handle_request = patched
    assert _ws_open(engineio.ASGIApp(eio))[:1] == '0'
    assert calls == ['instance']


def test_asgi_app_calls_a_forwarding_server():
    """python-socketio passes its own server, whose ``handle_request``
    forwards to its ``eio``."""
    eio = engineio.AsyncServer(async_mode='asgi')
    calls = []

    class SocketIOLike:
        async def handle_request(self, *args, **kwargs):
            calls.append('forwarded')
            return await eio.handle_request(*args, **kwargs)

    assert _ws_open(engineio.ASGIApp(SocketIOLike()))[:1] == '0'
    assert calls == ['forwarded']


class RecordingWebSocket:
    """The driver WebSocket interface ``_Outbox`` writes to (``send``,
    ``close``, ``ws_id``), recording what it was given."""

    def __init__(self, written, name):
        self.ws_id = 1
        self.written = written
        self.name = name

    async def send(self, data):
        self.written.append((self.name, data))

    async def close(self, code):
        self.written.append((self.name, code))


def test_frames_produced_outside_a_task_are_written_by_one_task():
    """The heartbeat timer pings many sessions from one callback: their
    frames are written by one task for all of them, in order, and the
    frames of a session written inline meanwhile are not written twice."""
    async def main():
        written = []
        outboxes = [async_socket._Outbox(RecordingWebSocket(written, n))
                    for n in range(3)]
        before = len(asyncio.all_tasks())
        # what the timer callback does (flush(False): not from a task)
        for outbox in outboxes:
            outbox.queue.append('2')
            outbox.flush(False)
        outboxes[2].queue.append(1000)      # a close, last
        outboxes[2].flush(False)
        assert len(asyncio.all_tasks()) - before == 1   # one for the round
        assert written == []
        # before that task runs, a task writes session 0 inline: its ping
        # goes out before its echo, once
        outboxes[0].queue.append('4echo')
        outboxes[0].flush(True)
        assert written == [(0, '2'), (0, '4echo')]
        while async_socket._deferred:
            await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert written == [(0, '2'), (0, '4echo'), (1, '2'), (2, '2'),
                           (2, 1000)]
        assert all(not o.queue and o.task is None for o in outboxes)
        assert outboxes[2].done
        assert len(asyncio.all_tasks()) == before
    run(main())


def test_deferred_writes_do_not_outlive_their_loop():
    """A loop that ends before its deferred-write task ran leaves nothing
    behind (the task is cancelled, the batch forgotten)."""
    async def main():
        outbox = async_socket._Outbox(RecordingWebSocket([], 0))
        outbox.queue.append('2')
        outbox.flush(False)
        assert async_socket._deferred
    asyncio.run(main())
    assert async_socket._deferred == {}
