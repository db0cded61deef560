"""The batch engine: runs one prompt set through fal's queue, crash-safely and at a polite pace.

State machine (DESIGN section 4), as the engine drives it:

    PENDING --intent--> UNKNOWN --submit ok--> SUBMITTED --> IN_QUEUE --> IN_PROGRESS --> COMPLETED
                          |                        |                                 \\-> FAILED
                          |                        \\-- stopped while queued --> CANCELLED
                          \\-- answer lost --> reconcile --> SUBMITTED (found) | PENDING (not found)

Rules that make a crash (even SIGKILL) never pay twice:

- Write-ahead: before a submit leaves, its row is committed as UNKNOWN (the intent, with
  `attempts + 1` and the intent time in `submitted_at`). After fal answers, the row is committed
  as SUBMITTED with fal's request id and URLs before the engine waits on the job. A run that
  dies in between leaves UNKNOWN, which the next run reconciles against fal's request history
  (see `reconcile.py`) instead of resubmitting.
- A submit failure that may have reached fal (`may_have_been_accepted`) is reconciled at once;
  one that certainly did not (connect error, 429, 4xx) returns the item to PENDING (or FAILED
  for 4xx) and does not count as an attempt.
- `attempts` counts submits fal accepted (or may have). A job that fails (5xx at result time,
  timeouts) is resubmitted until `max_attempts`; a 422 is never retried.

Rerunning a prompt set: COMPLETED rows are reused (unless `force`), SUBMITTED/IN_QUEUE/
IN_PROGRESS rows are re-attached through their stored URLs, UNKNOWN rows are reconciled,
CANCELLED rows are resubmitted, FAILED rows only when their failure was retryable and attempts
remain.

Stopping (the `stop` event): nothing new is submitted, requests still SUBMITTED/IN_QUEUE are
cancelled (they cost nothing yet), IN_PROGRESS ones are left for the next run to re-attach,
everything is flushed, and the report says `interrupted`.

DuckDB is only touched through `RowWriter` (short batches in a worker thread) and one load at
start; no connection is ever open while the engine waits on fal.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from fal_platform.batch.cost import billed_cost, check_budget, estimate_items_cost, price_map
from fal_platform.batch.failures import Failure, failure_from_error, is_job_failure
from fal_platform.batch.pacing import Backoff, Pacer
from fal_platform.batch.progress import LatencyTracker, OnProgress, ProgressSnapshot
from fal_platform.batch.prompts import PromptItem, PromptSet, canonical_json
from fal_platform.batch.reconcile import ReconcileOutcome, Reconciler
from fal_platform.batch.report import BatchReport, FailedItem
from fal_platform.batch.rows import RequestRow, RequestState, submitted_row
from fal_platform.batch.writer import RowWriter
from fal_platform.client import (
    CancelOutcome,
    Completed,
    FalAuthenticationError,
    FalClient,
    FalError,
    FalNotFoundError,
    FalValidationError,
    InProgress,
    Price,
    Queued,
    QueueStatus,
    RequestHandle,
)

logger = logging.getLogger("fal_platform.batch")

S = RequestState
_PENDING_WRITE_CHUNK = 5000


class BatchAbortedError(RuntimeError):
    """The run gave up because fal kept refusing submits; rerun when it is reachable again."""


class RequestStore(Protocol):
    """What the engine needs from the store (`BatchStore` fits)."""

    def load_requests(self, prompt_set: str) -> list[RequestRow]: ...

    def upsert_requests(self, rows: Sequence[RequestRow]) -> int: ...

    def count_by_state(self, prompt_set: str) -> dict[RequestState, int]: ...

    def delete_requests(self, prompt_set: str, item_keys: Sequence[str]) -> int: ...

    def keep_open(self, seconds: float) -> None: ...

    def release(self) -> None: ...


@dataclass(frozen=True)
class EngineOptions:
    max_concurrency: int = 32
    """Requests in flight at once, from submit until the result is fetched."""
    submit_rate: float = 20.0
    """Submits per second, evenly spaced."""
    poll_interval: float = 0.5
    """First status poll interval when polling (the SSE stream needs none)."""
    max_poll_interval: float = 5.0
    poll_backoff: float = 1.5
    max_attempts: int = 3
    """Accepted submits per item, counting the first (a failed job is resubmitted until then)."""
    force: bool = False
    """Resubmit COMPLETED items (and retryable FAILED ones regardless of their attempts)."""
    use_stream: bool = True
    """Follow status over SSE, falling back to polling when a stream breaks."""
    max_cost_usd: float | None = None
    """Refuse to start when the estimated cost of this run's submits is higher."""
    progress_interval: float = 5.0
    reconcile_clock_skew: float = 5.0
    """Seconds of clock difference with fal allowed when reading request history."""
    reconcile_delay: float = 0.0
    """Seconds to wait before reading history after a lost submit answer (history lag)."""
    reconcile_attempts: int = 3
    """Reads of request history (each with the client's own HTTP retries) before an item whose
    submit answer was lost is left UNKNOWN for the next run."""
    max_status_errors: int = 8
    """Consecutive failed status checks before an item is left in flight for the next run."""
    max_result_fetches: int = 5
    max_submit_errors: int = 10
    hold_connection_seconds: float = 0.5
    """While rows keep coming, the writer reuses one DuckDB connection for up to this long
    (then hands the file over to other processes); 0 opens one per write."""
    """Submits of one item that certainly did not reach fal before it is marked FAILED."""
    max_consecutive_submit_failures: int = 25
    """Failed submits in a row (any item) that abort the run: fal is down or refusing us, and
    going on would only turn every item into a failure."""
    failure_sample: int = 50

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        if self.submit_rate <= 0 or self.poll_interval <= 0:
            raise ValueError("submit_rate and poll_interval must be positive")
        if self.max_poll_interval < self.poll_interval:
            raise ValueError("max_poll_interval must be >= poll_interval")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")


