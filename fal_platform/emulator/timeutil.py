"""ISO8601 formatting and parsing in the exact spellings the fal APIs use."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_seconds(ts: float) -> str:
    """'2026-03-01T12:00:00Z': the catalog's updated_at/date style."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_millis(ts: float) -> str:
    """'2026-03-01T12:00:00.123Z': request timestamps and log lines."""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> float:
    """Accept 'YYYY-MM-DD', and datetimes with 'Z', an offset, or no zone (taken as UTC)."""
    cleaned = text.strip()
    if cleaned.endswith(("Z", "z")):
        cleaned = cleaned[:-1] + "+00:00"
    moment = datetime.fromisoformat(cleaned)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
