"""The Dagster UI end to end: a real `dagster dev` (webserver + daemon) driven over /graphql.

What a user sees in the UI is what these queries return: the code location loaded, the lineage
catalog -> generation -> media -> report, the sensor and the schedule, the fal key shown as the
env var `FAL_KEY` (never its value), and a prompt-set partition run that succeeds against the
emulator. The server runs in its own process group, killed as a whole at the end.

Both sensors start RUNNING (asserted), then the test stops them through GraphQL before it writes
the prompt file: left on, they launch their own catalog, partition and report runs, which queue
behind the test's runs on the one-slot `duckdb` pool and made this test take minutes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.dagster_stack import dagster_dev, stop_sensor
from support.ui_graphql import DagsterUI

from fal_platform.devstack.dagster_dev import STARTUP_TIMEOUT
from fal_platform.devstack.dagster_home import find_repo_root
from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.devstack.processes import ManagedProcess, isolated_env

pytestmark = [pytest.mark.ui, pytest.mark.timeout(300)]

LOCATION = "fal_platform"
PROMPT_SET = "ui-smoke"
FAKE_KEY = "test-key"
CATALOG_JOB = "fal_catalog_refresh"
CATALOG_SCHEDULE = "fal_catalog_daily"
SENSOR = "prompt_sets_sensor"
AUTOMATION_SENSOR = "media_and_reports_automation"
PARTITION_ASSETS = [["generation", "requests"], ["media", "files"], ["media", "timings"]]
RUN_TIMEOUT = 180.0

EXPECTED_EDGES = {
    ("fal_catalog/models", "generation/requests"),
    ("fal_catalog/pricing", "generation/requests"),
    ("generation/requests", "media/files"),
    ("generation/requests", "media/timings"),
    ("media/files", "reports/endpoint_stats"),
    ("media/timings", "reports/endpoint_stats"),
    ("fal_catalog/pricing", "reports/endpoint_stats"),
}

WORKSPACE_QUERY = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on PythonError { message }
          ... on RepositoryLocation { repositories { name } }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""

ASSET_GRAPH_QUERY = """
{
  assetNodes {
    assetKey { path }
    groupName
    isPartitioned
    dependencyKeys { path }
    dependedByKeys { path }
  }
}
"""

REPOSITORY_QUERY = """
{
  repositoriesOrError {
    __typename
    ... on RepositoryConnection {
      nodes {
        name
        location { name }
        sensors { id name sensorState { status } }
        schedules { name cronSchedule scheduleState { status } }
        allTopLevelResourceDetails { name configuredValues { key value type } }
      }
    }
  }
}
"""

PROMPT_LINES = [
    {
        "endpoint_id": "fal-ai/flux/schnell",
        "input": {"prompt": "a red bicycle leaning on a blue wall", "image_size": "square_hd"},
    },
    {
        "endpoint_id": "fal-ai/flux/schnell",
        "input": {"prompt": "a lighthouse at dusk, long exposure", "num_images": 2},
    },
]


@dataclass
class RunningUI:
    ui: DagsterUI
    server: ManagedProcess
    prompts: Path


@pytest.fixture
def dagster_ui(
    emulator_factory: Callable[..., EmulatorProcess], tmp_path: Path
) -> Iterator[RunningUI]:
    emulator = emulator_factory(models=60, queue_wait=0.05, inference_time=0.1)
    prompts = tmp_path / "prompts"
    prompts.mkdir()  # empty until the sensors are stopped: the test writes the prompt set
    data = tmp_path / "data"
    env = isolated_env(
        FAL_PLATFORM_DATA_DIR=str(data),
        FAL_PLATFORM_DUCKDB=str(data / "fal_platform.duckdb"),
        FAL_PLATFORM_PROMPTS_DIR=str(prompts),
        FAL_KEY=FAKE_KEY,
        FAL_PLATFORM_API_URL=emulator.api_url,
        FAL_PLATFORM_QUEUE_URL=emulator.queue_url,
        FAL_PLATFORM_RUN_URL=emulator.run_url,
    )
    dev = dagster_dev(
        tmp_path, repo_root=find_repo_root(Path(__file__).resolve().parents[1]), env=env
    )
    server = dev.process
    ui = DagsterUI(dev.url, location=LOCATION)
    try:
        server.start()
        server.wait_ready(STARTUP_TIMEOUT)
        yield RunningUI(ui, server, prompts)
    finally:
        ui.close()
        server.stop(grace=10.0)  # SIGTERM the group, then SIGKILL whatever is left


def _path(key: dict[str, list[str]]) -> str:
    return "/".join(key["path"])


def test_ui_shows_lineage_and_runs_a_partition(dagster_ui: RunningUI) -> None:
    ui, server = dagster_ui.ui, dagster_ui.server

    # The code location loaded without error.
    workspace = ui.query(WORKSPACE_QUERY)["workspaceOrError"]
    assert workspace["__typename"] == "Workspace", workspace
    entries = {e["name"]: e for e in workspace["locationEntries"]}
    assert LOCATION in entries, entries
    assert entries[LOCATION]["loadStatus"] == "LOADED"
    location = entries[LOCATION]["locationOrLoadError"]
    assert location["__typename"] == "RepositoryLocation", location.get("message")

    # The lineage: catalog -> generation -> media -> report, seen from both ends of each edge.
    nodes = {_path(n["assetKey"]): n for n in ui.query(ASSET_GRAPH_QUERY)["assetNodes"]}
    upstream_edges = {
        (_path(dep), key) for key, node in nodes.items() for dep in node["dependencyKeys"]
    }
    downstream_edges = {
        (key, _path(child)) for key, node in nodes.items() for child in node["dependedByKeys"]
    }
    assert upstream_edges >= EXPECTED_EDGES, EXPECTED_EDGES - upstream_edges
    assert downstream_edges >= EXPECTED_EDGES, EXPECTED_EDGES - downstream_edges
    assert nodes["generation/requests"]["isPartitioned"]
    assert nodes["media/files"]["isPartitioned"]
    assert not nodes["reports/endpoint_stats"]["isPartitioned"]

    # The sensor, the schedule, and the key shown as an env var name.
    repositories = ui.query(REPOSITORY_QUERY)["repositoriesOrError"]["nodes"]
    repository = next(r for r in repositories if r["location"]["name"] == LOCATION)
    sensors = {s["name"]: s["sensorState"]["status"] for s in repository["sensors"]}
    schedules = {s["name"]: s for s in repository["schedules"]}
    assert sensors.get(SENSOR) == "RUNNING", sensors
    assert sensors.get(AUTOMATION_SENSOR) == "RUNNING", sensors
    assert CATALOG_SCHEDULE in schedules, schedules
    assert schedules[CATALOG_SCHEDULE]["scheduleState"]["status"] == "RUNNING"
    resources = {r["name"]: r for r in repository["allTopLevelResourceDetails"]}
    fal_values = {v["key"]: v for v in resources["fal"]["configuredValues"]}
    assert fal_values["api_key"] == {"key": "api_key", "value": "FAL_KEY", "type": "ENV_VAR"}

    # The sensors' own runs would queue behind this test's on the duckdb pool: stop them first.
    for sensor in repository["sensors"]:
        if sensor["name"] in (SENSOR, AUTOMATION_SENSOR):
            stopped = stop_sensor(ui, sensor["id"])
            assert stopped["__typename"] == "StopSensorMutationResult", stopped
            assert stopped["instigationState"]["status"] == "STOPPED", stopped
    (dagster_ui.prompts / f"{PROMPT_SET}.jsonl").write_text(
        "".join(json.dumps(line) + "\n" for line in PROMPT_LINES)
    )

    # Runs: the catalog first (generation validates prompt sets against it), then one partition.
    catalog_run = ui.launch(job_name=CATALOG_JOB)
    outcome = ui.wait_for_run(catalog_run, RUN_TIMEOUT)
    assert outcome.succeeded, f"{CATALOG_JOB} {outcome.status}:\n{ui.run_errors(catalog_run)}"

    # Added here, as a user would (a sensor tick already under way at the stop may add it too).
    ui.add_dynamic_partition("prompt_sets", PROMPT_SET)
    partition_run = ui.launch_partition(PARTITION_ASSETS, PROMPT_SET)
    outcome = ui.wait_for_run(partition_run, RUN_TIMEOUT)
    assert outcome.succeeded, (
        f"partition run {outcome.status}:\n{ui.run_errors(partition_run)}\n"
        f"dagster dev output (tail):\n{server.output()[-3000:]}"
    )

    # The key's value went to the run workers through the environment, never into the UI:
    # not in any response so far, nor in the run's event log (which holds the asset's logs).
    assert ui.run_events(partition_run)
    leaked = [i for i, text in enumerate(ui.responses) if FAKE_KEY in text]
    assert not leaked, f"{FAKE_KEY!r} appears in GraphQL responses {leaked}"
