"""Checks on the media tables; the rules themselves live in `fal_platform.media.quality`."""

from collections.abc import Callable

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.keys import DUCKDB_POOL, MEDIA_FILES_KEY, MEDIA_TIMINGS_KEY
from fal_platform.media.quality import (
    RuleOutcome,
    completed_without_media,
    inconsistent_timings,
    malformed_urls,
)
from fal_platform.store.backend import SqlReader
from resources.database import platform_tables

Rule = Callable[[SqlReader, str | None], RuleOutcome]


def rule_check(
    asset: dg.AssetKey, name: str, description: str, rule: Rule
) -> dg.AssetChecksDefinition:
    """An asset check that runs one rule on the checked partition (or on every row)."""

    @dg.asset_check(asset=asset, name=name, pool=DUCKDB_POOL, description=description)
    def check(
        context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource
    ) -> dg.AssetCheckResult:
        prompt_set = context.partition_key if context.has_partition_key else None
        with platform_tables(duckdb).reader() as reader:
            outcome = rule(reader, prompt_set)
        return dg.AssetCheckResult(
            passed=outcome.passed,
            metadata={
                "prompt_set": prompt_set or "all",
                "violations": outcome.violations,
                "examples": dg.MetadataValue.json(outcome.examples),
            },
        )

    return check


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
