"""The asyncpg/gevent bridge: an asyncio event loop that lives on gevent's hub, just enough for asyncpg.

Locust runs users as greenlets on gevent's hub; asyncpg needs an asyncio loop. `GeventLoop` is one:
its callbacks run as hub callbacks, its timers are hub timers, and its TCP transport reads and writes
a non-blocking socket from hub I/O watchers. A user's greenlet calls `GeventLoop.run(coroutine)`: the
coroutine runs as an asyncio task, and only that greenlet waits for its result. Everything stays on one
thread, so no request crosses threads (see docs/loadgen.md for why, measured).

What it offers is what asyncpg uses: futures, tasks, call_soon/call_later, and plain TCP connections
to an IP address. TLS is not offered: `start_tls` raises ConnectionError, so with asyncpg's default
sslmode (prefer) a server that offers TLS gets a plain connection.
"""

from __future__ import annotations

import _socket
import asyncio
import collections
import errno
import logging
import os
import socket
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import gevent
from gevent.event import AsyncResult

from loadgen.sites import new_socket, site_namespace

T = TypeVar("T")
READ, WRITE = 1, 2  # libev's event masks, as gevent's loop.io takes them
RECEIVE_SIZE = 65536
log = logging.getLogger(__name__)


class Handle:
    """A callback scheduled on the loop (asyncio's Handle, without its debug machinery)."""

    __slots__ = ("_cancelled", "args", "callback", "context", "timer")

    def __init__(self, callback, args, context, timer=None):
        self.callback = callback
        self.args = args
        self.context = context
        self._cancelled = False
        self.timer = timer  # the hub timer of a call_later/call_at, until it fires

    def cancel(self) -> None:
        self._cancelled = True
        self.close_timer()

    def close_timer(self) -> None:
        if self.timer is not None:
            self.timer.close()
            self.timer = None

    def cancelled(self) -> bool:
        return self._cancelled


class GeventLoop(asyncio.AbstractEventLoop):
    """An asyncio loop whose callbacks, timers and sockets are gevent hub callbacks, timers and watchers.

    Create it in the process and thread that runs it (a Locust process creates it at test start, after
    any `--processes` fork). Callbacks run in batches on the hub; while a batch runs, this loop is the
    thread's running asyncio loop.
    """

    def __init__(self, bind_device: str | None = None) -> None:
        self.bind_device = bind_device  # every socket is bound to it (stand.safety.check_target's answer)
        self._hub_loop = gevent.get_hub().loop
        self._ready: collections.deque[Handle] = collections.deque()
        self._batch_scheduled = False
        self._exception_handler = None

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine as a task of this loop; only the calling greenlet waits for its result."""
        result = AsyncResult()
        self.create_task(coroutine).add_done_callback(lambda task: _settle(result, task))
        return result.get()

    # What futures and tasks ask of their loop.
    def time(self) -> float:
        return time.monotonic()

    def get_debug(self) -> bool:
        return False

    def is_closed(self) -> bool:
        return False

    def create_future(self) -> asyncio.Future:
        return asyncio.Future(loop=self)

    def create_task(self, coro, *, name=None, context=None) -> asyncio.Task:
        return asyncio.Task(coro, loop=self, name=name, context=context)

    def call_soon(self, callback, *args, context=None) -> Handle:
        handle = Handle(callback, args, context)
        self._schedule(handle)
        return handle

    def call_later(self, delay: float, callback, *args, context=None) -> Handle:
        timer = self._hub_loop.timer(max(delay, 0.0))
        handle = Handle(callback, args, context, timer)
        timer.start(self._timer_fired, handle)
        return handle

    def call_at(self, when: float, callback, *args, context=None) -> Handle:
        return self.call_later(when - self.time(), callback, *args, context=context)

    def _timer_fired(self, handle: Handle) -> None:
        handle.close_timer()
        self._schedule(handle)

    def _schedule(self, handle: Handle) -> None:
        self._ready.append(handle)
        if not self._batch_scheduled:
            self._batch_scheduled = True
            self._hub_loop.run_callback(self._run_batch)

    def _run_batch(self) -> None:
        """Run the callbacks that were ready when the batch began (later ones go to the next batch)."""
        self._batch_scheduled = False
        ready = self._ready
        asyncio._set_running_loop(self)
        try:
            for _ in range(len(ready)):
                handle = ready.popleft()
                if handle._cancelled:
                    continue
                try:
                    if handle.context is None:
                        handle.callback(*handle.args)
                    else:
                        handle.context.run(handle.callback, *handle.args)
                except (SystemExit, KeyboardInterrupt):
                    raise
                except BaseException as e:  # noqa: BLE001 - asyncio's rule: a failed callback is reported, the loop goes on
                    self.call_exception_handler({"message": f"callback {handle.callback!r} failed", "exception": e})
        finally:
            asyncio._set_running_loop(None)

    def call_exception_handler(self, context: dict) -> None:
        if self._exception_handler is None:
            self.default_exception_handler(context)
        else:
            self._exception_handler(self, context)

    def default_exception_handler(self, context: dict) -> None:
        exception = context.get("exception")
        log.error("%s", context.get("message", "asyncio error"), exc_info=exception)

    def set_exception_handler(self, handler) -> None:
        self._exception_handler = handler

    def get_exception_handler(self):
        return self._exception_handler

    # Connections: plain TCP to an IP address.
    async def create_connection(self, protocol_factory, host=None, port=None, **options):
        unsupported = sorted(name for name, value in options.items() if value is not None)
        if unsupported:
            raise NotImplementedError(f"the gevent loop's create_connection has no {', '.join(unsupported)}")
        try:
            family, _, _, _, address = _socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
            )[0]
        except socket.gaierror:
            raise ValueError(f"the gevent loop connects to IP addresses only, not {host!r}") from None
        inside_a_site = site_namespace.get() is not None  # a stand's namespace: nothing leads out of it
        sock = new_socket(family) if inside_a_site else _socket.socket(family, socket.SOCK_STREAM)
        try:
            if self.bind_device is not None and not inside_a_site:  # once the stand's link is gone, it cannot send
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.bind_device.encode())
            sock.setblocking(False)
            await self._connect(sock, address)
        except BaseException:
            sock.close()
            raise
        protocol = protocol_factory()
        return SocketTransport(self, sock, protocol), protocol

    async def _connect(self, sock, address) -> None:
        """Connect a non-blocking socket, waiting for it to become writable (cancellable)."""
        error = sock.connect_ex(address)
        if error == errno.EINPROGRESS:
            writable = self.create_future()
            watcher = self._hub_loop.io(sock.fileno(), WRITE)
            watcher.start(lambda: writable.done() or writable.set_result(None))
            try:
                await writable
            finally:
                watcher.close()
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            raise OSError(error, f"connect to {address[0]}:{address[1]} failed: {os.strerror(error)}")

    async def start_tls(self, *args, **kwargs):
        raise ConnectionError("the loadgen's event loop speaks plain TCP only, and the server asked for TLS")


def _settle(result: AsyncResult, task: asyncio.Task) -> None:
    """Hand a finished task's outcome to the greenlet waiting on `result` (it wakes on the hub)."""
    if task.cancelled():
        result.set_exception(asyncio.CancelledError())
    elif task.exception() is not None:
        result.set_exception(task.exception())
    else:
        result.set(task.result())


