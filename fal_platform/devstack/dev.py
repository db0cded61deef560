"""`fal-platform dev`: the local fal emulator and `dg dev` together, stopped together.

Both children run in their own sessions, so a terminal's Ctrl-C reaches only this process, which
then stops them in order (Dagster first, since its runs talk to the emulator): SIGTERM to each
process group, a grace period, SIGKILL to whatever is left. SIGTERM and SIGHUP (terminal closed)
take the same path, so `kill <pid>` or closing the terminal leaves nothing running either.

The instance is the one `fal-platform demo` uses (`resolve_dagster_home`: `--dagster-home`, else
`DAGSTER_HOME`, else `<repo>/.dagster_home`), so run history survives restarts and the demo's
runs show in this UI. The emulator listens on 8787 (`target.DEFAULT_EMULATOR_PORT`, as the
demo's does) unless that port is taken, and logs to `<data dir>/logs/emulator.log`: nothing of
ours goes under `$DAGSTER_HOME/logs/`, which Dagster treats as its telemetry queue. With FAL_KEY
set there is no emulator: the resource targets fal.ai.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
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
    find_repo_root,
    resolve_dagster_home,
)
from fal_platform.devstack.emulator_process import emulator_child
from fal_platform.devstack.processes import (
    NO_TELEMETRY_ENV,
    ManagedProcess,
    ProcessStartError,
    free_port,
    port_is_free,
)
from fal_platform.devstack.stack import LocalStack
from fal_platform.devstack.webhooks_process import ENV_WEBHOOK_URL, receiver_child, receiver_url
from fal_platform.emulator.webhooks import JWKS_PATH
from fal_platform.paths import DataPaths
from fal_platform.target import (
    DEFAULT_EMULATOR_HOST,
    DEFAULT_EMULATOR_PORT,
    ENV_EMULATOR_URL,
    ENV_KEY,
    emulator_base_url,
)
from fal_platform.webhooks.server import DEFAULT_PORT as RECEIVER_PORT

EMULATOR_STARTUP_TIMEOUT = 30.0
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def logs_dir() -> Path:
    """Where `fal-platform dev` writes its children's logs: beside the platform's other state,
    never under $DAGSTER_HOME/logs (Dagster uploads that folder to its telemetry server)."""
    return DataPaths.from_env(os.environ).data_dir.resolve() / "logs"


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
    `cmd &` in a script) and `dg dev` maps SIGTERM to its SIGINT handler, so it would then
    ignore SIGTERM too. A Python-level handler is reset to the default in the child."""
    request = StopRequest()
    previous = {sig: signal.signal(sig, request.handle) for sig in _STOP_SIGNALS}
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def emulator_port_for(requested: int | None) -> int:
    """None: the shared default unless taken (then any free port); 0: any free port; else exactly
    that port, refused up front if taken."""
    if requested is None:
        if port_is_free(DEFAULT_EMULATOR_HOST, DEFAULT_EMULATOR_PORT):
            return DEFAULT_EMULATOR_PORT
        port = free_port(DEFAULT_EMULATOR_HOST)
        _say(f"port {DEFAULT_EMULATOR_PORT} is taken: the emulator uses {port} instead")
        return port
    if requested == 0:
        return free_port(DEFAULT_EMULATOR_HOST)
    ensure_port_free(DEFAULT_EMULATOR_HOST, requested, "fal emulator (--emulator-port)")
    return requested


def start_emulator(
    children: ExitStack, port: int, env: dict[str, str], should_stop: Callable[[], bool]
) -> ManagedProcess | None:
    """The emulator on `port`, ready; None if a stop was requested first. Its options come from
    FAL_EMULATOR_* in `env`, e.g. FAL_EMULATOR_QUEUE_WAIT=2."""
    emulator = children.enter_context(
        emulator_child(port=port, env=env, log_path=logs_dir() / "emulator.log")
    )
    if not emulator.wait_ready(EMULATOR_STARTUP_TIMEOUT, should_stop=should_stop):
        return None
    env[ENV_EMULATOR_URL] = emulator_base_url(DEFAULT_EMULATOR_HOST, port)
    _say(f"fal emulator at {env[ENV_EMULATOR_URL]} (log: {emulator.log_path})")
    return emulator


def start_receiver(
    children: ExitStack, port: int | None, env: dict[str, str], on_emulator: bool
) -> ManagedProcess:
    """Webhook mode: the receiver, writing to the platform's DuckDB file. On the emulator it
    trusts the emulator's key and, unless FAL_PLATFORM_WEBHOOK_URL says otherwise, runs are
    told to have webhooks delivered to it; with real fal, that variable must be the public URL
    of an ingress or tunnel in front of it (README, "Webhooks")."""
    if port is None:
        port = RECEIVER_PORT  # fixed, so a tunnel or ingress in front of it can stay put
    port = port or free_port(DEFAULT_EMULATOR_HOST)
    jwks = env[ENV_EMULATOR_URL] + JWKS_PATH if on_emulator else None
    receiver = children.enter_context(
        receiver_child(
            port=port,
            db=DataPaths.from_env(env).duckdb.resolve(),
            jwks_url=jwks,
            env=env,
            log_path=logs_dir() / "webhooks.log",
        )
    )
    receiver.wait_ready(EMULATOR_STARTUP_TIMEOUT)
    env.setdefault(ENV_WEBHOOK_URL, receiver_url(port))
    _say(f"webhook receiver on port {port}, runs use {env[ENV_WEBHOOK_URL]}")
    return receiver


