"""`POST /run/{endpoint_id}/stream`: fal.run's streaming variant (fal_protocol.md section 2).

Server-sent `data:` events with partial outputs while the job runs; the last event is the final
output, then the stream closes. Image and speech-to-text endpoints stream (they are the ones fal
offers streaming for); the others answer 404, as an app without a `/stream` route does (GUESS:
fal's exact answer there is not documented). A job planned to fail answers its error status and
body instead of a stream, like the plain run route.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from fal_platform.emulator.categories import IMAGE_CATEGORIES, SPEECH_TO_TEXT
from fal_platform.emulator.errors import REQUEST_ID_HEADER, ApiError, queue_error
from fal_platform.emulator.jobs import Job
from fal_platform.emulator.routes_common import base_url, job_output, read_json_object
from fal_platform.emulator.routes_queue import model_or_404, result_response, start_sync_job
from fal_platform.emulator.state import EmulatorState

STREAMING_CATEGORIES = IMAGE_CATEGORIES | {SPEECH_TO_TEXT}
PARTIAL_EVENTS = 3
"""Partial events before the final one, evenly spread over the inference time."""


def _event(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, separators=(',', ':'))}\n\n"


async def _events(state: EmulatorState, job: Job, base: str) -> AsyncIterator[str]:
    for step in range(1, PARTIAL_EVENTS + 1):
        at = job.started_at + job.inference_time * step / (PARTIAL_EVENTS + 1)
        await asyncio.sleep(max(0.0, at - state.clock()))
        yield _event({"partial": True, "progress": round(step / (PARTIAL_EVENTS + 1), 3)})
    await asyncio.sleep(max(0.0, job.ended_at - state.clock()))
    yield _event(job_output(state, job, base))


async def run_stream(request: Request, state: EmulatorState) -> Response:
    model = model_or_404(state, request.path_params["endpoint_id"])
    if model.category not in STREAMING_CATEGORIES:
        raise ApiError(queue_error(404, f"Application '{model.endpoint_id}' does not stream"))
    job = await start_sync_job(state, model, await read_json_object(request), base_url(request))
    if job.error is not None:
        await asyncio.sleep(max(0.0, job.ended_at - state.clock()))
        return result_response(state, job, base_url(request))
    return StreamingResponse(
        _events(state, job, base_url(request)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", REQUEST_ID_HEADER: job.request_id},
    )
