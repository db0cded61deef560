"""Archive a prompt set's media before fal deletes it: plan, download, store, record.

fal keeps generated files for at least 7 days and may delete them any time after, so every
file of `media.files` is copied into the platform's own content-addressed store
(`media/archive_root.py`) and recorded in `media.archive` (`media/archive_table.py`). A rerun
downloads nothing already archived (known URL, stored object present with the right size) and
does not retry `lost` files unless forced; `failed` ones are tried again.

Downloads run concurrently (at most `max_concurrency`), each streamed to a partial file
(`media/archive_download.py`) and committed under its final name only once whole. Rows are
written as files finish, in small batches, so a killed run loses at most one batch of records
(the files themselves are found again by their content address).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import httpx

from fal_platform import event_loop
from fal_platform.batch.rows import MediaRow
from fal_platform.media.archive_download import (
    Downloaded,
    DownloadError,
    DownloadSettings,
    FileGoneError,
    download,
)
from fal_platform.media.archive_root import MediaRoot
from fal_platform.media.archive_table import ArchiveRow, ArchiveStatus, ArchiveTable

WRITE_EVERY = 50
"""Rows per `media.archive` write while downloads run (and once more at the end)."""
SIZE_CHECKS_IN_FLIGHT = 16


@dataclass(frozen=True)
class ArchiveSettings:
    download: DownloadSettings = field(default_factory=DownloadSettings)
    retry_lost: bool = False
    """Try `lost` files again (fal answered 404/410 before; normally they stay lost)."""


@dataclass(frozen=True)
class ArchiveReport:
    rows: list[ArchiveRow]
    """The partition's archive rows after this run, one per archivable URL."""
    downloaded: int
    reused: int
    bytes_downloaded: int
    seconds: float
    skipped: int
    """Files that are no URL to download (inline `data:` files live in the request's result)."""

    def count(self, status: ArchiveStatus) -> int:
        return sum(row.status == status for row in self.rows)

    @property
    def archived_bytes(self) -> int:
        return sum(row.bytes or 0 for row in self.rows if row.status == ArchiveStatus.ARCHIVED)

    @property
    def type_mismatches(self) -> int:
        return sum(1 for row in self.rows if row.error and row.error.startswith(TYPE_MISMATCH))


TYPE_MISMATCH = "content type"


