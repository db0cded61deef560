"""Small helpers shared by the route modules."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from fal_platform.emulator.errors import ApiError, json_response
from fal_platform.emulator.jobs import Job
from fal_platform.emulator.outputs import build_output
from fal_platform.emulator.state import EmulatorState


def job_output(state: EmulatorState, job: Job, base: str) -> dict[str, Any]:
    """A successful job's output, rebuilt on demand (outputs are never stored)."""
    return build_output(
        job.model,
        job.payload,
        seed=state.config.seed,
        request_id=job.request_id,
        inference_time=job.inference_time,
        base_url=base,
        video_bytes_per_second=state.config.video_bytes_per_second,
    )


def base_url(request: Request) -> str:
    """Scheme, host and port the client used, so handed-out URLs come back to this server."""
    return str(request.base_url).rstrip("/")


async def read_json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or a FastAPI-style 422 like fal's apps send."""
    raw = await request.body()
    if not raw.strip():
        raise _unprocessable(
            [{"loc": ["body"], "msg": "field required", "type": "value_error.missing"}]
        )
    try:
        payload = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        position = error.pos if isinstance(error, json.JSONDecodeError) else 0
        reason = error.msg if isinstance(error, json.JSONDecodeError) else "invalid UTF-8"
        raise _unprocessable(
            [
                {
                    "type": "json_invalid",
                    "loc": ["body", position],
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": reason},
                }
            ]
        ) from None
    if not isinstance(payload, dict):
        raise _unprocessable(
            [{"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"}]
        )
    return payload


def _unprocessable(items: list[dict[str, Any]]) -> ApiError:
    return ApiError(json_response({"detail": items}, 422))
