"""Two or more runs side by side: curves overlaid, configs and provenance with the differing
keys marked, best/test metrics with each run's difference from the baseline.

The runs are the selection (space in the Runs view, or the list on the left here), in the
order they were picked. The baseline, the first column, is the first pinned run among them,
else the first picked (``api.baseline_first``); the differences are the engine's
(``api.diff_runs``, as ``runs diff`` and the HTML report). ``d`` shows only what differs, in
every tab, or everything.
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
from resnet_tui import marks
from resnet_tui.screens.base import ViewScreen
from resnet_tui.widgets import format as fmt
from resnet_tui.widgets import names
from resnet_tui.widgets.charts import COLORS, CurvePlot, Series
from resnet_tui.widgets.sparks import metric_series
from resnet_tui.wording import console_words

METRICS = ("val_acc", "val_loss", "train_acc", "train_loss", "lr")
# The Metrics tab's rows: (label, the diff's key); "time" is counted live for a running run.
ROWS = (
    ("status", "status"),
    ("epochs", "epochs_done"),
    ("params", "params"),
    ("best val acc", "val_acc"),
    ("best val loss", "val_loss"),
    ("best train acc", "train_acc"),
    ("best train loss", "train_loss"),
    ("best epoch", "best_epoch"),
    ("test acc", "test_acc"),
    ("test loss", "test_loss"),
    ("test ECE", "test_ece"),
    ("max val acc", "max_val_acc"),
    ("time", "time"),
)
TIMES = ("created", "finished")  # ISO times, shown on two lines
ALWAYS = ("status",)  # shown when the runs agree too: it says whether the numbers are final


PICK_HINT = (
    "Compare needs two or more runs: space on a run in the list on the left picks it "
    "(or space in the Runs view, 4, then c)."
)
LIST_NAME_WIDTH = 16  # the list's name column (the pane is 26 wide: mark, padding, scrollbar)
RUN_COLUMN = (10, 24)  # a run's column in the tables: "✓ finished" whole, at most 24 cells


class CompareScreen(ViewScreen):
    MODE = "compare"
    BINDINGS = [
        Binding("space", "pick", "Pick run"),
        Binding("c", "tab('compare-curves')", "Curves"),
        Binding("f", "tab('compare-config')", "Config"),
        Binding("s", "tab('compare-metrics')", "Stats"),
        Binding("m", "metric", "Metric"),
        Binding("d", "diff_only", "Differing/all"),
        Binding("i", "flips(0, 1)", "A right B wrong"),
        Binding("I", "flips(1, 0)", "B right A wrong"),
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
        self._diff: api.RunDiff | None = None

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
                yield Static("", id="compare-metrics-note")
                yield Static("", id="compare-flips")
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
        runs = marks.pinned_first(self.rt.state.runs)
        ids = [d.id for d in runs]
        shown = [f"{marks.mark(d)} {fmt.run_label(d)}".lstrip() for d in runs]
        labels = names.distinct(shown, LIST_NAME_WIDTH)
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

    def action_flips(self, right: int, wrong: int) -> None:
        """The test images one of the first two runs (A: the baseline, B: the next) gets
        right and the other wrong, in the gallery (escape comes back)."""
        from resnet_tui.screens.gallery import GalleryScreen, flips_loader

        docs = self._docs()
        if len(docs) < 2:
            self.notify("pick two runs first (space): A is the baseline, B the next")
            return
        a, b = docs[right], docs[wrong]
        name = f"{a.name}-right-{b.name}-wrong"
        self.app.push_screen(GalleryScreen(flips_loader(a.id, b.id), name, self.MODE))

    # ------------------------------------------------------------ loading

    def _docs(self) -> list[api.RunRecord]:
        """The picked runs in the order picked, the baseline first (the first pinned)."""
        by_id = self.rt.state.runs_by_id
        return api.baseline_first([by_id[i] for i in self.rt.state.selection if i in by_id])

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
        diff = api.diff_runs(docs, epochs) if docs else None
        flips: api.Flips | str | None = None
        if len(docs) == 2 and all(d.test is not None for d in docs):
            try:
                flips = api.flips(self.rt.store, docs[0].id, docs[1].id)
            except api.UserError as exc:
                flips = str(exc)
        self.app.call_from_thread(self._show, docs, epochs, diff, flips)

    def _show(
        self,
        docs: list[api.RunRecord],
        epochs: dict[str, list[api.EpochLine]],
        diff: api.RunDiff | None = None,
        flips: api.Flips | str | None = None,
    ) -> None:
        self._epochs = epochs
        self._docs_shown = docs
        self._diff = diff
        self.query_one("#compare-hint", Static).display = len(docs) < 2
        self._show_plot()
        self._show_config(docs)
        self._show_metrics(docs)
        self._show_flips(docs, flips)

    def _show_flips(self, docs: list[api.RunRecord], flips: api.Flips | str | None) -> None:
        """Two tested runs: the test samples one gets right and the other wrong, each way."""
        widget = self.query_one("#compare-flips", Static)
        widget.display = flips is not None
        if flips is None:
            return
        if isinstance(flips, str):
            widget.update(Text(f"flips: {console_words(flips)}", style="dim"))
            return
        a, b = (fmt.run_label(d) for d in docs)
        widget.update(
            Text.assemble(
                ("flips (test): ", "bold"),
                (a, f"bold {COLORS[0]}"),
                f" right, {b} wrong: ",
                (f"{len(flips.a_right_b_wrong):,}", "bold"),
                " · ",
                (b, f"bold {COLORS[1]}"),
                f" right, {a} wrong: ",
                (f"{len(flips.b_right_a_wrong):,}", "bold"),
                (f" · both wrong {flips.both_wrong:,}", "dim"),
                (" · i / I: their images", "dim"),
            )
        )

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

    def _note(self, differing: int, what: str, docs: list[api.RunRecord]) -> Text:
        base = docs[0]
        why = "pinned" if base.pinned else "first picked"
        return Text.assemble(
            ("baseline: ", "dim"),
            (fmt.run_label(base), f"bold {COLORS[0]}"),
            (f" ({why})  ", "dim"),
            (f"{differing} {what} differ", "bold yellow"),
            ("  d: show all" if self.diff_only else "  d: differing only", "dim"),
        )

    def _show_config(self, docs: list[api.RunRecord]) -> None:
        table = self.query_one("#compare-config-table", DataTable)
        note = self.query_one("#compare-config-note", Static)
        diff = self._diff
        if len(docs) < 2 or diff is None:
            self._columns(table, "config key", docs, 20)
            note.update("")  # the hint above says how to pick runs
            return
        config = diff.section("config", self.diff_only)
        origin = diff.section("provenance", self.diff_only)
        keys = [r.key for r in config + origin]
        self._columns(table, "config key", docs, 2 + max((len(k) for k in keys), default=10))
        differing = len(diff.section("config", True)) + len(diff.section("provenance", True))
        note.update(self._note(differing, "keys", docs))
        for row in config:
            self._diff_row(table, row, row.key)
        if origin:
            table.add_row(
                Text("provenance", style="bold"), *(Text("") for _ in docs), key="provenance"
            )
        for row in origin:
            self._diff_row(table, row, f"provenance:{row.key}")

    def _diff_row(self, table: DataTable[Any], row: api.DiffRow, key: str) -> None:
        style = "bold yellow" if row.differs else ""
        values = [fmt.config_value(v) for v in row.values]
        if row.key in TIMES:  # the date over the time: the runs' columns stay narrow
            values = [v.replace("T", "\nT", 1) for v in values]
        # "≠" marks a differing key without relying on colour.
        table.add_row(
            Text(("≠ " if row.differs else "  ") + row.key, style=style),
            *(Text(v, style=style) for v in values),
            key=key,
            height=max(v.count("\n") + 1 for v in values),
        )

    def _show_metrics(self, docs: list[api.RunRecord]) -> None:
        table = self.query_one("#compare-metrics-table", DataTable)
        note = self.query_one("#compare-metrics-note", Static)
        self._columns(table, "metric", docs, max(len(label) for label, _ in ROWS))
        diff = self._diff
        if not docs or diff is None:
            note.update("")
            return
        rows = {r.key: r for r in diff.section("metrics") + diff.section("provenance")}
        now = self.rt.clock()
        differing = 0
        # "94.19% -75.06 pp" takes 16 cells: where a run's column has fewer, the difference
        # goes under the value, so that no column runs off the screen.
        room = self.query_one("#compare-tabs").size.width or self.app.size.width - 26
        first = max(len(label) for label, _ in ROWS)
        stacked = (room - first - 4) // max(1, len(docs)) - 2 < 16
        for label, key in ROWS:
            if key == "time":
                values: list[Any] = [fmt.run_seconds(d, now) for d in docs]
                base = values[0]
                deltas = [
                    None if i == 0 or v is None or base is None else v - base
                    for i, v in enumerate(values)
                ]
                differs = any(v != base for v in values)
            elif key in rows:
                row = rows[key]
                values, deltas, differs = list(row.values), list(row.deltas), row.differs
            else:
                values, deltas, differs = [None] * len(docs), [None] * len(docs), False
            differing += differs
            if self.diff_only and len(docs) > 1 and not differs and key not in ALWAYS:
                continue
            cells = [
                fmt.status_text(v)
                if key == "status"
                else self._metric_cell(key, v, d, doc, "\n" if stacked else " ")
                for v, d, doc in zip(values, deltas, docs, strict=True)
            ]
            style = "bold yellow" if differs and len(docs) > 1 else ""
            height = 2 if any("\n" in c.plain for c in cells) else 1
            table.add_row(Text(label, style=style), *cells, key=label, height=height)
        note.update(self._note(differing, "metrics", docs) if len(docs) > 1 else "")

    @staticmethod
    def _metric_cell(
        key: str, value: Any, delta: float | None, doc: api.RunRecord, gap: str = " "
    ) -> Text:
        """A run's value, and its difference from the baseline's after it (points for an
        accuracy): "95.00% -1.94 pp" (``gap`` "\n": under it)."""
        if key == "time":
            text = Text(fmt.duration(value))
            if delta is not None:
                text.append(f"{gap}{delta:+,.0f} s", style="dim")
            text.justify = "right"
            return text
        if key == "params":
            text = Text(fmt.params(value))
        elif key == "epochs_done":
            text = Text(fmt.epochs(doc))  # done/planned
        else:
            text = Text(fmt.diff_value(key, value))
        shown = fmt.diff_delta(key, delta)
        if shown:
            colour = {"better": "green", "worse": "red"}.get(fmt.judge(key, delta), "dim")
            text.append(gap + shown, style=colour)
        text.justify = "right"
        return text

    # ------------------------------------------------------------ keys

    def action_metric(self) -> None:
        self.metric = METRICS[(METRICS.index(self.metric) + 1) % len(METRICS)]
        self.query_one(TabbedContent).active = "compare-curves"
        self._show_plot()

    def action_diff_only(self) -> None:
        """Only what differs, or everything: config, provenance and metrics alike (the tab
        shown stays; the Curves tab turns to Config, where the keys are)."""
        self.diff_only = not self.diff_only
        tabs = self.query_one(TabbedContent)
        if tabs.active == "compare-curves":
            tabs.active = "compare-config"
        self._show_config(self._docs_shown)
        self._show_metrics(self._docs_shown)


def _mark(selected: bool) -> Text:
    return Text("[x]", style="bold cyan") if selected else Text("[ ]", style="dim")
