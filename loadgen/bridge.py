"""The asyncpg/gevent bridge: Locust's greenlets run coroutines on one real event-loop thread.

Per Locust process, one OS thread (started with gevent's original `start_new_thread`, lazily, so that
it is started after `--processes` forks) runs a uvloop event loop. A greenlet hands a coroutine over
with `loop.call_soon_threadsafe` and waits on a `gevent.event.AsyncResult`, which the loop thread sets
through the hub's `run_callback_threadsafe`. Objects bound to the loop (connections) are created by
coroutines on that loop thread only.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import TypeVar

import gevent
import uvloop
from gevent import monkey
from gevent.event import AsyncResult

T = TypeVar("T")

_start_new_thread = monkey.get_original("_thread", "start_new_thread")
_allocate_lock = monkey.get_original("_thread", "allocate_lock")


class AsyncBridge:
    """One event-loop thread of this process, and a blocking-for-the-greenlet `run`."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop thread's event loop, started on first use in this process."""
        if self._loop is None or self._pid != os.getpid():
            self._start()
        return self._loop

    def _start(self) -> None:
        started = _allocate_lock()
        started.acquire()

        def serve() -> None:
            loop = uvloop.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            started.release()
            loop.run_forever()

        self._pid = os.getpid()
        _start_new_thread(serve, ())
        started.acquire()  # a real lock: blocks this thread briefly, until the loop exists

    def run(self, make_coroutine: Callable[[], Awaitable[T]]) -> T:
        """Run a coroutine on the loop thread; only the calling greenlet waits for its result."""
        result: AsyncResult = AsyncResult()
        hub = gevent.get_hub()

        def deliver(task: asyncio.Task) -> None:  # on the loop thread
            if task.cancelled():
                outcome = (result.set_exception, asyncio.CancelledError())
            elif task.exception() is not None:
                outcome = (result.set_exception, task.exception())
            else:
                outcome = (result.set, task.result())
            hub.loop.run_callback_threadsafe(*outcome)

        def submit() -> None:  # on the loop thread
            asyncio.ensure_future(make_coroutine()).add_done_callback(deliver)

        self.loop.call_soon_threadsafe(submit)
        return result.get()

    def call_soon(self, callback: Callable[[], None]) -> None:
        """Schedule a plain callback on the loop thread (used for flushing records)."""
        self.loop.call_soon_threadsafe(callback)
