"""A DataTable that sizes its columns cheaply (the Runs view holds a thousand rows)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.geometry import Size
from textual.render import measure
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey


class FastTable(DataTable[Any]):
    """DataTable asks Rich to measure every new cell, which costs about half a second for a
    thousand rows of eleven columns here; a one-line ``Text`` cell is as wide as its text,
    so this measures those directly. Rows with labels or automatic heights, and any other
    cell type, go through Textual's own measuring."""

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        new_rows = list(new_rows)
        columns = self.ordered_columns
        console = self.app.console
        for row_key in new_rows:
            row = self.rows.get(row_key)
            cells = self._data.get(row_key)
            if row is None or cells is None:
                continue
            if row.label is not None or row.auto_height:
                super()._update_dimensions(new_rows)
                return
            for column in columns:
                value = cells.get(column.key)
                if isinstance(value, Text) and "\n" not in value.plain:
                    width = value.cell_len
                elif isinstance(value, str) and "[" not in value:
                    width = len(value)
                else:
                    width = measure(console, value, 1) if value is not None else 0
                if width > column.content_width:
                    column.content_width = width
        data_width = sum(column.get_render_width(self) for column in self.columns.values())
        header_height = self.header_height if self.show_header else 0
        self.virtual_size = Size(
            data_width + self._row_label_column_width, self._total_row_height + header_height
        )

    def set_cell(self, row_key: str, column_key: str, value: Text) -> None:
        """``update_cell`` for a value as wide as the old one (the selection mark).

        DataTable's ``update_cell`` drops every rendered cell, so the next frame re-renders a
        whole screenful (about 40 ms for eleven columns, on every space press in the Runs
        view); this drops only the changed row's renders. Falls back to ``update_cell`` if
        DataTable's caches are not what this expects."""
        row, column = RowKey(row_key), ColumnKey(column_key)
        try:
            index = self._row_locations.get(row)
            if index is None or column not in self._column_locations:
                raise LookupError(row_key)
            self._data[row][column] = value
            for cache in (self._cell_render_cache, self._row_render_cache):
                for key in [k for k in cache.keys() if k[0] == row]:
                    cache.discard(key)
            renderables = self._row_renderable_cache  # keyed (update count, row index)
            for key in [k for k in renderables.keys() if k[1] == index]:
                renderables.discard(key)
            self._line_cache.clear()  # lines are rebuilt from the cached rows
        except (AttributeError, TypeError):
            self.update_cell(row_key, column_key, value)
            return
        self.refresh_row(index)
