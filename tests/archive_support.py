"""Helpers for the media archive tests: media rows pointing at a real emulator's files."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from fal_platform.batch.rows import MediaRow
from fal_platform.emulator import media
from fal_platform.media.archive_table import ArchiveTable
from fal_platform.store.target import StoreTarget

VIDEO_BPS = 2 * 1024 * 1024
"""Emulator video rate for these tests: a 3 s video is 6 MiB."""


def image_row(base: str, prompt_set: str, index: int, side: int = 64) -> MediaRow:
    colour = media.PALETTE[index % len(media.PALETTE)]
    return MediaRow(
        prompt_set=prompt_set,
        request_id=f"req-{prompt_set}-{index}",
        endpoint_id="fal-ai/flux/schnell",
        item_key=f"item-{index}",
        position=0,
        media_kind="image",
        url=f"{base}/media/req-{prompt_set}-{index}/0.png?w={side}&h={side + index}&c={colour}",
        content_type="image/png",
        width=side,
        height=side + index,
        file_size=len(media.png_bytes(side, side + index, colour)),
    )


def video_row(
    base: str, prompt_set: str, index: int, seconds: int = 3, bps: int = VIDEO_BPS
) -> MediaRow:
    ms = seconds * 1000 + index  # distinct content per video
    return MediaRow(
        prompt_set=prompt_set,
        request_id=f"vid-{prompt_set}-{index}",
        endpoint_id="fal-ai/kling-video/v2/master/text-to-video",
        item_key=f"video-{index}",
        position=0,
        media_kind="video",
        url=f"{base}/media/vid-{prompt_set}-{index}/0.mp4?ms={ms}&bps={bps}",
        content_type="video/mp4",
        file_size=media.mp4_size(ms, bps),
    )


def table_at(db: Path) -> ArchiveTable:
    return ArchiveTable(StoreTarget(db).backend())


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def stored_files(root: Path) -> list[Path]:
    """Every object under a final name (partials live in `.partial/` and are not counted)."""
    return sorted(p for p in root.glob("??/*") if p.is_file())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def moto_server(startup_timeout: float = 90.0) -> Iterator[str]:
    """moto's standalone S3-compatible server on a free loopback port; yields its URL."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            try:
                httpx.get(url + "/moto-api/", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def aws_environment(endpoint: str, secret: str) -> dict[str, str]:
    """The usual AWS variables, aimed at a local S3-compatible server."""
    return {
        "AWS_ACCESS_KEY_ID": "local-key",
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
