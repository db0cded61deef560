"""`FalResource`: the one place Dagster configuration becomes a fal client.

Every asset that talks to fal takes this resource; nothing else reads `FAL_KEY`. Set the key with
`EnvVar("FAL_KEY")` so the Dagster UI shows the variable's name, never its value.
"""

from __future__ import annotations

from typing import Literal

import dagster as dg
from pydantic import Field

from fal_platform.client import ApiKey, ClientSettings, FalClient, RetryPolicy
from fal_platform.target import FalTarget, ensure_reachable, resolve_target


class FalResource(dg.ConfigurableResource):
    """Connection, concurrency and retry settings for fal (or the local emulator)."""

    api_key: str | None = Field(
        default=None,
        description="fal API key; set it with EnvVar('FAL_KEY'). Without it the local emulator is used.",
    )
    api_url: str | None = Field(
        default=None,
        description="Platform API base (default: FAL_PLATFORM_API_URL, else https://api.fal.ai/v1 "
        "with a key, else the emulator's /v1).",
    )
    queue_url: str | None = Field(
        default=None,
        description="Queue host (default: FAL_PLATFORM_QUEUE_URL, else https://queue.fal.run "
        "with a key, else the emulator).",
    )
    run_url: str | None = Field(
        default=None,
        description="Synchronous run host (default: FAL_PLATFORM_RUN_URL, else https://fal.run "
        "with a key, else the emulator's /run).",
    )
    emulator_url: str | None = Field(
        default=None,
        description="Local emulator used when no key is set (default: FAL_PLATFORM_EMULATOR_URL, "
        "else http://127.0.0.1:8787).",
    )
    max_concurrency: int = Field(default=32, ge=1, description="Requests in flight at once.")
    submit_rate: float = Field(default=20.0, gt=0, description="Submits per second, at most.")
    poll_interval: float = Field(
        default=0.5, gt=0, description="First status poll interval (s) when SSE is unavailable."
    )
    request_timeout: float = Field(default=60.0, gt=0, description="Per HTTP request timeout (s).")
    start_timeout: float | None = Field(
        default=None, description="Sent as X-Fal-Request-Timeout: seconds fal may take to start."
    )
    max_attempts: int = Field(
        default=3, ge=1, description="Attempts per item and per retryable HTTP call."
    )
    priority: Literal["normal", "low"] = Field(
        default="normal", description="Sent as X-Fal-Queue-Priority."
    )

    def target(self) -> FalTarget:
        return resolve_target(
            has_key=bool(self.api_key),
            api_url=self.api_url,
            queue_url=self.queue_url,
            run_url=self.run_url,
            emulator_url=self.emulator_url,
        )

    def client_settings(self) -> ClientSettings:
        target = self.target()
        return ClientSettings(
            api_key=ApiKey(self.api_key),
            api_url=target.api_url,
            queue_url=target.queue_url,
            run_url=target.run_url,
            request_timeout=self.request_timeout,
            start_timeout=self.start_timeout,
            priority=self.priority,
            retry=RetryPolicy(max_attempts=self.max_attempts),
            max_connections=max(self.max_concurrency * 2, 10),
        )

    def check_reachable(self) -> FalTarget:
        """Call first in every asset so a missing emulator fails at once with instructions."""
        target = self.target()
        ensure_reachable(target)
        return target

    def client(self) -> FalClient:
        """A new async client; use as `async with fal.client() as client:` inside one event loop."""
        return FalClient(self.client_settings())
