"""Status over SSE against polling (a server without a stream): requests and latency per item.

For each mode and concurrency: a fresh emulator (job 1.0 s = 0.3 s queue + 0.7 s running, no
jitter; in "polling" mode its stream route answers 404), the engine (`run_batch`, in this
process, DuckDB store in a temp dir, `submit_rate` high enough never to be the limit) on
10 x c distinct items. Reported: HTTP requests per item from the emulator's counters (submit,
status, status stream, result) and the p50/p95 item latency (submit answered -> completion seen,
as the run report measures it) over the job time.

    uv run python -m benchmarks.polling [--items-per-slot 10] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.emulated import latency_options
from benchmarks.items import write_prompt_file
from fal_platform.batch.engine import run_batch
from fal_platform.batch.prompts import load_prompt_set
from fal_platform.batch.report import BatchReport
from fal_platform.batch.rows import RequestState
from fal_platform.batch.settings import BatchSettings
from fal_platform.batch.store import BatchStore
from fal_platform.client import ClientSettings, FalClient
from fal_platform.devstack.emulator_process import EmulatorProcess

QUEUE_WAIT = 0.3
RUNNING = 0.7
JOB_TIME = QUEUE_WAIT + RUNNING
CONCURRENCIES = (16, 64)
COUNTED_ROUTES = ("submit", "status", "status_stream", "result")


@dataclass(frozen=True)
class PollingRun:
    mode: str
    concurrency: int
    items: int
    completed: int
    requests_per_item: float
    p50_over_job: float
    p95_over_job: float
    wall_seconds: float


async def _run_engine(url: str, prompt_file: Path, db: Path, concurrency: int) -> BatchReport:
    settings = ClientSettings.for_emulator(url, max_connections=max(concurrency * 2, 10))
    options = BatchSettings(max_cost_usd=None, max_concurrency=concurrency, submit_rate=10_000.0)
    async with FalClient(settings) as client:
        return await run_batch(
            client, BatchStore.at_path(db), load_prompt_set(prompt_file), options
        )


def measure(mode: str, concurrency: int, items: int, workdir: Path) -> PollingRun:
    options = latency_options(queue_wait=QUEUE_WAIT, inference_time=RUNNING)
    with EmulatorProcess(models=20, status_stream=mode == "stream", **options) as emulator:
        prompts = write_prompt_file(workdir, f"{mode}-{concurrency}", items)
        db = workdir / f"{mode}-{concurrency}.duckdb"
        emulator.reset_stats()
        report = asyncio.run(_run_engine(emulator.url, prompts, db, concurrency))
        requests = emulator.stats()["requests"]
    completed = report.count(RequestState.COMPLETED)
    return PollingRun(
        mode=mode,
        concurrency=concurrency,
        items=items,
        completed=completed,
        requests_per_item=sum(requests[r] for r in COUNTED_ROUTES) / max(completed, 1),
        p50_over_job=(report.latency_p50 or float("nan")) / JOB_TIME,
        p95_over_job=(report.latency_p95 or float("nan")) / JOB_TIME,
        wall_seconds=report.wall_seconds,
    )


def markdown(runs: list[PollingRun]) -> str:
    lines = [
        f"Job {JOB_TIME:g} s ({QUEUE_WAIT:g} s queue + {RUNNING:g} s running, no jitter); "
        "requests = submit + status + status stream + result (emulator counters).",
        "",
        "| mode | c | items | completed | requests/item | p50 latency / job | "
        "p95 latency / job | wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.mode} | {r.concurrency} | {r.items} | {r.completed} | {r.requests_per_item:.2f} "
        f"| {r.p50_over_job:.2f} | {r.p95_over_job:.2f} | {r.wall_seconds:.1f} |"
        for r in runs
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items-per-slot", type=int, default=10, help="items = this x c")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    runs: list[PollingRun] = []
    with tempfile.TemporaryDirectory(prefix="bench-polling-") as tmp:
        for mode in ("stream", "polling"):
            for concurrency in CONCURRENCIES:
                run = measure(mode, concurrency, args.items_per_slot * concurrency, Path(tmp))
                print(run, flush=True)
                runs.append(run)
    text = markdown(runs)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "polling.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
