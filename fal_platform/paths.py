"""Where fal-platform keeps its data: the env-var names and defaults, declared once.

Everything lives under one data directory so a user can see (and delete) all state in one place,
and so dlt never writes to the home directory. Only entry points read the environment
(`fal_platform/definitions.py`, the CLI); everything below them receives a `DataPaths` or the
Dagster resource built from one (`resources/paths.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fal_platform.store.target import StoreTarget

ENV_DATA_DIR = "FAL_PLATFORM_DATA_DIR"
ENV_DUCKDB = "FAL_PLATFORM_DUCKDB"
ENV_PROMPTS_DIR = "FAL_PLATFORM_PROMPTS_DIR"
ENV_DATABASE_URL = "FAL_PLATFORM_DATABASE_URL"
"""Unset: every table in the DuckDB file. `postgresql://user:password@host:port/db`: every
table (and the catalog dlt loads) in that database instead; no DuckDB file is created."""
ENV_MEDIA_ROOT = "FAL_PLATFORM_MEDIA_ROOT"
"""Where archived media is kept: a folder or any fsspec URL (`s3://bucket/prefix`)."""

DEFAULT_DATA_DIR = Path("data")
DEFAULT_PROMPTS_DIR = Path("prompts")
DUCKDB_FILE_NAME = "fal_platform.duckdb"
DLT_DIR_NAME = "dlt"
MEDIA_DIR_NAME = "media"


def default_media_root(data_dir: Path | str) -> str:
    """The media archive's folder when `FAL_PLATFORM_MEDIA_ROOT` is unset: `<data>/media`."""
    return str(Path(data_dir) / MEDIA_DIR_NAME)


@dataclass(frozen=True)
class DataPaths:
    """The data directory, the DuckDB file, the prompt sets and dlt's working directory, and
    the database URL when the tables live in Postgres (a secret: never in `repr`)."""

    data_dir: Path
    duckdb: Path
    prompts_dir: Path
    database_url: str | None = field(default=None, repr=False)

    @property
    def store(self) -> StoreTarget:
        """Where the tables live; raises DatabaseUrlError (no password) on a malformed URL."""
        return StoreTarget.from_url(self.database_url, self.duckdb)

    @property
    def dlt_pipelines_dir(self) -> Path:
        """dlt's working directory (local pipeline state, load packages), next to the DuckDB file."""
        return self.duckdb.parent / DLT_DIR_NAME

    @classmethod
    def under(
        cls,
        data_dir: Path,
        prompts_dir: Path = DEFAULT_PROMPTS_DIR,
        database_url: str | None = None,
    ) -> DataPaths:
        """The DuckDB file and dlt's directory inside `data_dir` (the demo, tests)."""
        return cls(
            data_dir=data_dir,
            duckdb=data_dir / DUCKDB_FILE_NAME,
            prompts_dir=prompts_dir,
            database_url=database_url,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> DataPaths:
        """`FAL_PLATFORM_DATA_DIR`, `FAL_PLATFORM_DUCKDB`, `FAL_PLATFORM_PROMPTS_DIR`,
        `FAL_PLATFORM_DATABASE_URL`, else defaults."""
        data = Path(environ.get(ENV_DATA_DIR) or DEFAULT_DATA_DIR)
        duckdb = environ.get(ENV_DUCKDB)
        return cls(
            data_dir=data,
            duckdb=Path(duckdb) if duckdb else data / DUCKDB_FILE_NAME,
            prompts_dir=Path(environ.get(ENV_PROMPTS_DIR) or DEFAULT_PROMPTS_DIR),
            database_url=environ.get(ENV_DATABASE_URL) or None,
        )
