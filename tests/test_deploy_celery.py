"""deploy/ on real servers: the Dagster instance on PostgreSQL, every step on Celery workers
over Redis, runs queued by the daemon, as the README's "Deploying" section sets it up.

One stack for the module (`LocalStack`, fal_platform/devstack/stack.py): a PostgreSQL 15
cluster, Redis, two Celery workers and `dg dev` (webserver + daemon), ~30 s to start on 2 cores.
The platform's tables stay in the DuckDB file the workers share on this machine. The only
change to deploy/celery.yaml is a shorter visibility timeout, so a killed worker's step comes
back in seconds rather than an hour. The kill test runs last: it leaves one worker.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import psutil
import pytest
import yaml
from catalog_support import emulator_fal, materialize_catalog
from dagster_postgres import PostgresRunStorage
from generation_support import FAST, accepted_by_item, distinct_items, write_jsonl
from support.dagster_stack import MEDIA_FILES, MEDIA_TIMINGS, PROMPT_SETS, REQUESTS, stop_sensors
from support.ui_graphql import ASSET_JOB, LAUNCH_RUN, DagsterUI

from fal_platform.batch.prompts import load_prompt_set
from fal_platform.batch.store import BatchStore
from fal_platform.devstack.dagster_home import find_repo_root
from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.devstack.processes import ManagedProcess, group_members, isolated_env
from fal_platform.devstack.stack import LocalStack
from fal_platform.executor_choice import DEFAULT_CELERY_YAML
from fal_platform.store.target import StoreTarget
from fal_platform.target import ENV_EMULATOR_URL

pytestmark = [pytest.mark.ui, pytest.mark.timeout(900)]

ROOT = find_repo_root(Path(__file__).resolve().parents[1])
RUN_TIMEOUT = 600.0
STARTUP = 600.0
"""Loading the code location in `dg dev` took up to 3 minutes at load average 20 on 2 cores."""
VISIBILITY_TIMEOUT = 20
"""Longer than any step here takes, even on a loaded machine (a longer step would be handed out
twice); the killed worker's step is redelivered this long after its delivery."""
STEPS = [REQUESTS, MEDIA_FILES, MEDIA_TIMINGS]
CELERY_WORKER = "Celery worker"
"""dagster-celery's engine event ("Executing steps ... in celery worker") names the worker."""


@dataclass(frozen=True)
class Deployment:
    stack: LocalStack
    ui: DagsterUI
    emulator: EmulatorProcess
    prompts: Path
    instance: dg.DagsterInstance


def _test_celery_yaml(path: Path) -> Path:
    document = yaml.safe_load(DEFAULT_CELERY_YAML.read_text())
    options = document["execution"]["config"]["config_source"]["broker_transport_options"]
    options.update(visibility_timeout=VISIBILITY_TIMEOUT, unacked_restore_interval=1)
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    scratch = tmp_path_factory.mktemp("deploy")
    data, prompts = scratch / "data", scratch / "prompts"
    prompts.mkdir()
    with EmulatorProcess(models=40, **FAST) as emulator:
        env = isolated_env(
            **{
                ENV_EMULATOR_URL: emulator.url,
                "FAL_PLATFORM_DATA_DIR": str(data),
                "FAL_PLATFORM_PROMPTS_DIR": str(prompts),
            }
        )
        celery_yaml = _test_celery_yaml(scratch / "celery.yaml")
        with (
            LocalStack(
                scratch,
                repo_root=ROOT,
                env=env,
                celery_yaml=celery_yaml,
                stop_grace=2.0,
                startup_timeout=STARTUP,
                # The platform's tables live in the stack's Postgres (LocalStack.platform_url),
                # the catalog included: no worker keeps anything on its disk.
                while_starting=lambda stack: materialize_catalog(
                    emulator_fal(emulator),
                    data / "fal_platform.duckdb",
                    postgres_url=stack.platform_url,
                ),
            ) as stack,
            DagsterUI(stack.ui_url, location="fal_platform") as ui,
            pytest.MonkeyPatch.context() as monkeypatch,
        ):
            for name, value in stack.process_env.items():
                monkeypatch.setenv(name, value)  # the test reads the same instance
            stop_sensors(ui)
            instance = dg.DagsterInstance.get()
            try:
                yield Deployment(stack, ui, emulator, prompts, instance)
            finally:
                instance.dispose()


def _prompt_file(deployment: Deployment, name: str, items: int) -> Path:
    path = write_jsonl(deployment.prompts / f"{name}.jsonl", distinct_items(items, tag=name))
    deployment.ui.add_dynamic_partition(PROMPT_SETS, name)
    return path


