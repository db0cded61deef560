"""Following one submitted item: status (SSE, else polling), the result, or a cancel on stop.

A job that fails (5xx at result time, timeouts) is resubmitted until `max_attempts`; a 422 is
never retried (`transitions.may_retry`). On stop, a job still SUBMITTED/IN_QUEUE is cancelled
(it costs nothing yet); an IN_PROGRESS one is left for the next run to re-attach.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from fal_platform.batch import poll_schedule as ps
from fal_platform.batch import transitions as t
from fal_platform.batch.await_webhook import WebhookAwaiter
from fal_platform.batch.failures import failure_from_error, is_job_failure, retryable_fal_error
from fal_platform.batch.pacing import Backoff
from fal_platform.batch.recorder import Recorder, utc_now
from fal_platform.batch.retrying import exponential, retry_async
from fal_platform.batch.rows import JobTime, RequestRow
from fal_platform.batch.stopping import unless_stopped
from fal_platform.client import (
    CancelOutcome,
    Completed,
    FalAuthenticationError,
    FalError,
    FalNotFoundError,
    FalValidationError,
    QueueStatus,
    RequestHandle,
)
from fal_platform.webhooks.rows import WebhookRow

logger = logging.getLogger("fal_platform.batch")


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


def _transient_result_error(exc: BaseException) -> bool:
    """A result fetch worth repeating: the HTTP exchange failed, not the job."""
    return (
        retryable_fal_error(exc)
        and isinstance(exc, FalError)
        and not isinstance(exc, FalValidationError | FalNotFoundError)
        and not is_job_failure(exc)
    )


def _submit_origin(row: RequestRow) -> float:
    """The event-loop time of the row's submit (now, when it has none)."""
    now = asyncio.get_running_loop().time()
    if row.submitted_at is None:
        return now
    return now - max(0.0, (utc_now() - row.submitted_at).total_seconds())


@dataclass
class _Tracked:
    """The current row of an item being followed, shared by its waiter and its stop handler."""

    row: RequestRow
    completed_at: datetime | None = None


