"""Completion by webhook against SSE and polling: requests, CPU, connections and latency per item.

For each mode and concurrency: a fresh emulator (job 1.0 s = 0.3 s queue + 0.7 s running, no
jitter; in "polling" mode its stream route answers 404), a fresh DuckDB file, and in "webhook"
mode a receiver process (`fal-platform webhooks`) on that file trusting the emulator's key. The
engine (`run_batch`, in this process, `submit_rate` high enough never to be the limit) runs
`--items-per-slot` x c distinct items. Reported:

- requests to fal per item: submit + status + status stream + result (emulator counters);
- engine CPU per item (this process's CPU time over the run) and, for webhook mode, the
  receiver's CPU per item (its process's CPU time);
- open connections: the peak number of this process's open sockets (its connections to the
  emulator), sampled every 0.2 s;
- item latency over job time: p50/p95 of submit -> completion seen (the run report's latency;
  in webhook mode "seen" is the receiver's commit) and p50 of submit -> COMPLETED row written
  (`updated_at`, the same measure in every mode: it includes the inbox pickup).

    uv run python -m benchmarks.webhooks [--items-per-slot 2] [--concurrency 64 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import psutil

from benchmarks.emulated import latency_options
from benchmarks.items import write_prompt_file
from fal_platform.batch.duckdb_io import duckdb_connection_factory
from fal_platform.batch.engine import BatchAbortedError, run_batch
from fal_platform.batch.prompts import load_prompt_set
from fal_platform.batch.report import BatchReport
from fal_platform.batch.rows import RequestState
from fal_platform.batch.settings import BatchSettings
from fal_platform.batch.store import BatchStore
from fal_platform.client import ClientSettings, FalClient
from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.devstack.webhooks_process import ReceiverProcess
from fal_platform.emulator.webhooks import JWKS_PATH
from fal_platform.webhooks.inbox import WebhookInbox

QUEUE_WAIT = 0.3
RUNNING = 0.7
JOB_TIME = QUEUE_WAIT + RUNNING
MODES = ("webhook", "stream", "polling")
COUNTED_ROUTES = ("submit", "status", "status_stream", "result")


@dataclass(frozen=True)
class WebhookRun:
    mode: str
    concurrency: int
    items: int
    completed: int
    requests_per_item: float
    engine_cpu_ms_per_item: float
    receiver_cpu_ms_per_item: float | None
    peak_connections: int
    p50_seen_over_job: float
    p95_seen_over_job: float
    p50_written_over_job: float
    wall_seconds: float


class ConnectionSampler:
    """Peak count of this process's open sockets, sampled in a thread from /proc/self/fd.

    (psutil's per-connection view parses the whole machine's /proc/net/tcp under the GIL, which
    at c=1,000 on a busy machine slowed the engine it measures.) The engine's only sockets are
    its connections to the emulator and to nothing else during a run."""

    def __init__(self, interval: float = 0.2) -> None:
        self._interval = interval
        self._stop = threading.Event()
        self.peak = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            count = 0
            for fd in os.listdir("/proc/self/fd"):
                with contextlib.suppress(OSError):
                    count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
            self.peak = max(self.peak, count)
            self._stop.wait(self._interval)

    def __enter__(self) -> ConnectionSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


async def _run_engine(
    url: str, prompt_file: Path, db: Path, concurrency: int, webhook_url: str | None
) -> BatchReport:
    settings = ClientSettings.for_emulator(url, max_connections=max(concurrency * 2, 10))
    options = BatchSettings(
        max_cost_usd=None,
        max_concurrency=concurrency,
        submit_rate=10_000.0,
        webhook_url=webhook_url,
    )
    connect = duckdb_connection_factory(db)
    async with FalClient(settings) as client:
        return await run_batch(
            client,
            BatchStore(connect),
            load_prompt_set(prompt_file),
            options,
            inbox=WebhookInbox.beside(db) if webhook_url else None,
        )


def _written_p50(db: Path, name: str) -> float:
    rows = BatchStore.at_path(db).load_requests(name)
    spans = [
        (row.updated_at - row.submitted_at).total_seconds()
        for row in rows
        if row.state is RequestState.COMPLETED and row.updated_at and row.submitted_at
    ]
    return statistics.median(spans) if spans else float("nan")


def measure(mode: str, concurrency: int, items: int, workdir: Path) -> WebhookRun:
    options = latency_options(queue_wait=QUEUE_WAIT, inference_time=RUNNING)
    name = f"{mode}-{concurrency}"
    db = workdir / f"{name}.duckdb"
    with ExitStack() as stack:
        emulator = stack.enter_context(
            EmulatorProcess(models=20, status_stream=mode != "polling", **options)
        )
        receiver = None
        if mode == "webhook":
            receiver = stack.enter_context(ReceiverProcess(db, emulator.url + JWKS_PATH))
        prompts = write_prompt_file(workdir, name, items)
        emulator.reset_stats()
        receiver_cpu = _cpu(receiver)
        cpu = time.process_time()
        with ConnectionSampler() as sampler:
            report = asyncio.run(
                _run_engine(
                    emulator.url, prompts, db, concurrency, receiver.url if receiver else None
                )
            )
        engine_cpu = time.process_time() - cpu
        receiver_cpu = _cpu(receiver) - receiver_cpu
        requests = emulator.stats()["requests"]
    completed = report.count(RequestState.COMPLETED)
    per_item = max(completed, 1)
    return WebhookRun(
        mode=mode,
        concurrency=concurrency,
        items=items,
        completed=completed,
        requests_per_item=sum(requests[r] for r in COUNTED_ROUTES) / per_item,
        engine_cpu_ms_per_item=1000 * engine_cpu / per_item,
        receiver_cpu_ms_per_item=1000 * receiver_cpu / per_item if receiver else None,
        peak_connections=sampler.peak,
        p50_seen_over_job=(report.latency_p50 or float("nan")) / JOB_TIME,
        p95_seen_over_job=(report.latency_p95 or float("nan")) / JOB_TIME,
        p50_written_over_job=_written_p50(db, name) / JOB_TIME,
        wall_seconds=report.wall_seconds,
    )


def _cpu(receiver: ReceiverProcess | None) -> float:
    if receiver is None or receiver.pid is None:
        return 0.0
    times = psutil.Process(receiver.pid).cpu_times()
    return float(times.user + times.system)


def markdown(runs: list[WebhookRun]) -> str:
    lines = [
        f"Job {JOB_TIME:g} s ({QUEUE_WAIT:g} s queue + {RUNNING:g} s running, no jitter); "
        "requests = submit + status + status stream + result (emulator counters).",
        "",
        "| mode | c | items | completed | requests/item | engine CPU ms/item | "
        "receiver CPU ms/item | peak sockets | p50 seen / job | p95 seen / job | "
        "p50 written / job | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        receiver = (
            "-" if r.receiver_cpu_ms_per_item is None else f"{r.receiver_cpu_ms_per_item:.2f}"
        )
        lines.append(
            f"| {r.mode} | {r.concurrency} | {r.items} | {r.completed} | "
            f"{r.requests_per_item:.2f} | {r.engine_cpu_ms_per_item:.2f} | {receiver} | "
            f"{r.peak_connections} | {r.p50_seen_over_job:.2f} | {r.p95_seen_over_job:.2f} | "
            f"{r.p50_written_over_job:.2f} | {r.wall_seconds:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items-per-slot", type=int, default=2, help="items = this x c")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64, 1000])
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    runs: list[WebhookRun] = []
    aborted: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
        for concurrency in args.concurrency:
            for mode in args.modes:
                try:
                    run = measure(mode, concurrency, args.items_per_slot * concurrency, Path(tmp))
                except BatchAbortedError as exc:  # the emulator gave up under the load: say so
                    aborted.append(f"- {mode} at c={concurrency}: aborted: {exc}")
                    print(aborted[-1], flush=True)
                    continue
                print(run, flush=True)
                runs.append(run)
    text = markdown(runs) + "".join(f"\n{line}" for line in aborted)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "webhooks.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
