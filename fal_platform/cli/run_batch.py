"""`fal-platform run-batch PROMPT_FILE [--db PATH]`: the batch engine without Dagster.

The rows go to the DuckDB file (`--db`, else FAL_PLATFORM_DUCKDB, else data/fal_platform.duckdb)
or, with FAL_PLATFORM_DATABASE_URL set, to that PostgreSQL database (`--db` is then refused:
one run, one database). A URL that does not work fails before anything is sent.

The same `run_prompt_set` (`fal_platform/batch/run.py`), settings defaults, store and state
table as the `generation/requests` asset, for scripts and benchmarks: a run here and a materialization of the same partition share their rows, so either
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
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, TextIO

from fal_platform.batch.settings import DEFAULTS, BatchSettings
from fal_platform.paths import ENV_DATABASE_URL, DataPaths
from fal_platform.store.target import StoreTarget

if TYPE_CHECKING:
    from fal_platform.batch.progress import ProgressSnapshot
    from fal_platform.batch.prompts import PromptSet
    from fal_platform.batch.run import PromptSetRun
    from fal_platform.client import ApiKey
    from fal_platform.target import FalTarget

EXIT_OK = 0
EXIT_INCOMPLETE = 1
EXIT_REFUSED = 2
EXIT_INTERRUPTED = 130

PROGRESS_SECONDS = 1.0
"""A terminal progress bar refreshes more often than the asset logs progress."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt_file", type=Path, help="A prompt-set file (.jsonl, .yaml, .csv).")
    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        help="DuckDB file (default: FAL_PLATFORM_DUCKDB, else data/fal_platform.duckdb).",
    )
    parser.add_argument("--max-concurrency", type=int, default=DEFAULTS.max_concurrency)
    parser.add_argument(
        "--submit-rate", type=float, default=DEFAULTS.submit_rate, help="Submits per second."
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=DEFAULTS.poll_interval,
        help="First status poll interval (s) when the status stream is unavailable.",
    )
    parser.add_argument(
        "--max-attempts",
        type=int,
        default=DEFAULTS.max_attempts,
        help="Accepted submits per item (failed jobs are resubmitted until then).",
    )
    parser.add_argument("--request-timeout", type=float, default=DEFAULTS.request_timeout)
    parser.add_argument(
        "--max-cost-usd",
        type=float,
        default=DEFAULTS.max_cost_usd,
        help=f"Refuse to start when the estimated cost is higher (default {DEFAULTS.max_cost_usd:g}; "
        "<0 disables).",
    )
    parser.add_argument("--force", action="store_true", help="Resubmit completed items too.")
    parser.add_argument(
        "--no-stream", action="store_true", help="Poll status instead of using the SSE stream."
    )
    parser.add_argument(
        "--webhook-url",
        default=DEFAULTS.webhook_url,
        help="Completion by webhook: the public URL of `fal-platform webhooks` (its "
        "/fal/webhook route) writing to the same --db; the run waits on its deliveries.",
    )
    parser.add_argument(
        "--webhook-fallback-after",
        type=float,
        default=DEFAULTS.webhook_fallback_after,
        help="Webhook mode: seconds without a delivery before a status check asks fal.",
    )
    parser.add_argument("--no-progress", action="store_true", help="No progress bar.")
    parser.add_argument(
        "--emulator-url",
        default=None,
        help="Local emulator to use when FAL_KEY is not set (default: FAL_PLATFORM_EMULATOR_URL).",
    )


def _store_target(db: Path | None, err: TextIO) -> StoreTarget | None:
    """The database from `--db` or the environment; None (after saying why) if unusable."""
    from fal_platform.store.address import DatabaseUrlError

    try:
        paths = DataPaths.from_env(os.environ)
        target = paths.store
    except DatabaseUrlError as exc:
        print(str(exc), file=err)
        return None
    if db is None:
        return target
    if target.postgres is not None:
        print(
            f"--db names a DuckDB file but {ENV_DATABASE_URL} puts the tables in PostgreSQL: "
            "use one of them",
            file=err,
        )
        return None
    return StoreTarget(db)


def run_from_args(args: argparse.Namespace) -> int:
    max_cost = args.max_cost_usd if args.max_cost_usd is None or args.max_cost_usd >= 0 else None
    settings = replace(
        DEFAULTS,
        max_concurrency=args.max_concurrency,
        submit_rate=args.submit_rate,
        poll_interval=args.poll_interval,
        max_attempts=args.max_attempts,
        request_timeout=args.request_timeout,
        max_cost_usd=max_cost,
        force=args.force,
        use_stream=not args.no_stream,
        webhook_url=args.webhook_url,
        webhook_fallback_after=args.webhook_fallback_after,
        progress_interval=PROGRESS_SECONDS,
    )
    target = _store_target(args.db, sys.stderr)
    if target is None:
        return EXIT_REFUSED
    return run_batch_cli(
        args.prompt_file,
        target,
        settings,
        progress=not args.no_progress,
        emulator_url=args.emulator_url,
    )


