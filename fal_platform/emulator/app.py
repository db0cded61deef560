"""Builds the Starlette app: every route on one port.

Order matters: fixed prefixes (/_emulator, /v1, /media, /run) come before the catch-all queue
routes, and the submit route (POST to any path) comes last.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fal_platform.emulator import routes_admin as admin
from fal_platform.emulator import routes_media, routes_platform, routes_queue, routes_stream
from fal_platform.emulator import routes_storage as storage
from fal_platform.emulator.config import EmulatorConfig
from fal_platform.emulator.routing import Handler, InstrumentedEndpoint
from fal_platform.emulator.state import EmulatorState
from fal_platform.emulator.webhooks import JWKS_PATH

APP_REQUEST = "/{app_path:path}/requests/{request_id}"


async def webhook_keys(request: Request, state: EmulatorState) -> Response:
    """The public key of the emulator's webhook signatures (point the receiver here)."""
    return JSONResponse(state.webhooks.jwks())


def create_app(config: EmulatorConfig, clock: Callable[[], float] = time.time) -> Starlette:
    state = EmulatorState.create(config, clock)

    def counted(path: str, name: str, handler: Handler, method: str) -> Route:
        return Route(path, InstrumentedEndpoint(name, handler, state), methods=[method], name=name)

    def plain(path: str, handler: Handler, method: str) -> Route:
        async def endpoint(request: Request) -> Response:
            return await handler(request, state)

        return Route(path, endpoint, methods=[method])

    routes = [
        plain("/_emulator/health", admin.health, "GET"),
        plain("/_emulator/stats", admin.get_stats, "GET"),
        plain("/_emulator/stats/reset", admin.reset_stats, "POST"),
        plain("/_emulator/config", admin.get_config, "GET"),
        plain("/_emulator/config", admin.update_config, "POST"),
        plain("/_emulator/catalog/{action}", admin.mutate_catalog, "POST"),
        counted("/v1/models", "models", routes_platform.list_models, "GET"),
        counted("/v1/models/pricing", "pricing", routes_platform.get_pricing, "GET"),
        counted(
            "/v1/models/pricing/estimate",
            "pricing_estimate",
            routes_platform.estimate_pricing,
            "POST",
        ),
        counted(
            "/v1/models/requests/by-endpoint", "history", routes_platform.request_history, "GET"
        ),
        counted("/media/{request_id}/{name}", "media", routes_media.media_file, "GET"),
        *_storage_routes(counted),
        plain(JWKS_PATH, webhook_keys, "GET"),
        counted("/run/{endpoint_id:path}/stream", "run_stream", routes_stream.run_stream, "POST"),
        counted("/run/{endpoint_id:path}", "run", routes_queue.run, "POST"),
        counted(APP_REQUEST + "/status/stream", "status_stream", routes_queue.status_stream, "GET"),
        counted(APP_REQUEST + "/status", "status", routes_queue.status, "GET"),
        counted(APP_REQUEST + "/cancel", "cancel", routes_queue.cancel, "PUT"),
        counted(APP_REQUEST, "result", routes_queue.result, "GET"),
        counted("/{endpoint_id:path}", "submit", routes_queue.submit, "POST"),
    ]
    app = Starlette(routes=routes)
    app.state.emulator = state
    return app


def _storage_routes(counted: Callable[[str, str, Handler, str], Route]) -> list[Route]:
    """fal's storage API under /rest and its CDN under /cdn (routes_storage.py)."""
    part = "/cdn/files/{file_id}/{name}/multipart/{upload_id}"
    return [
        counted("/rest/storage/auth/token", "storage_token", storage.token, "POST"),
        counted("/rest/storage/upload/initiate", "storage_initiate", storage.initiate, "POST"),
        counted("/cdn/upload/{file_id}", "storage_put", storage.put_upload, "PUT"),
        counted("/cdn/files/upload", "cdn_upload", storage.cdn_upload, "POST"),
        counted("/cdn/files/upload/multipart", "cdn_multipart", storage.multipart_start, "POST"),
        counted(part + "/complete", "cdn_multipart", storage.multipart_complete, "POST"),
        counted(part + "/{part}", "cdn_multipart", storage.multipart_part, "PUT"),
        counted("/cdn/files/{file_id}/{name}", "cdn_file", storage.get_file, "GET"),
    ]


__all__ = ["create_app"]
