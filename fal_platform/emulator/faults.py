"""Per-request gateway faults: 5xx, dropped connections, hangs and 429s.

Every decision comes from one seeded random stream, so a sequential client sees the same
faults on every run with the same seed. Only one fault fires per request. Faults that happen
"after the work" (drop, hang) let the handler run first: a dropped submit was accepted, which
is exactly the ambiguous case clients have to reconcile.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from fal_platform.emulator.config import QUEUE_ROUTES, EmulatorConfig


@dataclass(frozen=True, slots=True)
class FaultDecision:
    rate_limited: bool = False
    retry_after: int | None = None
    fail: bool = False
    drop: bool = False
    hang_seconds: float = 0.0
    malformed: bool = False


NO_FAULT = FaultDecision()


class TokenBucket:
    """A rate limit over the queue routes, like an account-wide gateway limit."""

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.updated = now

    def take(self, now: float) -> float:
        """0 if a token was taken, else seconds until one is available."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class FaultInjector:
    def __init__(self, config: EmulatorConfig, now: float) -> None:
        self._rng = random.Random(f"{config.seed}:faults")
        self._bucket: TokenBucket | None = None
        self.counts: dict[str, dict[str, int]] = {}
        self.reconfigure(config, now)

    def reconfigure(self, config: EmulatorConfig, now: float) -> None:
        self.config = config
        self._routes = config.effective_fault_routes()
        if config.rate_limit_rps > 0:
            capacity = config.rate_limit_burst or max(1.0, config.rate_limit_rps)
            self._bucket = TokenBucket(config.rate_limit_rps, capacity, now)
        else:
            self._bucket = None

    def _roll(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

    def decide(self, route: str, now: float) -> FaultDecision:
        if route not in self._routes:
            return NO_FAULT
        config = self.config
        if self._bucket is not None and route in QUEUE_ROUTES:
            wait = self._bucket.take(now)
            if wait > 0:
                return FaultDecision(rate_limited=True, retry_after=max(1, math.ceil(wait)))
        if self._roll(config.rate_limit_rate):
            return FaultDecision(rate_limited=True, retry_after=config.retry_after)
        if self._roll(config.fail_rate):
            return FaultDecision(fail=True)
        if self._roll(config.drop_rate):
            return FaultDecision(drop=True)
        if self._roll(config.timeout_rate):
            return FaultDecision(hang_seconds=config.hang_seconds)
        if self._roll(config.malformed_rate):
            return FaultDecision(malformed=True)
        return NO_FAULT
