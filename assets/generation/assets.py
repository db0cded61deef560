"""`generation/requests`: one prompt-set file per partition, run through fal's queue.

The asset is thin: it finds the partition's file and hands it to the core's
`run_prompt_set` (`fal_platform/batch/run.py`), which validates it against
`fal_catalog.models`, enforces the budget, writes `generation.requests` crash-safely and
re-attaches to earlier runs' requests. All of the interesting behaviour lives (and is tested)
in the core.

Run termination: Dagster interrupts the step with SIGINT, raised as
`DagsterExecutionInterruptedError` in the step's main thread. The engine therefore runs in a
worker thread (`fal_platform/batch/blocking.py`); the interrupt sets its stop event, queued
requests are cancelled, running ones are left for the next materialization to re-attach, the
report is logged, and the interrupt is re-raised so the run ends as terminated.
"""

from pathlib import Path
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field

from assets.keys import (
    DUCKDB_POOL,
    GENERATION_GROUP,
    MODELS_KEY,
    OWNERS,
    PRICING_KEY,
    PROMPT_SET_HASH,
    REQUESTS_KEY,
)
from assets.partitions import prompt_sets
from fal_platform.batch.cost import BudgetExceededError, CostEstimate
from fal_platform.batch.lease import PartitionBusyError
from fal_platform.batch.preview import failures_markdown, load_preview, preview_markdown
from fal_platform.batch.prompts import (
    PromptSet,
    PromptSetError,
    find_prompt_file,
    read_prompt_set,
    rejected_prompt_files,
)
from fal_platform.batch.report import BatchReport
from fal_platform.batch.run import (
    CatalogMissingError,
    PromptSetRun,
    catalog_from_tables,
    run_prompt_set,
)
from fal_platform.batch.settings import DEFAULT_BUDGET_USD
from fal_platform.batch.tables import REQUESTS
from fal_platform.media.thumbnails import preload_decoders
from fal_platform.store.backend import TableBackend
from fal_platform.webhooks.inbox import WebhookInbox
from resources.database import platform_tables, store_target
from resources.fal import FalResource
from resources.paths import PlatformPaths


class GenerationConfig(dg.Config):
    max_cost_usd: float = Field(
        default=DEFAULT_BUDGET_USD,
        description="Budget guard: fail before any submit when the estimated cost of this run's "
        "submits is higher (USD).",
    )
    force: bool = Field(
        default=False, description="Resubmit items that already completed in an earlier run."
    )
    max_attempts: int | None = Field(
        default=None,
        description="Accepted submits per item (a failed job is resubmitted until then); "
        "default: the fal resource's max_attempts.",
    )
    webhook_url: str | None = Field(
        default=None,
        description="Completion by webhook for this run: the public URL of the webhook "
        "receiver; default: the fal resource's webhook_url (unset: follow status).",
    )


def _prompt_file(partition_key: str, directory: Path) -> PromptSet:
    path = find_prompt_file(directory, partition_key)
    if path is not None:
        return read_prompt_set(path)
    refused = [p for p in rejected_prompt_files(directory) if Path(p.file).stem == partition_key]
    if refused:
        raise PromptSetError(refused)
    raise dg.Failure(
        description=f"no prompt file {directory}/{partition_key}.jsonl (or .yaml, .csv) for "
        f"partition {partition_key!r}: a partition runs the prompt file of the same name, so "
        "add the file instead of a partition (the sensor adds its partition); was it renamed "
        "or deleted?",
        allow_retries=False,
    )


def _refuse(message: str, **metadata: Any) -> dg.Failure:
    return dg.Failure(description=message, metadata=metadata, allow_retries=False)


@dg.asset(
    key=REQUESTS_KEY,
    partitions_def=prompt_sets,
    deps=[MODELS_KEY, PRICING_KEY],
    pool=DUCKDB_POOL,
    group_name=GENERATION_GROUP,
    kinds={"fal", "duckdb"},
    owners=OWNERS,
    description=(
        "One row per prompt-set item in DuckDB table `generation.requests` (partition = "
        "prompt-set file stem): fal request id and URLs, state (PENDING, UNKNOWN, SUBMITTED, "
        "IN_QUEUE, IN_PROGRESS, COMPLETED, FAILED, CANCELLED), attempts, timings, fal's "
        "inference time, billable units, errors and the result JSON. Re-materializing reuses "
        "completed items, re-attaches to in-flight ones and never pays twice for one item. "
        "Each partition is a prompt file in the prompts directory: add a file, not a "
        "partition (a partition without a file fails at once, nothing submitted)."
    ),
)
def generation_requests(
    context: dg.AssetExecutionContext,
    config: GenerationConfig,
    fal: FalResource,
    duckdb: DuckDBResource,
    paths: PlatformPaths,
) -> dg.MaterializeResult:
    target = fal.check_reachable()
    settings = fal.batch_settings(
        max_attempts=config.max_attempts or fal.max_attempts,
        force=config.force,
        max_cost_usd=config.max_cost_usd,
        webhook_url=config.webhook_url or fal.webhook_url,
    )
    tables = platform_tables(duckdb)
    try:
        prompt_set = _prompt_file(context.partition_key, paths.prompts)
        context.log.info(
            f"prompt set {prompt_set.name}: {len(prompt_set.items)} items from "
            f"{prompt_set.path.name} -> {target.describe()} (concurrency "
            f"{settings.max_concurrency}, {settings.submit_rate:g} submits/s, budget "
            f"{_usd(settings.max_cost_usd)})"
        )
        preload_decoders()  # for the preview's thumbnails, while the batch waits on fal
        run = run_prompt_set(
            prompt_set,
            settings=settings,
            client_settings=fal.client_settings(),
            tables=tables,
            lookup=catalog_from_tables,
            on_progress=lambda snapshot: context.log.info(snapshot.describe()),
            inbox=WebhookInbox.of(store_target(duckdb)) if settings.webhook_url else None,
        )
    except PromptSetError as exc:
        context.log.error(str(exc))
        raise _refuse(
            f"{exc!s}\nNothing was submitted.",
            problems=dg.MetadataValue.md("\n".join(f"- `{p}`" for p in exc.problems)),
        ) from None
    except (CatalogMissingError, PartitionBusyError) as exc:
        raise _refuse(str(exc)) from None
    except BudgetExceededError as exc:
        raise _refuse(str(exc), **_estimate_metadata(exc.estimate)) from None
    return _finish(context, run, tables)


