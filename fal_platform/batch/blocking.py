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
    progress: queue.SimpleQueue[ProgressSnapshot] = queue.SimpleQueue()
    ready = threading.Event()
    finished = threading.Event()
    box: dict[str, Any] = {}

    def forward(snapshot: ProgressSnapshot) -> None:
        progress.put(snapshot)

    def worker() -> None:
        async def runner() -> T:
            stop = asyncio.Event()
            box["loop"] = asyncio.get_running_loop()
            box["stop"] = stop
            ready.set()
            return await main(stop, forward)

        try:
            box["value"] = asyncio.run(runner())
        except BaseException as exc:
            box["error"] = exc
        finally:
            ready.set()
            finished.set()

    thread = threading.Thread(target=worker, name="fal-batch-engine", daemon=True)
    thread.start()
    interrupt: BaseException | None = None

    def drain() -> None:
        while on_progress is not None:
            try:
                snapshot = progress.get_nowait()
            except queue.Empty:
                return
            on_progress(snapshot)

    # Not `thread.join()`: an interrupt inside join can leave CPython (<= 3.12) believing the
    # thread is dead while it still runs; an Event has no such state to corrupt.
    while not finished.is_set():
        try:
            finished.wait(poll_seconds)
            drain()
        except BaseException as exc:
            if interrupt is not None:
                raise  # a second interrupt: stop waiting
            interrupt = exc
            logger.warning("interrupted (%s): stopping the batch gracefully", type(exc).__name__)
            if on_interrupt is not None:
                on_interrupt(exc)
            ready.wait()
            loop: asyncio.AbstractEventLoop | None = box.get("loop")
            stop: asyncio.Event | None = box.get("stop")
            if loop is not None and stop is not None and not loop.is_closed():
                with contextlib.suppress(RuntimeError):  # the loop finished meanwhile
                    loop.call_soon_threadsafe(stop.set)
    drain()
    if "error" in box:
        error: BaseException = box["error"]
        if interrupt is not None:
            raise error from interrupt
        raise error
    return BlockingOutcome(box["value"], interrupt)
