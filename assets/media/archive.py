"""`media/archive`: every generated file copied into the platform's own storage.

fal deletes generated files after 7 days or more; this asset downloads each file of the
partition's `media.files` into `MediaArchiveResource`'s root (content-addressed, any fsspec
filesystem) and records it in `media.archive` (`fal_platform/media/archive.py`). It holds no
DuckDB pool slot: downloads can take minutes, and its table writes are short and few.
"""

from collections.abc import Callable

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field

from assets.keys import MEDIA_ARCHIVE_KEY, MEDIA_FILES_KEY, MEDIA_GROUP, OWNERS
from assets.media.assets import FOLLOW_REQUESTS
from assets.partitions import prompt_sets
from fal_platform.batch.store import BatchStore
from fal_platform.batch.tables import MEDIA_ARCHIVE
from fal_platform.media.archive import ArchiveReport, archive_partition
from fal_platform.media.archive_root import MediaRoot
from fal_platform.media.archive_table import ArchiveStatus, ArchiveTable
from fal_platform.media.gallery import archive_preview
from resources.database import platform_tables
from resources.media_archive import MediaArchiveResource


class ArchiveConfig(dg.Config):
    retry_lost: bool = Field(
        default=False, description="Try files recorded as `lost` (fal answered 404/410) again."
    )


def _reader(root: MediaRoot) -> Callable[[str], bytes | None]:
    def read(uri: str) -> bytes | None:
        try:
            return root.read(root.path_of(uri))
        except OSError:
            return None

    return read


def _metadata(
    report: ArchiveReport, root: MediaRoot, preview: str
) -> dict[str, "dg.RawMetadataValue"]:
    return {
        "dagster/table_name": MEDIA_ARCHIVE.name,
        "dagster/row_count": len(report.rows),
        "root": root.shown,
        "archived": report.count(ArchiveStatus.ARCHIVED),
        "lost": report.count(ArchiveStatus.LOST),
        "failed": report.count(ArchiveStatus.FAILED),
        "downloaded_this_run": report.downloaded,
        "reused": report.reused,
        "archived_bytes": report.archived_bytes,
        "bytes_downloaded": report.bytes_downloaded,
        "content_type_mismatches": report.type_mismatches,
        "inline_files_skipped": report.skipped,
        "seconds": round(report.seconds, 3),
        "preview": dg.MetadataValue.md(preview),
    }


@dg.asset(
    key=MEDIA_ARCHIVE_KEY,
    deps=[MEDIA_FILES_KEY],
    partitions_def=prompt_sets,
    group_name=MEDIA_GROUP,
    kinds={"duckdb"},
    owners=OWNERS,
    automation_condition=FOLLOW_REQUESTS,
    description="Every media file downloaded into the platform's own content-addressed store "
    "(FAL_PLATFORM_MEDIA_ROOT) before fal deletes it: sha256, size, sniffed content type, "
    "stored URI and status (archived, lost, failed) per URL.",
)
def media_archive(
    context: dg.AssetExecutionContext,
    config: ArchiveConfig,
    duckdb: DuckDBResource,
    media_archive: MediaArchiveResource,
) -> dg.MaterializeResult:
    root = media_archive.open_root()
    tables = platform_tables(duckdb)
    files = BatchStore(tables).load_media(context.partition_key)
    table = ArchiveTable(tables)
    report = archive_partition(
        files, table, root, media_archive.settings(retry_lost=config.retry_lost)
    )
    metadata = _metadata(report, root, archive_preview(files, report.rows, _reader(root)))
    failed = [row for row in report.rows if row.status == ArchiveStatus.FAILED]
    if failed:
        examples = "; ".join(f"{row.url}: {row.error}" for row in failed[:5])
        raise dg.Failure(
            f"{len(failed)} of {len(report.rows)} files could not be archived (the next run "
            f"tries them again): {examples}",
            metadata=metadata,
        )
    if report.count(ArchiveStatus.LOST):
        context.log.warning(
            f"{report.count(ArchiveStatus.LOST)} files are lost: fal no longer has them"
        )
    return dg.MaterializeResult(metadata=metadata)
