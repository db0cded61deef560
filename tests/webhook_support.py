"""A webhook receiver process on loopback for the webhook tests and the benchmark."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from types import TracebackType

import httpx

from fal_platform.devstack.processes import ManagedProcess, free_port, isolated_env
from fal_platform.devstack.webhooks_process import receiver_child, receiver_url
from fal_platform.target import DEFAULT_EMULATOR_HOST


class ReceiverProcess:
    """`fal-platform webhooks` on a free port, writing to `db`, trusting the keys at `jwks_url`.

    `restart()` stops it and starts it again on the same port (the receiver-down test)."""

    def __init__(self, db: Path, jwks_url: str, *, min_refetch_seconds: float = 0.0) -> None:
        self.db = db
        self.jwks_url = jwks_url
        self.min_refetch_seconds = min_refetch_seconds
        self.port = free_port(DEFAULT_EMULATOR_HOST)
        self._child: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return receiver_url(self.port)

    @property
    def health_url(self) -> str:
        return f"http://{DEFAULT_EMULATOR_HOST}:{self.port}/health"

    def start(self) -> ReceiverProcess:
        handle, name = tempfile.mkstemp(prefix="fal-webhooks-", suffix=".log")
        os.close(handle)  # ManagedProcess opens it for the child
        self._child = receiver_child(
            port=self.port,
            db=self.db,
            jwks_url=self.jwks_url,
            env=isolated_env(),
            log_path=Path(name),
            min_refetch_seconds=self.min_refetch_seconds,
        ).start()
        self._child.wait_ready(30.0)
        return self

    def stop(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.stop(grace=5.0)
            if child.log_path is not None:
                child.log_path.unlink(missing_ok=True)

    def health(self) -> dict[str, object]:
        data: dict[str, object] = httpx.get(self.health_url, timeout=10.0).json()
        return data

    def __enter__(self) -> ReceiverProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
