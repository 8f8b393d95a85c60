"""A sweep's trials as parallel coordinates (a textual-plotext plot) and its parameter
importance as bars.

One line per finished trial over the axes of ``api.ParallelCoordinates`` (the swept keys,
normalised to [0, 1], then val accuracy), coloured by val accuracy in four bins of its range
(the best bin bright), worst drawn first so that the best lie on top. Each axis is labelled
with its ends (numbers) or its levels (categories); under the plot, the legend names the bins
and every axis with its range, whole. Basic ANSI colours only, as in ``charts``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from rich.text import Text
from textual_plotext import PlotextPlot

from engine import api
from resnet_tui.widgets import format as fmt

# (plotext colour, Rich style) per bin of the val accuracy's range, worst to best
BINS: tuple[tuple[str, str], ...] = (
    ("red", "red"),
    ("yellow", "yellow"),
    ("cyan", "cyan"),
    ("green+", "bold bright_green"),
)
MAX_LEVEL_LABELS = 6  # a categorical axis with more levels is labelled at its ends only
IMPORTANCE_BAR = 20  # cells of an importance bar at 100%


def colour_bin(axis: api.Axis, value: float) -> int:
    """Which of the ``BINS`` a val accuracy falls in (over the objective axis's range)."""
    if axis.low is None or axis.high is None or axis.high <= axis.low:
        return len(BINS) - 1
    share = (value - axis.low) / (axis.high - axis.low)
    return min(len(BINS) - 1, int(share * len(BINS)))


def end_label(axis: api.Axis, value: float | None) -> str:
    """An axis's end: val accuracy in percent, a number with 4 significant digits."""
    if value is None:
        return "-"
    if axis.kind == "objective":
        return fmt.pct(value)
    if float(value).is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.3g}"


def describe_axis(axis: api.Axis) -> str:
    """``optim.lr 0.001–0.1 (log)``, ``optim.name adam|sgd``, ``val acc 71.00%–97.50%``."""
    if axis.kind == "categorical":
        return f"{axis.key} {'|'.join(axis.levels)}"
    name = "val acc" if axis.kind == "objective" else axis.key
    span = f"{end_label(axis, axis.low)}–{end_label(axis, axis.high)}"
    return f"{name} {span}" + (" (log)" if axis.log else "")


def legend(data: api.ParallelCoordinates, width: int) -> Text:
    """The colour bins (val acc ranges) and the axes with their ranges, never cut: each entry
    whole on a line of ``width`` cells where it fits."""
    lines: list[list[Text]] = []
    objective = data.axes[-1]
    if data.lines and objective.low is not None and objective.high is not None:
        entries = [Text("val acc:", style="bold")]
        step = (objective.high - objective.low) / len(BINS)
        for i, (_, style) in reversed(list(enumerate(BINS))):
            if objective.high <= objective.low and i < len(BINS) - 1:
                continue
            low = objective.low + i * step
            high = objective.high if i == len(BINS) - 1 else low + step
            shown = fmt.pct(high) if high <= low else f"{fmt.pct(low)}–{fmt.pct(high)}"
            entries.append(Text.assemble(("━━ ", style), shown))
        lines.append(entries)
    axes = [Text("axes:", style="bold")]
    axes += [Text(f"{i + 1} {describe_axis(a)}") for i, a in enumerate(data.axes)]
    lines.append(axes)
    text = Text()
    for entries in lines:
        if text:
            text.append("\n")
        used = 0
        for entry in entries:
            if used and used + 2 + entry.cell_len > width:
                text.append("\n")
                used = 0
            elif used:
                text.append("  ")
                used += 2
            text.append_text(entry)
            used += entry.cell_len
    return text


def importance_text(found: api.Importance | None, problem: str = "") -> Text:
    """Each swept key's importance as a bar, most important first; or what is missing."""
    text = Text()
    text.append("parameter importance", style="bold")
    if problem:
        text.append(f": {problem}", style="red")
        return text
    if found is None:
        text.append(": computing (fANOVA, in the helper)…", style="dim")
        return text
    if found.message:
        text.append(f": {found.message}", style="dim")
        return text
    where = "its study's " if found.source == "study" else ""
    text.append(f" (fANOVA over {where}{found.trials} finished trials)", style="dim")
    width = max(len(p.key) for p in found.params)
    for p in found.params:
        text.append(f"\n{p.key.ljust(width)}  ")
        if p.importance is None:
            text.append("one value: no share", style="dim")
            continue
        text.append(fmt.bar(p.importance, IMPORTANCE_BAR), style="bold green")
        text.append(f" {fmt.share(p.importance):>6}")
    return text


class ParallelPlot(PlotextPlot):
    """Redraws only when ``show`` gets different data."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._data: api.ParallelCoordinates | None = None
        self._width = 0
        self._draw()

    def show(self, data: api.ParallelCoordinates | None) -> None:
        if data == self._data:
            return
        self._data = data
        self._draw()
        self.refresh()

    def on_resize(self) -> None:
        if self.size.width != self._width:
            self._draw()  # the axis names fit or give way to their numbers

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        self._width = self.size.width
        data = self._data
        if data is None or not data.lines:
            what = "no finished trial yet" if data is not None else "reading the trials…"
            plt.text(what, 0.5, 0.5, alignment="center")
            plt.xlim(0, 1)
            plt.ylim(0, 1)
            return
        axes = data.axes
        last = len(axes) - 1
        margin = 0.35 if last else 1.0
        plt.xlim(-margin, last + margin)
        plt.ylim(-0.12, 1.12)
        for i in range(len(axes)):
            plt.vline(i, "gray")
        objective = axes[-1]
        xs = [float(i) for i in range(len(axes))]
        for line in data.lines:
            colour = BINS[colour_bin(objective, line.objective)][0]
            plt.plot(xs, list(line.ys), color=colour, marker="braille")
        for i, axis in enumerate(axes):
            self._label_axis(i, last, axis)
        plt.xticks(xs, self._tick_labels(axes))
        plt.yticks([])

    def _label_axis(self, i: int, last: int, axis: api.Axis) -> None:
        plt = self.plt
        align: Literal["left", "center", "right"] = (
            "left" if i == 0 and last else "right" if i == last and last else "center"
        )
        if axis.kind == "categorical":
            levels = list(axis.levels)
            if len(levels) > MAX_LEVEL_LABELS:
                levels = [levels[0], levels[-1]]
            for label in levels:
                y = axis.position(label)
                if y is not None:
                    plt.text(label, i, y, alignment=align)
            return
        plt.text(end_label(axis, axis.high), i, 1.08, alignment=align)
        plt.text(end_label(axis, axis.low), i, -0.08, alignment=align)

    def _tick_labels(self, axes: Sequence[api.Axis]) -> list[str]:
        """The axes' names where they fit side by side, else their numbers (the legend under
        the plot names each axis whole)."""
        names = ["val acc" if a.kind == "objective" else a.key for a in axes]
        room = max(1, (self.size.width - 4) // max(1, len(axes)))
        if all(len(n) + 1 <= room for n in names):
            return names
        return [str(i + 1) for i in range(len(axes))]
