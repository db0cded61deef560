"""A throwaway Redis for Celery's broker and result backend: the tests and `fal-platform dev
--stack` start one on a free loopback port and drop it afterwards.

Debian's `redis-server` (installed by `make test`'s `redis` target) runs in the foreground as a
`ManagedProcess`, so it stops with everything else the stack started. It keeps nothing on disk
(`--save ''`, no append-only file): Celery's queue only has to outlive a worker, not Redis.
Readiness is a real `PING` over the wire, not a log line.
"""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

from fal_platform.devstack.processes import ManagedProcess, ProcessStartError, StartStop, free_port

REDIS_SERVER = "redis-server"
STARTUP_TIMEOUT = 15.0


class RedisNotInstalledError(RuntimeError):
    """No `redis-server` on PATH: `make test` installs Debian's package (the `redis` target)."""


def redis_server_binary() -> str:
    found = shutil.which(REDIS_SERVER)
    if found is None:
        raise RedisNotInstalledError(
            f"{REDIS_SERVER} is not installed: run `make redis` (apt-get install redis-server)"
        )
    return found


def answers_ping(host: str, port: int) -> bool:
    """True when a Redis answers PING at host:port (the inline protocol needs no client)."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer(StartStop):
    """`with RedisServer(directory) as redis: redis.url` -> `redis://127.0.0.1:<port>/0`.

    Its log is `directory/redis.log`; a free port unless `port` is given.
    """

    def __init__(self, directory: Path, *, host: str = "127.0.0.1", port: int | None = None):
        self.directory = directory
        self.host = host
        self.port = port or free_port(host)
        self._child: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        argv = [
            redis_server_binary(),
            "--port", str(self.port),
            "--bind", self.host,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
        ]  # fmt: skip
        self._child = ManagedProcess(
            "redis-server",
            argv,
            env={},
            cwd=self.directory,
            ready_url="",
            log_path=self.directory / "redis.log",
            stop_grace=5.0,
        ).start()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        assert self._child is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not answers_ping(self.host, self.port):
            code = self._child.exit_code()
            if code is not None or time.monotonic() > deadline:
                output = self._child.output()[-2000:]
                self.stop()
                raise ProcessStartError(
                    f"redis-server on {self.host}:{self.port} did not answer PING "
                    f"(exit code {code}); last output:\n{output}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.stop()
