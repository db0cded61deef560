"""Benchmark 5: what Dagster adds on top of the engine for one partition.

The same prompt set (distinct inputs) runs once through `fal-platform run-batch` and once through
`dg.materialize` of the `generation/requests` asset, each in a fresh worker process, on a fresh
DuckDB file that already holds the catalog (loaded untimed with the core dlt source, so both
validate against the same table), against a fresh emulator with the same settings, with the same
concurrency and submit rate. Measured:

- in-call wall time: from the call (`fal_platform.cli.main(["run-batch", ...])` or
  `dg.materialize(...)`, ephemeral instance included) to its return, imports excluded;
- process wall time: spawn to exit, which adds the interpreter and the imports (Dagster's are
  the heavy part), i.e. what a one-off command costs.

The overhead ratio is Dagster's time over the CLI's; with `repeats` > 1 the two alternate and
the fastest of each is kept (the least disturbed by a shared machine).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.config import DagsterConfig
from benchmarks.emulated import EmulatedRun, latency_options, run_against_emulator
from benchmarks.items import write_prompt_file
from benchmarks.measure import Section
from fal_platform.devstack.emulator_process import EmulatorProcess

PROMPT_SET = "overhead"
PATHS = {
    "cli_run_batch": "fal-platform run-batch",
    "dagster_materialize": "dg.materialize(generation/requests)",
}


@dataclass(frozen=True)
class OverheadParams:
    url: str
    prompt_dir: str
    db_path: str
    concurrency: int
    submit_rate: float


@dataclass
class OverheadOutcome:
    completed: int = 0
    exit_code: int = 0
    success: bool = True


@dataclass(frozen=True)
class OverheadRun:
    path: str
    repeat: int
    in_call_seconds: float
    process_seconds: float
    completed: int
    http_requests: int
    load_average: float
    error: str | None = None


@dataclass
class DagsterResult:
    items: int
    concurrency: int
    submit_rate: float
    queue_wait: float
    inference_time: float
    runs: list[OverheadRun] = field(default_factory=list)
    ratio_in_call: float | None = None
    ratio_process: float | None = None

    def best(self, path: str, attribute: str) -> float | None:
        values = [getattr(r, attribute) for r in self.runs if r.path == path and r.error is None]
        return min(values) if values else None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# --- workloads (run inside a worker) -------------------------------------------------------------


def _completed(db_path: str) -> int:
    from fal_platform.batch.rows import RequestState
    from fal_platform.batch.store import BatchStore

    counts = BatchStore.at_path(db_path).count_by_state(PROMPT_SET)
    return counts.get(RequestState.COMPLETED, 0)


def cli_workload(raw: dict[str, Any], section: Section) -> OverheadOutcome:
    from fal_platform.cli import main

    params = OverheadParams(**raw)
    argv = [
        "run-batch",
        str(Path(params.prompt_dir) / f"{PROMPT_SET}.jsonl"),
        "--db",
        params.db_path,
        "--emulator-url",
        params.url,
        "--no-progress",
        "--max-concurrency",
        str(params.concurrency),
        "--submit-rate",
        str(params.submit_rate),
        "--max-cost-usd",
        "-1",
    ]
    with section:
        code = main(argv)
    return OverheadOutcome(completed=_completed(params.db_path), exit_code=code, success=code == 0)


def materialize_workload(raw: dict[str, Any], section: Section) -> OverheadOutcome:
    params = OverheadParams(**raw)
    import dagster as dg
    from dagster_duckdb import DuckDBResource

    from assets.generation.assets import GenerationConfig, generation_requests
    from fal_platform.paths import DataPaths
    from resources.fal import FalResource
    from resources.paths import PlatformPaths

    db = Path(params.db_path)
    paths = DataPaths(data_dir=db.parent, duckdb=db, prompts_dir=Path(params.prompt_dir))

    fal = FalResource(
        emulator_url=params.url,
        max_concurrency=params.concurrency,
        submit_rate=params.submit_rate,
    )
    # Imports stay outside the timed section, as for the CLI: the first ephemeral instance
    # imports Dagster's storage layer (alembic, SQLAlchemy; ~1.2 s, seen with cProfile).
    dg.DagsterInstance.ephemeral().dispose()
    with section:
        instance = dg.DagsterInstance.ephemeral()
        instance.add_dynamic_partitions("prompt_sets", [PROMPT_SET])
        result = dg.materialize(
            [generation_requests],
            partition_key=PROMPT_SET,
            instance=instance,
            resources={
                "fal": fal,
                "duckdb": DuckDBResource(database=params.db_path),
                "paths": PlatformPaths.of(paths),
            },
            run_config=dg.RunConfig(
                ops={"generation__requests": GenerationConfig(max_cost_usd=1e9)}
            ),
            raise_on_error=False,
        )
    return OverheadOutcome(completed=_completed(params.db_path), success=result.success)


# --- the benchmark -------------------------------------------------------------------------------


def _load_catalog(db_path: Path) -> Any:
    def prepare(emulator: EmulatorProcess) -> None:
        from fal_platform.catalog.source import (
            catalog_pipeline,
            fal_catalog_source,
            run_catalog_load,
        )

        pipeline = catalog_pipeline(db_path, db_path.parent / "dlt")
        run_catalog_load(pipeline, fal_catalog_source(emulator.api_url, None))

    return prepare


def _run(path: str, repeat: int, config: DagsterConfig, workdir: Path) -> OverheadRun:
    directory = workdir / f"overhead_{path}_{repeat}"
    prompt_dir = directory / "prompts"
    write_prompt_file(prompt_dir, PROMPT_SET, config.items)
    db_path = directory / "fal_platform.duckdb"
    cap = 600.0

    def params(url: str) -> OverheadParams:
        return OverheadParams(
            url=url,
            prompt_dir=str(prompt_dir),
            db_path=str(db_path),
            concurrency=config.concurrency,
            submit_rate=config.submit_rate,
        )

    run: EmulatedRun = run_against_emulator(
        path,
        params,
        emulator_options=latency_options(
            queue_wait=config.queue_wait, inference_time=config.inference_time
        ),
        timeout=cap,
        models=50,
        prepare=_load_catalog(db_path),
    )
    worker = run.worker
    outcome = OverheadOutcome(**worker.result) if worker.ok else OverheadOutcome(success=False)
    error = run.error
    if error is None and (not outcome.success or outcome.completed != config.items):
        error = f"completed {outcome.completed}/{config.items} (exit {outcome.exit_code})"
    return OverheadRun(
        path=path,
        repeat=repeat,
        in_call_seconds=round(worker.wall_seconds, 2),
        process_seconds=round(worker.process_seconds, 2),
        completed=outcome.completed,
        http_requests=run.emulator.requests,
        load_average=run.load_average_before,
        error=error,
    )


def run_dagster_overhead(config: DagsterConfig, workdir: Path) -> DagsterResult:
    result = DagsterResult(
        items=config.items,
        concurrency=config.concurrency,
        submit_rate=config.submit_rate,
        queue_wait=config.queue_wait,
        inference_time=config.inference_time,
    )
    for repeat in range(config.repeats):
        for path in PATHS:
            result.runs.append(_run(path, repeat, config, workdir))
    for attribute, target in (
        ("in_call_seconds", "ratio_in_call"),
        ("process_seconds", "ratio_process"),
    ):
        cli = result.best("cli_run_batch", attribute)
        dagster = result.best("dagster_materialize", attribute)
        if cli and dagster:
            setattr(result, target, round(dagster / cli, 3))
    return result
