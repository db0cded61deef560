"""Media, timings, the archive and the endpoint report follow `generation/requests` on their own.

Their automation conditions (`assets/media/assets.py`, `assets/reports/assets.py`) need an
automation-condition sensor; the default one starts STOPPED in open-source Dagster, so this one
is declared RUNNING.
"""

import dagster as dg

from assets.keys import ENDPOINT_STATS_KEY, MEDIA_ARCHIVE_KEY, MEDIA_FILES_KEY, MEDIA_TIMINGS_KEY


def media_automation_sensor_every(seconds: int) -> dg.AutomationConditionSensorDefinition:
    """The sensor, evaluated at most every `seconds` (fal_platform/sensor_interval.py)."""
    return dg.AutomationConditionSensorDefinition(
        name="media_and_reports_automation",
        target=dg.AssetSelection.assets(
            MEDIA_FILES_KEY, MEDIA_TIMINGS_KEY, MEDIA_ARCHIVE_KEY, ENDPOINT_STATS_KEY
        ),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=seconds,
        description="Materializes media/files, media/timings, media/archive and "
        "reports/endpoint_stats after generation/requests changes.",
    )
