"""The catalog in the code location: lineage, metadata on the specs, automation, and a real run
through the `dagster` CLI (a subprocess with the code location's executor, like `dagster dev`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
from catalog_support import EmulatorFactory
from dagster_duckdb import DuckDBResource

from assets.catalog.checks import models_checks
from assets.keys import MODELS_KEY, PRICING_KEY
from fal_platform.definitions import defs
from fal_platform.devstack.processes import isolated_env

ROOT = Path(__file__).resolve().parents[1]
JOB = "fal_catalog_refresh"


def test_catalog_assets_have_no_phantom_upstreams_and_full_specs() -> None:
    graph = defs.resolve_asset_graph()
    for key in (MODELS_KEY, PRICING_KEY):
        node = graph.get(key)
        assert node.parent_keys == set()
        assert node.group_name == "catalog"
        assert {"dagster/kind/dlt", "dagster/kind/duckdb"} <= set(node.tags)
        assert node.pools == {"duckdb"}
        assert node.description
    # dagster-dlt's default keys (dlt_<source>_<resource>) and deps (<source>_<resource>) are gone.
    names = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert not {n for n in names if n.startswith("dlt_") or n.startswith("fal_catalog_")}


def test_daily_refresh_runs_by_default_and_selects_assets_and_checks() -> None:
    schedule = defs.resolve_schedule_def("fal_catalog_daily")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    job = defs.resolve_job_def(schedule.job_name)
    assert set(job.asset_layer.asset_graph.get_all_asset_keys()) >= {MODELS_KEY, PRICING_KEY}
    check_names = {key.name for key in job.asset_layer.asset_graph.asset_check_keys}
    assert check_names == {
        "catalog_not_empty",
        "catalog_endpoint_id_unique",
        "prompt_set_endpoints_priced",
    }


def test_refresh_job_in_a_dagster_subprocess_with_the_code_locations_executor(
    tmp_path: Path, emulator_factory: EmulatorFactory
) -> None:
    data_dir = tmp_path / "data"
    db = data_dir / "fal_platform.duckdb"
    home = tmp_path / "dagster_home"
    home.mkdir()
    emulator = emulator_factory(models=120)
    env = isolated_env(
        DAGSTER_HOME=str(home),
        FAL_PLATFORM_DATA_DIR=str(data_dir),
        FAL_PLATFORM_DUCKDB=str(db),
        FAL_PLATFORM_EMULATOR_URL=emulator.url,
    )
    dagster = str(Path(sys.executable).with_name("dagster"))
    completed = subprocess.run(
        [dagster, "job", "execute", "-m", "fal_platform.definitions", "-j", JOB],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-5000:]
    assert "Executing steps in process" in output
    assert "RUN_SUCCESS" in output
    assert emulator.stats()["requests"]["models"] == 2

    with duckdb.connect(str(db), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM fal_catalog.models").fetchone() == (120,)
        assert conn.execute("SELECT count(*) FROM fal_catalog.pricing").fetchone() == (120,)
    # dlt's working directory is under the data directory, not ~/.dlt.
    assert (data_dir / "dlt" / "fal_catalog").is_dir()

    instance = dg.DagsterInstance.from_config(str(home))
    try:
        for key in (MODELS_KEY, PRICING_KEY):
            event = instance.get_latest_materialization_event(key)
            assert event is not None and event.asset_materialization is not None
            metadata = event.asset_materialization.metadata
            assert metadata["rows_written"].value == 120
        checks = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [
                dg.AssetCheckKey(MODELS_KEY, "catalog_not_empty"),
                dg.AssetCheckKey(MODELS_KEY, "catalog_endpoint_id_unique"),
            ]
        )
        assert len(checks) == 2
        assert all(c.status.value == "SUCCEEDED" for c in checks.values())
    finally:
        instance.dispose()


def test_model_checks_fail_with_the_reason_when_the_table_is_missing(tmp_path: Path) -> None:
    empty = DuckDBResource(database=str(tmp_path / "empty.duckdb"))
    results = list(models_checks(duckdb=empty))
    assert [r.check_name for r in results] == ["catalog_not_empty", "catalog_endpoint_id_unique"]
    for result in results:
        assert not result.passed
        assert "fal_catalog.models is not readable" in result.metadata["error"].value
