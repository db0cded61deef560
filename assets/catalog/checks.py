"""Checks on `fal_catalog/models` that downstream work relies on.

Both are blocking: a batch validated against an empty or ambiguous catalog would reject every
item (or pick an arbitrary row), so a failed check should stop the run before that happens.
"""

import dagster as dg
import duckdb as duckdb_lib
from dagster_duckdb import DuckDBResource

from assets.keys import DUCKDB_POOL, MODELS_KEY, PRICING_KEY
from fal_platform.catalog.source import DATASET_NAME, MODELS_TABLE
from fal_platform.media.quality import prompt_set_endpoints, unpriced_endpoints
from resources.paths import PlatformPaths

MODELS_SQL_NAME = f"{DATASET_NAME}.{MODELS_TABLE}"


def _missing_table(error: duckdb_lib.CatalogException) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=False,
        metadata={"error": dg.MetadataValue.text(f"{MODELS_SQL_NAME} is not readable: {error}")},
    )


@dg.asset_check(
    asset=MODELS_KEY,
    blocking=True,
    pool=DUCKDB_POOL,
    description="The catalog has at least one endpoint.",
)
def catalog_not_empty(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    with duckdb.get_connection() as conn:
        try:
            row = conn.execute(
                f"SELECT count(*), count(*) FILTER (WHERE has_metadata) FROM {MODELS_SQL_NAME}"
            ).fetchone()
        except duckdb_lib.CatalogException as error:
            return _missing_table(error)
    total, with_metadata = row if row else (0, 0)
    return dg.AssetCheckResult(
        passed=total > 0,
        metadata={
            "endpoints": dg.MetadataValue.int(int(total)),
            "endpoints_with_metadata": dg.MetadataValue.int(int(with_metadata)),
        },
    )


@dg.asset_check(
    asset=MODELS_KEY,
    blocking=True,
    pool=DUCKDB_POOL,
    description="`endpoint_id` is set and unique (it is the merge key).",
)
def catalog_endpoint_id_unique(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    with duckdb.get_connection() as conn:
        try:
            duplicates = conn.execute(
                f"SELECT endpoint_id, count(*) AS n FROM {MODELS_SQL_NAME} "
                "GROUP BY endpoint_id HAVING count(*) > 1 ORDER BY n DESC, endpoint_id LIMIT 20"
            ).fetchall()
            null_row = conn.execute(
                f"SELECT count(*) FROM {MODELS_SQL_NAME} WHERE endpoint_id IS NULL"
            ).fetchone()
        except duckdb_lib.CatalogException as error:
            return _missing_table(error)
    nulls = int(null_row[0]) if null_row else 0
    return dg.AssetCheckResult(
        passed=not duplicates and nulls == 0,
        metadata={
            "duplicated_endpoint_ids": dg.MetadataValue.json(
                [{"endpoint_id": endpoint_id, "rows": int(n)} for endpoint_id, n in duplicates]
            ),
            "null_endpoint_ids": dg.MetadataValue.int(nulls),
        },
    )


@dg.asset_check(
    asset=PRICING_KEY,
    pool=DUCKDB_POOL,
    description="Every endpoint a prompt set uses has a price, so budget guards see its cost "
    "(a warning: unpriced endpoints are estimated at 0).",
)
def prompt_set_endpoints_priced(
    duckdb: DuckDBResource, paths: PlatformPaths
) -> dg.AssetCheckResult:
    used = prompt_set_endpoints(paths.prompts)
    with duckdb.get_connection() as conn:
        outcome = unpriced_endpoints(conn, used)
    return dg.AssetCheckResult(
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "endpoints_used": dg.MetadataValue.int(len(used)),
            "unpriced": dg.MetadataValue.json(outcome.examples),
        },
    )


CATALOG_CHECKS = [catalog_not_empty, catalog_endpoint_id_unique, prompt_set_endpoints_priced]
