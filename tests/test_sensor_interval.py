"""`FAL_PLATFORM_SENSOR_INTERVAL_SECONDS`: both sensors' minimum interval, 30 s unless set."""

from __future__ import annotations

import pytest

from assets.generation.sensors import prompt_sets_sensor_every
from assets.media.sensors import media_automation_sensor_every
from fal_platform.definitions import defs
from fal_platform.sensor_interval import (
    ENV_SENSOR_INTERVAL,
    SENSOR_INTERVAL_SECONDS,
    SensorIntervalError,
    sensor_interval_seconds,
)


def test_unset_is_the_default_and_a_whole_number_is_taken() -> None:
    assert sensor_interval_seconds({}) == SENSOR_INTERVAL_SECONDS == 30
    assert sensor_interval_seconds({ENV_SENSOR_INTERVAL: ""}) == 30
    assert sensor_interval_seconds({ENV_SENSOR_INTERVAL: "5"}) == 5


@pytest.mark.parametrize("value", ["0", "-3", "1.5", "soon"])
def test_anything_else_names_the_variable_and_the_value(value: str) -> None:
    with pytest.raises(SensorIntervalError, match=f"{ENV_SENSOR_INTERVAL}='{value}'"):
        sensor_interval_seconds({ENV_SENSOR_INTERVAL: value})


def test_both_sensors_of_the_location_take_the_interval() -> None:
    sensors = {sensor.name: sensor.minimum_interval_seconds for sensor in defs.sensors or []}
    assert sensors == {"prompt_sets_sensor": 30, "media_and_reports_automation": 30}
    assert prompt_sets_sensor_every(4).minimum_interval_seconds == 4
    assert media_automation_sensor_every(4).minimum_interval_seconds == 4
