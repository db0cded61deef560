"""Run the async engine from blocking code (the Dagster asset, the CLI) so that an interrupt
stops it gracefully instead of tearing the event loop apart.

Dagster delivers a run termination to a running step as SIGINT, which its handler turns into
`DagsterExecutionInterruptedError` raised in the main thread wherever it happens to be; the
CLI gets `KeyboardInterrupt` (and SIGTERM mapped to it). Raised inside an event loop, either
would cancel tasks mid-write. So the engine runs in a worker thread with its own loop, and the
main thread only waits: on an interrupt it sets the engine's stop event (which cancels queued
requests and flushes state), waits for the engine to return, and hands both the report and the
interrupt back so the caller can log the report and then re-raise. A second interrupt while
winding down stops waiting at once (state on disk is still consistent: write-ahead).

Progress callbacks are delivered in the calling thread too, so a caller can log with tools
that are not thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fal_platform import event_loop
from fal_platform.batch.progress import OnProgress, ProgressSnapshot

logger = logging.getLogger("fal_platform.batch")

T = TypeVar("T")
EngineMain = Callable[[asyncio.Event, OnProgress], Coroutine[Any, Any, T]]
"""`async def main(stop, on_progress) -> T`: the coroutine to run, given the stop event and a
progress callback that forwards to the calling thread."""


@dataclass(frozen=True)
class BlockingOutcome(Generic[T]):
    value: T
    interrupt: BaseException | None
    """The interrupt that stopped the run (re-raise it after reporting), or None."""


class _Worker(Generic[T]):
    """The engine's thread and event loop, and what the waiting thread needs from them."""

    def __init__(self, main: EngineMain[T]) -> None:
        self._main = main
        self.progress: queue.SimpleQueue[ProgressSnapshot] = queue.SimpleQueue()
        self.ready = threading.Event()
        """Set once `stop` can be set (or the worker ended before that)."""
        self.finished = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._value: tuple[T] | None = None
        """`(value,)` once `main` returned (a value may itself be None)."""
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="fal-batch-engine", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = (event_loop.run(self._runner()),)
        except BaseException as exc:
            self._error = exc
        finally:
            self.ready.set()
            self.finished.set()

    async def _runner(self) -> T:
        self._stop = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self.ready.set()
        return await self._main(self._stop, self.progress.put)

    def request_stop(self) -> None:
        """Set the engine's stop event from this (another) thread, if its loop still runs."""
        self.ready.wait()
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop finished meanwhile
                loop.call_soon_threadsafe(stop.set)

    def result(self, interrupt: BaseException | None) -> T:
        """The engine's return value, or its exception raised here."""
        if self._error is not None:
            if interrupt is not None:
                raise self._error from interrupt
            raise self._error
        assert self._value is not None, "the worker finished without a value or an error"
        return self._value[0]


def run_interruptibly(
    main: EngineMain[T],
    *,
    on_progress: Callable[[ProgressSnapshot], None] | None = None,
    on_interrupt: Callable[[BaseException], None] | None = None,
    poll_seconds: float = 0.2,
) -> BlockingOutcome[T]:
    """Run `main` in a worker thread's event loop until it returns.

    Any `BaseException` raised in this thread while waiting (KeyboardInterrupt, Dagster's
    DagsterExecutionInterruptedError, SystemExit from a signal handler) counts as an interrupt.
    Exceptions raised by `main` itself are re-raised here.
    """
    worker = _Worker(main)
    worker.start()
    interrupt: BaseException | None = None

    def drain() -> None:
        while on_progress is not None:
            try:
                snapshot = worker.progress.get_nowait()
            except queue.Empty:
                return
            on_progress(snapshot)

    # Not `thread.join()`: an interrupt inside join can leave CPython (<= 3.12) believing the
    # thread is dead while it still runs; an Event has no such state to corrupt.
    while not worker.finished.is_set():
        try:
            worker.finished.wait(poll_seconds)
            drain()
        except BaseException as exc:
            if interrupt is not None:
                raise  # a second interrupt: stop waiting
            interrupt = exc
            logger.warning("interrupted (%s): stopping the batch gracefully", type(exc).__name__)
            if on_interrupt is not None:
                on_interrupt(exc)
            worker.request_stop()
    drain()
    return BlockingOutcome(worker.result(interrupt), interrupt)
