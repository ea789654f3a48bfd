"""Engine.IO echo apps for the sync server modes, run in a subprocess by
``tests/test_wsgi_modes.py`` (eventlet and gevent monkey-patch a process,
so they never run in the pytest process).

The app echoes every message, answers ``info?`` with a JSON report of its
mode and the types of its tasks, and prints one line per event on stdout
(``EIO ready <port>``, ``EIO connect <sid>``, ``EIO disconnect <sid>
<reason>``), which the test reads.  Options: ``max_http_buffer_size=1000``, ``ping_interval=1``
(a held poll with nothing to send is answered by the service task's ping
within a second), ``async_handlers=False``.

Run it as one of:

* ``python -m tests.wsgi_apps KIND FD``: ``KIND`` is ``eventlet``,
  ``eventlet-unpatched``, ``gevent``, ``gevent-unpatched``, ``gevent-plain``
  or ``geventwebsocket``; ``FD`` a listening socket inherited from the test;
* ``gunicorn ... tests.wsgi_apps:application`` (``-k gthread`` or
  ``-k gevent``), or ``uwsgi ... --module tests.wsgi_apps:application``,
  with ``ENGINEIO_TEST_KIND`` naming the kind.
"""
import json
import os
import sys

KIND = os.environ.get('ENGINEIO_TEST_KIND', '')
if __name__ == '__main__':
    KIND = sys.argv[1]

# patch before anything else is imported, as a real deployment does
if KIND in ('eventlet',):
    import eventlet
    eventlet.monkey_patch()
elif KIND in ('gevent', 'geventwebsocket'):
    from gevent import monkey
    monkey.patch_all()

import engineio  # noqa: E402

#: the async_mode each kind must end up in, and whether it was named
#: (unpatched eventlet or gevent is not auto-selected, see Server)
MODES = {
    'eventlet': ('eventlet', False),
    'eventlet-unpatched': ('eventlet', True),
    'gevent': ('gevent', False),
    'gevent-unpatched': ('gevent', True),
    'gevent-plain': ('gevent', True),
    'geventwebsocket': ('gevent', False),
    'gunicorn-gthread': ('threading', False),
    'gunicorn-gevent': ('gevent', False),
    'uwsgi': ('gevent_uwsgi', False),
}


def report(*words):
    # marked: uWSGI sends the app's stdout to its log, with its own lines
    print('EIO', *words, flush=True)


def create_app(kind):
    mode, named = MODES[kind]
    eio = engineio.Server(async_mode=mode if named else None,
                          max_http_buffer_size=1000, ping_interval=1,
                          ping_timeout=5, async_handlers=False)

    @eio.on('connect')
    def connect(sid, environ):
        report('connect', sid)

    @eio.on('message')
    def message(sid, data):
        if data == 'info?':
            data = json.dumps(describe(eio))
        elif data == 'disconnect me':
            eio.disconnect(sid)
            return
        eio.send(sid, data)

    @eio.on('disconnect')
    def disconnect(sid, reason):
        report('disconnect', sid, reason.replace(' ', '_'))

    return eio, engineio.WSGIApp(eio)


def describe(eio):
    """What the test checks about the mode: its name, and what its tasks
    are made of."""
    done = eio.create_event()
    task = eio.start_background_task(done.set)
    done.wait(5)
    task.join()
    service = eio._service_thread
    return {
        'mode': eio.async_mode,
        'task': type(task).__module__ + '.' + type(task).__name__,
        'service': type(service).__module__ + '.' + type(service).__name__,
        'task_is_greenlet': _is_greenlet(task),
        'service_is_greenlet': _is_greenlet(service),
        'queue': type(eio.create_queue()).__module__,
    }


def _is_greenlet(task):
    greenlet = sys.modules.get('greenlet')
    if greenlet is None:
        return False
    task = getattr(task, 'green_thread', task)  # eventlet's wrapper
    return isinstance(task, greenlet.greenlet)


def _report_ready():
    port = 0
    if KIND == 'uwsgi':
        import socket

        import uwsgi
        listener = socket.fromfd(uwsgi.sockets[0], socket.AF_INET,
                                 socket.SOCK_STREAM)
        port = listener.getsockname()[1]
        listener.close()
    report('ready', port)


if KIND and __name__ != '__main__':
    # loaded by gunicorn or uWSGI
    eio, application = create_app(KIND)
    _report_ready()


def main():
    fd = int(sys.argv[2])
    eio, app = create_app(KIND)
    if KIND.startswith('eventlet'):
        import eventlet.wsgi
        from eventlet import greenio
        listener = greenio.GreenSocket(
            __import__('socket').socket(fileno=fd))
        _report_ready()
        eventlet.wsgi.server(listener, app, log_output=False)
    else:
        from gevent import pywsgi, socket
        listener = socket.socket(fileno=fd)
        if KIND == 'geventwebsocket':
            from geventwebsocket.handler import WebSocketHandler
        elif KIND == 'gevent-plain':
            WebSocketHandler = pywsgi.WSGIHandler
        else:
            from engineio.async_drivers.gevent import WebSocketHandler
        server = pywsgi.WSGIServer(listener, app, log=None,
                                   handler_class=WebSocketHandler)
        _report_ready()
        server.serve_forever()


if __name__ == '__main__':
    main()
