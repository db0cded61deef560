"""The daily catalog refresh.

A plain schedule (not `AutomationCondition.on_cron`) because its `default_status=RUNNING` makes
it tick in `dagster dev` with no toggling: the default automation-condition sensor starts
STOPPED in open-source Dagster.
"""

from __future__ import annotations

import dagster as dg

from assets.keys import MODELS_KEY, PRICING_KEY

# Daily, early UTC: fal's catalog changes a few times a day at most, and a run costs ~N/100
# catalog requests plus ~N/50 pricing requests (N endpoints), nothing billable.
CATALOG_REFRESH_CRON = "0 6 * * *"

# Selecting the two assets also selects their checks.
catalog_refresh_job = dg.define_asset_job(
    name="fal_catalog_refresh",
    selection=dg.AssetSelection.assets(MODELS_KEY, PRICING_KEY),
    description="Refresh fal_catalog/models and fal_catalog/pricing from fal's platform API.",
)

catalog_daily_schedule = dg.ScheduleDefinition(
    name="fal_catalog_daily",
    job=catalog_refresh_job,
    cron_schedule=CATALOG_REFRESH_CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Refresh the fal model catalog and prices once a day.",
)