def _say(message: str) -> None:
    print(f"[fal-platform dev] {message}", flush=True)


def run_dev(
    port: int = 3000,
    emulator_port: int | None = None,
    host: str = "127.0.0.1",
    *,
    dagster_home: Path | None = None,
    webhooks_port: int | None = None,
    full_stack: bool = False,
) -> int:
    """Serve until a stop signal; 0 after a requested stop, 1 if a child fails, 2 on bad setup.

    Port 0 picks a free port (for either); `emulator_port=None` is 8787 unless taken.
    """
    try:
        root = find_repo_root()
    except RepoRootNotFoundError as exc:
        print(f"fal-platform dev: {exc}", file=sys.stderr)
        return 2
    home = resolve_dagster_home(root, dagster_home, os.environ)
    env = {**os.environ, **NO_TELEMETRY_ENV}
    with stop_on_signals() as stop_requested, ExitStack() as children:
        try:
            stack = DevStack(root, home, host, port, emulator_port, webhooks_port, full_stack)
            return _serve(stack, env, children, stop_requested)
        except (PortInUseError, ProcessStartError) as exc:
            print(f"fal-platform dev: {exc}", file=sys.stderr)
            return 1
        finally:
            # Stop (Dagster first) while our handlers still absorb a second Ctrl-C.
            children.close()
            if stop_requested():
                _say("stopped; no process left running")


@dataclass(frozen=True)
class DevStack:
    """What `fal-platform dev` serves, as given on its command line (ports 0/None: see run_dev)."""

    root: Path
    home: Path
    host: str
    port: int
    emulator_port: int | None
    webhooks_port: int | None = None
    """Start the webhook receiver on this port (0: any free one); see `start_receiver`."""
    full: bool = False
    """`--stack`: Postgres, Redis and two Celery workers under the UI (fal_platform/devstack/stack.py)."""


def _serve(
    stack: DevStack, env: dict[str, str], children: ExitStack, stop_requested: StopRequest
) -> int:
    host = stack.host
    port = stack.port or free_port(host)
    ensure_port_free(host, port, "Dagster UI (--port)")
    emulator: ManagedProcess | None = None
    if env.get(ENV_KEY):
        _say("FAL_KEY is set: no emulator, Dagster runs talk to fal.ai (and are billed)")
    else:
        emulator_port = emulator_port_for(stack.emulator_port)
        emulator = start_emulator(children, emulator_port, env, stop_requested)
        if emulator is None:
            return 0
    if stack.webhooks_port is not None or env.get(ENV_WEBHOOK_URL):
        start_receiver(children, stack.webhooks_port, env, emulator is not None)
    watched: list[ManagedProcess | None] = [emulator]
    if stack.full:
        local = _start_local_stack(stack, env, children, port)
        watched += [local.dagster, *local.worker_processes]
    else:
        _say(f"starting dg dev with DAGSTER_HOME={stack.home} ...")
        dagster = children.enter_context(
            dagster_dev_process(
                repo_root=stack.root, dagster_home=stack.home, host=host, port=port, env=env
            )
        )
        watched.append(dagster)
        if not dagster.wait_ready(STARTUP_TIMEOUT, should_stop=stop_requested):
            _say("stopping before the UI came up")
            return 0
    _say(f"Dagster UI: http://{browser_host(host)}:{port}  (Ctrl-C stops everything)")
    while not stop_requested():
        for child in watched:
            if child is not None and child.exit_code() is not None:
                _say(f"{child.name} exited with code {child.exit_code()}; stopping")
                return 1
        time.sleep(0.2)
    _say("stopping Dagster and the emulator ...")
    return 0


def _start_local_stack(
    stack: DevStack, env: dict[str, str], children: ExitStack, port: int
) -> LocalStack:
    """deploy/ on this machine: a fresh instance in Postgres each time, its logs beside ours."""
    scratch = logs_dir().parent / "stack"
    _say(f"starting Postgres, Redis, 2 Celery workers and dg dev (logs: {scratch / 'logs'}) ...")
    return children.enter_context(
        LocalStack(scratch, repo_root=stack.root, env=env, host=stack.host, port=port)
    )


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--port", type=int, default=3000, help="Dagster UI port [3000]")
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface the Dagster UI binds [127.0.0.1]"
    )
    parser.add_argument(
        "--emulator-port",
        type=int,
        default=None,
        help=f"fal emulator port, 0 = any free one [{DEFAULT_EMULATOR_PORT}, or a free one if "
        "that is taken]; unused when FAL_KEY is set",
    )
    parser.add_argument(
        "--dagster-home",
        type=Path,
        default=None,
        help="Dagster instance directory [$DAGSTER_HOME, else <repo>/.dagster_home]",
    )
    parser.add_argument(
        "--webhooks",
        type=int,
        default=None,
        metavar="PORT",
        help=f"also start the webhook receiver on PORT (0 = any free one) and run batches in "
        f"webhook mode; also started (on {RECEIVER_PORT}) when {ENV_WEBHOOK_URL} is set",
    )
    parser.add_argument(
        "--stack",
        action="store_true",
        help="the deploy/ set-up on this machine: a throw-away Postgres instance, Redis, two "
        "Celery workers, the daemon and the webserver (ignores --dagster-home)",
    )
    return parser


def run_from_args(args: argparse.Namespace) -> int:
    return run_dev(
        port=args.port,
        emulator_port=args.emulator_port,
        host=args.host,
        dagster_home=args.dagster_home,
        webhooks_port=args.webhooks,
        full_stack=args.stack,
    )
