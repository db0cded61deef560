"""Where a prompt set runs: load, validate against the catalog, guard the budget, run the engine.

The `generation/requests` asset, the `run-batch` CLI and (through the asset) the demo all call
`run_prompt_set`; they differ only in where the catalog comes from (`CatalogLookup`) and in how
they show progress and the report. The engine itself (`engine.py`) enforces the budget, because
the estimate covers only what this run will actually submit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from fal_platform.batch.blocking import run_interruptibly
from fal_platform.batch.duckdb_io import ConnectionFactory
from fal_platform.batch.engine import run_batch
from fal_platform.batch.progress import OnProgress, ProgressSnapshot
from fal_platform.batch.prompts import (
    PromptProblem,
    PromptSet,
    PromptSetError,
    read_prompt_set,
    validate_prompt_set,
)
from fal_platform.batch.report import BatchReport
from fal_platform.batch.settings import BatchSettings
from fal_platform.batch.store import BatchStore
from fal_platform.catalog.lookup import (
    EndpointInfo,
    fetch_catalog,
    fetch_prices,
    read_catalog,
    read_prices,
)
from fal_platform.client import ClientSettings, FalClient, Price
from fal_platform.webhooks.inbox import WebhookInbox


class CatalogMissingError(RuntimeError):
    """`fal_catalog.models` is not there, so the prompt set cannot be validated."""


@dataclass(frozen=True)
class Catalog:
    """What a run needs from fal's catalog: endpoints to validate against, prices to estimate."""

    endpoints: dict[str, EndpointInfo]
    prices: dict[str, Price]


CatalogLookup = Callable[[ConnectionFactory, FalClient, PromptSet], Awaitable[Catalog]]


def _read_tables(
    connect: ConnectionFactory, prompt_set: PromptSet
) -> tuple[dict[str, EndpointInfo] | None, dict[str, Price] | None]:
    with connect() as conn:
        return read_catalog(conn), read_prices(conn, prompt_set.endpoint_ids)


async def catalog_from_tables(
    connect: ConnectionFactory, client: FalClient, prompt_set: PromptSet
) -> Catalog:
    """The catalog assets' tables only (the asset depends on them); refuse without them."""
    endpoints, prices = await asyncio.to_thread(_read_tables, connect, prompt_set)
    if endpoints is None:
        raise CatalogMissingError(
            "table fal_catalog.models does not exist: materialize fal_catalog/models first so "
            "the prompt set can be validated; nothing was submitted"
        )
    return Catalog(endpoints, prices or {})


async def catalog_from_tables_or_api(
    connect: ConnectionFactory, client: FalClient, prompt_set: PromptSet
) -> Catalog:
    """The tables when they exist, else fal's platform API for just this set's endpoints."""
    endpoints, prices = await asyncio.to_thread(_read_tables, connect, prompt_set)
    ids = prompt_set.endpoint_ids
    if endpoints is None:
        endpoints = await fetch_catalog(client, ids)
    if prices is None:
        prices = await fetch_prices(client, [i for i in ids if i in endpoints])
    return Catalog(endpoints, prices)


async def _lookup_or_refuse(
    lookup: CatalogLookup, connect: ConnectionFactory, client: FalClient, prompt_set: PromptSet
) -> Catalog:
    """The catalog; without one, a set with problems of its own still reports them all at once
    (with why its endpoints were not checked) instead of only "no catalog"."""
    try:
        return await lookup(connect, client, prompt_set)
    except CatalogMissingError as missing:
        if not prompt_set.problems:
            raise
        unchecked = PromptProblem(str(prompt_set.path), 0, "endpoint_id", f"not checked: {missing}")
        raise PromptSetError([*prompt_set.problems, unchecked]) from missing


@dataclass(frozen=True)
class PromptSetRun:
    """What `run_prompt_set` hands back: the report, and the interrupt to re-raise (if any)."""

    prompt_set: PromptSet
    report: BatchReport
    interrupt: BaseException | None
    unpriced: list[str]
    """Endpoints of the set without a price: their estimated cost counted as 0."""


def run_prompt_set(
    source: PromptSet | Path,
    *,
    settings: BatchSettings,
    client_settings: ClientSettings,
    connect: ConnectionFactory,
    lookup: CatalogLookup = catalog_from_tables_or_api,
    on_progress: Callable[[ProgressSnapshot], None] | None = None,
    inbox: WebhookInbox | None = None,
) -> PromptSetRun:
    """Run one prompt set to completion or until interrupted; blocks the calling thread.

    Raises `PromptSetError` (invalid set), `CatalogMissingError`, `BudgetExceededError`,
    `FalError` (fal refused, e.g. a bad key) and `BatchAbortedError`, all before anything is
    paid for except the last. An interrupt (Ctrl-C, SIGTERM, Dagster terminate) stops the run
    gracefully and comes back in `PromptSetRun.interrupt`. Webhook mode (`settings.webhook_url`)
    waits on `inbox`, where the receiver records deliveries (`batch/await_webhook.py`).
    """
    prompt_set = source if isinstance(source, PromptSet) else read_prompt_set(source)
    store = BatchStore(connect)
    unpriced: list[str] = []

    async def main(stop: asyncio.Event, progress: OnProgress) -> BatchReport:
        async with FalClient(client_settings) as client:
            catalog = await _lookup_or_refuse(lookup, connect, client, prompt_set)
            validate_prompt_set(prompt_set, catalog.endpoints)
            unpriced.extend(e for e in prompt_set.endpoint_ids if e not in catalog.prices)
            return await run_batch(
                client,
                store,
                prompt_set,
                settings,
                prices=catalog.prices,
                stop=stop,
                on_progress=progress,
                inbox=inbox,
            )

    outcome = run_interruptibly(main, on_progress=on_progress)
    return PromptSetRun(prompt_set, outcome.value, outcome.interrupt, unpriced)
