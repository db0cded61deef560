"""fal's endpoint-id rules: which part of an id names the app, and which is a sub-path.

A submit goes to the full id (`fal-ai/flux/dev`), but status, result and cancel live under
the app only (`fal-ai/flux/requests/<id>`). This mirrors `AppId.from_endpoint_id` in
fal-client 1.0.1 so URLs rebuilt from stored ids match what fal itself hands out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

APP_NAMESPACES = ("workflows", "comfy")
_LEGACY_ID = re.compile(r"^([0-9]+)-([a-zA-Z0-9-]+)$")
_FORBIDDEN = re.compile(r"[\s?#]")


@dataclass(frozen=True)
class AppId:
    owner: str
    alias: str
    path: str | None = None
    namespace: str | None = None

    @classmethod
    def parse(cls, endpoint_id: str) -> AppId:
        validate_endpoint_id(endpoint_id)
        parts = endpoint_id.split("/")
        if len(parts) == 1:
            match = _LEGACY_ID.match(endpoint_id)
            if match is None:
                raise ValueError(
                    f"Invalid endpoint id {endpoint_id!r}: expected '<owner>/<app>[/<path>]'"
                )
            return cls(owner=match.group(1), alias=match.group(2))
        namespace = None
        if parts[0] in APP_NAMESPACES:
            namespace, parts = parts[0], parts[1:]
            if len(parts) < 2:
                raise ValueError(
                    f"Invalid endpoint id {endpoint_id!r}: expected '{namespace}/<owner>/<app>'"
                )
        return cls(
            owner=parts[0],
            alias=parts[1],
            path="/".join(parts[2:]) or None,
            namespace=namespace,
        )

    @property
    def app_path(self) -> str:
        """The id without its sub-path: the prefix of the request URLs."""
        prefix = f"{self.namespace}/" if self.namespace else ""
        return f"{prefix}{self.owner}/{self.alias}"


def validate_endpoint_id(endpoint_id: str) -> None:
    """Reject ids that would silently produce a different URL (empty parts, queries)."""
    if not endpoint_id or _FORBIDDEN.search(endpoint_id):
        raise ValueError(f"Invalid endpoint id {endpoint_id!r}")
    if any(part in ("", ".", "..") for part in endpoint_id.split("/")):
        raise ValueError(f"Invalid endpoint id {endpoint_id!r}: empty or relative path segment")
