"""Shared helpers for the catalog tests: run the catalog assets in-process and read results."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
from dagster_dlt import DagsterDltResource

from assets.catalog.assets import fal_catalog_assets
from assets.catalog.checks import CATALOG_CHECKS
from assets.keys import MODELS_KEY, PRICING_KEY
from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.paths import DataPaths
from resources.database import PlatformDatabase
from resources.fal import FalResource
from resources.paths import PlatformPaths

EmulatorFactory = Callable[..., EmulatorProcess]

# Variables that would redirect FalResource or the data paths away from the test's own ones.
ISOLATED_ENV = (
    "FAL_KEY",
    "FAL_KEY_ID",
    "FAL_KEY_SECRET",
    "FAL_PLATFORM_API_URL",
    "FAL_PLATFORM_QUEUE_URL",
    "FAL_PLATFORM_RUN_URL",
    "FAL_PLATFORM_EMULATOR_URL",
)


@dataclass(frozen=True)
class CatalogPaths:
    data_dir: Path
    duckdb: Path


def isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CatalogPaths:
    """Point every path at tmp_path and drop any ambient fal configuration."""
    for name in ISOLATED_ENV:
        monkeypatch.delenv(name, raising=False)
    data_dir = tmp_path / "data"
    db = data_dir / "fal_platform.duckdb"
    monkeypatch.setenv("FAL_PLATFORM_DATA_DIR", str(data_dir))
    monkeypatch.setenv("FAL_PLATFORM_DUCKDB", str(db))
    return CatalogPaths(data_dir=data_dir, duckdb=db)


def emulator_fal(emulator: EmulatorProcess) -> FalResource:
    """FalResource targeting the emulator the keyless way (what `dagster dev` does offline)."""
    return FalResource(emulator_url=emulator.url, max_attempts=3, request_timeout=10.0)


def materialize_catalog(
    fal: FalResource, db: Path, *, raise_on_error: bool = True, postgres_url: str | None = None
) -> dg.ExecuteInProcessResult:
    """The catalog into the DuckDB file `db`, or into the Postgres database at `postgres_url`."""
    return dg.materialize(
        [fal_catalog_assets, *CATALOG_CHECKS],
        resources={
            "fal": fal,
            "dlt": DagsterDltResource(),
            "duckdb": PlatformDatabase(database=str(db), postgres_url=postgres_url),
            "paths": PlatformPaths.of(DataPaths.under(db.parent)),
        },
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=raise_on_error,
    )


@dataclass(frozen=True)
class CatalogStack:
    """An emulator, the keyless FalResource aimed at it and the test's own DuckDB file."""

    emulator: EmulatorProcess
    fal: FalResource
    duckdb: Path

    def materialize(self, *, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
        return materialize_catalog(self.fal, self.duckdb, raise_on_error=raise_on_error)


CatalogStackFactory = Callable[..., CatalogStack]


def materialization_metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict[str, Any]:
    """The plain values of one asset's materialization metadata."""
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.asset_key == key:
            return {name: value.value for name, value in materialization.metadata.items()}
    raise AssertionError(f"no materialization for {key.to_user_string()}")


def models_metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    return materialization_metadata(result, MODELS_KEY)


def pricing_metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    return materialization_metadata(result, PRICING_KEY)


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def table_rows(db: Path, table: str) -> list[tuple[Any, ...]]:
    """Every row of a catalog table except dlt's load bookkeeping, sorted by endpoint_id."""
    columns = [
        name
        for (name,) in query(
            db,
            "SELECT column_name FROM information_schema.columns "
            f"WHERE table_schema = 'fal_catalog' AND table_name = '{table}' "
            "AND column_name NOT LIKE '\\_dlt%' ESCAPE '\\' ORDER BY ordinal_position",
        )
    ]
    return query(db, f"SELECT {', '.join(columns)} FROM fal_catalog.{table} ORDER BY endpoint_id")


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    """Everything Dagster recorded about the run's failures, causes included."""
    parts = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        if error is not None:
            parts.append(error.to_string())
    return "\n".join(parts)


def all_event_text(result: dg.ExecuteInProcessResult) -> Iterator[str]:
    for event in result.all_events:
        yield str(event)
