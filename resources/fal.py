"""`FalResource`: the one place Dagster configuration becomes a fal client.

Every asset that talks to fal takes this resource; nothing else reads `FAL_KEY`. Set the key with
`EnvVar("FAL_KEY")` so the Dagster UI shows the variable's name, never its value.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import dagster as dg
from pydantic import Field

from fal_platform.batch.settings import DEFAULTS, BatchSettings, Priority
from fal_platform.client import ApiKey, ClientSettings, FalClient
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
    rest_url: str | None = Field(
        default=None,
        description="Storage API for uploads of local files (default: FAL_PLATFORM_REST_URL, "
        "else https://rest.fal.ai with a key, else the emulator's /rest).",
    )
    cdn_url: str | None = Field(
        default=None,
        description="CDN that receives uploaded local files (default: FAL_PLATFORM_CDN_URL, "
        "else https://v3.fal.media with a key, else the emulator's /cdn).",
    )
    emulator_url: str | None = Field(
        default=None,
        description="Local emulator used when no key is set (default: FAL_PLATFORM_EMULATOR_URL, "
        "else http://127.0.0.1:8787).",
    )
    max_concurrency: int = Field(
        default=DEFAULTS.max_concurrency, ge=1, description="Requests in flight at once."
    )
    submit_rate: float = Field(
        default=DEFAULTS.submit_rate, gt=0, description="Submits per second, at most."
    )
    poll_interval: float = Field(
        default=DEFAULTS.poll_interval,
        gt=0,
        description="First status poll interval (s) when SSE is unavailable.",
    )
    request_timeout: float = Field(
        default=DEFAULTS.request_timeout, gt=0, description="Per HTTP request timeout (s)."
    )
    start_timeout: float | None = Field(
        default=DEFAULTS.start_timeout,
        description="Sent as X-Fal-Request-Timeout: seconds fal may take to start.",
    )
    max_attempts: int = Field(
        default=DEFAULTS.max_attempts,
        ge=1,
        description="Attempts per item and per retryable HTTP call.",
    )
    priority: Priority = Field(
        default=DEFAULTS.priority, description="Sent as X-Fal-Queue-Priority."
    )

    webhook_url: str | None = Field(
        default=DEFAULTS.webhook_url,
        description="Completion by webhook: the public URL fal POSTs outcomes to (the receiver "
        "`fal-platform webhooks`, its /fal/webhook route, writing to the same store). Unset: "
        "follow status over SSE or polling.",
    )

    def target(self) -> FalTarget:
        return resolve_target(
            has_key=bool(self.api_key),
            api_url=self.api_url,
            queue_url=self.queue_url,
            run_url=self.run_url,
            emulator_url=self.emulator_url,
            rest_url=self.rest_url,
            cdn_url=self.cdn_url,
        )

    def batch_settings(self, **overrides: Any) -> BatchSettings:
        """This resource's part of a run's settings; the rest (and `overrides`) from DEFAULTS."""
        values: dict[str, Any] = {
            "max_concurrency": self.max_concurrency,
            "submit_rate": self.submit_rate,
            "poll_interval": self.poll_interval,
            "request_timeout": self.request_timeout,
            "start_timeout": self.start_timeout,
            "max_attempts": self.max_attempts,
            "priority": self.priority,
            "webhook_url": self.webhook_url,
        }
        values.update(overrides)
        return replace(DEFAULTS, **values)

    def client_settings(self) -> ClientSettings:
        return self.batch_settings().client_settings(self.target(), ApiKey(self.api_key))

    def check_reachable(self) -> FalTarget:
        """Call first in every asset so a missing emulator fails at once with instructions."""
        target = self.target()
        ensure_reachable(target)
        return target

    def client(self) -> FalClient:
        """A new async client; use as `async with fal.client() as client:` inside one event loop."""
        return FalClient(self.client_settings())
