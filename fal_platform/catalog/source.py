"""fal's model catalog and prices as a dlt source: `/v1/models` and `/v1/models/pricing`.

Shape of the source (one HTTP pass over the catalog feeds both tables):

    catalog_pages   rest_api resource: GET {api_url}/models, cursor pages, auth, page checks
     |                                 (not a table; dlt evaluates it once per run for both children)
     |-- models     one row per endpoint, merged on endpoint_id, only new or changed rows written
     '-- pricing    the page's ids priced by the platform client (`PlatformClient.pricing`:
                    <= 50 ids per request, unpriced ids left out), merged on endpoint_id,
                    only new or changed prices written

How "only new or changed rows" works, given fal has NO server-side "updated since" filter on
`/v1/models`: every run reads the whole catalog (about N/100 requests) and the filtering happens
on our side, before anything is written:

- rows with `metadata.updated_at` go through `dlt.sources.incremental("updated_at")`: a row is
  written only when its `updated_at` is at or past the high-water mark of the last load (rows at
  the mark are de-duplicated by `endpoint_id`, which dlt keeps in the incremental state);
- rows WITHOUT a usable `updated_at` (fal lists some endpoints with no `metadata` at all) cannot
  use a cursor. They pass the incremental filter (`on_cursor_value_missing="include"`) and are
  then compared with a content hash kept in the resource's dlt state: written the first time and
  whenever their JSON changes, never again otherwise;
- prices have no timestamp at all, so they use the same content-hash comparison.

All of that state lives in the destination (`fal_catalog._dlt_pipeline_state`), which
dagster-dlt restores before each run, so a failed run never advances it.

Known limit of a high-water-mark cursor: an endpoint that appears with an `updated_at` OLDER than
the newest one already loaded is not written until its `updated_at` moves. fal stamps new and
edited registry entries with the current time, so this does not happen in practice; a full
reload (`dlt pipeline fal_catalog drop --drop-all` or deleting the dataset) recovers from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import dlt
from dlt.common.destination import TDestinationReferenceArg
from dlt.common.pipeline import LoadInfo
from dlt.extract.resource import DltResource
from dlt.extract.source import DltSource
from dlt.sources.rest_api import rest_api_resources
from dlt.sources.rest_api.typing import RESTAPIConfig

from fal_platform.catalog.errors import (
    FalCatalogAuthError,
    FalCatalogError,
    FalCatalogResponseError,
)
from fal_platform.catalog.names import DATASET_NAME, MODELS_TABLE, PRICING_TABLE
from fal_platform.catalog.pricing import fetch_prices, pricing_settings
from fal_platform.catalog.rest_api_client import CatalogHttp, CatalogRetry
from fal_platform.catalog.rows import (
    MODEL_COLUMNS,
    PRICING_COLUMNS,
    content_hash,
    flatten_model,
    pricing_row,
)
from fal_platform.client import ClientSettings

__all__ = [
    "DATASET_NAME",
    "MODELS_TABLE",
    "PRICING_TABLE",
    "FalCatalogAuthError",
    "FalCatalogError",
    "FalCatalogResponseError",
    "catalog_error_in",
    "catalog_pipeline",
    "fal_catalog_source",
    "rows_written",
    "run_catalog_load",
]

SOURCE_NAME = "fal_catalog"
PIPELINE_NAME = "fal_catalog"

# Keys in the resources' dlt state (see the module docstring).
_UNTIMED_HASHES = "untimed_model_hashes"
_PRICE_HASHES = "price_hashes"


def _changed_only(
    rows: Iterable[dict[str, Any]],
    hashes: dict[str, str],
    fingerprint: Callable[[dict[str, Any]], str],
) -> list[dict[str, Any]]:
    """Keep rows whose fingerprint differs from the one remembered for their endpoint_id."""
    kept = []
    for row in rows:
        digest = fingerprint(row)
        if hashes.get(row["endpoint_id"]) == digest:
            continue
        hashes[row["endpoint_id"]] = digest
        kept.append(row)
    return kept


def _catalog_pages(http: CatalogHttp, page_size: int) -> DltResource:
    """Raw `/v1/models` pages, declared with dlt's rest_api config."""
    config: RESTAPIConfig = {
        "client": http.rest_api_client(),
        "resources": [
            {
                "name": "catalog_pages",
                "endpoint": {
                    "path": "models",
                    "params": {"limit": page_size},
                    "data_selector": "models",
                    # Run before rest_api's own raise-for-status: a 401 becomes an error that
                    # names FAL_KEY, a 200 without `models` an error that names the URL.
                    "response_actions": [*http.page_checks("models")],
                },
            }
        ],
    }
    (pages,) = rest_api_resources(config)
    return pages


