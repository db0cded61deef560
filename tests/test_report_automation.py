"""The report's automation condition, evaluated on an instance where one prompt set failed.

The daemon test (`test_automation_daemon.py`) shows the behaviour end to end; this one shows, in
a second, why it needed a change: under `AutomationCondition.eager()` the report is never
requested while any partition of its media deps is missing, under ours it is.
"""

from __future__ import annotations

import dagster as dg
import pytest
from dagster_duckdb import DuckDBResource

from assets.keys import ENDPOINT_STATS_KEY, MEDIA_FILES_KEY, MEDIA_TIMINGS_KEY, PRICING_KEY
from assets.media.assets import media_files, media_timings
from assets.reports.assets import AFTER_ANY_DEP_UPDATE, endpoint_stats


def _defs(condition: dg.AutomationCondition) -> dg.Definitions:
    (report,) = dg.map_asset_specs(
        lambda spec: spec.replace_attributes(automation_condition=condition), [endpoint_stats]
    )
    # Resources are never built: conditions are evaluated, nothing is executed.
    unused = DuckDBResource(database=":memory:")
    return dg.Definitions(assets=[media_files, media_timings, report], resources={"duckdb": unused})


def _requested_after_good_media(condition: dg.AutomationCondition) -> int:
    defs = _defs(condition)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("prompt_sets", ["good", "bad"])
    instance.report_runless_asset_event(dg.AssetMaterialization(PRICING_KEY))
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    # `good` ran; `bad` failed, so none of its media partitions will ever exist.
    for key in (MEDIA_FILES_KEY, MEDIA_TIMINGS_KEY):
        instance.report_runless_asset_event(dg.AssetMaterialization(key, partition="good"))
    second = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    return second.get_num_requested(ENDPOINT_STATS_KEY)


@pytest.mark.parametrize(
    ("condition", "requested"),
    [(dg.AutomationCondition.eager(), 0), (AFTER_ANY_DEP_UPDATE, 1)],
    ids=["eager-stalls", "ours-refreshes"],
)
def test_report_after_one_partition_of_media_despite_a_failed_one(
    condition: dg.AutomationCondition, requested: int
) -> None:
    assert _requested_after_good_media(condition) == requested


def test_a_media_update_in_the_tick_the_report_ran_is_not_lost() -> None:
    """The report, requested for the catalog, ends; in the same tick window a prompt set's
    media lands. The next tick must still request the report (seen under the daemon)."""
    defs = _defs(AFTER_ANY_DEP_UPDATE)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("prompt_sets", ["good"])
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    instance.report_runless_asset_event(dg.AssetMaterialization(PRICING_KEY))
    second = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert second.get_num_requested(ENDPOINT_STATS_KEY) == 1
    instance.report_runless_asset_event(dg.AssetMaterialization(ENDPOINT_STATS_KEY))
    for key in (MEDIA_FILES_KEY, MEDIA_TIMINGS_KEY):
        instance.report_runless_asset_event(dg.AssetMaterialization(key, partition="good"))
    third = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=second.cursor)
    assert third.get_num_requested(ENDPOINT_STATS_KEY) == 1
    fourth = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=third.cursor)
    assert fourth.get_num_requested(ENDPOINT_STATS_KEY) == 0


def test_the_code_location_uses_the_condition_that_refreshes() -> None:
    assert endpoint_stats.automation_conditions_by_key[ENDPOINT_STATS_KEY] == AFTER_ANY_DEP_UPDATE
