"""Every problem of a prompt file in one pass, through `run-batch` and the Dagster asset.

The file has invalid JSON on line 2, an endpoint fal does not have on line 3 and an input that
is not an object on line 4: all three are reported, whether the endpoint catalog comes from
the DuckDB table or (on a fresh database) from fal's `/v1/models`, and nothing is submitted.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from catalog_support import EmulatorFactory, emulator_fal, isolate, materialize_catalog
from dagster_duckdb import DuckDBResource
from generation_support import FAST, run_cli

from assets.generation.assets import generation_requests
from fal_platform.catalog.source import catalog_pipeline, fal_catalog_source, run_catalog_load
from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.paths import DataPaths
from resources.paths import PlatformPaths

THREE_PROBLEMS = (
    '{"endpoint_id": "fal-ai/flux/schnell", "input": {"prompt": "fine"}}\n'
    '{"endpoint_id": "fal-ai/flux/schnell", "input": {"prompt": "x"\n'
    '{"endpoint_id": "nobody/nothing", "input": {"prompt": "y"}}\n'
    '{"endpoint_id": "fal-ai/flux/schnell", "input": "not an object"}\n'
)


def expected_lines(path: Path) -> list[str]:
    return [
        f"{path}:2: json: invalid JSON",
        f"{path}:3: endpoint_id: unknown endpoint 'nobody/nothing'",
        f"{path}:4: input: must be an object, got string",
    ]


@pytest.mark.parametrize("catalog_loaded", [True, False], ids=["catalog-table", "fresh-db"])
def test_run_batch_reports_every_problem_and_submits_nothing(
    tmp_path: Path, emulator_factory: EmulatorFactory, catalog_loaded: bool
) -> None:
    emulator = emulator_factory(models=40, **FAST)
    db = tmp_path / "fal.duckdb"
    if catalog_loaded:
        run_catalog_load(
            catalog_pipeline(db, tmp_path / "dlt"), fal_catalog_source(emulator.api_url, None)
        )
    emulator.reset_stats()
    path = tmp_path / "three.jsonl"
    path.write_text(THREE_PROBLEMS)
    result = run_cli(path, db, emulator)
    assert result.returncode == 2
    for line in expected_lines(path):
        assert line in result.stderr, result.stderr
    stats = emulator.stats()
    assert stats["requests"]["submit"] == 0
    # The endpoint check came from the table when it exists, else from /v1/models.
    assert (stats["requests"]["models"] == 0) is catalog_loaded


@pytest.mark.parametrize("catalog_loaded", [True, False], ids=["catalog-table", "no-catalog"])
def test_asset_failure_lists_every_problem_and_submits_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emulator_factory: EmulatorFactory,
    catalog_loaded: bool,
) -> None:
    paths = isolate(tmp_path, monkeypatch)
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    emulator: EmulatorProcess = emulator_factory(models=40, **FAST)
    if catalog_loaded:
        materialize_catalog(emulator_fal(emulator), paths.duckdb)
    path = prompts / "three.jsonl"
    path.write_text(THREE_PROBLEMS)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("prompt_sets", ["three"])

    result = dg.materialize(
        [generation_requests],
        partition_key="three",
        instance=instance,
        resources={
            "fal": emulator_fal(emulator),
            "duckdb": DuckDBResource(database=str(paths.duckdb)),
            "paths": PlatformPaths.of(DataPaths.under(paths.duckdb.parent, prompts)),
        },
        raise_on_error=False,
    )
    assert not result.success
    (event,) = result.get_step_failure_events()
    failure = event.step_failure_data.user_failure_data
    assert failure is not None and failure.description is not None
    # Without the catalog the endpoint line cannot be judged, but the file's own problems are
    # all reported at once, with the reason the endpoints were not checked.
    for line in expected_lines(path) if catalog_loaded else expected_lines(path)[0::2]:
        assert line in failure.description, failure.description
    if not catalog_loaded:
        assert "fal_catalog/models" in failure.description, failure.description
    assert "Nothing was submitted" in failure.description
    assert emulator.stats()["requests"]["submit"] == 0
