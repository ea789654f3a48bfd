"""The public surface, pinned against python-engineio 4.15.1's.

The expected names and signatures were read from python-engineio 4.15.1
(REFERENCE.md §1.1, §1.8); ours may add, never lose.
"""
import inspect

import engineio
from engineio import exceptions, json, packet, payload

REFERENCE_PACKET = ['CLOSE', 'MESSAGE', 'NOOP', 'OPEN', 'PING', 'PONG',
                    'Packet', 'UPGRADE', 'binary_types', 'packet_names']
REFERENCE_PAYLOAD = ['Payload']
REFERENCE_EXCEPTIONS = ['ConnectionError', 'ContentTooLongError',
                        'EngineIOError', 'QueueEmpty', 'SocketIsClosedError',
                        'UnknownPacketError']
REFERENCE_JSON = ['JSONDecodeError', 'JSONDecoder', 'JSONEncoder', 'dump',
                  'dumps', 'load', 'loads', 'original_loads']


def public(module):
    return {name for name in vars(module) if not name.startswith('_')}


def test_version():
    assert isinstance(engineio.__version__, str)
    assert engineio.__version__[0].isdigit()


def test_module_names():
    assert set(REFERENCE_PACKET) <= public(packet)
    assert set(REFERENCE_PAYLOAD) <= public(payload)
    assert set(REFERENCE_EXCEPTIONS) <= public(exceptions)
    assert set(REFERENCE_JSON) <= public(json)


def test_every_module_declares_all():
    for module in (packet, payload, exceptions, json):
        assert set(module.__all__) <= public(module)


def test_exception_hierarchy():
    for name in REFERENCE_EXCEPTIONS[:2] + REFERENCE_EXCEPTIONS[3:]:
        assert issubclass(getattr(exceptions, name), exceptions.EngineIOError)
    assert issubclass(exceptions.EngineIOError, Exception)


def signature(obj):
    return str(inspect.signature(obj))


def test_signatures():
    assert signature(packet.Packet) == \
        '(packet_type=6, data=None, encoded_packet=None)'
    assert signature(packet.Packet.encode) == '(self, b64=False)'
    assert signature(packet.Packet.decode) == '(self, encoded_packet)'
    assert signature(payload.Payload) == '(packets=None, encoded_payload=None)'
    # ours adds keyword-only arguments for protocol version 3
    assert signature(payload.Payload.encode).startswith(
        '(self, jsonp_index=None')
    assert signature(payload.Payload.decode).startswith(
        '(self, encoded_payload')


def test_classes_are_plain_and_reachable_by_their_module():
    for cls in (packet.Packet, payload.Payload):
        assert type(cls) is type
    assert packet.Packet.__module__ == 'engineio.packet'
    assert payload.Payload.__module__ == 'engineio.payload'


# -- the clients (REFERENCE.md §1.6), read from python-engineio 4.15.1 ------

REFERENCE_CLIENT_INIT = ("(logger=False, json=None, request_timeout=5, "
                         "http_session=None, ssl_verify=True, "
                         "handle_sigint=True, websocket_extra_options=None, "
                         "timestamp_requests=True)")
# method: (signature, coroutine in AsyncClient)
REFERENCE_CLIENT_METHODS = {
    'connect': ("(self, url, headers=None, transports=None, "
                "engineio_path='engine.io')", True),
    'wait': ('(self)', True),
    'send': ('(self, data)', True),
    'disconnect': ('(self, abort=False, reason=None)', True),
    'start_background_task': ('(self, target, *args, **kwargs)', False),
    'sleep': ('(self, seconds=0)', True),
    'create_queue': ('(self, *args, **kwargs)', False),
    'get_queue_empty_exception': ('(self)', False),
    'create_event': ('(self, *args, **kwargs)', False),
    'transport': ('(self)', False),
    'on': ('(self, event, handler=None)', False),
    'is_asyncio_based': ('(self)', False),
}


def bare_signature(obj):
    """The signature without annotations: names, kinds and defaults."""
    sig = inspect.signature(obj)
    return str(sig.replace(
        parameters=[p.replace(annotation=inspect.Parameter.empty)
                    for p in sig.parameters.values()],
        return_annotation=inspect.Signature.empty))


def test_package_exports_the_clients():
    assert {'Client', 'AsyncClient'} <= set(engineio.__all__)
    from engineio import async_client, client
    assert engineio.Client is client.Client
    assert engineio.AsyncClient is async_client.AsyncClient


def test_client_signatures():
    for cls in (engineio.Client, engineio.AsyncClient):
        assert bare_signature(cls) == REFERENCE_CLIENT_INIT
        for name, (expected, coroutine) in REFERENCE_CLIENT_METHODS.items():
            method = getattr(cls, name)
            if cls is engineio.AsyncClient and name == 'create_event':
                expected = '(self)'  # asyncio.Event() takes no arguments
            assert bare_signature(method) == expected, (cls, name)
            assert inspect.iscoroutinefunction(method) == (
                coroutine and cls is engineio.AsyncClient), (cls, name)
        assert cls.reason.CLIENT_DISCONNECT == 'client disconnect'
        assert cls.reason.SERVER_DISCONNECT == 'server disconnect'
        assert cls.reason.TRANSPORT_ERROR == 'transport error'
        assert cls.event_names == ['connect', 'disconnect', 'message']


def test_client_attributes_python_socketio_reads():
    client = engineio.Client(handle_sigint=False)
    for name in ('state', 'sid', 'transports', 'upgrades', 'ping_interval',
                 'ping_timeout', 'current_transport', 'base_url', 'http',
                 'ws', 'queue', 'handlers', 'read_loop_task',
                 'write_loop_task'):
        assert hasattr(client, name), name
    assert client.state == 'disconnected' and client.transport() is None
    assert client.is_asyncio_based() is False
    assert engineio.AsyncClient(handle_sigint=False).is_asyncio_based()
