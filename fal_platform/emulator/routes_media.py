"""GET /media/{request_id}/{n}.{png|wav|mp4}: the files that outputs link to.

The URL carries everything (size and colour, or duration and video rate), so nothing is looked
up. A file may have expired (`media_expire_rate`): it then answers 404, as fal does once it has
deleted a file after its retention period.
"""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from fal_platform.emulator import media
from fal_platform.emulator.errors import ApiError, queue_error
from fal_platform.emulator.schemas import MAX_SIDE
from fal_platform.emulator.state import EmulatorState

MAX_DURATION_MS = 600_000
MAX_VIDEO_BYTES_PER_SECOND = 64 * 1024 * 1024
_CACHE = {"Cache-Control": "max-age=86400"}


def _int_param(request: Request, name: str, low: int, high: int, default: int | None = None) -> int:
    raw = request.query_params.get(name, "")
    if not raw and default is not None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(queue_error(404, "File not found"))
    return int(raw)


def is_expired(seed: int, path_and_query: str, rate: float) -> bool:
    """Whether this file is gone: a stable per-file draw, so a rate of 0.3 always expires the
    same files and raising it only ever adds to them."""
    if rate <= 0.0:
        return False
    digest = hashlib.sha256(f"{seed}:expire:{path_and_query}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


async def media_file(request: Request, state: EmulatorState) -> Response:
    target = request.url.path + ("?" + request.url.query if request.url.query else "")
    if is_expired(state.config.seed, target, state.config.media_expire_rate):
        raise ApiError(queue_error(404, "File not found"))
    extension = request.path_params["name"].rpartition(".")[2]
    if extension == "png":
        width = _int_param(request, "w", 1, MAX_SIDE)
        height = _int_param(request, "h", 1, MAX_SIDE)
        try:
            data = media.png_bytes(width, height, request.query_params.get("c", "808080"))
        except ValueError:
            raise ApiError(queue_error(404, "File not found")) from None
        return Response(data, media_type="image/png", headers=_CACHE)
    if extension == "wav":
        data = media.wav_bytes(_int_param(request, "ms", 1, MAX_DURATION_MS))
        return Response(data, media_type="audio/wav", headers=_CACHE)
    if extension == "mp4":
        duration_ms = _int_param(request, "ms", 1, MAX_DURATION_MS)
        rate = _int_param(
            request, "bps", 1, MAX_VIDEO_BYTES_PER_SECOND, default=media.MP4_BYTES_PER_SECOND
        )
        if media.mp4_size(duration_ms, rate) > 0xFFFFFFFF:
            raise ApiError(queue_error(404, "File not found"))
        headers = {**_CACHE, "Content-Length": str(media.mp4_size(duration_ms, rate))}
        return StreamingResponse(
            media.mp4_chunks(duration_ms, rate), media_type="video/mp4", headers=headers
        )
    raise ApiError(queue_error(404, "File not found"))
