"""The ways to run a batch that the throughput benchmark compares (run inside a worker).

- `engine_cli`: `fal-platform run-batch` (`fal_platform.cli.main`) on a DuckDB file in a temp
  dir, as a user runs it; `engine_batch`: the engine (`run_batch`) called directly, for the
  memory benchmark.
- `fal_client_async`: the official `fal_client.subscribe_async` under an `asyncio.Semaphore`.
- `fal_client_sync`: the official `fal_client.subscribe` in a `ThreadPoolExecutor`.
- `aiohttp_floor`: the same requests per item over bare aiohttp and nothing else, as the
  ceiling one Python process reaches on these cores.

The fal-client runs use fal-client's defaults (module-level clients, 0.1 s polling, its own
retry policy) and are pointed at the emulator as fal_protocol.md 6.6 option B describes. Each
function times only the batch itself with the worker's `Section`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.items import read_prompt_file, write_prompt_file
from benchmarks.measure import Section, current_rss_mb

if TYPE_CHECKING:
    import aiohttp


@dataclass(frozen=True)
class ClientParams:
    url: str
    """Emulator base URL."""
    prompt_file: str
    concurrency: int
    max_seconds: float
    """Soft cap: stop the batch after this long and report how far it got."""
    db_path: str = ""
    """DuckDB file for the engine's store."""
    submit_rate: float = 10_000.0
    """Engine only: submits per second (set high so pacing is not the bottleneck)."""
    sample_interval: float = 1.0
    """Engine only: how often to record (items done, RSS) while the batch runs."""
    floor_poll_after: float | None = None
    """Floor only: poll the status this long after each submit (the job time, which only a
    benchmark knows), then every `FLOOR_POLL_GAP`, instead of reading the status stream."""


FLOOR_POLL_GAP = 0.05
DUMMY_KEY = "benchmark-not-a-real-key"
"""The emulator takes any key."""


@dataclass
class ClientOutcome:
    items: int
    completed: int = 0
    failed: int = 0
    interrupted: bool = False
    first_error: str | None = None
    rss_before_load_mb: float = 0.0
    """RSS after imports, before the batch's inputs are loaded."""
    rss_after_load_mb: float = 0.0
    """RSS once the inputs (the prompt set) are in memory, before any request."""
    samples: list[tuple[float, int, float]] = field(default_factory=list)
    """(seconds since start, items done, RSS MiB) while the batch ran (engine only)."""
    latency_p50: float | None = None
    latency_p95: float | None = None
    """Item latency in seconds: submit answered -> completion seen. The engine's from its rows
    (`completed_at - submitted_at`, as its report measures it); fal-client's from `on_enqueue`
    to `subscribe` returning, which also holds the result fetch (one round trip, ~ms)."""

    def take_report(self, report: Any) -> None:
        """Counts and the first error of the engine's `BatchReport`."""
        from fal_platform.batch.rows import RequestState

        self.completed = report.count(RequestState.COMPLETED)
        self.failed = report.count(RequestState.FAILED)
        self.interrupted = report.interrupted
        if report.failures:
            first = report.failures[0]
            self.first_error = f"{first.error_type}: {first.message}"

    def set_latencies(self, seconds: list[float]) -> None:
        if seconds:
            ordered = sorted(seconds)
            self.latency_p50 = round(_quantile(ordered, 0.5), 4)
            self.latency_p95 = round(_quantile(ordered, 0.95), 4)


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def engine_batch(raw: dict[str, Any], section: Section) -> ClientOutcome:
    from fal_platform.batch.engine import run_batch
    from fal_platform.batch.progress import ProgressSnapshot
    from fal_platform.batch.prompts import load_prompt_set
    from fal_platform.batch.settings import BatchSettings
    from fal_platform.batch.store import BatchStore
    from fal_platform.client import ClientSettings, FalClient

    params = ClientParams(**raw)
    outcome = ClientOutcome(items=0, rss_before_load_mb=current_rss_mb())
    prompt_set = load_prompt_set(params.prompt_file)
    outcome.items = len(prompt_set.items)
    outcome.rss_after_load_mb = current_rss_mb()
    store = BatchStore.at_path(params.db_path)
    settings = ClientSettings.for_emulator(
        params.url,
        request_timeout=60.0,
        # What the CLI and FalResource configure for a given concurrency.
        max_connections=max(params.concurrency * 2, 10),
    )
    options = BatchSettings(
        max_cost_usd=None,
        max_concurrency=params.concurrency,
        submit_rate=params.submit_rate,
        progress_interval=params.sample_interval,
    )
    started = time.perf_counter()

    def sample(snapshot: ProgressSnapshot) -> None:
        elapsed = round(time.perf_counter() - started, 2)
        outcome.samples.append((elapsed, snapshot.done, round(current_rss_mb(), 1)))

    async def main() -> Any:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(params.max_seconds, stop.set)
        async with FalClient(settings) as client:
            return await run_batch(
                client, store, prompt_set, options, stop=stop, on_progress=sample
            )

    with section:
        report = asyncio.run(main())
    outcome.take_report(report)
    return outcome


