"""Runs the app under uvicorn with settings that keep it fast for benchmarks: one worker, no
access log, uvloop and httptools when installed (uvicorn's "auto")."""

from __future__ import annotations

import logging
import sys

import uvicorn

from fal_platform.emulator.app import create_app
from fal_platform.emulator.config import EmulatorConfig

_DROPPED_MESSAGE = "ASGI callable returned without completing response."


class _IntentionalDropFilter(logging.Filter):
    """Injected dropped connections are the point, not an error worth a log line each."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _DROPPED_MESSAGE


def serve(config: EmulatorConfig) -> None:
    uvicorn_config = uvicorn.Config(
        create_app(config),
        host=config.host,
        port=config.port,
        loop=config.loop,
        http=config.http,
        log_level=config.log_level,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
        backlog=4096,
    )
    logging.getLogger("uvicorn.error").addFilter(_IntentionalDropFilter())
    print(
        f"fal emulator on http://{config.host}:{config.port} "
        f"({config.models} models, seed {config.seed}, require_key={config.require_key})",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.Server(uvicorn_config).run()