def is_archivable(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def plan(
    files: Sequence[MediaRow],
    known: Mapping[str, ArchiveRow],
    stored_sizes: Mapping[str, int | None],
    *,
    retry_lost: bool = False,
) -> tuple[list[MediaRow], list[ArchiveRow]]:
    """(files to download, rows kept as they are). Pure: `stored_sizes` maps the stored URI of
    each known archived row to the size found there (None: the object is missing)."""
    fetch: list[MediaRow] = []
    kept: list[ArchiveRow] = []
    for file in {f.url: f for f in files if is_archivable(f.url)}.values():
        row = known.get(file.url)
        if row is None or row.status == ArchiveStatus.FAILED:
            fetch.append(file)
        elif row.status == ArchiveStatus.LOST and not retry_lost:
            kept.append(row)
        elif row.status == ArchiveStatus.LOST:
            fetch.append(file)
        elif row.stored_uri is not None and stored_sizes.get(row.stored_uri) == row.bytes:
            kept.append(row)
        else:
            fetch.append(file)
    return fetch, kept


def same_media_type(claimed: str | None, sniffed: str | None) -> bool:
    """Whether fal's content type and the sniffed one name the same format (`audio/wav` and
    `audio/x-wav` do; parameters such as `; charset=` are ignored)."""
    if not claimed or not sniffed:
        return True

    def norm(value: str) -> str:
        major, _, minor = value.split(";", 1)[0].strip().lower().partition("/")
        minor = minor.removeprefix("x-").removeprefix("vnd.")
        return f"{major}/{ {'wave': 'wav', 'jpg': 'jpeg', 'mp3': 'mpeg'}.get(minor, minor) }"

    return norm(claimed) == norm(sniffed)


def _extension(file: MediaRow, got: Downloaded) -> str:
    if got.sniffed_extension:
        return got.sniffed_extension
    suffix = PurePosixPath(urlsplit(file.url).path).suffix.lstrip(".")
    return suffix or "bin"


def _archived_row(file: MediaRow, got: Downloaded, uri: str, now: datetime) -> ArchiveRow:
    error = None
    if not same_media_type(file.content_type, got.sniffed_type):
        error = f"{TYPE_MISMATCH}: fal said {file.content_type}, the bytes are {got.sniffed_type}"
    return ArchiveRow(
        url=file.url,
        prompt_set=file.prompt_set,
        request_id=file.request_id,
        status=ArchiveStatus.ARCHIVED,
        sha256=got.sha256,
        bytes=got.size,
        content_type=got.sniffed_type or file.content_type,
        stored_uri=uri,
        error=error,
        archived_at=now,
    )


def _problem_row(file: MediaRow, status: ArchiveStatus, error: str) -> ArchiveRow:
    return ArchiveRow(
        url=file.url,
        prompt_set=file.prompt_set,
        request_id=file.request_id,
        status=status,
        content_type=file.content_type,
        error=error,
    )


async def _archive_one(
    client: httpx.AsyncClient, root: MediaRoot, file: MediaRow, settings: DownloadSettings
) -> ArchiveRow:
    partial = root.partial_file()
    try:
        got = await download(client, file.url, partial, file.file_size, settings)
    except FileGoneError as error:
        return _problem_row(file, ArchiveStatus.LOST, str(error))
    except DownloadError as error:
        return _problem_row(file, ArchiveStatus.FAILED, str(error))
    path = root.object_path(got.sha256, _extension(file, got))
    try:
        if root.is_local:  # a stat and a rename: cheaper than a hop to a thread
            root.commit(got.partial, path, got.size)
        else:
            await asyncio.to_thread(root.commit, got.partial, path, got.size)
    except OSError as error:
        return _problem_row(file, ArchiveStatus.FAILED, f"storing: {error}")
    return _archived_row(file, got, root.uri(path), datetime.now(UTC))


async def _download_all(
    files: Sequence[MediaRow],
    root: MediaRoot,
    settings: DownloadSettings,
    write: Callable[[list[ArchiveRow]], object],
) -> list[ArchiveRow]:
    gate = asyncio.Semaphore(settings.max_concurrency)
    limits = httpx.Limits(max_connections=settings.max_concurrency)
    timeout = httpx.Timeout(settings.timeout_seconds)
    done: list[ArchiveRow] = []
    pending: list[ArchiveRow] = []
    writing = asyncio.Lock()  # one table write at a time

    async def one(file: MediaRow) -> None:
        async with gate:
            row = await _archive_one(client, root, file, settings)
        done.append(row)
        pending.append(row)
        if len(pending) >= WRITE_EVERY:
            batch = pending[:]
            pending.clear()
            async with writing:
                await asyncio.to_thread(write, batch)

    async with httpx.AsyncClient(limits=limits, timeout=timeout, follow_redirects=True) as client:
        await asyncio.gather(*(one(file) for file in files))
    if pending:
        await asyncio.to_thread(write, pending)
    return done


def _stored_sizes(root: MediaRoot, rows: Sequence[ArchiveRow]) -> dict[str, int | None]:
    uris = [r.stored_uri for r in rows if r.status == ArchiveStatus.ARCHIVED and r.stored_uri]

    async def sizes() -> dict[str, int | None]:
        gate = asyncio.Semaphore(SIZE_CHECKS_IN_FLIGHT)

        async def one(uri: str) -> tuple[str, int | None]:
            async with gate:
                return uri, await asyncio.to_thread(root.size, root.path_of(uri))

        return dict(await asyncio.gather(*(one(uri) for uri in uris)))

    return event_loop.run(sizes()) if uris else {}


def archive_partition(
    files: Sequence[MediaRow],
    table: ArchiveTable,
    root: MediaRoot,
    settings: ArchiveSettings | None = None,
) -> ArchiveReport:
    """Archive every downloadable file of `files` (one prompt set's `media.files` rows).

    Fails before any download, naming the root, when the root cannot be written.
    """
    settings = settings or ArchiveSettings()
    started = time.monotonic()
    root.check_writable()
    root.sweep_partials()
    known = (
        table.load(files[0].prompt_set, [f.url for f in files if is_archivable(f.url)])
        if files
        else {}
    )
    fetch, kept = plan(
        files, known, _stored_sizes(root, list(known.values())), retry_lost=settings.retry_lost
    )
    fetched = event_loop.run(_download_all(fetch, root, settings.download, table.upsert))
    archived = [r for r in fetched if r.status == ArchiveStatus.ARCHIVED]
    return ArchiveReport(
        rows=sorted([*kept, *fetched], key=lambda row: row.url),
        downloaded=len(archived),
        reused=len(kept),
        bytes_downloaded=sum(r.bytes or 0 for r in archived),
        seconds=time.monotonic() - started,
        skipped=sum(not is_archivable(f.url) for f in files),
    )
