"""A run's bookkeeping: how many items are in each state (derived from the recorded states)
and the report.

Counts are kept per state, not per item, so a run of a million items does not hold a million
entries: planning counts every item once (`count`), and only the items the run acts on are
held by key (`take` when dispatched, `release` when done), at most those in flight. Every row
the engine records goes through `Ledger.record`, which moves its item from the state it was
counted in to the new one, so "how many items are in state X" is always a count over the items'
states, never a counter kept in step by hand.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping

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
        self._counts: Counter[RequestState] = Counter()
        """Items per state as last recorded (what is, or is about to be, on disk)."""
        self._waiting: Counter[RequestState] = Counter()
        """Of those, items queued for a (re)submit that has not started, by their counted state:
        shown as pending meanwhile."""
        self._held: dict[str, tuple[RequestState, bool]] = {}
        """Items the run acts on: the state each is counted in, and whether it is waiting."""
        self._latency = LatencyTracker()
        self._started = time.monotonic()

    def count(self, state: RequestState, *, waiting: bool = False, items: int = 1) -> None:
        """Planning: `items` items are in `state` (waiting: queued for a submit)."""
        self._counts[state] += items
        if waiting:
            self._waiting[state] += items

    def take(self, item_key: str, state: RequestState, *, waiting: bool) -> None:
        """The run is about to act on an item counted in `state`: its records move it."""
        self._held[item_key] = (state, waiting)

    def release(self, item_key: str) -> None:
        """The run is done with an item (its count stays where its last record put it)."""
        self._held.pop(item_key, None)

    def record(self, row: RequestRow) -> None:
        held = self._held.get(row.item_key)
        if held is not None:  # an item not taken is not counted yet: counted here
            state, waiting = held
            self._counts[state] -= 1
            if waiting:
                self._waiting[state] -= 1
        self._counts[row.state] += 1
        self._held[row.item_key] = (row.state, False)

    def counts(self) -> dict[RequestState, int]:
        """Items per recorded state (every item of the prompt set, once)."""
        return {state: self._counts[state] for state in S if self._counts[state]}

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
        counts = self._counts - self._waiting
        counts[S.PENDING] += self._waiting.total()
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
