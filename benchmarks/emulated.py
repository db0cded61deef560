"""One measured worker run against its own fresh emulator, with the emulator's side of the story.

The emulator's request counters give HTTP requests per item without trusting the client, and its
CPU (sampled from /proc) says whether the server, not the client, was the bottleneck.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from benchmarks.measure import CpuMonitor, CpuUsage, load_average
from benchmarks.worker import WorkerRun, run_worker
from fal_platform.devstack.emulator_process import EmulatorProcess


@dataclass(frozen=True)
class EmulatorSide:
    requests: int
    requests_by_route: dict[str, int]
    cpu: CpuUsage
    core_share_during_run: float
    """Emulator CPU seconds / the worker's measured wall seconds."""

    @property
    def saturated(self) -> bool:
        return self.cpu.saturated or self.core_share_during_run >= 0.9


@dataclass(frozen=True)
class EmulatedRun:
    worker: WorkerRun
    emulator: EmulatorSide
    load_average_before: float
    load_average_after: float
    emulator_alive: bool = True
    """False when the emulator was gone by the end (e.g. killed from outside mid-run)."""

    @property
    def error(self) -> str | None:
        """The worker's failure, or the emulator's death, which voids the run's numbers."""
        if self.worker.error is not None:
            return self.worker.error
        return None if self.emulator_alive else "the emulator process died during the run"


def latency_options(*, queue_wait: float, inference_time: float) -> dict[str, Any]:
    """Fixed (jitter-free) latencies, so the ideal throughput is exactly concurrency / latency."""
    return {
        "queue_wait": queue_wait,
        "queue_wait_jitter": 0.0,
        "inference_time": inference_time,
        "inference_time_jitter": 0.0,
    }


def run_against_emulator(
    workload: str,
    make_params: Callable[[str], Any],
    *,
    emulator_options: dict[str, Any],
    timeout: float,
    models: int = 20,
    prepare: Callable[[EmulatorProcess], None] | None = None,
) -> EmulatedRun:
    """Start a fresh emulator, run `workload` in a worker against it, collect both sides.

    `make_params(emulator_url)` builds the worker's params once the emulator's port is known;
    `prepare(emulator)` runs first, untimed and uncounted (e.g. loading the catalog).
    """
    with EmulatorProcess(models=models, **emulator_options) as emulator:
        if prepare is not None:
            prepare(emulator)
        return run_on_emulator(emulator, workload, make_params(emulator.url), timeout=timeout)


def run_on_emulator(
    emulator: EmulatorProcess, workload: str, params: Any, *, timeout: float
) -> EmulatedRun:
    """Run `workload` in a worker against a running emulator, its counters reset first."""
    assert emulator.pid is not None
    emulator.reset_stats()
    before = load_average()
    with CpuMonitor(emulator.pid) as monitor:
        worker = run_worker(workload, params, timeout=timeout)
    try:
        stats = emulator.stats()
        alive = True
    except (httpx.HTTPError, RuntimeError):
        stats, alive = {"requests": {}}, False
    by_route = {name: int(n) for name, n in stats["requests"].items() if n}
    usage = monitor.usage
    share = usage.cpu_seconds / worker.wall_seconds if worker.wall_seconds > 0 else 0.0
    return EmulatedRun(
        worker=worker,
        emulator=EmulatorSide(
            requests=sum(by_route.values()),
            requests_by_route=by_route,
            cpu=usage,
            core_share_during_run=round(share, 3),
        ),
        load_average_before=before,
        load_average_after=load_average(),
        emulator_alive=alive,
    )
