"""The asyncio Engine.IO client (python-engineio's ``engineio.AsyncClient``).

Thin glue around :class:`engineio._sansio.client.ClientCore`.  Polling (a
reader task and a writer task per connection, as python-engineio does) goes
through our own HTTP/1.1 client (:mod:`engineio._async_client_http`), or
through aiohttp when the application gives an ``http_session``; at an
upgrade our client's idle keep-alive connection carries the WebSocket
handshake, as aiohttp's connection pool did.  aiohttp is needed only for an
application's session (and the ``params``/``fingerprint`` WebSocket
options).  The WebSocket is our own asyncio protocol
(:mod:`engineio._async_client_websocket`): received messages reach the core
from ``data_received`` with no task in between, ``send()`` writes the frame
at once, and a timer watches the server's heartbeat; only the message
handler runs in a task of its own (as in python-engineio: a slow handler
must not hold up the pings).  The core is called from the event loop only,
so no lock is needed: the first to claim the end of a session
(``disconnect()``, the reader, the WebSocket's close, the heartbeat timer)
runs the disconnect handler once, stops the rest (bounded waits, then
cancellation) and resets the client.
"""
from __future__ import annotations

import asyncio
import base64
import inspect
import logging
import signal
import ssl
import threading
import time
import types
from http.cookies import SimpleCookie
import urllib.parse
from typing import Any, Dict, Optional, Set, Tuple

try:
    import aiohttp
    import yarl
except ImportError:  # pragma: no cover
    aiohttp = None  # type: ignore[assignment]
    yarl = None  # type: ignore[assignment]

from . import _async_client_http as _http
from . import _async_client_websocket as _websocket
from . import base_client, exceptions, packet
from . import payload as _payload
from ._sansio import client as _core
from ._speedups import codec as _codec

__all__ = ['AsyncClient']

#: no limit on the packets of one POST (Payload.max_decode_packets None)
_NO_LIMIT = 1 << 62

async_signal_handler_set = False
#: references to handler tasks, so that they are not garbage collected
#: while they run
task_reference_holder: Set[Any] = set()
#: seconds the end of a session waits for a task before cancelling it
CLOSE_LINGER = 2.0
_CLOSE_PACKET = packet.Packet(packet.CLOSE)
_INFO = logging.INFO
_MESSAGE = packet.MESSAGE
_current_task = asyncio.current_task
_isawaitable = inspect.isawaitable
_CoroutineType = types.CoroutineType


