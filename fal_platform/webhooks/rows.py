"""The row of `generation.webhook_inbox`: one verified delivery per fal request id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass
class WebhookRow:
    """What fal told us about one request: its outcome, when it first arrived, how often."""

    request_id: str
    status: str
    """`OK` (the payload is the output) or `ERROR` (the payload is the error body)."""
    gateway_request_id: str | None
    payload: Any
    error: str | None
    payload_error: str | None
    user_id: str | None
    received_at: datetime
    """When the first copy was verified and recorded (the receiver's clock, UTC)."""
    deliveries: int = 1
    """Verified copies received: fal retries a delivery until it is acknowledged."""
