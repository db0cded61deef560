"""What a batch run did: the engine's return value, shown by the CLI and the asset metadata."""

from __future__ import annotations

from dataclasses import dataclass, field

from fal_platform.batch.cost import CostEstimate
from fal_platform.batch.rows import RequestState


@dataclass(frozen=True)
class FailedItem:
    item_key: str
    line: int
    endpoint_id: str
    error_type: str
    message: str
    attempts: int


@dataclass
class BatchReport:
    prompt_set: str
    total_items: int
    counts: dict[RequestState, int] = field(default_factory=dict)
    """Items per state at the end of the run (every item of the prompt set, once)."""
    table_rows: int = 0
    """Rows of this prompt set in `generation.requests` (items removed from the file are
    deleted, unless fal may still be running them)."""
    submitted: int = 0
    """Submits fal accepted in this run (including ones found again by reconciliation)."""
    submit_attempts: int = 0
    """Submits sent in this run, accepted or not."""
    reused: int = 0
    """COMPLETED rows from earlier runs, not sent again."""
    reattached: int = 0
    """In-flight rows from an earlier run that this run followed to the end."""
    removed: int = 0
    """Settled rows deleted because their item is no longer in the edited prompt file."""
    reconciled_found: int = 0
    """UNKNOWN submits that request history showed were accepted (not resubmitted)."""
    reconciled_not_found: int = 0
    """UNKNOWN submits that history showed were never accepted (safe to resubmit)."""
    retries: int = 0
    """Resubmits after a failed attempt (job failure, timeout, lost request)."""
    cancelled: int = 0
    """Queued requests cancelled because the run was stopped."""
    latency_p50: float | None = None
    latency_p95: float | None = None
    estimated: CostEstimate = field(default_factory=CostEstimate)
    """Estimated cost of what this run set out to submit."""
    billed_usd: float = 0.0
    """Billed cost (billable units x unit price) of every COMPLETED item of the prompt set."""
    billed_this_run_usd: float = 0.0
    """Billed cost of the items this run completed (0 when it only reused earlier results)."""
    failures: list[FailedItem] = field(default_factory=list)
    """The first failed items (up to the engine's sample size), in item order."""
    failures_by_type: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False
    """The run was stopped before every item was finished; rerun to continue."""
    wall_seconds: float = 0.0

    def count(self, state: RequestState) -> int:
        return self.counts.get(state, 0)

    @property
    def non_terminal(self) -> int:
        return sum(n for state, n in self.counts.items() if not state.is_terminal)

    def billing(self) -> str:
        """This run's cost apart from the total of the stored rows: a rerun that only reused
        results must not read as if it had paid for them again."""
        stored = (
            f"{self.billed_usd:.4f} USD for all {self.count(RequestState.COMPLETED)} "
            "completed items"
        )
        if self.submitted == 0 and self.billed_this_run_usd == 0:
            done = f"reused all {self.reused}" if self.reused == self.total_items else "no submits"
            return f"{done}, billed nothing this run ({stored})"
        return (
            f"estimated {self.estimated.total_usd:.4f} USD, billed "
            f"{self.billed_this_run_usd:.4f} USD this run ({stored})"
        )

    def summary(self) -> str:
        states = ", ".join(f"{state.value.lower()} {n}" for state, n in self.counts.items() if n)
        latency = (
            f"p50 {self.latency_p50:.2f}s / p95 {self.latency_p95:.2f}s"
            if self.latency_p50 is not None and self.latency_p95 is not None
            else "no latency data"
        )
        text = (
            f"prompt set {self.prompt_set}: {self.total_items} items ({states}); "
            f"{self.submitted} submitted, {self.reused} reused, {self.reattached} re-attached, "
            f"{self.reconciled_found} reconciled, {self.retries} retries; {latency}; "
            f"{self.billing()}; {self.wall_seconds:.1f}s"
        )
        if self.failures_by_type:
            kinds = ", ".join(f"{k} x{n}" for k, n in sorted(self.failures_by_type.items()))
            text += f"; failures: {kinds}"
        if self.interrupted:
            text += "; INTERRUPTED (rerun to continue)"
        return text