def _models_resource(pages: DltResource) -> DltResource:
    @dlt.transformer(
        data_from=pages,
        name=MODELS_TABLE,
        write_disposition="merge",
        primary_key="endpoint_id",
        columns=MODEL_COLUMNS,
        max_table_nesting=0,
    )
    def models(page: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        # The incremental filter (applied by dlt to what this yields) handles timestamped rows;
        # rows without one are de-duplicated here by content hash (see the module docstring).
        untimed: dict[str, str] = dlt.current.resource_state().setdefault(_UNTIMED_HASHES, {})
        rows = [flatten_model(model) for model in page]
        timed = []
        for row in rows:
            if row.get("updated_at") is not None:
                # It may have lost its timestamp before; if it loses it again, write it again.
                untimed.pop(row["endpoint_id"], None)
                timed.append(row)
        without_time = [row for row in rows if row.get("updated_at") is None]
        yield timed + _changed_only(without_time, untimed, lambda row: str(row["content_hash"]))

    # Attached as a hint, not as an argument of the transformer: dlt re-binds an incremental
    # argument on every call of a transformer (once per page here), which would raise the start
    # value page by page and drop older rows of later pages on the very first load.
    models.apply_hints(
        incremental=dlt.sources.incremental[datetime](
            "updated_at", on_cursor_value_missing="include"
        )
    )
    return models


def _pricing_resource(pages: DltResource, settings: ClientSettings) -> DltResource:
    # Not a rest_api dependent resource: those make one request per parent row (1,000 requests
    # for 1,000 models), while fal prices up to 50 ids per request. The platform client knows
    # that limit and fal's 404 for unpriced ids, for this source and for batches alike.
    @dlt.transformer(
        data_from=pages,
        name=PRICING_TABLE,
        write_disposition="merge",
        primary_key="endpoint_id",
        columns=PRICING_COLUMNS,
    )
    def pricing(page: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        known: dict[str, str] = dlt.current.resource_state().setdefault(_PRICE_HASHES, {})
        ids = [str(model["endpoint_id"]) for model in page if model.get("endpoint_id")]
        rows = [pricing_row(price) for price in fetch_prices(settings, ids)]
        yield _changed_only(rows, known, content_hash)

    return pricing


def fal_catalog_source(
    api_url: str,
    api_key: str | None,
    page_size: int = 100,
    *,
    max_attempts: int = 5,
    backoff_factor: float = 1.0,
    max_retry_delay: float = 60.0,
    request_timeout: float = 60.0,
) -> DltSource:
    """A fresh `fal_catalog` dlt source reading `{api_url}/models` and `{api_url}/models/pricing`.

    Build a new one for every run: dagster-dlt mutates the source's schema while reporting
    metadata, so reusing a source object in one process breaks the second run
    (dagster-io/dagster#34052).

    Every argument is explicit on purpose: the `@dlt.source` below takes none, so dlt's config
    injection (e.g. a stray `API_KEY` environment variable) can never supply a key or a URL.
    `page_size` is `limit` on `/v1/models` (fal accepts up to 100 without `expand`). The retry
    arguments are described in `CatalogHttp.create`; pricing requests get the same ones.
    """
    retry = CatalogRetry(max_attempts, backoff_factor, max_retry_delay, request_timeout)
    pages = _catalog_pages(CatalogHttp.create(api_url, api_key, retry), page_size)
    models = _models_resource(pages)
    pricing = _pricing_resource(pages, pricing_settings(api_url, api_key, retry))

    @dlt.source(name=SOURCE_NAME, max_table_nesting=0)
    def fal_catalog() -> list[DltResource]:
        return [models, pricing]

    return fal_catalog()


def catalog_pipeline(
    duckdb_path: Path | str,
    pipelines_dir: Path | str,
    destination: TDestinationReferenceArg | None = None,
) -> dlt.Pipeline:
    """The `fal_catalog` pipeline: dataset `fal_catalog` in the given DuckDB file.

    `pipelines_dir` is dlt's working directory (local state, load packages); pass one under the
    project's data directory so nothing lands in ~/.dlt. `destination` swaps DuckDB for any
    other dlt destination (e.g. `dlt.destinations.postgres(...)`) for teams that outgrow one
    file; the incremental state moves with the data, so nothing else changes.
    """
    return dlt.pipeline(
        pipeline_name=PIPELINE_NAME,
        destination=destination or dlt.destinations.duckdb(str(duckdb_path)),
        dataset_name=DATASET_NAME,
        pipelines_dir=str(pipelines_dir),
    )


def rows_written(pipeline: dlt.Pipeline, table: str) -> int:
    """Rows the last run of `pipeline` wrote to `table` (0 when nothing changed)."""
    trace = pipeline.last_trace
    info = trace.last_normalize_info if trace is not None else None
    if info is None:
        return 0
    return int(info.row_counts.get(table, 0))


def catalog_error_in(exc: BaseException) -> FalCatalogError | None:
    """The FalCatalogError somewhere in dlt's wrapping (PipelineStepFailed -> extraction -> ours).

    Surfacing it alone gives the person the actionable message instead of three layers of dlt
    exception text.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, FalCatalogError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def run_catalog_load(pipeline: dlt.Pipeline, source: DltSource) -> LoadInfo:
    """Load the catalog without Dagster (scripts, notebooks); raises the actionable error."""
    try:
        return pipeline.run(source)
    except Exception as exc:
        found = catalog_error_in(exc)
        if found is not None:
            raise found from None
        raise
