"""Where the catalog lands: the dlt dataset (a DuckDB schema) and its two tables.

A module of its own, free of dlt, so the batch side can name the tables it reads without
importing the dlt source.
"""

from __future__ import annotations

DATASET_NAME = "fal_catalog"
MODELS_TABLE = "models"
PRICING_TABLE = "pricing"
MODELS_SQL_NAME = f"{DATASET_NAME}.{MODELS_TABLE}"
PRICING_SQL_NAME = f"{DATASET_NAME}.{PRICING_TABLE}"
