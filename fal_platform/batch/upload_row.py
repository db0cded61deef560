"""A row of `generation.uploads`: one local file uploaded to fal's storage, by content."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from fal_platform.batch.table_spec import sql_column


@dataclass(frozen=True)
class UploadRow:
    """Keyed by the bytes' sha256, so the same content is uploaded once whatever its name."""

    sha256: str
    file_name: str
    """The name it was first uploaded under (the URL ends with it)."""
    content_type: str
    bytes: int = field(metadata=sql_column("BIGINT"))
    url: str
    uploaded_at: datetime
    expires_at: datetime | None
    """When fal deletes it: the lifecycle asked for, or fal's default retention."""