def engine_cli(raw: dict[str, Any], section: Section) -> ClientOutcome:
    """`fal-platform run-batch` in this process, after a 1-item warm-up run (untimed).

    The warm-up pays the CLI's first-use imports and the DuckDB schema, so the measured CPU is
    the batch's; the emulator's counters are reset after it. The cap sends this process a
    SIGTERM, which the CLI turns into its graceful stop. No `--no-stream`: against a server
    without the status stream the engine finds out as a user's run does (its first stream
    request answers 404, and the run polls).
    """
    import httpx

    from fal_platform.cli import main as cli_main

    params = ClientParams(**raw)
    prompt_file = Path(params.prompt_file)
    warm_up = write_prompt_file(prompt_file.parent, "warmup", 1)
    common = ["--db", params.db_path, "--emulator-url", params.url, "--no-progress"]
    common += ["--max-concurrency", str(params.concurrency), "--max-cost-usd", "-1"]
    common += ["--submit-rate", str(params.submit_rate)]
    cli_main(["run-batch", str(warm_up), *common])
    httpx.post(f"{params.url.rstrip('/')}/_emulator/stats/reset").raise_for_status()
    cap = threading.Timer(params.max_seconds, os.kill, (os.getpid(), signal.SIGTERM))
    with section:
        cap.start()
        code = cli_main(["run-batch", str(prompt_file), *common])
        cap.cancel()
    outcome = _engine_outcome(params.db_path, prompt_file.stem)
    outcome.interrupted = code != 0
    return outcome


def _engine_outcome(db_path: str, prompt_set: str) -> ClientOutcome:
    """Counts and latencies of one prompt set, from the store the run wrote."""
    from fal_platform.batch.duckdb_io import connect_duckdb

    # Waits for the lock if the engine's last store thread is still closing its connection.
    with connect_duckdb(db_path, timeout=60.0) as conn:
        records = conn.execute(
            "SELECT state, submitted_at, completed_at FROM generation.requests "
            "WHERE prompt_set = ?",
            [prompt_set],
        ).fetchall()
    outcome = ClientOutcome(items=len(records))
    outcome.completed = sum(1 for state, _, _ in records if state == "COMPLETED")
    outcome.failed = sum(1 for state, _, _ in records if state == "FAILED")
    outcome.set_latencies(
        [(done - sent).total_seconds() for state, sent, done in records if state == "COMPLETED"]
    )
    return outcome


async def within_cap(work: Awaitable[Any], outcome: ClientOutcome, params: ClientParams) -> None:
    """Await an asyncio client's batch; at the cap, mark it interrupted (what it did counts)."""
    try:
        await asyncio.wait_for(work, timeout=params.max_seconds)
    except TimeoutError:
        outcome.interrupted = True


def _point_fal_client_at(url: str) -> None:
    """fal_protocol.md 6.6 option B: plain HTTP by patching the URL formats; any key works."""
    os.environ["FAL_KEY"] = DUMMY_KEY
    import fal_client.client

    fal_client.client.QUEUE_URL_FORMAT = url.rstrip("/") + "/"
    fal_client.client.RUN_URL_FORMAT = url.rstrip("/") + "/run/"


def _fal_client_batch(
    raw: dict[str, Any],
) -> tuple[ClientParams, ClientOutcome, list[tuple[str, dict[str, Any]]]]:
    """fal-client aimed at the emulator, and the batch loaded with RSS noted before and after."""
    params = ClientParams(**raw)
    _point_fal_client_at(params.url)
    outcome = ClientOutcome(items=0, rss_before_load_mb=current_rss_mb())
    batch = list(read_prompt_file(Path(params.prompt_file)))
    outcome.items = len(batch)
    outcome.rss_after_load_mb = current_rss_mb()
    return params, outcome, batch


def fal_client_async(raw: dict[str, Any], section: Section) -> ClientOutcome:
    params, outcome, batch = _fal_client_batch(raw)
    import fal_client

    latencies: list[float] = []

    async def main() -> None:
        slots = asyncio.Semaphore(params.concurrency)

        async def one(endpoint_id: str, arguments: dict[str, Any]) -> None:
            async with slots:
                enqueued: list[float] = []
                try:
                    await fal_client.subscribe_async(
                        endpoint_id,
                        arguments,
                        on_enqueue=lambda _: enqueued.append(time.perf_counter()),
                    )
                except Exception as exc:
                    outcome.failed += 1
                    outcome.first_error = outcome.first_error or repr(exc)[:300]
                else:
                    outcome.completed += 1
                    latencies.append(time.perf_counter() - enqueued[0])

        await within_cap(asyncio.gather(*(one(e, a) for e, a in batch)), outcome, params)

    with section:
        asyncio.run(main())
    outcome.set_latencies(latencies)
    return outcome


