"""`prompt_sets_sensor` with `build_sensor_context`: partitions and runs for new and edited
files only."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from generation_support import distinct_items, write_jsonl

from assets.catalog.assets import MODELS_KEY
from assets.generation.assets import REQUESTS_KEY
from assets.generation.sensors import CATALOG_SELECTION, RUN_SELECTION, prompt_sets_sensor
from fal_platform.batch.prompts import discover_prompt_sets
from fal_platform.definitions import defs


def tick(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    result = prompt_sets_sensor(context)
    assert isinstance(result, dg.SensorResult)
    # What the daemon does with the result: add the partitions.
    for request in result.dynamic_partitions_requests or []:
        assert isinstance(request, dg.AddDynamicPartitionsRequest)
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def runs(result: dg.SensorResult) -> dict[str, str]:
    requests = result.run_requests or []
    for request in requests:
        assert request.asset_selection == RUN_SELECTION
    return {request.partition_key or "": request.run_key or "" for request in requests}


def test_sensor_adds_partitions_and_runs_new_and_edited_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    prompts = tmp_path / "prompts"
    monkeypatch.setenv("FAL_PLATFORM_PROMPTS_DIR", str(prompts))
    write_jsonl(prompts / "alpha.jsonl", distinct_items(2))
    (prompts / "beta.csv").write_text("endpoint_id,prompt\nfal-ai/flux/schnell,a boat\n")
    instance = dg.DagsterInstance.ephemeral()

    # A fresh instance has no catalog to validate against: the sensor loads it first, adds the
    # partitions, and keeps its cursor so the prompt sets are requested on a later tick.
    bootstrap = tick(instance, None)
    assert [r.asset_selection for r in bootstrap.run_requests or []] == [CATALOG_SELECTION]
    assert bootstrap.cursor is None
    assert set(instance.get_dynamic_partitions("prompt_sets")) == {"alpha", "beta"}
    instance.report_runless_asset_event(dg.AssetMaterialization(MODELS_KEY))

    first = tick(instance, None)
    assert set(runs(first)) == {"alpha", "beta"}
    assert set(instance.get_dynamic_partitions("prompt_sets")) == {"alpha", "beta"}

    # Nothing changed: no runs, no partitions.
    second = tick(instance, first.cursor)
    assert runs(second) == {} and not second.dynamic_partitions_requests

    # An edit runs that set again, under a new run key; a new file gets a partition and a run;
    # a file whose name cannot be a partition key is skipped without failing the tick.
    write_jsonl(prompts / "alpha.jsonl", distinct_items(3))
    write_jsonl(prompts / "gamma.jsonl", distinct_items(1))
    write_jsonl(prompts / "bad,name.jsonl", distinct_items(1))
    third = tick(instance, second.cursor)
    third_runs = runs(third)
    assert set(third_runs) == {"alpha", "gamma"}
    assert third_runs["alpha"] != runs(first)["alpha"]
    assert third_runs["alpha"].startswith("alpha:")
    assert [r.partition_keys for r in third.dynamic_partitions_requests or []] == [["gamma"]]
    assert "bad,name" not in instance.get_dynamic_partitions("prompt_sets")

    fourth = tick(instance, third.cursor)
    assert runs(fourth) == {}


def test_a_fresh_cursor_skips_sets_already_materialized_from_the_same_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """`make dev` after `make demo`: the dev sensor's cursor is new, but the shared instance
    already has each set's materialization (tagged with its file hash) from the demo."""
    prompts = tmp_path / "prompts"
    monkeypatch.setenv("FAL_PLATFORM_PROMPTS_DIR", str(prompts))
    write_jsonl(prompts / "alpha.jsonl", distinct_items(2))
    write_jsonl(prompts / "beta.jsonl", distinct_items(1))
    instance = dg.DagsterInstance.ephemeral()
    instance.report_runless_asset_event(dg.AssetMaterialization(MODELS_KEY))
    instance.add_dynamic_partitions("prompt_sets", ["alpha", "beta"])
    hashes = {f.name: f.content_hash for f in discover_prompt_sets(prompts)}
    for name, content_hash in (("alpha", hashes["alpha"]), ("beta", "hash-of-an-older-file")):
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                REQUESTS_KEY, partition=name, metadata={"prompt_set_hash": content_hash}
            )
        )

    first = tick(instance, None)
    assert set(runs(first)) == {"beta"}  # alpha is done; beta's file changed since its run

    # Edited after the demo: alpha runs again.
    write_jsonl(prompts / "alpha.jsonl", distinct_items(3))
    assert set(runs(tick(instance, first.cursor))) == {"alpha"}


def test_sensor_is_in_the_code_location_and_running_by_default():
    assert prompt_sets_sensor in list(defs.sensors or [])
    assert prompt_sets_sensor.default_status is dg.DefaultSensorStatus.RUNNING
