"""The emulator's own control surface under /_emulator (not part of fal's protocol).

GET  /_emulator/health                  {"status": "ok", "models": n, "seed": s, "jobs": n, "pid": p}
GET  /_emulator/stats                   counters (see stats.py)
POST /_emulator/stats/reset             {"status": "ok"}
GET  /_emulator/config                  the current EmulatorConfig (accepted_key masked)
POST /_emulator/config                  {option: value, ...} -> the new config; 400 if invalid
POST /_emulator/catalog/touch|add|deprecate   {"count": k} -> {"endpoint_ids": [...]}
"""

from __future__ import annotations

import json
import os
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from fal_platform.emulator.config import (
    STARTUP_ONLY_OPTIONS,
    EmulatorConfig,
)
from fal_platform.emulator.errors import json_response, platform_error
from fal_platform.emulator.state import EmulatorState

MAX_MUTATION_COUNT = 100_000


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.body() or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


async def health(request: Request, state: EmulatorState) -> Response:
    return json_response(
        {
            "status": "ok",
            "models": len(state.catalog),
            "seed": state.config.seed,
            "jobs": len(state.jobs),
            "pid": os.getpid(),  # which process answers: a starter tells its child from another
        }
    )


async def get_stats(request: Request, state: EmulatorState) -> Response:
    snapshot = state.stats.snapshot(state.jobs.state_counts(state.clock()))
    snapshot["webhooks"] = dict(state.webhooks.counts)
    return json_response(snapshot)


async def reset_stats(request: Request, state: EmulatorState) -> Response:
    state.stats.reset()
    state.webhooks.counts.clear()
    return json_response({"status": "ok"})


async def get_config(request: Request, state: EmulatorState) -> Response:
    return json_response(state.config.public_dict())


async def update_config(request: Request, state: EmulatorState) -> Response:
    changes = await _json_object(request)
    if changes is None:
        return platform_error(400, "validation_error", "Body must be a JSON object")
    unknown = sorted(set(changes) - set(EmulatorConfig.model_fields))
    if unknown:
        return platform_error(400, "validation_error", f"Unknown option(s): {unknown}")
    current = state.config
    fixed = sorted(
        name
        for name in changes
        if name in STARTUP_ONLY_OPTIONS and changes[name] != getattr(current, name)
    )
    if fixed:
        return platform_error(400, "validation_error", f"Only settable at startup: {fixed}")
    merged = {name: getattr(current, name) for name in EmulatorConfig.model_fields}
    merged.update(changes)
    try:
        config = EmulatorConfig.model_validate(merged)
    except ValidationError as error:
        return platform_error(400, "validation_error", str(error))
    state.reconfigure(config)
    return json_response(config.public_dict())


async def mutate_catalog(request: Request, state: EmulatorState) -> Response:
    action = request.path_params["action"]
    body = await _json_object(request)
    count = body.get("count") if body is not None else None
    if (
        not isinstance(count, int)
        or isinstance(count, bool)
        or not 0 <= count <= MAX_MUTATION_COUNT
    ):
        return platform_error(400, "validation_error", 'Body must be {"count": <int >= 0>}')
    mutations = {
        "touch": state.catalog.touch,
        "add": state.catalog.add,
        "deprecate": state.catalog.deprecate,
    }
    if action not in mutations:
        return platform_error(404, "not_found", f"Unknown catalog action '{action}'")
    return json_response({"endpoint_ids": mutations[action](count)})
