"""The engine's only path to its stored rows: one writer coroutine with group commit.

Every state change is handed to the writer; it takes everything that changed since its last
write and writes it in one batch, in a worker thread (`BatchStore.journal_requests`: on a DuckDB
file a SQLite journal that the store moves into the table every few seconds, `journal.py`). Callers that must not proceed before their row is on disk (the submit intent, the
request id) wait on `put_durable`; everything else is fire-and-forget. While one batch is
being written the next one accumulates, so 32 concurrent submitters cost one write, not 32,
and DuckDB's file lock is held for milliseconds at a time, never across a wait on fal.

Rows nobody waits on (PENDING, terminal) are not urgent: the writer lets them pile up for up to
`lazy_delay` seconds, so a busy batch pays for a few writes a second instead of one per event
loop turn. IN_QUEUE / IN_PROGRESS rows (`put(row, wake=False)`, the rule is
`transitions.durability`) do not even wake the writer: they ride along with the next write, or
are written after at most `coalesce_interval` seconds, or at the end. A crash then loses only
progress, never a request id: the next run re-attaches to the request and fetches its result
again, at no cost.

Group commit: one write has a fixed cost whatever its size (~0.5 ms in the journal, ~5 ms as a
DuckDB or Postgres upsert), so writes start at most every `commit_interval` seconds (the store
says which, `BatchStore.commit_interval`); durable rows that arrive within it, or while a write
is under way, share the next write. Only the intent's wait is on an item's path: the SUBMITTED
write overlaps the job itself.

Rows are immutable from the engine's point of view (it builds a new row per change), and the
writer drops each row once written, so a finished item's output leaves memory right after
it reaches DuckDB.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from fal_platform.batch.retrying import exponential, retry_async
from fal_platform.batch.rows import RequestRow

logger = logging.getLogger("fal_platform.batch")

WriteBatch = Callable[[Sequence[RequestRow]], object]
IDLE_GRACE = 0.2
"""Seconds without rows to write before the writer calls `on_idle`."""
JOURNAL_COMMIT_SECONDS = 0.0
TABLE_COMMIT_SECONDS = 0.05
"""How long durable rows wait to share a write (`commit_interval`). A journal write costs ~0.5 ms
of CPU, so it starts as soon as the one before it is done (rows arriving meanwhile share it): a
submit waited up to 10 ms for its intent with a 10 ms interval, ~1-2% of the throughput at 16
items in flight, and 50 ms cost ~3% (benchmarks/README.md section 7). An upsert into the table
(Postgres, which has no journal) costs ~5 ms, so 50 ms."""


class WriterFailedError(RuntimeError):
    """The store could not be written; the engine must stop, since state is no longer durable."""


class RowWriter:
    def __init__(
        self,
        write: WriteBatch,
        *,
        attempts: int = 3,
        retry_delay: float = 0.5,
        lazy_delay: float = 0.25,
        coalesce_interval: float = 2.0,
        commit_interval: float = TABLE_COMMIT_SECONDS,
        on_idle: Callable[[], object] | None = None,
    ) -> None:
        self._write = write
        self._on_idle = on_idle
        self._lazy_delay = lazy_delay
        self._coalesce_interval = coalesce_interval
        self._commit_interval = commit_interval
        self._last_write = float("-inf")
        """Event-loop time the last write started."""
        self._wanted = False
        """A row that wakes the writer (or the coalescing interval) is waiting to be written."""
        self._urgent = asyncio.Event()
        self._attempts = attempts
        self._retry_delay = retry_delay
        self._dirty: dict[str, RequestRow] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._wakeup = asyncio.Event()
        self._closing = False
        self._error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None
        self.rows_written = 0
        self.batches = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="batch-row-writer")

    @property
    def pending(self) -> int:
        return len(self._dirty)

    def put(self, row: RequestRow, *, wake: bool = True) -> None:
        """Queue a row for the next batch (a later version of the same item replaces it).

        `wake=False` (a coalesced row) waits for the next write instead of causing one.
        """
        self._check()
        first = not self._dirty
        self._dirty[row.item_key] = row
        if wake:
            self._wanted = True
        if wake or first:
            self._wakeup.set()  # a first coalesced row starts the writer's interval clock

    async def put_durable(self, row: RequestRow) -> None:
        """Queue a row and return once the batch holding it is committed."""
        self.put(row)
        await self._wait_for_next_batch()

    async def flush(self) -> None:
        """Return once everything queued so far is committed."""
        self._check()
        if self._dirty:
            await self._wait_for_next_batch()

    async def close(self) -> None:
        """Write what is left and stop. Re-raises the failure that stopped the writer, if any."""
        self._closing = True
        self._urgent.set()
        self._wakeup.set()
        if self._task is not None:
            await asyncio.shield(self._task)
        if self._error is not None:
            raise WriterFailedError(f"could not write request rows: {self._error}") from self._error

    def _check(self) -> None:
        if self._error is not None:
            raise WriterFailedError(f"could not write request rows: {self._error}") from self._error
        if self._task is None or self._task.done():
            raise WriterFailedError("the row writer is not running")

    async def _wait_for_next_batch(self) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        self._urgent.set()
        self._wakeup.set()
        await future

    async def _run(self) -> None:
        while True:
            if not (self._wanted or self._waiters or self._closing):
                await self._idle()
                continue
            if not self._dirty and not self._waiters:
                if self._closing:
                    return
                self._wanted = False
                continue
            if not self._waiters and not self._closing and self._lazy_delay > 0:
                # Nothing waits on these rows: let more changes join this write.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._urgent.wait(), self._lazy_delay)
            await self._group_commit_wait()
            self._urgent.clear()
            self._wanted = False
            rows = list(self._dirty.values())
            self._dirty = {}
            waiters, self._waiters = self._waiters, []
            try:
                if rows:
                    await self._write_with_retry(rows)
            except Exception as exc:
                self._error = exc
                failure = WriterFailedError(f"could not write request rows: {exc}")
                for waiter in waiters + self._waiters:
                    if not waiter.done():
                        waiter.set_exception(failure)
                logger.error("writing %d request rows failed: %s", len(rows), exc)
                return
            self.rows_written += len(rows)
            self.batches += 1
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def _group_commit_wait(self) -> None:
        """Start writes at most every `commit_interval`: rows arriving meanwhile join this one."""
        loop = asyncio.get_running_loop()
        wait = self._last_write + self._commit_interval - loop.time()
        if wait > 0 and not self._closing:
            await asyncio.sleep(wait)
        self._last_write = loop.time()

    async def _idle(self) -> None:
        """Wait for work; if none comes within `IDLE_GRACE`, let go of the store first.

        Coalesced rows alone wait at most `coalesce_interval` before they are written.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._coalesce_interval if self._dirty else None
        if self._on_idle is not None and not await self._woken(IDLE_GRACE):
            # The batch is waiting on fal: release e.g. a held DuckDB connection.
            await asyncio.to_thread(self._on_idle)
        remaining = None if deadline is None else max(deadline - loop.time(), 0.0)
        if not await self._woken(remaining):
            self._wanted = True  # the coalescing interval is up
        self._wakeup.clear()

    async def _woken(self, timeout: float | None) -> bool:
        """Whether the writer was woken within `timeout` seconds (None: wait for it)."""
        try:
            await asyncio.wait_for(self._wakeup.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def _write_with_retry(self, rows: list[RequestRow]) -> None:
        await retry_async(
            lambda: asyncio.to_thread(self._write, rows),
            attempts=self._attempts,
            delay=exponential(self._retry_delay, cap=float("inf")),
            retry_if=lambda exc: isinstance(exc, Exception),
            what=f"writing {len(rows)} request rows",
        )
