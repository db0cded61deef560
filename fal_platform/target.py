"""Which fal the platform talks to: real fal.ai, explicit overrides, or the local emulator.

The rule lives in one place so the Dagster resource, the CLI and the benchmarks agree:

1. An explicit URL (resource field or CLI flag) wins.
2. Otherwise `FAL_PLATFORM_API_URL` / `FAL_PLATFORM_QUEUE_URL` / `FAL_PLATFORM_RUN_URL` (and, for
   uploads, `FAL_PLATFORM_REST_URL` / `FAL_PLATFORM_CDN_URL`).
3. Otherwise, with a key, fal.ai's public hosts.
4. Otherwise the local emulator at `FAL_PLATFORM_EMULATOR_URL` (default http://127.0.0.1:8787),
   so a fresh clone works offline and nobody is billed by accident. Without a key the upload
   hosts default to the storage the emulator serves beside its queue (`/rest`, `/cdn`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from fal_platform.client.settings import DEFAULT_CDN_URL as FAL_CDN_URL
from fal_platform.client.settings import DEFAULT_REST_URL as FAL_REST_URL
from fal_platform.client.tls import shared_ssl_context

FAL_API_URL = "https://api.fal.ai/v1"
FAL_QUEUE_URL = "https://queue.fal.run"
FAL_RUN_URL = "https://fal.run"
DEFAULT_EMULATOR_HOST = "127.0.0.1"
DEFAULT_EMULATOR_PORT = 8787
"""`fal-platform dev` and `fal-platform demo` both serve the emulator here when the port is free,
so media links written by one still resolve while the other runs."""

ENV_KEY = "FAL_KEY"
ENV_API_URL = "FAL_PLATFORM_API_URL"
ENV_QUEUE_URL = "FAL_PLATFORM_QUEUE_URL"
ENV_RUN_URL = "FAL_PLATFORM_RUN_URL"
ENV_REST_URL = "FAL_PLATFORM_REST_URL"
ENV_CDN_URL = "FAL_PLATFORM_CDN_URL"
ENV_EMULATOR_URL = "FAL_PLATFORM_EMULATOR_URL"


def emulator_base_url(host: str = DEFAULT_EMULATOR_HOST, port: int = DEFAULT_EMULATOR_PORT) -> str:
    """The one address of an emulator: every fal host is served under it (see `emulator_urls`)."""
    return f"http://{host}:{port}"


DEFAULT_EMULATOR_URL = emulator_base_url()


class EmulatorUnavailableError(RuntimeError):
    """Raised before any work starts, so a missing emulator fails in one second, not after retries."""


@dataclass(frozen=True)
class FalTarget:
    api_url: str
    queue_url: str
    run_url: str
    uses_emulator: bool
    emulator_url: str | None
    rest_url: str = FAL_REST_URL
    """Storage API (upload tokens, upload initiation)."""
    cdn_url: str = FAL_CDN_URL
    """Where uploaded bytes go (fal's v3 CDN)."""

    def describe(self) -> str:
        if self.uses_emulator:
            return f"local fal emulator at {self.emulator_url}"
        return f"fal at {self.queue_url} (platform API {self.api_url})"


def emulator_urls(base_url: str) -> tuple[str, str, str]:
    """The emulator serves every fal host on one port: platform API under /v1, sync runs under /run."""
    base = base_url.rstrip("/")
    return f"{base}/v1", base, f"{base}/run"


def emulator_storage_urls(base_url: str) -> tuple[str, str]:
    """The emulator's storage API and CDN: under /rest and /cdn on the same port."""
    base = base_url.rstrip("/")
    return f"{base}/rest", f"{base}/cdn"


def resolve_target(
    *,
    has_key: bool,
    api_url: str | None = None,
    queue_url: str | None = None,
    run_url: str | None = None,
    emulator_url: str | None = None,
    env: Mapping[str, str] | None = None,
    rest_url: str | None = None,
    cdn_url: str | None = None,
) -> FalTarget:
    environ = os.environ if env is None else env
    api = api_url or environ.get(ENV_API_URL) or None
    queue = queue_url or environ.get(ENV_QUEUE_URL) or None
    run = run_url or environ.get(ENV_RUN_URL) or None
    rest = rest_url or environ.get(ENV_REST_URL) or None
    cdn = cdn_url or environ.get(ENV_CDN_URL) or None
    if has_key or (api and queue and run):
        emulator = None
        default_api, default_queue, default_run = FAL_API_URL, FAL_QUEUE_URL, FAL_RUN_URL
    else:
        emulator = (emulator_url or environ.get(ENV_EMULATOR_URL) or DEFAULT_EMULATOR_URL).rstrip(
            "/"
        )
        default_api, default_queue, default_run = emulator_urls(emulator)
    queue = (queue or default_queue).rstrip("/")
    # Without a key the queue is an emulator (fal refuses keyless submits), also when the three
    # hosts above were given explicitly: uploads go to the storage it serves beside its queue.
    default_rest, default_cdn = (
        (FAL_REST_URL, FAL_CDN_URL) if has_key else emulator_storage_urls(queue)
    )
    return FalTarget(
        api_url=(api or default_api).rstrip("/"),
        queue_url=queue,
        run_url=(run or default_run).rstrip("/"),
        uses_emulator=emulator is not None,
        emulator_url=emulator,
        rest_url=(rest or default_rest).rstrip("/"),
        cdn_url=(cdn or default_cdn).rstrip("/"),
    )


def ensure_reachable(target: FalTarget, timeout: float = 2.0) -> None:
    """Fail fast with instructions when the emulator is the target and nothing answers there."""
    if not target.uses_emulator:
        return
    try:
        httpx.get(
            f"{target.emulator_url}/_emulator/health", timeout=timeout, verify=shared_ssl_context()
        )
    except httpx.HTTPError as exc:
        raise EmulatorUnavailableError(
            f"FAL_KEY is not set, so fal-platform targets the local fal emulator at "
            f"{target.emulator_url}, but nothing answers there ({type(exc).__name__}). "
            f"Start it with `fal-platform emulator --port {DEFAULT_EMULATOR_PORT}` (or run everything with "
            f"`fal-platform dev`), point {ENV_EMULATOR_URL} at a running one, or "
            f"`export FAL_KEY=...` to use fal.ai."
        ) from None
