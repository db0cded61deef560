"""`fal-platform dev` serves the UI with an emulator, and a stop signal leaves no process behind.

The command runs as a real subprocess, as from a terminal; the test records every descendant
(emulator, dg dev, webserver, daemon, code servers) while it serves, sends the signal Ctrl-C or
`kill` would, and checks that each recorded pid is gone afterwards. It also checks that nothing
can reach Dagster's telemetry upload: every child runs with DAGSTER_DISABLE_TELEMETRY=1 and no
file lands under `$DAGSTER_HOME/logs/` (the folder Dagster's upload thread ships), the emulator's
log being under the data directory instead.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from fal_platform.devstack.dagster_dev import STARTUP_TIMEOUT
from fal_platform.devstack.processes import descendants, is_alive, isolated_env

pytestmark = [pytest.mark.ui, pytest.mark.timeout(240)]

REPO_ROOT = Path(__file__).resolve().parents[1]
READY_LINE = "Dagster UI: "


def _wait_for_line(log: Path, needle: str, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + STARTUP_TIMEOUT + 30
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if needle in line:
                return line
        assert process.poll() is None, f"dev exited early:\n{log.read_text()[-3000:]}"
        time.sleep(0.3)
    raise AssertionError(f"no {needle!r} line in time:\n{log.read_text()[-3000:]}")


def test_dev_serves_and_stops_everything_on_sigterm(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()  # empty: the sensor has nothing to run
    data = tmp_path / "data"
    env = isolated_env(FAL_PLATFORM_DATA_DIR=str(data), FAL_PLATFORM_PROMPTS_DIR=str(prompts))
    env.pop("DAGSTER_DISABLE_TELEMETRY", None)  # `dev` itself must set it for its children
    home = tmp_path / "dagster_home"
    log = tmp_path / "dev.log"
    argv = [sys.executable, "-m", "fal_platform.cli", "dev", "--port", "0", "--emulator-port", "0"]
    with log.open("wb") as out:
        dev = subprocess.Popen(
            [*argv, "--dagster-home", str(home)],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    children: list[int] = []
    left: list[int] = []
    try:
        ui_url = _wait_for_line(log, READY_LINE, dev).split(READY_LINE)[1].split()[0]
        emulator_line = _wait_for_line(log, "fal emulator at ", dev)
        emulator_url = emulator_line.split("fal emulator at ")[1].split()[0]
        assert httpx.get(ui_url + "/server_info", timeout=10).status_code == 200
        assert httpx.get(emulator_url + "/_emulator/health", timeout=10).status_code == 200
        assert (home / "dagster.yaml").is_file()
        emulator_log = Path(emulator_line.split("(log: ")[1].rstrip(")"))
        assert emulator_log == data.resolve() / "logs" / "emulator.log"
        assert emulator_log.is_file()

        children = descendants(dev.pid)
        assert len(children) >= 4, children  # emulator, dg dev, webserver, daemon (+ more)
        environs = {pid: env for pid in children if (env := _environ(pid)) is not None}
        telemetry = {pid: env.get("DAGSTER_DISABLE_TELEMETRY") for pid, env in environs.items()}
        assert len(telemetry) >= 4 and set(telemetry.values()) == {"1"}, telemetry
        dev.send_signal(signal.SIGTERM)
        assert dev.wait(timeout=60) == 0, log.read_text()[-3000:]
        left = [pid for pid in children if is_alive(pid)]
    finally:
        if dev.poll() is None:  # the test failed before or during the stop: clean up anyway
            left = descendants(dev.pid)
            dev.kill()
            dev.wait()
        # Only pids seen alive right after the stop: an old pid may belong to someone else now.
        for pid in left:
            if is_alive(pid):
                os.kill(pid, signal.SIGKILL)

    assert not left, f"still running after dev stopped: {left}\n{log.read_text()[-2000:]}"
    for url in (ui_url + "/server_info", emulator_url + "/_emulator/health"):
        with pytest.raises(httpx.TransportError):
            httpx.get(url, timeout=2)
    assert "stopped; no process left running" in log.read_text()
    dagster_logs = home / "logs"
    assert not dagster_logs.exists() or not any(dagster_logs.rglob("*")), sorted(
        dagster_logs.rglob("*")
    )


def _environ(pid: int) -> dict[str, str] | None:
    """The environment `pid` started with; None if it is gone (a worker that just ended)."""
    try:
        return psutil.Process(pid).environ()
    except psutil.NoSuchProcess:
        return None
