"""The webhook receiver as a child process: one command line for `fal-platform dev` and tests."""

from __future__ import annotations

import sys
from pathlib import Path

from fal_platform.devstack.processes import ManagedProcess
from fal_platform.target import DEFAULT_EMULATOR_HOST
from fal_platform.webhooks.receiver import HEALTH_PATH, WEBHOOK_PATH

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
ENV_WEBHOOK_URL = "FAL_PLATFORM_WEBHOOK_URL"
"""Webhook mode for `fal-platform dev` and the Dagster resource: the URL fal should call."""


def receiver_url(port: int, host: str = DEFAULT_EMULATOR_HOST) -> str:
    """The URL fal (or the emulator) delivers to, for a receiver on this machine."""
    return f"http://{host}:{port}{WEBHOOK_PATH}"


def receiver_child(
    *,
    port: int,
    db: Path,
    jwks_url: str | None,
    env: dict[str, str],
    log_path: Path | None,
    host: str = DEFAULT_EMULATOR_HOST,
    min_refetch_seconds: float | None = None,
) -> ManagedProcess:
    """`python -m fal_platform.cli webhooks --host --port --db [--jwks-url]`, not started."""
    argv = [sys.executable, "-m", "fal_platform.cli", "webhooks", "--host", host]
    argv += ["--port", str(port), "--db", str(db)]
    if jwks_url is not None:
        argv += ["--jwks-url", jwks_url]
    if min_refetch_seconds is not None:
        argv += ["--min-refetch-seconds", str(min_refetch_seconds)]
    return ManagedProcess(
        "webhook receiver",
        argv,
        env=env,
        cwd=_PROJECT_ROOT,
        ready_url=f"http://{host}:{port}{HEALTH_PATH}",
        log_path=log_path,
        stop_grace=5.0,
        poll_interval=0.05,
    )
