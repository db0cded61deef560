"""`prompt_sets_sensor` with `build_sensor_context`: partitions and runs for new and edited
files only, and none for a file the partition already materialized."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from generation_support import distinct_items, write_jsonl

from assets.generation.sensors import CATALOG_SELECTION, RUN_SELECTION, prompt_sets_sensor
from assets.keys import MODELS_KEY, PROMPT_SET_HASH, REQUESTS_KEY
from fal_platform.batch.prompts import discover_prompt_sets
from fal_platform.definitions import defs
from fal_platform.paths import DataPaths
from resources.paths import PlatformPaths


def tick(instance: dg.DagsterInstance, cursor: str | None, prompts: Path) -> dg.SensorResult:
    paths = PlatformPaths.of(DataPaths.under(prompts.parent / "data", prompts))
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources={"paths": paths}
    )
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


def test_sensor_adds_partitions_and_runs_new_and_edited_files(tmp_path: Path):
    prompts = tmp_path / "prompts"
    write_jsonl(prompts / "alpha.jsonl", distinct_items(2))
    (prompts / "beta.csv").write_text("endpoint_id,prompt\nfal-ai/flux/schnell,a boat\n")
    instance = dg.DagsterInstance.ephemeral()

    # A fresh instance has no catalog to validate against: the sensor loads it first, adds the
    # partitions, and keeps its cursor so the prompt sets are requested on a later tick.
    bootstrap = tick(instance, None, prompts)
    assert [r.asset_selection for r in bootstrap.run_requests or []] == [CATALOG_SELECTION]
    assert bootstrap.cursor is None
    assert set(instance.get_dynamic_partitions("prompt_sets")) == {"alpha", "beta"}
    instance.report_runless_asset_event(dg.AssetMaterialization(MODELS_KEY))

    first = tick(instance, None, prompts)
    assert set(runs(first)) == {"alpha", "beta"}
    assert set(instance.get_dynamic_partitions("prompt_sets")) == {"alpha", "beta"}

    # Nothing changed: no runs, no partitions.
    second = tick(instance, first.cursor, prompts)
    assert runs(second) == {} and not second.dynamic_partitions_requests

    # An edit runs that set again, under a new run key; a new file gets a partition and a run;
    # a file whose name cannot be a partition key is skipped without failing the tick.
    write_jsonl(prompts / "alpha.jsonl", distinct_items(3))
    write_jsonl(prompts / "gamma.jsonl", distinct_items(1))
    write_jsonl(prompts / "bad,name.jsonl", distinct_items(1))
    third = tick(instance, second.cursor, prompts)
    third_runs = runs(third)
    assert set(third_runs) == {"alpha", "gamma"}
    assert third_runs["alpha"] != runs(first)["alpha"]
    assert third_runs["alpha"].startswith("alpha:")
    assert [r.partition_keys for r in third.dynamic_partitions_requests or []] == [["gamma"]]
    assert "bad,name" not in instance.get_dynamic_partitions("prompt_sets")

    fourth = tick(instance, third.cursor, prompts)
    assert runs(fourth) == {}


def test_sensor_skips_a_file_the_partition_already_materialized(tmp_path: Path):
    """`dev` after `demo`: same instance, fresh cursor; only sets whose file changed run."""
    prompts = tmp_path / "prompts"
    write_jsonl(prompts / "done.jsonl", distinct_items(2))
    write_jsonl(prompts / "edited.jsonl", distinct_items(2, tag="old"))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("prompt_sets", ["done", "edited"])
    instance.report_runless_asset_event(dg.AssetMaterialization(MODELS_KEY))
    for prompt_file in discover_prompt_sets(prompts):
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                REQUESTS_KEY,
                partition=prompt_file.name,
                metadata={PROMPT_SET_HASH: dg.MetadataValue.text(prompt_file.content_hash)},
            )
        )
    write_jsonl(prompts / "edited.jsonl", distinct_items(2, tag="new"))
    write_jsonl(prompts / "new.jsonl", distinct_items(1))

    result = tick(instance, None, prompts)
    assert set(runs(result)) == {"edited", "new"}
    assert result.cursor is not None and "done" in result.cursor
