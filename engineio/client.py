"""The sync Engine.IO client (python-engineio's ``engineio.Client``).

Thin glue around :class:`engineio._sansio.client.ClientCore`: polling with
``requests`` (the application's ``http_session`` when given), WebSocket with
our own RFC 6455 client (:mod:`engineio._client_websocket`), two threads per
connection (a reader and a writer; greenlets when gevent or eventlet patched
the process), and each message handler in a background thread, as in
python-engineio (a handler may block waiting for a later message, as
python-socketio's ``call()`` does); those threads are reused
(:class:`_HandlerThreads`).

Who ends a session: the first party to claim it in the core (the
application's ``disconnect()``, the reader on a CLOSE packet, a dead server
or bad input, the writer on a failed write) runs the disconnect handler
once, stops both threads (bounded waits) and resets the client.
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
from ._sansio import client as _core
from ._speedups import codec as _codec

__all__ = ['Client']

default_logger = logging.getLogger('engineio.client')

#: seconds a closing WebSocket waits for the server's close frame
CLOSE_LINGER = 2.0
_SKIPPED_HEADERS = frozenset([
    'host', 'connection', 'upgrade', 'accept', 'accept-encoding',
    'content-length', 'sec-websocket-key', 'sec-websocket-version',
    'sec-websocket-extensions', 'sec-websocket-protocol'])
_CLOSE_PACKET = packet.Packet(packet.CLOSE)
#: seconds a message handler thread with nothing to do waits for the next
#: message before it ends
HANDLER_IDLE_TIMEOUT = 2.0


class _RequestFailed(Exception):
    """An HTTP request did not get a complete answer."""


class _HandlerThreads:
    """Runs each message handler call in a background thread, as
    python-engineio does, but reuses the threads.

    Starting a thread costs ~55 µs of CPU here, most of what a message cost
    the sync client (``python -m bench.clients``); handing a call to a
    thread that waits for one costs a few.  A call never waits for a busy
    thread: when no idle thread is left for it, a new one starts, so a
    handler that blocks (python-socketio's ``call()`` waiting for its
    answer) holds up no other.  The calls are taken in the order the
    messages arrived (python-socketio reassembles a binary event from
    consecutive messages).  An idle thread ends after
    :data:`HANDLER_IDLE_TIMEOUT`, or at once when the session ends
    (:meth:`stop`); a running handler finishes first.
    """

    def __init__(self, start: Callable[..., Any]) -> None:
        self._start = start          # the client's start_background_task
        self._ready = threading.Condition()
        self._calls: Deque[Tuple[Callable[..., Any], Any]] = deque()
        #: threads not running a handler: waiting for a call, or starting
        self._idle = 0
        self._stopping = False

    def run(self, function: Callable[..., Any], args: Any) -> None:
        with self._ready:
            self._calls.append((function, args))
            if self._idle >= len(self._calls):
                self._ready.notify()
                return
            self._idle += 1
        try:
            self._start(self._serve)
        except BaseException:
            with self._ready:
                self._idle -= 1
            raise

    def stop(self) -> None:
        """End the idle threads once the queued calls are taken (the busy
        ones end when their handler returns)."""
        with self._ready:
            self._stopping = True
            self._ready.notify_all()

    def _serve(self) -> None:
        ready, calls = self._ready, self._calls
        while True:
            with ready:
                while not calls and not self._stopping:
                    if not ready.wait(HANDLER_IDLE_TIMEOUT):
                        break
                self._idle -= 1
                if not calls:
                    return
                function, args = calls.popleft()
            function(*args)
            with ready:
                self._idle += 1


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
        self._lock = threading.Lock()
        self._generation = 0
        self._ending_thread: Any = None
        self._finished = threading.Event()
        self._finished.set()
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
        options = self._websocket_options(websocket_url, headers)
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
            proxies.update(requests.utils.get_environ_proxies(http_url))
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

    def _receive_packet(self, pkt: Any) -> None:
        """Handle incoming packets from the server."""
        self._log_packet('Received', pkt)
        action, data = self._core.receive(pkt, time.monotonic())
        if action == _core.ACTION_MESSAGE:
            self._trigger_event('message', data, run_async=True)
        elif action == _core.ACTION_SEND:
            self._send_packet(data)
        elif action == _core.ACTION_CLOSE:
            self._end(self.reason.SERVER_DISCONNECT)
        elif pkt.packet_type != packet.NOOP:
            self._log_unexpected(pkt)

    def _read_loop_polling(self, generation: int) -> None:
        """Read packets by polling the Engine.IO server."""
        core = self._core
        while self._alive(generation):
            left = core.time_left(time.monotonic())
            if left <= 0:
                self.logger.warning('Server has stopped communicating '
                                    '(no ping), aborting')
                break
            try:
                status, body = self._send_request(
                    'GET', (self.base_url or '') + self._get_url_timestamp(),
                    timeout=min(left, core.polling_timeout))
            except _RequestFailed as exc:
                if self._alive(generation):
                    self.logger.warning('Polling request failed (%s), '
                                        'aborting', exc)
                break
            if not self._alive(generation):
                break
            if not 200 <= status < 300:
                self.logger.warning('Unexpected status code %s in server '
                                    'response, aborting', status)
                break
            try:
                packets = core.decode_polling(body)
            except _core.ServerProtocolError as exc:
                self.logger.warning('%s, aborting', exc)
                break
            for pkt in packets:
                self._receive_packet(pkt)
        if generation == self._generation:
            self._end(self.reason.TRANSPORT_ERROR)
        self.logger.info('Exiting read loop task')

    def _read_loop_websocket(self, generation: int, ws: Any) -> None:
        """Read packets from the Engine.IO WebSocket connection."""
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
            self._receive_packet(pkt)
        if generation == self._generation:
            self._end(self.reason.TRANSPORT_ERROR)
        self.logger.info('Exiting read loop task')

    def _write_loop(self, generation: int, ws: Any, packets_queue: Any
                    ) -> None:
        """Send the queued packets: batched into one POST, or one write of
        WebSocket frames.  A ``None`` in the queue ends the loop after what
        was queued before it is sent."""
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
            while packets[-1] is not None:
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
                if ws is None:
                    status, _ = self._send_request(
                        'POST', self.base_url or '',
                        body=_codec.encode_payload(packets).encode('utf-8'),
                        headers={'Content-Type': 'text/plain;charset=UTF-8'},
                        timeout=self.request_timeout)
                    if not 200 <= status < 300:
                        raise _RequestFailed(
                            'Unexpected status code %s in server response'
                            % status)
                else:
                    ws.send_many([pkt.encode() for pkt in packets])
            except (_RequestFailed, OSError) as exc:
                if self._alive(generation):
                    self.logger.warning('Write failed (%s), aborting', exc)
                    if ws is not None:
                        ws.abort()  # wakes the reader, which ends the session
                    else:
                        self._end(self.reason.TRANSPORT_ERROR)
                break
        self.logger.info('Exiting write loop task')

    # -- ending ------------------------------------------------------------

    def _end(self, reason: str, send_close: bool = False,
             abort: bool = False) -> bool:
        """End the session if nobody else is doing it; False otherwise."""
        with self._lock:
            if not self._core.claim_disconnect(reason):
                return False
            self._ending_thread = current = threading.current_thread()
        if send_close:
            self.queue.put(_CLOSE_PACKET)
        self.queue.put(None)
        self._trigger_event('disconnect', reason, run_async=False)
        reader, writer, ws = self.read_loop_task, self.write_loop_task, \
            self.ws
        if writer is not None and writer is not current and not abort:
            writer.join(self.request_timeout + 1)
        if ws is not None:
            ws.close()
        if reader is not None and reader is not current and not abort:
            reader.join(CLOSE_LINGER if ws is not None
                        else self._core.polling_timeout)
        if ws is not None:
            ws.abort()
            if reader is not None and reader is not current and not abort:
                reader.join(CLOSE_LINGER)
        self._teardown()
        return True

    def _teardown(self) -> None:
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


def _accepts(handler: Any, args: Any) -> bool:
    try:
        inspect.signature(handler).bind(*args)
    except TypeError:
        return False
    except ValueError:  # pragma: no cover  (no signature: assume it does)
        return True
    return True
