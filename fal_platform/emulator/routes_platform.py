"""The platform API under /v1: model search, pricing, estimates and request history
(fal_protocol.md section 3). Errors use the platform's `{"error": {...}}` body."""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import math
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from fal_platform.emulator import pricing, schemas
from fal_platform.emulator.catalog import Model
from fal_platform.emulator.errors import (
    ApiError,
    json_response,
    platform_bad_request,
    platform_error,
)
from fal_platform.emulator.jobs import COMPLETED, IN_QUEUE, Job
from fal_platform.emulator.routes_common import base_url, job_output
from fal_platform.emulator.state import EmulatorState
from fal_platform.emulator.timeutil import iso_millis, parse_iso

MODEL_EXPANSIONS = ("openapi-3.0", "enterprise_status")
MAX_ENDPOINT_IDS = 50
HISTORY_DEFAULT_LIMIT = 50
HISTORY_MAX_LIMIT = 100
HISTORY_STATUSES = ("success", "error", "user_error")
HISTORY_SORTS = ("ended_at", "duration")
DEFAULT_HISTORY_WINDOW = 86_400.0
ESTIMATE_TYPES = {"historical_api_price": "call_quantity", "unit_price": "unit_quantity"}


# --- parameter helpers -------------------------------------------------------------------------


def _multi(params: QueryParams, name: str) -> list[str]:
    """A repeatable parameter that may also be comma-separated; order kept, duplicates dropped."""
    values: list[str] = []
    for raw in params.getlist(name):
        for part in raw.split(","):
            part = part.strip()
            if part and part not in values:
                values.append(part)
    return values


def _limit(params: QueryParams, default: int, maximum: int) -> int:
    raw = params.get("limit")
    if raw is None:
        return min(default, maximum)
    try:
        value = int(raw)
    except ValueError:
        raise platform_bad_request("limit must be an integer") from None
    if not 1 <= value <= maximum:
        raise platform_bad_request(f"limit must be between 1 and {maximum}")
    return value


