"""The memory benchmark's worker: the engine on one prompt set, stopped after N completions.

Like `clients.engine_batch`, but the batch is stopped once `stop_after` items are done (so a
1,000,000-item set costs its planning plus the first 10,000 items, not hours), and the time at
which planning ended (the first progress report with an item in flight or done) is recorded.
Peak RSS is the worker's own (`worker.py`), over reading, planning and running.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from benchmarks.clients import ClientOutcome
from benchmarks.measure import Section, current_rss_mb

PROGRESS_INTERVAL = 0.25


@dataclass(frozen=True)
class MemoryParams:
    url: str
    prompt_file: str
    db_path: str
    concurrency: int
    stop_after: int | None
    """Stop the batch once this many items are done (None: run it all)."""
    max_seconds: float
    submit_rate: float


@dataclass
class MemoryOutcome(ClientOutcome):
    read_seconds: float = 0.0
    """Reading and checking the file (one streaming pass)."""
    planned_after_seconds: float | None = None
    """From the start of `run_batch` to the first item in flight (planning in SQL included)."""


def engine_until(raw: dict[str, Any], section: Section) -> MemoryOutcome:
    from fal_platform.batch.engine import run_batch
    from fal_platform.batch.progress import ProgressSnapshot
    from fal_platform.batch.prompts import load_prompt_set
    from fal_platform.batch.settings import BatchSettings
    from fal_platform.batch.store import BatchStore
    from fal_platform.client import ClientSettings, FalClient

    params = MemoryParams(**raw)
    outcome = MemoryOutcome(items=0, rss_before_load_mb=current_rss_mb())
    started = time.perf_counter()
    prompt_set = load_prompt_set(params.prompt_file)
    outcome.read_seconds = round(time.perf_counter() - started, 2)
    outcome.items = len(prompt_set.items)
    outcome.rss_after_load_mb = current_rss_mb()
    client_settings = ClientSettings.for_emulator(
        params.url, request_timeout=60.0, max_connections=max(params.concurrency * 2, 10)
    )
    options = BatchSettings(
        max_cost_usd=None,
        max_concurrency=params.concurrency,
        submit_rate=params.submit_rate,
        progress_interval=PROGRESS_INTERVAL,
    )
    stop = asyncio.Event()
    batch_started = time.perf_counter()

    def sample(snapshot: ProgressSnapshot) -> None:
        elapsed = round(time.perf_counter() - batch_started, 2)
        if outcome.planned_after_seconds is None and snapshot.done + snapshot.in_flight > 0:
            outcome.planned_after_seconds = elapsed
        outcome.samples.append((elapsed, snapshot.done, round(current_rss_mb(), 1)))
        if params.stop_after is not None and snapshot.done >= params.stop_after:
            stop.set()

    async def main() -> Any:
        asyncio.get_running_loop().call_later(params.max_seconds, stop.set)
        async with FalClient(client_settings) as client:
            store = BatchStore.at_path(params.db_path)
            return await run_batch(
                client, store, prompt_set, options, stop=stop, on_progress=sample
            )

    with section:
        report = asyncio.run(main())
    outcome.take_report(report)
    return outcome
