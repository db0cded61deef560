"""`fal-platform dev`: the local fal emulator and `dagster dev` together, stopped together.

Both children run in their own sessions, so a terminal's Ctrl-C reaches only this process, which
then stops them in order (Dagster first, since its runs talk to the emulator): SIGTERM to each
process group, a grace period, SIGKILL to whatever is left. SIGTERM and SIGHUP (terminal closed)
take the same path, so `kill <pid>` or closing the terminal leaves nothing running either.

The instance lives in `<repo>/.dagster_home` (git-ignored), so run history survives restarts and
runs launched by `fal-platform demo` show in this UI. With FAL_KEY set there is no emulator: the
resource targets fal.ai.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import FrameType

from fal_platform.devstack.dagster_dev import (
    STARTUP_TIMEOUT,
    PortInUseError,
    browser_host,
    dagster_dev_process,
    ensure_port_free,
)
from fal_platform.devstack.dagster_home import (
    RepoRootNotFoundError,
    default_dagster_home,
    ensure_dagster_home,
    find_repo_root,
)
from fal_platform.devstack.processes import ManagedProcess, ProcessStartError, free_port
from fal_platform.target import ENV_EMULATOR_URL, ENV_KEY

EMULATOR_HOST = "127.0.0.1"  # only Dagster's own processes talk to it
EMULATOR_STARTUP_TIMEOUT = 30.0
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopRequest:
    """Set by SIGINT/SIGTERM/SIGHUP; the main loop polls it (handlers must not block)."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def __call__(self) -> bool:
        return self.signal is not None

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        self.signal = signum


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Install the handlers BEFORE spawning: a child inherits an ignored SIGINT (as under
    `cmd &` in a script) and `dagster dev` maps SIGTERM to its SIGINT handler, so it would
    then ignore SIGTERM too. A Python-level handler is reset to the default in the child."""
    request = StopRequest()
    previous = {sig: signal.signal(sig, request.handle) for sig in _STOP_SIGNALS}
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def emulator_process(
    repo_root: Path, port: int, env: dict[str, str], log_path: Path
) -> ManagedProcess:
    """The emulator's own CLI on a fixed port (EmulatorProcess always picks a free one).

    Options come from FAL_EMULATOR_* in the environment, e.g. FAL_EMULATOR_QUEUE_WAIT=2.
    """
    argv = [
        sys.executable,
        "-m",
        "fal_platform.emulator",
        "--host",
        EMULATOR_HOST,
        "--port",
        str(port),
    ]
    return ManagedProcess(
        "fal emulator",
        argv,
        env=env,
        cwd=repo_root,
        ready_url=f"http://{EMULATOR_HOST}:{port}/_emulator/health",
        log_path=log_path,
        stop_grace=5.0,
    )


def _say(message: str) -> None:
    print(f"[fal-platform dev] {message}", flush=True)


def run_dev(
    port: int = 3000,
    emulator_port: int = 8787,
    host: str = "127.0.0.1",
    *,
    dagster_home: Path | None = None,
) -> int:
    """Serve until a stop signal; 0 after a requested stop, 1 if a child fails, 2 on bad setup.

    Port 0 picks a free port (for either). `dagster_home` overrides `<repo>/.dagster_home`.
    """
    try:
        root = find_repo_root()
    except RepoRootNotFoundError as exc:
        print(f"fal-platform dev: {exc}", file=sys.stderr)
        return 2
    home = ensure_dagster_home(dagster_home or default_dagster_home(root))
    env = dict(os.environ)
    with stop_on_signals() as stop_requested, ExitStack() as children:
        try:
            port = port or free_port(host)
            ensure_port_free(host, port, "Dagster UI (--port)")
            emulator: ManagedProcess | None = None
            if env.get(ENV_KEY):
                _say("FAL_KEY is set: no emulator, Dagster runs talk to fal.ai (and are billed)")
            else:
                emulator_port = emulator_port or free_port(EMULATOR_HOST)
                ensure_port_free(EMULATOR_HOST, emulator_port, "fal emulator (--emulator-port)")
                emulator = children.enter_context(
                    emulator_process(root, emulator_port, env, home / "logs" / "emulator.log")
                )
                if not emulator.wait_ready(EMULATOR_STARTUP_TIMEOUT, should_stop=stop_requested):
                    return 0
                env[ENV_EMULATOR_URL] = f"http://{EMULATOR_HOST}:{emulator_port}"
                _say(f"fal emulator at {env[ENV_EMULATOR_URL]} (log: {emulator.log_path})")
            _say(f"starting dagster dev with DAGSTER_HOME={home} ...")
            dagster = children.enter_context(
                dagster_dev_process(
                    repo_root=root, dagster_home=home, host=host, port=port, env=env
                )
            )
            if not dagster.wait_ready(STARTUP_TIMEOUT, should_stop=stop_requested):
                _say("stopping before the UI came up")
                return 0
            _say(f"Dagster UI: http://{browser_host(host)}:{port}  (Ctrl-C stops everything)")
            while not stop_requested():
                for child in (dagster, emulator):
                    if child is not None and child.exit_code() is not None:
                        _say(f"{child.name} exited with code {child.exit_code()}; stopping")
                        return 1
                time.sleep(0.2)
            _say("stopping Dagster and the emulator ...")
            return 0
        except (PortInUseError, ProcessStartError) as exc:
            print(f"fal-platform dev: {exc}", file=sys.stderr)
            return 1
        finally:
            # Stop (Dagster first) while our handlers still absorb a second Ctrl-C.
            children.close()
            if stop_requested():
                _say("stopped; no process left running")


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--port", type=int, default=3000, help="Dagster UI port [3000]")
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface the Dagster UI binds [127.0.0.1]"
    )
    parser.add_argument(
        "--emulator-port",
        type=int,
        default=8787,
        help="fal emulator port, 0 = any free one [8787]; unused when FAL_KEY is set",
    )
    parser.add_argument(
        "--dagster-home",
        type=Path,
        default=None,
        help="Dagster instance directory [<repo>/.dagster_home]",
    )
    return parser


def run_from_args(args: argparse.Namespace) -> int:
    return run_dev(
        port=args.port,
        emulator_port=args.emulator_port,
        host=args.host,
        dagster_home=args.dagster_home,
    )
