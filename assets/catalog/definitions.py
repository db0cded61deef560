"""The catalog domain: `fal_catalog/models` and `/pricing`, their checks, the daily refresh."""

import dagster as dg

from assets.catalog.assets import fal_catalog_assets
from assets.catalog.checks import CATALOG_CHECKS
from assets.catalog.schedules import catalog_daily_schedule, catalog_refresh_job


def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[fal_catalog_assets],
        asset_checks=CATALOG_CHECKS,
        jobs=[catalog_refresh_job],
        schedules=[catalog_daily_schedule],
    )
