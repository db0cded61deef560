"""Turn a prompt set's `file:` inputs into fal storage URLs, uploading each content once.

Runs after validation (`local_files.py` has checked every file) and before the engine, so an
upload failure (a rejected key, fal's storage down) stops the run with nothing submitted.
Uploads are remembered in `generation.uploads` by the bytes' sha256: a rerun, another prompt
set or another run with the same bytes reuses the URL until shortly before it expires.

An item's key is computed from its input with each file replaced by its sha256, not by its
URL: re-uploading an expired file keeps every item's key (nothing is resubmitted), while
changing a file's bytes changes the keys of exactly the items that use it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fal_platform.batch.local_files import (
    LocalFile,
    file_refs,
    inspect_file,
    replace_refs,
    resolve_path,
)
from fal_platform.batch.prompt_items import MappedItems, input_digest, repeated_digests
from fal_platform.batch.prompts import (
    PromptItem,
    PromptProblem,
    PromptSet,
    PromptSetError,
    make_item_key,
)
from fal_platform.batch.tables import UPLOADS
from fal_platform.batch.upload_row import UploadRow
from fal_platform.canonical_json import canonical_json
from fal_platform.client.storage import StorageClient
from fal_platform.store.backend import TableBackend

logger = logging.getLogger("fal_platform.batch")

FAL_DEFAULT_RETENTION = timedelta(days=7)
"""fal keeps CDN files "at least 7 days" unless a lifecycle says otherwise (fal's FAQ)."""
REUSE_MARGIN = timedelta(hours=1)
"""An upload this close to expiring is uploaded again, so it cannot vanish while jobs run."""
UPLOAD_CONCURRENCY = 4
KEY_PREFIX = "sha256:"


@dataclass(frozen=True)
class _Content:
    path: Path
    sha256: str
    file: LocalFile


class UploadLedger:
    """`generation.uploads`, in the same database as the batch store (DuckDB or Postgres)."""

    def __init__(self, tables: TableBackend) -> None:
        self._tables = tables
        self._ready = False

    def _ensure(self) -> None:
        """Created on first use: a set without local files leaves no table behind."""
        if not self._ready:
            self._tables.ensure(UPLOADS)
            self._ready = True

    def load(self, digests: Iterable[str]) -> dict[str, UploadRow]:
        """One look-up per distinct file of the set (a handful), by the table's key."""
        wanted = sorted(set(digests))
        if not wanted:
            return {}
        self._ensure()
        rows = [
            row for digest in wanted for row in self._tables.load(UPLOADS, {"sha256": digest}, ())
        ]
        return {row.sha256: row for row in rows}

    def record(self, rows: Sequence[UploadRow]) -> None:
        if rows:
            self._ensure()
            self._tables.upsert(UPLOADS, rows)


@dataclass(frozen=True)
class UploadOutcome:
    prompt_set: PromptSet
    """The set to run: `file:` values replaced by URLs, item keys from the files' sha256."""
    uploaded: int
    reused: int


async def attach_uploads(
    prompt_set: PromptSet,
    storage: StorageClient,
    ledger: UploadLedger,
    *,
    expires_in: int | None = None,
    now: datetime | None = None,
) -> UploadOutcome:
    """Upload the set's local files that fal does not hold yet; a set without any is returned
    as it is. Raises `PromptSetError` for a file that changed into something unreadable since
    validation, and `FalError` when an upload fails (after retries)."""
    base_dir = prompt_set.path.parent
    paths = _named_paths(prompt_set)
    if not paths:
        return UploadOutcome(prompt_set, 0, 0)
    contents = await asyncio.to_thread(_hash_files, prompt_set, sorted(paths))
    moment = now or datetime.now(UTC)
    known = await asyncio.to_thread(ledger.load, (c.sha256 for c in contents.values()))
    fresh = {
        digest: row
        for digest, row in known.items()
        if row.expires_at is None or row.expires_at > moment + REUSE_MARGIN
    }
    missing: dict[str, _Content] = {}
    for content in contents.values():  # in path order: a content is named by its first path
        if content.sha256 not in fresh:
            missing.setdefault(content.sha256, content)
    new_rows = await _upload(
        prompt_set, storage, ledger, list(missing.values()), expires_in, moment
    )
    urls = {**{d: r.url for d, r in fresh.items()}, **{r.sha256: r.url for r in new_rows}}
    logger.info(
        "local files of %s: %d uploaded, %d reused", prompt_set.name, len(new_rows), len(fresh)
    )
    repeated = await asyncio.to_thread(_repeated_key_inputs, prompt_set.items, base_dir, contents)
    items = MappedItems(
        prompt_set.items, lambda each: _resolved_items(each, base_dir, contents, urls, repeated)
    )
    return UploadOutcome(replace(prompt_set, items=items), len(new_rows), len(fresh))


def _named_paths(prompt_set: PromptSet) -> set[Path]:
    """The local files the set names: as its read found them, or (a set built in code) from
    its items."""
    if prompt_set.local_files is not None:
        return set(prompt_set.local_files.paths)
    base_dir = prompt_set.path.parent
    return {
        resolve_path(ref.spec, base_dir)
        for item in prompt_set.items
        for ref in file_refs(item.input)
        if ref.spec.strip()
    }


async def _upload(
    prompt_set: PromptSet,
    storage: StorageClient,
    ledger: UploadLedger,
    contents: list[_Content],
    expires_in: int | None,
    moment: datetime,
) -> list[UploadRow]:
    """Upload `contents` a few at a time and record them; what did upload is recorded even
    when another upload fails, so the next run does not send it again."""
    limit = asyncio.Semaphore(UPLOAD_CONCURRENCY)

    async def upload(content: _Content) -> UploadRow:
        async with limit:
            data = await asyncio.to_thread(content.path.read_bytes)
            if hashlib.sha256(data).hexdigest() != content.sha256:
                problem = f"{content.path} changed while the run was starting; run it again"
                raise PromptSetError([PromptProblem(str(prompt_set.path), 0, "file", problem)])
            url = await storage.upload(
                data, content.file.content_type, content.path.name, expires_in=expires_in
            )
        retention = timedelta(seconds=expires_in) if expires_in else FAL_DEFAULT_RETENTION
        return UploadRow(
            content.sha256,
            content.path.name,
            content.file.content_type,
            len(data),
            url,
            moment,
            moment + retention,
        )

    outcomes = await asyncio.gather(*(upload(c) for c in contents), return_exceptions=True)
    rows = [row for row in outcomes if isinstance(row, UploadRow)]
    await asyncio.to_thread(ledger.record, rows)  # what did upload is kept for next time
    for failure in outcomes:
        if isinstance(failure, BaseException):
            raise failure
    return rows


def _hash_files(prompt_set: PromptSet, paths: list[Path]) -> dict[Path, _Content]:
    contents: dict[Path, _Content] = {}
    problems: list[PromptProblem] = []
    for path in paths:
        found = inspect_file(path)
        if isinstance(found, str):
            problems.append(PromptProblem(str(prompt_set.path), 0, "file", found))
            continue
        with path.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        contents[path] = _Content(path, digest, found)
    if problems:
        raise PromptSetError(problems)
    return contents


def _key_input(item: PromptItem, base_dir: Path, contents: dict[Path, _Content]) -> Any:
    """The item's input with each file replaced by its sha256: what its key is made from."""
    return replace_refs(
        item.input, lambda spec: KEY_PREFIX + contents[resolve_path(spec, base_dir)].sha256
    )


def _repeated_key_inputs(
    items: Iterable[PromptItem], base_dir: Path, contents: dict[Path, _Content]
) -> frozenset[int]:
    """Digests of the key inputs that occur more than once: only those need counting."""
    digests = array(
        "Q",
        (
            input_digest(item.endpoint_id, canonical_json(_key_input(item, base_dir, contents)))
            for item in items
        ),
    )
    return repeated_digests(digests)


def _resolved_items(
    items: Iterable[PromptItem],
    base_dir: Path,
    contents: dict[Path, _Content],
    urls: dict[str, str],
    repeated: frozenset[int],
) -> Iterator[PromptItem]:
    """Items with URLs for inputs and keys from content; replicas recounted on those keys, so
    two files with equal bytes behave like one file named twice. Produced one at a time on
    each iteration; only key inputs in `repeated` are counted (as `prompt_items.expand`)."""
    seen: Counter[tuple[str, str]] = Counter()
    for item in items:
        key_input = _key_input(item, base_dir, contents)
        canonical = canonical_json(key_input)
        replica = 0
        if input_digest(item.endpoint_id, canonical) in repeated:
            replica = seen[(item.endpoint_id, canonical)]
            seen[(item.endpoint_id, canonical)] += 1
        yield replace(
            item,
            input=replace_refs(
                item.input, lambda spec: urls[contents[resolve_path(spec, base_dir)].sha256]
            ),
            replica=replica,
            item_key=make_item_key(item.endpoint_id, key_input, replica),
        )