class SocketTransport(asyncio.Transport):
    """asyncio's Transport over a connected non-blocking socket, driven by hub I/O watchers.

    Writes go straight to the socket; what it cannot take at once waits for the socket to become
    writable. There is no write flow control (pause_writing): the loadgen sends small queries.
    """

    def __init__(self, loop: GeventLoop, sock, protocol: asyncio.BaseProtocol):
        super().__init__()
        self._loop = loop
        self._sock = sock
        self._protocol = protocol
        self._closing = False
        self._unsent = bytearray()
        self._reader = loop._hub_loop.io(sock.fileno(), READ)
        self._writer = loop._hub_loop.io(sock.fileno(), WRITE)
        protocol.connection_made(self)
        self._reader.start(self._on_readable)

    def get_extra_info(self, name: str, default=None):
        """Only the socket (asyncpg sets TCP_NODELAY on it); None once closed."""
        return self._sock if name == "socket" and self._sock is not None else default

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def is_closing(self) -> bool:
        return self._closing

    def pause_reading(self) -> None:
        self._reader.stop()

    def resume_reading(self) -> None:
        if not self._closing:
            self._reader.start(self._on_readable)

    def _on_readable(self) -> None:
        try:
            data = self._sock.recv(RECEIVE_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._abort(e)
            return
        try:
            if data:
                self._protocol.data_received(data)
            else:
                self._reader.stop()
                if not self._protocol.eof_received():
                    self.close()
        except BaseException as e:  # noqa: BLE001 - as asyncio does: the protocol's failure ends the connection
            self._abort(e)

    def write(self, data) -> None:
        if self._closing or not data:
            return
        if not self._unsent:
            try:
                sent = self._sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as e:
                self._abort(e)
                return
            if sent == len(data):
                return
            data = memoryview(data)[sent:]
            self._writer.start(self._on_writable)
        self._unsent += data

    def writelines(self, list_of_data) -> None:
        self.write(b"".join(list_of_data))

    def _on_writable(self) -> None:
        try:
            sent = self._sock.send(self._unsent)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._abort(e)
            return
        del self._unsent[:sent]
        if not self._unsent:
            self._writer.stop()
            if self._closing:
                self._loop.call_soon(self._finish, None)

    def get_write_buffer_size(self) -> int:
        return len(self._unsent)

    def close(self) -> None:
        """Stop reading; once everything written is sent, close and tell the protocol."""
        if self._closing:
            return
        self._closing = True
        self._reader.stop()
        if not self._unsent:
            self._loop.call_soon(self._finish, None)

    def abort(self) -> None:
        self._abort(None)

    def _abort(self, exception: BaseException | None) -> None:
        if self._sock is None:
            return
        self._closing = True
        self._unsent.clear()
        self._reader.stop()
        self._writer.stop()
        self._loop.call_soon(self._finish, exception)

    def _finish(self, exception: BaseException | None) -> None:
        if self._sock is None:
            return
        self._reader.close()
        self._writer.close()
        self._sock.close()
        self._sock = None
        self._protocol.connection_lost(exception)
