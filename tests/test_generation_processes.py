"""`generation/requests` in separate processes: concurrent partitions share one DuckDB file,
and a terminated step (SIGINT, as Dagster delivers it) cancels its queued requests."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from catalog_support import emulator_fal, isolate, materialize_catalog
from generation_support import (
    FAST,
    PROJECT_ROOT,
    accepted_by_item,
    distinct_items,
    popen,
    prompt_set,
    run_engine,
)

from fal_platform.batch.rows import RequestState
from fal_platform.batch.store import BatchStore

S = RequestState
WORKER = str(PROJECT_ROOT / "tests" / "generation_worker.py")


def worker(db: Path, url: str, partition: str, prompts: Path, *extra: str):
    cmd = [sys.executable, WORKER, "--db", str(db), "--emulator-url", url, "--partition", partition]
    return popen([*cmd, *extra], FAL_PLATFORM_PROMPTS_DIR=str(prompts))


def outcome(output: str) -> dict:
    lines = [line for line in output.splitlines() if line.startswith("{")]
    assert lines, output
    return json.loads(lines[-1])


def test_two_partitions_at_once_in_separate_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator_factory
):
    paths = isolate(tmp_path, monkeypatch)
    emu = emulator_factory(models=40, **FAST)
    materialize_catalog(emulator_fal(emu), paths.duckdb)
    prompts_dir = tmp_path / "prompts"
    first = prompt_set(tmp_path, "first", distinct_items(60, tag="first"))
    second = prompt_set(tmp_path, "second", distinct_items(60, tag="second"))

    processes = [
        worker(paths.duckdb, emu.url, "first", prompts_dir),
        worker(paths.duckdb, emu.url, "second", prompts_dir),
    ]
    results = [p.communicate(timeout=240) for p in processes]

    for process, (out, err) in zip(processes, results, strict=True):
        assert process.returncode == 0, err[-3000:]
        assert outcome(out)["success"], out
        assert "lock" not in err.lower() or "Conflicting lock" not in err
    store = BatchStore.at_path(paths.duckdb)
    assert store.count_by_state("first") == {S.COMPLETED: 60}
    assert store.count_by_state("second") == {S.COMPLETED: 60}
    assert accepted_by_item(emu, first) == [1] * 60
    assert accepted_by_item(emu, second) == [1] * 60


def test_terminating_the_step_cancels_queued_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator_factory
):
    paths = isolate(tmp_path, monkeypatch)
    emu = emulator_factory(models=40, queue_wait=5.0, queue_wait_jitter=0.1, inference_time=0.1)
    materialize_catalog(emulator_fal(emu), paths.duckdb)
    prompts = prompt_set(tmp_path, "terminated", distinct_items(40))

    process = worker(paths.duckdb, emu.url, "terminated", tmp_path / "prompts")
    try:
        deadline = time.monotonic() + 60
        while emu.stats()["accepted_submits"] < 16:
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        # What Dagster's termination does to a running step process: SIGINT.
        os.kill(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)

    assert not outcome(out)["success"]
    assert "DagsterExecutionInterruptedError" in err or "interrupted" in err.lower()
    store = BatchStore.at_path(paths.duckdb)
    counts = store.count_by_state("terminated")
    cancelled = emu.stats()["cancels_accepted"]
    assert cancelled > 0 and counts.get(S.CANCELLED) == cancelled, counts
    assert not counts.get(S.UNKNOWN)

    emu.configure(queue_wait=0.05)
    rerun = run_engine(emu, store, prompts)
    assert rerun.counts == {S.COMPLETED: 40}
    assert sum(accepted_by_item(emu, prompts)) == 40 + cancelled
