"""Four partitions at once: steps on 2 Celery workers vs the multiprocess executor.

`python -m benchmarks.scaleout [--items N] [--out DIR]` (see benchmarks/README.md).

Both variants run the same deployment (`LocalStack`, fal_platform/devstack/stack.py: the
instance in PostgreSQL, runs queued by the daemon, 4 at once) on this one machine; only the
executor differs: `celery` sends every step to two Celery workers (`deploy/celery.yaml`),
`multiprocess` runs each step in a process forked by the run worker. Per variant: the catalog
run as a warm-up, then 4 prompt sets launched at once over GraphQL; wall time from the first
launch to the end of the last run, as the instance records them. Writes `scaleout.json` and
`scaleout.md` under `--out`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks.machine import Machine, describe_machine
from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.devstack.processes import isolated_env
from fal_platform.devstack.stack import LocalStack
from fal_platform.executor_choice import ExecutorChoice
from tests.support.dagster_stack import stop_sensors
from tests.support.ui_graphql import DagsterUI

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results"
PARTITIONS = 4
RUN_ASSETS = [["generation", "requests"], ["media", "files"], ["media", "timings"]]
CATALOG_JOB = "fal_catalog_refresh"
RUN_TIMEOUT = 900.0
STARTUP_TIMEOUT = 900.0
MODELS, QUEUE_WAIT, INFERENCE_TIME = 40, 0.3, 1.0
"""The emulator every variant runs against."""
VARIANTS = {
    "celery, 2 workers": (ExecutorChoice.CELERY, 2),
    "multiprocess, one machine": (ExecutorChoice.MULTIPROCESS, 0),
}


@dataclass
class VariantResult:
    name: str
    wall_s: float
    """First launch -> end of the last of the 4 runs."""
    run_s: list[float]
    """Each run: created -> ended."""
    statuses: list[str]


@dataclass
class ScaleoutResult:
    machine: Machine
    items_per_partition: int
    variants: list[VariantResult] = field(default_factory=list)


def _wait(ui: DagsterUI, run_id: str) -> str:
    outcome = ui.wait_for_run(run_id, RUN_TIMEOUT)
    if not outcome.succeeded:
        raise RuntimeError(f"run {run_id} {outcome.status}:\n{ui.run_errors(run_id)}")
    return outcome.status


def measure(name: str, items: int, workdir: Path, emulator_url: str) -> VariantResult:
    executor, workers = VARIANTS[name]
    scratch = workdir / executor.value
    prompts = scratch / "prompts"
    prompts.mkdir(parents=True)
    env = isolated_env(
        FAL_PLATFORM_DATA_DIR=str(scratch / "data"),
        FAL_PLATFORM_PROMPTS_DIR=str(prompts),
        FAL_PLATFORM_EMULATOR_URL=emulator_url,
    )
    stack = LocalStack(
        scratch,
        repo_root=ROOT,
        env=env,
        workers=workers,
        executor=executor,
        stop_grace=2.0,
        startup_timeout=STARTUP_TIMEOUT,
    )
    with stack, DagsterUI(stack.ui_url, location="fal_platform") as ui:
        stop_sensors(ui)  # only the measured runs: no sensor launches its own
        _write_prompt_sets(prompts, items)
        _wait(ui, ui.launch(job_name=CATALOG_JOB))  # the warm-up
        for n in range(PARTITIONS):
            ui.add_dynamic_partition("prompt_sets", f"set-{n}")
        started = time.time()
        run_ids = [ui.launch_partition(RUN_ASSETS, f"set-{n}") for n in range(PARTITIONS)]
        statuses = [_wait(ui, run_id) for run_id in run_ids]
        times = [_run_times(ui, run_id) for run_id in run_ids]
    return VariantResult(
        name,
        round(max(end for _, end in times) - started, 2),
        [round(end - created, 2) for created, end in times],
        statuses,
    )


def _write_prompt_sets(prompts: Path, items: int) -> None:
    for n in range(PARTITIONS):
        lines = [
            {"endpoint_id": "fal-ai/flux/schnell", "input": {"prompt": f"set {n} tile {i}"}}
            for i in range(items)
        ]
        (prompts / f"set-{n}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


RUN_TIMES = """
query RunTimes($runId: ID!) {
  runOrError(runId: $runId) { ... on Run { creationTime endTime } }
}
"""


def _run_times(ui: DagsterUI, run_id: str) -> tuple[float, float]:
    """(created, ended) as the instance recorded them, read over GraphQL."""
    run = ui.query(RUN_TIMES, {"runId": run_id})["runOrError"]
    return float(run["creationTime"]), float(run["endTime"])


def render(result: ScaleoutResult) -> str:
    lines = [
        f"{PARTITIONS} prompt sets of {result.items_per_partition} items launched at once "
        f"(queue wait {QUEUE_WAIT} s, inference {INFERENCE_TIME} s), "
        "instance in PostgreSQL, daemon running 4 runs at once.",
        "",
        "| executor | wall, first launch to last run's end (s) | per run, median (max) s |",
        "|---|---|---|",
    ]
    for v in result.variants:
        lines.append(
            f"| {v.name} | {v.wall_s:.1f} | {statistics.median(v.run_s):.1f} ({max(v.run_s):.1f}) |"
        )
    if len(result.variants) == 2:
        celery, local = result.variants
        lines += ["", f"Ratio celery / multiprocess (wall): {celery.wall_s / local.wall_s:.2f}"]
    lines += [
        "",
        result.machine.footer(),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scaleout", description=__doc__)
    parser.add_argument("--items", type=int, default=50, help="items per prompt set [50]")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    result = ScaleoutResult(machine=describe_machine(), items_per_partition=args.items)
    with (
        tempfile.TemporaryDirectory(prefix="fal-bench-scaleout-") as workdir,
        EmulatorProcess(
            models=MODELS, queue_wait=QUEUE_WAIT, inference_time=INFERENCE_TIME
        ) as emulator,
    ):
        for name in VARIANTS:
            print(f"[bench] scaleout: {name} ...", file=sys.stderr, flush=True)
            result.variants.append(measure(name, args.items, Path(workdir), emulator.url))
    report = render(result)
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scaleout.json").write_text(json.dumps(asdict(result), indent=2) + "\n")
    (args.out / "scaleout.md").write_text(report + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
