"""Two or more runs side by side: curves overlaid, configs with the differing keys marked,
best/test metrics.

The runs are the selection (space in the Runs view, or the list on the left here).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Label, Static, TabbedContent, TabPane

from engine import api
from resnet_tui.screens.base import ViewScreen
from resnet_tui.widgets import format as fmt
from resnet_tui.widgets import names
from resnet_tui.widgets.charts import COLORS, CurvePlot, Series
from resnet_tui.widgets.sparks import metric_series

METRICS = ("val_acc", "val_loss", "train_acc", "train_loss", "lr")
ROWS = (
    ("status", "status"),
    ("epochs", "epochs"),
    ("params", "params"),
    ("best val acc", "val_acc"),
    ("best val loss", "val_loss"),
    ("best train acc", "train_acc"),
    ("best train loss", "train_loss"),
    ("best epoch", "best_epoch"),
    ("test acc", "test_acc"),
    ("time", "time"),
)


PICK_HINT = (
    "Compare needs two or more runs: space on a run in the list on the left picks it "
    "(or space in the Runs view, 4, then c)."
)
LIST_NAME_WIDTH = 16  # the list's name column (the pane is 26 wide: mark, padding, scrollbar)
RUN_COLUMN = (10, 24)  # a run's column in the tables: "✓ finished" whole, at most 24 cells


def flat_config(config: dict[str, Any]) -> dict[str, Any]:
    return {f"{s}.{k}": v for s, d in config.items() if isinstance(d, dict) for k, v in d.items()}


class CompareScreen(ViewScreen):
    MODE = "compare"
    BINDINGS = [
        Binding("space", "pick", "Pick run"),
        Binding("c", "tab('compare-curves')", "Curves"),
        Binding("f", "tab('compare-config')", "Config"),
        Binding("s", "tab('compare-metrics')", "Stats"),
        Binding("m", "metric", "Metric"),
        Binding("d", "diff_only", "Differing/all"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.metric = "val_acc"
        self.diff_only = True
        self._epochs: dict[str, list[api.EpochLine]] = {}
        self._cache: dict[tuple[str, Any, Any], list[api.EpochLine]] = {}
        self._list_ids: list[str] = []
        self._list_labels: list[str] = []
        self._docs_shown: list[api.RunRecord] = []

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="compare-body"):
            with Vertical(id="compare-pick"):
                yield Label("runs (space picks)", classes="pane-title")
                yield DataTable(id="compare-list", cursor_type="row", show_header=False)
            with Vertical(id="compare-right"):
                yield Static(PICK_HINT, id="compare-hint")
                yield from self.compose_tabs()

    def compose_tabs(self) -> ComposeResult:
        with TabbedContent(id="compare-tabs"):
            with TabPane("Curves", id="compare-curves"):
                yield CurvePlot("val_acc", id="compare-plot")
            with TabPane("Config", id="compare-config"):
                yield Static("", id="compare-config-note")
                yield DataTable(id="compare-config-table", zebra_stripes=True, cursor_type="row")
            with TabPane("Metrics", id="compare-metrics"):
                yield DataTable(id="compare-metrics-table", zebra_stripes=True, cursor_type="row")

    def on_mount(self) -> None:
        picker = self.query_one("#compare-list", DataTable)
        picker.add_column("", key="sel")
        picker.add_column("run", key="name")
        picker.focus()

    def on_screen_resume(self) -> None:
        self._stale = False
        self.refresh_view()

    # ------------------------------------------------------------ the run list

    def refresh_view(self) -> None:
        picker = self.query_one("#compare-list", DataTable)
        runs = self.rt.state.runs
        ids = [d.id for d in runs]
        labels = names.distinct([fmt.run_label(d) for d in runs], LIST_NAME_WIDTH)
        if (ids, labels) != (self._list_ids, self._list_labels):
            row = picker.cursor_row
            picker.clear()
            for doc, label in zip(runs, labels, strict=True):
                picker.add_row(_mark(doc.id in self.rt.state.selection), label, key=doc.id)
            self._list_ids, self._list_labels = ids, labels
            if 0 <= row < len(ids):
                picker.move_cursor(row=row, animate=False)
        else:
            for run_id in ids:
                picker.update_cell(run_id, "sel", _mark(run_id in self.rt.state.selection))
        self._load()

    def action_pick(self) -> None:
        picker = self.query_one("#compare-list", DataTable)
        if not picker.row_count:
            return
        run_id = str(picker.coordinate_to_cell_key(picker.cursor_coordinate).row_key.value)
        if run_id in self.rt.state.selection:
            self.rt.state.selection.discard(run_id)
        else:
            self.rt.state.selection.add(run_id)
        picker.update_cell(run_id, "sel", _mark(run_id in self.rt.state.selection))
        if picker.cursor_row < picker.row_count - 1:
            picker.move_cursor(row=picker.cursor_row + 1)
        self._load()

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    # ------------------------------------------------------------ loading

    def _docs(self) -> list[api.RunRecord]:
        return [d for d in self.rt.state.runs if d.id in self.rt.state.selection]

    def _load(self) -> None:
        self._read(self._docs())

    @work(thread=True, exclusive=True, group="compare", exit_on_error=False)
    def _read(self, docs: list[api.RunRecord]) -> None:
        epochs = {}
        for doc in docs:
            key = (doc.id, doc.epoch, doc.status)
            if key not in self._cache:
                self._cache[key] = api.read_metrics(self.rt.store, doc.id).epochs
            epochs[doc.id] = self._cache[key]
        self.app.call_from_thread(self._show, docs, epochs)

    def _show(self, docs: list[api.RunRecord], epochs: dict[str, list[api.EpochLine]]) -> None:
        self._epochs = epochs
        self._docs_shown = docs
        self.query_one("#compare-hint", Static).display = len(docs) < 2
        self._show_plot()
        self._show_config(docs)
        self._show_metrics(docs, epochs)

    def _show_plot(self) -> None:
        docs = self._docs_shown
        labels = names.distinct([fmt.run_label(d) for d in docs], RUN_COLUMN[1])
        series = [
            Series(
                label,
                *metric_series(self._epochs.get(d.id, []), self.metric),
                COLORS[i % len(COLORS)],
            )
            for i, (d, label) in enumerate(zip(docs, labels, strict=True))
        ]
        title = self.metric if len(docs) >= 2 else f"{self.metric}: pick two or more runs"
        self.query_one("#compare-plot", CurvePlot).set_series(series, title=title)

    def _columns(
        self, table: DataTable[Any], first: str, docs: list[api.RunRecord], first_width: int
    ) -> None:
        """The key column, then a column per run headed by its name, shortened (from the
        middle) so that the runs share the width: four fit at 120 columns."""
        table.clear(columns=True)
        table.add_column(first, key="key")
        room = self.query_one("#compare-tabs").size.width or self.app.size.width - 26
        low, high = RUN_COLUMN
        width = max(low, min(high, (room - first_width - 4) // max(1, len(docs)) - 2))
        labels = names.distinct([fmt.run_label(d) for d in docs], width)
        for i, (doc, label) in enumerate(zip(docs, labels, strict=True)):
            table.add_column(Text(label, style=f"bold {COLORS[i % len(COLORS)]}"), key=doc.id)

    def _show_config(self, docs: list[api.RunRecord]) -> None:
        table = self.query_one("#compare-config-table", DataTable)
        note = self.query_one("#compare-config-note", Static)
        if len(docs) < 2:
            self._columns(table, "config key", docs, 20)
            note.update("")  # the hint above says how to pick runs
            return
        configs = []
        for doc in docs:
            try:
                configs.append(api.plan_run(api.RunRequest(config=doc.config)).config)
            except api.UserError as exc:
                table.clear(columns=True)
                note.update(Text(f"{fmt.run_label(doc)}: config unreadable: {exc}", style="red"))
                return
        differing = api.config_differences(configs)
        flats = [flat_config(c.to_dict()) for c in configs]
        keys = list(differing) if self.diff_only else list(flats[0])
        self._columns(table, "config key", docs, 2 + max((len(k) for k in keys), default=10))
        note.update(
            Text.assemble(
                (f"{len(differing)} differing keys", "bold yellow"),
                ("  (d: show all keys)" if self.diff_only else "  (d: differing only)", "dim"),
            )
        )
        for key in keys:
            differs = key in differing
            style = "bold yellow" if differs else ""
            # "≠" marks a differing key without relying on colour.
            table.add_row(
                Text(("≠ " if differs else "  ") + key, style=style),
                *(Text(fmt.config_value(f.get(key)), style=style) for f in flats),
                key=key,
            )

    def _show_metrics(
        self, docs: list[api.RunRecord], epochs: dict[str, list[api.EpochLine]]
    ) -> None:
        table = self.query_one("#compare-metrics-table", DataTable)
        self._columns(table, "metric", docs, max(len(label) for label, _ in ROWS))
        stats = [api.best_stats_row(d, epochs.get(d.id, [])) for d in docs]
        now = self.rt.clock()
        for label, key in ROWS:
            cells = []
            for doc, row in zip(docs, stats, strict=True):
                if key == "status":
                    cells.append(fmt.status_text(doc.status))
                elif key == "epochs":
                    cells.append(Text(fmt.epochs(doc), justify="right"))
                elif key == "params":
                    cells.append(Text(fmt.params(doc.params), justify="right"))
                elif key == "time":
                    cells.append(Text(fmt.duration(fmt.run_seconds(doc, now)), justify="right"))
                elif key == "best_epoch":
                    cells.append(Text(str(row.get(key) or "-"), justify="right"))
                elif key.endswith("acc"):
                    cells.append(Text(fmt.pct(row.get(key)), justify="right"))
                else:
                    cells.append(Text(fmt.number(row.get(key)), justify="right"))
            table.add_row(label, *cells, key=label)

    # ------------------------------------------------------------ keys

    def action_metric(self) -> None:
        self.metric = METRICS[(METRICS.index(self.metric) + 1) % len(METRICS)]
        self.query_one(TabbedContent).active = "compare-curves"
        self._show_plot()

    def action_diff_only(self) -> None:
        self.diff_only = not self.diff_only
        self.query_one(TabbedContent).active = "compare-config"
        self._show_config(self._docs_shown)


def _mark(selected: bool) -> Text:
    return Text("[x]", style="bold cyan") if selected else Text("[ ]", style="dim")
