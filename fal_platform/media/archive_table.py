"""`media.archive`: one row per media URL, saying where its bytes are kept and whether fal still
had them.

The row type is the table's one declaration (`batch/table_spec.py` derives the DDL); the spec
is exported by `batch/tables.py` next to the other batch tables. Reads and writes are here
(`ArchiveTable`, which also creates the table), in portable SQL (`INSERT ... ON CONFLICT`),
through any `ConnectionFactory`, one short connection per call: never one held while files
download.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import duckdb

from fal_platform.batch.duckdb_io import ConnectionFactory, staged
from fal_platform.batch.table_spec import TableSpec, quote, sql_column


class ArchiveStatus(StrEnum):
    ARCHIVED = "archived"
    """Stored under `stored_uri`; its sha256 and size were checked on the way in."""
    LOST = "lost"
    """fal answered 404 or 410: the file is gone. Not retried unless forced."""
    FAILED = "failed"
    """Anything else (5xx after retries, a timeout, a short body, a full disk): retried next run."""


@dataclass(frozen=True)
class ArchiveRow:
    """One row of `media.archive`; joins `media.files` on `url`."""

    url: str
    prompt_set: str
    request_id: str | None
    status: ArchiveStatus
    sha256: str | None = None
    bytes: int | None = field(default=None, metadata=sql_column("BIGINT"))
    content_type: str | None = None
    """Sniffed from the bytes, not taken from fal (a mismatch is noted in `error`)."""
    stored_uri: str | None = None
    """`file://...` or the fsspec URI (`s3://bucket/prefix/ab/abcd....png`)."""
    error: str | None = None
    archived_at: datetime | None = None


MEDIA_ARCHIVE = TableSpec("media.archive", ArchiveRow, key=("url",))


class ArchiveTable:
    """Reads and upserts `media.archive` rows, one short connection per call."""

    def __init__(self, connect: ConnectionFactory) -> None:
        self._connect = connect

    def _ensure(self, conn: duckdb.DuckDBPyConnection, database: str) -> None:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(database)}.{MEDIA_ARCHIVE.schema}")
        conn.execute(MEDIA_ARCHIVE.ddl(database))

    def load(self, urls: Sequence[str]) -> dict[str, ArchiveRow]:
        """The rows of these URLs, by URL (URLs never archived are absent)."""
        if not urls:
            return {}
        with self._connect() as conn:
            database = _database(conn)
            self._ensure(conn, database)
            records = conn.execute(
                f"{MEDIA_ARCHIVE.select_sql(database)} WHERE url IN (SELECT unnest(?::VARCHAR[]))",
                [list(urls)],
            ).fetchall()
        return {row.url: row for row in MEDIA_ARCHIVE.from_records(records)}

    def load_partition(self, prompt_set: str | None) -> list[ArchiveRow]:
        """One prompt set's rows (every row with None), by URL."""
        where, params = ("prompt_set = ?", [prompt_set]) if prompt_set is not None else ("TRUE", [])
        with self._connect() as conn:
            database = _database(conn)
            self._ensure(conn, database)
            records = conn.execute(
                f"{MEDIA_ARCHIVE.select_sql(database)} WHERE {where} ORDER BY url", params
            ).fetchall()
        return MEDIA_ARCHIVE.from_records(records)

    def upsert(self, rows: Sequence[ArchiveRow]) -> int:
        """Insert or replace rows by URL, in one statement."""
        if not rows:
            return 0
        latest = {row.url: row for row in rows}
        names = MEDIA_ARCHIVE.column_names
        columns = ", ".join(map(quote, names))
        updates = ", ".join(
            f"{quote(name)} = excluded.{quote(name)}" for name in names if name != "url"
        )
        with self._connect() as conn:
            database = _database(conn)
            self._ensure(conn, database)
            table = MEDIA_ARCHIVE.to_arrow(list(latest.values()))
            with staged(conn, table) as source:
                conn.execute(
                    f"INSERT INTO {MEDIA_ARCHIVE.qualified(database)} ({columns}) "
                    f"SELECT {columns} FROM {source} ON CONFLICT (url) DO UPDATE SET {updates}"
                )
        return len(latest)


def _database(conn: duckdb.DuckDBPyConnection) -> str:
    return str(conn.execute("SELECT current_database()").fetchall()[0][0])
