"""The batch engine: runs one prompt set through fal's queue, crash-safely and at a polite pace.

This module is the orchestration only; the rules live in their own modules (the pure ones,
plan and transitions, have unit tests in tests/test_engine_rules.py):

- `plan.py`: which stored rows are reused, re-attached, reconciled, submitted or deleted;
- `transitions.py`: the state machine of one row (diagram there);
- `item.py`: the life of one item, from `submit.py` (write-ahead submit, lost answers) and
  `follow.py` (status, result, cancel on stop), recording through `recorder.py`;
- `ledger.py`: per-state counts, derived from the items' recorded states, and the report.

Here: load the stored rows, plan, check the budget on what this run will submit, reconcile
UNKNOWN rows left by a run that died mid-submit, then hand items to `max_concurrency` slots
until done or stopped.

Stopping (the `stop` event): nothing new is submitted, requests still SUBMITTED/IN_QUEUE are
cancelled (they cost nothing yet), IN_PROGRESS ones are left for the next run to re-attach,
everything is flushed, and the report says `interrupted`.

The store is only written through `RowWriter` (short batches in a worker thread, journaled
on DuckDB: `journal.py`) and read at start and end; a DuckDB connection is held only while rows
keep coming (`settings.hold_connection_seconds`), never while the engine waits on fal.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from fal_platform.batch.cost import check_budget, estimate_items_cost, price_map
from fal_platform.batch.item import BatchAbortedError, ItemDriver
from fal_platform.batch.ledger import Ledger
from fal_platform.batch.plan import Plan, after_reconcile, plan_run
from fal_platform.batch.progress import OnProgress
from fal_platform.batch.prompts import PromptItem, PromptSet
from fal_platform.batch.reconcile import Reconciler
from fal_platform.batch.recorder import Recorder
from fal_platform.batch.report import BatchReport
from fal_platform.batch.rows import JobTime, RequestRow, RequestState
from fal_platform.batch.settings import DEFAULTS, BatchSettings
from fal_platform.batch.stopping import unless_stopped
from fal_platform.batch.writer import RowWriter
from fal_platform.client import FalAuthenticationError, FalClient, FalError, Price
from fal_platform.webhooks.inbox import WebhookInbox

__all__ = ["BatchAbortedError", "RequestStore", "run_batch"]

logger = logging.getLogger("fal_platform.batch")

_PENDING_WRITE_CHUNK = 5000


class RequestStore(Protocol):
    """What the engine needs from the store (`BatchStore` fits)."""

    def load_requests(self, prompt_set: str) -> list[RequestRow]: ...

    def upsert_requests(self, rows: Sequence[RequestRow]) -> int: ...

    def journal_requests(self, rows: Sequence[RequestRow]) -> int: ...

    def recent_job_times(self, endpoint_ids: Sequence[str]) -> list[JobTime]: ...

    def recover(self, prompt_set: str) -> int: ...

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
    return await run.run()


def _item_of(row: RequestRow) -> PromptItem:
    return PromptItem(
        endpoint_id=row.endpoint_id,
        input=row.input,
        replica=row.replica,
        line=row.line,
        item_key=row.item_key,
        index=row.item_index,
    )


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
        self._prices = prices
        self._stop = stop
        self._on_progress = on_progress
        self._slots = asyncio.Semaphore(settings.max_concurrency)
        self._writer = RowWriter(store.journal_requests, on_idle=store.release)
        self._reconciler = Reconciler(
            client,
            clock_skew=settings.reconcile_clock_skew,
            history_delay=settings.reconcile_delay,
        )
        report = BatchReport(prompt_set=prompt_set.name, total_items=len(prompt_set.items))
        self._ledger = Ledger(report, prices, failure_sample=settings.failure_sample)
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

    async def _run_plan(self, plan: Plan) -> dict[RequestState, int]:
        """Dispatch the plan until done or stopped; the stored rows per state afterwards."""
        progress = asyncio.create_task(self._progress_loop(), name="batch-progress")
        try:
            await self._reconcile_at_start(plan)
            await self._dispatch(plan)
        finally:
            progress.cancel()
            await asyncio.gather(progress, return_exceptions=True)
            await self._writer.close()
        return await asyncio.to_thread(self._store.count_by_state, self._set.name)

    async def _plan(self) -> Plan:
        """Plan from the stored rows, take its facts into the report, check the budget."""
        recovered = await asyncio.to_thread(self._store.recover, self._set.name)
        if recovered:
            logger.info(
                "%d rows journaled by a run that stopped early are now in the table", recovered
            )
        rows = await asyncio.to_thread(self._store.load_requests, self._set.name)
        plan = plan_run(
            self._set.items, rows, force=self._opt.force, max_attempts=self._opt.max_attempts
        )
        del rows
        endpoints = list(dict.fromkeys(item.endpoint_id for item in self._set.items))
        jobs = await asyncio.to_thread(self._store.recent_job_times, endpoints)
        self._items.learn_history(jobs)
        for request_id in plan.known_request_ids:
            self._reconciler.remember(request_id)
        if plan.left_running:
            logger.info(
                "%d rows of %s belong to items no longer in the file but may still be running "
                "on fal; left in place",
                plan.left_running,
                self._set.name,
            )
        ledger, report = self._ledger, self._ledger.report
        ledger.start(plan.stored_states, (item.item_key for item, _ in plan.to_submit))
        report.reused = len(plan.reused)
        report.reattached = len(plan.reattach)
        for row in plan.reused:
            ledger.completed(row, this_run=False)
        for row, failure in plan.settled_failures:
            ledger.failed(row, failure)
        plan.reused.clear()
        report.estimated = estimate_items_cost(
            [item for item, _ in plan.to_submit] + [_item_of(row) for row in plan.unknown],
            self._prices,
        )
        check_budget(report.estimated, self._opt.max_cost_usd)
        return plan

    async def _write_plan(self, plan: Plan) -> None:
        """Record never-seen items as PENDING up front (the table shows the whole set), rewrite
        moved rows and delete rows of items no longer in the file."""
        items = plan.new_items
        for start in range(0, len(items), _PENDING_WRITE_CHUNK):
            chunk = [
                RequestRow.pending(self._set.name, item)
                for item in items[start : start + _PENDING_WRITE_CHUNK]
            ]
            await asyncio.to_thread(self._store.upsert_requests, chunk)
        if plan.moved:
            await asyncio.to_thread(self._store.upsert_requests, plan.moved)
            plan.moved.clear()
        if plan.removed:
            await asyncio.to_thread(self._store.delete_requests, self._set.name, plan.removed)
            self._ledger.report.removed = len(plan.removed)

    async def _reconcile_at_start(self, plan: Plan) -> None:
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
        found, resubmit = after_reconcile(outcome.rows, self._set.items)
        report = self._ledger.report
        report.reconciled_found += len(found)
        report.reconciled_not_found += len(resubmit)
        plan.reattach.extend(found)
        plan.to_submit.extend(resubmit)
        for row in [*found, *(row for _, row in resubmit)]:
            self._ledger.record(row)
            self._writer.put(row)
        await self._writer.flush()

    async def _dispatch(self, plan: Plan) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                for row, needs_submit in self._work(plan):
                    if not await self._acquire_slot():
                        break
                    group.create_task(self._drive(row, needs_submit))
        except BaseExceptionGroup as group_error:
            # One fatal error (bad key, store unwritable) stops the run; surface it plainly.
            raise group_error.exceptions[0] from None

    def _work(self, plan: Plan) -> Iterator[tuple[RequestRow, bool]]:
        for row in plan.reattach:
            yield row, False
        for item, stored in plan.to_submit:
            yield (stored or RequestRow.pending(self._set.name, item)), True

    async def _drive(self, row: RequestRow, needs_submit: bool) -> None:
        try:
            await self._items.drive(row, needs_submit)
        finally:
            self._slots.release()

    async def _acquire_slot(self) -> bool:
        """Wait for a free slot; False (holding nothing) once the run is being stopped."""
        if self._stop.is_set():
            return False
        acquire = await unless_stopped(self._slots.acquire(), self._stop)
        got_slot = acquire.done() and not acquire.cancelled() and acquire.exception() is None
        if got_slot and self._stop.is_set():
            self._slots.release()
            return False
        return got_slot

    def _emit_progress(self, *, final: bool = False) -> None:
        if self._on_progress is None:
            return
        try:
            self._on_progress(self._ledger.snapshot(final=final))
        except Exception:  # a broken progress display must not stop a paid batch
            logger.exception("progress callback failed")

    async def _progress_loop(self) -> None:
        while True:
            await asyncio.sleep(self._opt.progress_interval)
            self._emit_progress()
