"""Checks on the media tables; the rules themselves live in `fal_platform.quality`."""

from collections.abc import Callable

import dagster as dg
import duckdb as duckdb_lib
from dagster_duckdb import DuckDBResource

from assets.media import media_files, media_timings
from fal_platform.quality import (
    RuleOutcome,
    completed_without_media,
    inconsistent_timings,
    malformed_urls,
)

Rule = Callable[[duckdb_lib.DuckDBPyConnection, str | None], RuleOutcome]


def _evaluate(
    context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource, rule: Rule
) -> dg.AssetCheckResult:
    prompt_set = context.partition_key if context.has_partition_key else None
    with duckdb.get_connection() as conn:
        outcome = rule(conn, prompt_set)
    return dg.AssetCheckResult(
        passed=outcome.passed,
        metadata={
            "prompt_set": prompt_set or "all",
            "violations": outcome.violations,
            "examples": dg.MetadataValue.json(outcome.examples),
        },
    )


@dg.asset_check(
    asset=media_files,
    pool="duckdb",
    description="Every completed request of a media-producing endpoint has at least one file.",
)
def every_completed_request_has_media(
    context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource
) -> dg.AssetCheckResult:
    return _evaluate(context, duckdb, completed_without_media)


@dg.asset_check(
    asset=media_files,
    pool="duckdb",
    description="Every media URL is an absolute http(s) URL or a data URI.",
)
def media_urls_well_formed(
    context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource
) -> dg.AssetCheckResult:
    return _evaluate(context, duckdb, malformed_urls)


@dg.asset_check(
    asset=media_timings,
    pool="duckdb",
    description="Timings are non-negative and queue wait + inference <= total (0.5 s tolerance).",
)
def timings_consistent(
    context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource
) -> dg.AssetCheckResult:
    return _evaluate(context, duckdb, inconsistent_timings)


media_checks = [every_completed_request_has_media, media_urls_well_formed, timings_consistent]
