"""Decides, at submit time, how long a job will wait and run and whether it will fail.

Separate seeded random streams for latency and for failures mean that turning failures on
does not change the latencies (or request ids) a given seed produces.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from fal_platform.emulator.config import JOB_FAILURE_TYPES, EmulatorConfig
from fal_platform.emulator.jobs import JobError

CONTENT_POLICY_ITEM = {
    "loc": ["body", "prompt"],
    "msg": "The content could not be processed because it contained material flagged by a "
    "content checker.",
    "type": "content_policy_violation",
}
VALIDATION_SHARE_OF_INFERENCE = 0.1  # an invalid input fails fast once a runner picks it up


@dataclass(frozen=True, slots=True)
class JobPlan:
    wait: float
    inference: float
    error: JobError | None


def sample_seconds(mean: float, jitter: float, distribution: str, rng: random.Random) -> float:
    """uniform: mean * (1 +- jitter); lognormal: median `mean`, sigma `jitter` (long tail)."""
    if mean <= 0:
        return 0.0
    if distribution == "lognormal":
        return mean * math.exp(rng.gauss(0.0, jitter)) if jitter > 0 else mean
    return max(0.0, mean * (1.0 + rng.uniform(-jitter, jitter)))


class Planner:
    def __init__(self, seed: int) -> None:
        self._latency = random.Random(f"{seed}:latency")
        self._failures = random.Random(f"{seed}:job-failures")

    def plan(
        self, config: EmulatorConfig, validation_errors: list[dict[str, Any]], *, queued: bool
    ) -> JobPlan:
        wait = 0.0
        if queued:
            wait = sample_seconds(
                config.queue_wait,
                config.queue_wait_jitter,
                config.latency_distribution,
                self._latency,
            )
        inference = sample_seconds(
            config.inference_time,
            config.inference_time_jitter,
            config.latency_distribution,
            self._latency,
        )
        if validation_errors:
            error = JobError(
                422,
                "validation_error",
                _summary(validation_errors),
                detail=tuple(validation_errors),
            )
            return JobPlan(wait, inference * VALIDATION_SHARE_OF_INFERENCE, error)
        return JobPlan(wait, inference, self._injected_error(config))

    def _injected_error(self, config: EmulatorConfig) -> JobError | None:
        rng = self._failures
        if config.job_user_error_rate > 0 and rng.random() < config.job_user_error_rate:
            return JobError(
                422,
                "content_policy_violation",
                str(CONTENT_POLICY_ITEM["msg"]),
                detail=(dict(CONTENT_POLICY_ITEM),),
            )
        if config.job_failure_rate > 0 and rng.random() < config.job_failure_rate:
            error_type = rng.choice(config.job_failure_types)
            status, message = JOB_FAILURE_TYPES[error_type]
            return JobError(status, error_type, message)
        return None


def _summary(items: list[dict[str, Any]]) -> str:
    first = items[0]
    where = ".".join(str(part) for part in first.get("loc", []))
    return f"Invalid input: {where}: {first.get('msg', 'invalid')}"
