"""The generation domain: `generation/requests`, its checks and the prompt-file sensor."""

import dagster as dg

from assets.generation.assets import generation_requests
from assets.generation.checks import GENERATION_CHECKS
from assets.generation.sensors import prompt_sets_sensor_every
from fal_platform.sensor_interval import SENSOR_INTERVAL_SECONDS


def defs(sensor_interval_seconds: int = SENSOR_INTERVAL_SECONDS) -> dg.Definitions:
    return dg.Definitions(
        assets=[generation_requests],
        asset_checks=GENERATION_CHECKS,
        sensors=[prompt_sets_sensor_every(sensor_interval_seconds)],
    )
