"""The lr curve's plot (textual-plotext), mounted by ``lr_chart.LRChart`` when first shown."""

from __future__ import annotations

from textual_plotext import PlotextPlot

from engine import api


class LRPlot(PlotextPlot):
    """The curve itself; redraws only when it gets a different one."""

    def __init__(self, curve: api.LRCurve | None, *, max_marks: int, id: str | None = None) -> None:
        super().__init__(id=id)
        self.curve = curve
        self.max_marks = max_marks  # restart lines drawn at most
        self._draw()

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
        for at in curve.restarts[: self.max_marks]:
            plt.vline(at, "magenta")
        plt.plot(xs, ys, color="blue", marker="braille")
        plt.xlim(0, curve.epochs)
        top = curve.peak if curve.peak > 0 else 1.0
        plt.ylim(0, top * 1.05)
