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
from fal_platform.batch.engine import run_batch
from fal_platform.batch.lease import WAIT_SECONDS, PartitionLease
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
from fal_platform.batch.uploads import UploadLedger, attach_uploads
from fal_platform.catalog.lookup import (
    EndpointInfo,
    fetch_catalog,
    fetch_prices,
    read_catalog,
    read_prices,
)
from fal_platform.client import ClientSettings, FalClient, Price
from fal_platform.store.backend import TableBackend
from fal_platform.webhooks.inbox import WebhookInbox


class CatalogMissingError(RuntimeError):
    """`fal_catalog.models` is not there, so the prompt set cannot be validated."""


@dataclass(frozen=True)
class Catalog:
    """What a run needs from fal's catalog: endpoints to validate against, prices to estimate."""

    endpoints: dict[str, EndpointInfo]
    prices: dict[str, Price]


CatalogLookup = Callable[[TableBackend, FalClient, PromptSet], Awaitable[Catalog]]


def _read_tables(
    tables: TableBackend, prompt_set: PromptSet
) -> tuple[dict[str, EndpointInfo] | None, dict[str, Price] | None]:
    with tables.reader() as reader:
        return read_catalog(reader), read_prices(reader, prompt_set.endpoint_ids)


async def catalog_from_tables(
    tables: TableBackend, client: FalClient, prompt_set: PromptSet
) -> Catalog:
    """The catalog assets' tables only (the asset depends on them); refuse without them."""
    endpoints, prices = await asyncio.to_thread(_read_tables, tables, prompt_set)
    if endpoints is None:
        raise CatalogMissingError(
            "table fal_catalog.models does not exist: materialize fal_catalog/models first so "
            "the prompt set can be validated; nothing was submitted"
        )
    return Catalog(endpoints, prices or {})


async def catalog_from_tables_or_api(
    tables: TableBackend, client: FalClient, prompt_set: PromptSet
) -> Catalog:
    """The tables when they exist, else fal's platform API for just this set's endpoints."""
    endpoints, prices = await asyncio.to_thread(_read_tables, tables, prompt_set)
    ids = prompt_set.endpoint_ids
    if endpoints is None:
        endpoints = await fetch_catalog(client, ids)
    if prices is None:
        prices = await fetch_prices(client, [i for i in ids if i in endpoints])
    return Catalog(endpoints, prices)


async def _lookup_or_refuse(
    lookup: CatalogLookup, tables: TableBackend, client: FalClient, prompt_set: PromptSet
) -> Catalog:
    """The catalog; without one, a set with problems of its own still reports them all at once
    (with why its endpoints were not checked) instead of only "no catalog"."""
    try:
        return await lookup(tables, client, prompt_set)
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
    tables: TableBackend,
    lookup: CatalogLookup = catalog_from_tables_or_api,
    on_progress: Callable[[ProgressSnapshot], None] | None = None,
    inbox: WebhookInbox | None = None,
) -> PromptSetRun:
    """Run one prompt set to completion or until interrupted; blocks the calling thread.

    Only one run drives a prompt set at a time (`lease.py`); a second one waits for it, then
    raises `PartitionBusyError`.

    Raises `PromptSetError` (invalid set), `CatalogMissingError`, `BudgetExceededError`,
    `FalError` (fal refused, e.g. a bad key) and `BatchAbortedError`, all before anything is
    paid for except the last. An interrupt (Ctrl-C, SIGTERM, Dagster terminate) stops the run
    gracefully and comes back in `PromptSetRun.interrupt`. `tables` is where the rows live
    (`StoreTarget.backend()`: a DuckDB file or Postgres). Webhook mode (`settings.webhook_url`)
    waits on `inbox`, where the receiver records deliveries (`batch/await_webhook.py`).
    """
    prompt_set = source if isinstance(source, PromptSet) else read_prompt_set(source)
    store = BatchStore(tables)
    unpriced: list[str] = []
    resolved: list[PromptSet] = []

    async def main(stop: asyncio.Event, progress: OnProgress) -> BatchReport:
        # One connection from the catalog read to the lease's release: opening a DuckDB file
        # costs ~20 ms, and a run opened it four times around its batch (benchmarks/README.md
        # section 7). It stays open while fal answers a catalog fetch (tables absent: one short
        # request, against ~25 ms to close and reopen); the lease lets go of it while it waits
        # for a busy set (`lease.py`).
        async with FalClient(client_settings) as client:
            with tables.holding(settings.hold_connection_seconds):
                catalog = await _lookup_or_refuse(lookup, tables, client, prompt_set)
                validate_prompt_set(prompt_set, catalog.endpoints)
                unpriced.extend(e for e in prompt_set.endpoint_ids if e not in catalog.prices)
                lease = PartitionLease(tables, prompt_set.name)
                await asyncio.to_thread(lease.acquire, WAIT_SECONDS, stop.is_set)
                with lease.held():
                    return await _upload_and_run(client, catalog, stop, progress)

    async def _upload_and_run(
        client: FalClient, catalog: Catalog, stop: asyncio.Event, progress: OnProgress
    ) -> BatchReport:
        # `file:` inputs become fal storage URLs before anything is submitted (uploads.py)
        uploads = await attach_uploads(
            prompt_set, client.storage, UploadLedger(tables), expires_in=settings.upload_expires_in
        )
        resolved.append(uploads.prompt_set)
        return await run_batch(
            client,
            store,
            uploads.prompt_set,
            settings,
            prices=catalog.prices,
            stop=stop,
            on_progress=progress,
            inbox=inbox,
        )

    outcome = run_interruptibly(main, on_progress=on_progress)
    ran = resolved[0] if resolved else prompt_set
    return PromptSetRun(ran, outcome.value, outcome.interrupt, unpriced)
