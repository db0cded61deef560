"""The batch engine against the emulator over HTTP: completion, reuse, failures, budget, stop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from generation_support import (
    FAST,
    accepted_by_item,
    distinct_items,
    fast_options,
    prompt_set,
    requests_sent,
    run_engine,
)

from fal_platform.batch.cost import BudgetExceededError
from fal_platform.batch.engine import BatchAbortedError
from fal_platform.batch.rows import RequestState
from fal_platform.batch.store import BatchStore
from fal_platform.emulator.config import JOB_FAILURE_TYPES

S = RequestState


@pytest.fixture
def store(tmp_path: Path) -> BatchStore:
    return BatchStore.at_path(tmp_path / "data" / "fal.duckdb")


def test_200_items_complete_and_a_rerun_submits_nothing(emulator_factory, tmp_path, store):
    emu = emulator_factory(models=50, **FAST)
    prompts = prompt_set(tmp_path, "two-hundred", distinct_items(200))
    progress = []

    report = run_engine(emu, store, prompts, on_progress=progress.append)

    assert report.counts == {S.COMPLETED: 200}
    assert report.submitted == 200 and report.reused == 0
    assert accepted_by_item(emu, prompts) == [1] * 200
    assert report.latency_p50 is not None and report.latency_p95 is not None
    assert report.estimated.total_usd == pytest.approx(report.billed_usd)
    assert report.billed_usd > 0
    assert progress and progress[-1].final and progress[-1].done == 200
    stats = emu.stats()
    # Status comes over SSE: one submit, one stream and one result fetch per item.
    assert stats["requests"]["submit"] == 200
    assert stats["requests"]["result"] == 200
    print(
        f"\n200-item set: {report.wall_seconds:.2f}s wall, "
        f"{requests_sent(stats) / 200:.2f} requests per completed item"
    )

    rows = {row.item_key: row for row in store.load_requests("two-hundred")}
    row = rows[prompts.items[0].item_key]
    assert row.request_id and row.status_url and row.response_url and row.cancel_url
    assert row.submitted_at <= row.started_at <= row.completed_at
    assert row.inference_seconds is not None and row.billable_units == 1.0
    assert row.queue_position_first is not None
    assert row.attempts == 1 and "images" in row.result

    submits_before = emu.stats()["accepted_submits"]
    rerun = run_engine(emu, store, prompts)
    assert emu.stats()["accepted_submits"] == submits_before
    assert rerun.submitted == 0 and rerun.reused == 200
    assert rerun.counts == {S.COMPLETED: 200}
    # This run billed nothing; the stored rows still add up to what the first run billed.
    assert rerun.billed_this_run_usd == 0
    assert rerun.billed_usd == pytest.approx(report.billed_usd)
    assert "reused all 200, billed nothing this run" in rerun.summary()
    assert f"billed {report.billed_this_run_usd:.4f} USD this run" in report.summary()


def test_force_resubmits_completed_items(emulator_factory, tmp_path, store):
    emu = emulator_factory(models=50, **FAST)
    prompts = prompt_set(tmp_path, "forced", distinct_items(5))
    run_engine(emu, store, prompts)
    report = run_engine(emu, store, prompts, fast_options(force=True))
    assert report.submitted == 5
    assert accepted_by_item(emu, prompts) == [2] * 5
    assert all(row.attempts == 1 for row in store.load_requests("forced"))


def test_validation_errors_fail_with_field_errors_and_are_not_retried(
    emulator_factory, tmp_path, store
):
    emu = emulator_factory(models=50, **FAST)
    good = distinct_items(3)
    bad = distinct_items(2, tag="bad", num_images=9)  # the schema allows 1-4
    prompts = prompt_set(tmp_path, "invalid-inputs", good + bad)

    report = run_engine(emu, store, prompts, fast_options(max_attempts=3))

    assert report.counts == {S.COMPLETED: 3, S.FAILED: 2}
    assert report.retries == 0
    assert accepted_by_item(emu, prompts) == [1] * 5
    failed = [row for row in store.load_requests("invalid-inputs") if row.state is S.FAILED]
    for row in failed:
        assert row.error_type == "validation_error"
        detail = json.loads(row.error_detail)
        assert detail["retryable"] is False
        assert any("num_images" in [str(p) for p in fe["loc"]] for fe in detail["field_errors"])
    assert report.failures_by_type == {"validation_error": 2}
    assert {f.line for f in report.failures} == {4, 5}

    rerun = run_engine(emu, store, prompts, fast_options(max_attempts=3))
    assert rerun.submitted == 0
    assert accepted_by_item(emu, prompts) == [1] * 5


def test_job_failures_are_resubmitted_up_to_max_attempts(emulator_factory, tmp_path, store):
    emu = emulator_factory(models=50, job_failure_rate=1.0, **FAST)
    prompts = prompt_set(tmp_path, "flaky-jobs", distinct_items(4))

    report = run_engine(emu, store, prompts, fast_options(max_attempts=3))

    assert report.counts == {S.FAILED: 4}
    assert report.retries == 4 * 2
    assert accepted_by_item(emu, prompts) == [3] * 4
    rows = store.load_requests("flaky-jobs")
    assert {row.attempts for row in rows} == {3}
    assert {row.error_type for row in rows} <= set(JOB_FAILURE_TYPES)
    assert all(json.loads(row.error_detail)["retryable"] for row in rows)

    # Attempts are used up: the same settings submit nothing more.
    again = run_engine(emu, store, prompts, fast_options(max_attempts=3))
    assert again.submitted == 0
    # A higher max_attempts retries them; the jobs now succeed.
    emu.configure(job_failure_rate=0.0)
    final = run_engine(emu, store, prompts, fast_options(max_attempts=4))
    assert final.counts == {S.COMPLETED: 4}
    assert accepted_by_item(emu, prompts) == [4] * 4


def test_budget_guard_refuses_before_any_submit(emulator_factory, tmp_path, store):
    emu = emulator_factory(models=50, **FAST)
    prompts = prompt_set(tmp_path, "too-dear", distinct_items(40, endpoint_id="fal-ai/flux/dev"))

    with pytest.raises(BudgetExceededError) as caught:
        run_engine(emu, store, prompts, fast_options(max_cost_usd=0.5))

    message = str(caught.value)
    assert "exceeds the budget of 0.5000 USD by" in message and "nothing was submitted" in message
    assert caught.value.estimate.total_usd > 0.5
    assert emu.stats()["requests"]["submit"] == 0
    assert store.load_requests("too-dear") == []


def test_stopping_cancels_queued_items_and_a_rerun_completes_them(
    emulator_factory, tmp_path, store
):
    # Long queue: after 30 submits most items sit IN_QUEUE when the stop comes.
    emu = emulator_factory(models=50, queue_wait=5.0, queue_wait_jitter=0.1, inference_time=0.1)
    prompts = prompt_set(tmp_path, "stopped", distinct_items(60))

    report = run_engine(
        emu,
        store,
        prompts,
        fast_options(max_concurrency=30),
        stop_when=lambda: emu.stats()["accepted_submits"] >= 30,
    )

    assert report.interrupted
    stats = emu.stats()
    assert report.cancelled > 0
    assert stats["cancels_accepted"] == report.cancelled
    counts = store.count_by_state("stopped")
    assert counts.get(S.CANCELLED) == report.cancelled
    assert counts.get(S.PENDING, 0) >= 30  # never submitted
    assert not counts.get(S.UNKNOWN)

    emu.configure(queue_wait=0.05)
    rerun = run_engine(emu, store, prompts)
    assert rerun.counts == {S.COMPLETED: 60}
    # Cancelled jobs never ran (nothing billed); each was submitted once more.
    accepted = accepted_by_item(emu, prompts)
    assert sum(accepted) == 60 + report.cancelled
    assert max(accepted) <= 2


def test_stopping_leaves_running_items_to_be_reattached(emulator_factory, tmp_path, store):
    # IN_PROGRESS rows are coalesced (written within `coalesce_interval`, 2 s), so the jobs must
    # run well past that for the stop to find them all still running on a loaded machine.
    emu = emulator_factory(models=50, queue_wait=0.0, inference_time=6.0, inference_time_jitter=0.1)
    prompts = prompt_set(tmp_path, "running", distinct_items(6))

    def all_running() -> bool:
        return emu.stats()["accepted_submits"] >= 6 and all(
            row.state is S.IN_PROGRESS for row in store.load_requests("running")
        )

    report = run_engine(emu, store, prompts, stop_when=all_running)

    assert report.interrupted and report.cancelled == 0
    assert emu.stats()["cancels_accepted"] == 0
    assert store.count_by_state("running") == {S.IN_PROGRESS: 6}

    rerun = run_engine(emu, store, prompts)
    assert rerun.reattached == 6 and rerun.submitted == 0
    assert rerun.counts == {S.COMPLETED: 6}
    assert accepted_by_item(emu, prompts) == [1] * 6


def test_a_run_gives_up_when_fal_keeps_refusing_submits(emulator_factory, tmp_path, store):
    emu = emulator_factory(models=50, fail_rate=1.0, fault_routes=["submit"], **FAST)
    prompts = prompt_set(tmp_path, "refused", distinct_items(60))

    with pytest.raises(BatchAbortedError, match="submits in a row failed"):
        run_engine(emu, store, prompts, fast_options(max_consecutive_submit_failures=10))

    assert emu.stats()["accepted_submits"] == 0
    counts = store.count_by_state("refused")
    assert sum(counts.values()) == 60
    # Gateway 5xx on a submit may have been accepted: each was checked in history, found
    # missing, and returned to PENDING; the ones cut short stay UNKNOWN for the next run.
    assert set(counts) <= {S.PENDING, S.UNKNOWN}

    emu.configure(fail_rate=0.0)
    rerun = run_engine(emu, store, prompts)
    assert rerun.counts == {S.COMPLETED: 60}
    assert accepted_by_item(emu, prompts) == [1] * 60


def test_an_edited_set_submits_only_its_new_items(emulator_factory, tmp_path, store):
    emu = emulator_factory(models=50, **FAST)
    items = distinct_items(6)
    run_engine(emu, store, prompt_set(tmp_path, "edited", items))

    # Reordered, one removed, one added: only the new one is sent; moved rows get new lines.
    edited = prompt_set(tmp_path, "edited", [*distinct_items(1, tag="new"), *items[::-1][:5]])
    report = run_engine(emu, store, edited)

    assert report.submitted == 1 and report.reused == 5
    assert emu.stats()["accepted_submits"] == 7
    rows = {row.item_key: row for row in store.load_requests("edited")}
    for item in edited.items:
        assert rows[item.item_key].line == item.line
        assert rows[item.item_key].state is S.COMPLETED
    # The removed item's settled row is deleted: the partition mirrors its file.
    assert len(rows) == 6 and report.table_rows == 6 and report.removed == 1
    assert set(rows) == {item.item_key for item in edited.items}
    assert report.counts == {S.COMPLETED: 6}
