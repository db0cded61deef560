"""How long to wait before retrying: exponential backoff with jitter, or the server's Retry-After."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

_SYSTEM_RNG = random.Random()


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff parameters shared by every retrying call.

    `max_attempts` counts tries, not retries: 1 disables retrying. Jitter spreads a burst of
    clients that failed together (a 429 hits a whole batch at once) so they do not come back
    together. `rng` is injectable so tests can pin the jitter.
    """

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.5
    respect_retry_after: bool = True
    max_retry_after: float = 120.0
    rng: random.Random = field(default=_SYSTEM_RNG, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1 (1 means no retries)")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must be >= 0")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")

    @classmethod
    def disabled(cls) -> RetryPolicy:
        return cls(max_attempts=1)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait after failed try number `attempt` (1-based).

        A Retry-After from the server wins over our own guess, because the server knows when
        its rate window resets; it is still capped so a bogus header cannot park a run for hours.
        """
        if attempt < 1:
            raise ValueError("attempt is 1-based")
        if self.respect_retry_after and retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        exponential = min(self.base_delay * 2.0 ** (attempt - 1), self.max_delay)
        factor = self.rng.uniform(1.0 - self.jitter, 1.0 + self.jitter)
        return min(exponential * factor, self.max_delay)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Parse a Retry-After header: delta-seconds or an HTTP-date. None when absent or garbage.

    A date in the past means "now" (0 s) rather than garbage: the server did ask for a retry.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN / inf
            return None
        return max(seconds, 0.0)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 7231 dates are GMT; email.utils drops it for "-0000".
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else datetime.now(UTC)
    return max((when - current).total_seconds(), 0.0)
