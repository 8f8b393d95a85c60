"""The one table printer of the CLI: every command that prints a table calls ``print_table``.

A column says what it holds, and that says how it gives way when the terminal is narrow:

- ``identifier`` (a name, an id) and ``number`` columns are never cut and never left out;
- ``secondary`` columns are shown whole or left out, and a final line names the ones left out;
- ``description`` columns wrap into the width that is left (left out below 20 columns);
  a ``units`` description (``pairs``: items such as ``class prob``) never breaks an item:
  a row shows as many of its items as fit on its line, and a note says so.

Nothing is ever shortened with an ellipsis. When the identifiers and numbers alone do not fit
(a very narrow terminal), each row becomes a block: its identifiers on a line, then
``header value`` pairs wrapped at the width. Numbers are formatted by the console's own
functions (``resnet_tui.widgets.format``): accuracy in percent, accuracy differences in
percentage points, the same digits in both.

Only typer is imported at the top (``resnet-tui --help`` stays fast); Rich and the formatters
load when a table is printed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

IDENTIFIER = "identifier"
NUMBER = "number"
SECONDARY = "secondary"
DESCRIPTION = "description"
MIN_DESCRIPTION = 20  # a description column narrower than this is left out
GAPS = (2, 1)  # spaces between columns: two where they fit, else one
INDENT = 2  # stacked identifiers and the lines of a block are indented so
UNIT_SEP = "  "  # between the items of a ``units`` column; inside an item, no-break spaces


def cell(value: Any) -> str:
    """A value as a table shows it: '-' for none, thousands separators for counts, 4 decimals
    (or 3 significant digits in scientific notation for tiny or huge values) for floats."""
    from resnet_tui.widgets import format as units

    if value is None or value == "":
        return "-"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return units.number(value)
    return str(value)


def pct(value: Any) -> str:
    from resnet_tui.widgets import format as units

    return units.pct(value)


def pp(value: Any) -> str:
    from resnet_tui.widgets import format as units

    return units.points(value)


def config_value(value: Any) -> str:
    from resnet_tui.widgets import format as units

    return units.config_value(value)


def value_text(key: str, value: Any) -> str:
    """A run's value by its key, as everywhere in the CLI: ``*acc`` and ``*ece`` in percent,
    ``lr`` with 3 significant digits, ``seconds`` to a tenth, an epoch as an integer, the rest
    ``cell``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return cell(value)
    if key.endswith(("acc", "ece")):  # accuracies and calibration errors: fractions
        return pct(value)
    if key == "lr":
        return f"{value:.3g}"
    if key in ("seconds", "images_per_s"):
        return f"{value:,.1f}"
    if key.endswith("epoch"):
        return str(int(value))
    return cell(value)


@dataclass(frozen=True)
class Column:
    """One column: the row key it shows, its header, its role (how it gives way) and how a
    value becomes its text. ``keep``: among secondary columns, the higher stays longer."""

    key: str
    header: str
    role: str
    show: Callable[[Any], str] = cell
    right: bool = False
    keep: int = 0
    whole_header: bool = False  # the header is a name too (compare's run columns)
    units: bool = False  # a description of whole items (``UNIT_SEP`` between them)

    def label(self) -> str:
        return " ".join(self.header.split())


def ident(key: str, header: str = "", right: bool = False) -> Column:
    """A name or an id: always shown, never cut."""
    return Column(key, header or key, IDENTIFIER, right=right)


def number(
    key: str, header: str = "", show: Callable[[Any], str] = cell, whole_header: bool = False
) -> Column:
    """A number (or a value in its place): always shown, never cut, right-aligned."""
    return Column(key, header or key, NUMBER, show, right=True, whole_header=whole_header)


def accuracy(key: str, header: str = "") -> Column:
    """An accuracy (a fraction) shown in percent."""
    return number(key, header, pct)


def points(key: str, header: str = "") -> Column:
    """A difference of accuracies shown in percentage points."""
    return number(key, header, pp)


def secondary(
    key: str,
    header: str = "",
    show: Callable[[Any], str] = cell,
    keep: int = 0,
    right: bool = False,
) -> Column:
    """Shown whole where it fits, else left out (and the table says so)."""
    return Column(key, header or key, SECONDARY, show, right=right, keep=keep)


