"""The media domain: `media/files`, `media/timings`, `media/archive`, their checks and the automation sensor
that also keeps `reports/endpoint_stats` up to date."""

import dagster as dg

from assets.media.archive import media_archive
from assets.media.assets import media_files, media_timings
from assets.media.checks import archive_checks, media_checks
from assets.media.sensors import media_automation_sensor_every
from fal_platform.sensor_interval import SENSOR_INTERVAL_SECONDS


def defs(sensor_interval_seconds: int = SENSOR_INTERVAL_SECONDS) -> dg.Definitions:
    return dg.Definitions(
        assets=[media_files, media_timings, media_archive],
        asset_checks=[*media_checks, *archive_checks],
        sensors=[media_automation_sensor_every(sensor_interval_seconds)],
    )
