"""Where archived media lives: a content-addressed folder on any fsspec filesystem.

An object's path is `<root>/<sha256[:2]>/<sha256>.<ext>`, so identical content is stored once
and a name always tells what its bytes must hash to. fsspec is the one interface: a local
folder, `file://...`, `s3://bucket/prefix` (s3fs, credentials from the usual AWS variables) or
any other protocol whose fsspec package is installed.

A file is never written under its final name until it is whole. On a local root it is written
to `<root>/.partial/` (same filesystem) and renamed; elsewhere it is staged in a local temporary
folder and uploaded with one `put_file`, which an object store makes visible only once complete.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from fsspec import AbstractFileSystem
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

PARTIAL_DIR = ".partial"
UPLOAD_PART_BYTES = 5 * 1024 * 1024
"""S3's smallest multipart part."""
STALE_PARTIAL_SECONDS = 24 * 3600.0
"""Partial files older than this were left by a killed run (no live download is that slow)."""
_EXTENSION = re.compile(r"^[a-z0-9]{1,8}$")
_SCHEME_WITHOUT_SLASHES = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:(?!//)")
"""`s3:/bucket` or `s3:bucket`: fsspec would take it for a local folder named `s3:`."""


class MediaRootError(ValueError):
    """The media root cannot be used; the message names it (credentials masked)."""


def display_root(root: str) -> str:
    """`root` as it may be shown: a `user:password@` in a URL is masked."""
    parts = urlsplit(root)
    if parts.username is None and parts.password is None:
        return root
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True)
class MediaRoot:
    """An opened root: its filesystem, its base path there, and how to show it."""

    root: str
    fs: AbstractFileSystem
    base: str

    @classmethod
    def open(cls, root: str) -> MediaRoot:
        """Parse `root` (fails with `MediaRootError` naming it); touches nothing yet."""
        shown = display_root(root)
        if not root.strip():
            raise MediaRootError(
                "media root is empty: set FAL_PLATFORM_MEDIA_ROOT to a folder or URL"
            )
        if _SCHEME_WITHOUT_SLASHES.match(root):
            raise MediaRootError(f"media root {shown!r} is malformed: a URL needs '://'")
        try:
            fs, base = url_to_fs(root, skip_instance_cache=True)
        except (ValueError, ImportError, TypeError) as error:
            raise MediaRootError(f"media root {shown!r} is not usable: {error}") from None
        base = base.rstrip("/")
        if not base and not isinstance(fs, LocalFileSystem):
            raise MediaRootError(f"media root {shown!r} names no bucket or folder")
        return cls(root, fs, base)

    @property
    def shown(self) -> str:
        return display_root(self.root)

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    @property
    def _put_options(self) -> dict[str, int]:
        """s3fs reads a file below two parts whole, and a larger one 10 parts of 50 MiB at a
        time; one 5 MiB part at a time keeps an upload's memory flat in file size (files
        upload in parallel with each other instead)."""
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        if "s3" not in protocols:
            return {}
        return {"chunksize": UPLOAD_PART_BYTES, "max_concurrency": 1}

    def check_writable(self) -> None:
        """Write, read back and delete a probe object; before any download, so a bad root fails
        the run at once instead of failing every file."""
        probe = f"{self.base}/{PARTIAL_DIR}/probe-{uuid.uuid4().hex}"
        try:
            if self.is_local:  # an object store has no folders; a missing bucket must fail
                self.fs.makedirs(f"{self.base}/{PARTIAL_DIR}", exist_ok=True)
            self.fs.pipe_file(probe, b"fal-platform")
            if self.fs.cat_file(probe) != b"fal-platform":
                raise OSError("the probe object read back different bytes")
            self.fs.rm_file(probe)
        except Exception as error:  # any backend's error: the root is unusable either way
            raise MediaRootError(f"media root {self.shown!r} is not writable: {error}") from None

    def object_path(self, sha256: str, extension: str) -> str:
        ext = extension.lower() if _EXTENSION.match(extension.lower()) else "bin"
        return f"{self.base}/{sha256[:2]}/{sha256}.{ext}"

    def uri(self, path: str) -> str:
        """A URI any fsspec user can open: `file:///...`, `s3://...`."""
        return str(self.fs.unstrip_protocol(path))

    def path_of(self, uri: str) -> str:
        return str(self.fs._strip_protocol(uri))

    def size(self, path: str) -> int | None:
        """The stored object's size, None when it is absent."""
        try:
            return int(self.fs.size(path))
        except FileNotFoundError:
            return None

    def read(self, path: str) -> bytes:
        return bytes(self.fs.cat_file(path))

    def partial_file(self) -> Path:
        """A fresh local file name for a download in progress (see the module docstring)."""
        name = f"{os.getpid()}-{uuid.uuid4().hex}.part"
        if self.is_local:
            folder = Path(self.base) / PARTIAL_DIR
        else:
            folder = Path(tempfile.gettempdir()) / "fal-platform-media"
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
        return folder / name

    def commit(self, partial: Path, path: str, size: int) -> None:
        """Make `partial` the object at `path`, unless an object of that size is already
        there (same name, so same content); `partial` is gone afterwards either way."""
        try:
            if self.size(path) == size:
                return
            if self.is_local:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                os.replace(partial, path)
            else:
                self.fs.put_file(str(partial), path, **self._put_options)
        finally:
            partial.unlink(missing_ok=True)

    def sweep_partials(self, older_than: float = STALE_PARTIAL_SECONDS) -> int:
        """Delete partial files a killed run left behind; returns how many."""
        folder = Path(self.base) / PARTIAL_DIR if self.is_local else None
        if folder is None or not folder.is_dir():
            return 0
        cutoff = time.time() - older_than
        removed = 0
        for leftover in folder.glob("*.part"):
            try:
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed
