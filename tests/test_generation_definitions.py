"""`generation/requests` in the code location: lineage, pool, kinds, partitions, checks."""

from __future__ import annotations

import dagster as dg

from assets.keys import REQUESTS_KEY
from assets.partitions import prompt_sets
from fal_platform.definitions import defs


def test_requests_asset_wiring():
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    node = graph.get(REQUESTS_KEY)
    assert node.parent_keys == {
        dg.AssetKey(["fal_catalog", "models"]),
        dg.AssetKey(["fal_catalog", "pricing"]),
    }
    assert node.group_name == "generation"
    assert {"dagster/kind/fal", "dagster/kind/duckdb"} <= set(node.tags)
    assert node.pools == {"duckdb"}
    assert node.owners and node.description
    assert node.partitions_def == prompt_sets
    assert prompt_sets.name == "prompt_sets"
    checks = {key.name for key in graph.asset_check_keys if key.asset_key == REQUESTS_KEY}
    assert checks == {"all_items_terminal", "failure_rate_below_bound"}
