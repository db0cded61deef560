"""The throughput chart: items/s against concurrency for each client, with the ideal line."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

from benchmarks.png import BLACK, Canvas, Color
from benchmarks.throughput import CLIENTS, ThroughputResult

SERIES_COLORS: dict[str, Color] = {
    "engine": (31, 119, 180),
    "fal_async": (255, 127, 14),
    "fal_sync": (44, 160, 44),
}
IDEAL_COLOR: Color = (150, 150, 150)
GRID_COLOR: Color = (225, 225, 225)
WIDTH, HEIGHT = 960, 560
LEFT, RIGHT, TOP, BOTTOM = 90, 250, 60, 70


def _nice_ceiling(value: float) -> float:
    """A round axis maximum (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten) >= `value`."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * power >= value)


def throughput_chart(result: ThroughputResult, path: Path) -> None:
    concurrencies = sorted({row.concurrency for row in result.rows})
    if not concurrencies:
        return
    ideal = [c / result.latency_seconds for c in concurrencies]
    measured = [row.items_per_second for row in result.rows]
    y_max = _nice_ceiling(max([*ideal, *measured]) * 1.05)
    canvas = Canvas(WIDTH, HEIGHT)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(index: int) -> int:
        if len(concurrencies) == 1:
            return LEFT + plot_w // 2
        return LEFT + round(index * plot_w / (len(concurrencies) - 1))

    def y_of(value: float) -> int:
        return TOP + plot_h - round(value / y_max * plot_h)

    title = (
        f"THROUGHPUT VS CONCURRENCY ({result.items} ITEMS, "
        f"{result.latency_seconds:g} S INFERENCE, NO QUEUE WAIT)"
    )
    canvas.text(LEFT, 12, title)
    for tick in range(6):
        value = y_max * tick / 5
        y = y_of(value)
        canvas.line(LEFT, y, LEFT + plot_w, y, GRID_COLOR)
        label = f"{value:g}"
        canvas.text(LEFT - 10 - Canvas.text_width(label), y - 7, label)
    canvas.line(LEFT, TOP, LEFT, TOP + plot_h, BLACK, width=2)
    canvas.line(LEFT, TOP + plot_h, LEFT + plot_w, TOP + plot_h, BLACK, width=2)
    for index, concurrency in enumerate(concurrencies):
        label = str(concurrency)
        x = x_of(index)
        canvas.line(x, TOP + plot_h, x, TOP + plot_h + 6, BLACK, width=2)
        canvas.text(x - Canvas.text_width(label) // 2, TOP + plot_h + 12, label)
    axis = "CONCURRENCY (LOG SCALE)"
    canvas.text(LEFT + (plot_w - Canvas.text_width(axis)) // 2, HEIGHT - 28, axis)
    canvas.text(10, TOP - 24, "ITEMS/S")

    _polyline(canvas, [(x_of(i), y_of(v)) for i, v in enumerate(ideal)], IDEAL_COLOR, dash=8)
    legend: list[tuple[str, Color]] = [("IDEAL", IDEAL_COLOR)]
    for client in CLIENTS:
        points = []
        for index, concurrency in enumerate(concurrencies):
            row = result.row(client, concurrency)
            if row is not None:
                points.append((x_of(index), y_of(row.items_per_second)))
        color = SERIES_COLORS.get(client, BLACK)
        _polyline(canvas, points, color)
        for x, y in points:
            canvas.rect(x - 4, y - 4, x + 4, y + 4, color)
        legend.append((client.upper(), color))
    for index, (label, color) in enumerate(legend):
        y = TOP + 10 + index * 30
        x = WIDTH - RIGHT + 25
        canvas.rect(x, y, x + 16, y + 14, color)
        canvas.text(x + 26, y, label)
    canvas.save(path)


def _polyline(canvas: Canvas, points: list[tuple[int, int]], color: Color, dash: int = 0) -> None:
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        canvas.line(x0, y0, x1, y1, color, width=3, dash=dash)
