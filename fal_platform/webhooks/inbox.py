"""`generation.webhook_inbox`: verified webhook deliveries, written by receivers, drained by runs.

Why an inbox rather than writing outcomes straight onto `generation.requests`: the engine keeps
every in-flight row in memory and writes whole rows (`batch/writer.py` upserts all columns), so
a receiver writing COMPLETED onto a row could be overwritten a moment later by the engine's own
SUBMITTED write for the same item (a fast job's webhook can arrive before the submit's answer
is even committed). With an inbox, the request row has one writer, the engine, and every rule
about it (retry or fail, attempts, the never-pay-twice write-ahead) stays in one place; the
receiver only appends facts. Each delivery is keyed by fal's request id: a duplicate only
counts itself (`deliveries + 1`), so fal's retries are idempotent, and an id no run knows
stays in the inbox, recorded and harmless.

With DuckDB the inbox is a file of its own beside the platform's (`inbox_path`): DuckDB lets
one process write a file at a time, and a run at high concurrency keeps the platform file busy
with its group commits, so a receiver sharing it waited seconds per delivery (fal would time
out and retry). In its own file the receiver only ever waits for the run's inbox reads, a few
milliseconds a few times a second; both sides still use short connections (one batch each). On
a server database the table sits beside the others and any number of receivers and runs share
it. Reads and writes go through the generic table backend (`fal_platform/store/backend.py`),
the same on both: a write is one upsert by `request_id` whose spec adds `deliveries` up
(`WEBHOOK_INBOX.accumulate`), reads are loads by request id or by receipt time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from fal_platform.batch.tables import WEBHOOK_INBOX
from fal_platform.store.backend import AtLeast, OneOf, TableBackend
from fal_platform.store.target import StoreTarget
from fal_platform.webhooks.rows import WebhookRow

_READ_CHUNK = 500
INBOX_SUFFIX = ".webhook_inbox.duckdb"


def inbox_path(platform_db: Path | str) -> Path:
    """The DuckDB inbox file beside the platform's DuckDB file (`data/fal_platform.duckdb` ->
    `data/fal_platform.webhook_inbox.duckdb`)."""
    path = Path(platform_db)
    return path.with_name(path.stem + INBOX_SUFFIX)


class WebhookInbox:
    def __init__(self, tables: TableBackend) -> None:
        self._tables = tables
        self._ready = False

    @classmethod
    def beside(cls, platform_db: Path | str) -> WebhookInbox:
        """The inbox of the platform's DuckDB file `platform_db` (in its own file)."""
        return cls(StoreTarget(inbox_path(platform_db)).backend())

    @classmethod
    def of(cls, store: StoreTarget) -> WebhookInbox:
        """The inbox of the platform's tables: beside the DuckDB file, or in the same Postgres
        database (any number of receivers and runs share it)."""
        if store.postgres is not None:
            return cls(store.backend())
        return cls.beside(store.duckdb_path)

    def _ensure(self) -> None:
        if not self._ready:
            self._tables.ensure(WEBHOOK_INBOX)
            self._ready = True

    def record(self, rows: Sequence[WebhookRow]) -> int:
        """Insert new deliveries; a request id already there only counts one more delivery.

        The first verified copy wins: fal sends the same outcome each time it retries.
        """
        if not rows:
            return 0
        self._ensure()
        # Stamped just before the write: readers look for new rows by this time
        # (`received_since`), so it must not run far ahead of the commit.
        now = datetime.now(UTC)
        merged: dict[str, WebhookRow] = {}
        for row in rows:
            first = merged.get(row.request_id)
            merged[row.request_id] = (
                replace(first, deliveries=first.deliveries + row.deliveries)
                if first
                else replace(row, received_at=now)
            )
        self._tables.upsert(WEBHOOK_INBOX, list(merged.values()))
        return len(rows)

    def outcomes(self, request_ids: Sequence[str]) -> list[WebhookRow]:
        """The recorded deliveries among `request_ids` (in no particular order)."""
        self._ensure()
        found: list[WebhookRow] = []
        for start in range(0, len(request_ids), _READ_CHUNK):
            chunk = tuple(request_ids[start : start + _READ_CHUNK])
            found.extend(self._tables.load(WEBHOOK_INBOX, {"request_id": OneOf(chunk)}, ()))
        return found

    def received_since(self, since: datetime) -> list[WebhookRow]:
        """The deliveries first received at or after `since`."""
        self._ensure()
        return self._tables.load(WEBHOOK_INBOX, {"received_at": AtLeast(since)}, ())

    def count(self) -> int:
        self._ensure()
        return sum(self._tables.count(WEBHOOK_INBOX, {}).values())
