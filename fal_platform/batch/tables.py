"""The batch tables: which row dataclass each is, its name and its key; and their DDL.

Columns are declared once, by the row dataclasses in `batch/rows.py`; `batch/table_spec.py`
derives the DDL, the Arrow schema used for bulk writes and the SELECT used for reads from them.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fal_platform.batch.rows import MediaRow, RequestRow, TimingRow
from fal_platform.batch.table_spec import HUGEINT_LIMIT, TableSpec, quote
from fal_platform.media.archive_table import MEDIA_ARCHIVE

__all__ = [
    "ALL_TABLES",
    "HUGEINT_LIMIT",
    "MEDIA_ARCHIVE",
    "MEDIA_FILES",
    "MEDIA_TIMINGS",
    "REQUESTS",
    "RowT",
    "TableSpec",
    "quote",
    "schema_statements",
]

RowT = TypeVar("RowT", RequestRow, MediaRow, TimingRow)

REQUESTS = TableSpec("generation.requests", RequestRow, key=("prompt_set", "item_key"))
MEDIA_FILES = TableSpec(
    "media.files", MediaRow, key=("prompt_set", "item_key", "position"), declare_key=False
)
MEDIA_TIMINGS = TableSpec(
    "media.timings", TimingRow, key=("prompt_set", "item_key"), declare_key=False
)

ALL_TABLES: tuple[TableSpec[Any], ...] = (REQUESTS, MEDIA_FILES, MEDIA_TIMINGS)
"""The tables `BatchStore` creates. `MEDIA_ARCHIVE` (declared in `media/archive_table.py`) is
created and written by its own store there, `ArchiveTable`, so the batch store's schema stays
as it was; a store serving every table (another database) lists both."""


def schema_statements(database: str) -> list[str]:
    """DDL for every batch table in the attached database `database` (idempotent)."""
    schemas = dict.fromkeys(table.schema for table in ALL_TABLES)
    return [f"CREATE SCHEMA IF NOT EXISTS {quote(database)}.{schema}" for schema in schemas] + [
        table.ddl(database) for table in ALL_TABLES
    ]
