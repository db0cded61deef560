"""Where the platform's tables live, resolved once at an entry point: `StoreTarget`.

Without `FAL_PLATFORM_DATABASE_URL` it is the DuckDB file, as it always was. With a
`postgresql://` URL every platform table (and the catalog dlt loads) lives in that database
under the same schema and table names, and no DuckDB file is created.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fal_platform.store.address import PostgresAddress

if TYPE_CHECKING:
    from fal_platform.batch.duckdb_io import ConnectionFactory
    from fal_platform.store.backend import TableBackend


@dataclass(frozen=True)
class StoreTarget:
    duckdb_path: Path
    """The DuckDB file; unused (never created) when `postgres` is set."""
    postgres: PostgresAddress | None = None

    @classmethod
    def from_url(cls, url: str | None, duckdb_path: Path | str) -> StoreTarget:
        """`url` unset or empty: DuckDB. Otherwise it must be a usable postgresql:// URL."""
        address = PostgresAddress.parse(url) if url else None
        return cls(Path(duckdb_path), address)

    @property
    def journal_path(self) -> Path | None:
        """The batch engine's request journal beside the DuckDB file (`batch/journal.py`);
        None on Postgres, where a prompt set's next run may be on another machine."""
        if self.postgres is not None:
            return None
        path = Path(self.duckdb_path)
        return path.with_name(path.name + ".journal.sqlite")

    def describe(self) -> str:
        if self.postgres is not None:
            return f"PostgreSQL {self.postgres.describe()}"
        return f"DuckDB file {self.duckdb_path}"

    def backend(self, connect: ConnectionFactory | None = None) -> TableBackend:
        """A backend on this target; `connect` opens the DuckDB file (default: with the
        cross-process lock of `batch/duckdb_io.py`)."""
        if self.postgres is not None:
            from fal_platform.store.postgres_backend import PostgresBackend

            return PostgresBackend(self.postgres)
        from fal_platform.batch.duckdb_io import duckdb_connection_factory
        from fal_platform.store.duckdb_backend import DuckDBBackend

        return DuckDBBackend(
            connect or duckdb_connection_factory(self.duckdb_path),
            where=self.describe(),
            journal_path=self.journal_path,
        )

    def check_reachable(self) -> None:
        """Postgres: connect once now, so a wrong URL fails at once, naming where."""
        if self.postgres is not None:
            from fal_platform.store.postgres_backend import PostgresBackend

            PostgresBackend(self.postgres).connect().close()

    def dlt_destination(self) -> Any:
        """dlt's destination for the catalog: the same database as every other table."""
        import dlt

        if self.postgres is not None:
            return dlt.destinations.postgres(credentials=self.postgres.dlt_credentials())
        return dlt.destinations.duckdb(str(self.duckdb_path))
