"""`reports/endpoint_stats`: latency, failure rate, media and cost per endpoint, all prompt sets."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.keys import (
    DUCKDB_POOL,
    ENDPOINT_STATS_KEY,
    MEDIA_ARCHIVE_KEY,
    MEDIA_FILES_KEY,
    MEDIA_TIMINGS_KEY,
    OWNERS,
    PRICING_KEY,
    REPORTS_GROUP,
)
from fal_platform.media.reports import (
    STATS_TABLE,
    EndpointStats,
    compute_endpoint_stats,
    write_endpoint_stats,
)
from resources.database import platform_tables

PREVIEW_ROWS = 15

AFTER_ANY_DEP_UPDATE = (
    dg.AutomationCondition.any_deps_match(dg.AutomationCondition.newly_updated()).since(
        dg.AutomationCondition.newly_requested()
    )
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("after_any_dep_update")
"""`eager()` without its `~any_deps_missing()`, and reset by the report's own request only.

The report reads every prompt set at once, so one partition of media/files that never
materialized (a failed or invalid prompt set) must not block it: under `eager()` it would stay
"Not requested" for good. It refreshes after any partition of its deps updates, once none is
in progress; without a media update it has nothing new to say, so no initial run either.

Why not `any_deps_updated().since_last_handled()`: both sides are built with `&`/`|`, which
drop the timestamps `since` uses when trigger and reset land in the same tick, so a report
requested for the catalog whose run ends in the tick a prompt set's media lands would swallow
that update for good. `newly_updated()` seen through `any_deps_match` keeps the dep's update
time and `newly_requested()` the request's, so a dep updated after the request still wins
(tests/test_report_automation.py).
"""


def stats_markdown(stats: list[EndpointStats]) -> str:
    def fmt(value: float | None, digits: int = 2) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    lines = [
        "| endpoint | requests | failure rate | p50 s | p95 s | media | cost/item USD | basis "
        "| archived MiB | lost |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in sorted(stats, key=lambda s: -s.requests)[:PREVIEW_ROWS]:
        lines.append(
            f"| {s.endpoint_id} | {s.requests} | {s.failure_rate:.1%} | {fmt(s.p50_seconds)} "
            f"| {fmt(s.p95_seconds)} | {s.media_count} | {fmt(s.cost_per_item_usd, 4)} "
            f"| {s.cost_basis} | {s.archived_bytes / 2**20:.1f} | {s.lost_files} |"
        )
    return "\n".join(lines)


@dg.asset(
    key=ENDPOINT_STATS_KEY,
    deps=[MEDIA_FILES_KEY, MEDIA_TIMINGS_KEY, MEDIA_ARCHIVE_KEY, PRICING_KEY],
    group_name=REPORTS_GROUP,
    kinds={"duckdb"},
    owners=OWNERS,
    pool=DUCKDB_POOL,
    automation_condition=AFTER_ANY_DEP_UPDATE,
    description="Per endpoint across every prompt set: requests, failure rate, p50/p95 total "
    "latency, media count, cost per item (billed where fal reported units, else estimated), "
    "archived bytes and lost files.",
)
def endpoint_stats(duckdb: DuckDBResource) -> dg.MaterializeResult:
    tables = platform_tables(duckdb)
    with tables.reader() as reader:
        stats = compute_endpoint_stats(reader)
    write_endpoint_stats(tables, stats)
    total_cost = sum(s.total_cost_usd or 0.0 for s in stats)
    return dg.MaterializeResult(
        metadata={
            "dagster/table_name": STATS_TABLE,
            "dagster/row_count": len(stats),
            "requests": sum(s.requests for s in stats),
            "total_cost_usd": round(total_cost, 4),
            "stats": dg.MetadataValue.md(stats_markdown(stats)),
        }
    )
