"""A small, human-sized view of a prompt set's first items, for materialization metadata.

Reads only `limit` rows (never the whole partition) so a 100k-item set previews as fast as a
10-item one. Images are shown inline when the output URL is an http(s) image.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb

from fal_platform.batch.report import FailedItem
from fal_platform.media.extract import extract_media
from fal_platform.media.latency import REQUEST_SECONDS_SQL

REQUESTS_TABLE = "generation.requests"
_MAX_PROMPT_CHARS = 60


@dataclass(frozen=True)
class PreviewRow:
    line: int
    endpoint_id: str
    prompt: str | None
    state: str
    attempts: int
    latency_seconds: float | None
    media_url: str | None
    media_kind: str | None
    error_type: str | None


def load_preview(
    conn: duckdb.DuckDBPyConnection, prompt_set: str, limit: int = 10
) -> list[PreviewRow]:
    records = conn.execute(
        "SELECT line, endpoint_id, CAST(input AS VARCHAR), state, attempts, "
        f"{REQUEST_SECONDS_SQL}, "
        "CAST(result AS VARCHAR), error_type "
        f"FROM {REQUESTS_TABLE} WHERE prompt_set = ? ORDER BY item_index, item_key LIMIT ?",
        [prompt_set, limit],
    ).fetchall()
    rows = []
    for line, endpoint_id, input_text, state, attempts, latency, result_text, error_type in records:
        item_input = json.loads(input_text) if input_text else {}
        prompt = item_input.get("prompt") if isinstance(item_input, dict) else None
        media = extract_media(json.loads(result_text)) if result_text else []
        rows.append(
            PreviewRow(
                line=int(line),
                endpoint_id=endpoint_id,
                prompt=prompt if isinstance(prompt, str) else None,
                state=state,
                attempts=int(attempts),
                latency_seconds=float(latency) if latency is not None else None,
                media_url=media[0].url if media else None,
                media_kind=media[0].media_kind if media else None,
                error_type=error_type,
            )
        )
    return rows


def _cell(text: str | None, limit: int = _MAX_PROMPT_CHARS) -> str:
    if not text:
        return ""
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "\u2026"
    return flat.replace("|", "\\|")


def _media_cell(row: PreviewRow) -> str:
    url = row.media_url
    if not url or not url.startswith(("http://", "https://")):
        return ""
    if row.media_kind == "image":
        return f"![line {row.line}]({url})"
    return f"[{row.media_kind or 'file'}]({url})"


def preview_markdown(rows: list[PreviewRow]) -> str:
    if not rows:
        return "_no items_"
    lines = [
        "| line | endpoint | prompt | state | attempts | seconds | output |",
        "|---:|---|---|---|---:|---:|---|",
    ]
    for row in rows:
        seconds = f"{row.latency_seconds:.2f}" if row.latency_seconds is not None else ""
        state = row.state if not row.error_type else f"{row.state} ({row.error_type})"
        lines.append(
            f"| {row.line} | `{row.endpoint_id}` | {_cell(row.prompt)} | {state} | "
            f"{row.attempts} | {seconds} | {_media_cell(row)} |"
        )
    return "\n".join(lines)


def failures_markdown(failures: list[FailedItem], file_name: str) -> str:
    if not failures:
        return "_no failures_"
    lines = ["| where | endpoint | error_type | attempts | message |", "|---|---|---|---:|---|"]
    for failure in failures:
        lines.append(
            f"| {file_name}:{failure.line} | `{failure.endpoint_id}` | {failure.error_type} | "
            f"{failure.attempts} | {_cell(failure.message, 160)} |"
        )
    return "\n".join(lines)
