"""EmulatorConfig: the one place where emulator option names, defaults and bounds live.

The CLI flags (`python -m fal_platform.emulator --queue-wait 0.2`), the environment
(`FAL_EMULATOR_QUEUE_WAIT=0.2`), the admin route (`POST /_emulator/config {"queue_wait": 0.2}`)
and `EmulatorProcess(queue_wait=0.2)` are all derived from the fields below, so a new option
only has to be added here. pydantic-settings layers them (`EmulatorSettings`: defaults <
environment < flags); `to_cli_args` goes the other way, for a parent starting the emulator.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ROUTE_NAMES: tuple[str, ...] = (
    "models",
    "pricing",
    "pricing_estimate",
    "history",
    "submit",
    "status",
    "status_stream",
    "result",
    "cancel",
    "run",
    "media",
    "storage_token",
    "storage_initiate",
    "storage_put",
    "cdn_upload",
    "cdn_multipart",
    "cdn_file",
    "run_stream",
)
# Routes that talk to the queue gateway; the token-bucket rate limit only covers these.
QUEUE_ROUTES: frozenset[str] = frozenset(
    {"submit", "status", "status_stream", "result", "cancel", "run", "run_stream"}
)
# Media downloads are left out by default so that a flaky API does not also break file fetches.
DEFAULT_FAULT_ROUTES: frozenset[str] = frozenset(ROUTE_NAMES) - {"media", "cdn_file"}

JOB_FAILURE_TYPES: dict[str, tuple[int, str]] = {
    "request_timeout": (504, "Request timed out"),
    "startup_timeout": (504, "Runner startup timed out"),
    "runner_scheduling_failure": (503, "Could not schedule a runner"),
    "runner_connection_timeout": (503, "Timed out connecting to the runner"),
    "runner_disconnected": (503, "Runner disconnected"),
    "runner_connection_refused": (503, "Runner refused the connection"),
    "runner_connection_error": (503, "Error connecting to the runner"),
    "runner_incomplete_response": (502, "Incomplete response from the runner"),
    "runner_server_error": (500, "Internal Server Error"),
    "internal_error": (500, "Internal error"),
}

# Options fixed at startup: changing them on a running server would invalidate its state.
STARTUP_ONLY_OPTIONS: frozenset[str] = frozenset(
    {"host", "port", "models", "seed", "log_level", "loop", "http"}
)
ENV_PREFIX = "FAL_EMULATOR_"

CommaList = Annotated[list[str], NoDecode]
"""A list option: spelled `a,b` in a flag, an env var or the admin route (not as JSON)."""

Share = Annotated[float, Field(ge=0.0, le=1.0)]
"""A share of requests or jobs, from 0 (never) to 1 (always)."""


class EmulatorConfig(BaseModel):
    """Every option of the emulator. Descriptions double as `--help` text."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # --- server ---------------------------------------------------------------------------
    host: str = Field(default="127.0.0.1", description="Interface to bind.")
    port: int = Field(default=8787, ge=0, le=65535, description="TCP port to bind.")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field(
        default="warning", description="uvicorn log level (access log is always off)."
    )
    loop: Literal["auto", "asyncio", "uvloop"] = Field(
        default="auto", description="uvicorn event loop."
    )
    http: Literal["auto", "h11", "httptools"] = Field(
        default="auto", description="uvicorn HTTP parser."
    )

    # --- catalog --------------------------------------------------------------------------
    models: int = Field(
        default=300,
        ge=0,
        description="Catalog size (the fixed well-known models are always included).",
    )
    seed: int = Field(
        default=0, description="Seed for the catalog, request ids, latencies and faults."
    )

    # --- auth -----------------------------------------------------------------------------
    require_key: bool = Field(
        default=False, description="Answer 401 unless 'Authorization: Key <something>' is sent."
    )
    accepted_key: SecretStr | None = Field(
        default=None,
        description="With --require-key, accept only this key (prefer the env var "
        "FAL_EMULATOR_ACCEPTED_KEY so it does not show in `ps`).",
    )

    # --- protocol choices where fal's behaviour is a GUESS -----------------------------------
    submit_status_code: Literal[200, 202] = Field(
        default=200, description="HTTP status of an accepted submit."
    )
    result_pending_status: Literal[400, 202] = Field(
        default=400,
        description="Result fetched before completion: 400 {'detail': ...} or 202 with the status body.",
    )
    retry_after_header: bool = Field(
        default=True, description="Send 'Retry-After: <seconds>' on 429 responses."
    )
    retry_after: int = Field(default=1, ge=0, description="Retry-After seconds for random 429s.")
    status_stream: bool = Field(
        default=True,
        description="Serve the SSE status stream; off, its route answers 404 as a fal-compatible "
        "server without SSE does (clients must poll).",
    )

    # --- latency --------------------------------------------------------------------------
    queue_wait: float = Field(default=0.1, ge=0.0, description="Mean queue wait per job, seconds.")
    queue_wait_jitter: float = Field(
        default=0.5, ge=0.0, description="Spread of the queue wait as a fraction of the mean."
    )
    inference_time: float = Field(
        default=0.3, ge=0.0, description="Mean inference time per job, seconds."
    )
    inference_time_jitter: float = Field(
        default=0.5, ge=0.0, description="Spread of the inference time as a fraction of the mean."
    )
    latency_distribution: Literal["uniform", "lognormal"] = Field(
        default="uniform",
        description="uniform: mean*(1 +- jitter); lognormal: median=mean, sigma=jitter.",
    )
    stream_ping_interval: float = Field(
        default=5.0,
        gt=0.0,
        description="Seconds between ': ping' keep-alives on the status stream.",
    )

    # --- gateway faults (per HTTP request) ---------------------------------------------------
    fail_rate: Share = Field(
        default=0.0, description="Share of requests answered with a gateway 5xx."
    )
    fail_status: int = Field(
        default=503, ge=500, le=599, description="Status code of injected 5xx."
    )
    drop_rate: Share = Field(
        default=0.0,
        description="Share of requests whose connection drops mid-body (after the work is done).",
    )
    timeout_rate: Share = Field(
        default=0.0,
        description="Share of requests answered only after --hang-seconds (after the work is done).",
    )
    hang_seconds: float = Field(
        default=10.0, ge=0.0, description="Delay of a 'timeout' fault, seconds."
    )
    malformed_rate: Share = Field(
        default=0.0,
        description="Share of successful JSON responses replaced by a 200 body that breaks the "
        "protocol (no data key), as a misbehaving proxy or API change would.",
    )
    rate_limit_rate: Share = Field(
        default=0.0, description="Share of requests answered with a random 429."
    )
    rate_limit_rps: float = Field(
        default=0.0,
        ge=0.0,
        description="Token-bucket limit over the queue routes, requests/s (0 = off).",
    )
    rate_limit_burst: float = Field(
        default=0.0,
        ge=0.0,
        description="Token-bucket capacity (0 = one second's worth, at least 1).",
    )
    fault_routes: CommaList | None = Field(
        default=None,
        description="Routes the faults apply to (comma-separated; default: every route but media).",
    )

    # --- job faults (decided at submit, visible at result time) ------------------------------
    job_failure_rate: Share = Field(
        default=0.0, description="Share of jobs that complete with a 5xx error."
    )
    job_failure_types: CommaList = Field(
        default=["runner_server_error", "runner_disconnected", "runner_incomplete_response"],
        description="error_type values a failed job picks from (comma-separated).",
    )
    job_user_error_rate: Share = Field(
        default=0.0,
        description="Share of valid jobs that complete with a 422 content-policy error.",
    )

    # --- storage (uploads of local files, routes_storage.py) ---------------------------------
    storage_v3: bool = Field(
        default=True,
        description="Serve the fal_v3 upload flow; off: CDN uploads answer 500, so clients "
        "fall back to the initiate flow.",
    )
    fetch_input_urls: bool = Field(
        default=False,
        description="Image-to-X and speech-to-text jobs also GET external http(s) input URLs "
        "and fail with 422 when that fails (off: only file: paths and this emulator's own "
        "file URLs are checked, so tests stay offline).",
    )

    # --- webhooks (submits with ?fal_webhook=, emulator/webhooks.py) ---------------------------
    webhook_attempts: int = Field(
        default=10, ge=1, description="Delivery attempts per webhook (fal: 10 in 2 hours)."
    )
    webhook_retry_delay: float = Field(
        default=1.0, ge=0.0, description="Wait before re-delivering a failed webhook; doubles."
    )
    webhook_retry_max_delay: float = Field(
        default=60.0, ge=0.0, description="Ceiling of the webhook re-delivery wait, seconds."
    )
    webhook_delay: float = Field(
        default=0.0, ge=0.0, description="Extra seconds between a job's end and its webhook."
    )
    webhook_shuffle: float = Field(
        default=0.0,
        ge=0.0,
        description="Random extra delay per delivery, up to this many seconds (out of order).",
    )
    webhook_duplicate_rate: Share = Field(
        default=0.0, description="Share of webhooks delivered twice."
    )
    webhook_drop_rate: Share = Field(
        default=0.0, description="Share of webhooks never sent (lost deliveries)."
    )
    webhook_bad_signature_rate: Share = Field(
        default=0.0, description="Share of deliveries signed with a key the JWKS does not list."
    )
    webhook_down_seconds: float = Field(
        default=0.0,
        ge=0.0,
        description="For this many seconds after start (or a config change), every delivery "
        "attempt fails as if the receiver were down; retries land afterwards.",
    )
    webhook_user_id: str = Field(
        default="emulator-user", description="X-Fal-Webhook-User-Id of deliveries."
    )

    # --- media files -------------------------------------------------------------------------
    video_bytes_per_second: int = Field(
        default=8_000,
        ge=1,
        le=64 * 1024 * 1024,
        description="Size of a generated video per second of its duration (4194304: a 5 s "
        "video is 20 MiB). Videos are streamed, never held whole in memory.",
    )
    media_expire_rate: Share = Field(
        default=0.0,
        description="Share of media files that answer 404, as fal does for a file deleted after "
        "its retention; chosen per file from the seed, so 1 expires every file. Settable at "
        "runtime, which expires files already handed out.",
    )

    # --- platform API limits -------------------------------------------------------------------
    models_default_limit: int = Field(
        default=50, ge=1, description="/v1/models page size without limit."
    )
    models_max_limit: int = Field(
        default=100, ge=1, description="Largest accepted /v1/models limit."
    )
    models_max_limit_expanded: int = Field(
        default=100, ge=1, description="Largest accepted /v1/models limit when expand= is used."
    )
    unpriced_endpoints: list[str] = Field(
        default_factory=list,
        description="Catalog endpoints /v1/models/pricing answers 404 for, as fal does for an "
        "endpoint it has no price for (comma-separated).",
    )

    @field_validator("fault_routes", "job_failure_types", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            return value
        return [part.strip() for item in items for part in item.split(",") if part.strip()]

    @field_validator("submit_status_code", "result_pending_status", mode="before")
    @classmethod
    def _status_from_text(cls, value: Any) -> Any:
        # "202" from a flag or env var: pydantic does not coerce text into Literal[200, 202].
        return int(value) if isinstance(value, str) and value.strip().isdigit() else value

    @field_validator("fault_routes")
    @classmethod
    def _known_routes(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        unknown = sorted(set(value) - set(ROUTE_NAMES))
        if unknown:
            raise ValueError(f"unknown route names {unknown}; known: {list(ROUTE_NAMES)}")
        return value

    @field_validator("job_failure_types")
    @classmethod
    def _known_failure_types(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(JOB_FAILURE_TYPES))
        if unknown or not value:
            raise ValueError(
                f"job_failure_types must be a non-empty subset of {sorted(JOB_FAILURE_TYPES)}"
            )
        return value

    def effective_fault_routes(self) -> frozenset[str]:
        return DEFAULT_FAULT_ROUTES if self.fault_routes is None else frozenset(self.fault_routes)

    def public_dict(self) -> dict[str, Any]:
        """JSON-safe view for the admin API; the accepted key is masked by SecretStr."""
        return self.model_dump(mode="json")


def to_cli_args(config: EmulatorConfig, *, skip: frozenset[str] = frozenset()) -> list[str]:
    """The flags that reproduce `config` (only options that differ from the defaults).

    The accepted key is never put on a command line; pass it in the environment instead.
    """
    defaults = EmulatorConfig()
    args: list[str] = []
    for name in EmulatorConfig.model_fields:
        value = getattr(config, name)
        if name in skip or name == "accepted_key" or value == getattr(defaults, name):
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + name.replace("_", "-"))
        elif isinstance(value, list):
            args += [flag, ",".join(value)]
        else:
            args += [flag, str(value)]
    return args


def environ_without_options(environ: Mapping[str, str]) -> dict[str, str]:
    """A copy of the environment with every FAL_EMULATOR_* option removed."""
    return {k: v for k, v in environ.items() if not k.startswith(ENV_PREFIX)}


class EmulatorSettings(EmulatorConfig, BaseSettings):
    """EmulatorConfig read from the process: defaults < FAL_EMULATOR_<NAME> < command-line flags.

    Only the emulator's entry point (`__main__.py`) builds one; everything else takes a plain
    EmulatorConfig, so an EmulatorProcess or the admin route never picks up the caller's env.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        validate_assignment=True,
        cli_kebab_case=True,
        cli_implicit_flags=True,
        cli_hide_none_type=True,
        cli_show_env_vars=True,
    )

    def options(self) -> EmulatorConfig:
        return EmulatorConfig.model_validate(dict(self))