def _usd(amount: float | None) -> str:
    return "none" if amount is None else f"{amount:g} USD"


def _finish(
    context: dg.AssetExecutionContext, run: PromptSetRun, tables: TableBackend
) -> dg.MaterializeResult:
    """Log the report, re-raise an interrupt after it, else return the metadata."""
    report = run.report
    if run.unpriced:
        context.log.warning(
            f"no price in fal_catalog.pricing for {', '.join(run.unpriced)}: their estimated "
            "cost counted as 0"
        )
    context.log.info(report.summary())
    if run.interrupt is not None:
        context.log.warning(
            f"run stopped: {report.cancelled} queued requests cancelled, "
            f"{report.non_terminal} items left to finish on the next materialization"
        )
        raise run.interrupt
    with tables.reader() as reader:
        preview = load_preview(reader, run.prompt_set.name, limit=10)
    return dg.MaterializeResult(
        metadata=_metadata(report, run.prompt_set, preview_markdown(preview))
    )


def _estimate_metadata(estimate: CostEstimate) -> dict[str, Any]:
    return {
        "estimated_cost_usd": dg.MetadataValue.float(float(round(estimate.total_usd, 6))),
        "estimated_requests": dg.MetadataValue.int(estimate.items),
        "estimate_by_endpoint": dg.MetadataValue.json(
            {
                e.endpoint_id: {
                    "items": e.items,
                    "units": e.units,
                    "unit": e.unit,
                    "unit_price": e.unit_price,
                    "cost_usd": round(e.cost, 6),
                }
                for e in estimate.endpoints
            }
        ),
    }


def _metadata(report: BatchReport, prompt_set: PromptSet, preview: str) -> dict[str, Any]:
    counts = {state.value: n for state, n in report.counts.items()}

    def seconds(value: float | None) -> dg.MetadataValue:
        return (
            dg.MetadataValue.float(float(round(value, 3)))
            if value is not None
            else dg.MetadataValue.null()
        )

    return {
        "dagster/row_count": dg.MetadataValue.int(report.table_rows),
        "dagster/table_name": REQUESTS.name,
        "prompt_file": dg.MetadataValue.path(str(prompt_set.path)),
        PROMPT_SET_HASH: dg.MetadataValue.text(prompt_set.content_hash),
        "items": dg.MetadataValue.int(report.total_items),
        "counts_by_state": dg.MetadataValue.json(counts),
        "completed": dg.MetadataValue.int(counts.get("COMPLETED", 0)),
        "failed": dg.MetadataValue.int(counts.get("FAILED", 0)),
        "non_terminal": dg.MetadataValue.int(report.non_terminal),
        "submitted_this_run": dg.MetadataValue.int(report.submitted),
        "reused": dg.MetadataValue.int(report.reused),
        "reattached": dg.MetadataValue.int(report.reattached),
        "removed_from_file": dg.MetadataValue.int(report.removed),
        "reconciled": dg.MetadataValue.int(report.reconciled_found),
        "retries": dg.MetadataValue.int(report.retries),
        "latency_p50_seconds": seconds(report.latency_p50),
        "latency_p95_seconds": seconds(report.latency_p95),
        **_estimate_metadata(report.estimated),
        "billed_cost_usd": dg.MetadataValue.float(float(round(report.billed_usd, 6))),
        "billed_this_run_usd": dg.MetadataValue.float(float(round(report.billed_this_run_usd, 6))),
        "billing": dg.MetadataValue.text(report.billing()),
        "failures_by_error_type": dg.MetadataValue.json(report.failures_by_type),
        "failures": dg.MetadataValue.md(failures_markdown(report.failures, prompt_set.path.name)),
        "preview": dg.MetadataValue.md(preview),
        "wall_seconds": dg.MetadataValue.float(float(round(report.wall_seconds, 2))),
    }
