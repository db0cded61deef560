"""`prompt_sets_sensor`: a new or edited prompt file becomes a partition and a run.

The cursor maps each prompt set to the sha256 of its file. A file whose hash is not the one in
the cursor (new, or edited) gets its partition added (if new) and a run requested, unless the
partition's latest `generation/requests` materialization already ran that very file (an
instance the demo filled, or a cursor that was reset): nothing would be submitted, and the run
would only keep the instance busy. The run key includes the hash, so an edited set runs again
while a re-evaluated tick never duplicates a run (Dagster drops a run key it has seen). Files
whose name cannot be a partition key (a comma, a space...) are skipped with a log message
naming the problem; a deleted file's partition and rows are kept as history.
"""

import json

import dagster as dg

from assets.keys import (
    MEDIA_FILES_KEY,
    MEDIA_TIMINGS_KEY,
    MODELS_KEY,
    PRICING_KEY,
    PROMPT_SET_HASH,
    REQUESTS_KEY,
)
from assets.partitions import prompt_sets
from fal_platform.batch.prompts import PromptFile, discover_prompt_sets, rejected_prompt_files
from fal_platform.sensor_interval import SENSOR_INTERVAL_SECONDS
from resources.paths import PlatformPaths

RUN_SELECTION: list[dg.AssetKey] = [REQUESTS_KEY, MEDIA_FILES_KEY, MEDIA_TIMINGS_KEY]
"""What a new or edited prompt set materializes: the requests and, in the same run, its media."""
CATALOG_SELECTION: list[dg.AssetKey] = [MODELS_KEY, PRICING_KEY]
"""Prompt sets are validated against the catalog, so on a fresh instance it is loaded first."""
HASH_TAG = "fal_platform/prompt_set_hash"


def _read_cursor(cursor: str | None) -> dict[str, str]:
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def materialized_hash(instance: dg.DagsterInstance, partition: str) -> str | None:
    """The file hash the partition's latest `generation/requests` materialization ran."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=REQUESTS_KEY, asset_partitions=[partition]), limit=1
    ).records
    materialization = records[0].asset_materialization if records else None
    value = materialization.metadata.get(PROMPT_SET_HASH) if materialization else None
    return str(value.value) if value is not None else None


def _run_request(prompt_file: PromptFile) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=f"{prompt_file.name}:{prompt_file.content_hash[:16]}",
        partition_key=prompt_file.name,
        asset_selection=RUN_SELECTION,
        tags={HASH_TAG: prompt_file.content_hash[:16]},
    )


def _tick(context: dg.SensorEvaluationContext, paths: PlatformPaths) -> dg.SensorResult:
    seen = _read_cursor(context.cursor)
    for problem in rejected_prompt_files(paths.prompts):
        context.log.warning(f"skipping prompt file: {problem}")
    files = discover_prompt_sets(paths.prompts)
    known = set(context.instance.get_dynamic_partitions(prompt_sets.name or "prompt_sets"))
    new_partitions = [f.name for f in files if f.name not in known]
    changed = [f for f in files if seen.get(f.name) != f.content_hash]
    done = {
        f.name
        for f in changed
        if f.name in known and materialized_hash(context.instance, f.name) == f.content_hash
    }
    if done:
        context.log.info("already materialized from the same file: " + ", ".join(sorted(done)))
    run_requests = [_run_request(f) for f in changed if f.name not in done]
    if run_requests:
        context.log.info(
            "requesting runs for " + ", ".join(r.partition_key or "" for r in run_requests)
        )
    partitions = [prompt_sets.build_add_request(new_partitions)] if new_partitions else []
    if run_requests and context.instance.get_latest_materialization_event(MODELS_KEY) is None:
        # A fresh instance: runs now would fail validation. Load the catalog once, and keep the
        # cursor where it is so these prompt sets are requested on a tick after it lands.
        context.log.info("fal_catalog/models was never materialized: requesting it first")
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(run_key="fal-catalog-bootstrap", asset_selection=CATALOG_SELECTION)
            ],
            dynamic_partitions_requests=partitions,
            cursor=context.cursor,
        )
    cursor = json.dumps({f.name: f.content_hash for f in files}, sort_keys=True)
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=partitions,
        cursor=cursor,
    )


def prompt_sets_sensor_every(seconds: int) -> dg.SensorDefinition:
    """The sensor, evaluated at most every `seconds` (fal_platform/sensor_interval.py)."""
    return dg.sensor(
        name="prompt_sets_sensor",
        target=dg.AssetSelection.assets(*RUN_SELECTION, *CATALOG_SELECTION),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=seconds,
        description="Adds a `prompt_sets` partition per prompt file and runs new or edited sets.",
    )(_tick)


prompt_sets_sensor = prompt_sets_sensor_every(SENSOR_INTERVAL_SECONDS)
"""At the default interval, for tests that tick it by hand (tests/test_generation_sensor.py)."""
