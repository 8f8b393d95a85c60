"""The confusion matrix as a heatmap with class names (seed 003, Figure 9).

Rows are the true class, columns the predicted class; each cell holds the count and is
coloured by its row-normalised value. The colours are a fixed ramp of named ANSI colours
(black, blue, magenta, red, yellow, white: a "hot" map), so the map reads the same on a
16-colour terminal as on a truecolor one, and the counts stay printed in every cell.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Static

# (upper bound of the row fraction, background, foreground)
RAMP: tuple[tuple[float, str, str], ...] = (
    (0.05, "bright_black", "bright_white"),
    (0.20, "blue", "bright_white"),
    (0.40, "magenta", "bright_white"),
    (0.60, "red", "bright_white"),
    (0.80, "yellow", "black"),
    (1.01, "bright_white", "black"),
)
LEGEND_LABELS = ("<5%", "<20%", "<40%", "<60%", "<80%", "≥80%")
# The columns the title and the legend may fill even when the matrix is narrower: what the pane
# has at 80 columns (70% of the screen, less its padding and scrollbar). Their descriptions give
# way (with an ellipsis) past the wider of this and the matrix; the split, epoch and legend never.
TEXT_WIDTH = 52


def fit(text: str, width: int) -> str:
    """A description cut to ``width`` columns with an ellipsis (names and numbers never are)."""
    if len(text) <= width:
        return text
    return text[: width - 1] + "…" if width > 1 else ""  # no room: no description at all


def title_text(split: str, epoch: object, width: int) -> Text:
    """``test split, epoch 6 · rows true, columns predicted``: the description cut to fit."""
    head = f"{split} split, epoch {epoch}"
    text = Text(head, style="bold")
    text.append(fit(" · rows true, columns predicted", width - len(head)), style="dim")
    return text


def cell_style(fraction: float) -> str:
    if fraction <= 0:
        return "dim"
    for bound, bg, fg in RAMP:
        if fraction < bound:
            return f"{fg} on {bg}"
    return f"{RAMP[-1][2]} on {RAMP[-1][1]}"


def row_fractions(matrix: list[list[int]]) -> list[list[float]]:
    out = []
    for row in matrix:
        total = sum(row)
        out.append([v / total if total else 0.0 for v in row])
    return out


def per_class_accuracy(matrix: list[list[int]]) -> list[float | None]:
    return [
        (row[i] / sum(row)) if sum(row) else None for i, row in enumerate(matrix) if i < len(row)
    ]


def _layout(classes: list[str], matrix: list[list[int]]) -> tuple[list[str], list[str], int, int]:
    """(column headers, row labels, label width, cell width) of the heatmap."""
    n = len(matrix)
    classes = [str(c) for c in classes][:n] + [str(i) for i in range(len(classes), n)]
    biggest = max((v for row in matrix for v in row), default=0)
    width = max(3, len(str(biggest))) + 1
    short = all(len(c) <= width - 1 for c in classes)
    headers = classes if short else [str(i) for i in range(n)]
    labels = classes if short else [f"{i:>{len(str(n - 1))}} {c}" for i, c in enumerate(classes)]
    label_w = min(max((len(lbl) for lbl in labels), default=4), 22)
    return headers, labels, label_w, width


def text_width(classes: list[str], matrix: list[list[int]]) -> int:
    """The columns the title and legend may fill: the matrix's rows, TEXT_WIDTH at least."""
    _, _, label_w, width = _layout(classes, matrix)
    return max(label_w + 1 + width * len(matrix), TEXT_WIDTH)


def matrix_text(
    classes: list[str], matrix: list[list[int]], cursor: tuple[int, int] | None = None
) -> Text:
    """The heatmap as Rich text (rows true, columns predicted); the ``cursor`` cell (row,
    column) in reverse with ▸ before it."""
    headers, labels, label_w, width = _layout(classes, matrix)
    fractions = row_fractions(matrix)

    text = Text()
    corner = "true↓ pred→" if label_w >= 11 else ""
    text.append(f"{corner:<{label_w}} ", style="dim")
    for h in headers:
        text.append(f"{h[: width - 1]:>{width}}", style="bold")
    text.append("\n")
    for i, row in enumerate(matrix):
        text.append(f"{labels[i][:label_w]:<{label_w}} ", style="bold")
        for j, value in enumerate(row):
            shown = "·" if value == 0 else str(value)
            style = cell_style(fractions[i][j])
            if i == j:
                style += " bold underline"
            if cursor == (i, j):
                text.append("▸", style="bold reverse")
                text.append(f"{shown:>{width - 1}}", style=style + " reverse bold")
                continue
            text.append(f"{shown:>{width}}", style=style)
        text.append("\n")
    text.append_text(legend_text(text_width(classes, matrix)))
    return text