def fal_client_sync(raw: dict[str, Any], section: Section) -> ClientOutcome:
    params, outcome, batch = _fal_client_batch(raw)
    import fal_client

    def one(endpoint_id: str, arguments: dict[str, Any]) -> float:
        """The item's latency (list.append is atomic, so threads may share `enqueued`)."""
        enqueued: list[float] = []
        fal_client.subscribe(
            endpoint_id, arguments, on_enqueue=lambda _: enqueued.append(time.perf_counter())
        )
        return time.perf_counter() - enqueued[0]

    with section:
        pool = ThreadPoolExecutor(max_workers=params.concurrency)
        futures = [pool.submit(one, e, a) for e, a in batch]
        _, not_done = wait_futures(futures, timeout=params.max_seconds)
        outcome.interrupted = bool(not_done)
        # At the cap, count what is done; the worker exits without joining the rest.
        pool.shutdown(wait=False, cancel_futures=True)
    latencies = []
    for future in futures:
        if not future.done() or future.cancelled():
            continue
        error = future.exception()
        if error is None:
            outcome.completed += 1
            latencies.append(future.result())
        else:
            outcome.failed += 1
            outcome.first_error = outcome.first_error or repr(error)[:300]
    outcome.set_latencies(latencies)
    return outcome


async def stream_to_completed(session: aiohttp.ClientSession, status_url: str) -> None:
    """The floor's status stream: read until the COMPLETED event, nothing parsed."""
    async with session.get(status_url + "/stream") as response:
        async for line in response.content:
            if line.startswith(b"data:") and b'"COMPLETED"' in line:
                return


async def poll_to_completed(session: aiohttp.ClientSession, status_url: str) -> None:
    """The floor's polls: one now, then every `FLOOR_POLL_GAP` until the job is COMPLETED."""
    while True:
        async with session.get(status_url) as response:
            if b'"COMPLETED"' in await response.read():
                return
        await asyncio.sleep(FLOOR_POLL_GAP)


def aiohttp_floor(raw: dict[str, Any], section: Section) -> ClientOutcome:
    """What one Python process can do at best here: the engine's requests per item over bare
    aiohttp on uvloop, and nothing else.

    Submit, then the status stream read to COMPLETED (or, with `floor_poll_after`, status polls
    from the moment the job is known to end: an oracle no real client has), then the result. No
    store, no retries, no validation, no httpx, no JSON parsing of statuses (a byte search for
    COMPLETED): not a client anyone should use, but the ceiling a real one stays under on the
    same cores and emulator, so a ratio to ideal or a latency can be read against it.
    """
    import aiohttp

    from fal_platform import event_loop

    params = ClientParams(**raw)
    outcome = ClientOutcome(items=0, rss_before_load_mb=current_rss_mb())
    batch = iter(list(read_prompt_file(Path(params.prompt_file))))
    outcome.rss_after_load_mb = current_rss_mb()
    base = params.url.rstrip("/")
    latencies: list[float] = []

    async def one(session: aiohttp.ClientSession, endpoint_id: str, arguments: Any) -> None:
        async with session.post(f"{base}/{endpoint_id}", json=arguments) as response:
            handle = await response.json()
        enqueued = time.perf_counter()
        if params.floor_poll_after is None:
            await stream_to_completed(session, handle["status_url"])
        else:
            await asyncio.sleep(params.floor_poll_after)
            await poll_to_completed(session, handle["status_url"])
        latencies.append(time.perf_counter() - enqueued)
        async with session.get(handle["response_url"]) as response:
            response.raise_for_status()
            await response.read()

    async def slot(session: aiohttp.ClientSession) -> None:
        for endpoint_id, arguments in batch:
            outcome.items += 1
            try:
                await one(session, endpoint_id, arguments)
            except aiohttp.ClientError as exc:
                outcome.failed += 1
                outcome.first_error = outcome.first_error or repr(exc)[:300]
            else:
                outcome.completed += 1

    async def main() -> None:
        connector = aiohttp.TCPConnector(limit=params.concurrency * 2)
        headers = {"Authorization": f"Key {DUMMY_KEY}"}
        async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
            slots = asyncio.gather(*(slot(session) for _ in range(params.concurrency)))
            await within_cap(slots, outcome, params)

    with section:
        event_loop.run(main())  # uvloop's, as the engine's
    outcome.set_latencies(latencies)
    return outcome
