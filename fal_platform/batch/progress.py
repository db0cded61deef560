"""Progress of a running batch: the numbers a person watching the run wants every few seconds."""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressSnapshot:
    prompt_set: str
    total: int
    done: int
    """COMPLETED, including items reused from earlier runs."""
    failed: int
    cancelled: int
    in_flight: int
    """Submitted (or being submitted) and not finished."""
    pending: int
    """Not submitted yet (including items waiting for a retry)."""
    p50_latency: float | None
    elapsed: float
    final: bool = False

    def describe(self) -> str:
        latency = f"{self.p50_latency:.2f}s" if self.p50_latency is not None else "-"
        parts = [
            f"{self.prompt_set}: {self.done}/{self.total} done",
            f"{self.failed} failed",
            f"{self.in_flight} in flight",
            f"{self.pending} pending",
        ]
        if self.cancelled:
            parts.append(f"{self.cancelled} cancelled")
        parts.append(f"p50 latency {latency}")
        parts.append(f"{self.elapsed:.0f}s elapsed")
        return ", ".join(parts)


OnProgress = Callable[[ProgressSnapshot], None]


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (like DuckDB's quantile_cont) of already sorted values."""
    if not sorted_values:
        return None
    if len(sorted_values) == 1:
        return sorted_values[0]
    position = (len(sorted_values) - 1) * q
    low = math.floor(position)
    high = math.ceil(position)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


class LatencyTracker:
    """Submit-to-completion latencies of completed requests (8 bytes each: 1M items ~ 8 MB)."""

    def __init__(self) -> None:
        self._values = array("d")
        self._sorted = True

    def add(self, seconds: float) -> None:
        self._values.append(seconds)
        self._sorted = False

    def __len__(self) -> int:
        return len(self._values)

    def quantile(self, q: float) -> float | None:
        if not self._sorted:
            self._values = array("d", sorted(self._values))
            self._sorted = True
        return percentile(self._values, q)
