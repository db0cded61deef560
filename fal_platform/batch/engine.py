"""The batch engine: runs one prompt set through fal's queue, crash-safely and at a polite pace.

This module is the orchestration only; the rules live in their own modules (the pure ones,
plan and transitions, have unit tests in tests/test_engine_rules.py):

- `plan.py`: which stored rows are reused, re-attached, reconciled, submitted or deleted,
  applied a chunk of items at a time by `run_planner.py` (the set is streamed, never held);
- `transitions.py`: the state machine of one row (diagram there);
- `item.py`: the life of one item, from `submit.py` (write-ahead submit, lost answers) and
  `follow.py` (status, result, cancel on stop), recording through `recorder.py`;
- `ledger.py`: per-state counts, derived from the items' recorded states, and the report.

Here: plan against the store, check the budget on what this run will submit, reconcile
UNKNOWN rows left by a run that died mid-submit, then hand items to `max_concurrency` slots
until done or stopped, reading the set again a chunk ahead of the slots (its never-seen items
are written PENDING as that chunk is reached, so memory and the table's PENDING rows cover the
items in flight and one chunk, whatever the set's size).

Stopping (the `stop` event): nothing new is submitted, requests still SUBMITTED/IN_QUEUE are
cancelled (they cost nothing yet), IN_PROGRESS ones are left for the next run to re-attach,
everything is flushed, and the report says `interrupted`.

The store is written through `RowWriter` (short batches in a worker thread, journaled on
DuckDB: `journal.py`) and by planning's short reads and PENDING writes, also in worker threads;
a DuckDB connection is held only while rows keep coming (`settings.hold_connection_seconds`),
never while the engine waits on fal.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import AbstractContextManager, aclosing
from typing import Protocol

from fal_platform.batch.collections_pace import fewer_collections
from fal_platform.batch.cost import CostTally, check_budget, price_map
from fal_platform.batch.item import BatchAbortedError, ItemDriver
from fal_platform.batch.ledger import Ledger
from fal_platform.batch.plan import after_reconcile
from fal_platform.batch.progress import OnProgress
from fal_platform.batch.prompts import PromptItem, PromptSet
from fal_platform.batch.reconcile import Reconciler
from fal_platform.batch.recorder import Recorder
from fal_platform.batch.report import BatchReport
from fal_platform.batch.rows import JobTime, RequestRow, RequestState
from fal_platform.batch.run_planner import KEY_PAGE, PlanStore, RunPlan, RunPlanner, chunked
from fal_platform.batch.settings import DEFAULTS, BatchSettings
from fal_platform.batch.store import SETTLE_SECONDS
from fal_platform.batch.writer import RowWriter
from fal_platform.client import FalAuthenticationError, FalClient, FalError, Price
from fal_platform.webhooks.inbox import WebhookInbox

__all__ = ["BatchAbortedError", "RequestStore", "run_batch"]

logger = logging.getLogger("fal_platform.batch")


class RequestStore(PlanStore, Protocol):
    """What the engine needs from the store (`BatchStore` fits): planning's reads and more."""

    def recorded_request_ids(self, prompt_set: str, request_ids: Sequence[str]) -> set[str]: ...

    def journal_requests(self, rows: Sequence[RequestRow]) -> int: ...

    @property
    def commit_interval(self) -> float:
        """Seconds durable rows wait to share one `journal_requests` call (`writer.py`)."""
        ...

    def recent_job_times(self, endpoint_ids: Sequence[str]) -> list[JobTime]: ...

    def recover(self, prompt_set: str) -> int: ...

    def settle(self) -> None: ...

    def count_by_state(self, prompt_set: str) -> dict[RequestState, int]: ...

    def delete_requests(self, prompt_set: str, item_keys: Sequence[str]) -> int: ...

    def holding(self, seconds: float) -> AbstractContextManager[None]: ...

    def release(self) -> None: ...


async def run_batch(
    client: FalClient,
    store: RequestStore,
    prompt_set: PromptSet,
    settings: BatchSettings = DEFAULTS,
    *,
    prices: Mapping[str, Price] | Iterable[Price] = (),
    stop: asyncio.Event | None = None,
    on_progress: OnProgress | None = None,
    inbox: WebhookInbox | None = None,
) -> BatchReport:
    """Run `prompt_set` to completion (or until `stop` is set) and report what happened.

    Raises `BudgetExceededError` before any submit when the estimate is over
    `settings.max_cost_usd`, and `FalAuthenticationError` when fal refuses the key. Webhook
    mode (`settings.webhook_url`) needs the `inbox` the receiver writes to (`await_webhook.py`).
    """
    if settings.webhook_url and inbox is None:
        raise ValueError("webhook mode (webhook_url) needs the webhook inbox of the store")
    run = _BatchRun(
        client,
        store,
        prompt_set,
        settings,
        prices=price_map(prices),
        stop=stop or asyncio.Event(),
        on_progress=on_progress,
        inbox=inbox if settings.webhook_url else None,
    )
    with fewer_collections():
        return await run.run()


