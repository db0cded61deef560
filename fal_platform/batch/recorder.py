"""How a new row of one item is recorded, and the one decision every path shares: retry or fail.

Every row goes to the ledger (so per-state counts follow it) and to the writer (so it reaches
DuckDB); `SUBMITTED` and the submit intent wait until they are on disk (write-ahead, see
`item.py`); IN_QUEUE / IN_PROGRESS are coalesced (`transitions.durability`).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from fal_platform.batch import transitions as t
from fal_platform.batch.failures import Failure
from fal_platform.batch.ledger import Ledger
from fal_platform.batch.reconcile import Reconciler
from fal_platform.batch.rows import RequestRow
from fal_platform.batch.settings import BatchSettings
from fal_platform.batch.writer import RowWriter
from fal_platform.client import FalClient
from fal_platform.webhooks.inbox import WebhookInbox

logger = logging.getLogger("fal_platform.batch")


def utc_now() -> datetime:
    return datetime.now(UTC)


class Recorder:
    """What the parts of an item's life share within one run."""

    def __init__(
        self,
        client: FalClient,
        settings: BatchSettings,
        *,
        writer: RowWriter,
        reconciler: Reconciler,
        ledger: Ledger,
        stop: asyncio.Event,
        inbox: WebhookInbox | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.reconciler = reconciler
        self.report = ledger.report
        self.stop = stop
        self._writer = writer
        self.ledger = ledger
        self.inbox = inbox
        """Webhook mode's inbox (`await_webhook.py`); None when following status."""

    def put(self, row: RequestRow) -> RequestRow:
        self.ledger.record(row)
        self._writer.put(row, wake=t.durability(row.state) is not t.Durability.COALESCED)
        return row

    async def put_durable(self, row: RequestRow) -> RequestRow:
        self.ledger.record(row)
        await self._writer.put_durable(row)
        return row

    def retry_or_fail(self, row: RequestRow, failure: Failure) -> RequestRow:
        if self.stop.is_set() or not t.may_retry(row, failure, self.settings.max_attempts):
            return self.fail(row, failure)
        logger.info(
            "request %s (item line %d) failed with %s; resubmitting (attempt %d of %d)",
            row.request_id,
            row.line,
            failure.error_type,
            row.attempts + 1,
            self.settings.max_attempts,
        )
        self.reconciler.remember(row.request_id)
        return self.put(t.retry(row, failure))

    def fail(self, row: RequestRow, failure: Failure) -> RequestRow:
        failed = self.put(t.failed(row, failure, utc_now()))
        self.ledger.failed(failed, failure)
        return failed
