"""Typed fal errors: one class per thing a caller would handle differently.

Every error carries the HTTP context (status, fal's `error_type`, the request id, the URL) and
two judgements the batch engine needs: `retryable` (could the same call succeed later?) and
`may_have_been_accepted` (for a submit: could fal have queued, and so billed, the job even
though we saw a failure?). Messages are short, human, and never contain the API key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass
class FieldError:
    """One entry of a 422 `{"detail": [...]}` body (FastAPI/Pydantic style)."""

    loc: list[str | int]
    msg: str
    type: str
    url: str | None = None
    ctx: dict[str, Any] | None = None

    @property
    def path(self) -> str:
        """`loc` as a dotted path, e.g. `body.prompt`."""
        return ".".join(str(part) for part in self.loc)


class FalError(Exception):
    """Base class of every error raised by `fal_platform.client`."""

    default_retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_type: str | None = None,
        request_id: str | None = None,
        url: str | None = None,
        may_have_been_accepted: bool = False,
        server_retryable: bool | None = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.error_type = error_type
        self.request_id = request_id
        self.url = url
        self.may_have_been_accepted = may_have_been_accepted
        # fal may say so explicitly with `X-Fal-Retryable`; that beats our per-class default.
        self.server_retryable = server_retryable
        super().__init__(self._describe())

    @property
    def retryable(self) -> bool:
        """Whether repeating the same operation later could succeed."""
        if self.server_retryable is not None:
            return self.server_retryable
        return self.default_retryable

    def _describe(self) -> str:
        context = []
        if self.status_code is not None:
            context.append(f"HTTP {self.status_code}")
        if self.error_type:
            context.append(f"error_type={self.error_type}")
        if self.request_id:
            context.append(f"request_id={self.request_id}")
        if self.url:
            context.append(f"url={self.url}")
        return f"{self.message} ({', '.join(context)})" if context else self.message

    def __str__(self) -> str:
        return self._describe()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, status_code={self.status_code!r}, "
            f"error_type={self.error_type!r}, request_id={self.request_id!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructor arguments would be lost by Exception's default pickling.
        return (_rebuild_error, (type(self), dict(self.__dict__)))


def _rebuild_error(cls: type[FalError], state: dict[str, Any]) -> FalError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    error.args = (error._describe(),)
    return error


class FalAuthenticationError(FalError):
    """401/403: the key is missing, wrong, or lacks the permission this call needs."""


class FalValidationError(FalError):
    """422: the model rejected the input. Retrying the same input cannot help."""

    def __init__(
        self, message: str, *, field_errors: list[FieldError] | None = None, **kwargs: Any
    ) -> None:
        self.field_errors: list[FieldError] = list(field_errors or [])
        super().__init__(message, **kwargs)


class FalRateLimitedError(FalError):
    """429: too many requests; `retry_after` is the server's hint in seconds, if it gave one."""

    default_retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class FalServerError(FalError):
    """5xx: from fal's gateway (transient) or from the job itself (see `request_id`)."""

    default_retryable = True


class FalTimeoutError(FalError):
    """A client-side timeout (connect, read, write or waiting for a pooled connection)."""

    default_retryable = True


class FalNotFoundError(FalError):
    """404: unknown endpoint, request id or route."""


class FalConnectionError(FalError):
    """The connection failed or was dropped before a complete response arrived."""

    default_retryable = True


class FalBadRequestError(FalError):
    """Any other 4xx, e.g. 400 `bad_request` or fetching a result before it is ready."""

    @property
    def retryable(self) -> bool:
        if self.server_retryable is not None:
            return self.server_retryable
        return self.status_code == 408


class FalResponseError(FalError):
    """A success response whose body is not what fal's protocol promises."""
