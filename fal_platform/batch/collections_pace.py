"""Fewer garbage collections while a batch runs: a sixth of the engine's CPU at c=1,000.

A batch allocates a handful of short-lived objects per HTTP request (requests, headers, parsed
JSON, rows) while it holds thousands of long-lived ones (items in flight, connections, and
everything imported: Dagster alone is hundreds of thousands of objects). CPython's default
(700 allocations per young collection, an older one every 10 of those) then collects every few
requests, and each older collection walks the long-lived objects again, though almost nothing
the engine drops is cyclic garbage (reference counting frees it). Measured at c=1,000, 2,000
items, alternating runs: 3.00-3.41 ms of CPU per item before, 2.65-2.96 with this around the
batch (benchmarks/README.md section 7).

`gc.freeze()` moves what exists before the batch out of the collector's reach, and the run
collects young objects every `YOUNG_THRESHOLD` allocations; both are undone when it ends.
Process-wide settings: a second batch overlapping in the same process finds them in place, and
whichever ends first restores the defaults (the other then only runs with more collections).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 20_000
OLDER_THRESHOLDS = (50, 100)


@contextmanager
def fewer_collections() -> Iterator[None]:
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
