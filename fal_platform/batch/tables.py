"""The batch tables: which row dataclass each is, its name and its key; and their DDL.

Columns are declared once, by the row dataclasses in `batch/rows.py`; `batch/table_spec.py`
derives the DDL, the Arrow schema used for bulk writes and the SELECT used for reads from them.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fal_platform.batch.rows import MediaRow, RequestRow, TimingRow
from fal_platform.batch.table_spec import HUGEINT_LIMIT, TableSpec, quote
from fal_platform.batch.upload_row import UploadRow
from fal_platform.media.archive_table import MEDIA_ARCHIVE
from fal_platform.webhooks.rows import WebhookRow

__all__ = [
    "ALL_TABLES",
    "HUGEINT_LIMIT",
    "MEDIA_ARCHIVE",
    "MEDIA_FILES",
    "MEDIA_TIMINGS",
    "REQUESTS",
    "UPLOADS",
    "WEBHOOK_INBOX",
    "RowT",
    "TableSpec",
    "quote",
]

RowT = TypeVar("RowT", RequestRow, MediaRow, TimingRow)

REQUESTS = TableSpec("generation.requests", RequestRow, key=("prompt_set", "item_key"))
MEDIA_FILES = TableSpec(
    "media.files", MediaRow, key=("prompt_set", "item_key", "position"), declare_key=False
)
MEDIA_TIMINGS = TableSpec(
    "media.timings", TimingRow, key=("prompt_set", "item_key"), declare_key=False
)

UPLOADS = TableSpec("generation.uploads", UploadRow, key=("sha256",))
"""Local files uploaded for `file:` inputs, not per prompt set. Created on first use by
`batch/uploads.py` rather than with the tables below: a set without local files leaves none."""

ALL_TABLES: tuple[TableSpec[Any], ...] = (REQUESTS, MEDIA_FILES, MEDIA_TIMINGS)
"""The tables `BatchStore` creates. `MEDIA_ARCHIVE` (declared in `media/archive_table.py`) is
created and written by its own store there, `ArchiveTable`, so the batch store's schema stays
as it was; a store serving every table (another database) lists both."""

WEBHOOK_INBOX = TableSpec(
    "generation.webhook_inbox", WebhookRow, key=("request_id",), accumulate=("deliveries",)
)
"""Verified webhook deliveries, drained by runs in webhook mode. Not one of the store's
`ALL_TABLES`: only webhook mode uses it, and `fal_platform/webhooks/inbox.py` creates it."""
