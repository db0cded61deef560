"""Launch-to-success of a run that reuses everything, through a real `dagster dev`.

`python -m benchmarks.launch [--repeats N] [--out DIR]` (see benchmarks/README.md).

What a user waits for after clicking Materialize on a prompt set that already ran: the run is
queued over GraphQL, the daemon's run coordinator dequeues it, the run worker starts, and the
steps (`generation/requests`, `media/files`, `media/timings` and their checks, all in the one
`duckdb` pool) reuse every completed item, so fal is not called. Per variant (the executor, as
the code location `benchmarks/launch_location.py` loads it, and the instance's dequeue interval)
a fresh instance and data directory: the catalog and a first run of the prompt set (which
submits) are the warm-up; then `repeats` runs are timed from the run's creation to its end, as
the instance records them. Writes `launch.json`
and `launch.md` under `--out` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import dagster as dg

from benchmarks.machine import Machine, describe_machine
from fal_platform.devstack.dagster_dev import STARTUP_TIMEOUT, dagster_dev_process
from fal_platform.devstack.dagster_home import WORKSPACE_FILE, write_dagster_yaml
from fal_platform.devstack.demo import open_instance
from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.devstack.processes import free_port, isolated_env
from tests.support.ui_graphql import DagsterUI

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Variant:
    name: str
    location: str
    """Attribute of `benchmarks/launch_location.py`: which executor the runs use."""
    dequeue_interval_seconds: int = 5
    """How often the daemon looks for queued runs (Dagster's default 5; our dagster.yaml 1)."""


VARIANTS = (
    Variant("multiprocess (forkserver), 5 s dequeue", "multiprocess", 5),
    Variant("in_process, Dagster's 5 s dequeue", "in_process", 5),
    Variant("in_process, dequeue every 1 s (our dagster.yaml)", "in_process", 1),
)
PROMPT_SET = "launch"
ITEMS = 4
RUN_ASSETS = [["generation", "requests"], ["media", "files"], ["media", "timings"]]
CATALOG_JOB = "fal_catalog_refresh"
RUN_TIMEOUT = 300.0


@dataclass(frozen=True)
class LaunchRun:
    variant: str
    run_id: str
    status: str
    to_start_s: float
    """Created -> the run worker reported RUN_START (queueing, dequeue, worker start-up)."""
    to_first_step_s: float
    to_success_s: float
    steps: int


@dataclass
class LaunchResult:
    machine: Machine
    repeats: int
    runs: list[LaunchRun] = field(default_factory=list)

    def of(self, variant: str) -> list[LaunchRun]:
        return [run for run in self.runs if run.variant == variant]


def _workspace(directory: Path, attribute: str) -> Path:
    """A workspace.yaml that loads `benchmarks.launch_location:<attribute>` from the checkout."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / WORKSPACE_FILE).write_text(
        "load_from:\n"
        "  - python_module:\n"
        "      module_name: benchmarks.launch_location\n"
        f"      attribute: {attribute}\n"
        "      location_name: fal_platform\n"
        f"      working_directory: {ROOT}\n"
    )
    return directory


def _timings(instance: dg.DagsterInstance, variant: str, run_id: str) -> LaunchRun:
    record = instance.get_run_record_by_id(run_id)
    assert record is not None and record.end_time is not None
    created = record.create_timestamp.timestamp()
    run_start = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_START)
    step_starts = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)
    first_step = min((event.timestamp for event in step_starts), default=record.end_time)
    return LaunchRun(
        variant=variant,
        run_id=run_id,
        status=record.dagster_run.status.value,
        to_start_s=round(run_start[0].timestamp - created, 2) if run_start else -1.0,
        to_first_step_s=round(first_step - created, 2),
        to_success_s=round(record.end_time - created, 2),
        steps=len(step_starts),
    )


def _checked(ui: DagsterUI, run_id: str) -> str:
    outcome = ui.wait_for_run(run_id, RUN_TIMEOUT)
    if not outcome.succeeded:
        raise RuntimeError(f"run {run_id} {outcome.status}:\n{ui.run_errors(run_id)}")
    return run_id


def measure_variant(
    variant: Variant, repeats: int, workdir: Path, emulator_url: str
) -> list[LaunchRun]:
    """A fresh instance and data directory; warm up, then time `repeats` reusing runs."""
    base = workdir / f"variant{VARIANTS.index(variant)}"
    home = base / "dagster_home"
    write_dagster_yaml(home, dequeue_interval_seconds=variant.dequeue_interval_seconds)
    prompts = base / "prompts"
    prompts.mkdir(parents=True, exist_ok=True)
    lines = [
        {"endpoint_id": "fal-ai/flux/schnell", "input": {"prompt": f"tile {i}"}}
        for i in range(ITEMS)
    ]
    (prompts / f"{PROMPT_SET}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    env = isolated_env(
        FAL_PLATFORM_DATA_DIR=str(base / "data"),
        FAL_PLATFORM_PROMPTS_DIR=str(prompts),
        FAL_PLATFORM_EMULATOR_URL=emulator_url,
        DAGSTER_DISABLE_TELEMETRY="1",
    )
    port = free_port()
    server = dagster_dev_process(
        repo_root=_workspace(base / "workspace", variant.location),
        dagster_home=home,
        host="127.0.0.1",
        port=port,
        env=env,
        log_path=base / "dagster-dev.log",
    )
    with server, DagsterUI(f"http://127.0.0.1:{port}", location="fal_platform") as ui:
        server.wait_ready(STARTUP_TIMEOUT * 5)
        _checked(ui, ui.launch(job_name=CATALOG_JOB))
        ui.add_dynamic_partition("prompt_sets", PROMPT_SET)
        _checked(ui, ui.launch_partition(RUN_ASSETS, PROMPT_SET))  # submits: the warm-up
        run_ids = [
            _checked(ui, ui.launch_partition(RUN_ASSETS, PROMPT_SET)) for _ in range(repeats)
        ]
        instance = open_instance(home)
        try:
            return [_timings(instance, variant.name, run_id) for run_id in run_ids]
        finally:
            instance.dispose()


def run_launch(
    repeats: int, workdir: Path, variants: tuple[Variant, ...] = VARIANTS
) -> LaunchResult:
    result = LaunchResult(machine=describe_machine(), repeats=repeats)
    with EmulatorProcess(models=40, queue_wait=0.05, inference_time=0.1) as emulator:
        for variant in variants:
            print(f"[bench] launch: {variant.name} ...", file=sys.stderr, flush=True)
            result.runs += measure_variant(variant, repeats, workdir, emulator.url)
    return result


def render_launch(result: LaunchResult) -> str:
    lines = [
        f"Launch to success of a run that reuses every item ({ITEMS} items; "
        f"{result.repeats} runs per variant after a warm-up), seconds from the run's "
        "creation; median (max).",
        "",
        "| variant | to RUN_START | to first step | to success | steps |",
        "|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(run.variant for run in result.runs):
        runs = result.of(name)
        if not runs:
            continue

        def cell(values: list[float]) -> str:
            return f"{statistics.median(values):.1f} ({max(values):.1f})"

        lines.append(
            f"| {name} | {cell([r.to_start_s for r in runs])} "
            f"| {cell([r.to_first_step_s for r in runs])} "
            f"| {cell([r.to_success_s for r in runs])} | {runs[0].steps} |"
        )
    lines += [
        "",
        result.machine.footer(),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.launch", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--only", action="append", choices=[v.name for v in VARIANTS], help="repeatable"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fal-bench-launch-") as workdir:
        chosen = tuple(v for v in VARIANTS if not args.only or v.name in args.only)
        result = run_launch(args.repeats, Path(workdir), chosen)
    report = render_launch(result)
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "launch.json").write_text(json.dumps(asdict(result), indent=2) + "\n")
    (args.out / "launch.md").write_text(report + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
