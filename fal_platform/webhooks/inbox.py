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

Both sides use short connections from the same `ConnectionFactory` as the store: one batch
per connection, so with DuckDB the receiver and the engine take turns on the file; on a
server database any number of receivers and engines share the table. The SQL is portable
(parameters, `INSERT ... ON CONFLICT`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fal_platform.batch.duckdb_io import ConnectionFactory
from fal_platform.batch.tables import WEBHOOK_INBOX, quote
from fal_platform.webhooks.rows import WebhookRow

_READ_CHUNK = 500


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
        names = WEBHOOK_INBOX.column_names
        columns = ", ".join(map(quote, names))
        marks = ", ".join("?" for _ in names)
        with self._connect() as conn:
            table = self._table(conn)
            conn.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({marks}) "
                f'ON CONFLICT ("request_id") DO UPDATE SET '
                f'"deliveries" = {table}."deliveries" + excluded."deliveries"',
                [_params(row) for row in rows],
            )
        return len(rows)

    def outcomes(self, request_ids: Sequence[str]) -> list[WebhookRow]:
        """The recorded deliveries among `request_ids` (in no particular order)."""
        found: list[WebhookRow] = []
        with self._connect() as conn:
            table = self._table(conn)
            database = table.split(".", 1)[0].strip('"')
            select = WEBHOOK_INBOX.select_sql(database)
            for start in range(0, len(request_ids), _READ_CHUNK):
                chunk = list(request_ids[start : start + _READ_CHUNK])
                marks = ", ".join("?" for _ in chunk)
                records = conn.execute(
                    f'{select} WHERE "request_id" IN ({marks})', chunk
                ).fetchall()
                found.extend(WEBHOOK_INBOX.from_records(records))
        return found

    def count(self) -> int:
        with self._connect() as conn:
            table = self._table(conn)
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
