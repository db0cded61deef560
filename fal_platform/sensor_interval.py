"""How often the code location's sensors may tick: declared once, read only by the entry point.

Both sensors (`prompt_sets_sensor`, `media_and_reports_automation`) evaluate at most every
`SENSOR_INTERVAL_SECONDS`, Dagster's own default for an automation sensor. A new prompt file
waits up to one interval to get its run, and a fresh instance two (the first tick loads the
catalog). `FAL_PLATFORM_SENSOR_INTERVAL_SECONDS` shortens that for a quick local loop; the test
of the real daemon (tests/test_automation_daemon.py) sets it for its own `dagster dev`, so it
waits on runs rather than on ticks. fal_platform/definitions.py is the only caller.
"""

from __future__ import annotations

from collections.abc import Mapping

ENV_SENSOR_INTERVAL = "FAL_PLATFORM_SENSOR_INTERVAL_SECONDS"
SENSOR_INTERVAL_SECONDS = 30


class SensorIntervalError(ValueError):
    """A FAL_PLATFORM_SENSOR_INTERVAL_SECONDS that is not a whole number of seconds >= 1."""


def sensor_interval_seconds(environ: Mapping[str, str]) -> int:
    value = environ.get(ENV_SENSOR_INTERVAL) or str(SENSOR_INTERVAL_SECONDS)
    try:
        seconds = int(value)
    except ValueError:
        seconds = 0
    if seconds < 1:
        raise SensorIntervalError(
            f"{ENV_SENSOR_INTERVAL}={value!r}: expected a whole number of seconds, at least 1"
        )
    return seconds
