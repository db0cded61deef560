"""Where a batch gets the endpoint catalog (for validation) and prices (for the budget guard).

The Dagster asset depends on `fal_catalog/models` and `fal_catalog/pricing`, so it reads their
DuckDB tables. The CLI may run on a fresh DuckDB file that has never seen the catalog assets:
it uses the tables when they exist and otherwise asks fal's platform API for just the endpoints
the prompt set names (`GET /v1/models?endpoint_id=...`, `GET /v1/models/pricing`).
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from fal_platform.batch.prompts import EndpointInfo, load_endpoint_catalog
from fal_platform.client import FalClient, Price

PRICING_TABLE = "fal_catalog.pricing"


def table_exists(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    found = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(found and found[0])


def read_prices(
    conn: duckdb.DuckDBPyConnection, endpoint_ids: Sequence[str]
) -> dict[str, Price] | None:
    """Prices of `endpoint_ids` from `fal_catalog.pricing`; None when the table does not exist."""
    if not table_exists(conn, "fal_catalog", "pricing"):
        return None
    if not endpoint_ids:
        return {}
    placeholders = ", ".join("?" for _ in endpoint_ids)
    rows = conn.execute(
        f"SELECT endpoint_id, unit_price, unit, currency FROM {PRICING_TABLE} "
        f"WHERE endpoint_id IN ({placeholders})",
        list(endpoint_ids),
    ).fetchall()
    return {
        row[0]: Price(endpoint_id=row[0], unit_price=float(row[1]), unit=row[2], currency=row[3])
        for row in rows
        if row[1] is not None
    }


def read_catalog(conn: duckdb.DuckDBPyConnection) -> dict[str, EndpointInfo] | None:
    """The endpoint catalog from `fal_catalog.models`; None when the table does not exist."""
    if not table_exists(conn, "fal_catalog", "models"):
        return None
    return load_endpoint_catalog(conn)


async def fetch_catalog(client: FalClient, endpoint_ids: Sequence[str]) -> dict[str, EndpointInfo]:
    """Catalog entries of just these endpoints, from the platform API."""
    catalog: dict[str, EndpointInfo] = {}
    async for model in client.platform.iter_models(endpoint_ids=list(endpoint_ids)):
        metadata = model.metadata
        catalog[model.endpoint_id] = EndpointInfo(
            model.endpoint_id,
            metadata.category if metadata is not None else None,
            metadata.status if metadata is not None else None,
        )
    return catalog


async def fetch_prices(client: FalClient, endpoint_ids: Sequence[str]) -> dict[str, Price]:
    if not endpoint_ids:
        return {}
    return {price.endpoint_id: price for price in await client.platform.pricing(endpoint_ids)}
