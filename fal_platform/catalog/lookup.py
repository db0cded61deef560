"""Where a batch gets the endpoint catalog (for validation) and prices (for the budget guard).

The Dagster asset depends on `fal_catalog/models` and `fal_catalog/pricing`, so it reads their
tables (DuckDB or Postgres: portable SQL through `fal_platform/store/backend.py`'s reader). The
CLI may run on a fresh database that has never seen the catalog assets:
it uses the tables when they exist and otherwise asks fal's platform API for just the endpoints
the prompt set names (`GET /v1/models?endpoint_id=...`, `GET /v1/models/pricing`), through the
same client the catalog assets price with, so an endpoint fal cannot price is skipped alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fal_platform.catalog import names
from fal_platform.catalog.names import DATASET_NAME, MODELS_SQL_NAME, PRICING_SQL_NAME
from fal_platform.client import FalClient, Price
from fal_platform.store.duckdb_backend import Queryable, as_reader

PRICING_TABLE = PRICING_SQL_NAME
"""The qualified name, under the name `fal_platform/media/reports.py` imports it by."""

__all__ = [
    "PRICING_TABLE",
    "CatalogNotLoadedError",
    "EndpointInfo",
    "fetch_catalog",
    "fetch_prices",
    "load_endpoint_catalog",
    "read_catalog",
    "read_prices",
    "table_exists",
]


@dataclass(frozen=True)
class EndpointInfo:
    """What checking a prompt set needs to know about one endpoint."""

    endpoint_id: str
    category: str | None
    status: str | None


class CatalogNotLoadedError(RuntimeError):
    """The endpoint catalog table is missing, so prompt sets cannot be checked against it."""


def table_exists(conn: Queryable, schema: str, table: str) -> bool:
    return as_reader(conn).table_exists(schema, table)


def read_prices(conn: Queryable, endpoint_ids: Sequence[str]) -> dict[str, Price] | None:
    """Prices of `endpoint_ids` from `fal_catalog.pricing`; None when the table does not exist."""
    reader = as_reader(conn)
    if not reader.table_exists(DATASET_NAME, names.PRICING_TABLE):
        return None
    if not endpoint_ids:
        return {}
    placeholders = ", ".join(f"${n}" for n in range(1, len(endpoint_ids) + 1))
    rows = reader.rows(
        f"SELECT endpoint_id, unit_price, unit, currency FROM {PRICING_SQL_NAME} "
        f"WHERE endpoint_id IN ({placeholders})",
        list(endpoint_ids),
    )
    return {
        row[0]: Price(endpoint_id=row[0], unit_price=float(row[1]), unit=row[2], currency=row[3])
        for row in rows
        if row[1] is not None
    }


def read_catalog(conn: Queryable) -> dict[str, EndpointInfo] | None:
    """The endpoint catalog from `fal_catalog.models`; None when the table does not exist."""
    if not table_exists(conn, DATASET_NAME, names.MODELS_TABLE):
        return None
    return load_endpoint_catalog(conn)


def load_endpoint_catalog(conn: Queryable) -> dict[str, EndpointInfo]:
    """Endpoints from the `fal_catalog/models` asset's table, keyed by endpoint id."""
    reader = as_reader(conn)
    database = reader.rows("SELECT current_database()")[0][0]
    columns = reader.column_names(DATASET_NAME, names.MODELS_TABLE)
    if not columns:
        raise CatalogNotLoadedError(
            f"table {MODELS_SQL_NAME} does not exist in this database: materialize the "
            "fal_catalog/models asset first (or run `fal-platform demo`) so prompt sets can be "
            "checked against fal's endpoint catalog"
        )

    def pick(*candidates: str) -> str:
        # dlt creates no column for a field that was NULL in every row, and names nested
        # fields `metadata__x` unless the catalog source flattens them.
        for name in candidates:
            if name in columns:
                return f'"{name}"'
        return "NULL"

    category, status = pick("category", "metadata__category"), pick("status", "metadata__status")
    rows = reader.rows(
        f"SELECT endpoint_id, CAST({category} AS VARCHAR), CAST({status} AS VARCHAR) "
        f'FROM "{database}".{MODELS_SQL_NAME} WHERE endpoint_id IS NOT NULL'
    )
    return {row[0]: EndpointInfo(row[0], row[1], row[2]) for row in rows}


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
    """Prices of these endpoints from the platform API; ones fal cannot price are left out."""
    if not endpoint_ids:
        return {}
    prices = await client.platform.pricing(endpoint_ids, skip_unpriced=True)
    return {price.endpoint_id: price for price in prices}