def encode_cursor(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode()


def _offset(params: QueryParams) -> int:
    raw = params.get("cursor")
    if not raw:
        return 0
    try:
        offset = int(base64.b64decode(raw.encode(), validate=True).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise platform_bad_request("Invalid cursor") from None
    if offset < 0:
        raise platform_bad_request("Invalid cursor")
    return offset


def _page(items: list[Any], offset: int, limit: int) -> tuple[list[Any], str | None]:
    end = offset + limit
    return items[offset:end], encode_cursor(end) if end < len(items) else None


def _known_models(state: EmulatorState, endpoint_ids: list[str]) -> list[Model]:
    models = [state.catalog.get(endpoint_id) for endpoint_id in endpoint_ids]
    missing = [eid for eid, model in zip(endpoint_ids, models, strict=True) if model is None]
    if missing:
        raise ApiError(
            platform_error(404, "not_found", f"Endpoint(s) not found: {', '.join(missing)}")
        )
    return [model for model in models if model is not None]


def _expansion_failed(message: str) -> dict[str, Any]:
    return {"error": {"code": "expansion_failed", "message": message}}


# --- /v1/models --------------------------------------------------------------------------------


async def list_models(request: Request, state: EmulatorState) -> Response:
    params, config = request.query_params, state.config
    expand = _multi(params, "expand")
    unknown = [value for value in expand if value not in MODEL_EXPANSIONS]
    if unknown:
        raise platform_bad_request(
            f"Unknown expand value(s) {unknown}; allowed: {list(MODEL_EXPANSIONS)}"
        )
    maximum = config.models_max_limit_expanded if expand else config.models_max_limit
    limit = _limit(params, config.models_default_limit, maximum)
    offset = _offset(params)
    endpoint_ids = _multi(params, "endpoint_id")
    if len(endpoint_ids) > MAX_ENDPOINT_IDS:
        raise platform_bad_request(f"At most {MAX_ENDPOINT_IDS} endpoint_id values are allowed")
    status = params.get("status") or None
    if status is not None and status not in ("active", "deprecated"):
        raise platform_bad_request("status must be 'active' or 'deprecated'")
    found = state.catalog.search(
        endpoint_ids=endpoint_ids or None,
        q=params.get("q") or None,
        category=params.get("category") or None,
        status=status,
    )
    page, next_cursor = _page(found, offset, limit)
    authenticated = bool(request.headers.get("authorization"))
    models = [_model_json(model, expand, authenticated) for model in page]
    state.stats.models_page(len(models))
    return json_response(
        {"models": models, "next_cursor": next_cursor, "has_more": next_cursor is not None}
    )


def _model_json(model: Model, expand: list[str], authenticated: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"endpoint_id": model.endpoint_id}
    if model.metadata is not None:
        body["metadata"] = model.metadata.to_json(authenticated)
    if "openapi-3.0" in expand:
        body["openapi"] = (
            schemas.openapi_document(model)
            if model.metadata is not None
            else _expansion_failed("No OpenAPI schema is registered for this endpoint")
        )
    if "enterprise_status" in expand:
        body["enterprise_status"] = (
            model.enterprise_status
            if model.metadata is not None
            else _expansion_failed("No enterprise status is registered for this endpoint")
        )
    return body


# --- /v1/models/pricing ------------------------------------------------------------------------


async def get_pricing(request: Request, state: EmulatorState) -> Response:
    endpoint_ids = _multi(request.query_params, "endpoint_id")
    if not endpoint_ids:
        raise platform_bad_request("endpoint_id is required")
    if len(endpoint_ids) > MAX_ENDPOINT_IDS:
        raise platform_bad_request(f"At most {MAX_ENDPOINT_IDS} endpoint_id values are allowed")
    models = _known_models(state, endpoint_ids)
    unpriced = [eid for eid in endpoint_ids if eid in state.config.unpriced_endpoints]
    if unpriced:
        raise ApiError(platform_error(404, "not_found", f"No price for: {', '.join(unpriced)}"))
    prices = [pricing.price_json(model) for model in models]
    return json_response({"prices": prices, "next_cursor": None, "has_more": False})


async def estimate_pricing(request: Request, state: EmulatorState) -> Response:
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise platform_bad_request("Body must be valid JSON") from None
    if not isinstance(body, dict):
        raise platform_bad_request("Body must be a JSON object")
    estimate_type = body.get("estimate_type")
    if estimate_type not in ESTIMATE_TYPES:
        raise platform_bad_request(f"estimate_type must be one of {list(ESTIMATE_TYPES)}")
    endpoints = body.get("endpoints")
    if not isinstance(endpoints, dict) or not endpoints:
        raise platform_bad_request("endpoints must be a non-empty object")
    if len(endpoints) > MAX_ENDPOINT_IDS:
        raise platform_bad_request(f"At most {MAX_ENDPOINT_IDS} endpoints are allowed")
    quantity_key = ESTIMATE_TYPES[estimate_type]
    quantities: list[float] = []
    for endpoint_id, entry in endpoints.items():
        quantity = entry.get(quantity_key) if isinstance(entry, dict) else None
        valid = (
            isinstance(quantity, int) and not isinstance(quantity, bool) and quantity >= 1
            if quantity_key == "call_quantity"
            else isinstance(quantity, (int, float))
            and not isinstance(quantity, bool)
            and math.isfinite(quantity)
            and quantity >= 0.000001
        )
        if not valid:
            raise platform_bad_request(f"endpoints.{endpoint_id}.{quantity_key} is invalid")
        quantities.append(float(quantity))  # type: ignore[arg-type]
    models = _known_models(state, list(endpoints))
    total = pricing.estimate_cost(estimate_type, list(zip(models, quantities, strict=True)))
    return json_response(
        {"estimate_type": estimate_type, "total_cost": total, "currency": pricing.CURRENCY}
    )


# --- /v1/models/requests/by-endpoint -----------------------------------------------------------


def _time_param(params: QueryParams, name: str) -> float | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        return parse_iso(raw)
    except ValueError:
        raise platform_bad_request(f"{name} must be an ISO8601 date or datetime") from None


def _history_status(job: Job) -> str:
    return job.error.history_status if job.error else "success"


async def request_history(request: Request, state: EmulatorState) -> Response:
    params = request.query_params
    endpoint_ids = params.getlist("endpoint_id")
    if len(endpoint_ids) != 1 or not endpoint_ids[0]:
        raise platform_bad_request("exactly one endpoint_id is required")
    (model,) = _known_models(state, endpoint_ids)
    limit = _limit(params, HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT)
    offset = _offset(params)
    status = params.get("status") or None
    if status is not None and status not in HISTORY_STATUSES:
        raise platform_bad_request(f"status must be one of {list(HISTORY_STATUSES)}")
    sort_by = params.get("sort_by") or "ended_at"
    if sort_by not in HISTORY_SORTS:
        raise platform_bad_request(f"sort_by must be one of {list(HISTORY_SORTS)}")
    expand = _multi(params, "expand")
    if any(value != "payloads" for value in expand):
        raise platform_bad_request("expand accepts only 'payloads'")
    now = state.clock()
    start = _time_param(params, "start")
    end = _time_param(params, "end")
    start = now - DEFAULT_HISTORY_WINDOW if start is None else start
    request_id = params.get("request_id") or None

    jobs = state.jobs.for_endpoint(model.endpoint_id)
    first = bisect.bisect_left(jobs, start, key=lambda job: job.submitted_at)
    last = (
        len(jobs)
        if end is None
        else bisect.bisect_left(jobs, end, key=lambda job: job.submitted_at)
    )
    selected = jobs[first:last]
    if request_id is not None:
        selected = [job for job in selected if job.request_id == request_id]
    if status is not None:
        selected = [
            job
            for job in selected
            if job.state(now) == COMPLETED and _history_status(job) == status
        ]

    def sort_key(job: Job) -> tuple[float, float]:
        done = job.state(now) == COMPLETED
        primary = (
            (job.ended_at if sort_by == "ended_at" else job.inference_time) if done else math.inf
        )
        return primary, job.submitted_at

    selected.sort(key=sort_key, reverse=True)  # newest/longest first, in-flight ones on top
    page, next_cursor = _page(selected, offset, limit)
    with_payloads = "payloads" in expand
    base = base_url(request)
    items = [_history_item(state, job, now, with_payloads, base) for job in page]
    return json_response(
        {"items": items, "next_cursor": next_cursor, "has_more": next_cursor is not None}
    )


def _history_item(
    state: EmulatorState, job: Job, now: float, with_payloads: bool, base: str
) -> dict[str, Any]:
    job_state = job.state(now)
    done = job_state == COMPLETED
    ran = job_state != IN_QUEUE and (job.ended_at > job.started_at or job.error is None)
    item: dict[str, Any] = {
        "request_id": job.request_id,
        "endpoint_id": job.model.endpoint_id,
        "started_at": iso_millis(job.started_at) if ran else None,
        "sent_at": iso_millis(job.submitted_at),
        "ended_at": iso_millis(job.ended_at) if done else None,
        "status_code": job.status_code if done else None,
        "duration": round(job.inference_time, 3) if done else None,
    }
    if with_payloads:
        item["json_input"] = job.payload
        output: Any = None
        if done and job.error is not None:
            output = job.error.body()
        elif done:
            output = job_output(state, job, base)
        item["json_output"] = output
    return item
