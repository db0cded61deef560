"""The reports domain: `reports/endpoint_stats` (kept fresh by `media_and_reports_automation`)."""

import dagster as dg

from assets.reports.assets import endpoint_stats


def defs() -> dg.Definitions:
    return dg.Definitions(assets=[endpoint_stats])
