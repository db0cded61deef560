"""`reports/endpoint_stats`: latency, failure rate, media and cost per endpoint, all prompt sets."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.media.assets import OWNERS
from fal_platform.media.reports import (
    STATS_TABLE,
    EndpointStats,
    compute_endpoint_stats,
    write_endpoint_stats,
)

PREVIEW_ROWS = 15


def stats_markdown(stats: list[EndpointStats]) -> str:
    def fmt(value: float | None, digits: int = 2) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    lines = [
        "| endpoint | requests | failure rate | p50 s | p95 s | media | cost/item USD | basis |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in sorted(stats, key=lambda s: -s.requests)[:PREVIEW_ROWS]:
        lines.append(
            f"| {s.endpoint_id} | {s.requests} | {s.failure_rate:.1%} | {fmt(s.p50_seconds)} "
            f"| {fmt(s.p95_seconds)} | {s.media_count} | {fmt(s.cost_per_item_usd, 4)} "
            f"| {s.cost_basis} |"
        )
    return "\n".join(lines)


@dg.asset(
    key=["reports", "endpoint_stats"],
    deps=[
        dg.AssetKey(["media", "files"]),
        dg.AssetKey(["media", "timings"]),
        dg.AssetKey(["fal_catalog", "pricing"]),
    ],
    group_name="reports",
    kinds={"duckdb"},
    owners=OWNERS,
    pool="duckdb",
    automation_condition=dg.AutomationCondition.eager(),
    description="Per endpoint across every prompt set: requests, failure rate, p50/p95 total "
    "latency, media count and cost per item (billed where fal reported units, else estimated).",
)
def endpoint_stats(duckdb: DuckDBResource) -> dg.MaterializeResult:
    with duckdb.get_connection() as conn:
        stats = compute_endpoint_stats(conn)
        write_endpoint_stats(conn, stats)
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
