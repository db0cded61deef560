"""`media/files` and `media/timings`: what each prompt set produced, and how long it took.

Both are derived from `generation/requests` alone (no fal calls), so re-materializing is cheap
and replaces exactly the partition's rows.
"""

from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.keys import (
    DUCKDB_POOL,
    MEDIA_FILES_KEY,
    MEDIA_GROUP,
    MEDIA_TIMINGS_KEY,
    OWNERS,
    REQUESTS_KEY,
)
from assets.partitions import prompt_sets
from fal_platform.batch.progress import percentile
from fal_platform.batch.rows import TimingRow
from fal_platform.batch.store import BatchStore
from fal_platform.batch.tables import MEDIA_FILES, MEDIA_TIMINGS
from fal_platform.media.extract import media_rows
from fal_platform.media.gallery import files_preview
from fal_platform.media.timings import timing_rows
from resources.database import platform_tables

# Follow a materialized requests partition without a manual step (the sensor's run also selects
# these assets; this covers partitions launched from the UI or a backfill).
FOLLOW_REQUESTS = dg.AutomationCondition.eager()

MEDIA_ASSET: dict[str, Any] = {
    "deps": [REQUESTS_KEY],
    "partitions_def": prompt_sets,
    "group_name": MEDIA_GROUP,
    "kinds": {"duckdb"},
    "owners": OWNERS,
    "pool": DUCKDB_POOL,
    "automation_condition": FOLLOW_REQUESTS,
}
"""What media/files and media/timings share: partitions, lineage, pool and automation."""


@dg.asset(
    key=MEDIA_FILES_KEY,
    **MEDIA_ASSET,
    description="One row per generated file (image, video, audio) of every completed request: "
    "URL, kind, content type, size, dimensions, duration, seed (lossless) and NSFW flag.",
)
def media_files(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
    store = BatchStore(platform_tables(duckdb))
    requests = store.load_requests(context.partition_key)
    rows = [row for request in requests for row in media_rows(request)]
    store.replace_media(context.partition_key, rows)
    by_kind: dict[str, int] = {}
    for row in rows:
        by_kind[row.media_kind] = by_kind.get(row.media_kind, 0) + 1
    return dg.MaterializeResult(
        metadata={
            "dagster/table_name": MEDIA_FILES.name,
            "dagster/row_count": len(rows),
            "media_by_kind": dg.MetadataValue.json(by_kind),
            "total_bytes": sum(row.file_size or 0 for row in rows),
            "preview": dg.MetadataValue.md(files_preview(rows)),
        }
    )


def _summary(values: list[float | None]) -> dict[str, float | None]:
    present = sorted(v for v in values if v is not None)
    return {"p50": percentile(present, 0.5), "p95": percentile(present, 0.95)}


@dg.asset(
    key=MEDIA_TIMINGS_KEY,
    **MEDIA_ASSET,
    description="Per request: seconds waiting in fal's queue, running (fal's figure and ours), "
    "in total, and how many attempts it took.",
)
def media_timings(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    store = BatchStore(platform_tables(duckdb))
    rows: list[TimingRow] = timing_rows(store.load_requests(context.partition_key))
    store.replace_timings(context.partition_key, rows)
    metadata: dict[str, dg.RawMetadataValue] = {
        "dagster/table_name": MEDIA_TIMINGS.name,
        "dagster/row_count": len(rows),
    }
    for name, values in {
        "queue_wait_seconds": [r.queue_wait_seconds for r in rows],
        "inference_seconds_fal": [r.inference_seconds_fal for r in rows],
        "total_seconds": [r.total_seconds for r in rows],
    }.items():
        for label, value in _summary(values).items():
            if value is not None:
                metadata[f"{name}_{label}"] = round(value, 3)
    return dg.MaterializeResult(metadata=metadata)
