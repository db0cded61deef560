"""`PlatformPaths`: where the assets, checks and sensors find the data and the prompt sets.

Assets never read the environment: the code location builds this resource once
(`fal_platform/definitions.py`) and Dagster hands it to every asset, check and sensor that
asks for `paths`. A variable that is set becomes an `EnvVar`, so the UI shows its name.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import dagster as dg
from pydantic import Field

from fal_platform.paths import (
    ENV_DATA_DIR,
    ENV_DATABASE_URL,
    ENV_DUCKDB,
    ENV_PROMPTS_DIR,
    DataPaths,
)


class PlatformPaths(dg.ConfigurableResource):
    """The data directory, the DuckDB file, the prompt-set directory and dlt's directory."""

    data_dir: str = Field(description=f"Everything fal-platform writes ({ENV_DATA_DIR}).")
    duckdb_path: str = Field(description=f"The DuckDB file every asset uses ({ENV_DUCKDB}).")
    prompts_dir: str = Field(
        description=f"One prompt-set file per partition: <partition>.jsonl, .yaml or .csv "
        f"({ENV_PROMPTS_DIR})."
    )
    dlt_pipelines_dir: str = Field(
        description="dlt's working directory (pipeline state, load packages), next to the "
        "DuckDB file."
    )
    database_url: str | None = Field(
        default=None,
        description=f"The PostgreSQL database holding every table ({ENV_DATABASE_URL}); "
        "unset: the DuckDB file.",
    )

    @classmethod
    def of(cls, paths: DataPaths) -> PlatformPaths:
        return cls(
            data_dir=str(paths.data_dir),
            duckdb_path=str(paths.duckdb),
            prompts_dir=str(paths.prompts_dir),
            dlt_pipelines_dir=str(paths.dlt_pipelines_dir),
            database_url=paths.database_url,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> PlatformPaths:
        """Set variables as `EnvVar`s (resolved in each run), the rest as their defaults."""
        paths = DataPaths.from_env(environ)

        def value(name: str, default: Path) -> str:
            return dg.EnvVar(name) if environ.get(name) else str(default)

        return cls(
            data_dir=value(ENV_DATA_DIR, paths.data_dir),
            duckdb_path=value(ENV_DUCKDB, paths.duckdb),
            prompts_dir=value(ENV_PROMPTS_DIR, paths.prompts_dir),
            dlt_pipelines_dir=str(paths.dlt_pipelines_dir),
            database_url=dg.EnvVar(ENV_DATABASE_URL) if paths.database_url else None,
        )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """DuckDB creates its file but not its folder: a partition launched by hand on a fresh
        clone, before the catalog ever ran, must reach the "load the catalog first" message
        instead of dagster-duckdb retrying a missing folder for a minute and a half."""
        Path(self.duckdb_path).parent.mkdir(parents=True, exist_ok=True)

    @property
    def prompts(self) -> Path:
        return Path(self.prompts_dir)

    @property
    def dlt_dir(self) -> Path:
        return Path(self.dlt_pipelines_dir)
