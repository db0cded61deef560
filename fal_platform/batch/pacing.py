"""Timing helpers for the engine: a submit pacer and a polling backoff.

Both exist so the engine is polite to fal by construction: submits leave at a steady rate
instead of in bursts (a burst of 500 submits is what trips fal's rate limiter), and a request
that sits in a long queue is asked about less and less often instead of every 100 ms.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class Pacer:
    """Hands out start times at least `1 / rate` seconds apart, first come first served.

    Each caller reserves the next free slot before it sleeps, so concurrent callers queue up
    in order and a cancelled caller only wastes its own slot. There is no burst allowance:
    after an idle spell the next call goes at once, the one after waits a full interval.
    """

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive (calls per second)")
        self._interval = 1.0 / rate
        self._clock = clock
        self._next_slot = 0.0

    @property
    def interval(self) -> float:
        return self._interval

    def reserve(self) -> float:
        """Claim the next slot; returns how many seconds to wait for it."""
        now = self._clock()
        slot = max(now, self._next_slot)
        self._next_slot = slot + self._interval
        return slot - now

    async def wait(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)


@dataclass
class Backoff:
    """Growing sleep intervals: `initial`, then x`factor` each time, capped at `maximum`.

    Used between status polls: a job that is still queued after a few polls is probably in a
    long queue, and asking every `initial` seconds would only load fal's status route.
    """

    initial: float
    maximum: float
    factor: float = 1.5
    _current: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.maximum < self.initial or self.factor < 1:
            raise ValueError("need 0 < initial <= maximum and factor >= 1")
        self._current = self.initial

    def next(self) -> float:
        """The interval to sleep now; the following call returns a longer one."""
        value = self._current
        self._current = min(self._current * self.factor, self.maximum)
        return value

    def reset(self) -> None:
        self._current = self.initial
