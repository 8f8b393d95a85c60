"""The sweeps of the store; for the selected one, its trials, its best trial, and accuracy
against each swept parameter (seed 003's "optimizer vs accuracy", "learning rate vs accuracy").

A sweep is a document under ``runs/sweeps/`` (re-read every two seconds while this view is
shown, off the UI thread) and its trials are ordinary runs (the app's run documents, followed
as for every view), so a running sweep's table and plots move on as its trials train.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from engine import api
from resnet_tui.screens import actions
from resnet_tui.screens.base import ViewScreen
from resnet_tui.screens.dialogs import ChoiceScreen
from resnet_tui.widgets import format as fmt
from resnet_tui.widgets.charts import COLORS, CurvePlot, Series
from resnet_tui.widgets.experiments import (
    describe_param,
    is_numeric,
    log_scale,
    show_value,
    sweep_params,
)
from resnet_tui.widgets.param_plot import ParamData, ParamPlot
from resnet_tui.wording import console_words

SCAN_S = 2.0  # how often the sweep documents are re-read while the view is shown
LIST_COLUMNS = (
    ("name", "sweep"),
    ("mode", "mode"),
    ("status", "status"),
    ("done", "done"),
    ("running", "running"),
    ("best_val", "best val"),
    ("preset", "preset"),
)


def _status(status: str | None) -> Text:
    return fmt.status_text(status) if status != "pruned" else Text("✂ pruned", style="magenta")


def param_data(param: dict[str, Any], rows: list[dict[str, Any]]) -> ParamData:
    """What the plot of one swept key shows (accuracies in percent)."""
    key = param["key"]
    if not is_numeric(param, rows):
        table = [r for r in api.by_param(rows, [key])[key] if r["best_val_acc"] is not None]
        return ParamData(
            key,
            True,
            labels=tuple(show_value(r["value"]) for r in table),
            bars=tuple(100 * r["best_val_acc"] for r in table),
        )
    points = [
        (float(r["params"][key]), 100 * r["val_acc"])
        for r in rows
        if key in r["params"] and r["val_acc"] is not None
    ]
    best = api.best_trial(rows)
    best_point = (
        (float(best["params"][key]), 100 * best["val_acc"])
        if best is not None and key in best["params"]
        else (None, None)
    )
    xs = tuple(x for x, _ in points)
    return ParamData(
        key,
        False,
        xs=xs,
        ys=tuple(y for _, y in points),
        best_x=best_point[0],
        best_y=best_point[1],
        log_x=bool(xs) and log_scale(param, list(xs)),
    )


def _recent(sweep: api.SweepRecord, seconds: float = 60.0) -> bool:
    """Whether the sweep was created within the last ``seconds``."""
    created = fmt.parse_time(sweep.created)
    if created is None:
        return False
    try:
        return (datetime.now(created.tzinfo) - created).total_seconds() < seconds
    except TypeError:
        return False


def history_series(rows: list[dict[str, Any]]) -> list[Series]:
    """Optuna's optimisation history: each scored trial's val accuracy by trial number, and
    the best so far among the finished ones (percent)."""
    scored = sorted(
        (r for r in rows if isinstance(r["trial"], int) and r["val_acc"] is not None),
        key=lambda r: r["trial"],
    )
    if not scored:
        return []
    best_xs: list[float] = []
    best_ys: list[float] = []
    best = None
    for row in scored:
        if row["status"] == "finished" and (best is None or row["val_acc"] > best):
            if best is not None:  # a step: the old best up to this trial, then the new one
                best_xs.append(float(row["trial"]))
                best_ys.append(100 * best)
            best = row["val_acc"]
        if best is not None:
            best_xs.append(float(row["trial"]))
            best_ys.append(100 * best)
    trials = Series(
        "trial",
        [float(r["trial"]) for r in scored],
        [100 * r["val_acc"] for r in scored],
        COLORS[0],
        scatter=True,
    )
    return [trials, Series("best so far", best_xs, best_ys, COLORS[2])] if best_xs else [trials]


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={show_value(v)}" for k, v in params.items())


class SweepsScreen(ViewScreen):
    MODE = "sweeps"
    BINDINGS = [
        Binding("enter", "open", "Open", priority=True),
        Binding("n", "new", "New sweep"),
        Binding("x", "stop", "Stop"),
        Binding("r", "resume", "Resume"),
        Binding("d", "delete", "Delete"),
        Binding("b", "open_best", "Best trial"),
        Binding("t", "tab('sweep-trials-pane')", "Trials"),
        Binding("p", "tab('sweep-plots-pane')", "Plots"),
        Binding("h", "tab('sweep-history-pane')", "History"),
        Binding("c", "compare", "Compare"),
        Binding("a", "analysis", "Analysis"),
        Binding("escape", "focus_list", "Sweeps", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.sweeps: list[api.SweepRecord] = []
        self.selected: str | None = None
        self._scanned = False
        self._warned: set[str] = set()
        self._list_rows: list[tuple[Any, ...]] = []
        self._trial_rows: list[dict[str, Any]] = []
        self._trial_keys: list[str] = []
        self._plot_keys: list[str] = []
        self._plots: list[ParamPlot] = []

    def compose_body(self) -> ComposeResult:
        with Vertical(id="sweeps-body"):
            yield DataTable(id="sweeps-list", cursor_type="row", zebra_stripes=True)
            yield Static("", id="sweep-info")
            with TabbedContent(id="sweep-tabs"):
                with TabPane("Trials", id="sweep-trials-pane"):
                    yield DataTable(id="sweep-trials", cursor_type="row", zebra_stripes=True)
                with TabPane("Accuracy", id="sweep-plots-pane"):
                    yield Horizontal(id="sweep-plots")
                with TabPane("History", id="sweep-history-pane"):
                    yield CurvePlot(
                        "val acc % by trial", xlabel="trial", integer_x=True, id="sweep-history"
                    )

    def on_mount(self) -> None:
        table = self.query_one("#sweeps-list", DataTable)
        for key, header in LIST_COLUMNS:
            table.add_column(header, key=key)
        table.focus()
        self._scan()
        self.set_interval(SCAN_S, self._tick)

    def on_screen_resume(self) -> None:
        self._scan()  # (ViewScreen's handler runs as well: Textual calls both)

    def _tick(self) -> None:
        if self.is_current:
            self._scan()

    # ------------------------------------------------------------ reading

    @work(thread=True, exclusive=True, group="sweeps", exit_on_error=False)
    def _scan(self) -> None:
        docs, problems = api.read_sweeps(self.rt.store)
        sweeps = [api.SweepRecord.from_json(d) for d in docs]
        self.app.call_from_thread(self._scanned_docs, sweeps, problems)

    def _scanned_docs(self, docs: list[api.SweepRecord], problems: list[str]) -> None:
        for problem in problems:
            if problem not in self._warned:
                self._warned.add(problem)
                self.notify(problem, title="sweeps", severity="warning", markup=False)
        first = not self._scanned
        self._scanned = True
        if docs != self.sweeps or first:
            self.sweeps = docs
            self.refresh_view()

    # ------------------------------------------------------------ drawing

    def refresh_view(self) -> None:
        if not self._scanned:
            return
        if any(d.status == "queued" and _recent(d) for d in self.sweeps):
            self._scan()  # a sweep just started: its document is about to say running
        by_sweep: dict[str, list[api.RunRecord]] = {}
        for run in self.rt.state.all_runs:  # a sweep counts its archived trials too
            if run.sweep is not None and run.sweep.name:
                by_sweep.setdefault(run.sweep.name, []).append(run)
        rows = {d.name: api.rows_from_runs(by_sweep.get(d.name, []), d.name) for d in self.sweeps}
        self._show_list(rows)
        current = next((d for d in self.sweeps if d.name == self.selected), None)
        self._show_sweep(current, rows.get(self.selected or "", []))

    def _show_list(self, rows: dict[str, list[dict[str, Any]]]) -> None:
        table = self.query_one("#sweeps-list", DataTable)
        shown = []
        for doc in self.sweeps:
            trials = rows[doc.name]
            counts = api.status_counts(trials)
            best = api.best_trial(trials)
            planned = doc.planned
            shown.append(
                (
                    doc.name,
                    doc.mode or "-",
                    doc.status or "?",
                    f"{counts.get('finished', 0)}/{planned if planned is not None else '?'}",
                    str(counts.get("running", 0) + counts.get("queued", 0)),
                    fmt.pct(best["val_acc"]) if best else "-",
                    doc.preset or "-",
                )
            )
        if shown != self._list_rows:
            self._list_rows = shown
            cursor = self.selected
            table.clear()
            for row in shown:
                table.add_row(
                    row[0],
                    row[1],
                    _status(row[2]),
                    Text(row[3], justify="right"),
                    Text(row[4], justify="right"),
                    Text(row[5], justify="right"),
                    row[6],
                    key=row[0],
                )
            names = [row[0] for row in shown]
            if self.rt.state.sweep_focus in names:  # just started from a form
                cursor, self.rt.state.sweep_focus = self.rt.state.sweep_focus, None
            if cursor not in names:
                cursor = names[0] if names else None
            self.selected = cursor
            if cursor is not None:
                table.move_cursor(row=names.index(cursor), animate=False)

    def _show_sweep(self, doc: api.SweepRecord | None, rows: list[dict[str, Any]]) -> None:
        info = self.query_one("#sweep-info", Static)
        if doc is None:
            root = self.rt.store.root
            info.update(
                Text.assemble(
                    (f"no sweeps in {root} yet.\n", "bold"),
                    "Press n to start one (or w on a preset in the Presets view), or from a "
                    "shell: `resnet-tui sweep digits-quick --grid optim.name=sgd,adam --grid "
                    "optim.lr=0.01,0.1 --detach`. Its trials appear here as they train.",
                )
            )
            self._show_trials([], [])
            self._show_plots([], [])
            self.query_one("#sweep-history", CurvePlot).set_series([])
            return
        params = sweep_params(doc)
        counts = api.status_counts(rows)
        planned = doc.planned
        done = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no trials"
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(doc.name, style="bold")
        text.append(f"  {doc.mode or '?'} of {doc.preset or '?'}  ")
        text.append_text(_status(doc.status))
        text.append(f"  {done} of {planned if planned is not None else '?'}\n")
        text.append("swept: " + "; ".join(describe_param(p) for p in params) + "\n", style="dim")
        best = api.best_trial(rows)
        if best is not None:
            text.append("best: ", style="bold")
            text.append(f"trial {best['trial']} ({_params_text(best['params'])}) ")
            text.append(f"val {fmt.pct(best['val_acc'])}", style="bold green")
            text.append(f" test {fmt.pct(best['test_acc'])}", style="green")
        else:
            text.append("best: no finished trial yet", style="dim")
        message = doc.message
        if message and doc.status not in ("running", "finished", "queued"):
            style = "red" if doc.status != "stopped" else "dim"
            text.append("\n" + console_words(message), style=style)
            text.append(" (here: r)", style="bold")
        info.update(text)
        self._show_trials([p["key"] for p in params], rows)
        self._show_plots(params, rows)
        self.query_one("#sweep-history", CurvePlot).set_series(history_series(rows))

    def _show_trials(self, keys: list[str], rows: list[dict[str, Any]]) -> None:
        if keys == self._trial_keys and rows == self._trial_rows:
            return
        table = self.query_one("#sweep-trials", DataTable)
        cursor = self._trial_cursor()
        if keys != self._trial_keys or not table.columns:
            table.clear(columns=True)
            table.add_column("trial", key="trial")
            for key in keys:
                table.add_column(key, key=f"param:{key}")
            for key, header in (
                ("status", "status"),
                ("val_acc", "val acc"),
                ("test_acc", "test acc"),
                ("epochs", "epochs"),
                ("run", "run"),
            ):
                table.add_column(header, key=key)
        else:
            table.clear()
        self._trial_keys, self._trial_rows = keys, rows
        best = api.best_trial(rows)
        for row in rows:
            mark = "★ " if best is not None and row["run"] == best["run"] else "  "
            table.add_row(
                Text(f"{mark}{row['trial'] if row['trial'] is not None else '?'}", justify="right"),
                *(Text(show_value(row["params"][k]) if k in row["params"] else "-") for k in keys),
                _status(row["status"]),
                Text(fmt.pct(row["val_acc"]), justify="right"),
                Text(fmt.pct(row["test_acc"]), justify="right"),
                Text(f"{row['epoch']}/{row['epochs'] or '?'}", justify="right"),
                row["name"] or row["run"],
                key=row["run"],
            )
        ids = [row["run"] for row in rows]
        if cursor in ids:
            table.move_cursor(row=ids.index(cursor), animate=False)

    def _show_plots(self, params: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
        box = self.query_one("#sweep-plots", Horizontal)
        keys = [p["key"] for p in params]
        if keys != self._plot_keys:
            self._plot_keys = keys
            box.remove_children()
            self._plots = [ParamPlot(param_data(p, rows), classes="sweep-plot") for p in params]
            if self._plots:
                box.mount_all(self._plots)
            else:
                box.mount(Static("no swept parameters", classes="pane-title"))
            return
        for plot, param in zip(self._plots, params, strict=True):
            plot.show(param_data(param, rows))

    # ------------------------------------------------------------ selection and keys

    @on(DataTable.RowHighlighted, "#sweeps-list")
    def _sweep_highlighted(self, event: DataTable.RowHighlighted) -> None:
        name = str(event.row_key.value) if event.row_key.value is not None else None
        if name != self.selected:
            self.selected = name
            self.refresh_view()

    def _trial_cursor(self) -> str | None:
        table = self.query_one("#sweep-trials", DataTable)
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:
            return None
        return str(key.value) if key.value is not None else None

    def _open_run(self, run_id: str | None) -> None:
        if run_id is None or run_id not in self.rt.state.runs_by_id:
            self.notify("that trial's run is not in the store", severity="warning")
            return
        from resnet_tui.screens.detail import RunDetailScreen

        self.app.push_screen(RunDetailScreen(run_id))

    def action_open(self) -> None:
        """On the sweep list: go to its trials; on a trial: open its run."""
        focused = self.focused
        if focused is not None and focused.id == "sweep-trials":
            self._open_run(self._trial_cursor())
            return
        self.query_one(TabbedContent).active = "sweep-trials-pane"
        trials = self.query_one("#sweep-trials", DataTable)
        if trials.row_count:
            trials.focus()

    def action_new(self) -> None:
        """A new sweep, its form filled from the selected sweep's request (if any)."""
        current = next((d for d in self.sweeps if d.name == self.selected), None)
        actions.new_sweep(self.rt, current.preset if current is not None else "", current)

    def action_stop(self) -> None:
        if self.selected is not None:
            actions.stop_sweep(self.rt, self.selected)  # asks first

    def action_resume(self) -> None:
        if self.selected is not None:
            actions.resume_sweep(self.rt, self.selected)

    def action_delete(self) -> None:
        """Delete the selected sweep; its trials stay as runs unless asked (the question
        says how many)."""
        if self.selected is None:
            return
        name = self.selected
        runs = self.rt.state.all_runs  # its archived trials go too
        trials = sum(1 for d in runs if d.sweep is not None and d.sweep.name == name)

        def answered(choice: str | None) -> None:
            if choice in ("sweep", "runs"):
                actions.delete_sweep(self.rt, name, with_runs=choice == "runs", after=self._scan)

        self.app.push_screen(
            ChoiceScreen(
                f"Delete sweep [b]{escape(name)}[/b]?\nIts document, log and study go. Its "
                f"{trials} trial runs stay as ordinary runs unless you delete them too.",
                [
                    ("sweep", "Delete the sweep (s)", "s"),
                    ("runs", f"…and its {trials} runs (a)", "a"),
                ],
            ),
            answered,
        )

    def action_compare(self) -> None:
        """The sweep's scored trials, best first (at most 8), in the Compare view."""
        scored = [r for r in self._trial_rows if r["val_acc"] is not None]
        if not scored:
            self.notify("no trial has a val accuracy yet", severity="warning")
            return
        scored.sort(key=lambda r: r["val_acc"], reverse=True)
        self.rt.state.selection.clear()
        self.rt.state.selection.update(r["run"] for r in scored[:8])
        if len(scored) > 8:
            self.notify(f"the best 8 of {len(scored)} trials", title="compare")
        self.app.switch_mode("compare")

    def action_open_best(self) -> None:
        best = api.best_trial(self._trial_rows)
        if best is None:
            self.notify("no finished trial yet", severity="warning")
            return
        self._open_run(best["run"])

    def action_analysis(self) -> None:
        """The selected sweep's parallel coordinates and parameter importance."""
        current = next((d for d in self.sweeps if d.name == self.selected), None)
        if current is None:
            self.notify("no sweep selected", severity="warning")
            return
        from resnet_tui.screens.sweep_analysis import SweepAnalysisScreen

        self.app.push_screen(SweepAnalysisScreen(current))

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_focus_list(self) -> None:
        self.query_one("#sweeps-list", DataTable).focus()
