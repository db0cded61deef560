"""A broken prompt set never stalls the report: the real daemon under `dagster dev`.

Two prompt files land in a fresh instance: `good` runs, `bad` names an endpoint fal does not
have, so its run fails and its partition of media/files never exists. The sensors that start
RUNNING do the rest, as for a user: the prompt-file sensor loads the catalog and runs both sets,
and the automation sensor must then materialize `reports/endpoint_stats` from `good`'s media.
Under `AutomationCondition.eager()` the report waited for every partition (`any_deps_missing`)
and stayed "Not requested" on every tick.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest
from support.dagster_stack import dagster_dev

from assets.keys import ENDPOINT_STATS_KEY, MEDIA_FILES_KEY, REQUESTS_KEY
from fal_platform.devstack.dagster_home import find_repo_root
from fal_platform.devstack.demo import open_instance
from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.devstack.processes import isolated_env
from fal_platform.sensor_interval import ENV_SENSOR_INTERVAL

pytestmark = [pytest.mark.ui, pytest.mark.timeout(900)]

ROOT = find_repo_root(Path(__file__).resolve().parents[1])
WAIT = 360.0
STARTUP = 300.0
"""Loading the code location on a busy 2-core machine can take minutes."""
SENSOR_INTERVAL = 2
"""Both sensors tick on every pass of the daemon (it sleeps ~5 s between passes) instead of every
30 s: the test waits on the runs, not on two or three sensor intervals (90 -> 59 s alone)."""
GOOD = [{"endpoint_id": "fal-ai/flux/schnell", "input": {"prompt": f"kite {i}"}} for i in range(2)]
BAD = [{"endpoint_id": "nobody/nothing", "input": {"prompt": "never sent"}}]


def _write(path: Path, lines: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def _latest(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None = None) -> float:
    """Timestamp of the latest materialization (0 when there is none)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None),
        limit=1,
    ).records
    return records[0].timestamp if records else 0.0


def _failed(instance: dg.DagsterInstance, partition: str) -> bool:
    runs = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": partition}))
    return any(run.status == dg.DagsterRunStatus.FAILURE for run in runs)


def _wait_for(what: str, condition: Callable[[], bool], log: Callable[[], str]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {WAIT:g}s; dagster dev:\n{log()[-4000:]}")
        time.sleep(2.0)


def test_a_failed_prompt_set_does_not_block_the_report(
    emulator_factory: Callable[..., EmulatorProcess], tmp_path: Path
) -> None:
    emulator = emulator_factory(models=60, queue_wait=0.05, inference_time=0.1)
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    _write(prompts / "good.jsonl", GOOD)
    _write(prompts / "bad.jsonl", BAD)
    env = isolated_env(
        FAL_PLATFORM_DATA_DIR=str(tmp_path / "data"),
        FAL_PLATFORM_PROMPTS_DIR=str(prompts),
        FAL_PLATFORM_EMULATOR_URL=emulator.url,
        DAGSTER_DISABLE_TELEMETRY="1",
        **{ENV_SENSOR_INTERVAL: str(SENSOR_INTERVAL)},
    )
    dev = dagster_dev(tmp_path, repo_root=ROOT, env=env)
    server = dev.process
    with server:
        server.wait_ready(STARTUP)
        instance = open_instance(dev.home)
        try:
            _wait_for(
                "good's media and bad's failed run",
                lambda: (
                    bool(_latest(instance, MEDIA_FILES_KEY, "good")) and _failed(instance, "bad")
                ),
                server.output,
            )
            media_at = _latest(instance, MEDIA_FILES_KEY, "good")
            _wait_for(
                "reports/endpoint_stats after good's media",
                lambda: _latest(instance, ENDPOINT_STATS_KEY) > media_at,
                server.output,
            )
            assert not _latest(instance, REQUESTS_KEY, "bad")
            assert not _latest(instance, MEDIA_FILES_KEY, "bad")
        finally:
            instance.dispose()
