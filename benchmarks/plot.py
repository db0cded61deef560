"""The throughput chart: items/s against concurrency for each client, with the ideal line."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from benchmarks.throughput import CLIENTS, ThroughputResult

SERIES_COLORS: dict[str, str] = {
    "engine": "#1f77b4",
    "fal_async": "#ff7f0e",
    "fal_sync": "#2ca02c",
    "floor": "#9467bd",
}
IDEAL_COLOR = "#969696"
MODE_STYLES = {"stream": "-s", "polling": ":o"}
"""Line style per status mode: solid squares with the SSE stream, dotted circles polling."""
SIZE_INCHES, DPI = (9.6, 5.6), 100
"""960 x 560 pixels."""


def throughput_chart(result: ThroughputResult, path: Path) -> None:
    concurrencies = sorted({row.concurrency for row in result.rows})
    if not concurrencies:
        return
    figure = Figure(figsize=SIZE_INCHES, dpi=DPI)
    axes = figure.add_subplot()
    ideal = [c / result.job_seconds for c in concurrencies]
    axes.plot(concurrencies, ideal, "--", color=IDEAL_COLOR, linewidth=2, label="ideal")
    for mode in result.modes:
        for client in CLIENTS:
            rows = [r for c in concurrencies if (r := result.row(client, c, mode)) is not None]
            if not rows:
                continue
            axes.plot(
                [r.concurrency for r in rows],
                [r.items_per_second for r in rows],
                MODE_STYLES.get(mode, "-s"),
                color=SERIES_COLORS[client],
                linewidth=2,
                label=f"{client} ({mode})",
            )
    axes.set_xscale("log")
    axes.set_xticks(concurrencies, [str(c) for c in concurrencies])
    axes.minorticks_off()
    axes.set_ylim(bottom=0)
    axes.grid(axis="y", color="#e1e1e1")
    axes.set_xlabel("concurrency (log scale)")
    axes.set_ylabel("items/s")
    axes.set_title(
        f"Throughput vs concurrency (job {result.job_seconds:g} s: "
        f"{result.queue_wait:g} s queue + {result.running:g} s running)"
    )
    axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    figure.tight_layout()
    figure.savefig(path)
