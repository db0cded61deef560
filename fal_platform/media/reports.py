"""Per-endpoint statistics across every prompt set: what a team looks at to pick a model.

Latency, failure rate and media counts are plain SQL aggregates over the batch tables. Cost per
item needs a rule per request (billed units where fal reported them, the documented estimate
otherwise), so it is computed in Python from one narrow query.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from fal_platform.batch.cost import units_per_request
from fal_platform.batch.rows import RequestState
from fal_platform.batch.table_spec import TableSpec, sql_column
from fal_platform.batch.tables import MEDIA_ARCHIVE, MEDIA_FILES, REQUESTS
from fal_platform.catalog.lookup import PRICING_TABLE, table_exists
from fal_platform.media.latency import REQUEST_SECONDS_SQL, p50_p95_sql
from fal_platform.store.backend import SqlReader, TableBackend
from fal_platform.store.duckdb_backend import Queryable, as_reader


@dataclass(frozen=True)
class EndpointStats:
    """One row of `reports.endpoint_stats` (the columns: see `batch/table_spec.py`)."""

    endpoint_id: str
    requests: int = field(metadata=sql_column("BIGINT"))
    completed: int = field(metadata=sql_column("BIGINT"))
    failed: int = field(metadata=sql_column("BIGINT"))
    failure_rate: float
    p50_seconds: float | None
    p95_seconds: float | None
    media_count: int = field(metadata=sql_column("BIGINT"))
    unit_price: float | None
    cost_per_item_usd: float | None
    cost_basis: str
    """`billed`, `estimated`, `mixed` (some of each) or `unpriced`."""
    total_cost_usd: float | None
    archived_bytes: int = field(default=0, metadata=sql_column("BIGINT"))
    """Bytes of this endpoint's files kept in the platform's archive (`media.archive`)."""
    lost_files: int = field(default=0, metadata=sql_column("BIGINT"))
    """Files fal deleted before they were archived."""


ENDPOINT_STATS = TableSpec(
    "reports.endpoint_stats", EndpointStats, key=("endpoint_id",), declare_key=False
)
STATS_TABLE = ENDPOINT_STATS.name


def compute_endpoint_stats(conn: Queryable) -> list[EndpointStats]:
    reader = as_reader(conn)
    if not table_exists(reader, *REQUESTS.name.split(".")):
        return []
    completed = RequestState.COMPLETED.value
    aggregates = reader.rows(
        f"""
        SELECT endpoint_id,
               count(*),
               count(*) FILTER (WHERE state = '{completed}'),
               count(*) FILTER (WHERE state = '{RequestState.FAILED.value}'),
               {p50_p95_sql(REQUEST_SECONDS_SQL, where=f"state = '{completed}'")}
        FROM {REQUESTS.name} GROUP BY endpoint_id ORDER BY endpoint_id
        """
    )
    media_counts = _media_counts(reader)
    archive = _archive_totals(reader)
    prices = _prices(reader)
    spent, bases = _item_costs(reader, prices)
    stats = []
    for endpoint, requests, done, failed, p50, p95 in aggregates:
        item_costs = spent.get(endpoint, [])
        used = bases.get(endpoint, set())
        basis = (next(iter(used)) if len(used) == 1 else "mixed") if used else "unpriced"
        stats.append(
            EndpointStats(
                endpoint_id=endpoint,
                requests=int(requests),
                completed=int(done),
                failed=int(failed),
                failure_rate=failed / requests if requests else 0.0,
                p50_seconds=p50,
                p95_seconds=p95,
                media_count=int(media_counts.get(endpoint, 0)),
                unit_price=prices[endpoint][0] if endpoint in prices else None,
                cost_per_item_usd=sum(item_costs) / len(item_costs) if item_costs else None,
                cost_basis=basis,
                total_cost_usd=sum(item_costs) if item_costs else None,
                archived_bytes=archive.get(endpoint, (0, 0))[0],
                lost_files=archive.get(endpoint, (0, 0))[1],
            )
        )
    return stats


def _media_counts(reader: SqlReader) -> dict[str, int]:
    if not reader.table_exists(*MEDIA_FILES.name.split(".")):
        return {}
    return dict(
        reader.rows(f"SELECT endpoint_id, count(*) FROM {MEDIA_FILES.name} GROUP BY endpoint_id")
    )


def _archive_totals(reader: SqlReader) -> dict[str, tuple[int, int]]:
    """(archived bytes, lost files) per endpoint, through `media.files` (joined by URL)."""
    if not reader.table_exists(*MEDIA_ARCHIVE.name.split(".")):
        return {}
    records = reader.rows(
        f"""
        SELECT f.endpoint_id,
               coalesce(sum(CASE WHEN a.status = 'archived' THEN a.bytes END), 0),
               count(CASE WHEN a.status = 'lost' THEN 1 END)
        FROM {MEDIA_ARCHIVE.name} a JOIN {MEDIA_FILES.name} f ON f.url = a.url
        GROUP BY f.endpoint_id
        """
    )
    return {endpoint: (int(size), int(lost)) for endpoint, size, lost in records}


def _prices(reader: SqlReader) -> dict[str, tuple[float, str | None]]:
    """Unit price and unit per priced endpoint; endpoints fal has no price for are left out."""
    if not reader.table_exists("fal_catalog", "pricing"):
        return {}
    return {
        endpoint: (float(price), unit)
        for endpoint, price, unit in reader.rows(
            f"SELECT endpoint_id, unit_price, unit FROM {PRICING_TABLE}"
        )
        if price is not None
    }


def _item_costs(
    reader: SqlReader, prices: dict[str, tuple[float, str | None]]
) -> tuple[dict[str, list[float]], dict[str, set[str]]]:
    """Each completed request's cost per endpoint, and whether it was billed or estimated."""
    costs = reader.rows(
        f"SELECT endpoint_id, billable_units, CAST(input AS VARCHAR) FROM {REQUESTS.name} "
        f"WHERE state = '{RequestState.COMPLETED.value}'"
    )
    spent: dict[str, list[float]] = {}
    bases: dict[str, set[str]] = {}
    for endpoint, billable_units, raw_input in costs:
        if endpoint not in prices:
            continue
        unit_price, unit = prices[endpoint]
        if billable_units is not None:
            units, basis = float(billable_units), "billed"
        else:
            units, basis = units_per_request(unit, json.loads(raw_input or "{}")), "estimated"
        spent.setdefault(endpoint, []).append(units * unit_price)
        bases.setdefault(endpoint, set()).add(basis)
    return spent, bases


def write_endpoint_stats(tables: TableBackend, stats: list[EndpointStats]) -> None:
    """Replace the whole table: the stats are a pure function of the batch tables."""
    tables.replace(ENDPOINT_STATS, {}, stats)
