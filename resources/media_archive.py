"""`MediaArchiveResource`: where archived media goes and how hard the archive may download.

The root is a folder or any fsspec URL (`s3://bucket/prefix`); the code location reads
`FAL_PLATFORM_MEDIA_ROOT` through `EnvVar`, so the UI shows the variable's name. Credentials
for object stores come from their usual variables (AWS_ACCESS_KEY_ID, ...), read by the store's
own library, never by this resource.
"""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg
from pydantic import Field

from fal_platform.media.archive import ArchiveSettings
from fal_platform.media.archive_download import DownloadSettings
from fal_platform.media.archive_root import MediaRoot
from fal_platform.paths import ENV_DATA_DIR, ENV_MEDIA_ROOT, DataPaths, default_media_root

_DEFAULTS = DownloadSettings()


class MediaArchiveResource(dg.ConfigurableResource):
    """The archive's root and its download limits."""

    root: str = Field(
        description=f"Folder or fsspec URL of the archive ({ENV_MEDIA_ROOT}; default "
        f"<{ENV_DATA_DIR}>/media)."
    )
    max_concurrency: int = Field(
        default=_DEFAULTS.max_concurrency, ge=1, description="Downloads in flight at once."
    )
    max_attempts: int = Field(
        default=_DEFAULTS.max_attempts, ge=1, description="Tries per file on 5xx and timeouts."
    )
    timeout_seconds: float = Field(
        default=_DEFAULTS.timeout_seconds,
        gt=0,
        description="Connect and per-chunk read timeout (s), not a limit on a whole file.",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> MediaArchiveResource:
        if environ.get(ENV_MEDIA_ROOT):
            return cls(root=dg.EnvVar(ENV_MEDIA_ROOT))
        return cls(root=default_media_root(DataPaths.from_env(environ).data_dir))

    def open_root(self) -> MediaRoot:
        """The parsed root; a malformed one raises `MediaRootError` naming it."""
        return MediaRoot.open(self.root)

    def settings(self, *, retry_lost: bool = False) -> ArchiveSettings:
        download = DownloadSettings(
            max_concurrency=self.max_concurrency,
            max_attempts=self.max_attempts,
            timeout_seconds=self.timeout_seconds,
        )
        return ArchiveSettings(download=download, retry_lost=retry_lost)
