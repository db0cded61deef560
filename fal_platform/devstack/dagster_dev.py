"""`dg dev` (Dagster's webserver + daemon) as a child process, shared by `fal-platform dev`, the UI
test and the screenshot script so all three start and stop Dagster the same way.

It runs as `python -m dagster_dg_cli.cli dev -w workspace.yaml` with this interpreter (the venv's,
whatever PATH says), in its own session: see `fal_platform/devstack/processes.py` for why that is
what makes the stop complete. `dg dev` is the CLI Dagster 1.13 recommends: `dagster dev` prints a
SupersessionWarning pointing at it. Given `-w`, `dg dev` serves exactly the code location that
workspace.yaml names, as `dagster dev -w` did.

Every child gets `DAGSTER_DISABLE_TELEMETRY=1` (`processes.NO_TELEMETRY_ENV` says why).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from fal_platform.devstack.dagster_home import WORKSPACE_FILE
from fal_platform.devstack.processes import NO_TELEMETRY_ENV, ManagedProcess, port_is_free

STARTUP_TIMEOUT = 120.0
"""Loading the code location imports dagster, dlt and DuckDB: ~10-20 s on 2 cores, more when busy."""


class PortInUseError(RuntimeError):
    pass


def ensure_port_free(host: str, port: int, what: str) -> None:
    """Fail before starting anything: with the port taken, `/server_info` could answer from
    someone else's server and we would announce the wrong UI."""
    if not port_is_free(host, port):
        raise PortInUseError(
            f"{what}: cannot listen on {host}:{port} (address already in use); "
            "stop whatever uses it or pick another port"
        )


def browser_host(host: str) -> str:
    """The address to print: a wildcard bind is reachable on loopback."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def dagster_dev_process(
    *,
    repo_root: Path,
    dagster_home: Path,
    host: str,
    port: int,
    env: Mapping[str, str],
    log_path: Path | None = None,
) -> ManagedProcess:
    """An unstarted `dg dev -w workspace.yaml -h host -p port` with DAGSTER_HOME set."""
    argv = [
        sys.executable,
        "-m",
        "dagster_dg_cli.cli",
        "dev",
        "-w",
        str(repo_root / WORKSPACE_FILE),
        "-h",
        host,
        "-p",
        str(port),
    ]
    child_env = {**env, "DAGSTER_HOME": str(dagster_home), **NO_TELEMETRY_ENV}
    return ManagedProcess(
        "dg dev",
        argv,
        env=child_env,
        cwd=repo_root,
        ready_url=f"http://{browser_host(host)}:{port}/server_info",
        log_path=log_path,
    )
