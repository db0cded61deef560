"""Rules on `media.archive`, as queries returning the offending rows (Dagster checks wrap them
in `assets/media/checks.py`).

fal guarantees its files for 7 days; a completed file still not archived after `STALE_AFTER`
is one day from being lost. A `lost` file is already gone. A stored object that is missing or
has the wrong size means the archive itself is damaged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from fal_platform.batch.rows import RequestState
from fal_platform.batch.tables import MEDIA_ARCHIVE, MEDIA_FILES, REQUESTS
from fal_platform.media.archive_table import ArchiveRow, ArchiveStatus
from fal_platform.media.quality import SAMPLE, RuleOutcome
from fal_platform.store.backend import SqlReader

STALE_AFTER = timedelta(days=6)
"""fal keeps files at least 7 days: a day's margin to archive what is still missing."""


def stale_unarchived(reader: SqlReader, prompt_set: str | None, now: datetime) -> RuleOutcome:
    """Downloadable files of requests completed before `now - STALE_AFTER`, not archived."""
    if not reader.table_exists(*MEDIA_FILES.name.split(".")):
        return RuleOutcome(0, [])
    archived = reader.table_exists(*MEDIA_ARCHIVE.name.split("."))
    params: list[object] = [RequestState.COMPLETED.value, now - STALE_AFTER]
    params += [ArchiveStatus.ARCHIVED.value] if archived else []
    partition = "TRUE"
    if prompt_set is not None:
        params.append(prompt_set)
        partition = f"f.prompt_set = ${len(params)}"
    join = f"LEFT JOIN {MEDIA_ARCHIVE.name} a ON a.url = f.url" if archived else ""
    not_archived = "(a.url IS NULL OR a.status <> $3)" if archived else "TRUE"
    rows = reader.rows(
        f"""
        SELECT f.url FROM {MEDIA_FILES.name} f
        JOIN {REQUESTS.name} r ON r.prompt_set = f.prompt_set AND r.item_key = f.item_key
        {join}
        WHERE {partition} AND r.state = $1 AND r.completed_at < $2
          AND (f.url LIKE 'http://%' OR f.url LIKE 'https://%')
          AND {not_archived}
        ORDER BY f.url
        """,
        params,
    )
    return RuleOutcome(len(rows), [url for (url,) in rows[:SAMPLE]])


def lost_files(rows: Sequence[ArchiveRow]) -> RuleOutcome:
    lost = [row.url for row in rows if row.status == ArchiveStatus.LOST]
    return RuleOutcome(len(lost), lost[:SAMPLE])


def damaged_objects(
    rows: Sequence[ArchiveRow], size_of: Callable[[str], int | None]
) -> RuleOutcome:
    """Archived rows whose stored object is absent (`size_of` None) or of another size."""
    damaged = []
    for row in rows:
        if row.status != ArchiveStatus.ARCHIVED or row.stored_uri is None:
            continue
        found = size_of(row.stored_uri)
        if found != row.bytes:
            state = "missing" if found is None else f"{found} bytes, expected {row.bytes}"
            damaged.append(f"{row.stored_uri}: {state}")
    return RuleOutcome(len(damaged), damaged[:SAMPLE])
