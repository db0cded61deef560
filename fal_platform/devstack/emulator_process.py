"""EmulatorProcess: run the emulator as a real subprocess on a free loopback port.

Tests and benchmarks talk to it over real HTTP exactly as they would to fal. The child runs in
its own process group so stopping it never touches the caller, and its output goes to a temp
file (not a pipe, which could fill up and block it) that is quoted if it fails to start.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from fal_platform.devstack.processes import free_port
from fal_platform.emulator.config import (
    ENV_PREFIX,
    EmulatorConfig,
    environ_without_options,
    to_cli_args,
)

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
_START_ATTEMPTS = 3
_RUNNING: set[EmulatorProcess] = set()  # strong refs: stopped at exit even if dropped


@atexit.register
def _stop_leftovers() -> None:
    """A child in its own session outlives us unless stopped; never leave one behind."""
    for process in list(_RUNNING):
        process.stop()


class EmulatorStartError(RuntimeError):
    pass


class EmulatorProcess:
    """`with EmulatorProcess(models=50, queue_wait=0.05) as emu: httpx.get(emu.api_url + "/models")`

    Keyword options are EmulatorConfig fields; unknown names raise at construction.
    """

    def __init__(
        self,
        models: int = 300,
        seed: int = 0,
        require_key: bool = False,
        *,
        startup_timeout: float = 30.0,
        **options: Any,
    ) -> None:
        for name in ("host", "port"):
            if name in options:
                raise TypeError(f"EmulatorProcess picks {name} itself")
        self.config = EmulatorConfig(models=models, seed=seed, require_key=require_key, **options)
        self.startup_timeout = startup_timeout
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None
        self._client: httpx.Client | None = None

    def __repr__(self) -> str:
        return f"EmulatorProcess(url={self.url!r}, models={self.config.models}, seed={self.config.seed})"

    # --- addresses ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + "/v1"

    @property
    def queue_url(self) -> str:
        return self.url

    @property
    def run_url(self) -> str:
        return self.url + "/run"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    # --- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> EmulatorProcess:
        if self._process is not None:
            return self
        for attempt in range(1, _START_ATTEMPTS + 1):
            try:
                self._spawn()
                _RUNNING.add(self)
                self._wait_healthy()
                return self
            except EmulatorStartError as error:
                output = self.output()
                self.stop()
                # Another process may grab the port between our probe and the child's bind.
                if "address already in use" in output.lower() and attempt < _START_ATTEMPTS:
                    continue
                raise error from None
        raise AssertionError("unreachable")

    def _spawn(self) -> None:
        self.port = free_port()
        env = environ_without_options(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(_PROJECT_ROOT), env.get("PYTHONPATH", "")) if p
        )
        if self.config.accepted_key is not None:
            env[ENV_PREFIX + "ACCEPTED_KEY"] = self.config.accepted_key.get_secret_value()
        argv = [
            sys.executable,
            "-m",
            "fal_platform.emulator",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--models",
            str(self.config.models),
            "--seed",
            str(self.config.seed),
            *to_cli_args(self.config, skip=frozenset({"host", "port", "models", "seed"})),
        ]
        handle, name = tempfile.mkstemp(prefix="fal-emulator-", suffix=".log")
        self._log_path = Path(name)
        with os.fdopen(handle, "wb") as log:
            self._process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=str(_PROJECT_ROOT),
                start_new_session=True,
            )

    def _wait_healthy(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while True:
                code = self._process.poll()
                if code is not None:
                    raise EmulatorStartError(
                        f"emulator exited with code {code} before becoming healthy; output:\n"
                        + self.output()
                    )
                try:
                    if client.get(self.url + "/_emulator/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise EmulatorStartError(
                        f"emulator not healthy after {self.startup_timeout}s on {self.url}; "
                        "output:\n" + self.output()
                    )
                time.sleep(0.05)

    def output(self) -> str:
        """What the child printed so far (stdout and stderr)."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        return self._log_path.read_text(errors="replace")

    def stop(self, timeout: float = 5.0) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        _RUNNING.discard(self)
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            self._signal(process, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(process, signal.SIGKILL)
                process.wait(timeout)
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None

    @staticmethod
    def _signal(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)  # start_new_session made pid the group id

    # --- admin API ---------------------------------------------------------------------------

    def _admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if self._process is None:
            raise RuntimeError("emulator is not running")
        if self._client is None:
            self._client = httpx.Client(base_url=self.url, timeout=10.0, trust_env=False)
        response = self._client.request(method, "/_emulator" + path, json=body)
        if response.status_code >= 400:
            raise ValueError(
                f"emulator admin {method} {path} -> {response.status_code}: {response.text}"
            )
        return response.json()

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._admin("GET", "/health")
        return result

    def configure(self, **options: Any) -> dict[str, Any]:
        """Change runtime options (latency, faults, rate limits, auth); returns the new config."""
        body = {
            name: value.get_secret_value() if hasattr(value, "get_secret_value") else value
            for name, value in options.items()
        }
        config: dict[str, Any] = self._admin("POST", "/config", body)
        return config

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = self._admin("GET", "/config")
        return config

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self._admin("GET", "/stats")
        return stats

    def reset_stats(self) -> None:
        self._admin("POST", "/stats/reset")

    def _mutate(self, action: str, count: int) -> list[str]:
        ids: list[str] = self._admin("POST", f"/catalog/{action}", {"count": count})["endpoint_ids"]
        return ids

    def touch_models(self, k: int) -> list[str]:
        return self._mutate("touch", k)

    def add_models(self, n: int) -> list[str]:
        return self._mutate("add", n)

    def deprecate_models(self, k: int) -> list[str]:
        return self._mutate("deprecate", k)
