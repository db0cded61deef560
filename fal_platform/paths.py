"""Where fal-platform keeps its files, from env vars with repo-relative defaults.

Everything lives under one data directory so a user can see (and delete) all state in one place,
and so dlt never writes to the home directory.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_DATA_DIR = "FAL_PLATFORM_DATA_DIR"
ENV_DUCKDB = "FAL_PLATFORM_DUCKDB"
ENV_PROMPTS_DIR = "FAL_PLATFORM_PROMPTS_DIR"


def data_dir() -> Path:
    return Path(os.environ.get(ENV_DATA_DIR) or "data")


def duckdb_path() -> Path:
    configured = os.environ.get(ENV_DUCKDB)
    return Path(configured) if configured else data_dir() / "fal_platform.duckdb"


def dlt_pipelines_dir() -> Path:
    """dlt's working directory (local pipeline state, load packages), next to the DuckDB file."""
    return duckdb_path().parent / "dlt"


def prompts_dir() -> Path:
    return Path(os.environ.get(ENV_PROMPTS_DIR) or "prompts")
