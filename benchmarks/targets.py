"""The issue's targets, evaluated against one run's numbers (pass / miss / not measured)."""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.suite import BenchResults
from benchmarks.throughput import ThroughputResult

TARGET_CONCURRENCY = 64
IDEAL_SHARE = 0.9
MAX_REQUEST_SHARE = 1 / 3
MAX_CPU_SHARE = 0.5
CATALOG_TIME_SHARE = 0.5
STORE_SPEEDUP = 10.0
DAGSTER_RATIO = 1.2
FAL_VARIANTS = ("fal_async", "fal_sync")


@dataclass(frozen=True)
class Target:
    name: str
    goal: str
    measured: str
    passed: bool | None
    """None: not measured in this run."""

    @property
    def verdict(self) -> str:
        return {True: "pass", False: "**miss**", None: "not measured"}[self.passed]


@dataclass(frozen=True)
class Comparison:
    """Engine / fal-client ratios at one concurrency (lower is better for requests and CPU)."""

    concurrency: int
    variant: str
    requests_ratio: float
    cpu_ratio: float
    throughput_ratio: float
    """Engine items/s over fal-client's (>= 1 means equal or better)."""


def comparisons(result: ThroughputResult) -> list[Comparison]:
    found = []
    for concurrency in sorted({row.concurrency for row in result.rows}):
        engine = result.row("engine", concurrency)
        if engine is None or not engine.completed:
            continue
        for variant in FAL_VARIANTS:
            fal = result.row(variant, concurrency)
            if fal is None or not fal.completed:
                continue
            found.append(
                Comparison(
                    concurrency=concurrency,
                    variant=variant,
                    requests_ratio=round(engine.requests_per_item / fal.requests_per_item, 3),
                    cpu_ratio=round(
                        engine.cpu_seconds_per_1k_items / fal.cpu_seconds_per_1k_items, 3
                    ),
                    throughput_ratio=round(engine.items_per_second / fal.items_per_second, 3),
                )
            )
    return found


def _worst(values: list[float], *, high_is_bad: bool) -> float:
    return max(values) if high_is_bad else min(values)


def _throughput_targets(results: BenchResults) -> list[Target]:
    tp = results.throughput
    measured = sorted({row.concurrency for row in tp.rows}) if tp else []
    # The c=64; a run without it (the tiny smoke size) uses its largest concurrency.
    concurrency = (
        TARGET_CONCURRENCY if TARGET_CONCURRENCY in measured or not measured else measured[-1]
    )
    ideal_goal = f"engine at c={concurrency} >= {IDEAL_SHARE} x ideal"
    goals = (
        ("HTTP requests per item", "<= 1/3 of fal-client's (every c, both variants)"),
        ("client CPU per item", f"<= {MAX_CPU_SHARE} x fal-client's (every c, both variants)"),
        ("throughput vs fal-client", "engine items/s >= fal-client's (every c, both variants)"),
    )
    if tp is None:
        return [Target("engine throughput", ideal_goal, "-", None)] + [
            Target(name, goal, "-", None) for name, goal in goals
        ]
    targets = []
    row = tp.row("engine", concurrency)
    if row is None:
        targets.append(Target("engine throughput", ideal_goal, "-", None))
    else:
        targets.append(
            Target(
                "engine throughput",
                ideal_goal,
                f"{row.ratio_to_ideal:.2f} x ideal ({row.items_per_second:.1f} of "
                f"{row.ideal_items_per_second:.0f} items/s)",
                row.ratio_to_ideal >= IDEAL_SHARE,
            )
        )
    found = comparisons(tp)
    if not found:
        return targets + [Target(name, goal, "-", None) for name, goal in goals]
    checks = (
        ("requests_ratio", MAX_REQUEST_SHARE, True),
        ("cpu_ratio", MAX_CPU_SHARE, True),
        ("throughput_ratio", 1.0, False),
    )
    for (name, goal), (attribute, bound, high_is_bad) in zip(goals, checks, strict=True):
        values = [getattr(c, attribute) for c in found]
        worst = _worst(values, high_is_bad=high_is_bad)
        passed = worst <= bound if high_is_bad else worst >= bound
        detail = ", ".join(
            f"c={c.concurrency} {c.variant} {getattr(c, attribute):.2f}x" for c in found
        )
        targets.append(Target(name, goal, f"worst {worst:.2f}x ({detail})", passed))
    return targets


def _memory_target(results: BenchResults) -> Target:
    goal = "peak RSS flat from smallest to largest batch; ~0 kept per finished item"
    memory = results.memory
    if memory is None or memory.flat is None:
        return Target("large-batch memory", goal, memory.verdict if memory else "-", None)
    return Target("large-batch memory", goal, memory.verdict, memory.flat)


def _catalog_targets(results: BenchResults) -> list[Target]:
    rows_goal = "incremental rerun writes only the changed rows"
    time_goal = f"incremental rerun <= {CATALOG_TIME_SHARE} x full load time"
    catalog = results.catalog
    full = catalog.run("ours", "full") if catalog else None
    rerun = catalog.run("ours", "after_touch") if catalog else None
    if catalog is None or full is None or rerun is None:
        return [
            Target("catalog rerun rows", rows_goal, "-", None),
            Target("catalog rerun time", time_goal, "-", None),
        ]
    share = rerun.seconds / full.seconds if full.seconds else 0.0
    return [
        Target(
            "catalog rerun rows",
            rows_goal,
            f"{rerun.model_rows_written} model rows ({catalog.touched} changed of "
            f"{catalog.models:,}), {rerun.all_rows_written} rows in all tables",
            rerun.model_rows_written <= catalog.touched
            and rerun.all_rows_written <= catalog.touched,
        ),
        Target(
            "catalog rerun time",
            time_goal,
            f"{share:.2f} x ({rerun.seconds:.1f} s vs {full.seconds:.1f} s)",
            share <= CATALOG_TIME_SHARE,
        ),
    ]


def _store_target(results: BenchResults) -> Target:
    goal = f"store path >= {STORE_SPEEDUP:g} x naive executemany rows/s"
    store = results.store
    if store is None or not store.rows:
        return Target("store write speed", goal, "-", None)
    detail = ", ".join(f"{row.table} {row.speedup:.0f}x" for row in store.rows)
    return Target(
        "store write speed",
        goal,
        detail,
        all(row.speedup >= STORE_SPEEDUP for row in store.rows),
    )


def _dagster_target(results: BenchResults) -> Target:
    goal = f"dg.materialize / run-batch wall time <= {DAGSTER_RATIO}"
    dagster = results.dagster
    if dagster is None or dagster.ratio_in_call is None:
        return Target("Dagster overhead", goal, "-", None)
    process = f"{dagster.ratio_process:.2f}" if dagster.ratio_process is not None else "-"
    return Target(
        "Dagster overhead",
        goal,
        f"{dagster.ratio_in_call:.2f} in-call ({process} including process start and imports)",
        dagster.ratio_in_call <= DAGSTER_RATIO,
    )


def evaluate(results: BenchResults) -> list[Target]:
    return [
        *_throughput_targets(results),
        _memory_target(results),
        *_catalog_targets(results),
        _store_target(results),
        _dagster_target(results),
    ]
