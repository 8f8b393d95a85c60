"""The learning rate over a whole run, drawn from the engine's own schedule code.

``api.lr_preview`` walks the same ``lr_factor`` the trainer's ``LRSchedule`` sets (torch-free);
this widget plots it (textual-plotext), with the end of warmup and each warm restart as
vertical lines, and says under it how the steps per epoch were worked out. The Launch form
shows it as a small panel that ctrl+y toggles and redraws it as the form changes.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static
from textual_plotext import PlotextPlot

from engine import api

MAX_MARKS = api.LR_MAX_MARKS  # restart lines drawn at most (more: the caption counts them)


class LRPlot(PlotextPlot):
    """The curve itself; redraws only when it gets a different one."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.curve: api.LRCurve | None = None

    def set_curve(self, curve: api.LRCurve | None) -> None:
        if curve == self.curve:
            return
        self.curve = curve
        self._draw()
        self.refresh()

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.xlabel("epoch")
        curve = self.curve
        if curve is None or not curve.points:
            plt.text("fix the form to see the lr", 0.5, 0.5, alignment="center")
            plt.xlim(0, 1)
            plt.ylim(0, 1)
            return
        xs = [t for t, _ in curve.points]
        ys = [lr for _, lr in curve.points]
        if curve.warmup_end is not None:
            plt.vline(curve.warmup_end, "yellow")
        for at in curve.restarts[:MAX_MARKS]:
            plt.vline(at, "magenta")
        plt.plot(xs, ys, color="blue", marker="braille")
        plt.xlim(0, curve.epochs)
        top = curve.peak if curve.peak > 0 else 1.0
        plt.ylim(0, top * 1.05)


class LRChart(Vertical):
    """The plot and one line under it: the curve in words and its x axis."""

    def compose(self) -> ComposeResult:
        yield LRPlot(id="lr-plot")
        yield Static("", id="lr-caption")

    @property
    def curve(self) -> api.LRCurve | None:
        return self.query_one(LRPlot).curve

    def show_config(self, config: api.RunConfig | None, catalog: api.Catalog | None) -> None:
        """Redraw for ``config`` (None: the form does not validate)."""
        curve = api.lr_preview_for(config, catalog) if config is not None else None
        self.query_one(LRPlot).set_curve(curve)
        caption = Text()
        if curve is not None:
            caption.append(api.describe_curve(curve))
            marks = []
            if curve.warmup_end is not None:
                marks.append(("│ warmup end", "yellow"))
            if curve.restarts:
                marks.append(("│ restarts", "magenta"))
            for label, style in marks:
                caption.append("  ")
                caption.append(label, style=style)
            caption.append("\n" + api.describe_steps(curve), style="dim")
        self.query_one("#lr-caption", Static).update(caption)
