"""Checks on `fal_catalog/models` that downstream work relies on.

Both are blocking: a batch validated against an empty or ambiguous catalog would reject every
item (or pick an arbitrary row), so a failed check should stop the run before that happens.
"""

from collections.abc import Callable, Iterator

import dagster as dg
import duckdb as duckdb_lib
import psycopg
from dagster_duckdb import DuckDBResource

from assets.keys import DUCKDB_POOL, MODELS_KEY, PRICING_KEY
from fal_platform.catalog.source import DATASET_NAME, MODELS_TABLE
from fal_platform.media.quality import prompt_set_endpoints, unpriced_endpoints
from fal_platform.store.backend import SqlReader
from resources.database import platform_tables
from resources.paths import PlatformPaths

MODELS_SQL_NAME = f"{DATASET_NAME}.{MODELS_TABLE}"
_MISSING_TABLE = (duckdb_lib.CatalogException, psycopg.errors.UndefinedTable)


ModelsRule = Callable[[SqlReader], dg.AssetCheckResult]


def catalog_not_empty(reader: SqlReader) -> dg.AssetCheckResult:
    """The catalog has at least one endpoint."""
    total, with_metadata = reader.rows(
        f"SELECT count(*), count(*) FILTER (WHERE has_metadata) FROM {MODELS_SQL_NAME}"
    )[0]
    return dg.AssetCheckResult(
        passed=total > 0,
        metadata={
            "endpoints": dg.MetadataValue.int(int(total)),
            "endpoints_with_metadata": dg.MetadataValue.int(int(with_metadata)),
        },
    )


def catalog_endpoint_id_unique(reader: SqlReader) -> dg.AssetCheckResult:
    """`endpoint_id` is set and unique (it is the merge key)."""
    duplicates = reader.rows(
        f"SELECT endpoint_id, count(*) AS n FROM {MODELS_SQL_NAME} "
        "GROUP BY endpoint_id HAVING count(*) > 1 ORDER BY n DESC, endpoint_id LIMIT 20"
    )
    nulls = int(
        reader.rows(f"SELECT count(*) FROM {MODELS_SQL_NAME} WHERE endpoint_id IS NULL")[0][0]
    )
    return dg.AssetCheckResult(
        passed=not duplicates and nulls == 0,
        metadata={
            "duplicated_endpoint_ids": dg.MetadataValue.json(
                [{"endpoint_id": endpoint_id, "rows": int(n)} for endpoint_id, n in duplicates]
            ),
            "null_endpoint_ids": dg.MetadataValue.int(nulls),
        },
    )


MODELS_RULES: tuple[ModelsRule, ...] = (catalog_not_empty, catalog_endpoint_id_unique)


def run_models_rule(rule: ModelsRule, duckdb: DuckDBResource) -> dg.AssetCheckResult:
    """One rule's result under its own check name; a table it cannot read fails the check. Each
    rule reads in its own session: on Postgres a failed statement spoils the transaction."""
    try:
        with platform_tables(duckdb).reader() as reader:
            outcome = rule(reader)
    except _MISSING_TABLE as error:
        message = f"{MODELS_SQL_NAME} is not readable: {error}"
        outcome = dg.AssetCheckResult(
            passed=False, metadata={"error": dg.MetadataValue.text(message)}
        )
    return dg.AssetCheckResult(
        passed=outcome.passed,
        metadata=outcome.metadata,
        asset_key=MODELS_KEY,
        check_name=rule.__name__,
    )


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(rule.__name__, asset=MODELS_KEY, blocking=True, description=rule.__doc__)
        for rule in MODELS_RULES
    ],
    pool=DUCKDB_POOL,
)
def models_checks(duckdb: DuckDBResource) -> Iterator[dg.AssetCheckResult]:
    """Both rules in one step, with one output each. As two `@asset_check`s, both outputs were
    named `result`, and Dagster orders a downstream asset's blocking-check dependencies by output
    name alone: the tie made the job's snapshot differ from process to process, so the UI took
    every run for "a different version" (`fal_platform/devstack/location_runs.py`)."""
    for rule in MODELS_RULES:
        yield run_models_rule(rule, duckdb)


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
    with platform_tables(duckdb).reader() as reader:
        outcome = unpriced_endpoints(reader, used)
    return dg.AssetCheckResult(
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "endpoints_used": dg.MetadataValue.int(len(used)),
            "unpriced": dg.MetadataValue.json(outcome.examples),
        },
    )


CATALOG_CHECKS = [models_checks, prompt_set_endpoints_priced]
