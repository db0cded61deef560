"""`fal-platform` as a user types it: the emulator subcommand serves the README's curl, and
`dev` picks the instance and emulator port `demo` uses."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from fal_platform.devstack.dagster_dev import PortInUseError
from fal_platform.devstack.dagster_home import resolve_dagster_home
from fal_platform.devstack.dev import emulator_port_for
from fal_platform.devstack.processes import free_port, port_is_free
from fal_platform.target import DEFAULT_EMULATOR_PORT


def test_fal_platform_emulator_serves_the_model_list() -> None:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fal_platform.cli",
            "emulator",
            "--port",
            str(port),
            "--models",
            "40",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/v1/models", params={"limit": 5}).json()
                break
            except httpx.TransportError:
                assert server.poll() is None, server.communicate()[0]
                assert time.monotonic() < deadline, "the emulator did not start"
                time.sleep(0.2)
        assert len(page["models"]) == 5 and page["next_cursor"] and page["has_more"]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def test_bad_emulator_option_is_refused_with_the_option_named() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fal_platform.cli", "emulator", "--fail-rate", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "fal-platform emulator" in done.stderr and "fail_rate" in done.stderr


def test_dev_and_demo_resolve_the_same_instance(tmp_path: Path) -> None:
    """`dev` after `demo` must see the demo's runs: one rule picks the instance for both."""
    root = tmp_path / "repo"
    default = resolve_dagster_home(root, None, {})
    assert default == (root / ".dagster_home").resolve()
    assert (default / "dagster.yaml").is_file()
    from_env = resolve_dagster_home(root, None, {"DAGSTER_HOME": str(tmp_path / "env_home")})
    assert from_env == (tmp_path / "env_home").resolve()
    explicit = resolve_dagster_home(
        root, tmp_path / "flag_home", {"DAGSTER_HOME": str(tmp_path / "env_home")}
    )
    assert explicit == (tmp_path / "flag_home").resolve()


def test_dev_emulator_port_default_falls_back_explicit_is_refused() -> None:
    with contextlib.ExitStack() as held:
        for port in (DEFAULT_EMULATOR_PORT, free_port()):
            sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            with contextlib.suppress(OSError):  # 8787 may be someone else's already: also taken
                sock.bind(("127.0.0.1", port))
                sock.listen()
        taken = sock.getsockname()[1]
        fallback = emulator_port_for(None)
        assert fallback != DEFAULT_EMULATOR_PORT and port_is_free("127.0.0.1", fallback)
        with pytest.raises(PortInUseError, match=f"127.0.0.1:{taken}"):
            emulator_port_for(taken)
