"""fal's model catalog and prices: loaded into DuckDB by dlt, read back by batches.

`source.py` is the dlt source and pipeline; `rest_api_client.py` its HTTP for `/v1/models`;
`pricing.py` prices through the platform client (`fal_platform/client/platform.py`); `rows.py`
flattens fal's JSON into rows; `changes.py` compares two loads; `errors.py` and `names.py` hold
the errors and table names; `lookup.py` is what a batch checks prompt sets and budgets against.
"""
