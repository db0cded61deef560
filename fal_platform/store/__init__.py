"""Where the platform's tables live: a DuckDB file (the default) or a PostgreSQL database.

`target.py` turns `FAL_PLATFORM_DATABASE_URL` (or its absence) into a `StoreTarget`;
`backend.py` is the one interface every table goes through, with `duckdb_backend.py` and
`postgres_backend.py` behind it. Tables are declared once, as a row dataclass and a `TableSpec`
(`fal_platform/batch/table_spec.py`), and work on both.
"""
