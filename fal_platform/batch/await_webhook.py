"""Completion by webhook: wait for an item's outcome in the inbox instead of asking fal.

In webhook mode every submit carries `?fal_webhook=<settings.webhook_url>`; fal POSTs the
outcome to the receiver (`fal_platform/webhooks/`), which records it in
`generation.webhook_inbox`. Here one `InboxWatch` per run reads the inbox for every item still
waiting (one short query per `webhook_check_interval`, whatever the concurrency), and each item
turns its delivery into its next row through the same rules as a fetched result. A finished
item then costs one request to fal: the submit.

Lost deliveries: an item with no delivery after `webhook_fallback_after` seconds asks fal once
(a status check); a finished job's result is then fetched as in status mode, an unfinished one
waits again, twice as long each time. Crash safety is the engine's: a run killed while waiting
left its rows SUBMITTED with fal's request id; the rerun re-attaches them and finds the
deliveries that arrived in between in the inbox, so nothing is resubmitted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx

from fal_platform.batch import transitions as t
from fal_platform.batch.failures import failure_from_error, is_job_failure
from fal_platform.batch.recorder import Recorder
from fal_platform.batch.rows import RequestRow
from fal_platform.client import (
    Completed,
    FalAuthenticationError,
    FalError,
    FalNotFoundError,
    FalValidationError,
    QueueStatus,
)
from fal_platform.client.auth import ApiKey
from fal_platform.client.error_mapping import REQUEST_ID_HEADER, error_from_response
from fal_platform.webhooks.inbox import WebhookInbox
from fal_platform.webhooks.rows import WebhookRow

logger = logging.getLogger("fal_platform.batch")

MAX_FALLBACK_WAIT = 3600.0
"""The wait between fallback status checks doubles up to this (an hour-long video job)."""
RECEIPT_OVERLAP = timedelta(seconds=2)
"""Each turn re-reads this much before the previous one: receipts are stamped by the
receivers' clocks, at their write (`WebhookInbox.record`)."""
_STATUS_CODE = re.compile(r"\b([1-5]\d\d)\b")


class InboxWatch:
    """One reader of the inbox for all the items of a run that wait on a webhook.

    Each turn it looks up, by id, the items that started waiting since the last turn (their
    delivery may be old: a rerun after a crash), and asks the inbox only for what was received
    since the previous turn, so a turn stays small whatever the number of items waiting.
    """

    def __init__(self, inbox: WebhookInbox, interval: float) -> None:
        self._inbox = inbox
        self._interval = interval
        self._waiting: dict[str, asyncio.Future[WebhookRow]] = {}
        self._task: asyncio.Task[None] | None = None
        self.reads = 0

    async def wait(self, request_id: str, timeout: float) -> WebhookRow | None:
        """The delivery for `request_id`, or None if none arrived within `timeout` seconds."""
        future = self._waiting.get(request_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._waiting[request_id] = future
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="webhook-inbox-watch")
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            return None
        finally:
            if self._waiting.get(request_id) is future and not future.done():
                del self._waiting[request_id]

    async def _run(self) -> None:
        cursor: datetime | None = None
        looked_up: set[str] = set()
        while self._waiting:
            started = datetime.now(UTC)
            waiting = set(self._waiting)
            fresh = sorted(waiting - looked_up)
            try:
                found = await asyncio.to_thread(self._read, fresh, waiting, cursor)
            except Exception as exc:  # a locked or unreachable store: try again next time
                logger.warning("could not read the webhook inbox: %s", exc)
            else:
                self.reads += 1
                looked_up = (looked_up | set(fresh)) & set(self._waiting)
                cursor = started - RECEIPT_OVERLAP
                for row in found:
                    future = self._waiting.pop(row.request_id, None)
                    if future is not None and not future.done():
                        future.set_result(row)
            await asyncio.sleep(self._interval)

    def _read(
        self, fresh: list[str], waiting: set[str], cursor: datetime | None
    ) -> list[WebhookRow]:
        # Rows received since the last turn come whole from that one read; only the items
        # that just started waiting are looked up by id (their delivery may be older).
        found = self._inbox.outcomes(sorted(fresh)) if fresh else []
        if cursor is not None:
            known = set(fresh)
            found += [
                row
                for row in self._inbox.received_since(cursor)
                if row.request_id in waiting and row.request_id not in known
            ]
        return found

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def delivery_error(delivery: WebhookRow, url: str, api_key: ApiKey) -> FalError:
    """An ERROR delivery as the error its result fetch would have raised: fal's `error` names
    the status code ("Invalid status code: 422"), the payload is the error body."""
    match = _STATUS_CODE.search(delivery.error or "")
    code = int(match.group(1)) if match else 500
    body = delivery.payload if delivery.payload is not None else {"detail": delivery.error}
    response = httpx.Response(
        code,
        json=body,
        headers={REQUEST_ID_HEADER: delivery.request_id},
        request=httpx.Request("GET", url),
    )
    return error_from_response(response, api_key=api_key)


class WebhookAwaiter:
    def __init__(self, rec: Recorder, inbox: WebhookInbox) -> None:
        self._rec = rec
        self._opt = rec.settings
        self.watch = InboxWatch(inbox, rec.settings.webhook_check_interval)
        self.fallback_checks = 0

    async def wait(
        self, row: RequestRow, check: Callable[[], Awaitable[QueueStatus]]
    ) -> Completed | WebhookRow:
        """The item's delivery; or, after a fallback status check finds the job done,
        its `Completed` status (the caller then fetches the result as in status mode)."""
        assert row.request_id is not None
        wait_for = self._opt.webhook_fallback_after
        while True:
            delivery = await self.watch.wait(row.request_id, wait_for)
            if delivery is not None:
                if delivery.status == "OK" and delivery.payload_error is not None:
                    return Completed()  # the output did not fit in the delivery: fetch it
                return delivery
            self.fallback_checks += 1
            try:
                status = await check()
            except (FalAuthenticationError, FalNotFoundError):
                raise
            except FalError as exc:
                logger.info("fallback status check of %s failed: %s", row.request_id, exc)
            else:
                if isinstance(status, Completed):
                    return status
            wait_for = min(wait_for * 2, MAX_FALLBACK_WAIT)

    def record(self, row: RequestRow, delivery: WebhookRow) -> RequestRow:
        """The item's next row from its delivery, by the rules of a fetched result."""
        rec = self._rec
        if delivery.status == "OK":
            done = t.completed(
                row,
                Completed(),
                completed_at=delivery.received_at,
                billable_units=None,
                output=delivery.payload,
            )
            rec.put(done)
            rec.ledger.completed(done, this_run=True)
            return t.without_result(done)
        error = delivery_error(delivery, row.response_url or "webhook", rec.client.settings.api_key)
        if isinstance(error, FalValidationError):
            return rec.fail(row, failure_from_error(error, retryable=False))
        if isinstance(error, FalNotFoundError):
            return rec.retry_or_fail(row, failure_from_error(error, retryable=True))
        if is_job_failure(error):
            return rec.retry_or_fail(row, failure_from_error(error))
        if not error.retryable:
            return rec.fail(row, failure_from_error(error, retryable=False))
        return rec.retry_or_fail(row, failure_from_error(error))
