"""`media.archive`: one row per media URL, saying where its bytes are kept and whether fal still
had them.

The row type is the table's one declaration (`batch/table_spec.py` derives the DDL); the spec
is exported by `batch/tables.py` next to the other batch tables. Reads and writes are here
(`ArchiveTable`, which also creates the table), through the generic table backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from fal_platform.batch.table_spec import TableSpec, sql_column
from fal_platform.store.backend import TableBackend


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
    """Reads and upserts `media.archive` rows through the platform's table backend (DuckDB or
    Postgres, `fal_platform/store/backend.py`), one short session per call: never one held
    while files download. The table is created on first use."""

    def __init__(self, tables: TableBackend) -> None:
        self._tables = tables
        self._ready = False

    def _ensure(self) -> None:
        if not self._ready:
            self._tables.ensure(MEDIA_ARCHIVE)
            self._ready = True

    def load(self, prompt_set: str, urls: Sequence[str]) -> dict[str, ArchiveRow]:
        """The rows of these URLs of one prompt set, by URL (URLs never archived are absent)."""
        wanted = set(urls)
        if not wanted:
            return {}
        return {row.url: row for row in self.load_partition(prompt_set) if row.url in wanted}

    def load_partition(self, prompt_set: str | None) -> list[ArchiveRow]:
        """One prompt set's rows (every row with None), by URL."""
        self._ensure()
        where = {"prompt_set": prompt_set} if prompt_set is not None else {}
        return self._tables.load(MEDIA_ARCHIVE, where, ["url"])

    def upsert(self, rows: Sequence[ArchiveRow]) -> int:
        """Insert or replace rows by URL, in one statement."""
        if not rows:
            return 0
        self._ensure()
        return self._tables.upsert(MEDIA_ARCHIVE, list({row.url: row for row in rows}.values()))
