"""The model page's training curves, drawn server-side as SVG (pages run no script) from the repo's history.json.

What is plotted is :mod:`hubrl.traces`' definition (:func:`hubrl.traces.curves`), the one the run's TensorBoard
traces were written from, so the page and TensorBoard show the same curves. Only numbers reach the SVG: the
template escapes the titles, and coordinates are formatted floats.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hubrl.traces import SCALARS, curves

WIDTH, HEIGHT = 300, 150
"""Size of one chart, in CSS pixels."""
LEFT, RIGHT, TOP, BOTTOM = 46, 8, 8, 22
"""Margins around the plot area (tick labels sit in the left and bottom ones)."""
MAX_POINTS = 400
"""Most points drawn per curve (longer curves are thinned evenly, first and last points kept)."""


@dataclass(frozen=True)
class Chart:
    """One curve ready for the template: its polyline and the labels of its axes' ends."""

    tag: str
    title: str
    points: str
    """``"x,y x,y ..."`` in the SVG's own coordinates."""
    n: int
    x_labels: tuple[str, str]
    y_labels: tuple[str, str]
    last: str
    width: int = WIDTH
    height: int = HEIGHT
    plot: tuple[int, int, int, int] = (LEFT, TOP, WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM)
    """The plot area: x, y, width, height."""


def _label(value: float) -> str:
    if abs(value) >= 1e4:
        return f"{value:,.0f}"
    if value != 0 and abs(value) < 1e-2:
        return f"{value:.2g}"
    return f"{value:.4g}"


def _thin(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    if len(points) <= MAX_POINTS:
        return points
    step = (len(points) - 1) / (MAX_POINTS - 1)
    return [points[round(i * step)] for i in range(MAX_POINTS)]


def chart(tag: str, points: list[tuple[int, float]]) -> Chart:
    """The chart of one curve (at least one point)."""
    points = _thin(points)
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    px, py, pw, ph = LEFT, TOP, WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(x: float) -> float:
        return px + (pw * (x - x0) / (x1 - x0) if x1 > x0 else pw / 2)

    def sy(y: float) -> float:
        return py + ph - (ph * (y - y0) / (y1 - y0) if y1 > y0 else ph / 2)

    return Chart(tag=tag, title=SCALARS[tag][0], points=" ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points),
                 n=len(points), x_labels=(f"{x0:,}", f"{x1:,}"), y_labels=(_label(y0), _label(y1)),
                 last=_label(ys[-1]))


def charts(history: Any) -> list[Chart]:
    """A chart for every curve the history has points for, in :data:`hubrl.traces.SCALARS` order; none for
    anything that is not a list of rows."""
    if not isinstance(history, list):
        return []
    return [chart(tag, points) for tag, points in curves(history).items() if points]
