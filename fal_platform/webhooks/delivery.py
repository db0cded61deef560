"""The body of one webhook delivery (fal_protocol.md section 1.7), parsed leniently.

`{"request_id", "gateway_request_id", "status": "OK"|"ERROR", "payload", "error",
"payload_error"}`; only `request_id` and `status` are required. The signed header
`X-Fal-Webhook-Request-Id` is the one the receiver trusts, and the body must agree with it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class Delivery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    request_id: str
    gateway_request_id: str | None = None
    status: Literal["OK", "ERROR"]
    payload: Any = None
    error: str | None = None
    payload_error: str | None = None
