"""Benchmark 1: batch throughput of our engine against the official fal-client, side by side.

Two status modes: "stream" (the emulator serves fal's SSE status stream) and "polling" (its
stream route answers 404, as a fal-compatible server without SSE does, so the engine polls; see
`fal_platform/batch/poll_schedule.py`). Per mode and concurrency: one fresh emulator (job = queue
wait + running time, no jitter), and the engine and fal-client's two ways one after another
against it, each in its own worker process, with the emulator's counters reset before each; in
both modes also a bare-aiohttp floor, what one Python process can reach here at all. Per
run: items/s, ratio to the ideal (concurrency / job time), HTTP requests per item (emulator
counters), client CPU per item, p50/p95 item latency over job time, peak RSS, and the
emulator's CPU.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.clients import ClientOutcome, ClientParams
from benchmarks.config import ThroughputConfig
from benchmarks.emulated import EmulatedRun, latency_options, run_on_emulator
from benchmarks.items import write_prompt_file
from fal_platform.devstack.emulator_process import EmulatorProcess

CLIENTS: dict[str, str] = {
    "engine": "`fal-platform run-batch` (DuckDB store), in its own process",
    "fal_async": "fal-client subscribe_async + asyncio.Semaphore",
    "fal_sync": "fal-client subscribe + ThreadPoolExecutor",
    "floor": "bare aiohttp on uvloop, the requests per item and nothing else (no store, no "
    "retries, no parsing; polling, it polls first when the job ends, as no real client can "
    "know): the most one Python process gets from these cores",
}
WORKLOADS = {
    "engine": "engine_cli",
    "fal_async": "fal_async",
    "fal_sync": "fal_sync",
    "floor": "aiohttp_floor",
}
BATCH_ROUTES = ("submit", "status", "status_stream", "result")
"""What requests per item counts; run-batch's catalog look-up (a few requests per run, fal-client
has none) is reported apart as `other_requests`."""
ENGINE_SUBMIT_RATE = 10_000.0
"""Engine submits/s: far above any ideal throughput here, so pacing never limits the engine."""


@dataclass(frozen=True)
class ThroughputRow:
    client: str
    mode: str
    concurrency: int
    items: int
    completed: int
    failed: int
    capped: bool
    wall_seconds: float
    items_per_second: float
    ideal_items_per_second: float
    ratio_to_ideal: float
    http_requests: int
    requests_per_item: float
    requests_by_route: dict[str, int]
    other_requests: int
    cpu_seconds: float
    cpu_seconds_per_1k_items: float
    """= CPU ms per item."""
    p50_over_job: float | None
    p95_over_job: float | None
    peak_rss_mb: float
    emulator_cpu_seconds: float
    emulator_core_share: float
    emulator_peak_core_share: float
    emulator_saturated: bool
    load_average: float
    error: str | None = None


@dataclass
class ThroughputResult:
    queue_wait: float
    running: float
    engine_submit_rate: float
    rows: list[ThroughputRow] = field(default_factory=list)

    @property
    def job_seconds(self) -> float:
        return self.queue_wait + self.running

    def row(self, client: str, concurrency: int, mode: str = "stream") -> ThroughputRow | None:
        return next(
            (
                r
                for r in self.rows
                if r.client == client and r.concurrency == concurrency and r.mode == mode
            ),
            None,
        )

    @property
    def modes(self) -> list[str]:
        return list(dict.fromkeys(row.mode for row in self.rows))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _over_job(seconds: float | None, job: float) -> float | None:
    return None if seconds is None else round(seconds / job, 3)


def _row(
    client: str, mode: str, concurrency: int, config: ThroughputConfig, run: EmulatedRun
) -> ThroughputRow:
    worker = run.worker
    items = config.items_at(concurrency)
    outcome = ClientOutcome(**worker.result) if worker.ok else ClientOutcome(items=items)
    done = outcome.completed
    ideal = concurrency / config.job_seconds
    rate = done / worker.wall_seconds if worker.wall_seconds > 0 else 0.0
    per_item = max(done, 1)
    by_route = {r: n for r, n in run.emulator.requests_by_route.items() if r in BATCH_ROUTES}
    requests = sum(by_route.values())
    return ThroughputRow(
        client=client,
        mode=mode,
        concurrency=concurrency,
        items=outcome.items,
        completed=done,
        failed=outcome.failed,
        capped=outcome.interrupted or not worker.ok,
        wall_seconds=round(worker.wall_seconds, 2),
        items_per_second=round(rate, 2),
        ideal_items_per_second=round(ideal, 2),
        ratio_to_ideal=round(rate / ideal, 3),
        http_requests=requests,
        requests_per_item=round(requests / per_item, 2),
        requests_by_route=by_route,
        other_requests=run.emulator.requests - requests,
        cpu_seconds=round(worker.cpu_seconds, 2),
        cpu_seconds_per_1k_items=round(worker.cpu_seconds / per_item * 1000, 2),
        p50_over_job=_over_job(outcome.latency_p50, config.job_seconds),
        p95_over_job=_over_job(outcome.latency_p95, config.job_seconds),
        peak_rss_mb=worker.peak_rss_mb,
        emulator_cpu_seconds=run.emulator.cpu.cpu_seconds,
        emulator_core_share=run.emulator.core_share_during_run,
        emulator_peak_core_share=run.emulator.cpu.peak_core_share,
        emulator_saturated=run.emulator.saturated,
        load_average=run.load_average_before,
        error=run.error or outcome.first_error,
    )


def _run_one(
    emulator: EmulatorProcess,
    client: str,
    mode: str,
    concurrency: int,
    config: ThroughputConfig,
    workdir: Path,
) -> ThroughputRow:
    name = f"tp_{client}_{mode}_c{concurrency}"
    directory = workdir / name
    prompt_file = write_prompt_file(directory, name, config.items_at(concurrency))
    params = ClientParams(
        url=emulator.url,
        prompt_file=str(prompt_file),
        concurrency=concurrency,
        max_seconds=config.max_seconds,
        db_path=str(directory / "store.duckdb"),
        submit_rate=ENGINE_SUBMIT_RATE,
        floor_poll_after=None if mode == "stream" else config.job_seconds,
    )
    run = run_on_emulator(emulator, WORKLOADS[client], params, timeout=config.max_seconds + 60.0)
    return _row(client, mode, concurrency, config, run)


def run_throughput(config: ThroughputConfig, workdir: Path) -> ThroughputResult:
    result = ThroughputResult(
        queue_wait=config.queue_wait,
        running=config.running,
        engine_submit_rate=ENGINE_SUBMIT_RATE,
    )
    options = latency_options(queue_wait=config.queue_wait, inference_time=config.running)
    for mode in config.modes:
        for concurrency in config.concurrencies:
            stream = mode == "stream"
            with EmulatorProcess(models=20, status_stream=stream, **options) as emulator:
                for client in CLIENTS:
                    row = _run_one(emulator, client, mode, concurrency, config, workdir)
                    result.rows.append(row)
    return result
