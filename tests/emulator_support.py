"""Shared helpers for the emulator tests that speak raw HTTP to it."""

from __future__ import annotations

import time
from typing import Any

import httpx


def wait_completed(client: httpx.Client, status_url: str) -> dict[str, Any]:
    """Poll a queue job's status until COMPLETED (20 s at most); its last status body."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(status_url).json()
        if body["status"] == "COMPLETED":
            return body
        time.sleep(0.02)
    raise AssertionError(f"job did not complete: {status_url}")