def async_signal_handler() -> None:
    """SIGINT handler: disconnect every asyncio client, cancel the other
    tasks and stop the loop (python-engineio's behaviour)."""
    async def _handler() -> None:  # pragma: no cover
        for client in base_client.connected_clients[:]:
            if client.is_asyncio_based():
                await client.disconnect()  # type: ignore[attr-defined]
        tasks = [task for task in asyncio.all_tasks()
                 if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        asyncio.get_running_loop().stop()

    asyncio.ensure_future(_handler())


#: the default TLS contexts, verifying and not, made once (loading the CA
#: store costs milliseconds: not a price to pay per connection)
_ssl_contexts: Dict[bool, ssl.SSLContext] = {}


def _ssl_context(verified: bool) -> ssl.SSLContext:
    """aiohttp's default TLS contexts: the system's CA store and host name
    check, or no verification at all."""
    context = _ssl_contexts.get(verified)
    if context is None:
        if verified:
            context = ssl.create_default_context()
        else:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols(['http/1.1'])
        _ssl_contexts[verified] = context
    return context


#: aiohttp's errors, where it is installed (AsyncClient needs it only for an
#: ``http_session`` of the application's)
_AIOHTTP_ERRORS: Tuple[Any, ...] = (aiohttp.ClientError,) \
    if aiohttp is not None else ()
#: ``websocket_extra_options`` that make the WebSocket's connection differ
#: from the polling requests' (see AsyncClient._open_websocket)
_OWN_CONNECTION_OPTIONS = frozenset(['ssl', 'verify_ssl', 'ssl_context',
                                     'fingerprint', 'server_hostname',
                                     'proxy'])


#: ``websocket_extra_options`` that need aiohttp (and yarl)
_NEEDS_AIOHTTP = frozenset(['params', 'fingerprint'])


class _RequestFailed(Exception):
    """An HTTP request did not get a complete answer."""


class AsyncClient(base_client.BaseClient):
    """An Engine.IO client for asyncio.

    This class implements a fully compliant Engine.IO web client with support
    for websocket and long-polling transports, compatible with the asyncio
    framework on Python 3.5 or newer.

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
    :param http_session: an initialized ``aiohttp.ClientSession`` object to be
                         used when sending requests to the server, or a
                         function (or coroutine function) that returns one.
                         Use it if you need to add special client options such
                         as proxy servers, SSL certificates, custom CA bundle,
                         etc.  Without it the client makes its polling requests
                         with its own HTTP/1.1 client (keep-alive, cookies,
                         redirects, gzip/deflate, as aiohttp's default session)
                         and needs no aiohttp; ``http`` then stays None.
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
                                    names of aiohttp's ``ws_connect()``
                                    arguments (see
                                    ``engineio._async_client_websocket.OPTIONS``
                                    for the list). An unknown key raises
                                    ``ValueError``.
    :param timestamp_requests: If ``True`` a timestamp is added to the query
                               string of Socket.IO requests as a cache-busting
                               measure. Set to ``False`` to disable.
    """

    def _init_glue(self) -> None:
        _websocket.check_options(self.websocket_extra_options)
        self._generation = 0
        self._ending_task: Any = None
        #: set when a session ends (made by whoever waits for it:
        #: ``_done`` says whether it has ended)
        self._finished: Optional[asyncio.Event] = None
        self._done = True
        self._own_http = False
        self._loop: Any = None
        #: our HTTP client (polling without an http_session): see
        #: _plain_http
        self._http_client: Any = None
        # the timer that watches the server's heartbeat on the WebSocket
        self._heartbeat: Any = None

    def is_asyncio_based(self) -> bool:
        return True

    # -- public API --------------------------------------------------------

    async def connect(self, url: str, headers: Optional[Dict[str, str]] = None,
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

        Note: this method is a coroutine.

        Example usage::

            eio = engineio.Client()
            await eio.connect('http://localhost:5000')
        """
        global async_signal_handler_set
        if self.handle_sigint and not async_signal_handler_set and \
                threading.current_thread() is threading.main_thread():
            try:
                asyncio.get_running_loop().add_signal_handler(
                    signal.SIGINT, async_signal_handler)
            except NotImplementedError:  # pragma: no cover
                self.logger.warning('Signal handler is unsupported')
            async_signal_handler_set = True
        first = self._core.start(transports)
        if aiohttp is None and (
                self.http is not None or self.http_factory is not None or
                _NEEDS_AIOHTTP.intersection(self.websocket_extra_options)):
            # our own HTTP and WebSocket clients need no aiohttp; an
            # application's session and these options do
            self._core.reset()
            raise exceptions.ConnectionError(
                'the aiohttp package is not installed')
        self._generation += 1
        #: the session's loop (asyncio.get_running_loop() asks the kernel
        #: for the pid on every call before Python 3.12)
        self._loop = asyncio.get_running_loop()
        self._finished = None
        self._done = False
        # the polling writer's queue: made when polling starts or something
        # is sent before the WebSocket is open (a WebSocket session needs
        # none: an idle client keeps fewer objects)
        self.queue = None
        self.ws = None
        self.read_loop_task = self.write_loop_task = None
        headers = dict(headers or {})
        try:
            if first == 'polling':
                await self._connect_polling(url, headers, engineio_path)
            else:
                await self._connect_websocket(url, headers, engineio_path)
        except BaseException:
            if self._core.state == _core.DISCONNECTED:
                await self._release_http()
                self._set_finished()
            elif self.read_loop_task is None and self.ws is None and \
                    self._core.claim_disconnect(self.reason.CLIENT_DISCONNECT):
                # cancelled during the upgrade (an application's timeout):
                # the session has no transport loops to end it, so it ends
                # here, in a task of its own (this one is being cancelled)
                task = asyncio.ensure_future(self._finish_end(
                    self.reason.CLIENT_DISCONNECT, True, False))
                task_reference_holder.add(task)
                task.add_done_callback(task_reference_holder.discard)
            raise

    async def wait(self) -> None:
        """Wait until the connection with the server ends.

        Client applications can use this function to block the main thread
        during the life of the connection.

        Note: this method is a coroutine.
        """
        await self._wait_finished()

    async def _wait_finished(self) -> None:
        if not self._done:
            if self._finished is None:
                self._finished = asyncio.Event()
            await self._finished.wait()

    def _set_finished(self) -> None:
        self._done = True
        if self._finished is not None:
            self._finished.set()

    def _queue(self) -> Any:
        """The polling writer's queue, made when first needed."""
        if self.queue is None:
            self.queue = self.create_queue()
        return self.queue

    async def send(self, data: Any) -> None:
        """Send a message to the server.

        :param data: The data to send to the server. Data can be of type
                     ``str``, ``bytes``, ``list`` or ``dict``. If a ``list``
                     or ``dict``, the data will be serialized as JSON.

        Raises ``exceptions.SocketIsClosedError`` when the client is not
        connected (python-engineio dropped the message silently).

        Note: this method is a coroutine.
        """
        ws = self.ws
        if ws is not None and type(data) is str and \
                not self.logger.isEnabledFor(_INFO):
            # the common case, without a Packet: a text message's encoding
            # is its type digit and the text
            if not self._core.can_send():
                raise exceptions.SocketIsClosedError('Client is not connected')
            ws.send('4' + data)
        elif not self._send_packet(packet.Packet(_MESSAGE, data=data)):
            raise exceptions.SocketIsClosedError('Client is not connected')
        if ws is not None and ws.paused:
            await ws.drain()  # the server reads slower than we write

    async def disconnect(self, abort: bool = False,
                         reason: Optional[str] = None) -> None:
        """Disconnect from the server.

        :param abort: If set to ``True``, do not wait for background tasks
                      associated with the connection to end.
        :param reason: The reason given to the disconnect handler (default:
                       ``reason.CLIENT_DISCONNECT``).

        Note: this method is a coroutine.
        """
        if not await self._end(reason or self.reason.CLIENT_DISCONNECT,
                               send_close=True, abort=abort) and \
                not abort and self._core.state != _core.DISCONNECTED and \
                self._ending_task is not asyncio.current_task():
            # someone else is ending the session: wait for the end (not
            # when there is no session yet: connect() may be waiting for
            # the handshake, python-engineio returned at once then)
            await self._wait_finished()

    def start_background_task(self, target: Any, *args: Any,
                              **kwargs: Any) -> Any:
        """Start a background task.

        This is a utility function that applications can use to start a
        background task.

        :param target: the target function to execute.
        :param args: arguments to pass to the function.
        :param kwargs: keyword arguments to pass to the function.

        The return value is a ``asyncio.Task`` object.
        """
        return asyncio.ensure_future(target(*args, **kwargs))

    async def sleep(self, seconds: float = 0) -> None:
        """Sleep for the requested amount of time.

        Note: this method is a coroutine.
        """
        return await asyncio.sleep(seconds)

    def create_queue(self, *args: Any, **kwargs: Any) -> Any:
        """Create a queue object."""
        return asyncio.Queue(*args, **kwargs)

    def get_queue_empty_exception(self) -> Any:
        """Return the queue empty exception raised by queues created by the
        ``create_queue()`` method.
        """
        return asyncio.QueueEmpty

    def create_event(self) -> asyncio.Event:
        """Create an event object."""
        return asyncio.Event()

    # -- connecting --------------------------------------------------------

    async def _get_http(self) -> Any:
        if self.http is None or self.http.closed:
            if self.http_factory:
                self.http = self.http_factory()
                if inspect.isawaitable(self.http):
                    self.http = await self.http
            else:
                self.http = aiohttp.ClientSession()
                self._own_http = True
        return self.http

    async def _connect_polling(self, url: str, headers: Dict[str, str],
                               engineio_path: str) -> None:
        self.base_url = self._get_engineio_url(url, engineio_path, 'polling')
        self.logger.info('Attempting polling connection to %s', self.base_url)
        try:
            status, body = await self._send_request(
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
        await self._connected()
        for pkt in packets:
            await self._receive_packet(pkt)
        if not self._core.can_send():
            return
        if self._core.should_upgrade() and \
                await self._connect_websocket(url, headers, engineio_path):
            return
        if not self._core.can_send():
            return  # disconnect() ended the session during the upgrade
        self._queue()
        self._start_loops(None)

    async def _connect_websocket(self, url: str, headers: Dict[str, str],
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
            options = await self._websocket_options(
                websocket_url + self._get_url_timestamp(), headers)
            ws = await self._open_websocket(options, upgrade)
        except (_websocket.WebSocketError, OSError, ValueError,
                *_AIOHTTP_ERRORS) as exc:
            if upgrade:
                self.logger.warning('WebSocket upgrade failed: %s', exc)
                return False
            raise exceptions.ConnectionError('Connection error: %s' % (
                exc or type(exc).__name__)) from None
        self._keep_cookies(ws, options['url'])
        if upgrade:
            try:
                ws.send(_core.PROBE)
                answer = await ws.recv(self.request_timeout)
                if not self._core.can_send():
                    # disconnect() ended the session meanwhile: this
                    # WebSocket is nobody's
                    ws.abort()
                    return True
                if not _core.is_probe_answer(answer):
                    raise _websocket.WebSocketError('no PONG packet')
                ws.send(_core.UPGRADE)
            except _websocket.WebSocketError as exc:
                self.logger.warning('WebSocket upgrade failed: %s', exc)
                ws.abort()
                return False
            except BaseException:  # cancelled: the WebSocket is nobody's
                ws.abort()
                raise
            self._core.upgraded()
            self._use_websocket(ws)
            self.logger.info('WebSocket upgrade was successful')
        else:
            try:
                message: Any = await ws.recv(self.request_timeout)
            except _websocket.WebSocketError as exc:
                ws.abort()
                raise exceptions.ConnectionError(
                    'Unexpected recv exception: %s' % exc) from None
            except BaseException:  # cancelled: the WebSocket is nobody's
                ws.abort()
                raise
            try:
                self._core.websocket_handshake(message, time.monotonic())
            except exceptions.ConnectionError:
                ws.abort()
                raise
            self.logger.info('WebSocket connection accepted with sid %s',
                             self.sid)
            self._use_websocket(ws)
            await self._connected()
        if self._core.can_send():
            ws.set_handlers(self._websocket_message, self._websocket_closed)
            self._watch_heartbeat(self._generation)
            if self.websocket_extra_options.get('heartbeat'):
                ws.keepalive(self.websocket_extra_options['heartbeat'])
        return True

    async def _open_websocket(self, options: Dict[str, Any],
                              upgrade: bool) -> Any:
        """Open the WebSocket.  An upgrade from polling done by our HTTP
        client makes its handshake on the polling transport's idle
        keep-alive connection (one TCP connection per session, as aiohttp's
        pool gave python-engineio), unless the WebSocket has settings of its
        own (a proxy, TLS options) that connection was not made with; a
        connection the server closed meanwhile is replaced by a new one."""
        client = self._http_client
        if upgrade and client is not None and 'proxy' not in options and \
                not _OWN_CONNECTION_OPTIONS.intersection(
                    self.websocket_extra_options):
            transport = client.take_connection(options['url'])
            if transport is not None:
                try:
                    return await _websocket.connect(transport=transport,
                                                    **options)
                except _websocket.WebSocketHandshakeError as exc:
                    if exc.status:  # the server answered: that is final
                        raise
        return await _websocket.connect(**options)

    def _close_timeout(self) -> float:
        """How long the closing handshake may take: the option ``timeout``
        (aiohttp's ``ws_close``), else :data:`CLOSE_LINGER`."""
        timeout = self.websocket_extra_options.get('timeout')
        timeout = getattr(timeout, 'ws_close', timeout)
        return CLOSE_LINGER if timeout is None else float(timeout)

    def _use_websocket(self, ws: Any) -> None:
        """Every packet goes over ``ws`` from now on: what was queued for
        the polling writer first, in one write, then each ``send()``
        directly (see :meth:`_send_packet`)."""
        queue = self.queue
        if queue is not None:
            queued = []
            while not queue.empty():
                pkt = queue.get_nowait()
                if pkt is not None:
                    queued.append(pkt.encode())
            ws.send_many(queued)
            self.queue = None
        self.ws = ws

    async def _websocket_options(self, url: str,
                                 headers: Dict[str, str]) -> Dict[str, Any]:
        """The arguments of :func:`_async_client_websocket.connect` for
        ``url``: what aiohttp's ``ws_connect()`` would have used, from the
        HTTP session (its cookies, default headers, authentication, TLS
        settings and proxy, python-engineio's ``ssl_verify``) and
        ``websocket_extra_options`` over them."""
        extra = self.websocket_extra_options
        http = None
        if self.http is not None or self.http_factory:
            http = await self._get_http()  # its cookies and settings apply
        handshake: Dict[str, str] = {}
        cookie = None
        for name, value in headers.items():
            if name.lower() == 'cookie':
                cookie = value
            else:
                handshake[name] = value
        if http is not None:
            for name, value in http.headers.items():
                handshake.setdefault(name, value)
            if cookie is not None:
                # python-engineio puts them in the session's jar: they are
                # sent on this connection and kept for the next requests
                jar = SimpleCookie(cookie)
                http.cookie_jar.update_cookies(
                    {k: m.value for k, m in jar.items()})
            jar = http.cookie_jar.filter_cookies(
                yarl.URL('http' + url[2:]))
            cookie = '; '.join('%s=%s' % (k, m.value)
                               for k, m in jar.items()) or None
        elif self._http_client is not None:
            # polling came first, through our HTTP client: its cookies (a
            # sticky load balancer's) go with the upgrade, the user's too
            if cookie is not None:
                self._http_client.add_cookies(cookie, url)
            cookie = self._http_client.cookie_header(url)
        if cookie:
            handshake['Cookie'] = cookie
        handshake.update(extra.get('headers') or {})
        auth = extra.get('auth') or (http.auth if http is not None else None)
        if auth is not None:
            handshake['Authorization'] = auth.encode()
        if extra.get('origin'):
            handshake['Origin'] = extra['origin']
        if extra.get('params'):
            url = str(yarl.URL(url, encoded=True).extend_query(
                extra['params']))
        max_size = extra.get('max_msg_size', self.max_message_size)
        return {
            'url': url, 'headers': list(handshake.items()),
            'timeout': self.request_timeout,
            'subprotocols': list(extra.get('protocols') or ()) or None,
            'max_size': max_size or None,
            'server_hostname': extra.get('server_hostname'),
            **self._websocket_tls(url, http),
            **self._websocket_proxy(url, http)}

    def _websocket_tls(self, url: str, http: Any) -> Dict[str, Any]:
        """``ssl_context`` and ``fingerprint``, chosen as aiohttp does: the
        option ``ssl`` (or its deprecated spellings), else python-engineio's
        ``ssl_verify=False``, else the session connector's ``ssl``, else a
        verifying default context."""
        if not url.startswith('wss:'):
            return {'ssl_context': None}
        extra = self.websocket_extra_options
        choice: Any = extra.get('ssl', True)
        if choice is True:
            if extra.get('verify_ssl') is False:
                choice = False
            elif extra.get('ssl_context') is not None:
                choice = extra['ssl_context']
            elif extra.get('fingerprint') is not None:
                choice = aiohttp.Fingerprint(extra['fingerprint'])
            elif not self.ssl_verify:
                choice = False
            elif http is not None:
                choice = getattr(http.connector, '_ssl', True)
        if isinstance(choice, ssl.SSLContext):
            return {'ssl_context': choice}
        if choice is True or choice is None:
            return {'ssl_context': _ssl_context(True)}
        return {'ssl_context': _ssl_context(False),
                'fingerprint': choice if choice is not False else None}

    def _websocket_proxy(self, url: str, http: Any) -> Dict[str, Any]:
        """``proxy`` and ``proxy_headers``: the option ``proxy``, else the
        session's default proxy, else (a session that trusts the
        environment) ``ws_proxy``/``wss_proxy`` from the environment, as
        aiohttp does.  Only ``http://`` proxies (a ``CONNECT`` tunnel)."""
        extra = self.websocket_extra_options
        proxy = extra.get('proxy')
        auth = extra.get('proxy_auth')
        if http is not None:
            # as aiohttp's request: the session's proxy_auth applies to the
            # option's proxy too
            auth = auth or getattr(http, '_default_proxy_auth', None)
            if proxy is None:
                proxy = getattr(http, '_default_proxy', None)
            if proxy is None and http.trust_env:
                try:
                    proxy, env_auth = aiohttp.helpers.get_env_proxy_for_url(
                        yarl.URL(url))
                    auth = auth or env_auth
                except LookupError:
                    pass
        if proxy is None:
            return {}
        parsed = urllib.parse.urlsplit(str(proxy))
        if parsed.scheme != 'http' or not parsed.hostname:
            raise ValueError('only http:// proxies are supported for the '
                             'WebSocket, not %s' % proxy)
        proxy_headers = list((extra.get('proxy_headers') or {}).items())
        if auth is not None:
            proxy_headers.append(('Proxy-Authorization', auth.encode()))
        elif parsed.username:
            # encoded here: aiohttp 3.14 deprecates BasicAuth
            credentials = '%s:%s' % (urllib.parse.unquote(parsed.username),
                                     urllib.parse.unquote(parsed.password
                                                          or ''))
            token = base64.b64encode(credentials.encode('latin-1'))
            proxy_headers.append(('Proxy-Authorization',
                                  'Basic ' + token.decode('ascii')))
        return {'proxy': (parsed.hostname, parsed.port or 80),
                'proxy_headers': proxy_headers}

    def _keep_cookies(self, ws: Any, url: str) -> None:
        """Cookies the WebSocket handshake answer set go to the session's
        jar, as aiohttp's ``ws_connect()`` did."""
        set_cookie = ws.response_headers.get('set-cookie')
        if set_cookie and self.http is None and \
                self._http_client is not None:
            self._http_client.store_cookies(set_cookie, url)
        elif set_cookie and self.http is not None:
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(set_cookie)
            except Exception:  # http.cookies.CookieError: a bad cookie
                return
            self.http.cookie_jar.update_cookies(
                jar, yarl.URL('http' + url[2:]))

    async def _connected(self) -> None:
        base_client.connected_clients.append(self)
        try:
            await self._trigger_event('connect', run_async=False)
        except Exception as exc:
            await self._abandon()
            raise exceptions.ConnectionError(
                'Connect handler failed: ' + str(exc)) from None

    async def _abandon(self) -> None:
        """Drop a session the application refused: tell the server (best
        effort) and reset, without a disconnect event."""
        ws = self.ws
        try:
            if ws is not None:
                ws.send(_CLOSE_PACKET.encode())
                await ws.close(timeout=self._close_timeout())
            elif self.base_url:
                await self._send_request('POST', self.base_url, body=b'1',
                                         timeout=self.request_timeout)
        except _RequestFailed:
            pass
        await self._teardown()

    # -- HTTP --------------------------------------------------------------

    async def _send_request(self, method: str, url: str,
                            headers: Optional[Dict[str, str]] = None,
                            body: Optional[bytes] = None,
                            timeout: Optional[float] = None
                            ) -> Tuple[int, bytes]:
        """``(status, body)``; raises _RequestFailed when there is no whole
        answer within ``timeout`` or it is longer than
        ``max_message_size``."""
        if self.http is None and self.http_factory is None:
            try:
                return await self._plain_http().request(
                    method, url, headers=headers, body=body, timeout=timeout)
            except _http.HTTPError as exc:
                message = str(exc) or type(exc).__name__
                self.logger.info('HTTP %s request to %s failed with error '
                                 '%s.', method, url, message)
                raise _RequestFailed(message) from None
        http = await self._get_http()
        kwargs: Dict[str, Any] = {
            'headers': headers, 'data': body,
            'timeout': aiohttp.ClientTimeout(total=timeout)}
        if not self.ssl_verify:
            kwargs['ssl'] = False
        try:
            async with http.request(method, url, **kwargs) as response:
                chunks = []
                size = 0
                async for chunk in response.content.iter_chunked(65536):
                    size += len(chunk)
                    if size > self.max_message_size:
                        raise _RequestFailed(
                            'HTTP response longer than %d bytes'
                            % self.max_message_size)
                    chunks.append(chunk)
                return response.status, b''.join(chunks)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            message = str(exc) or type(exc).__name__
            self.logger.info('HTTP %s request to %s failed with error %s.',
                             method, url, message)
            raise _RequestFailed(message) from None

    def _plain_http(self) -> Any:
        """Our own HTTP/1.1 client (:mod:`engineio._async_client_http`),
        for the polling requests of a client given no ``http_session``: what
        aiohttp's default session did (keep-alive, cookies, redirects,
        gzip/deflate, TLS verified unless ``ssl_verify`` is False) at a
        fraction of its cost per request."""
        client = self._http_client
        if client is None or client.closed:
            verified = bool(self.ssl_verify)
            client = self._http_client = _http.HTTPClient(
                ssl_context_factory=lambda: _ssl_context(verified),
                max_body=self.max_message_size)
        return client

    async def _release_http(self) -> None:
        client, self._http_client = self._http_client, None
        if client is not None:
            await client.close()
        if not self.external_http:
            if self._own_http and self.http is not None and \
                    not self.http.closed:
                await self.http.close()
            self.http = None
            self._own_http = False

    # -- connected ---------------------------------------------------------

    def _send_packet(self, pkt: Any) -> bool:
        """Send a packet: written at once on the WebSocket (after anything
        queued before it, which :meth:`_use_websocket` flushed), queued for
        the writer task when polling.  False when not connected."""
        if not self._core.can_send():
            return False
        ws = self.ws
        if ws is not None:
            ws.send(pkt.encode())
        else:
            self._queue().put_nowait(pkt)
        if self.logger.isEnabledFor(_INFO):
            self._log_packet('Sending', pkt)
        return True

    def _handle_packet(self, pkt: Any) -> None:
        """Act on a packet from the server (from the polling reader or the
        WebSocket's ``data_received``): a message runs the handler in a
        task of its own, a PING is answered, a CLOSE ends the session."""
        if self.logger.isEnabledFor(_INFO):
            self._log_packet('Received', pkt)
        action, data = self._core.receive(pkt, time.monotonic())
        if action == _core.ACTION_MESSAGE:
            handler = self.handlers.get('message')
            if handler is not None:
                # loop.create_task, not ensure_future (same thing, fewer
                # checks); the task drops its own reference when it ends
                # (_run_message), as a done callback would cost one more
                # turn of the event loop per message
                task_reference_holder.add(self._loop.create_task(
                    self._run_message(handler, data)))
        elif action == _core.ACTION_SEND:
            self._send_packet(data)
        elif action == _core.ACTION_CLOSE:
            self._end_soon(self.reason.SERVER_DISCONNECT)
        elif pkt.packet_type != packet.NOOP:
            self._log_unexpected(pkt)

    async def _receive_packet(self, pkt: Any) -> None:
        """Handle incoming packets from the server."""
        self._handle_packet(pkt)

    def _websocket_message(self, message: Any) -> None:
        """A message from the WebSocket (called by its ``data_received``)."""
        if not self._core.can_send():
            return  # the session is ending: what comes now is not read
        try:
            pkt = self._core.decode_websocket(message)
        except _core.ServerProtocolError as exc:
            self.logger.warning('%s, aborting', exc)
            self._end_soon(self.reason.TRANSPORT_ERROR)
            return
        self._handle_packet(pkt)

    def _websocket_closed(self, code: int, reason: str) -> None:
        """The WebSocket is over (the server closed it, it broke the
        protocol, the connection was lost)."""
        if self._core.can_send():
            self.logger.warning('WebSocket connection was closed (%d %s), '
                                'aborting', code, reason)
            self._end_soon(self.reason.TRANSPORT_ERROR)

    def _watch_heartbeat(self, generation: int) -> None:
        """End the session when the server's heartbeat deadline passes (one
        timer, moved on only when it fires: a PING just moves the core's
        deadline)."""
        if generation != self._generation or not self._core.can_send():
            return
        left = self._core.time_left(time.monotonic())
        if left > 0:
            self._heartbeat = self._loop.call_later(
                left, self._watch_heartbeat, generation)
        else:
            self.logger.warning('Server has stopped communicating (no ping), '
                                'aborting')
            self._end_soon(self.reason.TRANSPORT_ERROR)

    async def _read_loop_polling(self, generation: int) -> None:
        """Read packets by polling the Engine.IO server."""
        core = self._core
        while self._alive(generation):
            left = core.time_left(time.monotonic())
            if left <= 0:
                self.logger.warning('Server has stopped communicating '
                                    '(no ping), aborting')
                break
            try:
                status, body = await self._send_request(
                    'GET', (self.base_url or '') + self._get_url_timestamp(),
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
                self._handle_packet(pkt)
        if generation == self._generation:
            await self._end(self.reason.TRANSPORT_ERROR)
        self.logger.info('Exiting read loop task')

    async def _write_loop(self, generation: int, ws: Any,
                          packets_queue: Any) -> None:
        """Send the queued packets, batched into one POST (polling only:
        the WebSocket is written directly).  A ``None`` in the queue ends the loop after what was
        queued before it is sent: whoever ends the session queues one (and
        cancels this task if it does not end in time), so the wait for the
        next packet needs no timeout, whose ``wait_for`` cost a task and a
        timer per message."""
        stop = False
        while not stop:
            packets = [await packets_queue.get()]
            # at most what a server decodes from one POST (16 by default
            # in python-engineio's servers and ours: more is a 400 that
            # ends the session); the rest goes in the next POST
            limit = _payload.Payload.max_decode_packets or _NO_LIMIT
            while packets[-1] is not None and len(packets) < limit:
                try:
                    packets.append(packets_queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            if packets[-1] is None:
                packets.pop()
                stop = True
            if not packets:
                continue
            try:
                body, headers = self._core.encode_polling(packets)
                status, _ = await self._send_request(
                    'POST', self.base_url or '', body=body, headers=headers,
                    timeout=self.request_timeout)
                self._core.check_status(status)
            except (_RequestFailed, _core.ServerProtocolError) as exc:
                if self._alive(generation):
                    self.logger.warning('Write failed (%s), aborting', exc)
                    self.start_background_task(
                        self._end, self.reason.TRANSPORT_ERROR)
                break
        self.logger.info('Exiting write loop task')

    # -- ending ------------------------------------------------------------

    def _end_soon(self, reason: str) -> None:
        """End the session from a callback (no await there): claimed now,
        so nothing more is sent or handled, finished in a task."""
        if self._core.claim_disconnect(reason):
            task = asyncio.ensure_future(self._finish_end(reason, False,
                                                          False))
            task_reference_holder.add(task)
            task.add_done_callback(task_reference_holder.discard)

    async def _end(self, reason: str, send_close: bool = False,
                   abort: bool = False) -> bool:
        """End the session if nobody else is doing it; False otherwise."""
        if not self._core.claim_disconnect(reason):
            return False
        await self._finish_end(reason, send_close, abort)
        return True

    async def _finish_end(self, reason: str, send_close: bool,
                          abort: bool) -> None:
        """The end of a session claimed by the caller: the CLOSE packet
        (when we end it), the disconnect handler, the transport closed, the
        tasks stopped, the client reset."""
        self._ending_task = current = asyncio.current_task()
        ws = self.ws
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        if ws is not None:
            ws.set_handlers(None, None)
            if send_close:
                ws.send(_CLOSE_PACKET.encode())
        elif self.write_loop_task is None:
            # connect() is still upgrading: no writer to send the CLOSE
            if send_close and self.base_url:
                try:
                    await self._send_request(
                        'POST', self.base_url, body=b'1',
                        timeout=self.request_timeout)
                except _RequestFailed:
                    pass
        else:
            queue = self._queue()
            if send_close:
                queue.put_nowait(_CLOSE_PACKET)
            queue.put_nowait(None)
        await self._trigger_event('disconnect', reason, run_async=False)
        reader, writer = self.read_loop_task, self.write_loop_task
        if writer is not None and writer is not current:
            if not abort:
                await asyncio.wait([writer], timeout=self.request_timeout + 1)
            writer.cancel()
        if ws is not None:
            if abort:
                ws.abort()
            else:
                await ws.close(timeout=self._close_timeout())
        if reader is not None and reader is not current:
            if not abort:
                await asyncio.wait([reader], timeout=CLOSE_LINGER)
            reader.cancel()
        await self._teardown()

    async def _teardown(self) -> None:
        self._core.reset()
        try:
            base_client.connected_clients.remove(self)
        except ValueError:
            pass
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        if self.ws is not None:
            self.ws.abort()
            self.ws = None
        await self._release_http()
        self._ending_task = None
        # message tasks cancelled before their first step never ran the
        # ``finally`` that drops their reference
        for task in [t for t in task_reference_holder if t.done()]:
            task_reference_holder.discard(task)
        self._set_finished()

    async def _trigger_event(self, event: str, *args: Any,
                             **kwargs: Any) -> Any:
        """Invoke an event handler (a function or a coroutine function): in
        a new task with ``run_async`` (messages), else awaited here.  An
        exception is logged; from ``connect`` it is raised again, to abort
        the connection."""
        run_async = kwargs.pop('run_async', False)
        handler = self.handlers.get(event)
        if handler is None:
            return None
        if event == 'disconnect' and args and not _accepts(handler, args):
            args = ()  # a legacy disconnect handler, without the reason
        if run_async:
            task = self.start_background_task(self._run_handler, event,
                                              handler, args)
            task_reference_holder.add(task)
            task.add_done_callback(task_reference_holder.discard)
            return task
        return await self._run_handler(event, handler, args)

    async def _run_message(self, handler: Any, data: Any) -> None:
        """The message handler, in the task made for it by
        :meth:`_handle_packet`, which leaves ``task_reference_holder`` when
        done (a task cancelled before it started is swept at teardown)."""
        try:
            result = handler(data)
            if type(result) is _CoroutineType or _isawaitable(result):
                await result
        except asyncio.CancelledError:  # pragma: no cover
            raise
        except Exception:
            self.logger.exception('message handler error')
        finally:
            task_reference_holder.discard(_current_task(self._loop))

    async def _run_handler(self, event: str, handler: Any, args: Any) -> Any:
        try:
            result = handler(*args)
            if inspect.isawaitable(result):
                result = await result
            return result
        except asyncio.CancelledError:  # pragma: no cover
            raise
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
    except ValueError:  # pragma: no cover
        return True
    return True
