"""Every knob of a batch run and of its fal client, with its default declared once.

The Dagster resource (`resources/fal.py`), the run config of `generation/requests`, the
`run-batch` CLI flags and the engine all take their defaults from `DEFAULTS`, so a default
changed here changes everywhere and the README's FalResource table has one source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fal_platform.client import ApiKey, ClientSettings, RetryPolicy
from fal_platform.target import FalTarget

Priority = Literal["normal", "low"]
DEFAULT_BUDGET_USD = 10.0
"""The budget guard callers start with (the run config and `--max-cost-usd` can change it)."""


@dataclass(frozen=True)
class BatchSettings:
    """How one prompt set is run: pace, concurrency, retries, budget and the client under it."""

    max_concurrency: int = 32
    """Requests in flight at once, from submit until the result is fetched."""
    submit_rate: float = 20.0
    """Submits per second, evenly spaced."""
    poll_interval: float = 0.5
    """First status poll interval when polling and nothing is known yet of the endpoint's job
    times (the SSE stream needs none; once a job has ended, polls are aimed at when jobs are
    likely done: `poll_schedule.py`)."""
    max_poll_interval: float = 5.0
    """Ceiling of the blind backoff and of follow-up polls (never below `poll_interval`, see
    `poll_ceiling`); a poll aimed from observed job times may be further away."""
    poll_backoff: float = 1.5
    """Growth of the blind poll interval, and of the wait after a failed status poll."""
    max_attempts: int = 3
    """Accepted submits per item, counting the first (a failed job is resubmitted until then),
    and tries per retryable HTTP call."""
    force: bool = False
    """Resubmit COMPLETED items (and retryable FAILED ones regardless of their attempts)."""
    use_stream: bool = True
    """Follow status over SSE, falling back to polling when a stream breaks."""
    webhook_url: str | None = None
    """Completion by webhook: each submit asks fal to POST its outcome to this public URL (the
    receiver, `fal-platform webhooks`) and the run waits on the inbox instead of asking fal
    (`await_webhook.py`). None (the default) follows status over SSE or polling."""
    webhook_fallback_after: float = 300.0
    """Webhook mode: seconds without a delivery before one status check asks fal directly
    (the wait doubles after each check that finds the job unfinished)."""
    webhook_check_interval: float = 0.25
    """Webhook mode: seconds between reads of the inbox for the items still waiting."""
    max_cost_usd: float | None = DEFAULT_BUDGET_USD
    """Refuse to start when the estimated cost of this run's submits is higher (None: no guard)."""
    request_timeout: float = 60.0
    """Per HTTP request timeout (s)."""
    start_timeout: float | None = None
    """Sent as X-Fal-Request-Timeout: seconds fal may take to start a job."""
    priority: Priority = "normal"
    """Sent as X-Fal-Queue-Priority."""
    progress_interval: float = 5.0
    """Seconds between progress snapshots."""
    reconcile_clock_skew: float = 5.0
    """Seconds of clock difference with fal allowed when reading request history."""
    reconcile_delay: float = 0.0
    """Seconds to wait before reading history after a lost submit answer (history lag)."""
    reconcile_attempts: int = 3
    """Reads of request history (each with the client's own HTTP retries) before an item whose
    submit answer was lost is left UNKNOWN for the next run."""
    max_status_errors: int = 8
    """Consecutive failed status checks before an item is left in flight for the next run."""
    max_result_fetches: int = 5
    """Tries to fetch a finished job's result before it is left for the next run."""
    max_submit_errors: int = 10
    """Submits of one item that certainly did not reach fal before it is marked FAILED."""
    max_consecutive_submit_failures: int = 25
    """Failed submits in a row (any item) that abort the run: fal is down or refusing us, and
    going on would only turn every item into a failure."""
    hold_connection_seconds: float = 2.0
    """While rows keep coming, the writer reuses one DuckDB connection for up to this long
    (then hands the file over to other processes); 0 opens one per write. Opening and closing
    the file costs ~25 ms of CPU, as much as three writes (benchmarks/README.md section 8)."""
    failure_sample: int = 50
    """Failed items listed in the report (all of them are counted)."""
    upload_expires_in: int | None = None
    """Seconds fal keeps the uploads of `file:` inputs (`batch/uploads.py`); None: fal's default."""

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        if self.submit_rate <= 0 or self.poll_interval <= 0:
            raise ValueError("submit_rate and poll_interval must be positive")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.request_timeout <= 0:
            raise ValueError("request_timeout must be positive")
        if self.webhook_fallback_after <= 0 or self.webhook_check_interval <= 0:
            raise ValueError("webhook_fallback_after and webhook_check_interval must be positive")

    @property
    def poll_ceiling(self) -> float:
        """The longest poll interval: `max_poll_interval`, but never below the first one."""
        return max(self.max_poll_interval, self.poll_interval)

    @property
    def max_connections(self) -> int:
        """Status-stream connections (`ClientSettings.max_connections`): one per request in
        flight, doubled as headroom (aiohttp opens them only when used), at least 10. Short
        calls have a pool of their own (`ClientSettings.max_request_connections`)."""
        return max(self.max_concurrency * 2, 10)

    def client_settings(self, target: FalTarget, api_key: ApiKey) -> ClientSettings:
        """The fal client for this run (the one place these settings become a client)."""
        return ClientSettings(
            api_key=api_key,
            api_url=target.api_url,
            queue_url=target.queue_url,
            run_url=target.run_url,
            rest_url=target.rest_url,
            cdn_url=target.cdn_url,
            request_timeout=self.request_timeout,
            start_timeout=self.start_timeout,
            priority=self.priority,
            retry=RetryPolicy(max_attempts=self.max_attempts),
            max_connections=self.max_connections,
        )


DEFAULTS = BatchSettings()
"""The defaults every caller starts from."""
