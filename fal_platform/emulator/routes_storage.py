"""fal's storage API (`/rest/storage/...`) and CDN (`/cdn/...`): both upload flows of
fal_protocol.md section 5, and the uploaded bytes served back at the URL a client was given.

- `fal_v3`: `POST /rest/storage/auth/token?storage_type=fal-cdn-v3` hands out a CDN token;
  `POST /cdn/files/upload` with the bytes and `Authorization: Bearer <token>` answers
  `{"access_url"}`; above 100 MiB clients go multipart (`/cdn/files/upload/multipart`, parts
  PUT to `{access_url}/multipart/{uploadId}/{n}`, then `.../complete`).
- `fal`: `POST /rest/storage/upload/initiate` answers `{"upload_url", "file_url"}`; the bytes
  are PUT to `upload_url`, which (like a signed URL) needs no key.

With `storage_v3` off the CDN refuses uploads with a 500 (one fal-client does not retry), so
clients show they fall back to `initiate`; the token route keeps working, because fal-client's
sync `upload` fetches the token outside its fallback chain. Every finished upload counts in the stats' `uploads`.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from fal_platform.emulator.errors import ApiError, json_response, queue_error
from fal_platform.emulator.routes_common import base_url
from fal_platform.emulator.state import EmulatorState
from fal_platform.emulator.storage import StoredFile, expiration_seconds, safe_name


def _file_url(request: Request, file_id: str, name: str) -> str:
    return f"{base_url(request)}/cdn/files/{file_id}/{name}"


def _require_token(request: Request, state: EmulatorState) -> None:
    if not state.storage.token_valid(request.headers.get("authorization", ""), state.clock()):
        raise ApiError(json_response({"detail": "Invalid or expired CDN token"}, 401))


def _pending_or_404(request: Request, state: EmulatorState) -> tuple[str, StoredFile]:
    file_id = request.path_params["file_id"]
    pending = state.storage.pending(file_id)
    if pending is None:
        raise ApiError(queue_error(404, "Upload not found"))
    return file_id, pending


def _finish(state: EmulatorState, file_id: str, data: bytes, flow: str) -> None:
    state.storage.finish(file_id, data)
    state.stats.upload(flow, len(data))


def _require_v3(state: EmulatorState) -> None:
    if not state.config.storage_v3:
        raise ApiError(queue_error(500, "fal_v3 storage is unavailable"))


async def token(request: Request, state: EmulatorState) -> Response:
    value, expires = state.storage.issue_token(state.clock())
    return json_response(
        {
            "token": value,
            "token_type": "Bearer",
            "base_url": f"{base_url(request)}/cdn",
            "expires_at": datetime.fromtimestamp(expires, UTC).isoformat(),
        }
    )


async def cdn_upload(request: Request, state: EmulatorState) -> Response:
    _require_v3(state)
    _require_token(request, state)
    data = await request.body()
    headers = dict(request.headers)
    file_id = state.storage.reserve(
        headers.get("content-type", ""), expiration_seconds(headers), state.clock()
    )
    _finish(state, file_id, data, "fal_v3")
    name = safe_name(headers.get("x-fal-file-name"))
    return json_response({"access_url": _file_url(request, file_id, name)})


async def initiate(request: Request, state: EmulatorState) -> Response:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ApiError(queue_error(422, "Expected a JSON object with file_name and content_type"))
    headers = dict(request.headers)
    file_id = state.storage.reserve(
        str(body.get("content_type") or ""), expiration_seconds(headers), state.clock()
    )
    name = safe_name(str(body.get("file_name") or ""))
    return json_response(
        {
            "upload_url": f"{base_url(request)}/cdn/upload/{file_id}",
            "file_url": _file_url(request, file_id, name),
        }
    )


async def put_upload(request: Request, state: EmulatorState) -> Response:
    file_id, _ = _pending_or_404(request, state)
    _finish(state, file_id, await request.body(), "fal")
    return Response(status_code=200)


async def multipart_start(request: Request, state: EmulatorState) -> Response:
    _require_v3(state)
    _require_token(request, state)
    headers = dict(request.headers)
    file_id = state.storage.reserve(
        headers.get("content-type", ""), expiration_seconds(headers), state.clock()
    )
    name = safe_name(headers.get("x-fal-file-name"))
    return json_response({"access_url": _file_url(request, file_id, name), "uploadId": file_id})


async def multipart_part(request: Request, state: EmulatorState) -> Response:
    _require_token(request, state)
    _, pending = _pending_or_404(request, state)
    part = request.path_params["part"]
    if request.path_params["upload_id"] != request.path_params["file_id"] or not part.isdigit():
        raise ApiError(queue_error(404, "Upload not found"))
    data = await request.body()
    pending.parts[int(part)] = data
    return Response(status_code=200, headers={"ETag": f'"{hashlib.md5(data).hexdigest()}"'})


async def multipart_complete(request: Request, state: EmulatorState) -> Response:
    _require_token(request, state)
    file_id, pending = _pending_or_404(request, state)
    body = await request.json()
    numbers = [int(part["partNumber"]) for part in body.get("parts", [])]
    if not numbers or sorted(numbers) != list(range(1, len(pending.parts) + 1)):
        raise ApiError(queue_error(400, "Parts missing or out of order"))
    _finish(state, file_id, b"".join(pending.parts[n] for n in sorted(numbers)), "multipart")
    return json_response({"access_url": _file_url(request, file_id, request.path_params["name"])})


async def get_file(request: Request, state: EmulatorState) -> Response:
    stored = state.storage.get(request.path_params["file_id"], state.clock())
    if stored is None:
        raise ApiError(queue_error(404, "File not found"))
    return Response(stored.data, media_type=stored.content_type)
