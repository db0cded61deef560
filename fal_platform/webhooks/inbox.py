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
it. Writes are one `INSERT ... SELECT ... ON CONFLICT` over an Arrow batch, as the store's
upserts are; reads take `$n` parameters (DuckDB and psycopg both do). On another backend
`record` is an upsert by `request_id` and `outcomes` a load by it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fal_platform.batch.duckdb_io import ConnectionFactory, duckdb_connection_factory, staged
from fal_platform.batch.tables import WEBHOOK_INBOX, quote
from fal_platform.webhooks.rows import WebhookRow

_READ_CHUNK = 500
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
INBOX_SUFFIX = ".webhook_inbox.duckdb"


def inbox_path(platform_db: Path | str) -> Path:
    """The DuckDB inbox file beside the platform's DuckDB file (`data/fal_platform.duckdb` ->
    `data/fal_platform.webhook_inbox.duckdb`)."""
    path = Path(platform_db)
    return path.with_name(path.stem + INBOX_SUFFIX)


def _params(row: WebhookRow) -> list[WebhookRow]:
    values = []
    for column in WEBHOOK_INBOX.columns:
        value = getattr(row, column.name)
        encode = column.encode
        values.append(value if value is None or encode is None else encode(value))
    return values


class WebhookInbox:
    def __init__(self, connect: ConnectionFactory) -> None:
        self._connect = connect
        self._schema_ready = False

    @classmethod
    def beside(cls, platform_db: Path | str) -> WebhookInbox:
        """The inbox of the platform's DuckDB file `platform_db` (in its own file)."""
        return cls(duckdb_connection_factory(inbox_path(platform_db)))

    def _table(self, conn: Any) -> str:
        database = str(conn.execute("SELECT current_database()").fetchall()[0][0])
        if not self._schema_ready:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(database)}.{WEBHOOK_INBOX.schema}")
            conn.execute(WEBHOOK_INBOX.ddl(database))
            self._schema_ready = True
        return WEBHOOK_INBOX.qualified(database)

    def record(self, rows: Sequence[WebhookRow]) -> int:
        """Insert new deliveries; a request id already there only counts one more delivery.

        The first verified copy wins: fal sends the same outcome each time it retries.
        """
        if not rows:
            return 0
        # One set-based statement over an Arrow batch, like the store's upserts: a statement
        # per row (executemany) costs DuckDB ~60 ms each, which held the file for seconds.
        with self._connect() as conn:
            # Stamped once the file is ours: readers look for new rows by this time
            # (`received_since`), so it must not run ahead of the commit by a lock wait.
            now = datetime.now(UTC)
            for row in rows:
                row.received_at = now
            self._insert(conn, rows)
        return len(rows)

    def _insert(self, conn: Any, rows: Sequence[WebhookRow]) -> None:
        columns = ", ".join(map(quote, WEBHOOK_INBOX.column_names))
        with staged(conn, WEBHOOK_INBOX.to_arrow(list(rows))) as source:
            target = self._table(conn)
            conn.execute(
                f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {source} "
                f'ON CONFLICT ("request_id") DO UPDATE SET '
                f'"deliveries" = {target}."deliveries" + excluded."deliveries"'
            )

    def outcomes(self, request_ids: Sequence[str]) -> list[WebhookRow]:
        """The recorded deliveries among `request_ids` (in no particular order)."""
        found: list[WebhookRow] = []
        with self._connect() as conn:
            table = self._table(conn)
            database = table.split(".", 1)[0].strip('"')
            select = WEBHOOK_INBOX.select_sql(database)
            for start in range(0, len(request_ids), _READ_CHUNK):
                chunk = list(request_ids[start : start + _READ_CHUNK])
                marks = ", ".join(f"${n}" for n in range(1, len(chunk) + 1))
                records = conn.execute(
                    f'{select} WHERE "request_id" IN ({marks})', chunk
                ).fetchall()
                found.extend(WEBHOOK_INBOX.from_records(records))
        return found

    def received_since(self, since: datetime) -> list[tuple[str, datetime]]:
        """(request id, first receipt) of the deliveries first received at or after `since`:
        a cheap look for what is new, without the payloads."""
        with self._connect() as conn:
            table = self._table(conn)
            records = conn.execute(
                f'SELECT "request_id", epoch_us("received_at") FROM {table} '
                'WHERE "received_at" >= $1',
                [since],
            ).fetchall()
        return [(request_id, _EPOCH + timedelta(microseconds=us)) for request_id, us in records]

    def count(self) -> int:
        with self._connect() as conn:
            table = self._table(conn)
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
