"""One small module per ``async_mode``; each exports a driver dict ``_async``.

A driver module imports only when its framework is installed, which is how
``AsyncServer(async_mode=None)`` picks an available mode.  Asyncio drivers
provide ``asyncio: True``, ``handle_request(server, *args)`` (the whole
request: read it, call the server, write the answer), ``read_body(environ,
limit)`` and ``wait_disconnect(environ)`` (None when the framework cancels
the request of a client that left, as sanic does); those with
``create_route(app, server, path)`` support ``attach()``.  Sync drivers (``threading``,
``eventlet``, ``gevent``, ``gevent_uwsgi``) provide the reference's keys ``thread``, ``queue``, ``queue_empty``,
``event``, ``sleep`` and ``websocket``: a class with
``for_request(environ, ws_id, max_size, timeout, logger, sid)`` (raises
``HandshakeRefused``), or None.  Their thread class also has
``is_current()``.
"""
__all__: list = []
