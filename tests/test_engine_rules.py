"""The never-pay-twice rules, on the pure plan and transitions (no server, no database).

The end-to-end versions (kill mid-batch, faults, reruns) are in test_engine_batch.py,
test_engine_faults.py and test_engine_cli.py; these pin each rule on its own.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from fal_platform.batch import transitions as t
from fal_platform.batch.failures import Failure, failure_from_error
from fal_platform.batch.ledger import Ledger
from fal_platform.batch.plan import after_reconcile, plan_run
from fal_platform.batch.prompts import PromptItem
from fal_platform.batch.report import BatchReport
from fal_platform.batch.rows import RequestRow, RequestState
from fal_platform.client import (
    Completed,
    FalServerError,
    FalValidationError,
    InProgress,
    Queued,
    RequestHandle,
)

S = RequestState
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
ENDPOINT = "fal-ai/flux/schnell"


def item(n: int, *, line: int | None = None) -> PromptItem:
    return PromptItem(
        endpoint_id=ENDPOINT,
        input={"prompt": f"item {n}"},
        replica=0,
        line=line if line is not None else n + 1,
        item_key=f"key-{n}",
        index=n,
    )


def row(n: int, state: RequestState, **changes: object) -> RequestRow:
    base = RequestRow.pending("set", item(n))
    values: dict[str, object] = {"state": state}
    if state is not S.PENDING:
        values.update(attempts=1, submitted_at=NOW)
    if state.is_in_flight or state in (S.COMPLETED, S.CANCELLED):
        values.update(request_id=f"req-{n}")
    values.update(changes)
    return replace(base, **values)  # type: ignore[arg-type]


def failure(*, retryable: bool) -> Failure:
    return Failure(error_type="server_error", message="boom", retryable=retryable)


def failed_row(n: int, *, retryable: bool, attempts: int) -> RequestRow:
    f = failure(retryable=retryable)
    return row(
        n, S.FAILED, attempts=attempts, error_type=f.error_type, error_detail=f.detail_json()
    )


def plan(stored: list[RequestRow], n_items: int, *, force: bool = False, max_attempts: int = 3):
    return plan_run(
        [item(i) for i in range(n_items)], stored, force=force, max_attempts=max_attempts
    )


def submitted_keys(p) -> list[str]:
    return [i.item_key for i, _ in p.to_submit]


# --- the plan ---------------------------------------------------------------------------------


def test_completed_rows_are_reused_unless_forced():
    stored = [row(0, S.COMPLETED, result={"images": []}, billable_units=1.0)]
    p = plan(stored, 1)
    assert submitted_keys(p) == [] and [r.item_key for r in p.reused] == ["key-0"]
    assert p.reused[0].result is None  # the output stays on disk

    forced = plan(stored, 1, force=True)
    assert submitted_keys(forced) == ["key-0"] and forced.reused == []
    ((_, again),) = forced.to_submit
    assert again is not None and again.state is S.PENDING and again.attempts == 0


@pytest.mark.parametrize("state", [S.SUBMITTED, S.IN_QUEUE, S.IN_PROGRESS])
def test_in_flight_rows_are_reattached_never_resubmitted(state: RequestState):
    p = plan([row(0, state)], 1, force=True)
    assert [r.item_key for r in p.reattach] == ["key-0"]
    assert submitted_keys(p) == [] and p.unknown == []


def test_unknown_rows_are_reconciled_before_any_resubmit():
    p = plan([row(0, S.UNKNOWN)], 1, force=True)
    assert [r.item_key for r in p.unknown] == ["key-0"]
    assert submitted_keys(p) == [] and p.reattach == []


def test_cancelled_rows_are_resubmitted():
    p = plan([row(0, S.CANCELLED)], 1)
    assert submitted_keys(p) == ["key-0"]
    ((_, again),) = p.to_submit
    assert again is not None and again.state is S.PENDING and again.attempts == 1
    # Until its submit starts, the item is still CANCELLED on disk.
    assert p.stored_states == {"key-0": S.CANCELLED}


def test_failed_rows_are_retried_only_while_retryable_and_attempts_remain():
    stored = [
        failed_row(0, retryable=True, attempts=2),
        failed_row(1, retryable=True, attempts=3),
        failed_row(2, retryable=False, attempts=1),
    ]
    p = plan(stored, 3, max_attempts=3)
    assert submitted_keys(p) == ["key-0"]
    assert [r.item_key for r, _ in p.settled_failures] == ["key-1", "key-2"]

    # force lifts the attempts bound, never the "not retryable" verdict (a 422 stays failed).
    forced = plan(stored, 3, max_attempts=3, force=True)
    assert submitted_keys(forced) == ["key-0", "key-1"]
    assert [r.item_key for r, _ in forced.settled_failures] == ["key-2"]


def test_new_items_are_written_pending_and_submitted():
    p = plan([], 2)
    assert [i.item_key for i in p.new_items] == ["key-0", "key-1"]
    assert p.to_submit == [(item(0), None), (item(1), None)]
    assert p.stored_states == {"key-0": S.PENDING, "key-1": S.PENDING}


def test_rows_of_removed_items_are_deleted_unless_fal_may_still_run_them():
    stored = [
        row(5, S.COMPLETED),
        row(6, S.FAILED),
        row(7, S.IN_PROGRESS),
        row(8, S.UNKNOWN),
        row(9, S.PENDING),
    ]
    p = plan(stored, 1)
    assert sorted(p.removed) == ["key-5", "key-6", "key-9"]
    assert p.left_running == 2


def test_moved_items_rewrite_their_row_and_keep_its_state():
    stored = [row(0, S.COMPLETED)]
    p = plan_run([item(0, line=42)], stored, force=False, max_attempts=3)
    assert [(r.line, r.state) for r in p.moved] == [(42, S.COMPLETED)]
    assert [r.line for r in p.reused] == [42]


def test_reconciled_rows_found_are_followed_and_the_rest_resubmitted_without_an_attempt():
    found = row(0, S.SUBMITTED)
    missing = row(1, S.PENDING, attempts=2, submitted_at=NOW)
    reattach, resubmit = after_reconcile([found, missing], [item(0), item(1)])
    assert reattach == [found]
    ((resubmit_item, again),) = resubmit
    assert resubmit_item == item(1)
    assert again.state is S.PENDING and again.attempts == 1 and again.submitted_at is None


# --- transitions ------------------------------------------------------------------------------


def test_intent_counts_an_attempt_and_forgets_the_previous_request():
    previous = row(0, S.FAILED, attempts=1, request_id="old", billable_units=1.0)
    intent = t.intent(previous, NOW)
    assert intent.state is S.UNKNOWN and intent.attempts == 2
    assert intent.request_id is None and intent.billable_units is None
    assert intent.submitted_at == NOW


def test_a_submit_that_never_reached_fal_is_not_an_attempt():
    intent = t.intent(row(0, S.PENDING), NOW)
    pending = t.not_accepted(intent, failure(retryable=True))
    assert pending.state is S.PENDING and pending.attempts == 0 and pending.submitted_at is None
    assert pending.error_type == "server_error"


def test_accepted_records_fals_ids_and_urls():
    handle = RequestHandle.from_ids("http://queue", ENDPOINT, "req-9")
    accepted = t.accepted(t.intent(row(0, S.PENDING), NOW), handle, NOW)
    assert accepted.state is S.SUBMITTED and accepted.request_id == "req-9"
    assert accepted.status_url == handle.status_url and accepted.attempts == 1


def test_a_422_is_never_retried():
    rejected = failure_from_error(FalValidationError("bad input", status_code=422))
    assert not rejected.retryable
    assert not t.may_retry(row(0, S.IN_PROGRESS, attempts=1), rejected, max_attempts=10)


def test_retries_are_bounded_by_max_attempts():
    server = failure_from_error(FalServerError("boom", status_code=500))
    assert server.retryable
    assert t.may_retry(row(0, S.IN_PROGRESS, attempts=2), server, max_attempts=3)
    assert not t.may_retry(row(0, S.IN_PROGRESS, attempts=3), server, max_attempts=3)
    again = t.retry(row(0, S.IN_PROGRESS, attempts=2), server)
    assert again.state is S.PENDING and again.attempts == 2  # the next intent adds one


def test_only_jobs_that_have_not_started_are_cancelled():
    assert t.may_cancel(row(0, S.SUBMITTED)) and t.may_cancel(row(0, S.IN_QUEUE))
    assert not t.may_cancel(row(0, S.IN_PROGRESS))
    assert t.cancelled(row(0, S.IN_QUEUE), NOW).state is S.CANCELLED


def test_status_reports_move_the_row_forward_only():
    submitted = row(0, S.SUBMITTED)
    queued = t.after_status(submitted, Queued(position=4), NOW)
    assert queued.state is S.IN_QUEUE and queued.queue_position_first == 4
    assert t.after_status(queued, Queued(position=2), NOW) is queued
    running = t.after_status(queued, InProgress(), NOW)
    assert running.state is S.IN_PROGRESS and running.started_at == NOW
    assert t.after_status(running, Queued(position=1), NOW) is running
    assert t.after_status(running, InProgress(), NOW) is running


def test_completed_derives_the_start_from_fals_inference_time():
    done = t.completed(
        row(0, S.IN_QUEUE),
        Completed(inference_time=2.0),
        completed_at=NOW,
        billable_units=1.0,
        output={"images": []},
    )
    assert done.state is S.COMPLETED and done.started_at == NOW - timedelta(seconds=2)
    assert done.billable_units == 1.0 and done.error_type is None


# --- counts are derived from item states ------------------------------------------------------


def test_counts_follow_recorded_states_and_waiting_items_show_as_pending():
    ledger = Ledger(BatchReport("set", 3), {}, failure_sample=5)
    # Planning counts every item (key-0 queued for a resubmit); the run takes the one it acts on.
    ledger.count(S.CANCELLED, waiting=True)
    ledger.count(S.COMPLETED)
    ledger.count(S.PENDING)
    ledger.take("key-2", S.PENDING, waiting=False)
    snapshot = ledger.snapshot()
    assert (snapshot.pending, snapshot.cancelled, snapshot.done) == (2, 0, 1)

    ledger.record(t.intent(row(2, S.PENDING), NOW))
    assert ledger.snapshot().in_flight == 1
    # Stopped before key-0 was resubmitted: the report shows it as it is on disk.
    report = ledger.finish(3, interrupted=True)
    assert report.counts == {S.COMPLETED: 1, S.CANCELLED: 1, S.UNKNOWN: 1}


def test_only_the_write_ahead_rows_must_be_durable_before_a_wait():
    assert t.durability(S.UNKNOWN) is t.Durability.BEFORE_WAIT
    assert t.durability(S.SUBMITTED) is t.Durability.BEFORE_WAIT


@pytest.mark.parametrize("state", [RequestState.IN_QUEUE, RequestState.IN_PROGRESS])
def test_queue_progress_is_coalesced(state: RequestState):
    # The row on disk is SUBMITTED with fal's id: a crash re-attaches it just the same.
    assert t.durability(state) is t.Durability.COALESCED


@pytest.mark.parametrize(
    "state",
    [RequestState.PENDING, RequestState.COMPLETED, RequestState.FAILED, RequestState.CANCELLED],
)
def test_pending_and_terminal_rows_are_written_soon(state: RequestState):
    assert t.durability(state) is t.Durability.SOON
