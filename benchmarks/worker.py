"""Run one measured workload in a fresh Python process and hand its numbers back as JSON.

Why a process per workload: CPU time and peak RSS are per process, so a client measured in the
benchmark driver would be charged for the driver, the emulator admin calls and every earlier
client's leftovers. The driver calls `run_worker("engine", params)`; the child
(`python -m benchmarks.worker engine`, params as JSON on stdin) imports the workload, times only
the part the workload marks with its `Section`, and prints one result line.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

from benchmarks.measure import Section, own_peak_rss_mb
from fal_platform.devstack.processes import isolated_env

PROJECT_ROOT = Path(__file__).resolve().parents[1]
_RESULT_MARKER = "BENCHMARK-RESULT "

WORKLOADS: dict[str, str] = {
    "engine": "benchmarks.clients:engine_batch",
    "engine_cli": "benchmarks.clients:engine_cli",
    "fal_async": "benchmarks.clients:fal_client_async",
    "fal_sync": "benchmarks.clients:fal_client_sync",
    "aiohttp_floor": "benchmarks.clients:aiohttp_floor",
    "memory_diagnosis": "benchmarks.memory_diagnosis:diagnose",
    "memory_engine": "benchmarks.memory_worker:engine_until",
    "dagster_materialize": "benchmarks.dagster_overhead:materialize_workload",
    "cli_run_batch": "benchmarks.dagster_overhead:cli_workload",
}
"""Workload name -> `module:function`; the function takes (params dict, Section) and returns a
dataclass (or dict) of workload-specific results."""

Workload = Callable[[dict[str, Any], Section], Any]


@dataclass(frozen=True)
class WorkerRun:
    """A finished worker: its own measurements plus the workload's result."""

    workload: str
    wall_seconds: float
    """Wall time of the measured section only (imports and setup excluded)."""
    cpu_seconds: float
    """CPU time (user + system, all threads) of the measured section."""
    peak_rss_mb: float
    """Peak resident set of the whole worker process (VmHWM)."""
    process_seconds: float
    """Spawn to exit, interpreter start and imports included."""
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


subprocess_env = isolated_env


def run_worker(
    workload: str,
    params: Any,
    *,
    timeout: float,
    env: dict[str, str] | None = None,
) -> WorkerRun:
    """Run `workload` in a new process; never raises for a failed or timed-out child."""
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r}; known: {sorted(WORKLOADS)}")
    payload = json.dumps(_as_json(params))
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.worker", workload],
        cwd=PROJECT_ROOT,
        env=subprocess_env(**(env or {})),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(payload, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return WorkerRun(
            workload, 0.0, 0.0, 0.0, time.perf_counter() - started, error=f"timeout {timeout:.0f}s"
        )
    elapsed = time.perf_counter() - started
    line = next(
        (x for x in reversed(stdout.splitlines()) if x.startswith(_RESULT_MARKER)),
        None,
    )
    if process.returncode != 0 or line is None:
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        return WorkerRun(
            workload,
            0.0,
            0.0,
            0.0,
            elapsed,
            error=f"exit {process.returncode}: {tail or 'no result line'}",
        )
    data = json.loads(line[len(_RESULT_MARKER) :])
    return WorkerRun(
        workload=workload,
        wall_seconds=data["wall_seconds"],
        cpu_seconds=data["cpu_seconds"],
        peak_rss_mb=data["peak_rss_mb"],
        process_seconds=round(elapsed, 3),
        result=data["result"],
    )


def _as_json(value: Any) -> Any:
    """Dataclass instances become dicts; anything else is assumed JSON-ready."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return value


def _load(workload: str) -> Workload:
    module_name, function_name = WORKLOADS[workload].split(":")
    function: Workload = getattr(importlib.import_module(module_name), function_name)
    return function


def main(argv: list[str]) -> int:
    (workload,) = argv
    params = json.loads(sys.stdin.read())
    function = _load(workload)
    section = Section()
    result = function(params, section)
    payload = {
        "wall_seconds": round(section.wall_seconds, 4),
        "cpu_seconds": round(section.cpu_seconds, 4),
        "peak_rss_mb": round(own_peak_rss_mb(), 1),
        "result": _as_json(result),
    }
    sys.stdout.write(_RESULT_MARKER + json.dumps(payload) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    # A capped client may leave threads running (fal-client's thread pool): do not join them.
    os._exit(0)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
