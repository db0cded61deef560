"""`prompt_sets_sensor`: a new or edited prompt file becomes a partition and a run.

The cursor maps each prompt set to the sha256 of its file. A file whose hash is not the one in
the cursor (new, or edited) gets its partition added (if new) and a run requested, unless the
partition's latest materialization on this instance came from that very file (the demo ran it);
the run key includes the hash, so an edited set runs again while a re-evaluated tick never
duplicates a run (Dagster drops a run key it has seen). Files whose name cannot be a partition key (a comma,
a space...) are skipped with a log message naming the problem; a deleted file's partition and
rows are kept as history.
"""

import json

import dagster as dg

from assets.catalog.assets import MODELS_KEY, PRICING_KEY
from assets.generation.assets import REQUESTS_KEY, generation_requests
from assets.generation.checks import GENERATION_CHECKS
from assets.partitions import prompt_sets
from fal_platform.batch.prompts import discover_prompt_sets, rejected_prompt_files
from fal_platform.paths import prompts_dir

RUN_SELECTION: list[dg.AssetKey] = [
    REQUESTS_KEY,
    dg.AssetKey(["media", "files"]),
    dg.AssetKey(["media", "timings"]),
]
"""What a new or edited prompt set materializes: the requests and, in the same run, its media."""
CATALOG_SELECTION: list[dg.AssetKey] = [MODELS_KEY, PRICING_KEY]
"""Prompt sets are validated against the catalog, so on a fresh instance it is loaded first."""


def _read_cursor(cursor: str | None) -> dict[str, str]:
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _materialized_hash(instance: dg.DagsterInstance, partition: str) -> str | None:
    """The file hash behind the partition's latest `generation/requests`, so a set that another
    process (the demo) already ran on this instance is not run again by a fresh cursor."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=REQUESTS_KEY, asset_partitions=[partition]), limit=1
    ).records
    materialization = records[0].asset_materialization if records else None
    value = materialization.metadata.get("prompt_set_hash") if materialization else None
    return value.value if isinstance(value, dg.TextMetadataValue) else None


@dg.sensor(
    name="prompt_sets_sensor",
    target=dg.AssetSelection.assets(*RUN_SELECTION, *CATALOG_SELECTION),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Adds a `prompt_sets` partition per prompt file and runs new or edited sets.",
)
def prompt_sets_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    directory = prompts_dir()
    seen = _read_cursor(context.cursor)
    for problem in rejected_prompt_files(directory):
        context.log.warning(f"skipping prompt file: {problem}")
    files = discover_prompt_sets(directory)
    known = set(context.instance.get_dynamic_partitions(prompt_sets.name or "prompt_sets"))
    new_partitions = [f.name for f in files if f.name not in known]
    run_requests = [
        dg.RunRequest(
            run_key=f"{f.name}:{f.content_hash[:16]}",
            partition_key=f.name,
            asset_selection=RUN_SELECTION,
            tags={"fal_platform/prompt_set_hash": f.content_hash[:16]},
        )
        for f in files
        if seen.get(f.name) != f.content_hash
        and _materialized_hash(context.instance, f.name) != f.content_hash
    ]
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


def generation_defs() -> dg.Definitions:
    """The generation asset, its checks and its sensor (resources come from the code location)."""
    return dg.Definitions(
        assets=[generation_requests],
        asset_checks=GENERATION_CHECKS,
        sensors=[prompt_sets_sensor],
    )
