"""Materialize assets of a test's own `Definitions` in this process.

The demo's runs go through the code location (`fal_platform/devstack/location_runs.py`); tests
that build their own definitions (a temp data folder, an emulator on a free port) have no code
location to name, so `execute_in_process` is the right tool for them.
"""

from __future__ import annotations

import dagster as dg


def run_assets(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    keys: list[list[str]],
    partition_key: str | None = None,
) -> dg.ExecuteInProcessResult:
    """The implicit asset job of `defs` on `keys` (one partition of them, if given)."""
    asset_keys = [dg.AssetKey(path) for path in keys]
    job = defs.resolve_implicit_job_def_def_for_assets(asset_keys)
    assert job is not None, keys
    return job.execute_in_process(
        instance=instance, partition_key=partition_key, asset_selection=asset_keys
    )