def description(key: str, header: str = "") -> Column:
    """Free text: wraps into the width left (left out below 20 columns)."""
    return Column(key, header or key, DESCRIPTION)


def pairs(key: str, header: str = "") -> Column:
    """Items such as ``class prob``, most important first, ``UNIT_SEP`` between them: never
    broken; at a narrow width the last items of a row give way (and the table says so)."""
    return Column(key, header or key, DESCRIPTION, units=True)


def fit_units(text: str, width: int) -> tuple[str, bool]:
    """(the leading items of ``text`` that fit in ``width``, whether some were left out); the
    first item always (folded only when it alone is wider)."""
    from rich.cells import cell_len

    items = text.split(UNIT_SEP)
    kept = items[:1]
    for item in items[1:]:
        if cell_len(UNIT_SEP.join([*kept, item])) > width:
            break
        kept.append(item)
    return UNIT_SEP.join(kept), len(kept) < len(items)


def wrap_units(text: str, width: int, indent: int = 0) -> list[str]:
    """``text``'s items on as many lines as it takes, broken between items only."""
    from rich.cells import cell_len

    lines: list[str] = []
    for item in text.split(UNIT_SEP):
        if lines and cell_len(lines[-1]) + len(UNIT_SEP) + cell_len(item) <= width:
            lines[-1] += UNIT_SEP + item
        else:
            lines.append(" " * indent + item)
    return lines


@dataclass
class Layout:
    """Which columns a table shows at a width, how wide each is, the gap between them, and
    the identifiers shown under the first one (``stacked``) when side by side they do not
    fit."""

    shown: list[int]
    widths: dict[int, int]
    gap: int
    stacked: tuple[int, ...] = ()
    important: int = 0  # secondary columns with ``keep`` shown

    def left_out(self, columns: Sequence[Column]) -> list[str]:
        hidden = set(self.shown) | set(self.stacked)
        return [c.label() for i, c in enumerate(columns) if i not in hidden]

    def score(self) -> tuple[int, bool, int, int]:
        """Better: more of the secondary columns that ``keep`` (a runs list keeps its status
        even if the id must go under the name for it), then one line a row, then the wider
        gap, then more columns."""
        return (self.important, not self.stacked, self.gap, len(self.shown))


def plan(columns: Sequence[Column], cells: list[list[str]], width: int) -> Layout | None:
    """The best layout within ``width`` (``Layout.score``), identifiers side by side or
    stacked in the first one's column; None when the identifiers and numbers do not fit."""
    from rich.cells import cell_len

    natural, least = [], []
    for i, col in enumerate(columns):
        words = [col.label()] if col.whole_header else col.label().split() or [""]
        heads = [cell_len(w) for w in words]
        natural.append(max(heads + [cell_len(r[i]) for r in cells]))
        firsts = [cell_len(r[i].split(UNIT_SEP)[0]) for r in cells] if col.units else []
        least.append(max([MIN_DESCRIPTION, *heads, *firsts]))
    identifiers = [i for i, c in enumerate(columns) if c.role == IDENTIFIER]
    tiers = ((), tuple(identifiers[1:])) if len(identifiers) > 1 else ((),)
    fits = [_fit(columns, natural, least, width, gap, stacked) for stacked in tiers for gap in GAPS]
    layouts = [layout for layout in fits if layout is not None]
    return max(layouts, key=Layout.score) if layouts else None


def _fit(
    columns: Sequence[Column],
    natural: list[int],
    least: list[int],
    width: int,
    gap: int,
    stacked: tuple[int, ...],
) -> Layout | None:
    widths = {
        i: natural[i]
        for i, c in enumerate(columns)
        if c.role in (IDENTIFIER, NUMBER) and i not in stacked
    }
    if stacked:
        first = min(i for i, c in enumerate(columns) if c.role == IDENTIFIER)
        widths[first] = max([natural[first]] + [INDENT + natural[i] for i in stacked])
    used = sum(widths.values()) + gap * (len(widths) - 1)
    if used > width:
        return None
    important = 0
    optional = [i for i, c in enumerate(columns) if c.role == SECONDARY]
    for i in sorted(optional, key=lambda i: -columns[i].keep):
        if used + gap + natural[i] <= width:
            widths[i] = natural[i]
            used += gap + natural[i]
            important += columns[i].keep > 0
    for i, col in enumerate(columns):
        room = width - used - gap
        if col.role == DESCRIPTION and room >= min(natural[i], least[i]):
            widths[i] = min(natural[i], room)
            used += gap + widths[i]
    return Layout(sorted(widths), widths, gap, stacked, important)


