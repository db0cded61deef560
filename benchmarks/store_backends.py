"""The store on DuckDB against the store on PostgreSQL, in one run (issue 12).

`uv run python -m benchmarks.store_backends [--requests N] [--batch N]` starts a throw-away
PostgreSQL cluster (`fal_platform/devstack/postgres.py`, Debian's server binaries, fsync off as
in the tests) and measures, on each backend:

1. store writes: `BatchStore.upsert_requests` of N COMPLETED request rows (default 100,000) and
   `BatchStore.replace_media` of their 3 x N media rows (300,000), the same rows as
   `benchmarks/store.py`; wall seconds, rows/s, this process's CPU and, for Postgres, the
   server's (the postmaster and its backends, ended ones included);
2. a whole batch: `fal-platform run-batch` of `--batch` items (default 2,000) against a fresh
   emulator (inference 0.2 s, no queue wait), concurrency 64; wall seconds of the process
   and its CPU (user + system, start-up and imports included) per item, plus the Postgres
   server's CPU per item.

It prints a markdown table and writes `benchmarks/results/store_backends.json`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from benchmarks.items import write_prompt_file
from benchmarks.measure import Section, load_average
from benchmarks.store import PROMPT_SET, build_rows
from fal_platform.batch.store import BatchStore
from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.devstack.postgres import PostgresCluster
from fal_platform.devstack.processes import isolated_env
from fal_platform.store.target import StoreTarget

RESULTS = Path(__file__).parent / "results" / "store_backends.json"


@dataclass(frozen=True)
class WriteResult:
    backend: str
    table: str
    rows: int
    seconds: float
    rows_per_second: float
    cpu_seconds: float
    server_cpu_seconds: float


@dataclass(frozen=True)
class BatchResult:
    backend: str
    items: int
    wall_seconds: float
    cpu_ms_per_item: float
    server_cpu_ms_per_item: float
    exit_code: int


def server_cpu(pid: int | None) -> float:
    """CPU seconds of the Postgres server so far: postmaster, live backends, reaped backends."""
    if pid is None:
        return 0.0
    postmaster = psutil.Process(pid)
    times = postmaster.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in postmaster.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            child_times = child.cpu_times()
            total += child_times.user + child_times.system
    return total


def _writes(
    backend: str, store: BatchStore, requests_n: int, server: int | None
) -> list[WriteResult]:
    requests, media = build_rows(requests_n)
    store.ensure_schema()
    results = []
    for table, write, rows in (
        ("generation.requests", lambda: store.upsert_requests(requests), requests),
        ("media.files", lambda: store.replace_media(PROMPT_SET, media), media),
    ):
        before = server_cpu(server)
        with Section() as section:
            write()
        spent = server_cpu(server) - before
        results.append(
            WriteResult(
                backend,
                table,
                len(rows),
                round(section.wall_seconds, 3),
                round(len(rows) / section.wall_seconds),
                round(section.cpu_seconds, 3),
                round(spent, 3),
            )
        )
    return results


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _batch(
    backend: str, items: int, workdir: Path, database_url: str | None, server: int | None
) -> BatchResult:
    prompt_file = write_prompt_file(workdir, f"batch_{backend}", items, tag=backend)
    with EmulatorProcess(models=50, queue_wait=0.0, inference_time=0.2) as emulator:
        command = [
            sys.executable, "-m", "fal_platform.cli", "run-batch", str(prompt_file),
            "--emulator-url", emulator.url, "--no-progress",
            "--max-concurrency", "64", "--submit-rate", "1000",
        ]  # fmt: skip
        extra = {"FAL_PLATFORM_DATABASE_URL": database_url} if database_url else {}
        if database_url is None:
            command += ["--db", str(workdir / "batch.duckdb")]
        cpu_before, server_before = _children_cpu(), server_cpu(server)
        started = time.perf_counter()
        done = subprocess.run(command, env=isolated_env(**extra), capture_output=True, check=False)
        wall = time.perf_counter() - started
        cpu = _children_cpu() - cpu_before
        spent = server_cpu(server) - server_before
    return BatchResult(
        backend,
        items,
        round(wall, 2),
        round(1000 * cpu / items, 3),
        round(1000 * spent / items, 3),
        done.returncode,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.store_backends")
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=2_000)
    args = parser.parse_args(argv)
    load = load_average()
    with tempfile.TemporaryDirectory() as tmp, PostgresCluster() as cluster:
        workdir = Path(tmp)
        url = cluster.login.url()
        stores = {
            "duckdb": BatchStore.at_path(workdir / "writes.duckdb"),
            "postgres": BatchStore(StoreTarget.from_url(url, "unused").backend()),
        }
        pid = cluster.server_pid
        writes = [
            w
            for name, store in stores.items()
            for w in _writes(name, store, args.requests, pid if name == "postgres" else None)
        ]
        batches = [
            _batch("duckdb", args.batch, workdir, None, None),
            _batch("postgres", args.batch, workdir, cluster.create_database("batch").url(), pid),
        ]
    print("| backend | table | rows | seconds | rows/s | CPU s | server CPU s |")
    print("|---|---|---|---|---|---|---|")
    for w in writes:
        print(
            f"| {w.backend} | {w.table} | {w.rows:,} | {w.seconds} | {w.rows_per_second:,} "
            f"| {w.cpu_seconds} | {w.server_cpu_seconds} |"
        )
    print("\n| backend | items | wall s | CPU ms/item | server CPU ms/item | exit |")
    print("|---|---|---|---|---|---|")
    for b in batches:
        print(
            f"| {b.backend} | {b.items:,} | {b.wall_seconds} | {b.cpu_ms_per_item} "
            f"| {b.server_cpu_ms_per_item} | {b.exit_code} |"
        )
    print(f"\nload average at start: {load}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "writes": [asdict(w) for w in writes],
                "batches": [asdict(b) for b in batches],
                "load_average": load,
            },
            indent=2,
        )
    )
    return 0 if all(b.exit_code == 0 for b in batches) else 1


if __name__ == "__main__":
    sys.exit(main())
