"""Curves: a real line plot (textual-plotext) of per-epoch metrics.

Series colours are the basic ANSI colours, which every terminal has.
"""

from __future__ import annotations

import math
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
        integer_x: bool | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.title = title
        self.ylabel = ylabel
        self.xlabel = xlabel
        # ticks at whole numbers (epochs, trial numbers): by default when x counts epochs
        self.integer_x = xlabel == "epoch" if integer_x is None else integer_x
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
            self._whole_ticks()
        if not drawn:
            plt.text(f"no {self.xlabel}s yet", 0.5, 0.5, alignment="center")
            plt.xlim(0, 1)
            plt.ylim(0, 1)

    def _whole_ticks(self) -> None:
        """Ticks at whole numbers, about one per 8 columns of the plot (plotext's own ticks
        fall between epochs: 1.0, 3.8, 6.5...)."""
        xs = sorted({x for s in self._series for x in s.xs})
        low, high = math.floor(xs[0]), math.ceil(xs[-1])
        room = max(2, (self.size.width or 80) // 8)
        step = max(1, math.ceil((high - low) / room))
        self.plt.xticks(list(range(low, high + 1, step)))

    def on_resize(self) -> None:
        if self.integer_x and any(len(s.xs) for s in self._series):
            self._whole_ticks()  # as many ticks as the new width holds
