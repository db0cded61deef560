"""Runs the selected benchmarks in order and collects their results in one object.

A benchmark that crashes is recorded with its error and the rest still run, so one broken
component never costs the numbers of all the others.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.catalog import CatalogResult, run_catalog
from benchmarks.config import BenchConfig
from benchmarks.dagster_overhead import DagsterResult, run_dagster_overhead
from benchmarks.machine import Machine, describe_machine
from benchmarks.memory import MemoryResult, run_memory
from benchmarks.store import StoreResult, run_store
from benchmarks.throughput import ThroughputResult, run_throughput

BENCHMARKS: tuple[str, ...] = ("throughput", "memory", "catalog", "store", "dagster")


@dataclass
class BenchResults:
    size: str
    machine: Machine
    started_at: str
    finished_at: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    throughput: ThroughputResult | None = None
    memory: MemoryResult | None = None
    catalog: CatalogResult | None = None
    store: StoreResult | None = None
    dagster: DagsterResult | None = None

    @property
    def total_seconds(self) -> float:
        return round(sum(self.seconds.values()), 1)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["machine"]["shared"] = self.machine.shared
        data["total_seconds"] = self.total_seconds
        return data


def _runner(name: str, config: BenchConfig, workdir: Path) -> Callable[[], Any]:
    runners: dict[str, Callable[[], Any]] = {
        "throughput": lambda: run_throughput(config.throughput, workdir),
        "memory": lambda: run_memory(config.memory, workdir),
        "catalog": lambda: run_catalog(config.catalog, workdir),
        "store": lambda: run_store(config.store, workdir),
        "dagster": lambda: run_dagster_overhead(config.dagster, workdir),
    }
    return runners[name]


def run_suite(config: BenchConfig, names: Sequence[str], workdir: Path) -> BenchResults:
    results = BenchResults(
        size=config.name,
        machine=describe_machine(),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    for name in names:
        print(f"[bench] {name} ({config.name}) ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            setattr(results, name, _runner(name, config, workdir)())
        except Exception as exc:
            results.errors[name] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        results.seconds[name] = round(time.perf_counter() - started, 1)
        print(f"[bench] {name} done in {results.seconds[name]:.0f}s", file=sys.stderr, flush=True)
    results.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
    return results
