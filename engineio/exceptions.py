"""The exceptions of python-engineio's ``engineio.exceptions``."""

__all__ = ['EngineIOError', 'ContentTooLongError', 'UnknownPacketError',
           'QueueEmpty', 'SocketIsClosedError', 'ConnectionError']


class EngineIOError(Exception):
    pass


class ContentTooLongError(EngineIOError):
    pass


class UnknownPacketError(EngineIOError):
    pass


class QueueEmpty(EngineIOError):
    pass


class SocketIsClosedError(EngineIOError):
    pass


class ConnectionError(EngineIOError):
    pass
