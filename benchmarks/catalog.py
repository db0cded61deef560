"""Benchmark 3: loading fal's model catalog, ours (incremental) against plain dlt `rest_api`.

On one emulator catalog: our `fal_catalog` source loads everything, then the plain `rest_api`
configuration a dlt user starts from (full replace, no incremental) loads the same catalog; then
1% of the models change (`touch_models`) and both run again. Reported per run: wall time, rows
written (dlt's normalize counts) and HTTP requests (emulator counters).

Our source also loads `/v1/models/pricing` in the same pass (50 ids per request); the plain
configuration loads models only, so its numbers are a lower bound for what it would cost to
get the same two tables.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import dlt
from dlt.sources.rest_api import rest_api_source

from benchmarks.config import CatalogConfig
from benchmarks.measure import load_average
from fal_platform.catalog.source import (
    catalog_pipeline,
    fal_catalog_source,
    rows_written,
    run_catalog_load,
)
from fal_platform.devstack.emulator_process import EmulatorProcess


@dataclass(frozen=True)
class CatalogRun:
    pipeline: str
    """`ours` (fal_catalog source) or `plain_rest_api`."""
    run: str
    """`full` (first load) or `after_touch` (rerun after 1% of models changed)."""
    seconds: float
    model_rows_written: int
    all_rows_written: int
    """Every table of the run (ours: models + pricing; plain: models + dlt's child tables)."""
    models_page_requests: int
    pricing_requests: int
    load_average: float


@dataclass
class CatalogResult:
    models: int
    touched: int
    runs: list[CatalogRun] = field(default_factory=list)

    def run(self, pipeline: str, run: str) -> CatalogRun | None:
        return next((r for r in self.runs if r.pipeline == pipeline and r.run == run), None)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def plain_rest_api_source(api_url: str, page_size: int = 100) -> Any:
    """What the dlt docs lead a user to write for `/v1/models`: full replace, no incremental."""
    return rest_api_source(
        {
            "client": {
                "base_url": api_url.rstrip("/") + "/",
                "paginator": {
                    "type": "cursor",
                    "cursor_path": "next_cursor",
                    "cursor_param": "cursor",
                },
            },
            "resource_defaults": {"write_disposition": "replace"},
            "resources": [
                {
                    "name": "models",
                    "endpoint": {
                        "path": "models",
                        "params": {"limit": page_size},
                        "data_selector": "models",
                    },
                }
            ],
        },
        name="plain_fal_models",
    )


def _all_rows(pipeline: dlt.Pipeline) -> int:
    trace = pipeline.last_trace
    info = trace.last_normalize_info if trace is not None else None
    if info is None:
        return 0
    return sum(int(n) for table, n in info.row_counts.items() if not table.startswith("_dlt"))


def _measure(
    emulator: EmulatorProcess, pipeline: dlt.Pipeline, source: Any, name: str, run: str
) -> CatalogRun:
    emulator.reset_stats()
    load = load_average()
    started = time.perf_counter()
    if name == "ours":
        run_catalog_load(pipeline, source)
    else:
        pipeline.run(source)
    seconds = time.perf_counter() - started
    stats = emulator.stats()
    return CatalogRun(
        pipeline=name,
        run=run,
        seconds=round(seconds, 2),
        model_rows_written=rows_written(pipeline, "models"),
        all_rows_written=_all_rows(pipeline),
        models_page_requests=int(stats["requests"]["models"]),
        pricing_requests=int(stats["requests"]["pricing"]),
        load_average=load,
    )


def run_catalog(config: CatalogConfig, workdir: Path) -> CatalogResult:
    result = CatalogResult(models=config.models, touched=config.touched)
    directory = workdir / "catalog"
    with EmulatorProcess(models=config.models) as emulator:
        ours = catalog_pipeline(directory / "ours.duckdb", directory / "dlt-ours")
        plain = dlt.pipeline(
            pipeline_name="plain_fal_models",
            destination=dlt.destinations.duckdb(str(directory / "plain.duckdb")),
            dataset_name="plain_fal_models",
            pipelines_dir=str(directory / "dlt-plain"),
        )
        # A new source object per run (dagster-io/dagster#34052 and dlt's own state handling).
        for run in ("full", "after_touch"):
            if run == "after_touch":
                emulator.touch_models(config.touched)
            result.runs.append(
                _measure(emulator, ours, fal_catalog_source(emulator.api_url, None), "ours", run)
            )
            result.runs.append(
                _measure(
                    emulator, plain, plain_rest_api_source(emulator.api_url), "plain_rest_api", run
                )
            )
    return result
