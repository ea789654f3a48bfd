"""The sync Engine.IO client (python-engineio's ``engineio.Client``).

Thin glue around :class:`engineio._sansio.client.ClientCore`: polling with
``requests`` (the application's ``http_session`` when given), WebSocket with
our own RFC 6455 client (:mod:`engineio._client_websocket`); threads, or
greenlets when gevent or eventlet patched the process.  Each message handler
runs in a background thread, as in python-engineio (a handler may block
waiting for a later message, as python-socketio's ``call()`` does); those
threads are reused (:class:`_HandlerThreads`).

Polling has a reader and a writer thread (the writer batches what is sent
into one POST).  A WebSocket has neither a writer thread nor a fixed
reader, because every thread hand-over costs a wake-up, a context switch and
a GIL hand-over, and with one message in flight they are most of what a
message costs (``python -m bench.clients``):

* ``send()`` writes from the calling thread; a thread that finds another
  writing leaves its packet in that thread's outbox and returns, and the
  writing thread writes it next (write combining, :meth:`Client._send_packet`);
* the threads of :class:`_HandlerThreads` take turns reading: the one that
  receives a message hands the reading to another and runs the handler
  itself, so that the message waits for no wake-up, and the other thread
  is woken only once the handler has written its answer
  (:meth:`Client._read_loop_websocket`).

Who ends a session: the first party to claim it in the core (the
application's ``disconnect()``, the reader on a CLOSE packet, a dead server
or bad input, the polling writer on a failed POST; a failed WebSocket write
drops the connection, which the reader sees) runs the disconnect handler
once, waits (bounded) for the writing and the reading to end, and resets the
client.
"""
from __future__ import annotations

import inspect
import logging
import os
import queue
import ssl
import threading
import time
import urllib.parse
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

try:
    import requests
except ImportError:  # pragma: no cover
    requests = None  # type: ignore[assignment]

from . import _client_websocket as _websocket
from . import base_client, exceptions, packet
from . import payload as _payload
from ._sansio import client as _core
from ._speedups import codec as _codec

__all__ = ['Client']

#: no limit on the packets of one POST (Payload.max_decode_packets None)
_NO_LIMIT = 1 << 62

default_logger = logging.getLogger('engineio.client')

#: seconds a closing WebSocket waits for the server's close frame
CLOSE_LINGER = 2.0
_SKIPPED_HEADERS = frozenset([
    'host', 'connection', 'upgrade', 'accept', 'accept-encoding',
    'content-length', 'sec-websocket-key', 'sec-websocket-version',
    'sec-websocket-extensions', 'sec-websocket-protocol'])
_CLOSE_PACKET = packet.Packet(packet.CLOSE)
#: "no message here" (a message's data can be anything, None included)
_NOTHING = object()
#: seconds a message handler thread with nothing to do waits for the next
#: message before it ends
HANDLER_IDLE_TIMEOUT = 2.0
#: seconds between the looks an idle handler thread takes at the calls
#: given without waking anyone (see _HandlerThreads.hand_over)
IDLE_LOOK = 0.005
#: writes in a row by one sender for the others (write combining) before a
#: background thread takes over what is left
WRITE_ROUNDS = 8


#: the environment variables that decide a WebSocket's proxy (requests'
#: get_environ_proxies reads them all through urllib's getproxies, which
#: walks the whole environment twice: ~0.4 ms with a large one)
_PROXY_VARIABLES = tuple(
    case(name + '_proxy') for name in ('http', 'https', 'ws', 'wss', 'all',
                                       'no')
    for case in (str.lower, str.upper)) + ('REQUEST_METHOD',)
_environ_proxy_cache: Dict[Any, Dict[str, str]] = {}


def _environ_proxies(url: str) -> Dict[str, str]:
    """``requests.utils.get_environ_proxies(url)``, remembered for the
    URL's origin while the proxy variables of the environment stay as
    they are (each connect of each client asks)."""
    origin = url.split('/', 3)[:3]
    key = (tuple(origin), tuple(os.environ.get(name)
                                for name in _PROXY_VARIABLES))
    found = _environ_proxy_cache.get(key)
    if found is None:
        found = dict(requests.utils.get_environ_proxies(url))
        if len(_environ_proxy_cache) >= 64:
            _environ_proxy_cache.clear()
        _environ_proxy_cache[key] = found
    return dict(found)


class _RequestFailed(Exception):
    """An HTTP request did not get a complete answer."""


class _Outbox:
    """What is being written to one session's WebSocket (guarded by the
    client's ``_lock``): ``writing`` while a thread writes (then the
    ``packets`` other threads send wait here for it, in order); ``closing``
    once the session is ending (the end waits for the writing to be
    over)."""

    __slots__ = ('ws', 'packets', 'writing', 'closing', 'failed')

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.packets: List[Any] = []
        self.writing = False
        self.closing = False
        #: a write failed: the connection is dropped, nothing more is sent
        self.failed = False


