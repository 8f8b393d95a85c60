"""A sweep analysed (``a`` in the Sweeps view): its finished trials as parallel coordinates
and each swept key's importance for the val accuracy.

The parallel coordinates come from the run records the console holds (``api.
parallel_coordinates``, torch- and optuna-free) and follow the trials as they finish. The
importance is Optuna's fANOVA, which the console does not import: its helper process
computes it (``EngineHelper.sweep_importance``) in a worker thread, again whenever the set of
finished trials changes.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from engine import api
from engine.api.remote import HelperError
from resnet_tui.screens.base import ViewScreen
from resnet_tui.widgets.parallel_plot import ParallelPlot, importance_text, legend
from resnet_tui.wording import console_words


class SweepAnalysisScreen(ViewScreen):
    """Pushed over the Sweeps view; ``a`` or escape goes back."""

    BINDINGS = [
        Binding("escape,backspace,a", "back", "Back"),
    ]

    def __init__(self, sweep: api.SweepRecord) -> None:
        super().__init__()
        self.sweep = sweep
        self.sweep_name = sweep.name
        self.importance: api.Importance | None = None
        self.importance_problem = ""
        self._scored: tuple[tuple[str, float], ...] | None = None
        self._data: api.ParallelCoordinates | None = None

    @property
    def mode_name(self) -> str:
        return "sweeps"

    def compose_body(self) -> ComposeResult:
        yield Static("", id="analysis-header")
        yield ParallelPlot(id="analysis-plot")
        yield Static("", id="analysis-legend")
        yield Static(importance_text(None), id="analysis-importance")

    def refresh_view(self) -> None:
        runs = [r for r in self.rt.state.all_runs if r.sweep is not None]
        params = [p for p in self.sweep.spec.get("params") or [] if isinstance(p, dict)]
        data = api.parallel_coordinates(params, api.rows_from_runs(runs, self.sweep_name))
        self.query_one("#analysis-header", Static).update(self._header(data))
        self.query_one(ParallelPlot).show(data)
        self._data = data
        self._show_legend()
        scored = tuple((line.run, line.objective) for line in data.lines)
        if scored != self._scored:
            self._scored = scored
            self._compute_importance()

    def _show_legend(self) -> None:
        if self._data is not None:
            width = max(20, self.app.size.width - 2)  # the legend's padding
            self.query_one("#analysis-legend", Static).update(legend(self._data, width))

    def on_resize(self) -> None:
        self._show_legend()

    def _header(self, data: api.ParallelCoordinates) -> Text:
        text = Text()
        text.append(self.sweep_name, style="bold")
        text.append(f"  parallel coordinates of {len(data.lines)} finished trials")
        if data.left_out:
            counts: dict[str, int] = {}
            for t in data.left_out:
                counts[t.status] = counts.get(t.status, 0) + 1
            left = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
            text.append(f" (left out: {left})", style="dim")
        best = data.best
        if best is not None:
            text.append("  best: ", style="bold")
            text.append(f"trial {best.trial if best.trial is not None else '?'}")
        return text

    @work(thread=True, exclusive=True, group="sweep-importance", exit_on_error=False)
    def _compute_importance(self) -> None:
        answer: api.Importance | None = None
        problem = ""
        try:
            # absolute: a helper shared with another console may run in another folder
            root = Path(self.rt.store.root).resolve()
            answer = self.rt.helper.sweep_importance(root, self.sweep_name)
        except (HelperError, api.UserError) as exc:
            problem = console_words(str(exc))
        if not self.rt.closing:
            self.app.call_from_thread(self._show_importance, answer, problem)

    def _show_importance(self, answer: api.Importance | None, problem: str) -> None:
        self.importance, self.importance_problem = answer, problem
        found = answer
        if found is not None and found.message:
            found = replace(found, message=console_words(found.message))
        self.query_one("#analysis-importance", Static).update(importance_text(found, problem))

    def action_back(self) -> None:
        self.app.pop_screen()
