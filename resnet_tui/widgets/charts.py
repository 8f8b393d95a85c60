"""Curves: a real line plot (textual-plotext) of per-epoch metrics.

Series colours are the basic ANSI colours, which every terminal has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual_plotext import PlotextPlot

COLORS = ("blue", "red", "green", "magenta", "cyan", "yellow")


@dataclass(frozen=True)
class Series:
    label: str
    xs: Sequence[float]
    ys: Sequence[float]
    color: str
    scatter: bool = False  # points, not a line


class CurvePlot(PlotextPlot):
    """A titled plot of several series; redraws only when ``set_series`` gets new data."""

    def __init__(
        self,
        title: str,
        ylabel: str = "",
        *,
        xlabel: str = "epoch",
        integer_x: bool = False,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.title = title
        self.ylabel = ylabel
        self.xlabel = xlabel
        self.integer_x = integer_x  # ticks at whole numbers (trial numbers)
        self._series: tuple[Series, ...] = ()
        self._draw()

    def set_series(self, series: Sequence[Series], title: str | None = None) -> None:
        series = tuple(series)
        if series == self._series and (title is None or title == self.title):
            return
        self._series = series
        if title is not None:
            self.title = title
        self._draw()
        self.refresh()

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.title)
        plt.xlabel(self.xlabel)
        if self.ylabel:
            plt.ylabel(self.ylabel)
        drawn = False
        for s in self._series:
            if len(s.xs) == 0:
                continue
            if s.scatter:
                plt.scatter(list(s.xs), list(s.ys), label=s.label, color=s.color, marker="dot")
            else:
                plt.plot(list(s.xs), list(s.ys), label=s.label, color=s.color, marker="braille")
            drawn = True
        if drawn and self.integer_x:
            xs = sorted({int(x) for s in self._series for x in s.xs})
            step = max(1, len(range(xs[0], xs[-1] + 1)) // 10)
            plt.xticks(list(range(xs[0], xs[-1] + 1, step)))
        if not drawn:
            plt.text(f"no {self.xlabel}s yet", 0.5, 0.5, alignment="center")
            plt.xlim(0, 1)
            plt.ylim(0, 1)
