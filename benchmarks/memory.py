"""Benchmark 2: does the engine's memory stay flat as a batch grows?

One worker per batch size (zero emulator latency, so the engine runs as fast as it can), each
with a fresh emulator and DuckDB file, stopped after `stop_after` items are done
(`memory_worker.py`): 10,000 items against 1,000,000 items planned and their first 10,000 done.
Per size: peak RSS (reading, planning and running), items/s, the time to read and check the
file and to plan it, and RSS before and after the set is read. RSS is also sampled against
items done (kept in the JSON).

Flat means: peak RSS at the largest size at most `FLAT_PEAK_GROWTH` times the smallest size's
(issue 11's target).
A tracemalloc run (`memory_diagnosis`) always follows and names the source lines that hold memory
per item, split into holding the inputs, planning, and running (per finished item); RSS slopes of
short runs are too noisy (allocator and DuckDB warm-up) to tell those apart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.config import MemoryConfig
from benchmarks.emulated import latency_options, run_against_emulator
from benchmarks.items import write_prompt_file
from benchmarks.memory_diagnosis import Diagnosis, DiagnosisParams
from benchmarks.memory_worker import MemoryOutcome, MemoryParams

FLAT_PEAK_GROWTH = 1.5
"""Flat: peak RSS at the largest size at most this multiple of the smallest size's."""
DIAGNOSIS_CONCURRENCY = 32
"""tracemalloc slows the engine several-fold; a smaller pool reaches steady state in time."""
SUBMIT_RATE = 100_000.0


@dataclass(frozen=True)
class MemoryRow:
    items: int
    completed: int
    capped: bool
    wall_seconds: float
    items_per_second: float
    peak_rss_mb: float
    rss_before_inputs_mb: float
    rss_with_inputs_mb: float
    inputs_kb_per_item: float
    """RSS taken by the loaded prompt set, per item."""
    run_added_mb: float
    """Peak RSS minus RSS with the inputs loaded: what planning and running added."""
    samples: list[tuple[float, int, float]]
    """(seconds, items done, RSS MiB) every second of the run."""
    emulator_core_share: float
    emulator_saturated: bool
    load_average: float
    error: str | None = None
    read_seconds: float = 0.0
    """Reading and checking the prompt file (one streaming pass)."""
    planned_after_seconds: float | None = None
    """From the start of the batch to its first item in flight: planning against the store."""


@dataclass
class MemoryResult:
    concurrency: int
    rows: list[MemoryRow] = field(default_factory=list)
    flat: bool | None = None
    verdict: str = ""
    diagnosis: Diagnosis | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _run_size(items: int, max_seconds: float, config: MemoryConfig, workdir: Path) -> MemoryRow:
    name = f"mem_{items}"
    directory = workdir / name
    prompt_file = write_prompt_file(directory, name, items)

    def params(url: str) -> MemoryParams:
        return MemoryParams(
            url=url,
            prompt_file=str(prompt_file),
            db_path=str(directory / "store.duckdb"),
            concurrency=config.concurrency,
            stop_after=config.stop_after,
            max_seconds=max_seconds,
            submit_rate=SUBMIT_RATE,
        )

    run = run_against_emulator(
        "memory_engine",
        params,
        emulator_options=latency_options(queue_wait=0.0, inference_time=0.0),
        timeout=max_seconds * 2 + 180.0,
    )
    worker = run.worker
    outcome = MemoryOutcome(**worker.result) if worker.ok else MemoryOutcome(items=items)
    samples = [(float(t), int(d), float(r)) for t, d, r in outcome.samples]
    wall = worker.wall_seconds
    inputs = outcome.rss_after_load_mb
    stopped = config.stop_after is not None and outcome.completed >= config.stop_after
    return MemoryRow(
        items=items,
        completed=outcome.completed,
        capped=(outcome.interrupted and not stopped) or not worker.ok,
        wall_seconds=round(wall, 2),
        items_per_second=round(outcome.completed / wall, 1) if wall > 0 else 0.0,
        peak_rss_mb=worker.peak_rss_mb,
        rss_before_inputs_mb=round(outcome.rss_before_load_mb, 1),
        rss_with_inputs_mb=round(inputs, 1),
        inputs_kb_per_item=round((inputs - outcome.rss_before_load_mb) * 1024 / items, 3),
        run_added_mb=round(worker.peak_rss_mb - inputs, 1),
        samples=samples,
        emulator_core_share=run.emulator.core_share_during_run,
        emulator_saturated=run.emulator.saturated,
        load_average=run.load_average_before,
        error=run.error or outcome.first_error,
        read_seconds=outcome.read_seconds,
        planned_after_seconds=outcome.planned_after_seconds,
    )


def _judge(result: MemoryResult) -> None:
    rows = [r for r in result.rows if r.error is None]
    if len(rows) < 2:
        result.verdict = "not enough sizes ran to judge"
        return
    first, last = rows[0], rows[-1]
    growth = last.peak_rss_mb / first.peak_rss_mb if first.peak_rss_mb else 0.0
    per_item = (last.peak_rss_mb - first.peak_rss_mb) * 1024 / (last.items - first.items)
    result.flat = growth <= FLAT_PEAK_GROWTH
    result.verdict = (
        f"peak RSS x{growth:.2f} ({first.peak_rss_mb:.0f} -> {last.peak_rss_mb:.0f} MiB) from "
        f"{first.items:,} to {last.items:,} items, each stopped after {last.completed:,} done "
        f"(flat if <= x{FLAT_PEAK_GROWTH}), i.e. {per_item:.3f} KiB more per item in the batch; "
        f"holding the read set takes {last.inputs_kb_per_item:.3f} KiB/item"
    )
    capped = [r for r in rows if r.capped]
    if capped:
        result.verdict += (
            f"; {len(capped)} size(s) hit the time cap, so their peak covers the whole batch "
            "loaded and planned but only the items finished in time"
        )


def run_memory(config: MemoryConfig, workdir: Path) -> MemoryResult:
    result = MemoryResult(concurrency=config.concurrency)
    for items, max_seconds in zip(config.sizes, config.max_seconds, strict=True):
        result.rows.append(_run_size(items, max_seconds, config, workdir))
    _judge(result)
    result.diagnosis = diagnose(config, workdir)
    return result


def diagnose(config: MemoryConfig, workdir: Path) -> Diagnosis | None:
    """tracemalloc in a worker: which source lines hold memory per item, before and during."""
    name = "mem_diagnosis"
    directory = workdir / name
    prompt_file = write_prompt_file(directory, name, config.diagnose_items)

    def params(url: str) -> DiagnosisParams:
        return DiagnosisParams(
            url=url,
            prompt_file=str(prompt_file),
            db_path=str(directory / "store.duckdb"),
            concurrency=min(config.concurrency, DIAGNOSIS_CONCURRENCY),
            max_seconds=config.diagnose_max_seconds,
        )

    run = run_against_emulator(
        "memory_diagnosis",
        params,
        emulator_options=latency_options(queue_wait=0.0, inference_time=0.0),
        timeout=config.diagnose_max_seconds + 180.0,
    )
    if run.error is not None:
        return Diagnosis(items=config.diagnose_items, error=run.error)
    return Diagnosis.from_json(run.worker.result)
