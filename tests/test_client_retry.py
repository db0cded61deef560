"""RetryPolicy and Retry-After parsing: pure logic, no network."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from fal_platform.client import RetryPolicy, parse_retry_after


def test_delay_without_jitter_is_exponential_and_capped() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=5.0, jitter=0.0)
    assert [policy.delay(n, None) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


@pytest.mark.parametrize("attempt", [1, 2, 3, 4])
def test_jitter_stays_within_bounds(attempt: int) -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=100.0, jitter=0.5, rng=random.Random(7))
    nominal = 2.0 ** (attempt - 1)
    delays = [policy.delay(attempt, None) for _ in range(500)]
    assert all(0.5 * nominal <= d <= 1.5 * nominal for d in delays)
    # Jitter actually spreads the delays rather than returning a constant.
    assert max(delays) - min(delays) > 0.5 * nominal


def test_jittered_delay_never_exceeds_max_delay() -> None:
    policy = RetryPolicy(base_delay=10.0, max_delay=12.0, jitter=0.5, rng=random.Random(1))
    assert all(policy.delay(3, None) <= 12.0 for _ in range(200))


def test_injected_rng_makes_delays_reproducible() -> None:
    first = RetryPolicy(rng=random.Random(42))
    second = RetryPolicy(rng=random.Random(42))
    assert [first.delay(n, None) for n in range(1, 5)] == [
        second.delay(n, None) for n in range(1, 5)
    ]


def test_retry_after_wins_over_backoff_and_is_capped() -> None:
    policy = RetryPolicy(base_delay=0.5, jitter=0.5, max_retry_after=120.0)
    assert policy.delay(1, 7.0) == 7.0
    assert policy.delay(4, 0.0) == 0.0
    assert policy.delay(1, 3600.0) == 120.0
    assert policy.delay(1, -5.0) == 0.0


def test_retry_after_can_be_ignored() -> None:
    policy = RetryPolicy(base_delay=0.5, jitter=0.0, respect_retry_after=False)
    assert policy.delay(1, 60.0) == 0.5


def test_invalid_policies_are_rejected() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(jitter=1.5)
    with pytest.raises(ValueError):
        RetryPolicy(base_delay=-1)
    with pytest.raises(ValueError):
        RetryPolicy().delay(0, None)


@pytest.mark.parametrize(
    ("header", "expected"),
    [("3", 3.0), (" 1.5 ", 1.5), ("0", 0.0), ("-2", 0.0), ("", None), (None, None)],
)
def test_parse_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_parse_retry_after_http_date() -> None:
    now = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert header.endswith("GMT")
    assert parse_retry_after(header, now=now) == 30.0


def test_parse_retry_after_http_date_in_the_past_means_now() -> None:
    now = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 0.0


@pytest.mark.parametrize("header", ["soon", "nan", "inf", "Mon, 99 Foo 2026"])
def test_parse_retry_after_garbage_is_none(header: str) -> None:
    assert parse_retry_after(header) is None
