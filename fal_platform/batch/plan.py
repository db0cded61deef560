"""What a run does with each item, decided from the items and their stored rows alone (pure).

The engine applies it to one chunk of the set at a time, with just that chunk's stored rows
(`run_planner.py`); rows of items no longer in the file are then found by `run_planner.py` too.

Rerunning a prompt set must never pay twice for one item, so every stored row is sorted into
exactly one bucket before anything is sent:

- COMPLETED: reused (its result is on disk), unless `force`;
- SUBMITTED / IN_QUEUE / IN_PROGRESS: re-attached through its stored URLs (fal holds the job);
- UNKNOWN: reconciled against fal's request history before anything is resubmitted;
- CANCELLED, PENDING, and FAILED with a retryable failure and attempts left (or `force`):
  submitted (again);
- FAILED otherwise (a 422, or attempts used up): left as it is, and reported;
- rows of items no longer in the file: deleted, unless fal may still be running (or may have
  accepted) them, which are left to settle.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from fal_platform.batch.failures import Failure
from fal_platform.batch.prompts import PromptItem
from fal_platform.batch.rows import RequestRow, RequestState
from fal_platform.batch.transitions import may_retry, not_accepted, resubmission, without_result

S = RequestState


@dataclass
class Plan:
    to_submit: list[tuple[PromptItem, RequestRow | None]] = field(default_factory=list)
    """Items to submit, with their stored row (PENDING again) or None for a never-seen item."""
    reattach: list[RequestRow] = field(default_factory=list)
    unknown: list[RequestRow] = field(default_factory=list)
    """UNKNOWN rows to reconcile before any of them is resubmitted."""
    reused: list[RequestRow] = field(default_factory=list)
    """COMPLETED rows kept as they are (without their result, which stays on disk)."""
    settled_failures: list[tuple[RequestRow, Failure]] = field(default_factory=list)
    """FAILED rows that are not retried (not retryable, or attempts used up)."""
    new_items: list[PromptItem] = field(default_factory=list)
    moved: list[RequestRow] = field(default_factory=list)
    """Recorded rows whose item moved in an edited file (new line / index), to rewrite."""
    removed: list[str] = field(default_factory=list)
    """Item keys of settled rows whose item is no longer in the file, to delete."""
    left_running: int = 0
    """Rows of items no longer in the file that fal may still be running: left in place."""
    stored_states: dict[str, RequestState] = field(default_factory=dict)
    """Each item's state as on disk when the run starts (PENDING for never-seen items)."""


def plan_run(
    items: Sequence[PromptItem],
    stored_rows: Iterable[RequestRow],
    *,
    force: bool,
    max_attempts: int,
) -> Plan:
    plan = Plan()
    stored = {row.item_key: row for row in stored_rows}
    for item in items:
        row = stored.pop(item.item_key, None)
        if row is None:
            plan.new_items.append(item)
            plan.to_submit.append((item, None))
            plan.stored_states[item.item_key] = S.PENDING
            continue
        if row.line != item.line or row.item_index != item.index:
            row = replace(row, line=item.line, item_index=item.index)
            plan.moved.append(row)
        plan.stored_states[item.item_key] = row.state
        _sort_stored(plan, item, row, force=force, max_attempts=max_attempts)
    for key, row in stored.items():
        if may_be_running(row):
            plan.left_running += 1
        else:
            plan.removed.append(key)
    return plan


def may_be_running(row: RequestRow) -> bool:
    """fal may hold (or may have accepted) this request: never forget it."""
    return state_may_be_running(row.state)


def state_may_be_running(state: RequestState) -> bool:
    return state.is_in_flight or state is S.UNKNOWN


def _sort_stored(
    plan: Plan, item: PromptItem, row: RequestRow, *, force: bool, max_attempts: int
) -> None:
    state = row.state
    if state is S.COMPLETED and not force:
        plan.reused.append(without_result(row))
    elif state.is_in_flight:
        plan.reattach.append(without_result(row))
    elif state is S.UNKNOWN:
        plan.unknown.append(row)
    elif state is S.FAILED and not _retry_failed(row, force=force, max_attempts=max_attempts):
        plan.settled_failures.append((row, Failure.from_row(row.error_type, row.error_detail)))
    else:  # PENDING, CANCELLED, retryable FAILED, forced COMPLETED: submit (again)
        plan.to_submit.append((item, resubmission(row, force=force)))


def _retry_failed(row: RequestRow, *, force: bool, max_attempts: int) -> bool:
    failure = Failure.from_row(row.error_type, row.error_detail)
    if force:
        return failure.retryable
    return may_retry(row, failure, max_attempts)


def after_reconcile(
    rows: Iterable[RequestRow], items: Sequence[PromptItem]
) -> tuple[list[RequestRow], list[tuple[PromptItem, RequestRow]]]:
    """Reconciled UNKNOWN rows: found ones are re-attached, the others submitted again.

    A row request history did not show was never accepted: it goes back to PENDING without
    counting the lost submit as an attempt (see `transitions.not_accepted`).
    """
    by_key = {item.item_key: item for item in items}
    found: list[RequestRow] = []
    resubmit: list[tuple[PromptItem, RequestRow]] = []
    for row in rows:
        if row.state is S.SUBMITTED:
            found.append(row)
        else:
            resubmit.append((by_key[row.item_key], not_accepted(row)))
    return found, resubmit