def _launch(deployment: Deployment, partition: str) -> str:
    """Materialize the partition's three assets, as the UI's launchRun does, without their
    checks: eight Celery tasks per run instead of three would only add wall time here."""
    ui = deployment.ui
    selector = {
        **ui.repository_selector,
        "jobName": ASSET_JOB,
        "assetSelection": [{"path": path} for path in STEPS],
        "assetCheckSelection": [],
    }
    tags = [{"key": "dagster/partition", "value": partition}]
    params = {"selector": selector, "executionMetadata": {"tags": tags}}
    result = ui.query(LAUNCH_RUN, {"executionParams": params})["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    run_id: str = result["run"]["runId"]
    return run_id


def _wait_success(deployment: Deployment, run_id: str) -> None:
    outcome = deployment.ui.wait_for_run(run_id, RUN_TIMEOUT)
    assert outcome.succeeded, (
        f"run {run_id} {outcome.status}:\n{deployment.ui.run_errors(run_id)}\n"
        + "\n".join(w.output()[-3000:] for w in deployment.stack.worker_processes)
    )


def _workers_by_step(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, str]]:
    """(step, worker) for every step a Celery worker started, in order: from the run's event log
    in Postgres, as dagster-celery records it."""
    found = []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        metadata = event.engine_event_data.metadata if event and event.engine_event_data else {}
        if CELERY_WORKER in metadata:
            worker = str(metadata[CELERY_WORKER].value).split("@")[0]
            found.append((str(event.step_key), worker))
    return found


def _accepted(deployment: Deployment, prompt_file: Path) -> list[int]:
    return accepted_by_item(deployment.emulator, load_prompt_set(prompt_file))


def test_four_partitions_launched_at_once_run_on_both_workers(deployment: Deployment) -> None:
    files = [_prompt_file(deployment, f"shard-{n}", items=4) for n in range(4)]
    run_ids = [_launch(deployment, path.stem) for path in files]
    for run_id in run_ids:
        _wait_success(deployment, run_id)

    placements = [p for run_id in run_ids for p in _workers_by_step(deployment.instance, run_id)]
    assert {worker for _, worker in placements} == {"w1", "w2"}, placements
    assert sorted(step for step, _ in placements) == sorted(
        ["generation__requests", "media__files", "media__timings"] * 4
    ), placements
    for path in files:
        assert _accepted(deployment, path) == [1] * 4, path.name
    runs = deployment.instance.get_runs(dg.RunsFilter(run_ids=run_ids))
    assert {run.status for run in runs} == {dg.DagsterRunStatus.SUCCESS}
    assert isinstance(deployment.instance.run_storage, PostgresRunStorage)
    # the platform's tables too: every row in Postgres, no DuckDB file on any worker's disk
    requests = BatchStore(StoreTarget.from_url(deployment.stack.platform_url, "unused").backend())
    assert all(len(requests.load_requests(path.stem)) == 4 for path in files)
    assert not list(deployment.stack.scratch.rglob("*.duckdb"))
    logs = deployment.stack.home / "logs"
    assert not logs.exists() or not any(logs.rglob("*")), sorted(logs.rglob("*"))
    _no_password_in_argv_or_logs(deployment.stack)


def _no_password_in_argv_or_logs(stack: LocalStack) -> None:
    """The Postgres password reaches every process through its environment only: no command
    line (the daemon's and webserver's carry the instance ref, with `env:` names), no log."""
    assert stack.postgres is not None
    password = stack.postgres.login.password
    for child in [stack.dagster, *stack.worker_processes]:
        assert child is not None and child.pid is not None
        for pid in group_members(child.pid):
            with contextlib.suppress(psutil.Error):
                argv = " ".join(psutil.Process(pid).cmdline())
                assert password not in argv, f"{child.name}: password in argv of pid {pid}"
    for log in stack.logs.glob("*.log"):
        assert password not in log.read_text(errors="replace"), log


def _wait_for_step_on_a_worker(deployment: Deployment, run_id: str, step: str) -> str:
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        started = [w for s, w in _workers_by_step(deployment.instance, run_id) if s == step]
        if started and deployment.emulator.stats()["accepted_submits"] >= 3:
            return started[0]
        time.sleep(0.2)
    raise AssertionError(f"{step} of {run_id} never started:\n{deployment.ui.run_log_tail(run_id)}")


def _kill_worker(worker: ManagedProcess) -> None:
    """SIGKILL the worker and its pool (a machine that vanishes): nothing acknowledges its task."""
    assert worker.pid is not None
    os.killpg(worker.pid, signal.SIGKILL)
    assert worker.process is not None
    worker.process.wait(timeout=10)


def test_a_killed_workers_step_is_redelivered_and_pays_each_item_once(
    deployment: Deployment,
) -> None:
    deployment.emulator.configure(inference_time=1.5)
    deployment.emulator.reset_stats()
    path = _prompt_file(deployment, "killed", items=12)
    run_id = _launch(deployment, "killed")
    try:
        victim_name = _wait_for_step_on_a_worker(deployment, run_id, "generation__requests")
        victim = next(w for w in deployment.stack.worker_processes if w.name.endswith(victim_name))
        _kill_worker(victim)
        _wait_success(deployment, run_id)
    finally:
        deployment.emulator.configure(inference_time=FAST["inference_time"])

    generation = [
        w for s, w in _workers_by_step(deployment.instance, run_id) if s == "generation__requests"
    ]
    assert generation[0] == victim_name and len(generation) == 2, generation
    assert generation[1] != victim_name, generation
    assert _accepted(deployment, path) == [1] * 12
