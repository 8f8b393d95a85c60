"""A DataTable that sizes its columns cheaply and redraws one changed row (the Runs view
holds up to a thousand rows).

Two hooks into DataTable's internals remain, because Textual has no public way to do either
and the stock path is measurably slower (bench/bench_tui.py and the numbers in the
docstrings below). Both are tested on textual 8.2 (pyproject pins ``textual>=8.2,<9``), and
tests/test_upstream_internals.py fails loudly if an upgrade moves what they rely on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.render import measure
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowDoesNotExist, RowKey


class FastTable(DataTable[Any]):
    """DataTable measures every new cell through Rich (and asks the terminal for its size
    on each one): 0.15-0.5 s for a thousand rows of eleven columns here, against 0.01 s for
    this. A one-line ``Text`` cell is as wide as its text, so this measures those directly,
    then lets DataTable compute its own virtual size. Rows with labels or automatic heights
    go through Textual's own measuring."""

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        # textual-private hook (8.2): DataTable calls it on idle with the rows added since.
        new_rows = list(new_rows)
        columns = self.ordered_columns
        console = self.app.console
        for row_key in new_rows:
            row = self.rows.get(row_key)
            if row is None:
                continue  # removed before the table was idle
            if row.label is not None or row.auto_height:
                super()._update_dimensions(new_rows)
                return
            try:
                cells = self.get_row(row_key)
            except RowDoesNotExist:
                continue
            for column, value in zip(columns, cells, strict=False):
                if isinstance(value, Text) and "\n" not in value.plain:
                    width = value.cell_len
                elif isinstance(value, str) and "[" not in value:
                    width = len(value)
                else:
                    width = measure(console, value, 1) if value is not None else 0
                if width > column.content_width:
                    column.content_width = width
        super()._update_dimensions([])  # no rows to measure: only the virtual size

    def set_cell(self, row_key: str, column_key: str, value: Text) -> None:
        """``update_cell`` for a value as wide as the old one (the selection mark).

        DataTable's ``update_cell`` drops every rendered cell, so the next frame re-renders a
        whole screenful: a space press in the Runs view took 103 ms to repaint that way
        against 50 ms with this (bench/bench_tui.py, 1,000 runs). This drops only the
        changed row's renders from DataTable's caches (textual-private, 8.2); it falls back
        to ``update_cell`` if the caches are not there."""
        row, column = RowKey(row_key), ColumnKey(column_key)
        try:
            index = self._row_locations.get(row)
            if index is None or column not in self._column_locations:
                raise LookupError(row_key)
            self._data[row][column] = value
            cells = self._cell_render_cache  # keyed (row key, column key, ...)
            for cell_key in [k for k in cells.keys() if k[0] == row]:
                cells.discard(cell_key)
            lines = self._row_render_cache  # keyed (row key, line, ...)
            for line_key in [k for k in lines.keys() if k[0] == row]:
                lines.discard(line_key)
            renderables = self._row_renderable_cache  # keyed (update count, row index)
            for renderable_key in [k for k in renderables.keys() if k[1] == index]:
                renderables.discard(renderable_key)
            self._line_cache.clear()  # lines are rebuilt from the cached rows
        except (AttributeError, TypeError):
            self.update_cell(row_key, column_key, value)
            return
        self.refresh_row(index)
