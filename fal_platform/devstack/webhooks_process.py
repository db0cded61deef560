"""The webhook receiver as a child process: one command line (`receiver_child`) for
`fal-platform dev`, and `ReceiverProcess` for tests and benchmarks."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import httpx

from fal_platform.devstack.processes import ManagedProcess, StartStop, free_port, isolated_env
from fal_platform.paths import ENV_DATABASE_URL
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


class ReceiverProcess(StartStop):
    """`fal-platform webhooks` on a free port, writing to `db`, trusting the keys at `jwks_url`.

    `stop()` then `start()` brings it back on the same port (a receiver that was down)."""

    def __init__(
        self,
        db: Path,
        jwks_url: str,
        *,
        min_refetch_seconds: float = 0.0,
        database_url: str | None = None,
    ) -> None:
        self.db = db
        self.jwks_url = jwks_url
        self.database_url = database_url
        """Set: the inbox is in that Postgres database (passed in the child's environment,
        never on its command line)."""
        self.min_refetch_seconds = min_refetch_seconds
        self.port = free_port(DEFAULT_EMULATOR_HOST)
        self._child: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return receiver_url(self.port)

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

    @property
    def health_url(self) -> str:
        return f"http://{DEFAULT_EMULATOR_HOST}:{self.port}/health"

    def start(self, *, wait: bool = True) -> ReceiverProcess:
        """Start the child; `wait=False` returns at once (call `wait_ready`), e.g. to start it
        beside the emulator whose keys it trusts (it fetches them again at the first delivery)."""
        handle, name = tempfile.mkstemp(prefix="fal-webhooks-", suffix=".log")
        os.close(handle)  # ManagedProcess opens it for the child
        self._child = receiver_child(
            port=self.port,
            db=self.db,
            jwks_url=self.jwks_url,
            env=isolated_env(
                **({ENV_DATABASE_URL: self.database_url} if self.database_url else {})
            ),
            log_path=Path(name),
            min_refetch_seconds=self.min_refetch_seconds,
        ).start()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        if self._child is None:
            raise RuntimeError("the receiver is not started")
        self._child.wait_ready(timeout)

    def stop(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.stop(grace=5.0)
            if child.log_path is not None:
                child.log_path.unlink(missing_ok=True)

    def health(self) -> dict[str, object]:
        data: dict[str, object] = httpx.get(self.health_url, timeout=10.0).json()
        return data
