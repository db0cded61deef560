"""EmulatorProcess: the emulator as a real subprocess on loopback, for tests, benchmarks and the demo.

Tests and benchmarks talk to it over real HTTP exactly as they would to fal. It is a
`ManagedProcess` (own process group, output to a temp file quoted if it fails to start) whose
command line comes from `emulator_child`, the same builder `fal-platform dev` uses.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from fal_platform.devstack.processes import (
    ManagedProcess,
    PortTakenError,
    ProcessStartError,
    StartStop,
    free_port,
    isolated_env,
    port_is_free,
)
from fal_platform.emulator.config import ENV_PREFIX, EmulatorConfig, to_cli_args
from fal_platform.target import DEFAULT_EMULATOR_HOST, emulator_base_url

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
_START_ATTEMPTS = 3
HEALTH_PATH = "/_emulator/health"


def emulator_child(
    *,
    port: int,
    env: dict[str, str],
    log_path: Path,
    config: EmulatorConfig | None = None,
    host: str = DEFAULT_EMULATOR_HOST,
) -> ManagedProcess:
    """The one command line of the emulator: `python -m fal_platform.emulator --host --port`,
    plus the flags that reproduce `config` (without one, options come from FAL_EMULATOR_* in
    `env`, as `fal-platform dev` wants). An accepted key never goes on a command line."""
    argv = [sys.executable, "-m", "fal_platform.emulator", "--host", host, "--port", str(port)]
    if config is not None:
        argv += to_cli_args(config, skip=frozenset({"host", "port"}))
        if config.accepted_key is not None:
            env = {**env, ENV_PREFIX + "ACCEPTED_KEY": config.accepted_key.get_secret_value()}
    return ManagedProcess(
        "fal emulator",
        argv,
        env=env,
        cwd=_PROJECT_ROOT,
        ready_url=emulator_base_url(host, port) + HEALTH_PATH,
        log_path=log_path,
        stop_grace=5.0,
        poll_interval=0.05,
        answers_for=_health_of,
    )


def _health_of(response: httpx.Response, pid: int) -> bool:
    """The emulator's health names its pid; a port another emulator holds answers with its own."""
    try:
        return bool(response.json().get("pid") == pid)
    except ValueError:
        return False


class EmulatorStartError(ProcessStartError):
    pass


class EmulatorProcess(StartStop):
    """`with EmulatorProcess(models=50, queue_wait=0.05) as emu: httpx.get(emu.api_url + "/models")`

    Keyword options are EmulatorConfig fields; unknown names raise at construction. The port is
    a free one, or `preferred_port` when that is free (the demo's media links then match
    `fal-platform dev`'s emulator).
    """

    def __init__(
        self,
        models: int = 300,
        seed: int = 0,
        require_key: bool = False,
        *,
        startup_timeout: float = 30.0,
        preferred_port: int | None = None,
        **options: Any,
    ) -> None:
        for name in ("host", "port"):
            if name in options:
                raise TypeError(f"EmulatorProcess picks {name} itself")
        self.config = EmulatorConfig(models=models, seed=seed, require_key=require_key, **options)
        self.startup_timeout = startup_timeout
        self.preferred_port = preferred_port
        self.port = 0
        self._child: ManagedProcess | None = None
        self._client: httpx.Client | None = None

    def __repr__(self) -> str:
        return f"EmulatorProcess(url={self.url!r}, models={self.config.models}, seed={self.config.seed})"

    # --- addresses ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return emulator_base_url(DEFAULT_EMULATOR_HOST, self.port)

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
        return self._child.pid if self._child else None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> EmulatorProcess:
        if self._child is not None:
            return self
        for attempt in range(1, _START_ATTEMPTS + 1):
            try:
                self._child = self._spawn(self._pick_port())
                self._child.wait_ready(self.startup_timeout)
                return self
            except ProcessStartError as error:
                output = self.output()
                self.stop()
                # Another process may grab the port between our probe and the child's bind.
                lost = (
                    isinstance(error, PortTakenError) or "address already in use" in output.lower()
                )
                if lost and attempt < _START_ATTEMPTS:
                    continue
                raise EmulatorStartError(str(error)) from None
        raise AssertionError("unreachable")

    def _pick_port(self) -> int:
        preferred = self.preferred_port
        if preferred and port_is_free(DEFAULT_EMULATOR_HOST, preferred):
            return preferred
        return free_port(DEFAULT_EMULATOR_HOST)

    def _spawn(self, port: int) -> ManagedProcess:
        self.port = port
        handle, name = tempfile.mkstemp(prefix="fal-emulator-", suffix=".log")
        os.close(handle)  # ManagedProcess opens it for the child
        child = emulator_child(
            port=port, env=isolated_env(), log_path=Path(name), config=self.config
        )
        return child.start()

    def output(self) -> str:
        """What the child printed so far (stdout and stderr)."""
        return self._child.output() if self._child is not None else ""

    def stop(self, timeout: float = 5.0) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        child, self._child = self._child, None
        if child is not None:
            child.stop(grace=timeout)
            if child.log_path is not None:
                child.log_path.unlink(missing_ok=True)

    # --- admin API ---------------------------------------------------------------------------

    def _admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if self._child is None:
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