def print_table(
    title: str,
    columns: Sequence[Column],
    rows: Sequence[Mapping[str, Any]],
    console: Console | None = None,
) -> None:
    """Print ``rows`` (dicts) under ``title`` at the console's width, identifiers and numbers
    whole; what was left out is named on a last line."""
    from rich.console import Console

    c = console or Console(highlight=False)
    cells = [[col.show(row.get(col.key)) for col in columns] for row in rows]
    if title:
        c.print(title, style="bold", markup=False, overflow="fold")
    layout = plan(columns, cells, c.width)
    if layout is None:
        _print_blocks(c, columns, cells)
        return
    shortened = _print_columns(c, columns, cells, layout)
    for label in shortened:
        c.print(
            f"({label}: as many as fit at {c.width} columns; a wider terminal or --json "
            "shows them all)",
            style="dim",
            markup=False,
        )
    left_out = layout.left_out(columns)
    if left_out:
        c.print(
            f"(left out at {c.width} columns: {', '.join(left_out)}; "
            "a wider terminal or --json shows them)",
            style="dim",
            markup=False,
        )


def wrap_words(text: str, width: int) -> str:
    """``text`` on as many lines as it takes, broken between words only (a header)."""
    from rich.cells import cell_len

    lines: list[str] = []
    for word in text.split():
        if lines and cell_len(lines[-1]) + 1 + cell_len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "\n".join(lines)


def _print_columns(
    c: Console, columns: Sequence[Column], cells: list[list[str]], layout: Layout
) -> list[str]:
    """Print the table; return the labels of the ``units`` columns that left items out."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    out = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, layout.gap - 1, 0, 0),
        header_style="bold",
    )
    pad = " " * INDENT
    for i in layout.shown:
        col, width = columns[i], layout.widths[i]
        header = col.label() if col.whole_header else wrap_words(col.label(), width)
        if col.role == IDENTIFIER and layout.stacked:
            header = "\n".join([header, *(pad + columns[j].label() for j in layout.stacked)])
        out.add_column(
            Text(header),
            justify="right" if col.right else "left",
            width=width,
            no_wrap=col.role != DESCRIPTION or col.units,
            overflow="fold",
        )
    shortened: dict[str, None] = {}
    for row in cells:
        shown = []
        for i in layout.shown:
            text = row[i]
            if columns[i].units:
                text, cut = fit_units(text, layout.widths[i])
                if cut:
                    shortened[columns[i].label()] = None
            if columns[i].role == IDENTIFIER and layout.stacked:
                text = "\n".join([text, *(pad + row[j] for j in layout.stacked)])
            shown.append(Text(text))
        out.add_row(*shown)
    c.print(out)
    return list(shortened)


def _print_blocks(c: Console, columns: Sequence[Column], cells: list[list[str]]) -> None:
    """Each row as a block: its identifiers on a line (one a line when they do not fit side
    by side), then ``header value`` pairs wrapped at the width, then its descriptions."""
    from rich.cells import cell_len
    from rich.padding import Padding
    from rich.text import Text

    width = c.width
    for row in cells:
        names = [row[i] for i, col in enumerate(columns) if col.role == IDENTIFIER]
        line = "  ".join(names)
        for name in [line] if cell_len(line) <= width else names:
            c.print(Text(name, style="bold"), overflow="fold")
        lines: list[str] = []
        for i, col in enumerate(columns):
            if col.role in (IDENTIFIER, DESCRIPTION):
                continue
            item = f"{col.label()} {row[i]}"
            if lines and cell_len(lines[-1]) + 2 + cell_len(item) <= width:
                lines[-1] += "  " + item
            else:
                lines.append(" " * INDENT + item)
        for text in lines:
            c.print(Text(text), overflow="fold")
        for i, col in enumerate(columns):
            if col.role == DESCRIPTION and row[i] != "-" and col.units:
                for text in wrap_units(f"{col.label()}{UNIT_SEP}{row[i]}", width, INDENT):
                    c.print(Text(text), overflow="fold")
            elif col.role == DESCRIPTION and row[i] != "-":
                c.print(Padding(Text(row[i]), (0, 0, 0, INDENT)))
