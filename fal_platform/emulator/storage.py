"""The emulator's file storage: what fal's storage API and CDN hold for uploaded files.

Both upload flows of fal_protocol.md section 5 end here: the `fal_v3` flow
(token, then bytes posted to the CDN, or multipart above 100 MiB) and the `initiate` flow
(an upload URL the bytes are PUT to). Files honour the lifecycle the client asked for
(`X-Fal-Object-Lifecycle`), so an expired upload answers 404 like a deleted CDN object.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

LIFECYCLE_HEADERS = ("x-fal-object-lifecycle", "x-fal-object-lifecycle-preference")
FILES_PATH = "/cdn/files/"
TOKEN_SECONDS = 3600.0
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str | None) -> str:
    """The file name as it appears in a URL: no slashes, spaces or other specials."""
    cleaned = _UNSAFE_NAME.sub("_", (name or "").strip()).strip("._")
    return cleaned[:120] or "upload.bin"


def expiration_seconds(headers: dict[str, str]) -> float | None:
    """`expiration_duration_seconds` from either lifecycle header; None for no expiry."""
    for name in LIFECYCLE_HEADERS:
        raw = headers.get(name)
        if not raw:
            continue
        try:
            value = json.loads(raw).get("expiration_duration_seconds")
        except (ValueError, AttributeError):
            return None
        return float(value) if isinstance(value, int | float) and value > 0 else None
    return None


@dataclass
class StoredFile:
    content_type: str
    expires_at: float | None
    data: bytes = b""
    parts: dict[int, bytes] = field(default_factory=dict)
    """Multipart uploads in progress: part number -> bytes."""


@dataclass
class FileStore:
    """Files by id; an id is reserved (empty) when an upload starts and filled when it ends."""

    files: dict[str, StoredFile] = field(default_factory=dict)
    complete: set[str] = field(default_factory=set)
    tokens: dict[str, float] = field(default_factory=dict)
    """CDN tokens handed out, with when each expires."""

    def issue_token(self, now: float) -> tuple[str, float]:
        token = secrets.token_urlsafe(24)
        self.tokens[token] = now + TOKEN_SECONDS
        return token, now + TOKEN_SECONDS

    def token_valid(self, authorization: str, now: float) -> bool:
        scheme, _, token = authorization.partition(" ")
        expires = self.tokens.get(token.strip())
        return scheme.lower() == "bearer" and expires is not None and now < expires

    def reserve(self, content_type: str, expires_in: float | None, now: float) -> str:
        file_id = secrets.token_hex(8)
        expires_at = now + expires_in if expires_in is not None else None
        self.files[file_id] = StoredFile(content_type or "application/octet-stream", expires_at)
        return file_id

    def pending(self, file_id: str) -> StoredFile | None:
        """A reserved file still waiting for its bytes."""
        return None if file_id in self.complete else self.files.get(file_id)

    def finish(self, file_id: str, data: bytes) -> None:
        self.files[file_id].data = data
        self.files[file_id].parts.clear()
        self.complete.add(file_id)

    def get(self, file_id: str, now: float) -> StoredFile | None:
        stored = self.files.get(file_id) if file_id in self.complete else None
        if stored is None or (stored.expires_at is not None and now >= stored.expires_at):
            return None
        return stored

    def lookup_url(self, url: str, origin: str, now: float) -> StoredFile | bool | None:
        """The stored file a URL names; None when it names one that is missing or expired;
        False when the URL is not one of this emulator's file URLs at all."""
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != origin or not parts.path.startswith(FILES_PATH):
            return False
        file_id = parts.path[len(FILES_PATH) :].partition("/")[0]
        return self.get(file_id, now)
