"""The batch layer's one way to retry a call: tenacity, with the caller's schedule and test.

Each caller states how often, how long to wait, and *what* may be retried; the last is the
part that matters for money. Which fal calls may be re-sent at all is decided by the client
(`fal_platform/client/retry.py`, per error class and `X-Fal-Retryable`); these loops sit on
top of it for whole operations (a history read, a result fetch, a DuckDB write or connect).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import tenacity

logger = logging.getLogger("fal_platform.batch")

T = TypeVar("T")
Delay = Callable[[int], float]
"""Seconds to wait after failed try number `n` (1-based)."""
RetryIf = Callable[[BaseException], bool]


def exponential(first: float, cap: float, *, factor: float = 2.0, jitter: bool = False) -> Delay:
    """`first`, `first * factor`, ... up to `cap`; with `jitter`, each wait is 50-100% of that
    (processes that collided on a lock then come back at different times)."""

    def delay(attempt: int) -> float:
        seconds = min(first * factor ** (attempt - 1), cap)
        return seconds * random.uniform(0.5, 1.0) if jitter else seconds

    return delay


def _policy(
    *,
    attempts: int | None,
    delay: Delay,
    retry_if: RetryIf,
    give_up: Callable[[], bool] | None,
    deadline: float | None,
    what: str | None,
    tried: int = 0,
) -> dict[str, object]:
    """tenacity's arguments; `tried` tries were already made outside it (numbers count them)."""

    def stop(state: tenacity.RetryCallState) -> bool:
        if attempts is not None and state.attempt_number + tried >= attempts:
            return True
        if deadline is not None and time.monotonic() + (state.upcoming_sleep or 0) > deadline:
            return True
        return give_up is not None and give_up()

    def log(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        _log_retry(what, state.attempt_number + tried, state.upcoming_sleep, error)

    return {
        "stop": stop,
        "wait": lambda state: delay(state.attempt_number + tried),
        "retry": tenacity.retry_if_exception(retry_if),
        "reraise": True,
        "before_sleep": log if what is not None else None,
    }


def _log_retry(what: str | None, attempt: int, sleep: float, error: BaseException | None) -> None:
    if what is not None:
        logger.warning("%s failed (attempt %d), retrying in %.1fs: %s", what, attempt, sleep, error)


async def retry_async(
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    delay: Delay,
    retry_if: RetryIf,
    give_up: Callable[[], bool] | None = None,
    what: str | None = None,
) -> T:
    """Await `call()` until it succeeds, raises something `retry_if` refuses, `attempts` are
    used up or `give_up()` is true; then the last error is raised as it was.

    The first try is made directly: it nearly always succeeds, and tenacity's bookkeeping costs
    ~0.1 ms of CPU a call (a result fetch is made for every item; benchmarks/README.md
    section 7). Only after a failure does tenacity take over, counting that try.
    """
    try:
        return await call()
    except Exception as exc:
        if attempts <= 1 or not retry_if(exc) or (give_up is not None and give_up()):
            raise
        wait = delay(1)
        _log_retry(what, 1, wait, exc)
        await asyncio.sleep(wait)
    policy = _policy(
        attempts=attempts,
        delay=delay,
        retry_if=retry_if,
        give_up=give_up,
        deadline=None,
        what=what,
        tried=1,
    )

    async def attempt() -> T:  # a coroutine function, so tenacity awaits each try
        return await call()

    return await tenacity.AsyncRetrying(**policy)(attempt)  # type: ignore[arg-type]


def retry_sync(
    call: Callable[[], T],
    *,
    delay: Delay,
    retry_if: RetryIf,
    attempts: int | None = None,
    deadline: float | None = None,
    what: str | None = None,
) -> T:
    """`retry_async` for blocking calls; `deadline` (a `time.monotonic()` value) also stops it
    when the next wait would end past it."""
    policy = _policy(
        attempts=attempts,
        delay=delay,
        retry_if=retry_if,
        give_up=None,
        deadline=deadline,
        what=what,
    )
    return tenacity.Retrying(**policy)(call)  # type: ignore[arg-type]
