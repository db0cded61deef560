"""GET /media/{request_id}/{n}.{png|wav|mp4}: the files that outputs link to.

The URL carries everything (size and colour, or duration), so nothing is looked up."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from fal_platform.emulator import media
from fal_platform.emulator.errors import ApiError, queue_error
from fal_platform.emulator.schemas import MAX_SIDE
from fal_platform.emulator.state import EmulatorState

MAX_DURATION_MS = 600_000


def _int_param(request: Request, name: str, low: int, high: int) -> int:
    raw = request.query_params.get(name, "")
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(queue_error(404, "File not found"))
    return int(raw)


async def media_file(request: Request, state: EmulatorState) -> Response:
    extension = request.path_params["name"].rpartition(".")[2]
    if extension == "png":
        width = _int_param(request, "w", 1, MAX_SIDE)
        height = _int_param(request, "h", 1, MAX_SIDE)
        try:
            data = media.png_bytes(width, height, request.query_params.get("c", "808080"))
        except ValueError:
            raise ApiError(queue_error(404, "File not found")) from None
        content_type = "image/png"
    elif extension == "wav":
        data = media.wav_bytes(_int_param(request, "ms", 1, MAX_DURATION_MS))
        content_type = "audio/wav"
    elif extension == "mp4":
        data = media.mp4_bytes(_int_param(request, "ms", 1, MAX_DURATION_MS))
        content_type = "video/mp4"
    else:
        raise ApiError(queue_error(404, "File not found"))
    return Response(data, media_type=content_type, headers={"Cache-Control": "max-age=86400"})
