"""The state machine of one item, as pure functions from a row (and what happened) to its next row.

    PENDING --intent--> UNKNOWN --accepted--> SUBMITTED --> IN_QUEUE --> IN_PROGRESS --> COMPLETED
       ^                  |                       |                                  \\-> FAILED
       |                  |                       \\-- stopped while queued --> CANCELLED
       |                  \\-- answer lost --> reconcile --> SUBMITTED (found) | PENDING (not found)
       \\------------ retry (retryable failure, attempts left) ----------------------/

The never-pay-twice rules that are about one row live here, so they can be tested without a
server (tests/test_engine_rules.py); the engine only decides *when* to apply them.

- `attempts` counts submits fal accepted (or may have): `intent` adds one, `not_accepted`
  takes it back when the submit certainly never reached fal.
- `may_retry`: a failure is resubmitted only while it is retryable and attempts remain; a 422
  (`FalValidationError`) is recorded as not retryable, so it is never sent again.
"""

from __future__ import annotations

import enum
from dataclasses import replace
from datetime import datetime, timedelta

from fal_platform.batch.failures import Failure
from fal_platform.batch.rows import RequestRow, RequestState, submitted_row
from fal_platform.client import Completed, InProgress, Queued, QueueStatus, RequestHandle

S = RequestState


class Durability(enum.Enum):
    """How soon a new row must reach the store (the writer's group commit, `writer.py`)."""

    BEFORE_WAIT = "before_wait"
    """Committed before the item goes on: the write-ahead intent and fal's request id."""

    SOON = "soon"
    """Written with the next batch (within the writer's lazy delay), and before the report."""

    COALESCED = "coalesced"
    """Kept in memory: written along with the next batch, at the latest after the writer's
    coalescing interval or at the end. Losing it to a crash costs nothing: the row on disk is
    SUBMITTED with fal's request id, which the next run re-attaches exactly like this one."""


def durability(state: RequestState) -> Durability:
    """Must a row in `state` be durable now? Only what a crash could otherwise pay twice for.

    UNKNOWN (before a submit) and SUBMITTED (fal's id, after it) are write-ahead; IN_QUEUE and
    IN_PROGRESS add only progress to an already re-attachable row; everything else (PENDING,
    terminal) is written soon so the table and report agree.
    """
    if state in (S.UNKNOWN, S.SUBMITTED):
        return Durability.BEFORE_WAIT
    if state in (S.IN_QUEUE, S.IN_PROGRESS):
        return Durability.COALESCED
    return Durability.SOON


def intent(row: RequestRow, now: datetime) -> RequestRow:
    """Written (durably) before a submit leaves: UNKNOWN, one more attempt, nothing of fal's."""
    return replace(
        row,
        state=S.UNKNOWN,
        attempts=row.attempts + 1,
        request_id=None,
        status_url=None,
        response_url=None,
        cancel_url=None,
        submitted_at=now,
        started_at=None,
        completed_at=None,
        queue_position_first=None,
        inference_seconds=None,
        billable_units=None,
        result=None,
    )


def accepted(intent_row: RequestRow, handle: RequestHandle, now: datetime) -> RequestRow:
    """fal answered the submit: SUBMITTED with its request id and URLs."""
    return submitted_row(
        intent_row, handle, submitted_at=now, queue_position_first=handle.queue_position
    )


def not_accepted(row: RequestRow, failure: Failure | None = None) -> RequestRow:
    """The submit certainly did not reach fal: not an attempt, back to PENDING."""
    pending = replace(row, state=S.PENDING, attempts=max(row.attempts - 1, 0), submitted_at=None)
    if failure is None:
        return pending
    return replace(pending, error_type=failure.error_type, error_detail=failure.detail_json())


def after_status(row: RequestRow, status: QueueStatus, now: datetime) -> RequestRow:
    """The row after a status report (the same row when nothing is to be recorded)."""
    if isinstance(status, Queued) and row.state in (S.SUBMITTED, S.UNKNOWN):
        first = row.queue_position_first
        return replace(
            row,
            state=S.IN_QUEUE,
            queue_position_first=first if first is not None else status.position,
        )
    if isinstance(status, InProgress) and row.state is not S.IN_PROGRESS:
        return replace(row, state=S.IN_PROGRESS, started_at=now)
    return row


def completed(
    row: RequestRow,
    status: Completed,
    *,
    completed_at: datetime,
    billable_units: float | None,
    output: object,
) -> RequestRow:
    """The job finished and its result was fetched."""
    started_at = row.started_at
    if started_at is None and status.inference_time is not None:
        started_at = completed_at - timedelta(seconds=status.inference_time)
    return replace(
        row,
        state=S.COMPLETED,
        started_at=started_at,
        completed_at=completed_at,
        inference_seconds=status.inference_time,
        billable_units=billable_units,
        error_type=None,
        error_detail=None,
        result=output,
    )


def may_retry(row: RequestRow, failure: Failure, max_attempts: int) -> bool:
    """Resubmit only a retryable failure, and only while accepted submits stay under the bound."""
    return failure.retryable and row.attempts < max_attempts


def retry(row: RequestRow, failure: Failure) -> RequestRow:
    """Back to PENDING for another submit; the failure stays recorded until it succeeds."""
    return replace(
        row, state=S.PENDING, error_type=failure.error_type, error_detail=failure.detail_json()
    )


def failed(row: RequestRow, failure: Failure, now: datetime) -> RequestRow:
    return replace(
        row,
        state=S.FAILED,
        completed_at=row.completed_at or now,
        error_type=failure.error_type,
        error_detail=failure.detail_json(),
        result=None,
    )


def may_cancel(row: RequestRow) -> bool:
    """Only a job that has not started costs nothing to cancel (a running one is left)."""
    return row.state in (S.SUBMITTED, S.IN_QUEUE)


def cancelled(row: RequestRow, now: datetime) -> RequestRow:
    return replace(row, state=S.CANCELLED, completed_at=now)


def resubmission(row: RequestRow, *, force: bool) -> RequestRow:
    """A stored row queued to be submitted again (its state on disk changes at the intent)."""
    pending = replace(row, state=S.PENDING, result=None)
    if force and row.state in (S.COMPLETED, S.FAILED):
        return replace(pending, attempts=0)
    return pending


def without_result(row: RequestRow) -> RequestRow:
    """The row as the engine keeps it in memory: the output stays on disk."""
    return replace(row, result=None)
