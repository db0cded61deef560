"""`fal-platform run-batch PROMPT_FILE [--db PATH]`: the batch engine without Dagster.

The same engine, store and state table as the `generation/requests` asset, for scripts and
benchmarks: a run here and a materialization of the same partition share their rows, so either
can continue what the other started.

Validation needs fal's endpoint catalog. When the DuckDB file has the `fal_catalog.models`
table (the catalog asset has run), it is used, like the asset does. On a fresh file the CLI
asks the platform API about just the endpoints the prompt set names
(`GET /v1/models?endpoint_id=...`); prices come from `fal_catalog.pricing` or, likewise,
`GET /v1/models/pricing`.

Ctrl-C or SIGTERM stops gracefully: queued requests are cancelled, running ones are left for
the next run to re-attach. A second Ctrl-C exits at once (state on disk stays consistent).

Exit codes: 0 every item completed; 1 some items failed or were left unfinished; 2 the prompt
set, the budget or the setup refused to run (nothing submitted); 130 interrupted.
"""

from __future__ import annotations

import argparse
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from fal_platform.batch.duckdb_io import ConnectionFactory
    from fal_platform.batch.progress import ProgressSnapshot
    from fal_platform.batch.prompts import EndpointInfo, PromptSet
    from fal_platform.batch.report import BatchReport
    from fal_platform.client import FalClient, Price

EXIT_OK = 0
EXIT_INCOMPLETE = 1
EXIT_REFUSED = 2
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class CliOptions:
    max_concurrency: int = 32
    submit_rate: float = 20.0
    poll_interval: float = 0.5
    max_attempts: int = 3
    request_timeout: float = 60.0
    max_cost_usd: float | None = 10.0
    force: bool = False
    use_stream: bool = True
    progress: bool = True
    emulator_url: str | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = CliOptions()
    parser.add_argument("prompt_file", type=Path, help="A prompt-set file (.jsonl, .yaml, .csv).")
    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        help="DuckDB file (default: FAL_PLATFORM_DUCKDB, else data/fal_platform.duckdb).",
    )
    parser.add_argument("--max-concurrency", type=int, default=defaults.max_concurrency)
    parser.add_argument(
        "--submit-rate", type=float, default=defaults.submit_rate, help="Submits per second."
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=defaults.poll_interval,
        help="First status poll interval (s) when the status stream is unavailable.",
    )
    parser.add_argument(
        "--max-attempts",
        type=int,
        default=defaults.max_attempts,
        help="Accepted submits per item (failed jobs are resubmitted until then).",
    )
    parser.add_argument("--request-timeout", type=float, default=defaults.request_timeout)
    parser.add_argument(
        "--max-cost-usd",
        type=float,
        default=defaults.max_cost_usd,
        help="Refuse to start when the estimated cost is higher (default 10; <0 disables).",
    )
    parser.add_argument("--force", action="store_true", help="Resubmit completed items too.")
    parser.add_argument(
        "--no-stream", action="store_true", help="Poll status instead of using the SSE stream."
    )
    parser.add_argument("--no-progress", action="store_true", help="No progress bar.")
    parser.add_argument(
        "--emulator-url",
        default=None,
        help="Local emulator to use when FAL_KEY is not set (default: FAL_PLATFORM_EMULATOR_URL).",
    )


def run_from_args(args: argparse.Namespace) -> int:
    max_cost = args.max_cost_usd if args.max_cost_usd is None or args.max_cost_usd >= 0 else None
    options = CliOptions(
        max_concurrency=args.max_concurrency,
        submit_rate=args.submit_rate,
        poll_interval=args.poll_interval,
        max_attempts=args.max_attempts,
        request_timeout=args.request_timeout,
        max_cost_usd=max_cost,
        force=args.force,
        use_stream=not args.no_stream,
        progress=not args.no_progress,
        emulator_url=args.emulator_url,
    )
    return run_batch_cli(args.prompt_file, args.db, options)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, delivered like Ctrl-C so both take the graceful-stop path."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise _Terminated()