class _Terminated(KeyboardInterrupt):
    """SIGTERM, delivered like Ctrl-C so both take the graceful-stop path."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise _Terminated()


def run_batch_cli(
    prompt_file: Path | str,
    database: StoreTarget | Path | str,
    settings: BatchSettings = DEFAULTS,
    *,
    progress: bool = True,
    emulator_url: str | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Validate, budget-check and run one prompt set; returns the process exit code.

    `database`: where the rows go (a path is a DuckDB file)."""
    from fal_platform.batch.cost import BudgetExceededError
    from fal_platform.batch.engine import BatchAbortedError
    from fal_platform.batch.lease import PartitionBusyError
    from fal_platform.batch.prompts import PromptSetError
    from fal_platform.batch.run import catalog_from_tables_or_api, run_prompt_set
    from fal_platform.client import FalError
    from fal_platform.store.postgres_backend import DatabaseUnavailableError
    from fal_platform.webhooks.inbox import WebhookInbox

    out = out or sys.stdout
    err = err or sys.stderr
    store = database if isinstance(database, StoreTarget) else StoreTarget(Path(database))
    ready = _ready_to_run(prompt_file, emulator_url, err)
    if ready is None:
        return EXIT_REFUSED
    prompt_set, target, api_key = ready
    try:
        store.check_reachable()
    except DatabaseUnavailableError as exc:
        print(str(exc), file=err)
        return EXIT_REFUSED

    bar = _ProgressBar(len(prompt_set.items), enabled=progress, stream=err)
    previous_term = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        run = run_prompt_set(
            prompt_set,
            settings=settings,
            client_settings=settings.client_settings(target, api_key),
            tables=store.backend(),
            lookup=catalog_from_tables_or_api,
            on_progress=bar.update,
            inbox=WebhookInbox.of(store) if settings.webhook_url else None,
        )
    except (PromptSetError, BudgetExceededError, PartitionBusyError) as exc:
        print(str(exc), file=err)
        return EXIT_REFUSED
    except FalError as exc:
        print(f"fal refused the batch: {exc}", file=err)
        return EXIT_REFUSED
    except (BatchAbortedError, DatabaseUnavailableError) as exc:
        print(str(exc), file=err)
        return EXIT_INCOMPLETE
    except KeyboardInterrupt:
        print("interrupted twice: stopped without waiting (rerun to continue)", file=err)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        bar.close()
    return _print_report(run, out=out, err=err)


def _ready_to_run(
    prompt_file: Path | str, emulator_url: str | None, err: TextIO
) -> tuple[PromptSet, FalTarget, ApiKey] | None:
    """The prompt set and where to send it; None (after saying why) when either is not usable."""
    from fal_platform.batch.prompts import PromptSetError, read_prompt_set

    try:
        prompt_set = read_prompt_set(prompt_file)
    except PromptSetError as exc:
        print(str(exc), file=err)
        return None
    reachable = _reachable_target(emulator_url, err)
    if reachable is None:
        return None
    target, api_key = reachable
    print(f"{prompt_set.name}: {len(prompt_set.items)} items -> {target.describe()}", file=err)
    return prompt_set, target, api_key


def _reachable_target(emulator_url: str | None, err: TextIO) -> tuple[FalTarget, ApiKey] | None:
    """fal with FAL_KEY, else the emulator; None (after saying why) when it does not answer."""
    from fal_platform.client import ApiKey
    from fal_platform.target import EmulatorUnavailableError, ensure_reachable, resolve_target

    api_key = ApiKey.from_env()
    target = resolve_target(has_key=api_key.is_set, emulator_url=emulator_url)
    try:
        ensure_reachable(target)
    except EmulatorUnavailableError as exc:
        print(str(exc), file=err)
        return None
    return target, api_key


def _print_report(run: PromptSetRun, *, out: TextIO, err: TextIO) -> int:
    from fal_platform.batch.rows import RequestState

    report = run.report
    print(report.summary(), file=out)
    for failure in report.failures[:10]:
        print(
            f"  {run.prompt_set.path}:{failure.line}: {failure.endpoint_id}: "
            f"{failure.error_type}: {failure.message}",
            file=err,
        )
    if run.interrupt is not None:
        return EXIT_INTERRUPTED
    completed = report.count(RequestState.COMPLETED)
    return EXIT_OK if completed == report.total_items else EXIT_INCOMPLETE


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
