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

from engine import api

MAX_MARKS = api.LR_MAX_MARKS  # restart lines drawn at most (more: the caption counts them)


class LRChart(Vertical):
    """The plot and one line under it: the curve in words and its x axis."""

    curve: api.LRCurve | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="lr-caption")  # the plot is mounted when first shown

    def _set_curve(self, curve: api.LRCurve | None) -> None:
        # textual-plotext (and plotext) load when the chart is first shown, not with the form
        from resnet_tui.widgets.lr_plot import LRPlot

        self.curve = curve
        plots = self.query(LRPlot)
        if plots:
            plots.first().set_curve(curve)
        else:
            self.mount(LRPlot(curve, id="lr-plot", max_marks=MAX_MARKS), before=0)

    def show_config(self, config: api.RunConfig | None, catalog: api.Catalog | None) -> None:
        """Redraw for ``config`` (None: the form does not validate)."""
        curve = api.lr_preview_for(config, catalog) if config is not None else None
        self._set_curve(curve)
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
