"""`fal_catalog/models` and `fal_catalog/pricing`: the dlt catalog source as two Dagster assets.

The core (`fal_platform.catalog.source`) knows how to read fal; this module only decides names, lineage
and metadata, and builds a fresh source and pipeline on every run from the resources.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData
from dagster_duckdb import DuckDBResource

from assets.keys import CATALOG_GROUP, DUCKDB_POOL, OWNERS
from fal_platform.catalog.changes import CatalogChange, count_rows, read_catalog_snapshot
from fal_platform.catalog.source import (
    DATASET_NAME,
    MODELS_TABLE,
    PRICING_TABLE,
    catalog_error_in,
    catalog_pipeline,
    fal_catalog_source,
    rows_written,
)
from fal_platform.paths import DataPaths
from fal_platform.target import FAL_API_URL
from resources.database import store_target
from resources.fal import FalResource
from resources.paths import PlatformPaths

_SPEC_PATHS = DataPaths.under(Path("data"))
"""Only names the destination for the specs; runs use the `paths` and `duckdb` resources."""

_DESCRIPTIONS = {
    MODELS_TABLE: (
        "fal's model catalog (`GET /v1/models`): one row per endpoint in DuckDB table "
        "`fal_catalog.models`, merged on `endpoint_id`. Metadata fields are columns "
        "(`category`, `status`, `updated_at`, ...); `tags` is a JSON list; `has_metadata` is "
        "false for endpoints fal lists without a registry entry. Each run reads the whole "
        "catalog but writes only new or changed endpoints."
    ),
    PRICING_TABLE: (
        "Unit price per endpoint (`GET /v1/models/pricing`, 50 ids per request): DuckDB table "
        "`fal_catalog.pricing` with `endpoint_id`, `unit_price`, `unit`, `currency`, merged on "
        "`endpoint_id`. Only new or changed prices are written."
    ),
}


class FalCatalogTranslator(DagsterDltTranslator):
    """`fal_catalog/<table>` keys with no upstream deps.

    dagster-dlt's default would invent an upstream key per resource (`fal_catalog_models`), a
    phantom node in the lineage graph; fal's API is the source, and it is not an asset here.
    """

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        spec = super().get_asset_spec(data)
        name = data.resource.name
        return spec.replace_attributes(
            key=dg.AssetKey([DATASET_NAME, name]),
            deps=[],
            group_name=CATALOG_GROUP,
            kinds={"dlt", "duckdb"},
            description=_DESCRIPTIONS.get(name, spec.description),
            owners=OWNERS,
        )


def _change_metadata(change: CatalogChange) -> dict[str, Any]:
    summary = change.summary()
    return {
        "new_endpoints": dg.MetadataValue.int(summary["new_count"]),
        "new_endpoint_ids": dg.MetadataValue.json(summary["new_ids"]),
        "changed_endpoints": dg.MetadataValue.int(summary["changed_count"]),
        "changed_endpoint_ids": dg.MetadataValue.json(summary["changed_ids"]),
        "newly_deprecated_endpoints": dg.MetadataValue.int(summary["newly_deprecated_count"]),
        "newly_deprecated_endpoint_ids": dg.MetadataValue.json(summary["newly_deprecated_ids"]),
    }


@dlt_assets(
    # Definition-time objects only name the resources and the destination for the asset specs;
    # the body builds the real source (with the resolved URL and key) and pipeline on every run.
    dlt_source=fal_catalog_source(FAL_API_URL, api_key=None),
    dlt_pipeline=catalog_pipeline(_SPEC_PATHS.duckdb, _SPEC_PATHS.dlt_pipelines_dir),
    name="fal_catalog",
    dagster_dlt_translator=FalCatalogTranslator(),
    pool=DUCKDB_POOL,
)
def fal_catalog_assets(
    context: dg.AssetExecutionContext,
    fal: FalResource,
    dlt: DagsterDltResource,
    duckdb: DuckDBResource,
    paths: PlatformPaths,
) -> Iterator[dg.MaterializeResult]:
    target = fal.check_reachable()
    # The destination is the database every other asset and check opens (DuckDB or Postgres).
    store = store_target(duckdb)
    if store.postgres is None:
        store.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    pipeline = catalog_pipeline(store.duckdb_path, paths.dlt_dir, store.dlt_destination())
    # A new source per run: dagster-dlt mutates the source's schema (dagster-io/dagster#34052).
    source = fal_catalog_source(
        target.api_url,
        fal.api_key,
        max_attempts=fal.max_attempts,
        request_timeout=fal.request_timeout,
    )
    context.log.info(f"Loading the fal catalog from {target.describe()}")
    before = read_catalog_snapshot(pipeline)
    try:
        results = list(dlt.run(context=context, dlt_source=source, dlt_pipeline=pipeline))
    except Exception as exc:
        # dlt wraps our actionable error (401 names FAL_KEY, malformed page names the URL) in
        # PipelineStepFailed -> ResourceExtractionError; show the person the part they can act on.
        found = catalog_error_in(exc)
        if found is not None:
            raise found from None
        raise

    for result in results:
        table = result.asset_key.path[-1] if result.asset_key else ""
        extra: dict[str, Any] = {
            "rows_written": dg.MetadataValue.int(rows_written(pipeline, table)),
            "dagster/row_count": dg.MetadataValue.int(count_rows(pipeline, table)),
            "dagster/table_name": f"{DATASET_NAME}.{table}",
        }
        if table == MODELS_TABLE:
            change = CatalogChange.between(before, read_catalog_snapshot(pipeline))
            extra.update(_change_metadata(change))
            context.log.info(
                f"fal catalog: {extra['rows_written'].value} rows written; "
                f"{len(change.new)} new, {len(change.changed)} changed, "
                f"{len(change.newly_deprecated)} newly deprecated endpoints"
            )
        yield dg.MaterializeResult(
            asset_key=result.asset_key, metadata={**(result.metadata or {}), **extra}
        )
