"""Batch generation on fal's queue: prompt sets, the request store and (later) the engine.

Nothing here imports Dagster: the assets wire these modules, and the CLI and tests use them
directly. Import from the submodules (`prompts`, `rows`, `store`, `duckdb_io`).
"""
