"""The life of one item: submit (write-ahead), follow the job, fetch its result, or stop it.

Rules that make a crash (even SIGKILL) never pay twice, in the order they happen here:

- Write-ahead: before a submit leaves, its row is committed as UNKNOWN (the intent, with
  `attempts + 1` and the intent time in `submitted_at`). After fal answers, the row is committed
  as SUBMITTED with fal's request id and URLs before the item waits on the job. A run that dies
  in between leaves UNKNOWN, which the next run reconciles against fal's request history
  (`reconcile.py`) instead of resubmitting.
- A submit failure that may have reached fal (`may_have_been_accepted`) is reconciled at once;
  one that certainly did not (connect error, 429, 4xx) returns the item to PENDING (or FAILED
  for 4xx) and does not count as an attempt.
- A job that fails (5xx at result time, timeouts) is resubmitted until `max_attempts`; a 422 is
  never retried (`transitions.may_retry`).
- Stopping: a job still SUBMITTED/IN_QUEUE is cancelled (it costs nothing yet), an
  IN_PROGRESS one is left for the next run to re-attach.

Every new row comes from a pure function in `transitions.py`; this module decides when.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from fal_platform.batch import transitions as t
from fal_platform.batch.failures import Failure, failure_from_error, is_job_failure
from fal_platform.batch.ledger import Ledger
from fal_platform.batch.pacing import Backoff, Pacer
from fal_platform.batch.prompts import canonical_json
from fal_platform.batch.reconcile import ReconcileOutcome, Reconciler
from fal_platform.batch.retrying import exponential, retry_async
from fal_platform.batch.rows import RequestRow, RequestState
from fal_platform.batch.settings import BatchSettings
from fal_platform.batch.writer import RowWriter
from fal_platform.client import (
    CancelOutcome,
    Completed,
    FalAuthenticationError,
    FalClient,
    FalError,
    FalNotFoundError,
    FalValidationError,
    QueueStatus,
    RequestHandle,
)

logger = logging.getLogger("fal_platform.batch")

S = RequestState


class BatchAbortedError(RuntimeError):
    """The run gave up because fal kept refusing submits; rerun when it is reachable again."""


def _now() -> datetime:
    return datetime.now(UTC)


def handle_of(row: RequestRow, queue_url: str) -> RequestHandle:
    """The stored URLs when the row has them (fal's own), else rebuilt from the ids."""
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


def _retryable_fal_error(exc: BaseException) -> bool:
    return (
        isinstance(exc, FalError) and not isinstance(exc, FalAuthenticationError) and exc.retryable
    )


def _transient_result_error(exc: BaseException) -> bool:
    """A result fetch worth repeating: the HTTP exchange failed, not the job."""
    return (
        _retryable_fal_error(exc)
        and isinstance(exc, FalError)
        and not isinstance(exc, FalValidationError | FalNotFoundError)
        and not is_job_failure(exc)
    )


@dataclass
class _Tracked:
    """The current row of an item being followed, shared by its waiter and its stop handler."""

    row: RequestRow
    completed_at: datetime | None = None


class ItemDriver:
    """Drives items of one run; shared between them: the pace, the writer, the stream health."""

    def __init__(
        self,
        client: FalClient,
        settings: BatchSettings,
        *,
        writer: RowWriter,
        reconciler: Reconciler,
        ledger: Ledger,
        stop: asyncio.Event,
    ) -> None:
        self._client = client
        self._opt = settings
        self._writer = writer
        self._reconciler = reconciler
        self._ledger = ledger
        self._report = ledger.report
        self._stop = stop
        self._pacer = Pacer(settings.submit_rate)
        self._use_stream = settings.use_stream
        self._stream_ok = 0
        self._stream_broken = 0
        self._submit_errors: Counter[str] = Counter()
        self._failed_submits_in_a_row = 0
        self._input_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    async def drive(self, row: RequestRow, needs_submit: bool) -> None:
        """Take one item from where it is to a terminal state (or as far as a stop allows)."""
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
            if row.state is not S.PENDING:
                return
            needs_submit = True
            self._report.retries += 1

    # --- recording ---------------------------------------------------------------------------

    def _put(self, row: RequestRow) -> RequestRow:
        self._ledger.record(row)
        self._writer.put(row)
        return row

    async def _put_durable(self, row: RequestRow) -> RequestRow:
        self._ledger.record(row)
        await self._writer.put_durable(row)
        return row

    def _retry_or_fail(self, row: RequestRow, failure: Failure) -> RequestRow:
        if self._stop.is_set() or not t.may_retry(row, failure, self._opt.max_attempts):
            return self._fail(row, failure)
        logger.info(
            "request %s (item line %d) failed with %s; resubmitting (attempt %d of %d)",
            row.request_id,
            row.line,
            failure.error_type,
            row.attempts + 1,
            self._opt.max_attempts,
        )
        self._reconciler.remember(row.request_id)
        return self._put(t.retry(row, failure))

    def _fail(self, row: RequestRow, failure: Failure) -> RequestRow:
        failed = self._put(t.failed(row, failure, _now()))
        self._ledger.failed(failed, failure)
        return failed

    # --- submit ------------------------------------------------------------------------------

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
        async with self._input_lock(row):
            await self._pacer.wait()
            if self._stop.is_set():
                return row
            intent = await self._put_durable(t.intent(row, _now()))
            self._report.submit_attempts += 1
            try:
                handle = await self._client.queue.submit(row.endpoint_id, row.input)
            except FalAuthenticationError:
                raise
            except FalError as exc:
                self._count_submit_failure(intent, exc)
                return await self._submit_failed(intent, exc)
            self._failed_submits_in_a_row = 0
            self._reconciler.remember(handle.request_id)
            self._report.submitted += 1
            return await self._put_durable(t.accepted(intent, handle, _now()))

    def _count_submit_failure(self, intent: RequestRow, exc: FalError) -> None:
        """Too many failed submits in a row abort the run (fal is down or refusing us)."""
        self._failed_submits_in_a_row += 1
        if self._failed_submits_in_a_row < self._opt.max_consecutive_submit_failures:
            return
        if not exc.may_have_been_accepted:
            self._put(t.not_accepted(intent, failure_from_error(exc)))
        raise BatchAbortedError(
            f"{self._failed_submits_in_a_row} submits in a row failed, the last "
            f"with: {exc}. Stopping the run; every item is recorded as it stands "
            "(UNKNOWN ones are reconciled next time), rerun when fal answers again."
        ) from exc

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
                return await self._put_durable(found)
            self._report.reconciled_not_found += 1
        elif not exc.retryable:
            # fal answered with a 4xx: it looked at the request and refused it.
            return self._fail(intent, failure_from_error(exc, retryable=False))
        pending = t.not_accepted(intent, failure_from_error(exc))
        self._submit_errors[intent.item_key] += 1
        if self._submit_errors[intent.item_key] >= self._opt.max_submit_errors:
            return self._fail(pending, failure_from_error(exc, retryable=True))
        return self._put(pending)

    async def _reconcile_one(self, intent: RequestRow) -> ReconcileOutcome | None:
        """Request history for one lost submit; None if it stays unreadable (item stays UNKNOWN).

        A transient outage of the history route is retried with the client's backoff, so one
        unlucky stretch of 5xx does not strand an item until the next run.
        """
        try:
            return await retry_async(
                lambda: self._reconciler.reconcile([intent]),
                attempts=self._opt.reconcile_attempts,
                delay=lambda attempt: self._client.settings.retry.delay(attempt, None),
                retry_if=_retryable_fal_error,
                give_up=self._stop.is_set,
            )
        except FalAuthenticationError:
            raise
        except FalError as history_error:
            logger.warning(
                "request history unavailable, item %s stays UNKNOWN until the next run: %s",
                intent.item_key[:12],
                history_error,
            )
            return None

    # --- follow ------------------------------------------------------------------------------

    async def _follow(self, row: RequestRow) -> RequestRow:
        """Wait for the job to finish and fetch its result; cancel it if the run is stopped."""
        handle = handle_of(row, self._client.settings.queue_url)
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
        return await self._poll_completed(tracked, handle)

    async def _poll_completed(self, tracked: _Tracked, handle: RequestHandle) -> Completed:
        """Poll with backoff; `max_status_errors` failures in a row give the item up for now."""
        backoff = Backoff(self._opt.poll_interval, self._opt.poll_ceiling, self._opt.poll_backoff)
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
        if isinstance(status, Completed):
            tracked.completed_at = _now()
            return
        new = t.after_status(tracked.row, status, _now())
        if new is not tracked.row:
            tracked.row = self._put(new)

    async def _fetch_result(
        self, tracked: _Tracked, handle: RequestHandle, completed: Completed
    ) -> RequestRow:
        row = tracked.row
        try:
            result = await retry_async(
                lambda: self._client.queue.result(handle),
                attempts=self._opt.max_result_fetches,
                delay=exponential(self._opt.poll_interval, self._opt.poll_ceiling),
                retry_if=_transient_result_error,
            )
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
            logger.warning(
                "could not fetch the result of request %s; left for the next run: %s",
                row.request_id,
                exc,
            )
            return row
        done = t.completed(
            row,
            completed,
            completed_at=tracked.completed_at or _now(),
            billable_units=result.billable_units,
            output=result.output,
        )
        self._put(done)
        self._ledger.completed(done, this_run=True)
        return t.without_result(done)

    async def _stop_item(self, tracked: _Tracked, handle: RequestHandle) -> RequestRow:
        """The run is stopping: cancel a job that has not started, leave a running one."""
        row = tracked.row
        if not t.may_cancel(row):
            return row
        try:
            outcome = await self._client.queue.cancel(handle)
        except FalError as exc:
            logger.warning("could not cancel request %s: %s", row.request_id, exc)
            return row
        if outcome is CancelOutcome.ALREADY_COMPLETED:
            return row  # finished meanwhile: the next run re-attaches and fetches it
        cancelled = await self._put_durable(t.cancelled(row, _now()))
        self._report.cancelled += 1
        return cancelled
