"""`file:<path>` in a prompt set: a local file sent to fal as the URL of its upload.

Models take files as URLs (`image_url`, `audio_url`, ...). A string input value `file:<path>`
names a local file instead, relative to the prompt file's folder or absolute; it may sit at
any depth of the input (`image_urls: [file:a.png, file:b.png]`). Every referenced file is
checked before anything is sent (exists, is a file, readable, not over the size limit), so
the problems come back with the prompt set's own, as `file:line: field: message`. The rules
here touch only the file system: uploading is `uploads.py`'s job.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import filetype

FILE_PREFIX = "file:"
MAX_FILE_BYTES = 1024**3
"""fal documents no hard limit for CDN uploads (large files go multipart above 100 MiB); 1 GiB
is our guard, so a wrong path to a disk image fails here instead of in a long upload."""
SNIFF_BYTES = 8192
DEFAULT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class FileRef:
    """One `file:` value in an item's input: where it is (`input.image_url`) and what it names."""

    field: str
    spec: str


@dataclass(frozen=True)
class LocalFile:
    path: Path
    size: int
    content_type: str


def file_refs(item_input: dict[str, Any]) -> list[FileRef]:
    return list(_walk(item_input, "input"))


def _walk(value: Any, where: str) -> Iterator[FileRef]:
    if isinstance(value, str):
        if value.startswith(FILE_PREFIX):
            yield FileRef(where, value[len(FILE_PREFIX) :])
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield from _walk(inner, f"{where}.{key}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _walk(inner, f"{where}[{index}]")


def resolve_path(spec: str, base_dir: Path) -> Path:
    """`spec` relative to the prompt file's folder (`~` expanded), or as given when absolute."""
    path = Path(spec).expanduser()
    return path if path.is_absolute() else base_dir / path


def sniff_content_type(head: bytes, name: str) -> str:
    """From the bytes (magic numbers); for text formats, which have none, from the name."""
    return filetype.guess_mime(head) or mimetypes.guess_type(name)[0] or DEFAULT_CONTENT_TYPE


def inspect_file(path: Path, max_bytes: int = MAX_FILE_BYTES) -> LocalFile | str:
    """The file's size and sniffed content type, or why it cannot be uploaded."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return f"file not found: {path}"
    except OSError as exc:
        return f"cannot access {path}: {exc.strerror}"
    if path.is_dir():
        return f"{path} is a directory, not a file"
    if not path.is_file():
        return f"{path} is not a regular file"
    if stat.st_size > max_bytes:
        return f"{path} is {stat.st_size:,} bytes, over the {max_bytes:,}-byte upload limit"
    try:
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"
    if not head:
        return f"{path} is empty"
    return LocalFile(path, stat.st_size, sniff_content_type(head, path.name))


Inspect = Callable[[Path], LocalFile | str]


def item_file_problems(
    item_input: dict[str, Any], base_dir: Path, inspect: Inspect = inspect_file
) -> list[tuple[str, str]]:
    """(field, message) for every `file:` value of one item that cannot be uploaded.

    Pass a memoizing `inspect` when many items name the same files (`FileChecker`)."""
    return ref_problems(file_refs(item_input), base_dir, inspect)


def ref_problems(
    refs: Iterable[FileRef], base_dir: Path, inspect: Inspect = inspect_file
) -> list[tuple[str, str]]:
    """(field, message) for every one of `refs` that cannot be uploaded."""
    problems: list[tuple[str, str]] = []
    for ref in refs:
        if not ref.spec.strip():
            problems.append((ref.field, "'file:' names no file; write file:<path>"))
            continue
        found = inspect(resolve_path(ref.spec, base_dir))
        if isinstance(found, str):
            problems.append((ref.field, found))
    return problems


class FileChecker:
    """`inspect_file` once per path: replicas and items sharing a file cost one stat."""

    def __init__(self, max_bytes: int = MAX_FILE_BYTES) -> None:
        self._max_bytes = max_bytes
        self._seen: dict[Path, LocalFile | str] = {}

    def __call__(self, path: Path) -> LocalFile | str:
        if path not in self._seen:
            self._seen[path] = inspect_file(path, self._max_bytes)
        return self._seen[path]


@dataclass
class LocalFileFacts:
    """What a streaming read keeps of a prompt file's `file:` inputs: each line's problems and
    the paths named, so neither the check nor the uploads walk the items again."""

    base_dir: Path
    problems: list[tuple[int, str, str]] = field(default_factory=list)
    """(line, field, message), in line order."""
    paths: set[Path] = field(default_factory=set)
    _checker: FileChecker = field(default_factory=FileChecker)

    def add(self, line: int, item_input: dict[str, Any]) -> None:
        refs = file_refs(item_input)
        if not refs:
            return
        for field_name, message in ref_problems(refs, self.base_dir, self._checker):
            self.problems.append((line, field_name, message))
        self.paths.update(resolve_path(ref.spec, self.base_dir) for ref in refs if ref.spec.strip())


def replace_refs(value: Any, replacement: Callable[[str], str]) -> Any:
    """A copy of `value` with each `file:<spec>` string replaced by `replacement(spec)`."""
    if isinstance(value, str):
        return replacement(value[len(FILE_PREFIX) :]) if value.startswith(FILE_PREFIX) else value
    if isinstance(value, dict):
        return {key: replace_refs(inner, replacement) for key, inner in value.items()}
    if isinstance(value, list):
        return [replace_refs(inner, replacement) for inner in value]
    return value