class _BatchRun:
    def __init__(
        self,
        client: FalClient,
        store: RequestStore,
        prompt_set: PromptSet,
        settings: BatchSettings,
        *,
        prices: dict[str, Price],
        stop: asyncio.Event,
        on_progress: OnProgress | None,
        inbox: WebhookInbox | None = None,
    ) -> None:
        self._store = store
        self._set = prompt_set
        self._opt = settings
        self._stop = stop
        self._on_progress = on_progress
        self._writer = RowWriter(
            store.journal_requests, on_idle=store.release, commit_interval=store.commit_interval
        )
        self._reconciler = Reconciler(
            client,
            recorded=lambda ids: store.recorded_request_ids(prompt_set.name, ids),
            clock_skew=settings.reconcile_clock_skew,
            history_delay=settings.reconcile_delay,
        )
        report = BatchReport(prompt_set=prompt_set.name, total_items=len(prompt_set.items))
        self._ledger = Ledger(report, prices, failure_sample=settings.failure_sample)
        self._planner = RunPlanner(
            prompt_set.name,
            store,
            ledger=self._ledger,
            tally=CostTally(prices),
            remember=self._reconciler.remember,
            force=settings.force,
            max_attempts=settings.max_attempts,
        )
        self._to_submit: list[tuple[PromptItem, RequestRow]] = []
        """Reconciled items history did not show: submitted first (they were due before)."""
        self._items = ItemDriver(
            Recorder(
                client,
                settings,
                writer=self._writer,
                reconciler=self._reconciler,
                ledger=self._ledger,
                stop=stop,
                inbox=inbox,
            )
        )

    async def run(self) -> BatchReport:
        # One connection for the plan's reads and writes and the run's first writes: each
        # open and close of a DuckDB file costs ~20 ms of CPU (settings.hold_connection_seconds).
        with self._store.holding(self._opt.hold_connection_seconds):
            plan = await self._plan()
            await self._write_plan(plan)
            self._writer.start()
            table = await self._run_plan(plan)
        report = self._ledger.finish(sum(table.values()), interrupted=self._stop.is_set())
        self._emit_progress(final=True)
        return report

    async def _run_plan(self, plan: RunPlan) -> dict[RequestState, int]:
        """Dispatch the plan until done or stopped; the stored rows per state afterwards."""
        loops = [
            asyncio.create_task(self._progress_loop(), name="batch-progress"),
            asyncio.create_task(self._settle_loop(), name="batch-settle"),
        ]
        try:
            await self._reconcile_at_start(plan)
            await self._dispatch(plan)
        finally:
            for loop in loops:
                loop.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            await self._writer.close()
        return await asyncio.to_thread(self._store.count_by_state, self._set.name)

    async def _plan(self) -> RunPlan:
        """Plan a chunk at a time (`run_planner.py`), take its facts into the report, check the
        budget; nothing is written before the budget check but a killed run's journal."""
        recovered = await asyncio.to_thread(self._store.recover, self._set.name)
        if recovered:
            logger.info(
                "%d rows journaled by a run that stopped early are now in the table", recovered
            )
        stored = await asyncio.to_thread(self._store.count_by_state, self._set.name)
        plan = await asyncio.to_thread(self._planner.plan, self._set.items, sum(stored.values()))
        jobs = await asyncio.to_thread(self._store.recent_job_times, self._set.endpoint_ids)
        self._items.learn_history(jobs)
        report = self._ledger.report
        report.reattached = len(plan.reattach)
        report.estimated = self._planner.estimate()
        check_budget(report.estimated, self._opt.max_cost_usd)
        return plan

    async def _write_plan(self, plan: RunPlan) -> None:
        """After the budget check: rewrite moved rows and delete rows of items no longer in the
        file. Never-seen items are written PENDING as dispatch reaches them (`_next_chunk`)."""
        if plan.moved:
            await asyncio.to_thread(self._planner.rewrite_moved, self._set.items)
        if not plan.some_gone:
            return
        removed, left_running = await asyncio.to_thread(self._planner.removed_rows, self._set.items)
        for start in range(0, len(removed), KEY_PAGE):
            chunk = removed[start : start + KEY_PAGE]
            await asyncio.to_thread(self._store.delete_requests, self._set.name, chunk)
        self._ledger.report.removed = len(removed)
        if left_running:
            logger.info(
                "%d rows of %s belong to items no longer in the file but may still be running "
                "on fal; left in place",
                left_running,
                self._set.name,
            )

    async def _reconcile_at_start(self, plan: RunPlan) -> None:
        """UNKNOWN rows left by a run that died mid-submit: found ones are followed, the rest
        go back to the submit queue. Nothing UNKNOWN is resubmitted before this."""
        if not plan.unknown:
            return
        try:
            outcome = await self._reconciler.reconcile(plan.unknown)
        except FalAuthenticationError:
            raise
        except FalError as exc:
            logger.warning(
                "could not read fal's request history to reconcile %d UNKNOWN items; leaving "
                "them UNKNOWN for the next run (nothing is resubmitted blindly): %s",
                len(plan.unknown),
                exc,
            )
            return
        found, resubmit = after_reconcile(outcome.rows, plan.unknown_items)
        report = self._ledger.report
        report.reconciled_found += len(found)
        report.reconciled_not_found += len(resubmit)
        plan.reattach.extend(found)
        self._to_submit.extend(resubmit)
        for row in [*found, *(row for _, row in resubmit)]:
            self._ledger.record(row)
            self._writer.put(row)
        await self._writer.flush()
        for row in found:
            self._reconciler.written(row.request_id)

    async def _dispatch(self, plan: RunPlan) -> None:
        """`max_concurrency` slots, each a task that drives one item at a time and takes the
        next as soon as its own is done: a freed slot hands off to nothing, where a semaphore
        and a dispatching loop cost each item of a round ~20 ms of wake-ups at 64 in flight
        (benchmarks/README.md section 7)."""
        async with aclosing(self._work(plan)) as work:
            turn = asyncio.Lock()  # one slot at a time reads the shared `work`

            async def next_work() -> tuple[RequestRow, bool] | None:
                async with turn:
                    return None if self._stop.is_set() else await anext(work, None)

            try:
                async with asyncio.TaskGroup() as group:
                    for slot in range(self._opt.max_concurrency):
                        group.create_task(self._slot(next_work), name=f"batch-slot-{slot}")
            except BaseExceptionGroup as group_error:
                # One fatal error (bad key, store unwritable) stops the run; surface it plainly.
                raise group_error.exceptions[0] from None

    async def _work(self, plan: RunPlan) -> AsyncGenerator[tuple[RequestRow, bool]]:
        """The held rows first, then the set's items to submit, a chunk at a time in file
        order: the run holds the items in flight and one chunk ahead, never the set."""
        for row in plan.reattach:
            yield row, False
        plan.reattach.clear()
        for _, row in self._to_submit:
            yield row, True
        self._to_submit.clear()
        chunks = chunked(self._set.items)
        while (work := await asyncio.to_thread(self._next_chunk, chunks, plan)) is not None:
            for row, counted in work:
                self._ledger.take(row.item_key, counted, waiting=True)
                yield row, True

    def _next_chunk(
        self, chunks: Iterator[list[PromptItem]], plan: RunPlan
    ) -> list[tuple[RequestRow, RequestState]] | None:
        """The next chunk's items to submit (each with the state it is counted in), its
        never-seen items written PENDING first; None when the set is done."""
        chunk = next(chunks, None)
        if chunk is None:
            return None
        found = self._planner.chunk_plan(chunk, has_rows=plan.stored_rows > 0)
        # Through the journal (DuckDB): ~5 ms for 256 rows where an upsert costs ~20 ms, which
        # the first submits waited for; they reach the table with the next settle.
        self._store.journal_requests(
            [RequestRow.pending(self._set.name, i) for i in found.new_items]
        )
        return [
            (stored or RequestRow.pending(self._set.name, item), found.stored_states[item.item_key])
            for item, stored in found.to_submit
            if item.item_key not in plan.held
        ]

    async def _slot(
        self, next_work: Callable[[], Awaitable[tuple[RequestRow, bool] | None]]
    ) -> None:
        """Drive items one after another until the work runs out or the run is stopped."""
        while (work := await next_work()) is not None:
            row, needs_submit = work
            try:
                await self._items.drive(row, needs_submit)
            finally:
                self._ledger.release(row.item_key)

    def _emit_progress(self, *, final: bool = False) -> None:
        if self._on_progress is None:
            return
        try:
            self._on_progress(self._ledger.snapshot(final=final))
        except Exception:  # a broken progress display must not stop a paid batch
            logger.exception("progress callback failed")

    async def _settle_loop(self) -> None:
        """Journaled rows reach the table every `SETTLE_SECONDS`, so it shows a run's progress;
        a failed move is retried on the next turn (the rows stay durable in the journal)."""
        while True:
            await asyncio.sleep(SETTLE_SECONDS)
            try:
                await asyncio.to_thread(self._store.settle)
            except Exception as exc:
                logger.warning("could not move journaled rows into the table yet: %s", exc)

    async def _progress_loop(self) -> None:
        while True:
            await asyncio.sleep(self._opt.progress_interval)
            self._emit_progress()
