"""The asyncpg/gevent bridge: Locust's greenlets run coroutines on one real event-loop thread.

Per Locust process, one OS thread (started with gevent's original `start_new_thread`, lazily, so that
it is started after `--processes` forks) runs a uvloop event loop. A greenlet hands a coroutine over
with `loop.call_soon_threadsafe` and waits on a `gevent.event.AsyncResult`, which the loop thread sets
through the hub's `run_callback_threadsafe`. Objects bound to the loop (connections) are created by
coroutines on that loop thread only.
"""

from __future__ import annotations

import asyncio
import collections
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
        self._results: collections.deque = collections.deque()  # (setter, value) pairs to deliver
        self._wakeup = None  # the hub's async watcher; sent from the loop thread, run on the hub

    def _ensure_started(self) -> None:
        """Start the loop thread and the hub's watcher, once per process (after any fork)."""
        if self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._wakeup = gevent.get_hub().loop.async_()
        self._wakeup.start(self._deliver)  # also keeps the hub waiting while results are due
        started = _allocate_lock()
        started.acquire()

        def serve() -> None:
            loop = uvloop.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            started.release()
            loop.run_forever()

        _start_new_thread(serve, ())
        started.acquire()  # a real lock: blocks this thread briefly, until the loop exists

    def run(self, make_coroutine: Callable[[], Awaitable[T]]) -> T:
        """Run a coroutine on the loop thread; only the calling greenlet waits for its result."""
        self._ensure_started()
        result: AsyncResult = AsyncResult()
        self._loop.call_soon_threadsafe(self._submit, make_coroutine, result)
        return result.get()

    def _submit(self, make_coroutine, result: AsyncResult) -> None:  # on the loop thread
        asyncio.ensure_future(make_coroutine()).add_done_callback(lambda task: self._finished(task, result))

    def _finished(self, task: asyncio.Task, result: AsyncResult) -> None:  # on the loop thread
        if task.cancelled():
            self._results.append((result.set_exception, asyncio.CancelledError()))
        elif task.exception() is not None:
            self._results.append((result.set_exception, task.exception()))
        else:
            self._results.append((result.set, task.result()))
        self._wakeup.send()  # thread-safe; several sends before the hub runs wake it once

    def _deliver(self) -> None:  # on the hub
        while self._results:
            setter, value = self._results.popleft()
            setter(value)
