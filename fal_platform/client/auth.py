"""The fal API key, wrapped so that it cannot leak through logs, reprs or exception text."""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping

_MASK = "****"


class ApiKey:
    """A fal API key that never prints itself.

    The raw secret is reachable only through `header_value()`, which is what the HTTP layer
    needs; everything a person might see (repr, str, f-strings, error messages) shows a mask.
    An empty or whitespace-only string counts as "no key", because that is what an unset
    `FAL_KEY=` in a shell or a `.env` file produces.
    """

    __slots__ = ("_secret",)

    def __init__(self, secret: str | None = None) -> None:
        cleaned = secret.strip() if secret is not None else ""
        self._secret: str | None = cleaned or None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ApiKey:
        """Resolve the key the way fal-client does: `FAL_KEY`, else `FAL_KEY_ID:FAL_KEY_SECRET`."""
        env = os.environ if environ is None else environ
        key = env.get("FAL_KEY", "").strip()
        if key:
            return cls(key)
        key_id = env.get("FAL_KEY_ID", "").strip()
        key_secret = env.get("FAL_KEY_SECRET", "").strip()
        if key_id and key_secret:
            return cls(f"{key_id}:{key_secret}")
        return cls(None)

    @property
    def is_set(self) -> bool:
        return self._secret is not None

    def __bool__(self) -> bool:
        return self.is_set

    def header_value(self) -> str:
        """The `Authorization` header value fal expects (`Key <key>`, not `Bearer`)."""
        if self._secret is None:
            raise ValueError("no fal API key is set (set FAL_KEY)")
        return f"Key {self._secret}"

    def redact(self, text: str) -> str:
        """Replace every occurrence of the key (and of its secret half) in `text` with a mask."""
        if self._secret is None or not text:
            return text
        redacted = text.replace(self._secret, _MASK)
        # A key looks like "<id>:<secret>"; the secret half alone is just as sensitive.
        _, sep, secret_half = self._secret.partition(":")
        if sep and len(secret_half) >= 4:
            redacted = redacted.replace(secret_half, _MASK)
        return redacted

    def __repr__(self) -> str:
        return f"ApiKey('{_MASK}')" if self._secret is not None else "ApiKey(None)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ApiKey):
            return NotImplemented
        if self._secret is None or other._secret is None:
            return self._secret is other._secret
        return hmac.compare_digest(self._secret.encode(), other._secret.encode())

    def __hash__(self) -> int:
        return hash(("ApiKey", self._secret))

    def __reduce__(self) -> tuple[type[ApiKey], tuple[str | None]]:
        # Pickling (e.g. to a worker process) must keep working; it is not a display path.
        return (ApiKey, (self._secret,))