async def run_batch(
    client: FalClient,
    store: RequestStore,
    prompt_set: PromptSet,
    options: EngineOptions | None = None,
    *,
    prices: Mapping[str, Price] | Iterable[Price] = (),
    stop: asyncio.Event | None = None,
    on_progress: OnProgress | None = None,
) -> BatchReport:
    """Run `prompt_set` to completion (or until `stop` is set) and report what happened.

    Raises `BudgetExceededError` before any submit when the estimate is over
    `options.max_cost_usd`, and `FalAuthenticationError` when fal refuses the key.
    """
    run = _BatchRun(
        client,
        store,
        prompt_set,
        options or EngineOptions(),
        prices=price_map(prices),
        stop=stop or asyncio.Event(),
        on_progress=on_progress,
    )
    return await run.run()


@dataclass
class _Tracked:
    """The current row of an item being followed, shared by its waiter and its stop handler."""

    row: RequestRow
    completed_at: datetime | None = None


@dataclass
class _Plan:
    to_submit: list[tuple[PromptItem, RequestRow | None]] = field(default_factory=list)
    reattach: list[RequestRow] = field(default_factory=list)
    unknown: list[RequestRow] = field(default_factory=list)
    new_items: list[PromptItem] = field(default_factory=list)
    moved: list[RequestRow] = field(default_factory=list)
    """Recorded rows whose item moved in an edited file (new line / index), to rewrite."""
    removed: list[str] = field(default_factory=list)
    """Item keys of settled rows whose item is no longer in the edited file, to delete."""


def _now() -> datetime:
    return datetime.now(UTC)


def _handle(row: RequestRow, queue_url: str) -> RequestHandle:
    assert row.request_id is not None
    if row.status_url and row.response_url and row.cancel_url:
        return RequestHandle(
            endpoint_id=row.endpoint_id,
            request_id=row.request_id,
            status_url=row.status_url,
            response_url=row.response_url,
            cancel_url=row.cancel_url,
        )
    return RequestHandle.from_ids(queue_url, row.endpoint_id, row.request_id)


