"""Small inline thumbnails of generated images, for materialization previews.

They are made from fal's URL right after generation (`load_thumbnails`) or from the platform's
own copy (`thumbnails_of` with a reader of the archive, `media/gallery.py`'s `archive_preview`).

Dagster's UI renders metadata markdown without raw HTML (no `<img width=...>`), so an image
shows at its natural size: a few 1024 px results fill the page. A thumbnail small enough to
embed as a `data:` URI (which the UI's sanitizer allows) keeps the preview small, and keeps
working after the URL it came from is gone (an emulator that stopped, an expired CDN link).
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import threading
import time
from collections.abc import Callable, Iterable

import httpx
from PIL import Image, UnidentifiedImageError

from fal_platform.client.tls import shared_ssl_context

THUMBNAIL_PX = 160
"""Longest side of a thumbnail, in pixels."""

MAX_SOURCE_BYTES = 32 * 1024 * 1024
"""Images larger than this are linked, not fetched."""

FETCH_TIMEOUT_SECONDS = 5.0
FETCH_BUDGET_SECONDS = 15.0
"""All fetches of one preview together: past it, the remaining images are linked instead."""

_DATA_URI = re.compile(r"^data:image/[\w.+-]+;base64,(?P<payload>.*)$", re.DOTALL)


def preload_decoders() -> threading.Thread:
    """Import PIL's usual decoders (BMP, GIF, JPEG, PPM, PNG) in a background thread.

    The first image a process opens pays for those imports (~70 ms). The requests asset starts
    this before its batch, so they overlap the batch's network waits instead of delaying the
    preview made after it (benchmarks/README.md section 5)."""
    thread = threading.Thread(target=Image.preinit, name="image-decoders", daemon=True)
    thread.start()
    return thread


def thumbnail_data_uri(image: bytes, size: int = THUMBNAIL_PX) -> str | None:
    """A JPEG `data:` URI of `image` scaled to fit `size` x `size`; None if it is no image."""
    try:
        with Image.open(io.BytesIO(image)) as source:
            source.thumbnail((size, size))
            small = source.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    out = io.BytesIO()
    small.save(out, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def _read(client: httpx.Client, url: str) -> bytes | None:
    match = _DATA_URI.match(url)
    if match:
        try:
            return base64.b64decode(match.group("payload"), validate=False)
        except (binascii.Error, ValueError):
            return None
    if not url.startswith(("http://", "https://")):
        return None
    try:
        with client.stream("GET", url) as response:
            if response.status_code != 200:
                return None
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_SOURCE_BYTES:
                    return None
            return bytes(body)
    except httpx.HTTPError:
        return None


def thumbnails_of(
    sources: Iterable[str], read: Callable[[str], bytes | None], *, size: int = THUMBNAIL_PX
) -> dict[str, str]:
    """Thumbnail `data:` URIs by source, `read` giving each source's bytes (None: unreadable);
    a source that cannot be read or decoded is left out."""
    thumbnails: dict[str, str] = {}
    for source in dict.fromkeys(sources):
        image = read(source)
        thumbnail = thumbnail_data_uri(image, size) if image is not None else None
        if thumbnail is not None:
            thumbnails[source] = thumbnail
    return thumbnails


def load_thumbnails(
    urls: Iterable[str], *, size: int = THUMBNAIL_PX, timeout: float = FETCH_TIMEOUT_SECONDS
) -> dict[str, str]:
    """Thumbnail `data:` URIs by source URL; a URL that cannot be read or decoded is left out.

    A preview is a convenience: an unreachable file never fails the materialization, it is
    shown as a link instead.
    """
    deadline = time.monotonic() + FETCH_BUDGET_SECONDS
    # The process's TLS context: building one per preview costs tens of ms (client/tls.py).
    with httpx.Client(
        timeout=timeout, follow_redirects=True, verify=shared_ssl_context()
    ) as client:

        def read(url: str) -> bytes | None:
            return _read(client, url) if time.monotonic() <= deadline else None

        return thumbnails_of(urls, read, size=size)