def run_batch_cli(
    prompt_file: Path | str,
    db_path: Path | str | None = None,
    options: CliOptions | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Validate, budget-check and run one prompt set; returns the process exit code."""
    import asyncio

    from fal_platform import paths
    from fal_platform.batch.blocking import run_interruptibly
    from fal_platform.batch.cost import BudgetExceededError
    from fal_platform.batch.duckdb_io import duckdb_connection_factory
    from fal_platform.batch.engine import BatchAbortedError, EngineOptions, run_batch
    from fal_platform.batch.progress import OnProgress
    from fal_platform.batch.prompts import PromptSetError, read_prompt_set, validate_prompt_set
    from fal_platform.batch.store import BatchStore
    from fal_platform.client import ApiKey, ClientSettings, FalError, RetryPolicy
    from fal_platform.client import FalClient as Client
    from fal_platform.target import EmulatorUnavailableError, ensure_reachable, resolve_target

    opts = options or CliOptions()
    out = out or sys.stdout
    err = err or sys.stderr
    db = Path(db_path) if db_path is not None else paths.duckdb_path()

    try:
        prompt_set = read_prompt_set(prompt_file)
    except PromptSetError as exc:
        print(str(exc), file=err)
        return EXIT_REFUSED

    api_key = ApiKey.from_env()
    target = resolve_target(has_key=api_key.is_set, emulator_url=opts.emulator_url)
    try:
        ensure_reachable(target)
    except EmulatorUnavailableError as exc:
        print(str(exc), file=err)
        return EXIT_REFUSED
    settings = ClientSettings(
        api_key=api_key,
        api_url=target.api_url,
        queue_url=target.queue_url,
        run_url=target.run_url,
        request_timeout=opts.request_timeout,
        retry=RetryPolicy(max_attempts=max(opts.max_attempts, 3)),
        max_connections=max(opts.max_concurrency * 2, 10),
    )
    connect = duckdb_connection_factory(db)
    store = BatchStore(connect)
    engine_options = EngineOptions(
        max_concurrency=opts.max_concurrency,
        submit_rate=opts.submit_rate,
        poll_interval=opts.poll_interval,
        max_poll_interval=max(5.0, opts.poll_interval),
        max_attempts=opts.max_attempts,
        force=opts.force,
        use_stream=opts.use_stream,
        max_cost_usd=opts.max_cost_usd,
        progress_interval=1.0,
    )
    print(f"{prompt_set.name}: {len(prompt_set.items)} items -> {target.describe()}", file=err)

    async def main(stop: asyncio.Event, on_progress: OnProgress) -> BatchReport:
        async with Client(settings) as client:
            catalog, prices = await _catalog_and_prices(connect, client, prompt_set)
            validate_prompt_set(prompt_set, catalog)
            return await run_batch(
                client,
                store,
                prompt_set,
                engine_options,
                prices=prices,
                stop=stop,
                on_progress=on_progress,
            )

    bar = _ProgressBar(len(prompt_set.items), enabled=opts.progress, stream=err)
    previous_term = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        outcome = run_interruptibly(main, on_progress=bar.update)
    except PromptSetError as exc:
        print(str(exc), file=err)
        return EXIT_REFUSED
    except BudgetExceededError as exc:
        print(str(exc), file=err)
        return EXIT_REFUSED
    except FalError as exc:
        print(f"fal refused the batch: {exc}", file=err)
        return EXIT_REFUSED
    except BatchAbortedError as exc:
        print(str(exc), file=err)
        return EXIT_INCOMPLETE
    except KeyboardInterrupt:
        print("interrupted twice: stopped without waiting (rerun to continue)", file=err)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        bar.close()
    report = outcome.value
    print(report.summary(), file=out)
    for failure in report.failures[:10]:
        print(
            f"  {prompt_set.path}:{failure.line}: {failure.endpoint_id}: "
            f"{failure.error_type}: {failure.message}",
            file=err,
        )
    if outcome.interrupt is not None:
        return EXIT_INTERRUPTED
    from fal_platform.batch.rows import RequestState

    completed = report.count(RequestState.COMPLETED)
    return EXIT_OK if completed == report.total_items else EXIT_INCOMPLETE


async def _catalog_and_prices(
    connect: ConnectionFactory, client: FalClient, prompt_set: PromptSet
) -> tuple[dict[str, EndpointInfo], dict[str, Price]]:
    """From the DuckDB catalog tables when they exist, else from the platform API."""
    import asyncio

    from fal_platform.catalog.lookup import (
        fetch_catalog,
        fetch_prices,
        read_catalog,
        read_prices,
    )

    ids = prompt_set.endpoint_ids

    def read() -> tuple[dict[str, EndpointInfo] | None, dict[str, Price] | None]:
        with connect() as conn:
            return read_catalog(conn), read_prices(conn, ids)

    catalog, prices = await asyncio.to_thread(read)
    if catalog is None:
        catalog = await fetch_catalog(client, ids)
    if prices is None:
        prices = await fetch_prices(client, [i for i in ids if i in catalog])
    return catalog, prices


class _ProgressBar:
    """A tqdm bar fed by engine snapshots (finished = completed + failed + cancelled)."""

    def __init__(self, total: int, *, enabled: bool, stream: TextIO) -> None:
        self._bar = None
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="item", file=stream, dynamic_ncols=True)

    def update(self, snapshot: ProgressSnapshot) -> None:
        if self._bar is None:
            return
        finished = snapshot.done + snapshot.failed + snapshot.cancelled
        self._bar.n = finished
        latency = f"{snapshot.p50_latency:.2f}s" if snapshot.p50_latency is not None else "-"
        self._bar.set_postfix(
            in_flight=snapshot.in_flight, failed=snapshot.failed, p50=latency, refresh=False
        )
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fal-platform run-batch")
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
