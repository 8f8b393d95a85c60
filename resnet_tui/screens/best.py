"""Seed 000's "Best Stats Per Model" table over the selected runs (or all), with export.

Every number of a row is from the run's best epoch (its kept checkpoint's, by train.monitor),
as in every other view; the highest val accuracy of any epoch, labelled so, is in the exports
only. Rows need the run's epoch lines, so they are computed in a worker and cached per (run,
epoch count): revisiting the view reads only runs that moved on.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from engine import api
from resnet_tui import marks
from resnet_tui.screens.base import ViewScreen
from resnet_tui.widgets import format as fmt
from resnet_tui.widgets import names

COLUMNS = (
    "run",
    "model",
    "train_loss",
    "val_loss",
    "train_acc",
    "val_acc",
    "best_epoch",
    "test_acc",
)
# The exports also carry the highest val accuracy of any epoch, labelled as such.
EXPORT_COLUMNS = (*COLUMNS, "max_val_acc")
# The table's order: the accuracies right after the name, so that they stay on screen at 80
# columns (the rest scrolls sideways); (key, header).
SHOWN = (
    ("run", "run"),
    ("val_acc", "val acc"),
    ("test_acc", "test acc"),
    ("best_epoch", "best epoch"),
    ("val_loss", "val loss"),
    ("train_acc", "train acc"),
    ("train_loss", "train loss"),
    ("model", "model"),
)
# val acc, test acc, best epoch (cell padding 2 each) and the scrollbar: names are
# shortened, from the middle, to the rest of the width.
FIXED_AFTER_NAME = (8 + 2) + (8 + 2) + (10 + 2) + 2
NOTE = "every column is the best epoch's (the kept checkpoint's, by train.monitor)"


def export_folder(store_root: Path) -> Path:
    """The run store folder when it can be written, else the working directory."""
    try:
        store_root.mkdir(parents=True, exist_ok=True)
        if os.access(store_root, os.W_OK):
            return store_root
    except OSError:
        pass
    return Path.cwd()


class BestScreen(ViewScreen):
    MODE = "best"
    BINDINGS = [
        Binding("a", "toggle_scope", "All/selected"),
        Binding("c", "export('csv')", "Export CSV"),
        Binding("m", "export('md')", "Export Markdown"),
        Binding("enter", "open", "Open", priority=True),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.all_runs = False
        self.rows: list[dict[str, Any]] = []
        self._cache: dict[tuple[str, Any, Any], dict[str, Any]] = {}
        self._shown_ids: list[str] = []

    def compose_body(self) -> ComposeResult:
        yield Static("", id="best-title")
        table: DataTable[Any] = DataTable(id="best-table", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static("", id="best-message")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, header in SHOWN:
            table.add_column(header, key=key)
        table.focus()

    def on_screen_resume(self) -> None:
        self.refresh_view()  # the selection may have changed in the Runs view

    def on_resize(self) -> None:
        if self.rows:
            self._show(self.rows)  # the names, shortened to the new width

    def _docs(self) -> list[api.RunRecord]:
        runs = self.rt.state.runs
        selected = [d for d in runs if d.id in self.rt.state.selection]
        scope = runs if (self.all_runs or not selected) else selected
        return marks.pinned_first([d for d in scope if d.epoch])

    def refresh_view(self) -> None:
        docs = self._docs()
        selected = bool(self.rt.state.selection) and not self.all_runs
        scope = f"{len(self.rt.state.selection)} selected runs" if selected else "all runs"
        self.query_one("#best-title", Static).update(
            Text.assemble(
                ("Best Stats Per Model", "bold"),
                (f"  {scope} with at least one epoch ({len(docs)})", "dim"),
                ("   a: all/selected · space in Runs (4) selects", "dim"),
            )
        )
        self._compute(docs)

    @work(thread=True, exclusive=True, group="best", exit_on_error=False)
    def _compute(self, docs: list[api.RunRecord]) -> None:
        rows = []
        for doc in docs:
            key = (doc.id, doc.epoch, doc.status)
            row = self._cache.get(key)
            if row is None:
                row = api.best_stats_row(doc, api.read_metrics(self.rt.store, doc.id).epochs)
                self._cache[key] = row
            rows.append(row)
        self.app.call_from_thread(self._show, rows)

    def _show(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        table = self.query_one(DataTable)
        table.clear()
        width = max(12, self.size.width - FIXED_AFTER_NAME)
        by_id = self.rt.state.runs_by_id
        labels = names.distinct([_marked(row, by_id.get(str(row["id"]))) for row in rows], width)
        for row, label in zip(rows, labels, strict=True):
            table.add_row(
                label,
                _pct(row.get("val_acc")),
                _pct(row.get("test_acc")),
                Text(str(row["best_epoch"]) if row.get("best_epoch") else "-", justify="right"),
                _num(row.get("val_loss")),
                _pct(row.get("train_acc")),
                _num(row.get("train_loss")),
                row.get("model") or "-",
                key=row["id"],
            )
        message = self.query_one("#best-message", Static)
        message.update(Text(NOTE, style="dim") if rows else "no run has finished an epoch yet")

    def action_toggle_scope(self) -> None:
        self.all_runs = not self.all_runs
        self.refresh_view()

    def action_export(self, kind: str) -> None:
        if not self.rows:
            self.notify("nothing to export", severity="warning")
            return
        folder = export_folder(self.rt.store.root)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = folder / f"best-stats-{stamp}.{kind}"
        write = api.to_csv if kind == "csv" else api.to_markdown
        text = write(self.rows, EXPORT_COLUMNS)
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            self.notify(f"cannot write {path}: {exc.strerror or exc}", severity="error")
            return
        self.query_one("#best-message", Static).update(f"wrote {path}")
        self.notify(f"wrote {len(self.rows)} rows to {path}", title="exported")

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return
        run_id = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        from resnet_tui.screens.detail import RunDetailScreen

        self.app.push_screen(RunDetailScreen(run_id))


def _num(value: Any) -> Text:
    return Text(fmt.number(value), justify="right")


def _pct(value: Any) -> Text:
    return Text(fmt.pct(value), justify="right")


def _marked(row: dict[str, Any], run: api.RunRecord | None) -> str:
    """A row's run name after its marks (⚑ pinned, ⊟ archived), as the Runs view shows them."""
    mark = marks.mark(run) if run is not None else ""
    return f"{mark} {row['run']}" if mark else str(row["run"])
