"""The wrapper every counted route goes through: stats, auth, rate limits and faults.

It is a raw ASGI app rather than a Starlette endpoint because a dropped connection has to be
produced below the Response abstraction: send the headers (with the full Content-Length) and
one byte of body, then return, and uvicorn closes the socket mid-body.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from fal_platform.emulator.errors import (
    REQUEST_ID_HEADER,
    ApiError,
    gateway_error,
    rate_limited,
    unauthorized,
)
from fal_platform.emulator.state import EmulatorState

Handler = Callable[[Request, EmulatorState], Awaitable[Response]]
UNAUTHENTICATED_ROUTES = frozenset(
    {"media", "cdn_file", "storage_put", "cdn_upload", "cdn_multipart"}
)
"""Media and uploaded files are public; an upload URL is signed; the CDN checks its own token."""
MALFORMED_BODY = {"unexpected": "malformed response injected by the fal emulator"}


class InstrumentedEndpoint:
    def __init__(self, route: str, handler: Handler, state: EmulatorState) -> None:
        self.route = route
        self.handler = handler
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """count -> auth -> 429/5xx (before any work) -> handler -> hang/drop (after the work)."""
        state, route = self.state, self.route
        state.stats.request(route)

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state.stats.response(route, message["status"])
            await send(message)

        request = Request(scope, receive)
        response = self._reject_unauthenticated(request)
        if response is None:
            decision = state.faults.decide(route, state.clock())
            if decision.rate_limited:
                state.stats.fault(route, "rate_limit")
                send_header = state.config.retry_after_header
                response = rate_limited(route, decision.retry_after if send_header else None)
            elif decision.fail:
                state.stats.fault(route, "fail")
                response = gateway_error(state.config.fail_status)
            else:
                try:
                    response = await self.handler(request, state)
                except ApiError as error:
                    response = error.response
                if decision.malformed and response.status_code == 200:
                    state.stats.fault(route, "malformed")
                    response = JSONResponse(MALFORMED_BODY)
                if decision.hang_seconds > 0:
                    state.stats.fault(route, "timeout")
                    await asyncio.sleep(decision.hang_seconds)
                if decision.drop:
                    state.stats.fault(route, "drop")
                    await _drop_mid_body(response, counting_send)
                    return
        await response(scope, receive, counting_send)

    def _reject_unauthenticated(self, request: Request) -> Response | None:
        config = self.state.config
        if not config.require_key or self.route in UNAUTHENTICATED_ROUTES:
            return None
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        key = key.strip()
        if scheme.lower() != "key" or not key:
            return unauthorized(self.route, "Missing or malformed Authorization header")
        accepted = config.accepted_key
        if accepted is not None and not hmac.compare_digest(
            key.encode(), accepted.get_secret_value().encode()
        ):
            return unauthorized(self.route, "Invalid API key")
        return None


async def _drop_mid_body(response: Response, send: Send) -> None:
    """Start the response, send at most one byte, and return without finishing it."""
    headers = [(k, v) for k, v in response.raw_headers if k.lower() != REQUEST_ID_HEADER.encode()]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    body = getattr(response, "body", b"")
    if body:
        await send({"type": "http.response.body", "body": bytes(body[:1]), "more_body": True})
