"""Submitting one item: write-ahead intent, the submit, and what a failed submit means.

- Before a submit leaves, its row is committed as UNKNOWN (the intent, `attempts + 1`); after
  fal answers, as SUBMITTED with fal's request id and URLs. A run that dies in between leaves
  UNKNOWN, which the next run reconciles (`reconcile.py`) instead of resubmitting.
- A failure that may have reached fal (`may_have_been_accepted`) is reconciled at once; one
  that certainly did not (connect error, 429, 4xx) returns the item to PENDING (or FAILED for
  4xx) and does not count as an attempt.
- Too many failed submits in a row abort the run (`BatchAbortedError`).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import Counter

from fal_platform.batch import transitions as t
from fal_platform.batch.failures import failure_from_error, retryable_fal_error
from fal_platform.batch.pacing import Pacer
from fal_platform.batch.prompts import canonical_json
from fal_platform.batch.reconcile import ReconcileOutcome
from fal_platform.batch.recorder import Recorder, utc_now
from fal_platform.batch.retrying import retry_async
from fal_platform.batch.rows import RequestRow, RequestState
from fal_platform.client import FalAuthenticationError, FalError

logger = logging.getLogger("fal_platform.batch")

S = RequestState


class BatchAbortedError(RuntimeError):
    """The run gave up because fal kept refusing submits; rerun when it is reachable again."""


class Submitter:
    def __init__(self, rec: Recorder) -> None:
        self._rec = rec
        self._client = rec.client
        self._opt = rec.settings
        self._reconciler = rec.reconciler
        self._report = rec.report
        self._stop = rec.stop
        self._pacer = Pacer(rec.settings.submit_rate)
        self._submit_errors: Counter[str] = Counter()
        self._failed_submits_in_a_row = 0
        self._input_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def _input_lock(self, row: RequestRow) -> asyncio.Lock:
        """Replicas share an input: their submits and reconciliations take turns, so a lookup
        in history never mistakes a sibling's in-flight submit for its own."""
        key = f"{row.endpoint_id}\n{canonical_json(row.input)}"
        lock = self._input_locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._input_locks[key] = lock
        return lock

    async def submit(self, row: RequestRow) -> RequestRow:
        async with self._input_lock(row):
            await self._pacer.wait()
            if self._stop.is_set():
                return row
            intent = await self._rec.put_durable(t.intent(row, utc_now()))
            self._report.submit_attempts += 1
            try:
                handle = await self._client.queue.submit(
                    row.endpoint_id, row.input, webhook_url=self._opt.webhook_url
                )
            except FalAuthenticationError:
                raise
            except FalError as exc:
                self._count_submit_failure(intent, exc)
                return await self._submit_failed(intent, exc)
            self._failed_submits_in_a_row = 0
            self._reconciler.remember(handle.request_id)
            self._report.submitted += 1
            accepted = await self._rec.put_durable(t.accepted(intent, handle, utc_now()))
            self._reconciler.written(handle.request_id)
            return accepted

    def _count_submit_failure(self, intent: RequestRow, exc: FalError) -> None:
        """Too many failed submits in a row abort the run (fal is down or refusing us)."""
        self._failed_submits_in_a_row += 1
        if self._failed_submits_in_a_row < self._opt.max_consecutive_submit_failures:
            return
        if not exc.may_have_been_accepted:
            self._rec.put(t.not_accepted(intent, failure_from_error(exc)))
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
                written = await self._rec.put_durable(found)
                self._reconciler.written(found.request_id)
                return written
            self._report.reconciled_not_found += 1
        elif not exc.retryable:
            # fal answered with a 4xx: it looked at the request and refused it.
            return self._rec.fail(intent, failure_from_error(exc, retryable=False))
        pending = t.not_accepted(intent, failure_from_error(exc))
        self._submit_errors[intent.item_key] += 1
        if self._submit_errors[intent.item_key] >= self._opt.max_submit_errors:
            return self._rec.fail(pending, failure_from_error(exc, retryable=True))
        return self._rec.put(pending)

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
                retry_if=retryable_fal_error,
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
