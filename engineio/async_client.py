"""The asyncio Engine.IO client (python-engineio's ``engineio.AsyncClient``).

Thin glue around :class:`engineio._sansio.client.ClientCore` on aiohttp
(polling and WebSocket, as python-engineio does): a reader task and a
writer task per connection, a task per received message.  The core is
called from the event loop only, so no lock is needed: the first task to
claim the end of a session (``disconnect()``, the reader, the writer) runs
the disconnect handler once, stops the other tasks (bounded waits, then
cancellation) and resets the client.
"""
from __future__ import annotations

import asyncio
import inspect
import signal
import ssl
import threading
import time
from http.cookies import SimpleCookie
from typing import Any, Dict, Optional, Set, Tuple

try:
    import aiohttp
except ImportError:  # pragma: no cover
    aiohttp = None  # type: ignore[assignment]

from . import base_client, exceptions, packet
from ._sansio import client as _core
from ._speedups import codec as _codec

__all__ = ['AsyncClient']

async_signal_handler_set = False
#: references to handler tasks, so that they are not garbage collected
#: while they run
task_reference_holder: Set[Any] = set()
#: seconds the end of a session waits for a task before cancelling it
CLOSE_LINGER = 2.0
_CLOSE_PACKET = packet.Packet(packet.CLOSE)


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
                         etc.
    :param ssl_verify: ``True`` to verify SSL certificates, or ``False`` to
                       skip SSL certificate verification, allowing
                       connections to servers with self signed certificates.
                       The default is ``True``.
    :param handle_sigint: Set to ``True`` to automatically handle disconnection
                          when the process is interrupted, or to ``False`` to
                          leave interrupt handling to the calling application.
                          Interrupt handling can only be enabled when the
                          client instance is created in the main thread.
    :param websocket_extra_options: Dictionary containing additional keyword
                                    arguments passed to
                                    ``aiohttp.ClientSession.ws_connect()``.
                                    An unknown key raises ``ValueError``.
    :param timestamp_requests: If ``True`` a timestamp is added to the query
                               string of Socket.IO requests as a cache-busting
                               measure. Set to ``False`` to disable.
    """

    def _init_glue(self) -> None:
        if aiohttp is not None and self.websocket_extra_options:
            valid = set(inspect.signature(
                aiohttp.ClientSession.ws_connect).parameters) - {'self', 'url'}
            unknown = sorted(set(self.websocket_extra_options) - valid)
            if unknown:
                raise ValueError(
                    'Unsupported websocket_extra_options: %s (valid: the '
                    'keyword arguments of aiohttp ws_connect)'
                    % ', '.join(unknown))
        self._generation = 0
        self._ending_task: Any = None
        self._finished: Optional[asyncio.Event] = None
        self._own_http = False

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
        if aiohttp is None:  # pragma: no cover
            self._core.reset()
            raise exceptions.ConnectionError(
                'the aiohttp package is not installed')
        self._generation += 1
        self._finished = asyncio.Event()
        self.queue = self.create_queue()
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
                self._finished.set()
            raise

    async def wait(self) -> None:
        """Wait until the connection with the server ends.

        Client applications can use this function to block the main thread
        during the life of the connection.

        Note: this method is a coroutine.
        """
        if self._finished is not None:
            await self._finished.wait()

    async def send(self, data: Any) -> None:
        """Send a message to the server.

        :param data: The data to send to the server. Data can be of type
                     ``str``, ``bytes``, ``list`` or ``dict``. If a ``list``
                     or ``dict``, the data will be serialized as JSON.

        Raises ``exceptions.SocketIsClosedError`` when the client is not
        connected (python-engineio dropped the message silently).

        Note: this method is a coroutine.
        """
        if not self._send_packet(packet.Packet(packet.MESSAGE, data=data)):
            raise exceptions.SocketIsClosedError('Client is not connected')

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
                not abort and self._finished is not None and \
                self._ending_task is not asyncio.current_task():
            await self._finished.wait()

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
        http = await self._get_http()
        headers = dict(headers)
        for name in list(headers):
            if name.lower() == 'cookie':
                # cookies given as a header go to the session's jar, which
                # aiohttp sends to the WebSocket route too
                cookie = SimpleCookie(headers.pop(name))
                http.cookie_jar.update_cookies(
                    {k: m.value for k, m in cookie.items()})
        options: Dict[str, Any] = {'max_msg_size': self.max_message_size}
        ws_timeout = getattr(aiohttp, 'ClientWSTimeout', None)
        options['timeout'] = ws_timeout(ws_close=self.request_timeout) \
            if ws_timeout is not None else self.request_timeout
        if not self.ssl_verify:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            options['ssl'] = context
        extra = dict(self.websocket_extra_options)
        headers.update(extra.pop('headers', None) or {})
        options['headers'] = headers
        options.update(extra)
        try:
            ws = await http.ws_connect(
                websocket_url + self._get_url_timestamp(), **options)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            if upgrade:
                self.logger.warning('WebSocket upgrade failed: %s', exc)
                return False
            raise exceptions.ConnectionError('Connection error: %s' % (
                exc or type(exc).__name__)) from None
        if upgrade:
            try:
                await ws.send_str(_core.PROBE)
                message = await ws.receive(timeout=self.request_timeout)
                if not _core.is_probe_answer(message.data):
                    raise ValueError('no PONG packet')
                await ws.send_str(_core.UPGRADE)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError,
                    ValueError, RuntimeError) as exc:
                self.logger.warning('WebSocket upgrade failed: %s', exc)
                await ws.close()
                return False
            self._core.upgraded()
            self.ws = ws
            self.logger.info('WebSocket upgrade was successful')
        else:
            try:
                message = await ws.receive(timeout=self.request_timeout)
            except (aiohttp.ClientError, asyncio.TimeoutError,
                    RuntimeError) as exc:
                await ws.close()
                raise exceptions.ConnectionError(
                    'Unexpected recv exception: %s' % (
                        exc or type(exc).__name__)) from None
            try:
                self._core.websocket_handshake(message.data, time.monotonic())
            except exceptions.ConnectionError:
                await ws.close()
                raise
            self.logger.info('WebSocket connection accepted with sid %s',
                             self.sid)
            self.ws = ws
            await self._connected()
            if not self._core.can_send():  # pragma: no cover
                return True
        self._start_loops(ws)
        return True

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
                await ws.send_str(_CLOSE_PACKET.encode())
                await ws.close()
            elif self.base_url:
                await self._send_request('POST', self.base_url, body=b'1',
                                         timeout=self.request_timeout)
        except (aiohttp.ClientError, OSError, RuntimeError, _RequestFailed,
                asyncio.TimeoutError):
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

    async def _release_http(self) -> None:
        if not self.external_http:
            if self._own_http and self.http is not None and \
                    not self.http.closed:
                await self.http.close()
            self.http = None
            self._own_http = False

    # -- connected ---------------------------------------------------------

    async def _receive_packet(self, pkt: Any) -> None:
        """Handle incoming packets from the server."""
        self._log_packet('Received', pkt)
        action, data = self._core.receive(pkt, time.monotonic())
        if action == _core.ACTION_MESSAGE:
            await self._trigger_event('message', data, run_async=True)
        elif action == _core.ACTION_SEND:
            self._send_packet(data)
        elif action == _core.ACTION_CLOSE:
            await self._end(self.reason.SERVER_DISCONNECT)
        elif pkt.packet_type != packet.NOOP:
            self._log_unexpected(pkt)

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
                await self._receive_packet(pkt)
        if generation == self._generation:
            await self._end(self.reason.TRANSPORT_ERROR)
        self.logger.info('Exiting read loop task')

    async def _read_loop_websocket(self, generation: int, ws: Any) -> None:
        """Read packets from the Engine.IO WebSocket connection."""
        core = self._core
        text, binary = aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY
        while self._alive(generation):
            try:
                message = await ws.receive(
                    timeout=core.time_left(time.monotonic()))
            except asyncio.TimeoutError:
                self.logger.warning('Server has stopped communicating '
                                    '(no ping), aborting')
                break
            except (aiohttp.ClientError, OSError, RuntimeError) as exc:
                if self._alive(generation):
                    self.logger.warning('WebSocket error (%s), aborting', exc)
                break
            if message.type is not text and message.type is not binary:
                if self._alive(generation):
                    self.logger.warning(
                        'WebSocket connection was closed (%s %s), aborting',
                        message.type.name, message.data or message.extra or '')
                break
            try:
                pkt = core.decode_websocket(message.data)
            except _core.ServerProtocolError as exc:
                self.logger.warning('%s, aborting', exc)
                break
            await self._receive_packet(pkt)
        if generation == self._generation:
            await self._end(self.reason.TRANSPORT_ERROR)
        self.logger.info('Exiting read loop task')

    async def _write_loop(self, generation: int, ws: Any,
                          packets_queue: Any) -> None:
        """Send the queued packets: batched into one POST, or WebSocket
        frames.  A ``None`` in the queue ends the loop after what was
        queued before it is sent: whoever ends the session queues one (and
        cancels this task if it does not end in time), so the wait for the
        next packet needs no timeout, whose ``wait_for`` cost a task and a
        timer per message."""
        stop = False
        while not stop:
            packets = [await packets_queue.get()]
            while packets[-1] is not None:
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
                if ws is None:
                    status, _ = await self._send_request(
                        'POST', self.base_url or '',
                        body=_codec.encode_payload(packets).encode('utf-8'),
                        headers={'Content-Type': 'text/plain;charset=UTF-8'},
                        timeout=self.request_timeout)
                    if not 200 <= status < 300:
                        raise _RequestFailed(
                            'Unexpected status code %s in server response'
                            % status)
                else:
                    for pkt in packets:
                        if pkt.binary:
                            await ws.send_bytes(pkt.encode())
                        else:
                            await ws.send_str(pkt.encode())
            except (_RequestFailed, aiohttp.ClientError, OSError,
                    RuntimeError) as exc:
                if self._alive(generation):
                    self.logger.warning('Write failed (%s), aborting', exc)
                    self.start_background_task(
                        self._end, self.reason.TRANSPORT_ERROR)
                break
        self.logger.info('Exiting write loop task')

    # -- ending ------------------------------------------------------------

    async def _end(self, reason: str, send_close: bool = False,
                   abort: bool = False) -> bool:
        """End the session if nobody else is doing it; False otherwise."""
        if not self._core.claim_disconnect(reason):
            return False
        self._ending_task = current = asyncio.current_task()
        if send_close:
            self.queue.put_nowait(_CLOSE_PACKET)
        self.queue.put_nowait(None)
        await self._trigger_event('disconnect', reason, run_async=False)
        reader, writer, ws = self.read_loop_task, self.write_loop_task, \
            self.ws
        if writer is not None and writer is not current:
            if not abort:
                await asyncio.wait([writer], timeout=self.request_timeout + 1)
            writer.cancel()
        if ws is not None:
            try:
                await asyncio.wait_for(ws.close(), CLOSE_LINGER)
            except (asyncio.TimeoutError, aiohttp.ClientError, OSError,
                    RuntimeError):
                pass
        if reader is not None and reader is not current:
            if not abort:
                await asyncio.wait([reader], timeout=CLOSE_LINGER)
            reader.cancel()
        await self._teardown()
        return True

    async def _teardown(self) -> None:
        self._core.reset()
        try:
            base_client.connected_clients.remove(self)
        except ValueError:
            pass
        await self._release_http()
        self.ws = None
        self._ending_task = None
        if self._finished is not None:
            self._finished.set()

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
