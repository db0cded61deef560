"""The core (`fal_platform/`) stays usable without Dagster: only definitions.py wires it in."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import fal_platform

EDGE = {"fal_platform.definitions"}
"""The code location itself; the demo and dev commands import Dagster only when they run."""


def core_modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.walk_packages(fal_platform.__path__, "fal_platform.")
        if info.name not in EDGE and not info.name.endswith("__main__")
    )


def test_importing_every_core_module_loads_neither_dagster_nor_the_asset_layers() -> None:
    modules = core_modules()
    assert "fal_platform.batch.engine" in modules and "fal_platform.client.queue" in modules
    probe = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('dagster', 'dagster_dlt', 'dagster_duckdb', 'assets', 'resources'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"core modules pulled in: {out}"
