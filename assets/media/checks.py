"""Checks on the media tables; the rules themselves live in `fal_platform.media.quality`."""

from collections.abc import Callable
from datetime import UTC, datetime

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.keys import DUCKDB_POOL, MEDIA_ARCHIVE_KEY, MEDIA_FILES_KEY, MEDIA_TIMINGS_KEY
from fal_platform.media.archive_quality import damaged_objects, lost_files, stale_unarchived
from fal_platform.media.archive_table import ArchiveRow, ArchiveTable
from fal_platform.media.quality import (
    RuleOutcome,
    completed_without_media,
    inconsistent_timings,
    malformed_urls,
)
from fal_platform.store.backend import SqlReader
from resources.database import platform_tables
from resources.media_archive import MediaArchiveResource

Rule = Callable[[SqlReader, str | None], RuleOutcome]


def rule_check(
    asset: dg.AssetKey, name: str, description: str, rule: Rule
) -> dg.AssetChecksDefinition:
    """An asset check that runs one rule on the checked partition (or on every row)."""

    @dg.asset_check(asset=asset, name=name, pool=DUCKDB_POOL, description=description)
    def check(
        context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource
    ) -> dg.AssetCheckResult:
        with platform_tables(duckdb).reader() as reader:
            outcome = rule(reader, _prompt_set(context))
        return check_result(context, outcome)

    return check


def _prompt_set(context: dg.AssetCheckExecutionContext) -> str | None:
    return context.partition_key if context.has_partition_key else None


def check_result(
    context: dg.AssetCheckExecutionContext,
    outcome: RuleOutcome,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
) -> dg.AssetCheckResult:
    """The check's result for one rule's outcome on the checked partition (or every row)."""
    return dg.AssetCheckResult(
        passed=outcome.passed,
        severity=severity,
        metadata={
            "prompt_set": _prompt_set(context) or "all",
            "violations": outcome.violations,
            "examples": dg.MetadataValue.json(outcome.examples),
        },
    )


media_checks = [
    rule_check(
        MEDIA_FILES_KEY,
        "every_completed_request_has_media",
        "Every completed request of a media-producing endpoint has at least one file.",
        completed_without_media,
    ),
    rule_check(
        MEDIA_FILES_KEY,
        "media_urls_well_formed",
        "Every media URL is an absolute http(s) URL or a data URI.",
        malformed_urls,
    ),
    rule_check(
        MEDIA_TIMINGS_KEY,
        "timings_consistent",
        "Timings are non-negative and queue wait + inference <= total (0.5 s tolerance).",
        inconsistent_timings,
    ),
]


def _archive_rows(
    context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource
) -> list[ArchiveRow]:
    return ArchiveTable(platform_tables(duckdb)).load_partition(_prompt_set(context))


@dg.asset_check(
    asset=MEDIA_ARCHIVE_KEY,
    name="completed_media_archived_in_time",
    pool=DUCKDB_POOL,
    description="No file of a request completed more than 6 days ago is still unarchived "
    "(fal keeps files for at least 7 days).",
)
def stale_media_check(
    context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource
) -> dg.AssetCheckResult:
    with platform_tables(duckdb).reader() as reader:
        outcome = stale_unarchived(reader, _prompt_set(context), datetime.now(UTC))
    return check_result(context, outcome, dg.AssetCheckSeverity.WARN)


@dg.asset_check(
    asset=MEDIA_ARCHIVE_KEY,
    name="no_lost_media",
    pool=DUCKDB_POOL,
    description="No file was lost: fal answered 404/410 before it was archived (violations: "
    "how many).",
)
def lost_media_check(
    context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource
) -> dg.AssetCheckResult:
    outcome = lost_files(_archive_rows(context, duckdb))
    return check_result(context, outcome, dg.AssetCheckSeverity.WARN)


@dg.asset_check(
    asset=MEDIA_ARCHIVE_KEY,
    name="stored_objects_intact",
    pool=DUCKDB_POOL,
    description="Every archived file's stored object exists with the recorded size.",
)
def stored_objects_check(
    context: dg.AssetCheckExecutionContext,
    duckdb: DuckDBResource,
    media_archive: MediaArchiveResource,
) -> dg.AssetCheckResult:
    root = media_archive.open_root()
    rows = _archive_rows(context, duckdb)
    outcome = damaged_objects(rows, lambda uri: root.size(root.path_of(uri)))
    return check_result(context, outcome)


archive_checks = [stale_media_check, lost_media_check, stored_objects_check]
"""`media/archive`'s checks; the rules live in `fal_platform/media/archive_quality.py`."""
