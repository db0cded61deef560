"""`fal-platform` as a user types it: the emulator subcommand serves the README's curl."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx

from fal_platform.devstack.processes import free_port


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