class _HandlerThreads:
    """Runs calls in background threads, as python-engineio runs each
    message handler in a thread of its own, but reuses the threads.

    Starting a thread costs ~55 µs of CPU here; handing a call to a thread
    that waits for one is one lock release (a futex wake): each idle thread
    sleeps on a lock of its own, which :meth:`run` releases, for the most
    recently idle thread (the warmest).  A call never waits for a busy
    thread: with none idle, a new one starts, so a handler that blocks
    (python-socketio's ``call()`` waiting for its answer) holds up no
    other.  The calls are taken in the order they were given (python-socketio
    reassembles a binary event from consecutive messages).  A thread of the
    pool may also give calls and take the oldest itself, and give the last
    one quietly, waking nobody (:meth:`hand_over`): an idle thread looks for
    such calls every :data:`IDLE_LOOK` seconds.  An idle thread ends after
    :data:`HANDLER_IDLE_TIMEOUT`, or at once when the session ends
    (:meth:`stop`); a running call finishes first.
    """

    def __init__(self, start: Callable[..., Any]) -> None:
        self._start = start          # the client's start_background_task
        self._mutex = threading.Lock()
        self._calls: Deque[Tuple[Callable[..., Any], Any]] = deque()
        #: the wake-up locks (held) of the threads waiting for a call
        self._idle: List[Any] = []
        self._stopping = False
        # the calls start in the order they were given: a call is numbered
        # when taken, and made once the calls before it were (a thread may
        # hold a call while it starts others in hand_over)
        self._taken = 0
        self._started = 0
        self._in_order = threading.Condition(self._mutex)
        self._waiting = 0

    def run(self, function: Callable[..., Any], args: Any) -> None:
        """Have ``function(*args)`` called in a thread of the pool."""
        with self._mutex:
            self._calls.append((function, args))
            if self._idle:
                self._idle.pop().release()
                return
        self._start(self.serve)

    def start(self, function: Callable[..., Any], args: Any) -> Any:
        """A new thread of the pool that calls ``function(*args)`` first;
        returns it."""
        return self._start(self.serve, function, args)

    def hand_over(self, calls: List[Tuple[Callable[..., Any], Any]],
                  quietly: bool = False
                  ) -> Tuple[Tuple[Callable[..., Any], Any], bool]:
        """From a thread of the pool: queue ``calls`` and return the oldest
        call waiting, for this thread to make; a thread is woken (or
        started) for each of the others, except the last one when
        ``quietly`` and a thread stays idle: the idle threads look for such
        a call every :data:`IDLE_LOOK` seconds, the caller may wake one for
        it (:meth:`wake`) or take it back (:meth:`take_back`).  Returns
        ``(call, whether the last one was given quietly)``."""
        with self._mutex:
            queued = self._calls
            queued.extend(calls)
            mine = queued.popleft()
            ticket = self._taken
            self._taken = ticket + 1
            idle = self._idle
            missing = len(calls) - 1
            quiet = quietly and missing > 0 and len(idle) >= missing
            if quiet:
                missing -= 1
            while missing and idle:
                idle.pop().release()
                missing -= 1
            if not missing:
                self._take_turn(ticket)
                return mine, quiet
        try:
            for _ in range(missing):
                self._start(self.serve)
        finally:
            with self._mutex:
                self._take_turn(ticket)
        return mine, quiet

    def wake(self) -> None:
        """Wake an idle thread (or start one) for a call given quietly."""
        with self._mutex:
            if self._idle:
                self._idle.pop().release()
                return
        self._start(self.serve)

    def take_back(self, call: Tuple[Callable[..., Any], Any]) -> bool:
        """Take back a call given quietly that no thread took yet."""
        with self._mutex:
            try:
                self._calls.remove(call)
            except ValueError:
                return False
            return True

    def _take_turn(self, ticket: int) -> None:
        """With the mutex held: wait until the calls taken before
        ``ticket`` were started, then count it started."""
        if self._started != ticket:
            self._waiting += 1
            while self._started != ticket:
                self._in_order.wait()
            self._waiting -= 1
        self._started = ticket + 1
        if self._waiting:
            self._in_order.notify_all()

    def stop(self) -> None:
        """End the idle threads once the calls are taken (the busy ones end
        when their call returns)."""
        with self._mutex:
            self._stopping = True
            idle = self._idle[:]
            del self._idle[:]
        for wake in idle:
            wake.release()

    def serve(self, function: Optional[Callable[..., Any]] = None,
              args: Any = ()) -> None:
        """A thread of the pool: make ``function(*args)`` if given, then
        the calls given to the pool, until it is idle too long or
        stopped."""
        mutex, calls, idle = self._mutex, self._calls, self._idle
        wake = threading.Lock()
        wake.acquire()
        while True:
            if function is not None:
                function(*args)
            with mutex:
                if calls:
                    function, args = calls.popleft()
                    ticket = self._taken
                    self._taken = ticket + 1
                    self._take_turn(ticket)
                    continue
                if self._stopping:
                    return
                idle.append(wake)
                function = None
            idle_for = 0.0
            while not wake.acquire(timeout=IDLE_LOOK):
                idle_for += IDLE_LOOK
                with mutex:
                    if wake not in idle:
                        # run() or stop() released the lock as we timed out
                        wake.acquire()
                        break
                    if calls:            # a call given quietly
                        idle.remove(wake)
                        break
                    if idle_for >= HANDLER_IDLE_TIMEOUT:
                        idle.remove(wake)
                        return


