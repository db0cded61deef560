"""`PlatformDatabase`: the database every asset, check and sensor reads and writes.

It is Dagster's `DuckDBResource` (resource key `duckdb`, so definitions and tests that bind a
plain `DuckDBResource` keep working) plus `postgres_url`: when that is set (from
`FAL_PLATFORM_DATABASE_URL`, through `EnvVar` so the UI shows the variable's name and never the
URL with its password) every table lives in that PostgreSQL database instead, and the DuckDB
file is never opened or created. Assets go through `platform_tables`, which works for both.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field

from fal_platform.paths import ENV_DATABASE_URL
from fal_platform.store.backend import TableBackend
from fal_platform.store.target import StoreTarget


class PlatformDatabase(DuckDBResource):
    """The DuckDB file `database`, or the PostgreSQL database at `postgres_url` when set."""

    postgres_url: str | None = Field(
        default=None,
        description=f"postgresql://user:password@host:port/db ({ENV_DATABASE_URL}); unset: "
        "the DuckDB file.",
    )

    @property
    def target(self) -> StoreTarget:
        return StoreTarget.from_url(self.postgres_url, self.database)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """A wrong or unreachable URL fails the step at once, naming host, port and database."""
        self.target.check_reachable()

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if self.postgres_url:
            raise RuntimeError(
                f"{ENV_DATABASE_URL} puts the tables in PostgreSQL: open them through "
                "resources.database.platform_tables, not a DuckDB connection"
            )
        with super().get_connection() as conn:
            yield conn


def store_target(resource: DuckDBResource) -> StoreTarget:
    """Where the resource's tables live (a plain `DuckDBResource`: its file)."""
    if isinstance(resource, PlatformDatabase):
        return resource.target
    return StoreTarget(Path(resource.database))


def platform_tables(resource: DuckDBResource) -> TableBackend:
    """The table operations on whichever database the resource names."""
    target = store_target(resource)
    if target.postgres is not None:
        return target.backend()
    # DuckDB creates its file but not its folder.
    target.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    return target.backend(resource.get_connection)
