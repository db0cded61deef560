"""Benchmark 1: batch throughput of our engine against the official fal-client, side by side.

Same batch (distinct inputs), same emulator settings (no queue wait, fixed inference time), same
concurrency; each client in its own worker process against its own fresh emulator. Per run:
items/s, ratio to the ideal (concurrency / latency), HTTP requests per item (emulator counters),
client CPU seconds per 1,000 items, peak RSS, and the emulator's CPU.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.clients import ClientOutcome, ClientParams
from benchmarks.config import ThroughputConfig
from benchmarks.emulated import EmulatedRun, latency_options, run_against_emulator
from benchmarks.items import write_prompt_file

CLIENTS: dict[str, str] = {
    "engine": "fal-platform engine (run_batch, SSE status, DuckDB store)",
    "fal_async": "fal-client subscribe_async + asyncio.Semaphore",
    "fal_sync": "fal-client subscribe + ThreadPoolExecutor",
}
ENGINE_SUBMIT_RATE = 10_000.0
"""Engine submits/s: far above any ideal throughput here, so pacing never limits the engine."""


@dataclass(frozen=True)
class ThroughputRow:
    client: str
    concurrency: int
    items: int
    completed: int
    failed: int
    capped: bool
    parallel: bool
    """Run at the same time as the other clients at this concurrency (see config)."""
    wall_seconds: float
    items_per_second: float
    ideal_items_per_second: float
    ratio_to_ideal: float
    http_requests: int
    requests_per_item: float
    requests_by_route: dict[str, int]
    cpu_seconds: float
    cpu_seconds_per_1k_items: float
    peak_rss_mb: float
    emulator_cpu_seconds: float
    emulator_core_share: float
    emulator_peak_core_share: float
    emulator_saturated: bool
    load_average: float
    error: str | None = None


@dataclass
class ThroughputResult:
    items: int
    latency_seconds: float
    engine_submit_rate: float
    rows: list[ThroughputRow] = field(default_factory=list)

    def row(self, client: str, concurrency: int) -> ThroughputRow | None:
        return next(
            (r for r in self.rows if r.client == client and r.concurrency == concurrency), None
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _row(
    client: str, concurrency: int, config: ThroughputConfig, run: EmulatedRun, parallel: bool
) -> ThroughputRow:
    worker = run.worker
    outcome = ClientOutcome(**worker.result) if worker.ok else ClientOutcome(items=config.items)
    done = outcome.completed
    ideal = concurrency / config.latency
    rate = done / worker.wall_seconds if worker.wall_seconds > 0 else 0.0
    per_item = max(done, 1)
    error = run.error or outcome.first_error
    return ThroughputRow(
        client=client,
        concurrency=concurrency,
        items=outcome.items,
        completed=done,
        failed=outcome.failed,
        capped=outcome.interrupted or not worker.ok,
        parallel=parallel,
        wall_seconds=round(worker.wall_seconds, 2),
        items_per_second=round(rate, 2),
        ideal_items_per_second=round(ideal, 2),
        ratio_to_ideal=round(rate / ideal, 3),
        http_requests=run.emulator.requests,
        requests_per_item=round(run.emulator.requests / per_item, 2),
        requests_by_route=run.emulator.requests_by_route,
        cpu_seconds=round(worker.cpu_seconds, 2),
        cpu_seconds_per_1k_items=round(worker.cpu_seconds / per_item * 1000, 2),
        peak_rss_mb=worker.peak_rss_mb,
        emulator_cpu_seconds=run.emulator.cpu.cpu_seconds,
        emulator_core_share=run.emulator.core_share_during_run,
        emulator_peak_core_share=run.emulator.cpu.peak_core_share,
        emulator_saturated=run.emulator.saturated,
        load_average=run.load_average_before,
        error=error,
    )


def _run_one(
    client: str, concurrency: int, config: ThroughputConfig, workdir: Path, parallel: bool
) -> ThroughputRow:
    name = f"tp_{client}_c{concurrency}"
    directory = workdir / name
    prompt_file = write_prompt_file(directory, name, config.items)
    ideal = concurrency / config.latency
    cap = max(config.cap_factor * config.items / ideal, config.min_cap_seconds) + 15.0

    def params(url: str) -> ClientParams:
        return ClientParams(
            url=url,
            prompt_file=str(prompt_file),
            concurrency=concurrency,
            max_seconds=cap,
            db_path=str(directory / "store.duckdb"),
            submit_rate=ENGINE_SUBMIT_RATE,
            sample_interval=5.0,
        )

    run = run_against_emulator(
        client,
        params,
        emulator_options=latency_options(queue_wait=0.0, inference_time=config.latency),
        timeout=cap + 120.0,
    )
    return _row(client, concurrency, config, run, parallel)


def run_throughput(config: ThroughputConfig, workdir: Path) -> ThroughputResult:
    result = ThroughputResult(
        items=config.items, latency_seconds=config.latency, engine_submit_rate=ENGINE_SUBMIT_RATE
    )
    for concurrency in config.concurrencies:
        if concurrency <= config.parallel_up_to:
            with ThreadPoolExecutor(max_workers=len(CLIENTS)) as pool:
                futures = [
                    pool.submit(_run_one, client, concurrency, config, workdir, True)
                    for client in CLIENTS
                ]
                result.rows.extend(future.result() for future in futures)
        else:
            for client in CLIENTS:
                result.rows.append(_run_one(client, concurrency, config, workdir, False))
    return result
