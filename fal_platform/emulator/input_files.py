"""Input URLs an image-to-X or speech-to-text model cannot fetch: a 422 at result time.

fal's apps download `image_url`, `audio_url` and friends when the job runs; a URL they cannot
fetch (a local path sent as a string, an expired upload) fails the job with a validation-style
422 that the client only sees when it fetches the result. The emulator decides at submit,
like its other job errors, and checks what it can without leaving the machine: `file:` URLs
and its own storage URLs always, other http(s) URLs only with `fetch_input_urls`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx

from fal_platform.emulator.state import EmulatorState

DOWNLOAD_ERROR = {
    "msg": "Failed to download the file. Please check if the URL is accessible.",
    "type": "file_download_error",
}
FETCH_TIMEOUT = 5.0


def fetches_inputs(category: str) -> bool:
    return category.startswith("image-to-") or category == "speech-to-text"


def _url_values(payload: dict[str, Any]) -> Iterator[tuple[list[str | int], str]]:
    for key, value in payload.items():
        if key.endswith("_url") and isinstance(value, str):
            yield [key], value
        elif key.endswith("_urls") and isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, str):
                    yield [key, index], item


async def _fetchable(state: EmulatorState, url: str, origin: str) -> bool:
    scheme = urlsplit(url).scheme.lower()
    if scheme == "file":
        return False
    own = state.storage.lookup_url(url, origin, state.clock())
    if own is not False:
        return own is not None
    if not state.config.fetch_input_urls or scheme not in ("http", "https"):
        return True
    try:
        async with (
            httpx.AsyncClient(timeout=FETCH_TIMEOUT, follow_redirects=True) as client,
            client.stream("GET", url) as response,
        ):
            return response.is_success
    except httpx.HTTPError:
        return False


async def unfetchable_inputs(
    state: EmulatorState, category: str, payload: dict[str, Any], origin: str
) -> list[dict[str, Any]]:
    """422 detail items, one per input URL the model could not download."""
    if not fetches_inputs(category):
        return []
    return [
        {"loc": ["body", *loc], **DOWNLOAD_ERROR, "input": url}
        for loc, url in _url_values(payload)
        if not await _fetchable(state, url, origin)
    ]
