"""Every run in a sortable, filterable table; enter opens a run, space selects for compare
(or for stacking: k stacks the selected finished runs into an ensemble).

The table is built from the index documents only (they carry best/test stats and the epoch
count), so a store of a thousand runs opens without reading a thousand metrics files. Live
changes update the cells that changed; a filter or sort change rebuilds the rows.

Filtering and sorting cover every run, but the table holds the first ``ROW_LIMIT`` rows of
that order (the newest thousand, unless sorted otherwise): building a row costs about 0.1 ms,
and a store of 10,000 runs must still open at once. The info line says "showing N of M" and
``m`` adds the rest, a thousand rows at a time between frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.events import Resize
from textual.widgets import DataTable, Input, Label
from textual.widgets.data_table import ColumnKey

from engine import api
from resnet_tui import marks
from resnet_tui.screens import actions
from resnet_tui.screens import marks as mark_actions
from resnet_tui.screens.base import ViewScreen
from resnet_tui.widgets import format as fmt
from resnet_tui.widgets import names
from resnet_tui.widgets.table import FastTable

# (column key, header): what matters first, so that at 80 columns a run's name, status and
# accuracies are on screen; the rest scrolls sideways.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("sel", " "),
    ("name", "name"),
    ("status", "status"),
    ("epochs", "epochs"),
    ("best_val", "best val"),
    ("test_acc", "test acc"),
    ("tags", "tags"),
    ("model", "model"),
    ("dataset", "dataset"),
    ("params", "params"),
    ("duration", "duration"),
    ("started", "started"),
)
# What the columns after the name take (cell padding 2 each; the headers with the sort arrow,
# "best val ↓", are their widest; "✗ unreadable" the status's), and the scrollbar: names are
# shortened, from the middle, to what is left of the width, so the accuracies stay on screen.
FIXED_AFTER_NAME = (2 + 2) + (12 + 2) + (7 + 2) + (10 + 2) + (10 + 2) + 2
NAME_MIN = 12
SORTABLE = tuple(key for key, _ in COLUMNS if key not in ("sel", "tags"))
FIRST_ROWS = 60  # rows added before the first paint (a tall terminal shows ~50)
REST_DELAY_S = 0.25  # then the others
ROW_LIMIT = 1000  # rows the table holds until the user asks for all (m)
CHUNK_ROWS = 1000  # rows added per step after the first paint (the UI answers in between)
CHUNK_DELAY_S = 0.02
NUMERIC = {"epochs", "best_val", "test_acc", "params", "duration"}
FILTER_PLACEHOLDER = "/ filter: words or best.val_acc>90%"  # whole at 80 columns


@dataclass(frozen=True)
class Cell:
    """A table cell: what it shows (a Text, stored in the table as it is: DataTable measures
    plain Text quickly) and what it sorts by."""

    text: Text
    key: tuple[Any, ...]


def _cell(shown: str | Text, value: Any, right: bool = False) -> Cell:
    text = shown if isinstance(shown, Text) else Text(shown)
    if right:
        text.justify = "right"
    # Missing values sort last in ascending order.
    key = (1, "") if value is None else (0, value)
    return Cell(text, key)


def name_width(screen_width: int) -> int:
    """The widest name that leaves the status and the accuracies on a screen this wide."""
    return max(NAME_MIN, screen_width - FIXED_AFTER_NAME)


def row_cells(
    run: api.RunRecord, selected: bool, seconds: float | None, width: int = 64
) -> dict[str, Cell]:
    """A run's cells; its name shortened to ``width`` (the sort key keeps the whole name)."""
    best, test = fmt.best_val_acc(run), fmt.test_acc(run)
    status = fmt.status_text(run.status)
    if run.status == "failed" and run.message.startswith("unreadable run folder"):
        status = Text("✗ unreadable", style="bold red")
    when = run.started or run.created
    name = names.shorten(fmt.run_label(run), width)
    return {
        "sel": sel_cell(run, selected),
        "name": _cell(
            Text(name, style="dim") if run.archived else name, fmt.run_label(run).lower()
        ),
        "status": _cell(status, run.status),
        "epochs": _cell(fmt.epochs(run), run.epoch, right=True),
        "best_val": _cell(fmt.pct(best), best, right=True),
        "test_acc": _cell(fmt.pct(test), test, right=True),
        "tags": _cell(Text(marks.tags_text(run.tags), style="cyan"), marks.tags_text(run.tags)),
        "model": _cell(run.model or "-", run.model),
        "dataset": _cell(run.dataset or "-", run.dataset),
        "params": _cell(fmt.params(run.params), run.params, right=True),
        "duration": _cell(fmt.duration(seconds), seconds, right=True),
        "started": _cell(fmt.short_time(when), str(when or "")),
    }


