"""Accuracy against one swept parameter (seed 003's "optimizer vs accuracy", "learning rate
vs accuracy"), a textual-plotext plot.

A categorical parameter is drawn as bars of the best val accuracy per value; a numeric one as
a scatter of every trial's val accuracy (log x when the values span two decades or more).
Basic ANSI colours only, as in ``charts``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from textual_plotext import PlotextPlot


@dataclass(frozen=True)
class ParamData:
    """What one plot shows; accuracies in percent."""

    key: str
    categorical: bool
    labels: tuple[str, ...] = ()  # bars: one per value
    bars: tuple[float, ...] = ()
    xs: tuple[float, ...] = ()  # scatter: one point per scored trial
    ys: tuple[float, ...] = ()
    best_x: float | None = None  # the best trial, marked apart
    best_y: float | None = None
    log_x: bool = False


def log_ticks(xs: tuple[float, ...]) -> tuple[list[float], list[str]]:
    """Ticks for a log x axis over ``xs``: the powers of ten inside the data's span (plotext
    draws no tick outside it); when fewer than two fall inside (a search over less than a
    decade or two), the ends and their geometric middle, labelled with their values."""
    low, high = min(xs), max(xs)
    decades = [
        10.0**e
        for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
        if low <= 10.0**e <= high
    ]
    if len(decades) >= 2:
        return decades, [_power(t) for t in decades]
    if high <= low:
        return [low], [f"{low:.2g}"]
    ticks = [low, math.sqrt(low * high), high]
    return ticks, [f"{t:.2g}" for t in ticks]


def _power(value: float) -> str:
    exponent = round(math.log10(value))
    return f"1e{exponent}" if exponent else "1"


class ParamPlot(PlotextPlot):
    """Redraws only when ``show`` gets different data."""

    def __init__(
        self, data: ParamData | None = None, *, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._data = data
        self._draw()

    def show(self, data: ParamData | None) -> None:
        if data == self._data:
            return
        self._data = data
        self._draw()
        self.refresh()

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        data = self._data
        if data is None:
            plt.text("no trials yet", 0.5, 0.5, alignment="center")
            plt.xlim(0, 1)
            plt.ylim(0, 1)
            return
        values = data.bars if data.categorical else data.ys
        if not values:
            plt.title(f"{data.key} vs accuracy")
            plt.text("no scored trials yet", 0.5, 0.5, alignment="center")
            plt.xlim(0, 1)
            plt.ylim(0, 1)
            return
        low = max(0.0, math.floor(min(values) - 2))
        high = min(100.0, math.ceil(max(values) + 1))
        plt.ylim(low, high if high > low else low + 1)
        if data.categorical:
            plt.title(f"{data.key}: best val acc %")
            plt.bar(list(data.labels), list(data.bars), color="blue", width=0.5)
            return
        plt.title(f"{data.key} vs val acc % (@ best)")
        plt.scatter(list(data.xs), list(data.ys), color="blue", marker="dot")
        if data.best_x is not None and data.best_y is not None:
            plt.scatter([data.best_x], [data.best_y], color="green", marker="@")
        if data.log_x:
            plt.xscale("log")
            ticks, labels = log_ticks(data.xs)
            plt.xticks(ticks, labels)
