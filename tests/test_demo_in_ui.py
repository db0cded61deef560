"""`make demo`, then `make dev`: the demo's runs are the code location's own in the UI.

The UI offers "Re-execute" without a warning only when a run names a loaded code location and
repository (`repositoryOrigin`) and was made from the job snapshot that location serves now
(`parentPipelineSnapshotId`, or `pipelineSnapshotId` for a run of the whole job); otherwise it
warns that `__ASSET_JOB` "may be a different version" (issue 10, item 6). The demo runs as a
user runs it (its own process, the same environment `dev` gets), then a real `dagster dev`
answers for its runs over GraphQL, the queries the UI's Re-execute button is drawn from.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.dagster_stack import LOCATION, dagster_dev
from support.ui_graphql import DagsterUI

from fal_platform.devstack.dagster_dev import STARTUP_TIMEOUT
from fal_platform.devstack.dagster_home import find_repo_root
from fal_platform.devstack.location_runs import ASSET_JOB, REPOSITORY
from fal_platform.devstack.processes import isolated_env

pytestmark = [pytest.mark.ui, pytest.mark.timeout(600)]

REPO_ROOT = find_repo_root(Path(__file__).resolve().parents[1])
PROMPT_FILE = REPO_ROOT / "prompts" / "product-shots.jsonl"

RUNS_QUERY = """
{
  runsOrError {
    ... on Runs {
      results {
        runId
        status
        pipelineName
        pipelineSnapshotId
        parentPipelineSnapshotId
        repositoryOrigin { repositoryLocationName repositoryName }
      }
    }
  }
}
"""

JOB_QUERY = """
query Job($selector: PipelineSelector!) {
  pipelineOrError(params: $selector) {
    __typename
    ... on Pipeline { pipelineSnapshotId }
  }
}
"""


def test_demo_runs_match_the_location_dev_serves(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    shutil.copy(PROMPT_FILE, prompts / PROMPT_FILE.name)
    dev = dagster_dev(tmp_path, repo_root=REPO_ROOT, env=_env(tmp_path))
    demo = subprocess.run(
        [sys.executable, "-m", "fal_platform.cli", "demo"],
        cwd=REPO_ROOT,
        env={**_env(tmp_path), "DAGSTER_HOME": str(dev.home)},
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr

    with dev.process, DagsterUI(dev.url, location=LOCATION) as ui:
        dev.process.wait_ready(STARTUP_TIMEOUT)
        selector = {
            "pipelineName": ASSET_JOB,
            "repositoryName": REPOSITORY,
            "repositoryLocationName": LOCATION,
        }
        job = ui.query(JOB_QUERY, {"selector": selector})["pipelineOrError"]
        assert job["__typename"] == "Pipeline", job
        runs = ui.query(RUNS_QUERY)["runsOrError"]["results"]

    # catalog, one prompt set, the report: every one a success of the location's own job.
    assert len(runs) == 3, runs
    for run in runs:
        assert run["status"] == "SUCCESS", run
        assert run["pipelineName"] == ASSET_JOB, run
        assert run["repositoryOrigin"] == {
            "repositoryLocationName": LOCATION,
            "repositoryName": REPOSITORY,
        }, run
        snapshot = run["parentPipelineSnapshotId"] or run["pipelineSnapshotId"]
        assert snapshot == job["pipelineSnapshotId"], run


def _env(scratch: Path) -> dict[str, str]:
    """What `make demo` and `make dev` both see: the same data and prompts folders."""
    return isolated_env(
        FAL_PLATFORM_DATA_DIR=str(scratch / "data"),
        FAL_PLATFORM_PROMPTS_DIR=str(scratch / "prompts"),
    )


SNAPSHOT_PROBE = (
    "import sys\n"
    "{warmup}\n"
    "from fal_platform.definitions import defs\n"
    "print(defs.get_repository_def().get_job('__ASSET_JOB').get_job_snapshot_id())\n"
)


def test_the_asset_job_snapshot_is_the_same_in_every_process() -> None:
    """The UI matches a run to its code location by snapshot id, computed afresh in each process
    (the demo's, each code server's). Hash seeds and allocation patterns differ between
    processes; the id must not (two blocking checks with equal output names made it differ:
    assets/catalog/checks.py)."""
    ids = set()
    for seed, warmup in (
        ("1", "pass"),
        ("2", "import dagster, duckdb, httpx"),
        ("3", "x = [0] * 99"),
    ):
        probe = subprocess.run(
            [sys.executable, "-c", SNAPSHOT_PROBE.format(warmup=warmup)],
            cwd=REPO_ROOT,
            env={**isolated_env(), "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        )
        ids.add(probe.stdout.strip())
    assert len(ids) == 1, ids
