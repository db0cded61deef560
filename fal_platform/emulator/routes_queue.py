"""The queue protocol at the root (submit, status, status stream, result, cancel) and the
synchronous `/run/{endpoint_id}` route (fal_protocol.md sections 1 and 2).

Choices where fal's behaviour is not documented (GUESS), all overridable by config:
- a result fetched before completion answers 400 {"detail": "Request is still in progress"}
  (or 202 with the status body when result_pending_status=202);
- a cancelled job completes with error_type client_cancelled, and its result answers 499
  {"detail": "Request was cancelled", "error_type": "client_cancelled"} (fal's code for it);
- a 422 job reports error_type "validation_error" in its status and X-Fal-Error-Type header;
- the status stream sends only the log lines that are new since its previous event;
- with status_stream off, the stream route answers 404 {"detail": "Not Found"}, as a
  fal-compatible server without SSE does.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from fal_platform.emulator import schemas
from fal_platform.emulator.catalog import Model
from fal_platform.emulator.errors import REQUEST_ID_HEADER, ApiError, json_response, queue_error
from fal_platform.emulator.input_files import unfetchable_inputs
from fal_platform.emulator.jobs import COMPLETED, IN_QUEUE, Job
from fal_platform.emulator.pricing import billable_units, format_units
from fal_platform.emulator.routes_common import base_url, job_output, read_json_object
from fal_platform.emulator.state import EmulatorState
from fal_platform.emulator.stats import input_hash

MAX_STREAM_SLEEP = 0.5  # re-check at least this often (other jobs' cancels move positions)
_TRUE = frozenset({"1", "true", "yes", "on", "t", "y"})
_FALSE = frozenset({"0", "false", "no", "off", "f", "n", ""})


def request_urls(base: str, app_path: str, request_id: str) -> dict[str, str]:
    response_url = f"{base}/{app_path}/requests/{request_id}"
    return {
        "response_url": response_url,
        "status_url": f"{response_url}/status",
        "cancel_url": f"{response_url}/cancel",
    }


def model_or_404(state: EmulatorState, endpoint_id: str) -> Model:
    model = state.catalog.get(endpoint_id)
    if model is None:
        raise ApiError(queue_error(404, f"Application '{endpoint_id}' not found"))
    return model


def _job_or_404(request: Request, state: EmulatorState) -> Job:
    """The job named in the URL; its app must match (status URLs carry only owner/app)."""
    job = state.jobs.get(request.path_params["request_id"])
    if job is None or job.model.app_path != request.path_params["app_path"]:
        raise ApiError(queue_error(404, "Request not found"))
    return job


def _with_logs(request: Request) -> bool:
    """fal_client sends logs=true|false, the JS client and docs logs=1|0."""
    raw = request.query_params.get("logs", "0").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ApiError(
        json_response(
            {
                "detail": [
                    {
                        "loc": ["query", "logs"],
                        "msg": "value could not be parsed to a boolean",
                        "type": "type_error.bool",
                    }
                ]
            },
            422,
        )
    )


def _start_timeout(request: Request) -> float | None:
    raw = request.headers.get("x-fal-request-timeout")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ApiError(
            queue_error(400, "Invalid X-Fal-Request-Timeout header", error_type="bad_request")
        )
    return value


def status_body(
    state: EmulatorState, job: Job, now: float, base: str, *, with_logs: bool
) -> dict[str, Any]:
    job_state = job.state(now)
    body: dict[str, Any] = {
        "status": job_state,
        "request_id": job.request_id,
        **request_urls(base, job.model.app_path, job.request_id),
    }
    if job_state == IN_QUEUE:
        body["queue_position"] = state.jobs.queue_position(job, now)
    body["logs"] = job.logs(now) if with_logs else None
    if job_state == COMPLETED:
        body["metrics"] = {"inference_time": round(job.inference_time, 4)}
        if job.error is not None:
            body["error"] = job.error.message
            body["error_type"] = job.error.error_type
    else:
        body["metrics"] = {}
    return body


def result_response(state: EmulatorState, job: Job, base: str) -> Response:
    """A completed job's result: the output, or the error it failed with."""
    headers = {REQUEST_ID_HEADER: job.request_id}
    error = job.error
    if error is not None:
        headers["X-Fal-Error-Type"] = error.error_type
        headers["X-Fal-Billable-Units"] = "0"
        if error.timeout_type is not None:
            headers["X-Fal-Request-Timeout-Type"] = error.timeout_type
        return json_response(error.body(), error.status_code, headers)
    output = job_output(state, job, base)
    units = billable_units(job.model, job.payload, job.inference_time)
    headers["X-Fal-Billable-Units"] = format_units(units)
    return json_response(output, 200, headers)


# --- handlers ---------------------------------------------------------------------------------


