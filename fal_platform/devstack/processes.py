"""Children that can be stopped with everything they started: one session, one process group.

`dagster dev` forks a webserver and a daemon, which fork code servers and run workers; stopping
only the pid we started can leave those behind. Started with `start_new_session=True`, the child
is the leader of its own process group (pgid == pid) and all of its descendants stay in that
group (Dagster never calls setsid), so `killpg` reaches every one of them. A new session also
keeps a terminal's Ctrl-C away from the children: the parent decides how they stop.

Members are counted from /proc, skipping zombies: in a container PID 1 may never reap
re-parented children, and a zombie holds no resources but would still answer `killpg(pgid, 0)`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

import httpx

_PROC = Path("/proc")


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (tests and dev never assume a fixed one is free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


TARGET_ENV_PREFIXES = ("FAL_KEY", "FAL_PLATFORM_", "FAL_EMULATOR_")


def isolated_env(**extra: str) -> dict[str, str]:
    """This environment minus anything that would point a child at real fal (or at another
    emulator or data directory), with the checkout importable and output unbuffered."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(TARGET_ENV_PREFIXES)}
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def spawn_in_new_session(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    output: IO[bytes] | None = None,
) -> subprocess.Popen[bytes]:
    """Start `argv` as the leader of a new session and process group.

    `output=None` lets the child write to our stdout/stderr (the developer sees Dagster's log).
    """
    return subprocess.Popen(
        list(argv),
        env=dict(env),
        cwd=str(cwd),
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
        start_new_session=True,
    )


def _stat_fields(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgid) of a live process, from /proc/<pid>/stat; None when it is gone."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces: split after the last ')'.
    fields = raw[raw.rfind(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2])


def group_members(pgid: int) -> list[int]:
    """Pids of the live (non-zombie) processes in process group `pgid`."""
    if not _PROC.is_dir():  # not Linux: fall back to "is anyone still in the group?"
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    members = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        stat = _stat_fields(int(entry.name))
        if stat is not None and stat[2] == pgid and stat[0] != "Z":
            members.append(int(entry.name))
    return sorted(members)


def descendants(pid: int) -> list[int]:
    """Live descendants of `pid` (children, grandchildren...), from /proc; [] without /proc."""
    if not _PROC.is_dir():
        return []
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            stat = _stat_fields(int(entry.name))
            if stat is not None and stat[0] != "Z":
                children.setdefault(stat[1], []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return sorted(found)


def is_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    if _PROC.is_dir():
        stat = _stat_fields(pid)
        return stat is not None and stat[0] != "Z"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _killpg(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def stop_process_group(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM the whole group, wait up to `grace` seconds for it to empty, then SIGKILL it.

    The leader is reaped here; its descendants are reaped by whoever adopted them.
    """
    pgid = process.pid  # start_new_session made the leader's pid the group id
    if process.poll() is None or group_members(pgid):
        _killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if process.poll() is not None and not group_members(pgid):
                break
            time.sleep(0.1)
    if process.poll() is None or group_members(pgid):
        _killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5.0)
    deadline = time.monotonic() + 5.0
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)


class ProcessStartError(RuntimeError):
    """A child exited or never became ready; the message quotes what it printed, if captured."""


class ManagedProcess:
    """One child in its own session, its readiness URL, and a stop that leaves nothing behind.

    `with ManagedProcess(name, argv, env=..., cwd=..., ready_url=...) as child: ...`. With
    `log_path`, the child's output goes to that file (quoted when it fails to start); without,
    it shares our terminal.
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
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.cwd = cwd
        self.ready_url = ready_url
        self.log_path = log_path
        self.stop_grace = stop_grace
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ManagedProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self) -> ManagedProcess:
        if self.process is not None:
            return self
        if self.log_path is None:
            self.process = spawn_in_new_session(self.argv, env=self.env, cwd=self.cwd)
        else:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("wb") as log:  # the child keeps its own copy of the fd
                self.process = spawn_in_new_session(
                    self.argv, env=self.env, cwd=self.cwd, output=log
                )
        return self

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

        Raises ProcessStartError if the child exits or the deadline passes.
        """
        if self.process is None:
            raise ProcessStartError(f"{self.name} was not started")
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while not should_stop():
                code = self.process.poll()
                if code is not None:
                    raise ProcessStartError(self._failure(f"exited with code {code}"))
                try:
                    if client.get(self.ready_url).status_code == 200:
                        return True
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise ProcessStartError(
                        self._failure(f"did not answer {self.ready_url} within {timeout:g}s")
                    )
                time.sleep(0.2)
        return False

    def _failure(self, what: str) -> str:
        output = self.output().strip()
        tail = "\n".join(output.splitlines()[-30:])
        where = f" (log: {self.log_path})" if self.log_path else ""
        return f"{self.name} {what}{where}" + (f"; last output:\n{tail}" if tail else "")

    def stop(self, grace: float | None = None) -> None:
        """SIGTERM the group, then SIGKILL what is left; safe to call twice."""
        process, self.process = self.process, None
        if process is not None:
            stop_process_group(process, self.stop_grace if grace is None else grace)
