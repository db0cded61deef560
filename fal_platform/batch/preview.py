"""A small, human-sized view of a prompt set's first items, for materialization metadata.

Reads only `limit` rows (never the whole partition) so a 100k-item set previews as fast as a
10-item one. The table links each output; the images among them follow as small thumbnails
(`media/gallery.py`), so a row stays one line high.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace

from fal_platform.batch.report import FailedItem
from fal_platform.batch.tables import REQUESTS
from fal_platform.media.extract import extract_media
from fal_platform.media.gallery import GalleryItem, gallery_markdown, link, thumbnails_for, truncate
from fal_platform.media.latency import REQUEST_SECONDS_SQL
from fal_platform.store.duckdb_backend import Queryable, as_reader

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


def load_preview(conn: Queryable, prompt_set: str, limit: int = 10) -> list[PreviewRow]:
    records = as_reader(conn).rows(
        "SELECT line, endpoint_id, CAST(input AS VARCHAR), state, attempts, "
        f"{REQUEST_SECONDS_SQL}, "
        "CAST(result AS VARCHAR), error_type "
        f"FROM {REQUESTS.name} WHERE prompt_set = $1 ORDER BY item_index, item_key LIMIT $2",
        [prompt_set, limit],
    )
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
    return truncate(text, limit).replace("|", "\\|")


def _gallery_item(row: PreviewRow) -> GalleryItem | None:
    if row.media_url is None:
        return None
    return GalleryItem(f"line {row.line}", row.media_url, row.media_kind or "other")


def _media_cell(row: PreviewRow) -> str:
    item = _gallery_item(row)
    if item is None:
        return ""
    return link(replace(item, label=item.media_kind)).replace("|", "\\|")


def preview_markdown(rows: list[PreviewRow]) -> str:
    """The table plus thumbnails of its images (fetched here: a few, small)."""
    items = [item for item in map(_gallery_item, rows) if item is not None]
    return render_preview(rows, thumbnails_for(items))


def render_preview(rows: list[PreviewRow], thumbnails: Mapping[str, str]) -> str:
    """`preview_markdown` without the fetching: `thumbnails` are data URIs by media URL."""
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
    items = [item for item in map(_gallery_item, rows) if item is not None]
    gallery = gallery_markdown([item for item in items if item.url in thumbnails], thumbnails)
    return "\n".join(lines) + (f"\n\n{gallery}" if gallery else "")


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
