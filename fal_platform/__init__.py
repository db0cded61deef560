"""fal-platform core: everything that does not need Dagster (client, engine, store, emulator, CLI)."""

__version__ = "0.1.0"
