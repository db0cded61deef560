"""Benchmark sizes: `full` is what `make bench` records, `tiny` proves the machinery in seconds.

Every time cap below is a guard, not a target: a run that hits one is reported as capped (with
how far it got), so a slow component shows up as a slow number instead of a hung `make bench`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ThroughputConfig:
    concurrencies: tuple[int, ...]
    queue_wait: float
    running: float
    """Emulator queue wait and inference time per job (seconds, no jitter): job time is their
    sum, and the ideal throughput concurrency / job time."""
    rounds: int
    items: int
    """Items per run = rounds x concurrency, at most `items`: every slot runs `rounds` jobs
    (fewer at the largest c, to keep the budget), so the ramp-up is a small share of the run."""
    max_seconds: float
    """Cap per run, a guard for the budget: a capped run still measures a rate (items done /
    time) over fewer items, and is marked as capped."""
    modes: tuple[str, ...] = ("stream", "polling")
    """"stream": the emulator serves the SSE status stream; "polling": its stream route answers
    404, as a fal-compatible server without SSE does, so the engine polls."""

    def items_at(self, concurrency: int) -> int:
        return min(self.rounds * concurrency, self.items)

    @property
    def job_seconds(self) -> float:
        return self.queue_wait + self.running


@dataclass(frozen=True)
class MemoryConfig:
    sizes: tuple[int, ...]
    concurrency: int
    max_seconds: tuple[float, ...]
    """Soft cap per size; a capped run still reports RSS and items/s over what it did."""
    stop_after: int | None
    """Each size stops once this many items are done (the issue's target: a 1,000,000-item set
    planned and its first 10,000 items done); None runs every item."""
    diagnose_items: int
    """Items of the tracemalloc run that explains what memory each item costs."""
    diagnose_max_seconds: float


@dataclass(frozen=True)
class CatalogConfig:
    models: int
    touched: int


@dataclass(frozen=True)
class StoreConfig:
    requests: int
    media: int
    naive_rows: int
    """The naive executemany loop is measured on this many rows and extrapolated."""


@dataclass(frozen=True)
class DagsterConfig:
    items: int
    concurrency: int
    submit_rate: float
    queue_wait: float
    inference_time: float
    repeats: int
    """Runs per path, alternating; the fastest of each path is compared."""


@dataclass(frozen=True)
class BenchConfig:
    name: str
    throughput: ThroughputConfig
    memory: MemoryConfig
    catalog: CatalogConfig
    store: StoreConfig
    dagster: DagsterConfig


FULL = BenchConfig(
    name="full",
    throughput=ThroughputConfig(
        concurrencies=(16, 64, 256, 1000),
        queue_wait=0.3,
        running=0.7,
        rounds=4,
        items=2000,
        max_seconds=20.0,
    ),
    memory=MemoryConfig(
        sizes=(10_000, 1_000_000),
        concurrency=256,
        max_seconds=(300.0, 900.0),
        stop_after=10_000,
        diagnose_items=4000,
        diagnose_max_seconds=40.0,
    ),
    catalog=CatalogConfig(models=20_000, touched=200),
    store=StoreConfig(requests=100_000, media=300_000, naive_rows=5_000),
    dagster=DagsterConfig(
        items=500,
        concurrency=64,
        submit_rate=1000.0,
        queue_wait=0.05,
        inference_time=0.5,
        repeats=2,
    ),
)

TINY = BenchConfig(
    name="tiny",
    throughput=ThroughputConfig(
        concurrencies=(4,),
        queue_wait=0.02,
        running=0.05,
        rounds=6,
        items=24,
        max_seconds=20.0,
    ),
    memory=MemoryConfig(
        sizes=(30, 60),
        concurrency=16,
        max_seconds=(20.0, 20.0),
        stop_after=None,
        diagnose_items=30,
        diagnose_max_seconds=10.0,
    ),
    catalog=CatalogConfig(models=120, touched=3),
    store=StoreConfig(requests=300, media=900, naive_rows=50),
    dagster=DagsterConfig(
        items=10,
        concurrency=8,
        submit_rate=1000.0,
        queue_wait=0.0,
        inference_time=0.02,
        repeats=1,
    ),
)

SIZES: dict[str, BenchConfig] = {"full": FULL, "tiny": TINY}