class Follower:
    def __init__(self, rec: Recorder) -> None:
        self._rec = rec
        self._client = rec.client
        self._opt = rec.settings
        self._report = rec.report
        self._stop = rec.stop
        self._use_stream = rec.settings.use_stream
        self._stream_ok = 0
        self._stream_broken = 0
        self._stream_checked = asyncio.Event()
        self._stream_probing = False
        self._times = ps.TimesLearner()
        self._aim_known: dict[str, asyncio.Event] = {}
        self._aim_earlier: dict[str, asyncio.Event] = {}
        self._scouts: dict[str, int] = {}
        self.webhooks = WebhookAwaiter(rec, rec.inbox) if rec.inbox is not None else None
        """Webhook mode (`await_webhook.py`): outcomes come from the inbox, not from fal."""

    def learn_history(self, jobs: Iterable[JobTime]) -> None:
        """Earlier runs' job times (`BatchStore.recent_job_times`) seed each endpoint's running
        time and poll aim."""
        durations: dict[str, list[float]] = {}
        for job in jobs:
            durations.setdefault(job.endpoint_id, []).append(job.seconds)
            self._times.ran(job.endpoint_id, job.inference_seconds)
        for endpoint, times in durations.items():
            self._times.seed(endpoint, times)
            self._announce_aim(endpoint)

    async def follow(self, row: RequestRow) -> RequestRow:
        """Wait for the job to finish and fetch its result; cancel it if the run is stopped."""
        handle = handle_of(row, self._client.settings.queue_url)
        tracked = _Tracked(row)
        waiter = await unless_stopped(self._wait_completed(tracked, handle), self._stop)
        if waiter.cancelled():
            if self.webhooks is not None:  # webhook mode: no status seen yet, ask before cancel
                with contextlib.suppress(FalError):
                    self._on_status(tracked, await self._client.queue.status(handle))
            return await self._stop_item(tracked, handle)
        try:
            completed = waiter.result()
        except FalAuthenticationError:
            raise
        except FalNotFoundError as exc:
            # fal does not know the request (expired or never stored): submit it again.
            return self._rec.retry_or_fail(tracked.row, failure_from_error(exc, retryable=True))
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
        if isinstance(completed, WebhookRow):
            assert self.webhooks is not None
            return self.webhooks.record(tracked.row, completed)
        return await self._fetch_result(tracked, handle, completed)

    async def _status_check(self, tracked: _Tracked, handle: RequestHandle) -> QueueStatus:
        status = await self._client.queue.status(handle)
        self._on_status(tracked, status)
        return status

    async def _wait_completed(
        self, tracked: _Tracked, handle: RequestHandle
    ) -> Completed | WebhookRow:
        if self.webhooks is not None:
            return await self.webhooks.wait(
                tracked.row, lambda: self._status_check(tracked, handle)
            )
        origin = _submit_origin(tracked.row)
        if not await self._stream_wanted():
            return await self._poll_completed(tracked, handle, origin, at_once=False)
        missing = False
        try:
            async for status in self._client.queue.stream_status(handle):
                self._stream_checked.set()
                self._on_status(tracked, status)
                if isinstance(status, Completed):
                    self._stream_ok += 1
                    return status
        except FalAuthenticationError:
            raise
        except FalNotFoundError:
            missing = True  # no stream route, or fal does not know the request: a poll tells
        except FalError as exc:
            self._stream_broken += 1
            if self._use_stream and self._stream_ok == 0 and self._stream_broken >= 5:
                self._use_stream = False
                logger.warning("status streams keep failing (%s); polling from now on", exc)
        finally:
            if not missing:  # after a 404, the others wait for the poll that tells why
                self._stream_checked.set()
        try:
            return await self._poll_completed(
                tracked, handle, origin, at_once=True, after_stream_404=missing
            )
        finally:
            self._stream_checked.set()

    async def _stream_wanted(self) -> bool:
        """Whether to open a stream; until one has answered, others wait for the first.

        A server without a stream route answers 404: only the first item of a run pays for
        learning that, the rest of the run polls.
        """
        if self._use_stream and not self._stream_checked.is_set():
            if self._stream_probing:
                await self._stream_checked.wait()
            self._stream_probing = True
        return self._use_stream

    async def _poll_completed(
        self,
        tracked: _Tracked,
        handle: RequestHandle,
        origin: float,
        *,
        at_once: bool,
        after_stream_404: bool = False,
    ) -> Completed:
        """Poll when the job is likely done (`poll_schedule.py`); after a failed stream, at once
        (the job may be done already, and after a 404 the poll tells whether the route exists).

        `max_status_errors` failures in a row give the item up for now.
        """
        endpoint = tracked.row.endpoint_id
        loop = asyncio.get_running_loop()
        row = tracked.row
        item = ps.ItemPolls(
            elapsed=loop.time() - origin,
            first_position=row.queue_position_first,
            scout=self._take_scout(endpoint),
            probe=ps.probe_share(row.item_index),
        )
        errors = Backoff(self._opt.poll_interval, self._opt.poll_ceiling, self._opt.poll_backoff)
        error_count = 0
        plan = ps.NextPoll(0.0) if at_once else self._plan(item, endpoint)
        while True:
            plan = await self._until_poll(item, plan, endpoint, origin)
            try:
                status = await self._client.queue.status(handle)
            except FalNotFoundError:
                raise
            except FalError as exc:
                error_count += 1
                if not exc.retryable or error_count >= self._opt.max_status_errors:
                    raise
                plan = ps.NextPoll(errors.next(), "follow_up")  # a plain wait, never moved
                continue
            error_count = 0
            if after_stream_404:
                self._no_stream_route()
                after_stream_404 = False
            self._on_status(tracked, status)
            before, item = item, ps.seen(item, status, loop.time() - origin, plan.kind)
            self._learn(endpoint, before, item, plan)
            if isinstance(status, Completed):
                return status
            plan = self._plan(item, endpoint)

    def _take_scout(self, endpoint: str) -> bool:
        """Whether this item scouts: nothing is known of the endpoint's jobs and the run has
        sent fewer than `SCOUTS` scouts there."""
        if self._times.times(endpoint).aim is not None:
            return False
        sent = self._scouts.get(endpoint, 0)
        if sent >= ps.SCOUTS:
            return False
        self._scouts[endpoint] = sent + 1
        return True

    async def _until_poll(
        self, item: ps.ItemPolls, plan: ps.NextPoll, endpoint: str, origin: float
    ) -> ps.NextPoll:
        """Sleep until the planned poll; an aim learned or moved meanwhile moves it.

        A blind wait ends early when the endpoint's first job ends (its aim is then known); an
        aimed one ends early when a probe moved the aim earlier, and sleeps on if other items
        have moved it later. Returns the poll's plan.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + plan.delay
        while True:
            if plan.kind == "blind":
                await self._sleep_unless_aim(endpoint, deadline - loop.time())
            elif plan.kind == "aimed":
                await self._sleep_unless_aim_earlier(endpoint, deadline - loop.time())
            else:
                await asyncio.sleep(max(0.0, deadline - loop.time()))
            if plan.kind == "follow_up":
                return plan
            now = loop.time()
            fresh = self._plan(replace(item, elapsed=now - origin), endpoint)
            if fresh.kind == "blind":
                return plan  # still nothing known: the blind wait is over
            if fresh.kind != "aimed" or fresh.delay <= ps.MIN_DELAY:
                return replace(plan, kind="aimed")
            plan, deadline = fresh, now + fresh.delay

    async def _sleep_unless_aim(self, endpoint: str, seconds: float) -> None:
        aim_known = self._aim_known.setdefault(endpoint, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(aim_known.wait(), max(0.0, seconds))

    async def _sleep_unless_aim_earlier(self, endpoint: str, seconds: float) -> None:
        earlier = self._aim_earlier.setdefault(endpoint, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(earlier.wait(), max(0.0, seconds))

    def _plan(self, item: ps.ItemPolls, endpoint: str) -> ps.NextPoll:
        return ps.next_poll(
            item,
            self._times.times(endpoint),
            first_interval=self._opt.poll_interval,
            backoff=self._opt.poll_backoff,
            ceiling=self._opt.poll_ceiling,
        )

    def _learn(
        self, endpoint: str, before: ps.ItemPolls, after: ps.ItemPolls, plan: ps.NextPoll
    ) -> None:
        status = after.status
        if isinstance(status, Completed):
            self._times.ran(endpoint, status.inference_time)
            not_done = before.elapsed if before.polls else 0.0
            if status.inference_time is not None:
                not_done = max(not_done, before.queued_until + status.inference_time)
            self._times.first_done(endpoint, after.elapsed, not_done)
        if plan.kind == "aimed":
            aim = self._times.times(endpoint).aim
            probe = before.probe is not None and not before.aimed  # the probe's early poll
            self._times.aimed(endpoint, after.elapsed, isinstance(status, Completed), probe=probe)
            moved = self._times.times(endpoint).aim
            if aim is not None and moved is not None and moved < aim:
                # Wake the items sleeping towards the old aim (once: a fresh event for later).
                self._aim_earlier.pop(endpoint, asyncio.Event()).set()
        self._announce_aim(endpoint)

    def _announce_aim(self, endpoint: str) -> None:
        """Wake the blind waits of an endpoint once it has an aim."""
        if self._times.times(endpoint).aim is not None:
            self._aim_known.setdefault(endpoint, asyncio.Event()).set()

    def _no_stream_route(self) -> None:
        """A stream answered 404 for a request whose status exists: the server has no stream."""
        if self._use_stream:
            self._use_stream = False
            logger.warning("the status stream route answers 404; polling from now on")
        self._stream_checked.set()

    def _on_status(self, tracked: _Tracked, status: QueueStatus) -> None:
        if isinstance(status, Completed):
            tracked.completed_at = utc_now()
            return
        new = t.after_status(tracked.row, status, utc_now())
        if new is not tracked.row:
            tracked.row = self._rec.put(new)

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
            return self._rec.fail(row, failure_from_error(exc, retryable=False))
        except FalNotFoundError as exc:
            return self._rec.retry_or_fail(row, failure_from_error(exc, retryable=True))
        except FalError as exc:
            if is_job_failure(exc):
                return self._rec.retry_or_fail(row, failure_from_error(exc))
            if not exc.retryable:
                return self._rec.fail(row, failure_from_error(exc, retryable=False))
            logger.warning(
                "could not fetch the result of request %s; left for the next run: %s",
                row.request_id,
                exc,
            )
            return row
        done = t.completed(
            row,
            completed,
            completed_at=tracked.completed_at or utc_now(),
            billable_units=result.billable_units,
            output=result.output,
        )
        self._rec.put(done)
        self._rec.ledger.completed(done, this_run=True)
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
        cancelled = await self._rec.put_durable(t.cancelled(row, utc_now()))
        self._report.cancelled += 1
        return cancelled
