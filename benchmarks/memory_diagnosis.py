"""What grows with the batch: tracemalloc over one engine run (runs inside a worker).

Five snapshots split the memory a batch costs into phases:

    before inputs -> inputs loaded -> engine planned (first progress tick)
                  -> mid-run (~30% done) -> late in the run (~90% done)

"Running" is late minus mid: both have the same number of requests in flight, so what is left
is what the engine keeps per item it has *finished*. Each allocation is charged to the innermost frame in project code (`fal_platform/`), so a line
like `engine.py:291 plan.to_submit.append(...)` shows up instead of `dataclasses.py`. Phases are
reported per item (per input item for the first two, per finished item for the last), which is
what tells an O(1)-per-item bookkeeping cost from a leak of whole results.

tracemalloc sees Python allocations only: DuckDB's and Arrow's native buffers are not in it
(the RSS numbers of the memory benchmark are).
"""

from __future__ import annotations

import asyncio
import linecache
import re
import time
import tracemalloc
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from benchmarks.measure import Section

PROJECT_MARKERS = ("/fal_platform/",)
MIN_FINISHED = 50
"""Fewer items finished between the mid and late snapshots say nothing per item."""
_STDLIB = re.compile(r"^.*/lib/python3\.\d+/")
TOP = 8


@dataclass(frozen=True)
class DiagnosisParams:
    url: str
    prompt_file: str
    db_path: str
    concurrency: int
    max_seconds: float


@dataclass(frozen=True)
class Growth:
    where: str
    """`path:line` of the innermost project frame (or the allocation site outside the project)."""
    code: str
    kib: float
    bytes_per_item: float


@dataclass
class Diagnosis:
    items: int
    concurrency: int = 0
    done_at_plan: int = 0
    done_at_mid: int = 0
    done_at_late: int = 0
    inputs: list[Growth] = field(default_factory=list)
    """Held once the prompt set is loaded, per item."""
    plan: list[Growth] = field(default_factory=list)
    """Added by the engine's planning (before any request), per item."""
    run: list[Growth] = field(default_factory=list)
    """Added between mid-run and late in the run, per item finished in between."""
    inputs_total_kib: float = 0.0
    plan_total_kib: float = 0.0
    run_total_kib: float = 0.0
    progress: list[tuple[float, int]] = field(default_factory=list)
    """(seconds, items done) at every progress tick, to explain a run that stalled."""
    error: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Diagnosis:
        values = dict(data)
        for phase in ("inputs", "plan", "run"):
            values[phase] = [Growth(**g) for g in data.get(phase, [])]
        values["progress"] = [(float(t), int(d)) for t, d in data.get("progress", [])]
        return cls(**values)


def _label(trace: tracemalloc.Traceback) -> tuple[str, str]:
    frames = list(trace)
    chosen = next(
        (f for f in reversed(frames) if any(m in f.filename for m in PROJECT_MARKERS)),
        frames[-1],
    )
    short = chosen.filename
    for marker in (*PROJECT_MARKERS, "/site-packages/"):
        if marker in short:
            short = marker.strip("/") + "/" + short.split(marker, 1)[1]
            break
    else:
        short = _STDLIB.sub("stdlib/", short)
    code = linecache.getline(chosen.filename, chosen.lineno).strip()
    return f"{short}:{chosen.lineno}", code[:100]


def _growth(
    new: tracemalloc.Snapshot, old: tracemalloc.Snapshot, per: int
) -> tuple[list[Growth], float]:
    sizes: dict[tuple[str, str], int] = defaultdict(int)
    for stat in new.compare_to(old, "traceback"):
        sizes[_label(stat.traceback)] += stat.size_diff
    total = sum(sizes.values()) / 1024
    top = sorted(sizes.items(), key=lambda kv: kv[1], reverse=True)[:TOP]
    rows = [
        Growth(where=w, code=c, kib=round(s / 1024, 1), bytes_per_item=round(s / max(per, 1), 1))
        for (w, c), s in top
        if s > 0
    ]
    return rows, round(total, 1)


def _filtered(snapshot: tracemalloc.Snapshot) -> tracemalloc.Snapshot:
    return snapshot.filter_traces(
        (
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap*>"),
        )
    )


def diagnose(raw: dict[str, Any], section: Section) -> Diagnosis:
    from fal_platform.batch.engine import run_batch
    from fal_platform.batch.progress import ProgressSnapshot
    from fal_platform.batch.prompts import load_prompt_set
    from fal_platform.batch.settings import BatchSettings
    from fal_platform.batch.store import BatchStore
    from fal_platform.client import ClientSettings, FalClient

    params = DiagnosisParams(**raw)
    tracemalloc.start(4)
    before_inputs = _filtered(tracemalloc.take_snapshot())
    prompt_set = load_prompt_set(params.prompt_file)
    items = len(prompt_set.items)
    with_inputs = _filtered(tracemalloc.take_snapshot())
    store = BatchStore.at_path(params.db_path)
    settings = ClientSettings.for_emulator(
        params.url, max_connections=max(2 * params.concurrency, 10)
    )
    options = BatchSettings(
        max_cost_usd=None,
        max_concurrency=params.concurrency,
        submit_rate=100_000.0,
        progress_interval=0.5,
    )
    snapshots: dict[str, tuple[tracemalloc.Snapshot, int]] = {}
    ticks: list[tuple[float, int]] = []
    started = time.perf_counter()

    def take(name: str, done: int) -> None:
        snapshots[name] = (_filtered(tracemalloc.take_snapshot()), done)

    def on_progress(progress: ProgressSnapshot) -> None:
        ticks.append((round(time.perf_counter() - started, 2), progress.done))
        if progress.final:
            return
        if "plan" not in snapshots:
            take("plan", progress.done)
            return
        elapsed = (time.perf_counter() - started) / params.max_seconds
        if "mid" not in snapshots:
            if progress.done >= 0.3 * items or elapsed >= 0.4:
                take("mid", progress.done)
            return
        if "late" not in snapshots and (progress.done >= 0.9 * items or elapsed >= 0.85):
            take("late", progress.done)

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(params.max_seconds, stop.set)
        async with FalClient(settings) as client:
            await run_batch(client, store, prompt_set, options, stop=stop, on_progress=on_progress)

    with section:
        asyncio.run(main())
    tracemalloc.stop()
    diagnosis = Diagnosis(items=items, concurrency=params.concurrency, progress=ticks)
    diagnosis.inputs, diagnosis.inputs_total_kib = _growth(with_inputs, before_inputs, items)
    if "plan" in snapshots:
        plan, diagnosis.done_at_plan = snapshots["plan"]
        diagnosis.plan, diagnosis.plan_total_kib = _growth(plan, with_inputs, items)
    if "mid" in snapshots and "late" in snapshots:
        mid, diagnosis.done_at_mid = snapshots["mid"]
        late, diagnosis.done_at_late = snapshots["late"]
        finished = diagnosis.done_at_late - diagnosis.done_at_mid
        if finished >= MIN_FINISHED:
            diagnosis.run, diagnosis.run_total_kib = _growth(late, mid, finished)
    return diagnosis
