"""Markdown tables of one run: targets first, then one section per benchmark."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from benchmarks.catalog import CatalogResult
from benchmarks.dagster_overhead import PATHS, DagsterResult
from benchmarks.memory import MemoryResult
from benchmarks.memory_diagnosis import Growth
from benchmarks.store import StoreResult
from benchmarks.suite import BenchResults
from benchmarks.targets import comparisons, evaluate
from benchmarks.throughput import CLIENTS, ENGINE_SUBMIT_RATE, ThroughputResult, ThroughputRow


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _targets(results: BenchResults) -> str:
    rows = [(t.name, t.goal, t.measured, t.verdict) for t in evaluate(results)]
    return "## Targets\n\n" + table(("target", "goal", "measured", "result"), rows)


def _over_job(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _throughput_notes(row: ThroughputRow) -> str:
    notes = []
    if row.capped:
        notes.append(f"capped: {row.completed}/{row.items} done")
    if row.failed:
        notes.append(f"{row.failed} failed")
    if row.emulator_saturated:
        notes.append("emulator saturated")
    if row.error:
        notes.append(row.error.replace("|", "/").replace("\n", " ")[:120])
    return "; ".join(notes)


def _throughput(result: ThroughputResult) -> str:
    rows = [
        (
            row.mode,
            row.concurrency,
            row.client,
            f"{row.items:,}",
            f"{row.items_per_second:.1f}",
            f"{row.ratio_to_ideal:.2f}",
            f"{row.requests_per_item:.2f}",
            f"{row.cpu_seconds_per_1k_items:.1f}",
            _over_job(row.p50_over_job),
            _over_job(row.p95_over_job),
            f"{row.peak_rss_mb:.0f}",
            f"{row.emulator_core_share:.2f} / {row.emulator_peak_core_share:.2f}",
            f"{row.load_average:.1f}",
            _throughput_notes(row),
        )
        for row in result.rows
    ]
    header = (
        "status",
        "c",
        "client",
        "items",
        "items/s",
        "ratio to ideal",
        "HTTP req/item",
        "client CPU ms/item",
        "p50 latency / job",
        "p95 latency / job",
        "peak RSS MiB",
        "emulator CPU (mean / peak core)",
        "load avg",
        "notes",
    )
    ratio_rows = [
        (
            c.mode,
            c.concurrency,
            c.variant,
            f"{c.requests_ratio:.2f}",
            f"{c.cpu_ratio:.2f}",
            f"{c.throughput_ratio:.2f}",
        )
        for c in comparisons(result)
    ]
    legend = "; ".join(f"`{name}` = {text}" for name, text in CLIENTS.items())
    return (
        f"## 1. Batch throughput (job {result.job_seconds:g} s = {result.queue_wait:g} s queue "
        f"+ {result.running:g} s running)\n\n"
        f"{legend}. Status `stream`: the emulator serves the SSE status stream; `polling`: its "
        "stream route answers 404, so the engine polls (fal-client polls in both). The clients "
        "ran one after another on one emulator per status mode and c. Engine submit_rate "
        f"{ENGINE_SUBMIT_RATE:,.0f}/s (never the limit). Requests per item (submit, status, "
        "status stream, result) from the emulator's counters; CPU is the client process's own "
        "(user + system, all threads) over the batch; latency = submit answered -> completion "
        "seen.\n\n"
        + table(header, rows)
        + "\n\nEngine / fal-client ratios (requests and CPU: lower is better; throughput: "
        ">= 1 is equal or better):\n\n"
        + table(("status", "c", "fal-client", "requests/item", "CPU/item", "items/s"), ratio_rows)
    )


def _growth_table(title: str, rows: list[Growth], unit: str) -> str:
    if not rows:
        return ""
    body = table(
        ("where", "code", "KiB", f"bytes {unit}"),
        ((f"`{g.where}`", f"`{g.code}`", g.kib, g.bytes_per_item) for g in rows),
    )
    return f"\n\n{title}\n\n{body}"


def _memory(result: MemoryResult) -> str:
    rows = [
        (
            f"{row.items:,}",
            f"{row.completed:,}",
            f"{row.items_per_second:.1f}",
            f"{row.peak_rss_mb:.0f}",
            f"{row.rss_before_inputs_mb:.0f} -> {row.rss_with_inputs_mb:.0f}",
            f"{row.inputs_kb_per_item:.2f}",
            f"{row.run_added_mb:.0f}",
            f"{row.emulator_core_share:.2f}",
            (f"capped after {row.wall_seconds:.0f} s" if row.capped else "")
            + (f" {row.error}" if row.error else ""),
        )
        for row in result.rows
    ]
    header = (
        "items",
        "completed",
        "items/s",
        "peak RSS MiB",
        "RSS before -> with inputs MiB",
        "inputs KiB/item",
        "run added MiB",
        "emulator core",
        "notes",
    )
    text = (
        f"## 2. Large batch memory (engine, zero latency, concurrency {result.concurrency})\n\n"
        + table(header, rows)
        + f"\n\nVerdict: {'flat' if result.flat else 'NOT flat' if result.flat is False else '?'}"
        f" -- {result.verdict}."
    )
    diagnosis = result.diagnosis
    if diagnosis is not None:
        if diagnosis.error:
            text += f"\n\ntracemalloc diagnosis failed: {diagnosis.error}"
        else:
            finished = diagnosis.done_at_late - diagnosis.done_at_mid
            running = (
                f"running {diagnosis.run_total_kib:,.0f} KiB over the {finished:,} items "
                "finished between the mid-run and late snapshots"
                if diagnosis.run
                else f"running not measured (only {finished} items finished between the "
                "mid-run and late snapshots; progress ticks are in the JSON)"
            )
            text += (
                f"\n\ntracemalloc diagnosis ({diagnosis.items:,} items, concurrency "
                f"{diagnosis.concurrency}; Python heap only): inputs "
                f"{diagnosis.inputs_total_kib:,.0f} KiB, planning "
                f"{diagnosis.plan_total_kib:,.0f} KiB, {running}."
            )
            text += _growth_table("Held by the loaded inputs:", diagnosis.inputs, "per item")
            text += _growth_table("Added by planning:", diagnosis.plan, "per item")
            text += _growth_table("Added while running:", diagnosis.run, "per finished item")
    return text


def _catalog(result: CatalogResult) -> str:
    rows = [
        (
            run.pipeline,
            run.run,
            f"{run.seconds:.1f}",
            f"{run.model_rows_written:,}",
            f"{run.all_rows_written:,}",
            run.models_page_requests,
            run.pricing_requests,
        )
        for run in result.runs
    ]
    return (
        f"## 3. Catalog ({result.models:,} models; rerun after `touch_models({result.touched})`)"
        "\n\n`ours` = the `fal_catalog` dlt source (models + pricing, incremental); "
        "`plain_rest_api` = dlt `rest_api` on `/v1/models` with a cursor paginator, "
        "write_disposition replace, no incremental (models only; dlt unnests into child "
        "tables).\n\n"
        + table(
            (
                "pipeline",
                "run",
                "seconds",
                "model rows written",
                "rows written (all tables)",
                "/v1/models pages",
                "pricing requests",
            ),
            rows,
        )
    )


def _store(result: StoreResult) -> str:
    rows = [
        (
            row.table,
            f"{row.rows:,}",
            f"{row.store_seconds:.2f}",
            f"{row.store_rows_per_second:,.0f}",
            f"{row.naive_rows_per_second:,.0f} (on {row.naive_rows_measured:,} rows)",
            f"{row.naive_extrapolated_seconds:,.0f}",
            f"{row.speedup:.0f}x",
        )
        for row in result.rows
    ]
    return (
        "## 4. Store (DuckDB writes)\n\n"
        "Store = `BatchStore.upsert_requests` / `replace_media` (Arrow, one statement); naive = "
        "`executemany` of a parameterized INSERT (same ON CONFLICT upsert for requests), "
        "measured on a subset and extrapolated linearly.\n\n"
        + table(
            (
                "table",
                "rows",
                "store s",
                "store rows/s",
                "naive rows/s",
                "naive s (extrapolated)",
                "speedup",
            ),
            rows,
        )
    )


def _dagster(result: DagsterResult) -> str:
    rows = [
        (
            PATHS[run.path],
            run.repeat + 1,
            f"{run.in_call_seconds:.2f}",
            f"{run.process_seconds:.2f}",
            run.completed,
            run.http_requests,
            run.error or "",
        )
        for run in result.runs
    ]
    ratio = "-" if result.ratio_in_call is None else f"{result.ratio_in_call:.2f}"
    process = "-" if result.ratio_process is None else f"{result.ratio_process:.2f}"
    return (
        f"## 5. Dagster overhead ({result.items} items, concurrency {result.concurrency}, "
        f"queue wait {result.queue_wait:g} s, inference {result.inference_time:g} s)\n\n"
        + table(
            ("path", "run", "in-call s", "process s", "completed", "HTTP requests", "error"),
            rows,
        )
        + f"\n\nRatio Dagster / CLI (fastest of each): **{ratio}** in-call, {process} "
        "including interpreter start and imports."
    )


def render(results: BenchResults) -> str:
    machine = results.machine
    shared = (
        f" The machine was shared: 1-minute load average {machine.load_average_at_start} when "
        "the run started (see `load_average` per run in the JSON)."
        if machine.shared
        else ""
    )
    parts = [
        f"# fal-platform benchmarks ({results.size})\n\n"
        f"Run {results.started_at} -> {results.finished_at}, {results.total_seconds:.0f} s of "
        f"benchmarks. Machine: {machine.describe()}.{shared}",
        _targets(results),
    ]
    if results.throughput is not None:
        parts.append(_throughput(results.throughput))
    if results.memory is not None:
        parts.append(_memory(results.memory))
    if results.catalog is not None:
        parts.append(_catalog(results.catalog))
    if results.store is not None:
        parts.append(_store(results.store))
    if results.dagster is not None:
        parts.append(_dagster(results.dagster))
    if results.errors:
        parts.append(
            "## Errors\n\n"
            + "\n".join(f"- {name}: {error}" for name, error in results.errors.items())
        )
    timings = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in results.seconds.items())
    parts.append(f"Time per benchmark: {timings}.")
    return "\n\n".join(parts) + "\n"
