"""A live UI to look at: the emulator, a real `dagster dev` and one materialized prompt set.

The browser test (tests/test_ui_browser.py) and the docs screenshots (scripts/screenshots.py)
start it the same way, so the pictures in docs/ show exactly what the test checked. Everything
lives under one scratch directory (Dagster home, data, prompts, logs); the developer's
`.dagster_home` and `data/` are never touched.

Every sensor is stopped before the prompt file appears: otherwise `prompt_sets_sensor` and the
media automation launch their own catalog and partition runs next to ours, which doubles the
load on two cores and makes "the latest materialization" a moving target while the browser looks.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fal_platform.devstack.dagster_dev import STARTUP_TIMEOUT, dagster_dev_process
from fal_platform.devstack.dagster_home import write_dagster_yaml
from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.devstack.processes import ManagedProcess, free_port, isolated_env
from fal_platform.target import ENV_EMULATOR_URL

from .ui_graphql import DagsterUI, GraphQLError

LOCATION = "fal_platform"
PROMPT_SETS = "prompt_sets"
CATALOG_JOB = "fal_catalog_refresh"
RUN_TIMEOUT = 180.0
REQUESTS = ["generation", "requests"]
MEDIA_FILES = ["media", "files"]
MEDIA_TIMINGS = ["media", "timings"]
MEDIA_ARCHIVE = ["media", "archive"]
REPORT = ["reports", "endpoint_stats"]

SENSORS = """
query Sensors($selector: RepositorySelector!) {
  repositoryOrError(repositorySelector: $selector) {
    __typename
    ... on Repository { sensors { name sensorState { id status } } }
    ... on Error { message }
  }
}
"""

STOP_SENSOR = """
mutation StopSensor($id: String!) {
  stopSensor(id: $id) {
    __typename
    ... on StopSensorMutationResult { instigationState { status } }
    ... on Error { message }
  }
}
"""


@dataclass(frozen=True)
class DagsterDev:
    process: ManagedProcess
    """Not started yet: use it as a context manager (or start/stop it) where the test needs."""
    home: Path
    url: str


def dagster_dev(scratch: Path, *, repo_root: Path, env: Mapping[str, str]) -> DagsterDev:
    """`dagster dev` on a free loopback port, with its Dagster home and log under `scratch`."""
    home = scratch / "dagster_home"
    write_dagster_yaml(home)
    port = free_port()
    process = dagster_dev_process(
        repo_root=repo_root,
        dagster_home=home,
        host="127.0.0.1",
        port=port,
        env=env,
        log_path=scratch / "dagster-dev.log",
    )
    return DagsterDev(process, home, f"http://127.0.0.1:{port}")


@dataclass(frozen=True)
class LiveUI:
    ui: DagsterUI
    prompts: Path
    """FAL_PLATFORM_PROMPTS_DIR of the running Dagster: empty until a prompt set is added."""
    emulator: EmulatorProcess
    """The fal stand-in; a test may stop it to show what the UI keeps without fal."""


@contextmanager
def live_ui(scratch: Path, *, repo_root: Path, emulator_models: int = 120) -> Iterator[LiveUI]:
    """An emulator and `dagster dev` on free ports, their state under `scratch`; both stop on exit."""
    data, prompts = scratch / "data", scratch / "prompts"
    prompts.mkdir(parents=True, exist_ok=True)
    with EmulatorProcess(models=emulator_models) as emulator:
        env = isolated_env(
            **{
                ENV_EMULATOR_URL: emulator.url,
                "FAL_PLATFORM_DATA_DIR": str(data),
                "FAL_PLATFORM_PROMPTS_DIR": str(prompts),
            }
        )
        server = dagster_dev(scratch, repo_root=repo_root, env=env)
        with server.process, DagsterUI(server.url, location=LOCATION) as ui:
            server.process.wait_ready(STARTUP_TIMEOUT)
            stop_sensors(ui)
            yield LiveUI(ui, prompts, emulator)


def stop_sensor(ui: DagsterUI, sensor_id: str) -> dict[str, Any]:
    """The UI's "Stop sensor" toggle; returns the mutation's `stopSensor` answer."""
    result: dict[str, Any] = ui.query(STOP_SENSOR, {"id": sensor_id})["stopSensor"]
    return result


def stop_sensors(ui: DagsterUI) -> None:
    """Every sensor of the code location, whatever its name."""
    repository = ui.query(SENSORS, {"selector": ui.repository_selector})["repositoryOrError"]
    if repository["__typename"] != "Repository":
        raise GraphQLError(f"repositoryOrError -> {repository}")
    for sensor in repository["sensors"]:
        result = stop_sensor(ui, sensor["sensorState"]["id"])
        if result["__typename"] != "StopSensorMutationResult":
            raise GraphQLError(f"stopSensor({sensor['name']}) -> {result}")


def materialize_prompt_set(
    live: LiveUI, prompt_file: Path, assets: Sequence[Sequence[str]], *, report: bool = False
) -> str:
    """The catalog, then `assets` for the prompt file's partition (then the report, if asked),
    launched over GraphQL as a user clicking Materialize would. Returns the partition key."""
    partition = prompt_file.stem
    shutil.copy(prompt_file, live.prompts / prompt_file.name)
    _run(live.ui, "catalog", live.ui.launch(job_name=CATALOG_JOB))
    live.ui.add_dynamic_partition(PROMPT_SETS, partition)
    _run(live.ui, partition, live.ui.launch_partition(assets, partition))
    if report:
        _run(live.ui, "report", live.ui.launch(asset_paths=[REPORT]))
    return partition


def _run(ui: DagsterUI, label: str, run_id: str) -> None:
    started = time.monotonic()
    outcome = ui.wait_for_run(run_id, RUN_TIMEOUT)
    if not outcome.succeeded:
        raise RuntimeError(f"{label} run {outcome.status}:\n{ui.run_errors(run_id)}")
    print(f"[live-ui] {label}: {outcome.status} in {time.monotonic() - started:.1f}s", flush=True)
