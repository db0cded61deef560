"""`fal-platform run-batch` as a real subprocess: SIGKILL mid-batch, SIGTERM, validation."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from generation_support import (
    FAST,
    accepted_by_item,
    cli_command,
    distinct_items,
    popen,
    prompt_set,
    run_cli,
    run_engine,
    write_jsonl,
)

from fal_platform.batch.rows import RequestState
from fal_platform.batch.store import BatchStore

S = RequestState


def wait_until(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def kill_when(process: subprocess.Popen[str], predicate, settle: float = 0.0) -> None:
    """SIGKILL `process` (its whole group) `settle` seconds after `predicate` holds."""
    try:
        wait_until(predicate)
        time.sleep(settle)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
    assert process.returncode == -signal.SIGKILL


def test_sigkill_mid_batch_then_rerun_pays_once_per_item(emulator_factory, tmp_path: Path):
    # A third of the submits hang after fal accepted them: killed then, their rows are UNKNOWN
    # (the intent is on disk, the request id is not) and only reconciliation can find them.
    emu = emulator_factory(
        models=50,
        queue_wait=0.3,
        inference_time=0.3,
        timeout_rate=0.3,
        hang_seconds=120,
        fault_routes=["submit"],
        seed=11,
    )
    db = tmp_path / "fal.duckdb"
    prompts = prompt_set(tmp_path, "killed", distinct_items(120))
    cmd = cli_command(prompts.path, db, emu, "--submit-rate", "40", "--max-concurrency", "16")

    kill_when(popen(cmd), lambda: emu.stats()["accepted_submits"] >= 40)

    store = BatchStore.at_path(db)
    store.recover("killed")  # as the next run does first: the journal's rows into the table
    at_kill = store.count_by_state("killed")
    accepted_at_kill = emu.stats()["accepted_submits"]
    unknown = at_kill.get(S.UNKNOWN, 0)
    assert unknown > 0, at_kill

    emu.configure(timeout_rate=0.0)
    report = run_engine(emu, store, prompts)

    assert report.counts == {S.COMPLETED: 120}
    assert report.reconciled_found + report.reconciled_not_found == unknown
    assert report.reconciled_found > 0
    assert emu.stats()["accepted_submits"] == 120
    assert accepted_by_item(emu, prompts) == [1] * 120
    print(
        f"\nkill test: at SIGKILL {accepted_at_kill} submits accepted, rows {dict(at_kill)}; "
        f"rerun reconciled {report.reconciled_found} found / {report.reconciled_not_found} not "
        f"found, re-attached {report.reattached}, reused {report.reused}, submitted "
        f"{report.submitted}; accepted submits {emu.stats()['accepted_submits']} for 120 items"
    )


def test_sigkill_with_progress_only_in_memory_reattaches_and_pays_once(
    emulator_factory, tmp_path: Path
):
    # Long queue and run: at the kill, items are IN_QUEUE / IN_PROGRESS in memory while their
    # coalesced rows may still read SUBMITTED on disk. Every row on disk has fal's request id.
    emu = emulator_factory(models=50, queue_wait=3.0, inference_time=3.0)
    db = tmp_path / "fal.duckdb"
    prompts = prompt_set(tmp_path, "coalesced", distinct_items(12))
    process = popen(cli_command(prompts.path, db, emu, "--submit-rate", "100"))
    # Half a second after the last submit: the status streams report IN_QUEUE by then.
    kill_when(process, lambda: emu.stats()["accepted_submits"] >= 12, settle=0.5)

    store = BatchStore.at_path(db)
    store.recover("coalesced")
    at_kill = store.load_requests("coalesced")
    assert len(at_kill) == 12
    assert all(row.state.is_in_flight and row.request_id for row in at_kill), at_kill

    report = run_engine(emu, store, prompts)
    assert report.counts == {S.COMPLETED: 12}
    assert report.reattached == 12 and report.submitted == 0
    assert accepted_by_item(emu, prompts) == [1] * 12
    print(f"\ncoalesced kill test: rows at SIGKILL {sorted(r.state.value for r in at_kill)}")


def test_sigterm_cancels_queued_items_and_exits_130(emulator_factory, tmp_path: Path):
    emu = emulator_factory(models=50, queue_wait=5.0, queue_wait_jitter=0.1, inference_time=0.1)
    db = tmp_path / "fal.duckdb"
    prompts = prompt_set(tmp_path, "terminated", distinct_items(40))
    process = popen(cli_command(prompts.path, db, emu, "--submit-rate", "100"))
    try:
        wait_until(lambda: emu.stats()["accepted_submits"] >= 20)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, err
    assert "INTERRUPTED" in out
    store = BatchStore.at_path(db)
    counts = store.count_by_state("terminated")
    cancelled = emu.stats()["cancels_accepted"]
    assert cancelled > 0 and counts.get(S.CANCELLED) == cancelled
    assert not counts.get(S.UNKNOWN)

    emu.configure(queue_wait=0.05)
    rerun = run_cli(prompts.path, db, emu)
    assert rerun.returncode == 0, rerun.stderr
    assert store.count_by_state("terminated") == {S.COMPLETED: 40}
    assert sum(accepted_by_item(emu, prompts)) == 40 + cancelled
    assert "billed nothing this run" not in rerun.stdout

    # A third run has nothing left to do, and says it paid for nothing.
    again = run_cli(prompts.path, db, emu)
    assert again.returncode == 0, again.stderr
    assert "reused all 40, billed nothing this run" in again.stdout
    assert sum(accepted_by_item(emu, prompts)) == 40 + cancelled


def test_cli_reports_file_line_errors_and_submits_nothing(emulator_factory, tmp_path: Path):
    emu = emulator_factory(models=50, **FAST)
    bad = tmp_path / "broken.jsonl"
    bad.write_text(
        '{"endpoint_id": "fal-ai/flux/schnell", "input": {"prompt": "ok"}}\n'
        '{"endpoint_id": "fal-ai/flux/schnell", "input": {"prompt": "x"\n'
        '{"endpoint_id": "fal-ai/does-not-exist", "input": {"prompt": "y"}}\n'
    )
    result = run_cli(bad, tmp_path / "fal.duckdb", emu, timeout=60)
    assert result.returncode == 2
    assert f"{bad}:2: " in result.stderr
    assert emu.stats()["requests"]["submit"] == 0

    unknown = write_jsonl(
        tmp_path / "unknown.jsonl",
        [{"endpoint_id": "fal-ai/does-not-exist", "input": {"prompt": "y"}}],
    )
    result = run_cli(unknown, tmp_path / "fal.duckdb", emu, timeout=60)
    assert result.returncode == 2
    assert f"{unknown}:1: endpoint_id: unknown endpoint" in result.stderr
    assert emu.stats()["requests"]["submit"] == 0


def test_cli_budget_guard(emulator_factory, tmp_path: Path):
    emu = emulator_factory(models=50, **FAST)
    prompts = prompt_set(tmp_path, "dear", distinct_items(10, endpoint_id="fal-ai/flux/dev"))
    result = run_cli(
        prompts.path, tmp_path / "fal.duckdb", emu, "--max-cost-usd", "0.01", timeout=60
    )
    assert result.returncode == 2
    assert "exceeds the budget of 0.0100 USD by" in result.stderr
    assert emu.stats()["requests"]["submit"] == 0