async def submit(request: Request, state: EmulatorState) -> Response:
    model = model_or_404(state, request.path_params["endpoint_id"])
    payload = await read_json_object(request)
    now = state.clock()
    max_queue = request.query_params.get("fal_max_queue_length")
    if (
        max_queue is not None
        and max_queue.isdigit()
        and state.jobs.queue_length(model.app_path, now) > int(max_queue)
    ):
        raise ApiError(queue_error(429, "Queue is full (fal_max_queue_length)"))
    start_timeout = _start_timeout(request)
    config = state.config
    problems = schemas.validate_input(model.category, payload)
    problems += await unfetchable_inputs(state, model.category, payload, base_url(request))
    plan = state.planner.plan(config, problems, queued=True)
    digest = input_hash(payload)
    job = state.jobs.add(
        model,
        payload,
        digest,
        now=now,
        wait=plan.wait,
        inference=plan.inference,
        error=plan.error,
        start_timeout=start_timeout,
    )
    state.stats.accepted_submit(model.endpoint_id, digest)
    base = base_url(request)
    webhook = request.query_params.get("fal_webhook")
    if webhook:  # deliver the outcome when the job ends (emulator/webhooks.py)
        state.webhooks.schedule(job, webhook, lambda: job_output(state, job, base))
    body = {
        "request_id": job.request_id,
        **request_urls(base, model.app_path, job.request_id),
        "queue_position": state.jobs.queue_position(job, now),
        "status": IN_QUEUE,
    }
    return json_response(body, config.submit_status_code, {REQUEST_ID_HEADER: job.request_id})


async def status(request: Request, state: EmulatorState) -> Response:
    job = _job_or_404(request, state)
    with_logs = _with_logs(request)
    body = status_body(state, job, state.clock(), base_url(request), with_logs=with_logs)
    code = 200 if body["status"] == COMPLETED else 202
    return json_response(body, code, {REQUEST_ID_HEADER: job.request_id})


async def status_stream(request: Request, state: EmulatorState) -> Response:
    if not state.config.status_stream:
        # What a server without the route answers (Starlette's own 404), before any lookup.
        return json_response({"detail": "Not Found"}, 404)
    job = _job_or_404(request, state)
    events = _status_events(state, job, base_url(request), with_logs=_with_logs(request))
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
            REQUEST_ID_HEADER: job.request_id,
        },
    )


async def _status_events(
    state: EmulatorState, job: Job, base: str, *, with_logs: bool
) -> AsyncIterator[str]:
    """`data: <status>` on every change, `: ping` when quiet, closed after COMPLETED."""
    last_key: tuple[Any, ...] | None = None
    logs_sent = 0
    last_write = state.clock()
    while True:
        now = state.clock()
        body = status_body(state, job, now, base, with_logs=False)
        logs = job.logs(now) if with_logs else []
        key = (body["status"], body.get("queue_position"))
        if key != last_key or len(logs) > logs_sent:
            body["logs"] = logs[logs_sent:] if with_logs else None
            logs_sent, last_key, last_write = len(logs), key, now
            yield f"data: {json.dumps(body, separators=(',', ':'))}\n\n"
        if body["status"] == COMPLETED:
            return
        ping_at = last_write + state.config.stream_ping_interval
        wake = min(state.jobs.next_change_at(job, now), ping_at, now + MAX_STREAM_SLEEP)
        await asyncio.sleep(max(0.0, wake - now))
        after = state.clock()
        if after >= last_write + state.config.stream_ping_interval:
            last_write = after
            yield ": ping\n\n"


async def result(request: Request, state: EmulatorState) -> Response:
    job = _job_or_404(request, state)
    now = state.clock()
    if job.state(now) != COMPLETED:
        if state.config.result_pending_status == 202:
            body = status_body(state, job, now, base_url(request), with_logs=False)
            return json_response(body, 202, {REQUEST_ID_HEADER: job.request_id})
        return queue_error(400, "Request is still in progress", request_id=job.request_id)
    return result_response(state, job, base_url(request))


async def cancel(request: Request, state: EmulatorState) -> Response:
    job = _job_or_404(request, state)
    headers = {REQUEST_ID_HEADER: job.request_id}
    if state.jobs.cancel(job, state.clock()):
        state.stats.cancels_accepted += 1
        return json_response({"status": "CANCELLATION_REQUESTED"}, 202, headers)
    return json_response({"status": "ALREADY_COMPLETED"}, 400, headers)


async def start_sync_job(
    state: EmulatorState, model: Model, payload: dict[str, Any], base: str
) -> Job:
    """A fal.run job (plain or streamed): no queue, it starts at once; an input URL the model
    cannot fetch fails it as at fal (`input_files.py`)."""
    problems = schemas.validate_input(model.category, payload)
    problems += await unfetchable_inputs(state, model.category, payload, base)
    plan = state.planner.plan(state.config, problems, queued=False)
    job = state.jobs.add(
        model,
        payload,
        input_hash(payload),
        now=state.clock(),
        wait=0.0,
        inference=plan.inference,
        error=plan.error,
        queued=False,
    )
    state.stats.runs += 1
    return job


async def run(request: Request, state: EmulatorState) -> Response:
    """fal.run: no queue; the response is the output once the inference time has passed."""
    model = model_or_404(state, request.path_params["endpoint_id"])
    job = await start_sync_job(state, model, await read_json_object(request), base_url(request))
    await asyncio.sleep(max(0.0, job.ended_at - state.clock()))
    return result_response(state, job, base_url(request))
