"""Async httpx client for fal: the queue, the synchronous route and the platform API.

async with FalClient(ClientSettings.from_env()) as fal:
    handle = await fal.queue.submit("fal-ai/flux/dev", {"prompt": "a cat"})
    await fal.queue.wait(handle)
    result = await fal.queue.result(handle)
"""

from fal_platform.client.auth import ApiKey
from fal_platform.client.endpoints import AppId
from fal_platform.client.errors import (
    FalAuthenticationError,
    FalBadRequestError,
    FalConnectionError,
    FalError,
    FalNotFoundError,
    FalRateLimitedError,
    FalResponseError,
    FalServerError,
    FalTimeoutError,
    FalValidationError,
    FieldError,
)
from fal_platform.client.fal import FalClient
from fal_platform.client.http import RequestKind, RetryEvent
from fal_platform.client.models import (
    CancelOutcome,
    Completed,
    InProgress,
    LogEntry,
    Queued,
    QueueResult,
    QueueStatus,
    RequestHandle,
    RunResult,
)
from fal_platform.client.platform import PlatformClient
from fal_platform.client.platform_models import (
    HistoryItem,
    HistoryPage,
    Model,
    ModelGroup,
    ModelMetadata,
    ModelsPage,
    Price,
    PriceEstimate,
)
from fal_platform.client.queue import QueueClient
from fal_platform.client.retry import RetryPolicy, parse_retry_after
from fal_platform.client.settings import ClientSettings

__all__ = [
    "ApiKey",
    "AppId",
    "CancelOutcome",
    "ClientSettings",
    "Completed",
    "FalAuthenticationError",
    "FalBadRequestError",
    "FalClient",
    "FalConnectionError",
    "FalError",
    "FalNotFoundError",
    "FalRateLimitedError",
    "FalResponseError",
    "FalServerError",
    "FalTimeoutError",
    "FalValidationError",
    "FieldError",
    "HistoryItem",
    "HistoryPage",
    "InProgress",
    "LogEntry",
    "Model",
    "ModelGroup",
    "ModelMetadata",
    "ModelsPage",
    "PlatformClient",
    "Price",
    "PriceEstimate",
    "QueueClient",
    "QueueResult",
    "QueueStatus",
    "Queued",
    "RequestHandle",
    "RequestKind",
    "RetryEvent",
    "RetryPolicy",
    "RunResult",
    "parse_retry_after",
]
