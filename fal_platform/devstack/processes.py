"""Children that can be stopped with everything they started: one session, one process group.

`dg dev` forks a webserver and a daemon, which fork code servers and run workers; stopping
only the pid we started can leave those behind. Started with `start_new_session=True`, the child
is the leader of its own process group (pgid == pid) and all of its descendants stay in that
group (Dagster never calls setsid), so `killpg` reaches every one of them. A new session also
keeps a terminal's Ctrl-C away from the children: the parent decides how they stop.

`ManagedProcess` is the one way the dev stack, the emulator fixture, the UI tests and the
screenshot script start a child. The process table is read with psutil, skipping zombies: in a
container PID 1 may never reap re-parented children, and a zombie holds no resources but would
still answer `killpg(pgid, 0)`.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Self

import httpx
import psutil

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
TARGET_ENV_PREFIXES = ("FAL_KEY", "FAL_PLATFORM_", "FAL_EMULATOR_")
NO_TELEMETRY_ENV = {"DAGSTER_DISABLE_TELEMETRY": "1"}
"""Dagster's webserver and daemon upload `$DAGSTER_HOME/logs/` (`dagster/_core/telemetry_upload.py`)
whatever `telemetry.enabled` in dagster.yaml says; only this variable stops them. Every child the
dev stack, the tests and the benchmarks start carries it. (In-process Dagster, as in the demo,
runs no upload thread; its event log writes follow `telemetry.enabled`, off in our dagster.yaml.)"""


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (tests and dev never assume a fixed one is free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    """True if `host:port` can be bound now (SO_REUSEADDR, as uvicorn binds)."""
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError:
            return False
    return True


def isolated_env(**extra: str) -> dict[str, str]:
    """This environment minus anything that would point a child at real fal (or at another
    emulator or data directory), with the checkout importable, output unbuffered and Dagster's
    telemetry off; `extra` is applied last, so a caller states exactly what the child targets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(TARGET_ENV_PREFIXES)}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(_PROJECT_ROOT), env.get("PYTHONPATH", "")) if p
    )
    env["PYTHONUNBUFFERED"] = "1"
    env.update(NO_TELEMETRY_ENV)
    env.update(extra)
    return env


def _live(process: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        return process.status() != psutil.STATUS_ZOMBIE
    return False


def group_members(pgid: int) -> list[int]:
    """Pids of the live (non-zombie) processes in process group `pgid`."""
    members = []
    for process in psutil.process_iter():
        with contextlib.suppress(OSError, psutil.Error):
            if os.getpgid(process.pid) == pgid and _live(process):
                members.append(process.pid)
    return sorted(members)


def descendants(pid: int) -> list[int]:
    """Live descendants of `pid` (children, grandchildren...); [] once `pid` is gone."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []
    return sorted(child.pid for child in children if _live(child))


def is_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        return _live(psutil.Process(pid))
    except psutil.Error:
        return False


def _killpg(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _wait_group_empty(process: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while process.poll() is None or group_members(process.pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def stop_process_group(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM the whole group, wait up to `grace` seconds for it to empty, then SIGKILL it.

    The leader is reaped here; its descendants are reaped by whoever adopted them.
    """
    pgid = process.pid  # start_new_session made the leader's pid the group id
    if not _wait_group_empty(process, 0):
        _killpg(pgid, signal.SIGTERM)
        if not _wait_group_empty(process, grace):
            _killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5.0)
    _wait_group_empty(process, 5.0)


class ProcessStartError(RuntimeError):
    """A child exited or never became ready; the message quotes what it printed, if captured."""


class PortTakenError(ProcessStartError):
    """Another process answered on the child's port: the child lost a race for it. Its bind may
    even have succeeded without the listen taking effect (two sockets bound before either
    listened), so it would neither answer nor exit: waiting for it is pointless."""


_RUNNING: set[ManagedProcess] = set()  # strong refs: stopped at exit even if dropped


@atexit.register
def _stop_leftovers() -> None:
    """A child in its own session outlives us unless stopped; never leave one behind."""
    for child in list(_RUNNING):
        child.stop()


class StartStop:
    """`with server:` starts it and stops it whatever happens inside: every process and server
    the dev stack and the tests run (this module, `emulator_process.py`, `postgres.py`,
    `redis.py`, `webhooks_process.py`)."""

    def start(self) -> object:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class ManagedProcess(StartStop):
    """One child in its own session, its readiness URL, and a stop that leaves nothing behind.

    `with ManagedProcess(name, argv, env=..., cwd=..., ready_url=...) as child: ...`. With
    `log_path`, the child's output goes to that file (a file, not a pipe that could fill up and
    block it; quoted when it fails to start); without, it shares our terminal.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        ready_url: str,
        log_path: Path | None = None,
        stop_grace: float = 15.0,
        poll_interval: float = 0.2,
        answers_for: Callable[[httpx.Response, int], bool] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.cwd = cwd
        self.ready_url = ready_url
        self.log_path = log_path
        self.stop_grace = stop_grace
        self.poll_interval = poll_interval
        self.answers_for = answers_for
        """Whether a 200 from `ready_url` came from the child with this pid: another process
        may already serve that port (a race for a preferred port), and its answer is not ours."""
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self) -> ManagedProcess:
        if self.process is not None:
            return self
        if self.log_path is None:
            self.process = self._spawn(None)
        else:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("wb") as log:  # the child keeps its own copy of the fd
                self.process = self._spawn(log)
        _RUNNING.add(self)
        return self

    def _spawn(self, output: IO[bytes] | None) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=str(self.cwd),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT if output is not None else None,
            start_new_session=True,
        )

    def exit_code(self) -> int | None:
        """None while the leader runs."""
        return self.process.poll() if self.process is not None else None

    def output(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def wait_ready(
        self, timeout: float, *, should_stop: Callable[[], bool] = lambda: False
    ) -> bool:
        """Poll `ready_url` until it answers 200; False if `should_stop()` turned true first.

        Raises ProcessStartError if the child exits or the deadline passes, PortTakenError if
        another process answers on its port.
        """
        if self.process is None:
            raise ProcessStartError(f"{self.name} was not started")
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while not should_stop():
                code = self.process.poll()
                if code is not None:
                    raise ProcessStartError(self._failure(f"exited with code {code}"))
                with contextlib.suppress(httpx.TransportError):
                    response = client.get(self.ready_url)
                    if response.status_code == 200:
                        if self._ours(response):
                            return True
                        raise PortTakenError(
                            self._failure(
                                f"lost its port: another process answered {self.ready_url}"
                            )
                        )
                if time.monotonic() > deadline:
                    raise ProcessStartError(
                        self._failure(f"did not answer {self.ready_url} within {timeout:g}s")
                    )
                time.sleep(self.poll_interval)
        return False

    def _ours(self, response: httpx.Response) -> bool:
        """Whether a 200 from `ready_url` came from this child (see `answers_for`)."""
        assert self.process is not None
        return self.answers_for is None or self.answers_for(response, self.process.pid)

    def _failure(self, what: str) -> str:
        output = self.output().strip()
        tail = "\n".join(output.splitlines()[-30:])
        where = f" (log: {self.log_path})" if self.log_path else ""
        return f"{self.name} {what}{where}" + (f"; last output:\n{tail}" if tail else "")

    def stop(self, grace: float | None = None) -> None:
        """SIGTERM the group, then SIGKILL what is left; safe to call twice."""
        _RUNNING.discard(self)
        process, self.process = self.process, None
        if process is not None:
            stop_process_group(process, self.stop_grace if grace is None else grace)