def legend_text(width: int) -> Text:
    """The colour ramp's legend on one line, or two when ``width`` is short: the shares whole,
    the description cut to fit."""
    text = Text("row share:", style="dim")
    text.append(" 0 ", style="dim")
    for (_, bg, fg), label in zip(RAMP, LEGEND_LABELS, strict=True):
        text.append(f" {label} ", style=f"{fg} on {bg}")
    note = " diagonal underlined"
    if text.cell_len + len(note) > width:
        note = "\n" + fit(note.strip(), width)
    text.append(note, style="dim")
    return text


def accuracy_text(classes: list[str], matrix: list[list[int]], width: int = 20) -> Text:
    """Per-class accuracy (the diagonal over the row sums) as labelled bars."""
    accs = per_class_accuracy(matrix)
    label_w = min(max((len(str(c)) for c in classes), default=4), 16)
    text = Text(no_wrap=True, overflow="crop")
    for name, acc in zip(classes, accs, strict=False):
        text.append(f"{str(name)[:label_w]:<{label_w}} ", style="bold")
        if acc is None:
            text.append("     -\n", style="dim")
            continue
        filled = int(round(acc * width))
        text.append(f"{100 * acc:5.1f}% ")
        text.append(
            "█" * filled, style="green" if acc >= 0.8 else "yellow" if acc >= 0.5 else "red"
        )
        text.append("░" * (width - filled) + "\n", style="dim")
    return text


class ConfusionMatrix(Static, can_focus=True):
    """Shows one split of a confusion.json (``show(data, split)``), or why there is none.

    Focused, the arrow keys move a cell cursor and Enter posts ``CellChosen`` (the true and
    the predicted class of the cell): the run detail opens that cell's images."""

    BINDINGS = [
        Binding("up", "move(-1, 0)", "Cell up", show=False),
        Binding("down", "move(1, 0)", "Cell down", show=False),
        Binding("left", "move(0, -1)", "Cell left", show=False),
        Binding("right", "move(0, 1)", "Cell right", show=False),
        Binding("enter", "choose", "Images"),
    ]

    class CellChosen(Message):
        def __init__(self, true: str, pred: str, split: str) -> None:
            super().__init__()
            self.true = true
            self.pred = pred
            self.split = split

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cursor = (0, 1)  # the first mistake cell a matrix can have
        self._shown: tuple[dict[str, Any] | None, str, str] = (None, "test", "")
        self._focused = False  # the cursor shows while the matrix has the keys

    @property
    def classes_shown(self) -> list[str]:
        data = self._shown[0]
        return [str(c) for c in (data or {}).get("classes", [])]

    def action_move(self, rows: int, columns: int) -> None:
        matrix = valid_matrix(self._shown[0], self._shown[1])
        if matrix is None:
            return
        n = len(matrix)
        r, c = self.cursor
        self.cursor = (min(max(r + rows, 0), n - 1), min(max(c + columns, 0), n - 1))
        self.show(*self._shown)

    def action_choose(self) -> None:
        data, split, _ = self._shown
        matrix = valid_matrix(data, split)
        classes = self.classes_shown
        r, c = self.cursor
        if matrix is None or r >= len(classes) or c >= len(classes):
            return
        self.post_message(self.CellChosen(classes[r], classes[c], split))

    def on_focus(self) -> None:
        self._focused = True
        self.show(*self._shown)

    def on_blur(self) -> None:
        self._focused = False
        self.show(*self._shown)

    def show(self, data: dict[str, Any] | None, split: str, problem: str = "") -> None:
        self._shown = (data, split, problem)
        if data is None:
            self.update(Text(problem or "no confusion matrix", style="dim"))
            return
        entry = data.get(split) or {}
        matrix = valid_matrix(data, split)
        if matrix is None:
            self.update(Text(f"no {split} confusion matrix in confusion.json", style="dim"))
            return
        n = len(matrix)
        width = text_width([str(x) for x in data["classes"]], matrix)
        title = title_text(split, entry.get("epoch", "?"), width)
        title.append("\n")
        self.cursor = (min(self.cursor[0], n - 1), min(self.cursor[1], n - 1))
        cursor = self.cursor if self._focused else None
        names = [str(x) for x in data["classes"]]
        r, c = self.cursor
        if cursor is not None and r < len(names) and c < len(names):
            title.append(
                f"▸ true {names[r]}, predicted {names[c]}: {matrix[r][c]} · ⏎ images\n",
                style="bold reverse",
            )
        self.update(Text.assemble(title, matrix_text(list(data["classes"]), matrix, cursor)))


def _is_matrix(matrix: Any) -> bool:
    return (
        isinstance(matrix, list)
        and bool(matrix)
        and all(isinstance(r, list) and all(isinstance(v, int) for v in r) for r in matrix)
    )


def valid_matrix(data: dict[str, Any] | None, split: str) -> list[list[int]] | None:
    if not data:
        return None
    matrix = (data.get(split) or {}).get("matrix")
    return matrix if _is_matrix(matrix) else None