def sel_cell(run: api.RunRecord, selected: bool) -> Cell:
    """The first column: ● when selected, then ⚑ when pinned and ⊟ when archived."""
    text = Text("●" if selected else " ", style="bold cyan")
    if run.pinned:
        text.append(marks.PIN, style="bold yellow")
    if run.archived:
        text.append(marks.ARCHIVED, style="dim")
    return _cell(text, int(selected))


def sort_value(run: api.RunRecord, key: str, seconds: float | None) -> Any:
    """What a column sorts by (None: missing, sorted last)."""
    if key == "name":
        return fmt.run_label(run).lower()
    if key in ("model", "dataset", "status"):
        return str(getattr(run, key) or "")
    if key == "epochs":
        return run.epoch
    if key == "best_val":
        return fmt.best_val_acc(run)
    if key == "test_acc":
        return fmt.test_acc(run)
    if key == "params":
        return run.params
    if key == "duration":
        return seconds
    return str(run.started or run.created or "")


class RunsScreen(ViewScreen):
    MODE = "runs"
    BINDINGS = [
        Binding("enter", "open", "Open", priority=True),
        Binding("space", "toggle_select", "Select"),
        Binding("slash", "filter", "Filter"),
        Binding("s", "sort", "Sort"),
        Binding("S", "reverse", "Reverse"),
        Binding("c", "compare", "Compare"),
        Binding("b", "best", "Best"),
        Binding("k", "stack", "Stack"),
        Binding("x", "stop", "Stop"),
        Binding("r", "resume", "Resume"),
        Binding("d", "delete", "Delete"),
        Binding("e", "edit", "Edit"),
        Binding("n", "rename", "Rename"),
        Binding("N", "note", "Note"),
        Binding("t", "tags", "Tags"),
        Binding("p", "pin", "Pin"),
        Binding("A", "archive", "Archive"),
        Binding("h", "show_archived", "Archived"),
        Binding("a", "select_all", "All"),
        Binding("m", "show_all", "Show all"),  # only while rows are held back (check_action)
        Binding("escape", "leave_filter", "Table", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.sort_key = "started"
        self.sort_reverse = True
        self.filter_query = api.parse_query("")  # the last filter that parsed: every run
        self._cells: dict[str, dict[str, Cell]] = {}  # the rows in the table
        self._docs: dict[str, api.RunRecord] = {}  # the runs they show
        self._order: list[str] = []  # the runs the table shows (or is adding), in order
        self._matching = 0  # the runs the filter lets through (the table shows ROW_LIMIT)
        self.show_all = False  # m: every matching run, not only the first ROW_LIMIT
        self._held_back = False  # the table shows fewer rows than match
        self._generation = 0  # counts rebuilds: a stale batch of rows is dropped
        self._name_width = 64  # names are shortened to this (set from the width on mount)

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="runs-top"):
            yield Input(placeholder=FILTER_PLACEHOLDER, id="runs-filter", compact=True)
            yield Label("", id="runs-info")
        yield Label("", id="runs-filter-error")  # a query that does not parse, and where
        table = FastTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield table

    def on_mount(self) -> None:
        table = self.query_one("#runs-table", DataTable)
        for key, header in COLUMNS:
            table.add_column(header, key=key)
        table.focus()
        self._name_width = name_width(self.app.size.width)
        self.set_interval(1.0, self._tick)

    def on_resize(self, event: Resize) -> None:
        width = name_width(event.size.width)
        if width != self._name_width:
            self._name_width = width
            if self._order:
                self._rebuild(self._order)  # the names, shortened anew

    # ------------------------------------------------------------ data

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#runs-table", DataTable)

    def _seconds(self, doc: api.RunRecord) -> float | None:
        return fmt.run_seconds(doc, self.rt.clock())

    def _visible(self) -> list[str]:
        """The ids of every run the filter lets through, in the chosen order."""
        now = self.rt.clock()
        key = self.sort_key
        timed = key == "duration"  # only that column needs the clock (10,000 runs: 20 ms)
        state = self.rt.state
        # A filter about `archived` looks at archived runs, for as long as it says so (as
        # `--where` does on the CLI); h shows them everywhere.
        runs = state.all_runs if "archived" in self.filter_query.fields else state.runs
        rows = [
            (sort_value(d, key, fmt.run_seconds(d, now) if timed else None), d.id)
            for d in runs
            if self.filter_query.matches(d)
        ]
        # Missing values last in both directions.
        present = [r for r in rows if r[0] is not None]
        present.sort(key=lambda r: r[0], reverse=self.sort_reverse)
        ordered = [run_id for _, run_id in present] + [i for v, i in rows if v is None]
        return self._pinned_first(ordered)

    def _pinned_first(self, run_ids: list[str]) -> list[str]:
        """Pinned runs on top whatever the order (then the chosen order)."""
        by_id = self.rt.state.runs_by_id
        pinned = [i for i in run_ids if by_id[i].pinned]
        return pinned + [i for i in run_ids if not by_id[i].pinned] if pinned else run_ids

    def refresh_view(self) -> None:
        """Rebuild when the rows or their order changed; otherwise update changed cells."""
        matching = self._visible()
        self._matching = len(matching)
        order = matching if self.show_all else matching[:ROW_LIMIT]
        table = self.table
        if (
            order != self._order
            and set(order) == set(self._order)
            and table.row_count == len(order)
        ):
            self._reorder(order)  # same rows, new order: no need to rebuild them
        if (
            self._order
            and len(order) > len(self._order)
            and order[: len(self._order)] == self._order
            and table.row_count == len(self._order)
        ):
            self._append(order[len(self._order) :])  # more rows after the same ones
        if order != self._order:
            self._rebuild(order)
        else:
            for run_id in order:
                doc = self.rt.state.runs_by_id[run_id]
                old = self._cells.get(run_id)
                if old is None or self._docs.get(run_id) == doc:
                    continue  # not added yet, or unchanged
                self._docs[run_id] = doc
                new = self._row_cells(doc)
                for key, cell in new.items():
                    if old.get(key) != cell:
                        table.update_cell(run_id, key, cell.text, update_width=True)
                    else:  # keep the object the table holds: _reorder finds rows by it
                        new[key] = old[key]
                self._cells[run_id] = new
        self._update_info()

    def _reorder(self, order: list[str]) -> None:
        position = {run_id: i for i, run_id in enumerate(order)}
        # DataTable.sort hands the key function cell values: the name cell says which run.
        owner = {id(cells["name"].text): run_id for run_id, cells in self._cells.items()}
        table = self.table
        if any(id(table.get_cell(run_id, "name")) not in owner for run_id in order):
            self._rebuild(order)  # (never expected: the rows are matched by their name cell)
            return
        current = self._cursor_id()
        self.table.sort("name", key=lambda text: position[owner[id(text)]])
        if current in position:
            self.table.move_cursor(row=position[current], animate=False)
        self._order = order
        self._update_headers()

    def _row_cells(self, doc: api.RunRecord) -> dict[str, Cell]:
        selected = doc.id in self.rt.state.selection
        return row_cells(doc, selected, self._seconds(doc), self._name_width)

    def _rebuild(self, order: list[str]) -> None:
        """Refill the table: the first screenfuls now, the rest a moment later (Textual
        paints once its queue is idle: adding a thousand rows first would delay the paint)."""
        table = self.table
        current = self._cursor_id()
        table.clear()
        self._cells.clear()
        self._docs.clear()
        self._order = order
        self._generation += 1
        first = max(FIRST_ROWS, order.index(current) + 1 if current in order else 0)
        self._add_rows(order[:first])
        if current in order:
            table.move_cursor(row=order.index(current), animate=False)
        if len(order) > first:
            self.set_timer(REST_DELAY_S, partial(self._add_rest, order[first:], self._generation))
        self._update_headers()

    def _add_rows(self, run_ids: list[str]) -> None:
        table = self.table
        for run_id in run_ids:
            doc = self.rt.state.runs_by_id[run_id]
            cells = self._cells[run_id] = self._row_cells(doc)
            self._docs[run_id] = doc
            table.add_row(*(cells[key].text for key, _ in COLUMNS), key=run_id)

    def _add_rest(self, run_ids: list[str], generation: int) -> None:
        """Add ``run_ids`` a chunk at a time, letting the UI paint and answer keys between."""
        if generation != self._generation:  # rebuilt since: these rows are stale
            return
        self._add_rows(run_ids[:CHUNK_ROWS])
        if len(run_ids) > CHUNK_ROWS:
            rest = partial(self._add_rest, run_ids[CHUNK_ROWS:], generation)
            self.set_timer(CHUNK_DELAY_S, rest)

    def _append(self, run_ids: list[str]) -> None:
        """More rows below the ones the table holds (m: show all)."""
        self._order = self._order + run_ids
        self._generation += 1
        self._add_rest(run_ids, self._generation)

    def _update_headers(self) -> None:
        table = self.table
        arrow = " ↓" if self.sort_reverse else " ↑"
        for key, header in COLUMNS:
            column = table.columns.get(ColumnKey(key))
            if column is not None:
                label = header + (arrow if key == self.sort_key else "")
                if column.label.plain != label:
                    column.label = Text(label)
        table.refresh()

    def _update_info(self) -> None:
        total, matching = len(self.rt.state.runs), self._matching
        selected = len(self.rt.state.selection)
        info = f"{matching} of {total} runs" if matching != total else f"{total} runs"
        hidden = self.rt.state.archived_hidden
        shown = self.rt.state.archived_count - hidden
        archived = f" (+{hidden} archived)" if hidden else f" ({shown} archived)" if shown else ""
        info += archived
        held_back = len(self._order) < matching  # ROW_LIMIT (the footer shows m: Show all)
        if held_back:
            what = "runs" if matching == total else "matches"
            info = f"showing {len(self._order)} of {matching} {what}{archived}"
        partial = self.rt.state.runs_total is not None  # a big store's first read
        if partial:
            info = f"newest {total} of {self.rt.state.runs_total} runs; reading…"
        if selected:
            info += f" · {selected} selected"
        sort = f" · sort {self.sort_key}{' ↓' if self.sort_reverse else ' ↑'}"
        if not (held_back or partial) and len(info + sort) <= 40:  # (the header's arrow says
            info += sort  # it too; the label: 40 cells)
        if held_back != self._held_back:
            self._held_back = held_back
            self.refresh_bindings()  # m appears in the footer only while rows are held back
        self.query_one("#runs-info", Label).update(info, layout=False)  # fixed width

    def _tick(self) -> None:
        """Running runs' durations move on every second."""
        if not self.is_current:
            return
        table = self.table
        for run_id in self._order:
            doc = self.rt.state.runs_by_id.get(run_id)
            if doc is None or not doc.active:
                continue
            seconds = self._seconds(doc)
            cell = _cell(fmt.duration(seconds), seconds, right=True)
            if run_id in self._cells and self._cells[run_id]["duration"] != cell:
                self._cells[run_id]["duration"] = cell
                table.update_cell(run_id, "duration", cell.text, update_width=True)

    def _cursor_id(self) -> str | None:
        table = self.table
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:
            return None
        return str(key.value) if key.value is not None else None

    def _cursor_doc(self) -> api.RunRecord | None:
        run_id = self._cursor_id()
        doc = self.rt.state.runs_by_id.get(run_id) if run_id else None
        if doc is None:
            self.notify("no run under the cursor", severity="warning")
        return doc

    # ------------------------------------------------------------ filtering and sorting

    @on(Input.Changed, "#runs-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        """The query language of ``runs list --where`` (plain words still search names);
        while the text does not parse, the error shows under the bar and the table keeps
        the last filter that did."""
        error = self.query_one("#runs-filter-error", Label)
        try:
            query = api.parse_query(event.value)
        except api.QueryError as exc:
            error.update(str(exc))
            error.display = True
            event.input.add_class("-invalid")
            return
        error.display = False
        event.input.remove_class("-invalid")
        self.filter_query = query
        self.refresh_view()

    @on(Input.Submitted, "#runs-filter")
    def _filter_submitted(self) -> None:
        self.table.focus()

    def action_filter(self) -> None:
        self.query_one("#runs-filter", Input).focus()

    def action_leave_filter(self) -> None:
        self.table.focus()

    @on(DataTable.HeaderSelected)
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        if key not in SORTABLE:
            return
        if key == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key, self.sort_reverse = key, key in NUMERIC
        self.refresh_view()

    def action_sort(self) -> None:
        index = SORTABLE.index(self.sort_key) if self.sort_key in SORTABLE else -1
        self.sort_key = SORTABLE[(index + 1) % len(SORTABLE)]
        self.sort_reverse = self.sort_key in NUMERIC or self.sort_key == "started"
        self.refresh_view()

    def action_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self.refresh_view()

    # ------------------------------------------------------------ selection

    def _set_selected(self, run_id: str, selected: bool) -> None:
        if selected:
            self.rt.state.selection.add(run_id)
        else:
            self.rt.state.selection.discard(run_id)
        run = self.rt.state.runs_by_id.get(run_id)
        if run_id in self._cells and run is not None:
            cell = sel_cell(run, selected)
            self._cells[run_id]["sel"] = cell
            # One row redrawn, not the whole screen (update_cell would redraw every row).
            self.query_one("#runs-table", FastTable).set_cell(run_id, "sel", cell.text)

    def action_toggle_select(self) -> None:
        run_id = self._cursor_id()
        if run_id is None:
            return
        self._set_selected(run_id, run_id not in self.rt.state.selection)
        table = self.table
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)
        self._update_info()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "show_all":  # in the footer only while rows are held back
            return self._held_back
        return True

    def action_show_all(self) -> None:
        self.show_all = True
        self.refresh_view()

    def action_select_all(self) -> None:
        everything = set(self._order) <= self.rt.state.selection and self._order
        for run_id in self._order:
            self._set_selected(run_id, not everything)
        self._update_info()

    # ------------------------------------------------------------ actions

    def action_open(self) -> None:
        if self.focused is not None and self.focused.id == "runs-filter":
            self.table.focus()
            return
        doc = self._cursor_doc()
        if doc is not None:
            from resnet_tui.screens.detail import RunDetailScreen

            self.app.push_screen(RunDetailScreen(doc.id))

    @on(DataTable.RowSelected, "#runs-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_compare(self) -> None:
        if len(self.rt.state.selection) < 2:
            self.notify("select two or more runs with space first", severity="warning")
            return
        self.app.switch_mode("compare")

    def action_best(self) -> None:
        self.app.switch_mode("best")

    def action_stack(self) -> None:
        actions.stack_selected(self.rt)  # asks first, with the members and a name

    def action_stop(self) -> None:
        doc = self._cursor_doc()
        if doc is not None:
            actions.stop_run(self.rt, doc.id)

    def action_resume(self) -> None:
        doc = self._cursor_doc()
        if doc is not None:
            actions.resume_run(self.rt, doc.id)

    def action_delete(self) -> None:
        doc = self._cursor_doc()
        if doc is not None:
            actions.delete_run(self.rt, doc)

    def action_rename(self) -> None:
        doc = self._cursor_doc()
        if doc is not None:
            actions.rename_run(self.rt, doc)

    def action_note(self) -> None:
        doc = self._cursor_doc()
        if doc is not None:
            mark_actions.edit_note(self.rt, doc)

    def action_tags(self) -> None:
        doc = self._cursor_doc()
        if doc is not None:
            mark_actions.edit_tags(self.rt, doc)

    def action_pin(self) -> None:
        doc = self._cursor_doc()
        if doc is not None:
            mark_actions.toggle_pinned(self.rt, doc)

    def action_archive(self) -> None:
        doc = self._cursor_doc()
        if doc is not None:
            mark_actions.toggle_archived(self.rt, doc)

    def action_show_archived(self) -> None:
        mark_actions.toggle_show_archived(self.rt)

    def action_edit(self) -> None:
        doc = self._cursor_doc()
        if doc is not None:
            from resnet_tui.screens.launch import request_from_run

            request = request_from_run(self.rt, doc)
            if request is not None:
                self.rt.request_launch(request)