class Client(base_client.BaseClient):
    """An Engine.IO client.

    This class implements a fully compliant Engine.IO web client with support
    for websocket and long-polling transports.

    :param logger: To enable logging set to ``True`` or pass a logger object to
                   use. To disable logging set to ``False``. The default is
                   ``False``. Note that fatal errors are logged even when
                   ``logger`` is ``False``.
    :param json: An alternative JSON module to use for encoding and decoding
                 packets. Custom json modules must have ``dumps`` and ``loads``
                 functions that are compatible with the standard library
                 versions. This is a process-wide setting, all instantiated
                 servers and clients must use the same JSON module.
    :param request_timeout: A timeout in seconds for requests. The default is
                            5 seconds.
    :param http_session: an initialized ``requests.Session`` object to be used
                         when sending requests to the server, or a function
                         that returns one. Use it if you need to add special
                         client options such as proxy servers, SSL
                         certificates, custom CA bundle, etc. Its cookies,
                         headers, authentication, ``verify``, ``cert`` and
                         ``proxies`` also apply to the WebSocket.
    :param ssl_verify: ``True`` to verify SSL certificates, or ``False`` to
                       skip SSL certificate verification, allowing
                       connections to servers with self signed certificates.
                       The default is ``True``.
    :param handle_sigint: Set to ``True`` to automatically handle disconnection
                          when the process is interrupted, or to ``False`` to
                          leave interrupt handling to the calling application.
                          Interrupt handling can only be enabled when the
                          client instance is created in the main thread.
    :param websocket_extra_options: Dictionary with WebSocket options, with the
                                    names websocket-client's
                                    ``create_connection()`` gave them (see
                                    ``engineio._client_websocket.OPTIONS`` for
                                    the list). An unknown key raises
                                    ``ValueError``.
    :param timestamp_requests: If ``True`` a timestamp is added to the query
                               string of Socket.IO requests as a cache-busting
                               measure. Set to ``False`` to disable.
    """

    def _init_glue(self) -> None:
        _websocket.check_options(self.websocket_extra_options)
        #: guards the claim to end a session and the outbox (never held
        #: during I/O)
        self._lock = threading.Lock()
        self._generation = 0
        self._ending_thread: Any = None
        self._finished = threading.Event()
        self._finished.set()
        #: set when the current session's reading has ended for good
        self._reading_done = threading.Event()
        self._reading_done.set()
        #: the current WebSocket session's writes (None: packets go to
        #: ``queue``, for the writer thread of the polling transport)
        self._outbox: Optional[_Outbox] = None
        #: the thread running a message handler while the reading it gave
        #: waits quietly for another thread (see _read_loop_websocket)
        self._quiet_reader: Optional[int] = None
        #: notified when an ending session's outbox is written out
        self._drained = threading.Condition(self._lock)
        self._own_http = False
        self._handler_threads = _HandlerThreads(self.start_background_task)

    # -- public API --------------------------------------------------------

    def connect(self, url: str, headers: Optional[Dict[str, str]] = None,
                transports: Any = None,
                engineio_path: str = 'engine.io') -> None:
        """Connect to an Engine.IO server.

        :param url: The URL of the Engine.IO server. It can include custom
                    query string parameters if required by the server.
        :param headers: A dictionary with custom headers to send with the
                        connection request.
        :param transports: The list of allowed transports. Valid transports
                           are ``'polling'`` and ``'websocket'``. If not
                           given, the polling transport is connected first,
                           then an upgrade to websocket is attempted.
        :param engineio_path: The endpoint where the Engine.IO server is
                              installed. The default value is appropriate for
                              most cases.

        Raises ``exceptions.ConnectionError`` when the connection fails, and
        ``ValueError`` when the client is not disconnected.

        Example usage::

            eio = engineio.Client()
            eio.connect('http://localhost:5000')
        """
        first = self._core.start(transports)
        self._generation += 1
        self._finished.clear()
        self._handler_threads = _HandlerThreads(self.start_background_task)
        self.queue = self.create_queue()
        self._outbox = None
        self._reading_done = threading.Event()
        self._reading_done.set()     # until a reader starts
        self.ws = None
        self.read_loop_task = self.write_loop_task = None
        headers = dict(headers or {})
        try:
            if first == 'polling':
                self._connect_polling(url, headers, engineio_path)
            else:
                self._connect_websocket(url, headers, engineio_path)
        except BaseException:
            if self._core.state == _core.DISCONNECTED:
                self._release_http()
                self._finished.set()
            raise

    def wait(self) -> None:
        """Wait until the connection with the server ends.

        Client applications can use this function to block the main thread
        during the life of the connection.
        """
        self._finished.wait()

    def send(self, data: Any) -> None:
        """Send a message to the server.

        :param data: The data to send to the server. Data can be of type
                     ``str``, ``bytes``, ``list`` or ``dict``. If a ``list``
                     or ``dict``, the data will be serialized as JSON.

        Raises ``exceptions.SocketIsClosedError`` when the client is not
        connected (python-engineio dropped the message silently).
        """
        if not self._send_packet(packet.Packet(packet.MESSAGE, data=data)):
            raise exceptions.SocketIsClosedError('Client is not connected')

    def disconnect(self, abort: bool = False,
                   reason: Optional[str] = None) -> None:
        """Disconnect from the server.

        :param abort: If set to ``True``, do not wait for background tasks
                      associated with the connection to end.
        :param reason: The reason given to the disconnect handler (default:
                       ``reason.CLIENT_DISCONNECT``).
        """
        if not self._end(reason or self.reason.CLIENT_DISCONNECT,
                         send_close=True, abort=abort) and not abort and \
                self._ending_thread is not threading.current_thread():
            # someone else is ending the session: return once it is over
            self._finished.wait()

    def start_background_task(self, target: Any, *args: Any,
                              **kwargs: Any) -> Any:
        """Start a background task.

        This is a utility function that applications can use to start a
        background task.

        :param target: the target function to execute.
        :param args: arguments to pass to the function.
        :param kwargs: keyword arguments to pass to the function.

        This function returns an object that represents the background task,
        on which the ``join()`` method can be invoked to wait for the task to
        complete.
        """
        thread = threading.Thread(target=target, args=args, kwargs=kwargs,
                                  daemon=True)
        thread.start()
        return thread

    def sleep(self, seconds: float = 0) -> None:
        """Sleep for the requested amount of time."""
        return time.sleep(seconds)

    def create_queue(self, *args: Any, **kwargs: Any) -> Any:
        """Create a queue object."""
        return queue.Queue(*args, **kwargs)

    def get_queue_empty_exception(self) -> Any:
        """Return the queue empty exception raised by queues created by the
        ``create_queue()`` method.
        """
        return queue.Empty

    def create_event(self, *args: Any, **kwargs: Any) -> Any:
        """Create an event object."""
        return threading.Event(*args, **kwargs)

    # -- connecting --------------------------------------------------------

    def _connect_polling(self, url: str, headers: Dict[str, str],
                         engineio_path: str) -> None:
        if requests is None:  # pragma: no cover
            raise exceptions.ConnectionError(
                'the requests package is not installed: no polling transport')
        self.base_url = self._get_engineio_url(url, engineio_path, 'polling')
        self.logger.info('Attempting polling connection to %s', self.base_url)
        try:
            status, body = self._send_request(
                'GET', self.base_url + self._get_url_timestamp(),
                headers=headers, timeout=self.request_timeout)
        except _RequestFailed as exc:
            raise exceptions.ConnectionError(str(exc)) from None
        json_body = None
        if not 200 <= status < 300:
            try:
                json_body = _codec.stdlib_loads(body.decode('utf-8'))
            except ValueError:
                pass
        packets = self._core.polling_handshake(status, body, json_body,
                                               time.monotonic())
        self.logger.info('Polling connection accepted with sid %s', self.sid)
        self.base_url += '&sid=' + self.sid
        self._connected()
        for pkt in packets:
            self._receive_packet(pkt)
        if not self._core.can_send():
            return  # the server closed the session in its first answer
        if self._core.should_upgrade() and \
                self._connect_websocket(url, headers, engineio_path):
            return
        self._start_loops(None)

    def _connect_websocket(self, url: str, headers: Dict[str, str],
                           engineio_path: str) -> bool:
        websocket_url = self._get_engineio_url(url, engineio_path,
                                               'websocket')
        upgrade = self._core.state == _core.CONNECTED
        if upgrade:
            websocket_url += '&sid=' + self.sid
            self.logger.info('Attempting WebSocket upgrade to %s',
                             websocket_url)
        else:
            self.base_url = websocket_url
            self.logger.info('Attempting WebSocket connection to %s',
                             websocket_url)
        try:
            options = self._websocket_options(websocket_url, headers)
        except exceptions.ConnectionError as exc:  # an unsupported proxy
            if upgrade:
                self.logger.warning('WebSocket upgrade failed: %s', exc)
                return False
            raise
        try:
            ws = _websocket.connect(websocket_url + self._get_url_timestamp(),
                                    **options)
        except (OSError, _websocket.WebSocketError) as exc:
            if upgrade:
                self.logger.warning('WebSocket upgrade failed: %s', exc)
                return False
            raise exceptions.ConnectionError('Connection error: %s' % exc) \
                from None
        if upgrade:
            try:
                ws.send(_core.PROBE)
                answer = ws.recv(self.request_timeout)
                if not _core.is_probe_answer(answer):
                    raise _websocket.WebSocketError('no PONG packet')
                ws.send(_core.UPGRADE)
            except (OSError, _websocket.WebSocketError) as exc:
                self.logger.warning('WebSocket upgrade failed: %s', exc)
                ws.abort()
                return False
            self._core.upgraded()
            self.ws = ws
            self.logger.info('WebSocket upgrade was successful')
        else:
            try:
                message: Any = ws.recv(self.request_timeout)
            except _websocket.WebSocketError as exc:
                ws.abort()
                raise exceptions.ConnectionError(
                    'Unexpected recv exception: %s' % exc) from None
            try:
                self._core.websocket_handshake(message, time.monotonic())
            except exceptions.ConnectionError:
                ws.abort()
                raise
            self.logger.info('WebSocket connection accepted with sid %s',
                             self.sid)
            self.ws = ws
            self._connected()
            if not self._core.can_send():  # pragma: no cover
                return True
        self._start_loops(ws)
        return True

    def _connected(self) -> None:
        """The handshake is done: run the connect handler, whose exception
        aborts the connection (python-engineio 4.14)."""
        base_client.connected_clients.append(self)
        try:
            self._trigger_event('connect', run_async=False)
        except Exception as exc:
            self._abandon()
            raise exceptions.ConnectionError(
                'Connect handler failed: ' + str(exc)) from None

    def _abandon(self) -> None:
        """Drop a session the application refused: tell the server (best
        effort) and reset, without a disconnect event."""
        ws = self.ws
        try:
            if ws is not None:
                ws.send(_CLOSE_PACKET.encode())
                ws.close()
            elif self.base_url and self.http is not None:
                self._send_request('POST', self.base_url, body=b'1',
                                   timeout=self.request_timeout)
        except (OSError, _websocket.WebSocketError, _RequestFailed):
            pass
        if ws is not None:
            ws.abort()
        self._teardown()

    def _websocket_options(self, websocket_url: str,
                           headers: Dict[str, str]) -> Dict[str, Any]:
        """The arguments of :func:`_client_websocket.connect`: what the
        HTTP session carries (cookies, headers, authentication, TLS
        settings, proxies), then ``websocket_extra_options`` over it."""
        extra = self.websocket_extra_options
        secure = websocket_url.startswith('wss:')
        http_url = 'http' + websocket_url[2:]
        handshake: List[Tuple[str, str]] = list(headers.items())
        sslopt: Dict[str, Any] = {}
        proxy_url = None
        if self.http is None and self.http_factory:
            self.http = self.http_factory()
        http = self.http
        if http is not None and requests is not None:
            handshake, proxy_url = self._session_settings(
                http, http_url, headers, sslopt, secure)
        if not self.ssl_verify:
            sslopt['cert_reqs'] = ssl.CERT_NONE
        custom = extra.get('header') or {}
        if not isinstance(custom, dict):
            custom = dict(
                (part.strip() for part in line.split(':', 1))  # type: ignore
                for line in custom)
        if 'cookie' in extra:
            custom = dict(custom, Cookie=extra['cookie'])
        if 'origin' in extra:
            custom = dict(custom, Origin=extra['origin'])
        if 'host' in extra:
            custom = dict(custom, Host=extra['host'])
        replaced = {name.lower() for name in custom}
        handshake = [(name, value) for name, value in handshake
                     if name.lower() not in replaced] + [
            (str(name), str(value)) for name, value in custom.items()
            if value is not None]
        sslopt.update(extra.get('sslopt') or {})
        proxy = None
        if extra.get('http_proxy_host'):
            proxy = (extra['http_proxy_host'],
                     int(extra.get('http_proxy_port') or 80),
                     extra.get('http_proxy_auth'))
        elif proxy_url:
            parsed = urllib.parse.urlsplit(
                proxy_url if '://' in proxy_url else 'http://' + proxy_url)
            if parsed.scheme != 'http':
                raise exceptions.ConnectionError(
                    'Connection error: only http:// proxies are supported '
                    'for WebSocket, not %s' % parsed.scheme)
            proxy = (parsed.hostname, parsed.port or 80,
                     (urllib.parse.unquote(parsed.username or ''),
                      urllib.parse.unquote(parsed.password or ''))
                     if parsed.username or parsed.password else None)
        host = urllib.parse.urlsplit(websocket_url).hostname
        if proxy and host in (extra.get('http_no_proxy') or ()):
            proxy = None
        timeout = extra.get('timeout', self.request_timeout)
        return {
            'headers': handshake, 'timeout': timeout,
            'ssl_context': _websocket.make_ssl_context(sslopt)
            if secure else None,
            'server_hostname': sslopt.get('server_hostname'),
            'proxy': proxy, 'proxy_timeout': extra.get('http_proxy_timeout'),
            'sockopt': extra.get('sockopt') or (),
            'subprotocols': extra.get('subprotocols'),
            'max_size': extra.get('max_size', self.max_message_size)}

    def _session_settings(self, http: Any, http_url: str,
                          headers: Dict[str, str], sslopt: Dict[str, Any],
                          secure: bool) -> Tuple[List[Tuple[str, str]],
                                                 Optional[str]]:
        """Headers (session headers, cookies for the URL, authentication),
        TLS settings and the proxy URL from a ``requests.Session``."""
        user_cookie = None
        plain = {}
        for name, value in headers.items():
            if name.lower() == 'cookie':
                user_cookie = value
            else:
                plain[name] = value
        prepared = http.prepare_request(requests.Request(
            'GET', http_url, headers=plain))
        handshake = []
        for name, value in prepared.headers.items():
            lower = name.lower()
            if lower in _SKIPPED_HEADERS or lower == 'cookie':
                continue
            if lower == 'authorization' and any(
                    n.lower() == 'authorization' for n in plain):
                value = next(v for n, v in plain.items()
                             if n.lower() == 'authorization')
            handshake.append((name, value))
        cookies = [c for c in (prepared.headers.get('Cookie'), user_cookie)
                   if c]
        if cookies:
            handshake.append(('Cookie', '; '.join(cookies)))
        if isinstance(http.cert, tuple):
            sslopt['certfile'], sslopt['keyfile'] = http.cert[0], http.cert[1]
        elif http.cert:
            sslopt['certfile'] = http.cert
        if isinstance(http.verify, str):
            sslopt['ca_cert_path' if os.path.isdir(http.verify)
                   else 'ca_certs'] = http.verify
        elif not http.verify:
            self.ssl_verify = False
        proxies: Dict[str, str] = {}
        if http.trust_env:
            proxies.update(_environ_proxies(http_url))
        proxies.update(http.proxies or {})
        proxy_url = proxies.get('wss' if secure else 'ws') or \
            requests.utils.select_proxy(http_url, proxies)
        return handshake, proxy_url

    # -- HTTP --------------------------------------------------------------

    def _send_request(self, method: str, url: str,
                      headers: Optional[Dict[str, str]] = None,
                      body: Optional[bytes] = None,
                      timeout: Optional[float] = None) -> Tuple[int, bytes]:
        """``(status, body)``; raises _RequestFailed when there is no whole
        answer within ``timeout`` (between bytes and in total) or it is
        longer than ``max_message_size``."""
        if self.http is None:
            if self.http_factory:
                self.http = self.http_factory()
            else:
                self.http = requests.Session()
                self._own_http = True
        if not self.ssl_verify:
            self.http.verify = False
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            response = self.http.request(method, url, headers=headers,
                                         data=body, timeout=timeout,
                                         stream=True)
            try:
                chunks = []
                size = 0
                for chunk in response.iter_content(65536):
                    size += len(chunk)
                    if size > self.max_message_size:
                        raise _RequestFailed(
                            'HTTP response longer than %d bytes'
                            % self.max_message_size)
                    if deadline is not None and \
                            time.monotonic() > deadline:
                        raise _RequestFailed('HTTP response took longer '
                                             'than %.1f s' % (timeout or 0))
                    chunks.append(chunk)
                return response.status_code, b''.join(chunks)
            finally:
                response.close()
        except requests.exceptions.RequestException as exc:
            self.logger.info('HTTP %s request to %s failed with error %s.',
                             method, url, exc)
            raise _RequestFailed(str(exc)) from None

    def _release_http(self) -> None:
        """Close the session we created; the application's is kept (an
        ``http_session`` factory's is dropped, as python-engineio does)."""
        if not self.external_http:
            if self._own_http and self.http is not None:
                self.http.close()
            self.http = None
            self._own_http = False

    # -- connected ---------------------------------------------------------

    def _start_loops(self, ws: Any) -> None:
        """Start the reader (and for polling the writer).  On a WebSocket
        there is no writer thread: ``send()`` writes (see :meth:`_write_out`),
        starting with the packets queued before the upgrade ended."""
        generation, done = self._generation, self._reading_done
        done.clear()
        if ws is None:
            self.write_loop_task = self.start_background_task(
                self._write_loop, generation, ws, self.queue)
            self.read_loop_task = self.start_background_task(
                self._read_loop_polling, generation, done)
            return
        outbox = _Outbox(ws)
        with self._lock:
            if not self._core.can_send():
                # ended while the upgrade went on (a handler disconnected)
                ws.abort()
                done.set()
                return
            while True:
                try:
                    pkt = self.queue.get_nowait()
                except self.queue_empty:
                    break
                if pkt is not None:
                    outbox.packets.append(pkt)
            self._outbox = outbox
            backlog, outbox.packets = outbox.packets, []
            outbox.writing = bool(backlog)
        self.read_loop_task = self._handler_threads.start(
            self._read_loop_websocket, (generation, ws, done))
        if backlog:
            self._write_out(outbox, backlog)

    def _send_packet(self, pkt: Any) -> bool:
        """Send a packet; False when not connected.

        Polling queues it for the writer thread, which batches into one
        POST.  On a WebSocket the calling thread writes it, unless another
        thread is writing: then it joins that thread's outbox and returns
        at once, and that thread writes it next, with whatever else joined
        meanwhile, in one system call (write combining, see
        :meth:`_write_out`).  That saves a writer thread's wake-up and GIL
        hand-over per message, keeps the packets in the order they were
        accepted, and no write can overtake another.
        """
        with self._lock:
            if not self._core.can_send():
                return False
            outbox = self._take(pkt)
        self._log_packet('Sending', pkt)
        if outbox is not None:
            self._write_out(outbox, [pkt])
        return True

    def _send_pong(self, pkt: Any) -> None:
        """The reader's answer to a PING.  The reader never writes (as in
        python-engineio, a write that blocks must not stop the reading):
        the PONG joins the outbox of a thread writing, or a thread of
        :class:`_HandlerThreads` writes it."""
        with self._lock:
            if not self._core.can_send():
                return
            outbox = self._take(pkt)
        self._log_packet('Sending', pkt)
        if outbox is not None:
            self._handler_threads.run(self._write_out, (outbox, [pkt]))

    def _take(self, pkt: Any) -> Optional['_Outbox']:
        """With ``_lock`` held: queue ``pkt`` (polling), put it in the
        outbox of the thread writing, drop it (the WebSocket failed: the
        session is ending), or return the outbox that the caller now
        writes ``pkt`` to."""
        outbox = self._outbox
        if outbox is None:
            self.queue.put_nowait(pkt)
        elif outbox.writing:
            outbox.packets.append(pkt)
        elif not outbox.failed:
            outbox.writing = True
            return outbox
        return None

    def _write_out(self, outbox: '_Outbox', packets: List[Any]) -> None:
        """Write ``packets`` to the WebSocket, then what other threads put
        in the outbox meanwhile, until it is empty (``outbox.writing`` is
        this thread's until then).  After :data:`WRITE_ROUNDS` rounds a
        thread of :class:`_HandlerThreads` takes over, so that a sender
        does not stay captive of others that keep sending.  A failed write
        drops the connection: the reader then ends the session, as for a
        lost connection, and what is sent until then is dropped."""
        ws = outbox.ws
        rounds = 0
        while True:
            try:
                if len(packets) == 1:
                    ws.send(packets[0].encode())
                else:
                    ws.send_many([pkt.encode() for pkt in packets])
                if self._quiet_reader is not None and \
                        self._quiet_reader == threading.get_ident():
                    # written: now a thread may wake up for the reading
                    self._quiet_reader = None
                    self._handler_threads.wake()
            except OSError as exc:
                if not outbox.closing:
                    self.logger.warning('Write failed (%s), aborting', exc)
                ws.abort()        # wakes the reader, which ends the session
                packets = []
                outbox.failed = True
            with self._lock:
                if not packets or not outbox.packets:
                    outbox.packets = []
                    outbox.writing = False
                    if outbox.closing:
                        self._drained.notify_all()
                    return
                packets, outbox.packets = outbox.packets, []
            rounds += 1
            if rounds == WRITE_ROUNDS:
                self._handler_threads.run(self._write_out, (outbox, packets))
                return

    def _receive_packet(self, pkt: Any, reading: bool = False,
                        deliver: bool = True) -> Any:
        """Handle a packet from the server (``reading``: in the thread that
        reads).  A message goes to the message handler in a thread of
        :class:`_HandlerThreads`; with ``deliver`` False its data is
        returned instead, for the caller to deliver.  Returns
        :data:`_NOTHING` otherwise."""
        self._log_packet('Received', pkt)
        action, data = self._core.receive(pkt, time.monotonic())
        if action == _core.ACTION_MESSAGE:
            if not deliver:
                return data
            self._trigger_event('message', data, run_async=True)
        elif action == _core.ACTION_SEND:
            self._send_pong(data)
        elif action == _core.ACTION_CLOSE:
            self._end(self.reason.SERVER_DISCONNECT, reading=reading)
        elif pkt.packet_type != packet.NOOP:
            self._log_unexpected(pkt)
        return _NOTHING

    def _read_loop_polling(self, generation: int, done: Any) -> None:
        """Read packets by polling the Engine.IO server; each message
        handler runs in a thread of :class:`_HandlerThreads`."""
        core = self._core
        try:
            while self._alive(generation):
                left = core.time_left(time.monotonic())
                if left <= 0:
                    self.logger.warning('Server has stopped communicating '
                                        '(no ping), aborting')
                    break
                try:
                    status, body = self._send_request(
                        'GET',
                        (self.base_url or '') + self._get_url_timestamp(),
                        timeout=min(left, core.polling_timeout))
                except _RequestFailed as exc:
                    if self._alive(generation):
                        self.logger.warning('Polling request failed (%s), '
                                            'aborting', exc)
                    break
                if not self._alive(generation):
                    break
                try:
                    packets = core.polling_answer(status, body)
                except _core.ServerProtocolError as exc:
                    self.logger.warning('%s, aborting', exc)
                    break
                for pkt in packets:
                    self._receive_packet(pkt, reading=True)
            if generation == self._generation:
                self._end(self.reason.TRANSPORT_ERROR, reading=True)
        finally:
            done.set()
        self.logger.info('Exiting read loop task')

    def _read_loop_websocket(self, generation: int, ws: Any,
                             done: Any) -> None:
        """Read packets from the WebSocket until a message arrives (and
        the messages that came with it, already decoded); then give the
        reading to another thread of :class:`_HandlerThreads` and run the
        oldest message handler here (leader/followers).

        So the handlers still run outside the thread that reads, as in
        python-engineio (a slow handler holds up neither pings nor later
        messages), but a message waits for no thread to wake up.  Nor does
        its answer: the reading is given quietly (no thread woken) when a
        thread is idle, and a thread is woken for it only once the handler
        has written (:meth:`_write_out`), off the path from a message to
        its answer; a handler that returns first takes the reading back,
        and one that neither writes nor returns within :data:`IDLE_LOOK`
        (it blocks) leaves it to an idle thread, which looks that often.
        ``done`` is set by the thread reading when the connection ends.
        """
        read = (self._read_loop_websocket, (generation, ws, done))
        pool = self._handler_threads
        while True:
            calls: List[Tuple[Callable[..., Any], Any]] = []
            try:
                while True:
                    message = self._read_until_message(generation, ws)
                    if message is None:
                        break
                    calls.append((self._run_handler, message))
                    if not _has_decoded(ws):
                        calls.append(read)
                        (function, args), quiet = pool.hand_over(
                            calls, quietly=True)
                        break
            except BaseException:
                # the reading cannot go on (no thread for it): end it
                if generation == self._generation:
                    ws.abort()
                    self._end(self.reason.TRANSPORT_ERROR, reading=True)
                done.set()
                raise
            if message is None:
                break
            if not quiet:
                function(*args)
                return
            self._quiet_reader = threading.get_ident()
            function(*args)
            self._quiet_reader = None
            if not pool.take_back(read):
                return          # another thread reads
        for function, args in calls:        # what came before the end
            pool.run(function, args)
        try:
            if generation == self._generation:
                self._end(self.reason.TRANSPORT_ERROR, reading=True)
        finally:
            done.set()
        self.logger.info('Exiting read loop task')

    def _read_until_message(self, generation: int, ws: Any
                            ) -> Optional[Tuple[str, Any, Tuple[Any]]]:
        """The arguments of :meth:`_run_handler` for the next message, or
        None once the connection is over (every other packet is handled
        here: PINGs answered, a CLOSE ends the session)."""
        core = self._core
        while self._alive(generation):
            try:
                message = ws.recv(core.time_left(time.monotonic()))
            except _websocket.WebSocketTimeout:
                self.logger.warning('Server has stopped communicating '
                                    '(no ping), aborting')
                break
            except _websocket.WebSocketClosed as exc:
                if self._alive(generation):
                    self.logger.warning('WebSocket connection was closed '
                                        '(%s), aborting', exc)
                break
            try:
                pkt = core.decode_websocket(message)
            except _core.ServerProtocolError as exc:
                self.logger.warning('%s, aborting', exc)
                break
            data = self._receive_packet(pkt, reading=True, deliver=False)
            if data is not _NOTHING:
                handler = self.handlers.get('message')
                if handler is not None:
                    return 'message', handler, (data,)
        return None

    def _write_loop(self, generation: int, ws: Any, packets_queue: Any
                    ) -> None:
        """Send the queued packets of the polling transport, batched into
        one POST (``ws`` is always None: a WebSocket has no writer thread,
        see :meth:`_send_packet`).  A ``None`` in the queue ends the loop
        after what was queued before it is sent."""
        empty = self.queue_empty
        stop = False
        while not stop:
            try:
                packets = [packets_queue.get(
                    timeout=self._core.polling_timeout)]
            except empty:
                if self._alive(generation):
                    continue
                break
            # at most what a server decodes from one POST (16 by default
            # in python-engineio's servers and ours: more is a 400 that
            # ends the session); the rest goes in the next POST
            limit = _payload.Payload.max_decode_packets or _NO_LIMIT
            while packets[-1] is not None and len(packets) < limit:
                try:
                    packets.append(packets_queue.get_nowait())
                except empty:
                    break
            if packets[-1] is None:
                packets.pop()
                stop = True
            if not packets:
                continue
            try:
                body, headers = self._core.encode_polling(packets)
                status, _ = self._send_request(
                    'POST', self.base_url or '', body=body, headers=headers,
                    timeout=self.request_timeout)
                self._core.check_status(status)
            except (_RequestFailed, _core.ServerProtocolError) as exc:
                if self._alive(generation):
                    self.logger.warning('Write failed (%s), aborting', exc)
                    self._end(self.reason.TRANSPORT_ERROR)
                break
        self.logger.info('Exiting write loop task')

    # -- ending ------------------------------------------------------------

    def _end(self, reason: str, send_close: bool = False,
             abort: bool = False, reading: bool = False) -> bool:
        """End the session if nobody else is doing it; False otherwise.
        ``reading``: called by the thread that reads, which the others
        wait for."""
        with self._lock:
            # after the claim nothing more is accepted: the CLOSE packet
            # goes after everything that was
            if not self._core.claim_disconnect(reason):
                return False
            self._ending_thread = current = threading.current_thread()
            outbox = self._outbox
            close_outbox = self._take(_CLOSE_PACKET) if send_close else None
            if outbox is None:
                self.queue.put(None)        # ends the polling writer
            else:
                outbox.closing = True
        if close_outbox is not None:
            self._write_out(close_outbox, [_CLOSE_PACKET])
        if self._quiet_reader is not None:
            self._handler_threads.wake()    # the reading must see the end
        self._trigger_event('disconnect', reason, run_async=False)
        writer, ws, done = self.write_loop_task, self.ws, self._reading_done
        wait = not abort and not reading
        if not abort:
            if writer is not None and writer is not current:
                writer.join(self.request_timeout + 1)
            if outbox is not None:
                with self._lock:
                    self._drained.wait_for(lambda: not outbox.writing,
                                           self.request_timeout + 1)
        if ws is not None:
            ws.close()
        if wait:
            done.wait(CLOSE_LINGER if ws is not None
                      else self._core.polling_timeout)
        if ws is not None:
            ws.abort()
            if wait:
                done.wait(CLOSE_LINGER)
        self._teardown()
        return True

    def _teardown(self) -> None:
        with self._lock:
            self._outbox = None
        self._core.reset()
        try:
            base_client.connected_clients.remove(self)
        except ValueError:
            pass
        self._release_http()
        self._handler_threads.stop()
        self.ws = None
        self._ending_thread = None
        self._finished.set()

    def _trigger_event(self, event: str, *args: Any, **kwargs: Any) -> Any:
        """Invoke an event handler: in a new thread with ``run_async``
        (messages), else here.  An exception is logged; from ``connect``
        it is raised again, to abort the connection."""
        run_async = kwargs.pop('run_async', False)
        handler = self.handlers.get(event)
        if handler is None:
            return None
        if event == 'disconnect' and args and not _accepts(handler, args):
            args = ()  # a legacy disconnect handler, without the reason
        if run_async:
            self._handler_threads.run(self._run_handler,
                                      (event, handler, args))
            return None
        return self._run_handler(event, handler, args)

    def _run_handler(self, event: str, handler: Any, args: Any) -> Any:
        try:
            return handler(*args)
        except Exception:
            self.logger.exception(event + ' handler error')
            if event == 'connect':
                raise
            return None


def _has_decoded(ws: Any) -> bool:
    """Whether ``ws`` holds a message already received and decoded, which
    its next ``recv()`` returns without waiting (a connection without
    ``has_pending`` makes each message go alone: correct, only slower in a
    burst)."""
    has_pending = getattr(ws, 'has_pending', None)
    return has_pending is not None and has_pending()


def _accepts(handler: Any, args: Any) -> bool:
    try:
        inspect.signature(handler).bind(*args)
    except TypeError:
        return False
    except ValueError:  # pragma: no cover  (no signature: assume it does)
        return True
    return True
