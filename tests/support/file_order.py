"""The order `pytest -n 2 --dist loadfile` hands test files to its workers: slowest first.

xdist gives each worker one file at a time, in collection order, and by default first reorders
the files by their number of tests, most first (`--loadscope-reorder`). The slowest files have
one or two tests each (a `dagster dev`, a deployment, the benchmarks), so they were handed out
last, and a worker that drew one near the end ran it alone while the other sat idle. Handing
out the longest files first, and the many short ones after them, lets the short files fill in
whichever worker is free (longest processing time first). tests/conftest.py applies it.

`SLOWEST_FIRST` is the one list to keep up to date: the files that take longer than ~20 s
(`--durations=0` of a CI run, summed per file), longest first. Every other file keeps its place
in collection order after them.
"""

from __future__ import annotations

import pytest

SLOWEST_FIRST = (
    "test_deploy_celery.py",
    "test_demo.py",
    "test_automation_daemon.py",
    "test_demo_in_ui.py",
    "test_ui_browser.py",
    "test_engine_cli.py",
    "test_benchmarks_smoke.py",
    "test_generation_processes.py",
    "test_webhooks.py",
    "test_ui_graphql.py",
    "test_ui_dev.py",
    "test_engine_postgres.py",
    "test_postgres_pipeline.py",
    "test_generation_asset.py",
    "test_pipeline_end_to_end.py",
)


def file_rank(item: pytest.Item) -> int:
    """The position of the item's file in `SLOWEST_FIRST`; every other file ranks after them."""
    name = item.path.name
    return SLOWEST_FIRST.index(name) if name in SLOWEST_FIRST else len(SLOWEST_FIRST)


def keep_collection_order(config: pytest.Config) -> None:
    """Keep xdist's scheduler (in the controller, which collects nothing itself) from re-sorting
    the files by their number of tests: the workers' collection order is the order."""
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def slowest_files_first(items: list[pytest.Item]) -> None:
    """Sort in place; stable, so tests within a file, and the other files, keep their order."""
    items.sort(key=file_rank)
