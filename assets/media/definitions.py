"""The media domain: `media/files`, `media/timings`, their checks and the automation sensor
that also keeps `reports/endpoint_stats` up to date."""

import dagster as dg

from assets.media.assets import media_files, media_timings
from assets.media.checks import media_checks
from assets.media.sensors import media_automation_sensor


def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[media_files, media_timings],
        asset_checks=media_checks,
        sensors=[media_automation_sensor],
    )
