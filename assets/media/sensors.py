"""Media, timings and the endpoint report follow `generation/requests` on their own.

Their eager automation conditions need an automation-condition sensor; the default one starts
STOPPED in open-source Dagster, so this one is declared RUNNING.
"""

import dagster as dg

from assets.media.assets import media_files, media_timings
from assets.media.checks import media_checks
from assets.reports.assets import endpoint_stats

media_automation_sensor = dg.AutomationConditionSensorDefinition(
    name="media_and_reports_automation",
    target=dg.AssetSelection.assets(media_files, media_timings, endpoint_stats),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Materializes media/files, media/timings and reports/endpoint_stats after "
    "generation/requests changes.",
)


def media_defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[media_files, media_timings, endpoint_stats],
        asset_checks=media_checks,
        sensors=[media_automation_sensor],
    )