class _BatchRun:
    def __init__(
        self,
        client: FalClient,
        store: RequestStore,
        prompt_set: PromptSet,
        options: EngineOptions,
        *,
        prices: dict[str, Price],
        stop: asyncio.Event,
        on_progress: OnProgress | None,
    ) -> None:
        self._client = client
        self._store = store
        self._set = prompt_set
        self._opt = options
        self._prices = prices
        self._stop = stop
        self._on_progress = on_progress
        self._pacer = Pacer(options.submit_rate)
        self._slots = asyncio.Semaphore(options.max_concurrency)
        self._writer = RowWriter(store.upsert_requests, on_idle=store.release)
        self._reconciler = Reconciler(
            client,
            clock_skew=options.reconcile_clock_skew,
            history_delay=options.reconcile_delay,
        )
        self._report = BatchReport(prompt_set=prompt_set.name, total_items=len(prompt_set.items))
        self._latency = LatencyTracker()
        self._states: Counter[RequestState] = Counter()
        """Current state of every item of the prompt set (what `report.counts` shows)."""
        self._stored_state: dict[str, RequestState] = {}
        """Items queued for resubmission that are not PENDING on disk yet (until their intent)."""
        self._use_stream = options.use_stream
        self._stream_ok = 0
        self._stream_broken = 0
        self._submit_errors: Counter[str] = Counter()
        self._failed_submits_in_a_row = 0
        self._input_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._started = time.monotonic()

    # --- the run ---------------------------------------------------------------------------

    async def run(self) -> BatchReport:
        plan = await self._plan()
        estimate = estimate_items_cost(
            [item for item, _ in plan.to_submit] + [self._item_of(row) for row in plan.unknown],
            self._prices,
        )
        self._report.estimated = estimate
        check_budget(estimate, self._opt.max_cost_usd)
        await self._write_new_rows(plan.new_items)
        if plan.moved:
            await asyncio.to_thread(self._store.upsert_requests, plan.moved)
            plan.moved.clear()
        if plan.removed:
            await asyncio.to_thread(self._store.delete_requests, self._set.name, plan.removed)
            self._report.removed = len(plan.removed)

        self._store.keep_open(self._opt.hold_connection_seconds)
        self._writer.start()
        progress = asyncio.create_task(self._progress_loop(), name="batch-progress")
        try:
            await self._reconcile_at_start(plan)
            await self._dispatch(plan)
        finally:
            progress.cancel()
            await asyncio.gather(progress, return_exceptions=True)
            try:
                await self._writer.close()
            finally:
                self._store.keep_open(0.0)
                await asyncio.to_thread(self._store.release)
        self._report.interrupted = self._stop.is_set()
        await self._finish_report()
        self._emit_progress(final=True)
        return self._report

    async def _plan(self) -> _Plan:
        rows = await asyncio.to_thread(self._store.load_requests, self._set.name)
        stored = {row.item_key: row for row in rows}
        del rows
        for known in stored.values():
            # Every request id this prompt set already owns, in any state, is off limits when
            # reconciling: handing it to another item would share (or re-bill) a request.
            self._reconciler.remember(known.request_id)
        plan = _Plan()
        max_attempts = self._opt.max_attempts
        for item in self._set.items:
            row = stored.pop(item.item_key, None)
            if row is None:
                plan.new_items.append(item)
                plan.to_submit.append((item, None))
                self._states[S.PENDING] += 1
                continue
            if row.line != item.line or row.item_index != item.index:
                row = replace(row, line=item.line, item_index=item.index)
                plan.moved.append(row)
            state = row.state
            if state is S.COMPLETED and not self._opt.force:
                self._report.reused += 1
                self._count_completed(row, this_run=False)
                self._states[state] += 1
                continue
            if state.is_in_flight:
                plan.reattach.append(replace(row, result=None))
                self._report.reattached += 1
                self._states[state] += 1
                continue
            if state is S.UNKNOWN:
                plan.unknown.append(row)
                self._states[state] += 1
                continue
            if state is S.FAILED:
                failure = Failure.from_row(row.error_type, row.error_detail)
                retry = failure.retryable and (self._opt.force or row.attempts < max_attempts)
                if not retry:
                    self._record_failure(row, failure)
                    self._states[state] += 1
                    continue
            # PENDING, CANCELLED, retryable FAILED, forced COMPLETED: submit (again).
            slim = replace(row, state=S.PENDING, result=None)
            if state is not S.PENDING:
                self._stored_state[row.item_key] = state
            if self._opt.force and state in (S.COMPLETED, S.FAILED):
                slim = replace(slim, attempts=0)
            plan.to_submit.append((item, slim))
            self._states[S.PENDING] += 1
        # The partition mirrors its file: rows of items deleted from the file go, except requests
        # fal may still be running (or may have accepted), which are left to settle.
        plan.removed = [
            key
            for key, row in stored.items()
            if not (row.state.is_in_flight or row.state is S.UNKNOWN)
        ]
        if len(plan.removed) < len(stored):
            logger.info(
                "%d rows of %s belong to items no longer in the file but may still be running "
                "on fal; left in place",
                len(stored) - len(plan.removed),
                self._set.name,
            )
        return plan

    def _item_of(self, row: RequestRow) -> PromptItem:
        return PromptItem(
            endpoint_id=row.endpoint_id,
            input=row.input,
            replica=row.replica,
            line=row.line,
            item_key=row.item_key,
            index=row.item_index,
        )

    async def _write_new_rows(self, items: list[PromptItem]) -> None:
        """Record never-seen items as PENDING up front, so the table shows the whole set."""
        for start in range(0, len(items), _PENDING_WRITE_CHUNK):
            chunk = [
                RequestRow.pending(self._set.name, item)
                for item in items[start : start + _PENDING_WRITE_CHUNK]
            ]
            await asyncio.to_thread(self._store.upsert_requests, chunk)

    async def _reconcile_at_start(self, plan: _Plan) -> None:
        """UNKNOWN rows left by a run that died mid-submit: found ones are followed, the rest
        go back to the submit queue."""
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
        items = {item.item_key: item for item in self._set.items}
        for row in outcome.rows:
            self._move(S.UNKNOWN, row.state)
            if row.state is S.SUBMITTED:
                self._report.reconciled_found += 1
                plan.reattach.append(row)
            else:
                self._report.reconciled_not_found += 1
                row = self._not_accepted_row(row)
                plan.to_submit.append((items[row.item_key], row))
            self._writer.put(row)
        await self._writer.flush()

    async def _dispatch(self, plan: _Plan) -> None:
        work: Iterator[tuple[RequestRow, bool]] = self._work(plan)
        try:
            async with asyncio.TaskGroup() as group:
                for row, needs_submit in work:
                    if not await self._acquire_slot():
                        break
                    group.create_task(self._drive(row, needs_submit))
        except BaseExceptionGroup as group_error:
            # One fatal error (bad key, store unwritable) stops the run; surface it plainly.
            raise group_error.exceptions[0] from None

    def _work(self, plan: _Plan) -> Iterator[tuple[RequestRow, bool]]:
        for row in plan.reattach:
            yield row, False
        for item, stored in plan.to_submit:
            yield (stored or RequestRow.pending(self._set.name, item)), True

    async def _acquire_slot(self) -> bool:
        """Wait for a free slot; False (holding nothing) once the run is being stopped."""
        if self._stop.is_set():
            return False
        acquire = asyncio.create_task(self._slots.acquire())
        stopped = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait({acquire, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not acquire.done():
                acquire.cancel()
            await asyncio.gather(acquire, stopped, return_exceptions=True)
        got_slot = acquire.done() and not acquire.cancelled() and acquire.exception() is None
        if got_slot and self._stop.is_set():
            self._slots.release()
            return False
        return got_slot

    # --- one item ---------------------------------------------------------------------------

    async def _drive(self, row: RequestRow, needs_submit: bool) -> None:
        """Take one item from where it is to a terminal state (or as far as a stop allows)."""
        try:
            while True:
                if needs_submit:
                    if self._stop.is_set():
                        return
                    row = await self._submit(row)
                    if row.state is S.PENDING:
                        continue
                    if row.state is not S.SUBMITTED:
                        return  # FAILED, or UNKNOWN when history could not be read
                    needs_submit = False
                row = await self._follow(row)
                if row.state is S.PENDING:
                    needs_submit = True
                    self._report.retries += 1
                    continue
                return
        finally:
            self._slots.release()

    def _input_lock(self, row: RequestRow) -> asyncio.Lock:
        """Replicas share an input: their submits and reconciliations take turns, so a lookup
        in history never mistakes a sibling's in-flight submit for its own."""
        key = f"{row.endpoint_id}\n{canonical_json(row.input)}"
        lock = self._input_locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._input_locks[key] = lock
        return lock

    async def _submit(self, row: RequestRow) -> RequestRow:
        lock = self._input_lock(row)
        async with lock:
            await self._pacer.wait()
            if self._stop.is_set():
                return row
            intent = replace(
                row,
                state=S.UNKNOWN,
                attempts=row.attempts + 1,
                request_id=None,
                status_url=None,
                response_url=None,
                cancel_url=None,
                submitted_at=_now(),
                started_at=None,
                completed_at=None,
                queue_position_first=None,
                inference_seconds=None,
                billable_units=None,
                result=None,
            )
            self._stored_state.pop(row.item_key, None)
            self._set_state(row, intent)
            await self._writer.put_durable(intent)
            self._report.submit_attempts += 1
            try:
                handle = await self._client.queue.submit(row.endpoint_id, row.input)
            except FalAuthenticationError:
                raise
            except FalError as exc:
                self._failed_submits_in_a_row += 1
                if self._failed_submits_in_a_row >= self._opt.max_consecutive_submit_failures:
                    if not exc.may_have_been_accepted:
                        pending = self._not_accepted_row(intent, exc)
                        self._set_state(intent, pending)
                        self._writer.put(pending)
                    raise BatchAbortedError(
                        f"{self._failed_submits_in_a_row} submits in a row failed, the last "
                        f"with: {exc}. Stopping the run; every item is recorded as it stands "
                        "(UNKNOWN ones are reconciled next time), rerun when fal answers again."
                    ) from exc
                return await self._submit_failed(intent, exc)
            self._failed_submits_in_a_row = 0
            accepted = submitted_row(
                intent, handle, submitted_at=_now(), queue_position_first=handle.queue_position
            )
            self._reconciler.remember(handle.request_id)
            self._report.submitted += 1
            self._set_state(intent, accepted)
            await self._writer.put_durable(accepted)
            return accepted

    async def _reconcile_one(self, intent: RequestRow) -> ReconcileOutcome | None:
        """Request history for one lost submit; None if it stays unreadable (item stays UNKNOWN).

        A transient outage of the history route is retried with the client's backoff, so one
        unlucky stretch of 5xx does not strand an item until the next run.
        """
        attempts = self._opt.reconcile_attempts
        for attempt in range(1, attempts + 1):
            try:
                return await self._reconciler.reconcile([intent])
            except FalAuthenticationError:
                raise
            except FalError as history_error:
                if not history_error.retryable or attempt == attempts or self._stop.is_set():
                    logger.warning(
                        "request history unavailable, item %s stays UNKNOWN until the next run: %s",
                        intent.item_key[:12],
                        history_error,
                    )
                    return None
                await asyncio.sleep(self._client.settings.retry.delay(attempt, None))
        return None

    async def _submit_failed(self, intent: RequestRow, exc: FalError) -> RequestRow:
        if exc.may_have_been_accepted:
            logger.info(
                "submit of item %s (line %d) may have reached fal (%s); checking request history",
                intent.item_key[:12],
                intent.line,
                exc,
            )
            outcome = await self._reconcile_one(intent)
            if outcome is None:
                return intent
            found = outcome.rows[0]
            if found.state is S.SUBMITTED:
                self._report.reconciled_found += 1
                self._report.submitted += 1
                self._set_state(intent, found)
                await self._writer.put_durable(found)
                return found
            self._report.reconciled_not_found += 1
        elif not exc.retryable:
            # fal answered with a 4xx: it looked at the request and refused it.
            return self._fail(intent, failure_from_error(exc, retryable=False))
        pending = self._not_accepted_row(intent, exc)
        self._set_state(intent, pending)
        self._submit_errors[intent.item_key] += 1
        if self._submit_errors[intent.item_key] >= self._opt.max_submit_errors:
            return self._fail(pending, failure_from_error(exc, retryable=True))
        self._writer.put(pending)
        return pending

    def _not_accepted_row(self, row: RequestRow, exc: FalError | None = None) -> RequestRow:
        """The submit certainly did not reach fal: not an attempt, back to PENDING."""
        pending = replace(
            row, state=S.PENDING, attempts=max(row.attempts - 1, 0), submitted_at=None
        )
        if exc is None:
            return pending
        failure = failure_from_error(exc)
        return replace(pending, error_type=failure.error_type, error_detail=failure.detail_json())

    async def _follow(self, row: RequestRow) -> RequestRow:
        """Wait for the job to finish and fetch its result; cancel it if the run is stopped."""
        handle = _handle(row, self._client.settings.queue_url)
        tracked = _Tracked(row)
        waiter = asyncio.create_task(self._wait_completed(tracked, handle))
        stopped = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait({waiter, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not waiter.done():
                waiter.cancel()
            await asyncio.gather(stopped, waiter, return_exceptions=True)
        if waiter.cancelled():
            return await self._stop_item(tracked, handle)
        try:
            completed = waiter.result()
        except FalAuthenticationError:
            raise
        except FalNotFoundError as exc:
            # fal does not know the request (expired or never stored): submit it again.
            return self._retry_or_fail(tracked.row, failure_from_error(exc, retryable=True))
        except FalError as exc:
            logger.warning(
                "lost track of request %s (item line %d) after repeated status errors; it is "
                "left %s for the next run to re-attach: %s",
                tracked.row.request_id,
                tracked.row.line,
                tracked.row.state.value,
                exc,
            )
            return tracked.row
        return await self._fetch_result(tracked, handle, completed)

    async def _wait_completed(self, tracked: _Tracked, handle: RequestHandle) -> Completed:
        if self._use_stream:
            try:
                async for status in self._client.queue.stream_status(handle):
                    self._on_status(tracked, status)
                    if isinstance(status, Completed):
                        self._stream_ok += 1
                        return status
            except FalAuthenticationError:
                raise
            except FalError as exc:
                self._stream_broken += 1
                if self._use_stream and self._stream_ok == 0 and self._stream_broken >= 5:
                    self._use_stream = False
                    logger.warning("status streams keep failing (%s); polling from now on", exc)
        backoff = Backoff(
            self._opt.poll_interval, self._opt.max_poll_interval, self._opt.poll_backoff
        )
        errors = 0
        while True:
            try:
                status = await self._client.queue.status(handle)
            except FalNotFoundError:
                raise
            except FalError as exc:
                errors += 1
                if not exc.retryable or errors >= self._opt.max_status_errors:
                    raise
                await asyncio.sleep(backoff.next())
                continue
            errors = 0
            self._on_status(tracked, status)
            if isinstance(status, Completed):
                return status
            await asyncio.sleep(backoff.next())

    def _on_status(self, tracked: _Tracked, status: QueueStatus) -> None:
        row = tracked.row
        if isinstance(status, Queued):
            if row.state in (S.SUBMITTED, S.UNKNOWN):
                first = row.queue_position_first
                new = replace(
                    row,
                    state=S.IN_QUEUE,
                    queue_position_first=first if first is not None else status.position,
                )
                self._update(tracked, new)
        elif isinstance(status, InProgress):
            if row.state is not S.IN_PROGRESS:
                self._update(tracked, replace(row, state=S.IN_PROGRESS, started_at=_now()))
        elif isinstance(status, Completed):
            tracked.completed_at = _now()

    def _update(self, tracked: _Tracked, new: RequestRow) -> None:
        self._set_state(tracked.row, new)
        tracked.row = new
        self._writer.put(new)

    async def _fetch_result(
        self, tracked: _Tracked, handle: RequestHandle, completed: Completed
    ) -> RequestRow:
        row = tracked.row
        backoff = Backoff(self._opt.poll_interval, self._opt.max_poll_interval, 2.0)
        for fetch in range(1, self._opt.max_result_fetches + 1):
            try:
                result = await self._client.queue.result(handle)
                break
            except FalAuthenticationError:
                raise
            except FalValidationError as exc:
                return self._fail(row, failure_from_error(exc, retryable=False))
            except FalNotFoundError as exc:
                return self._retry_or_fail(row, failure_from_error(exc, retryable=True))
            except FalError as exc:
                if is_job_failure(exc):
                    return self._retry_or_fail(row, failure_from_error(exc))
                if not exc.retryable:
                    return self._fail(row, failure_from_error(exc, retryable=False))
                if fetch == self._opt.max_result_fetches:
                    logger.warning(
                        "could not fetch the result of request %s; left for the next run: %s",
                        row.request_id,
                        exc,
                    )
                    return row
                await asyncio.sleep(backoff.next())
        completed_at = tracked.completed_at or _now()
        started_at = row.started_at
        if started_at is None and completed.inference_time is not None:
            started_at = completed_at - timedelta(seconds=completed.inference_time)
        done = replace(
            row,
            state=S.COMPLETED,
            started_at=started_at,
            completed_at=completed_at,
            inference_seconds=completed.inference_time,
            billable_units=result.billable_units,
            error_type=None,
            error_detail=None,
            result=result.output,
        )
        self._set_state(row, done)
        self._writer.put(done)
        self._count_completed(done, this_run=True)
        return replace(done, result=None)

    async def _stop_item(self, tracked: _Tracked, handle: RequestHandle) -> RequestRow:
        """The run is stopping: cancel a job that has not started, leave a running one."""
        row = tracked.row
        if row.state not in (S.SUBMITTED, S.IN_QUEUE):
            return row
        try:
            outcome = await self._client.queue.cancel(handle)
        except FalError as exc:
            logger.warning("could not cancel request %s: %s", row.request_id, exc)
            return row
        if outcome is CancelOutcome.ALREADY_COMPLETED:
            return row  # finished meanwhile: the next run re-attaches and fetches it
        cancelled = replace(row, state=S.CANCELLED, completed_at=_now())
        self._set_state(row, cancelled)
        await self._writer.put_durable(cancelled)
        self._report.cancelled += 1
        return cancelled

    def _retry_or_fail(self, row: RequestRow, failure: Failure) -> RequestRow:
        if failure.retryable and row.attempts < self._opt.max_attempts and not self._stop.is_set():
            logger.info(
                "request %s (item line %d) failed with %s; resubmitting (attempt %d of %d)",
                row.request_id,
                row.line,
                failure.error_type,
                row.attempts + 1,
                self._opt.max_attempts,
            )
            self._reconciler.remember(row.request_id)
            pending = replace(
                row,
                state=S.PENDING,
                error_type=failure.error_type,
                error_detail=failure.detail_json(),
            )
            self._set_state(row, pending)
            self._writer.put(pending)
            return pending
        return self._fail(row, failure)

    def _fail(self, row: RequestRow, failure: Failure) -> RequestRow:
        failed = replace(
            row,
            state=S.FAILED,
            completed_at=row.completed_at or _now(),
            error_type=failure.error_type,
            error_detail=failure.detail_json(),
            result=None,
        )
        self._set_state(row, failed)
        self._writer.put(failed)
        self._record_failure(failed, failure)
        return failed

    # --- bookkeeping ------------------------------------------------------------------------

    def _set_state(self, old: RequestRow, new: RequestRow) -> None:
        self._move(old.state, new.state)

    def _move(self, old: RequestState, new: RequestState) -> None:
        if old is not new:
            self._states[old] -= 1
            self._states[new] += 1

    def _count_completed(self, row: RequestRow, *, this_run: bool) -> None:
        if row.submitted_at is not None and row.completed_at is not None:
            self._latency.add((row.completed_at - row.submitted_at).total_seconds())
        cost = billed_cost(row.billable_units, self._prices.get(row.endpoint_id))
        self._report.billed_usd += cost
        if this_run:
            self._report.billed_this_run_usd += cost

    def _record_failure(self, row: RequestRow, failure: Failure) -> None:
        report = self._report
        report.failures_by_type[failure.error_type] = (
            report.failures_by_type.get(failure.error_type, 0) + 1
        )
        if len(report.failures) < self._opt.failure_sample:
            report.failures.append(
                FailedItem(
                    item_key=row.item_key,
                    line=row.line,
                    endpoint_id=row.endpoint_id,
                    error_type=failure.error_type,
                    message=failure.message,
                    attempts=row.attempts,
                )
            )

    async def _finish_report(self) -> None:
        for state in self._stored_state.values():
            self._move(S.PENDING, state)  # never resubmitted (stopped): still as on disk
        self._stored_state.clear()
        self._report.counts = {state: self._states[state] for state in S if self._states[state]}
        table = await asyncio.to_thread(self._store.count_by_state, self._set.name)
        self._report.table_rows = sum(table.values())
        self._report.latency_p50 = self._latency.quantile(0.5)
        self._report.latency_p95 = self._latency.quantile(0.95)
        self._report.failures.sort(key=lambda f: f.line)
        self._report.wall_seconds = time.monotonic() - self._started

    def snapshot(self, *, final: bool = False) -> ProgressSnapshot:
        states = self._states
        in_flight = sum(states[s] for s in (S.UNKNOWN, S.SUBMITTED, S.IN_QUEUE, S.IN_PROGRESS))
        return ProgressSnapshot(
            prompt_set=self._set.name,
            total=len(self._set.items),
            done=states[S.COMPLETED],
            failed=states[S.FAILED],
            cancelled=states[S.CANCELLED],
            in_flight=in_flight,
            pending=states[S.PENDING],
            p50_latency=self._latency.quantile(0.5),
            elapsed=time.monotonic() - self._started,
            final=final,
        )

    def _emit_progress(self, *, final: bool = False) -> None:
        if self._on_progress is None:
            return
        try:
            self._on_progress(self.snapshot(final=final))
        except Exception:  # a broken progress display must not stop a paid batch
            logger.exception("progress callback failed")

    async def _progress_loop(self) -> None:
        while True:
            await asyncio.sleep(self._opt.progress_interval)
            self._emit_progress()
