"""A run's bookkeeping: each item's recorded state (counts are derived from it) and the report.

Every row the engine records goes through `Ledger.record`, so "how many items are in state X"
is always a count over the items' states, never a counter kept in step by hand.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping

from fal_platform.batch.cost import billed_cost
from fal_platform.batch.failures import Failure
from fal_platform.batch.progress import LatencyTracker, ProgressSnapshot
from fal_platform.batch.report import BatchReport, FailedItem
from fal_platform.batch.rows import RequestRow, RequestState
from fal_platform.client import Price

S = RequestState
_IN_FLIGHT = (S.UNKNOWN, S.SUBMITTED, S.IN_QUEUE, S.IN_PROGRESS)


class Ledger:
    def __init__(
        self,
        report: BatchReport,
        prices: Mapping[str, Price],
        *,
        failure_sample: int,
    ) -> None:
        self.report = report
        self._prices = prices
        self._failure_sample = failure_sample
        self._states: dict[str, RequestState] = {}
        """Each item's state as last recorded (what is, or is about to be, on disk)."""
        self._waiting: set[str] = set()
        """Items queued for a (re)submit that has not started: shown as pending meanwhile."""
        self._latency = LatencyTracker()
        self._started = time.monotonic()

    def start(self, states: Mapping[str, RequestState], waiting: Iterable[str]) -> None:
        self._states = dict(states)
        self._waiting = set(waiting)

    def record(self, row: RequestRow) -> None:
        self._states[row.item_key] = row.state
        self._waiting.discard(row.item_key)

    def wait_for_submit(self, item_key: str) -> None:
        self._waiting.add(item_key)

    def counts(self) -> dict[RequestState, int]:
        """Items per recorded state (every item of the prompt set, once)."""
        counts = Counter(self._states.values())
        return {state: counts[state] for state in S if counts[state]}

    def completed(self, row: RequestRow, *, this_run: bool) -> None:
        if row.submitted_at is not None and row.completed_at is not None:
            self._latency.add((row.completed_at - row.submitted_at).total_seconds())
        cost = billed_cost(row.billable_units, self._prices.get(row.endpoint_id))
        self.report.billed_usd += cost
        if this_run:
            self.report.billed_this_run_usd += cost

    def failed(self, row: RequestRow, failure: Failure) -> None:
        report = self.report
        report.failures_by_type[failure.error_type] = (
            report.failures_by_type.get(failure.error_type, 0) + 1
        )
        if len(report.failures) < self._failure_sample:
            report.failures.append(
                FailedItem(
                    item_key=row.item_key,
                    line=row.line,
                    endpoint_id=row.endpoint_id,
                    error_type=failure.error_type,
                    message=failure.message,
                    attempts=row.attempts,
                )
            )

    def finish(self, table_rows: int, *, interrupted: bool) -> BatchReport:
        self._waiting.clear()  # never resubmitted (stopped): shown as recorded
        report = self.report
        report.counts = self.counts()
        report.table_rows = table_rows
        report.interrupted = interrupted
        report.latency_p50 = self._latency.quantile(0.5)
        report.latency_p95 = self._latency.quantile(0.95)
        report.failures.sort(key=lambda f: f.line)
        report.wall_seconds = time.monotonic() - self._started
        return report

    def snapshot(self, *, final: bool = False) -> ProgressSnapshot:
        counts = Counter(
            S.PENDING if key in self._waiting else state for key, state in self._states.items()
        )
        return ProgressSnapshot(
            prompt_set=self.report.prompt_set,
            total=self.report.total_items,
            done=counts[S.COMPLETED],
            failed=counts[S.FAILED],
            cancelled=counts[S.CANCELLED],
            in_flight=sum(counts[s] for s in _IN_FLIGHT),
            pending=counts[S.PENDING],
            p50_latency=self._latency.quantile(0.5),
            elapsed=time.monotonic() - self._started,
            final=final,
        )
