"""Counters that tests and benchmarks read through GET /_emulator/stats.

Tests and benchmarks assert on this shape, so keys are only ever added: `requests` and
`responses` per route name (config.ROUTE_NAMES), `accepted_submits`, and
`accepted_submits_by_input_hash` keyed by the sha256 of the canonical input JSON, which is how
the never-pay-twice tests count what a batch was charged for (tests/generation_support.py
`accepted_by_item`, tests/test_emulator_faults.py).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from fal_platform.canonical_json import canonical_sha256
from fal_platform.emulator.config import ROUTE_NAMES


def input_hash(payload: Any) -> str:
    """sha256 of the canonical JSON of a model input; the key clients can compute too."""
    return canonical_sha256(payload)


class Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.since = time.time()
        self.requests: Counter[str] = Counter()
        self.responses: dict[str, Counter[str]] = {name: Counter() for name in ROUTE_NAMES}
        self.faults: dict[str, Counter[str]] = {name: Counter() for name in ROUTE_NAMES}
        self.accepted_submits = 0
        self.accepted_submits_by_input_hash: Counter[str] = Counter()
        self.accepted_submits_by_endpoint: Counter[str] = Counter()
        self.runs = 0
        self.cancels_accepted = 0
        self.models_pages = 0
        self.models_returned = 0
        self.uploads = 0
        self.uploads_by_flow: Counter[str] = Counter()
        self.uploaded_bytes = 0

    def request(self, route: str) -> None:
        self.requests[route] += 1

    def response(self, route: str, status: int) -> None:
        self.responses[route][str(status)] += 1

    def fault(self, route: str, kind: str) -> None:
        self.faults[route][kind] += 1

    def accepted_submit(self, endpoint_id: str, digest: str) -> None:
        self.accepted_submits += 1
        self.accepted_submits_by_input_hash[digest] += 1
        self.accepted_submits_by_endpoint[endpoint_id] += 1

    def upload(self, flow: str, size: int) -> None:
        self.uploads += 1
        self.uploads_by_flow[flow] += 1
        self.uploaded_bytes += size

    def models_page(self, returned: int) -> None:
        self.models_pages += 1
        self.models_returned += returned

    def snapshot(self, jobs: dict[str, int]) -> dict[str, Any]:
        return {
            "requests": {name: self.requests[name] for name in ROUTE_NAMES},
            "responses": {name: dict(self.responses[name]) for name in ROUTE_NAMES},
            "faults": {name: dict(self.faults[name]) for name in ROUTE_NAMES},
            "accepted_submits": self.accepted_submits,
            "accepted_submits_by_input_hash": dict(self.accepted_submits_by_input_hash),
            "accepted_submits_by_endpoint": dict(self.accepted_submits_by_endpoint),
            "runs": self.runs,
            "cancels_accepted": self.cancels_accepted,
            "models_pages": self.models_pages,
            "models_returned": self.models_returned,
            "uploads": self.uploads,
            "uploads_by_flow": dict(self.uploads_by_flow),
            "uploaded_bytes": self.uploaded_bytes,
            "jobs": jobs,
            "since": self.since,
        }
