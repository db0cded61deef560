"""Everything a FalClient needs to know before it sends its first request."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from fal_platform import __version__
from fal_platform.client.auth import ApiKey
from fal_platform.client.retry import RetryPolicy

Priority = Literal["normal", "low"]

DEFAULT_API_URL = "https://api.fal.ai/v1"
DEFAULT_QUEUE_URL = "https://queue.fal.run"
DEFAULT_RUN_URL = "https://fal.run"
DEFAULT_REST_URL = "https://rest.fal.ai"
DEFAULT_CDN_URL = "https://v3.fal.media"
DEFAULT_USER_AGENT = f"fal-platform/{__version__}"


def validate_start_timeout(value: float | None) -> None:
    # fal rejects X-Fal-Request-Timeout <= 1 s with a 400; fail before sending instead.
    if value is not None and value <= 1:
        raise ValueError("start_timeout must be greater than 1 second")


def validate_priority(value: str | None) -> None:
    if value is not None and value not in ("normal", "low"):
        raise ValueError("priority must be 'normal', 'low' or None")


@dataclass(frozen=True)
class ClientSettings:
    """Where fal lives, how long to wait for it, and how hard to retry.

    The three base URLs are separate because fal serves the platform API, the queue and the
    synchronous route from different hosts; the emulator serves all three from one port.
    `start_timeout` is fal's server-side "time to start" deadline (queue wait included), not
    a client timeout; `request_timeout` bounds each HTTP exchange on our side.
    """

    api_key: ApiKey = field(default_factory=ApiKey)
    api_url: str = DEFAULT_API_URL
    queue_url: str = DEFAULT_QUEUE_URL
    run_url: str = DEFAULT_RUN_URL
    request_timeout: float = 60.0
    connect_timeout: float = 10.0
    start_timeout: float | None = None
    priority: Priority | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_connections: int = 100
    """Connections for status streams: one per request being waited on."""
    max_request_connections: int = 128
    """Connections for short calls (submit, status, result, cancel, platform API). Kept apart
    from the streams so they never wait behind them. Opened only as calls need them; at 32, a
    thousand items in flight queued their submits and results for the pool, which cost ~10% more
    CPU per item and 10-20% of the throughput at c=1,000 (benchmarks/README.md section 7,
    "Seventh round")."""
    user_agent: str = DEFAULT_USER_AGENT
    rest_url: str = DEFAULT_REST_URL
    """fal's storage API: upload tokens and upload initiation (`client/storage.py`)."""
    cdn_url: str = DEFAULT_CDN_URL
    """fal's v3 CDN, where uploaded bytes are posted."""

    def __post_init__(self) -> None:
        if not isinstance(self.api_key, ApiKey):
            # Accept a plain string for convenience, but store it wrapped so it never prints.
            object.__setattr__(self, "api_key", ApiKey(self.api_key))
        for name in ("api_url", "queue_url", "run_url", "rest_url", "cdn_url"):
            value = getattr(self, name)
            if not value.startswith(("http://", "https://")):
                raise ValueError(f"{name} must be an http(s) URL, got {value!r}")
            object.__setattr__(self, name, value.rstrip("/"))
        if self.request_timeout <= 0 or self.connect_timeout <= 0:
            raise ValueError("request_timeout and connect_timeout must be positive")
        if self.max_connections < 1 or self.max_request_connections < 1:
            raise ValueError("max_connections and max_request_connections must be >= 1")
        validate_start_timeout(self.start_timeout)
        validate_priority(self.priority)

    @classmethod
    def from_env(cls, **overrides: Any) -> ClientSettings:
        """Settings with the key taken from `FAL_KEY` (or `FAL_KEY_ID`/`FAL_KEY_SECRET`)."""
        overrides.setdefault("api_key", ApiKey.from_env())
        return cls(**overrides)

    @classmethod
    def for_emulator(cls, base_url: str, **overrides: Any) -> ClientSettings:
        """Settings for the local emulator, which serves all three APIs on one origin."""
        base = base_url.rstrip("/")
        overrides.setdefault("rest_url", f"{base}/rest")
        overrides.setdefault("cdn_url", f"{base}/cdn")
        return cls(api_url=f"{base}/v1", queue_url=base, run_url=f"{base}/run", **overrides)

    def with_changes(self, **changes: Any) -> ClientSettings:
        return replace(self, **changes)
