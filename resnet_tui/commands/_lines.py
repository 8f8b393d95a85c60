"""Lines of ``label: key value  key value`` text (``runs show``) wrapped at the terminal's
width without splitting what belongs together.

A line breaks between its groups first (groups are separated by two spaces or `` · ``: a
``key value`` pair, ``CPU mean 89% peak 90%``), and only inside a group that alone is wider
than the line, between its words (keeping ``--option value`` and ``0.89 s`` together).
Continuation lines are indented under the label's value (``command: ...``), or two spaces
deeper than the line when it has no short label. A single word wider than the terminal
(a long path) is the only thing folded.

Only the standard library and Rich's cell width; nothing here imports torch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

GROUP_SEPARATORS = re.compile(r"(  +| · )")
LABEL = re.compile(r"[A-Za-z][\w ./-]{0,29}?: ")  # "best: ", "command: ", "changes against ...: "
UNITS = {"s", "ms", "%", "B", "KB", "MB", "GB", "pp", "x", "epochs", "images"}
NUMBER = re.compile(r"[-+]?[\d,.]+(e[-+]?\d+)?%?")
HANGING = 2  # continuation indent of a line without a label


def _words(group: str) -> list[str]:
    """The group's words, an option glued to its value and a number to its unit."""
    out: list[str] = []
    for word in group.split(" "):
        glue = bool(out) and (
            (out[-1].startswith("--") and not word.startswith("-"))
            or (NUMBER.fullmatch(out[-1].split(" ")[-1]) is not None and word in UNITS)
        )
        if glue and " " not in out[-1]:
            out[-1] += " " + word
        else:
            out.append(word)
    return out


def hanging(text: str, width: int) -> list[str]:
    """``text`` on lines of at most ``width`` cells (but for a single word wider than that),
    broken between groups, then between words; continuation lines indented under the
    label's value."""
    from rich.cells import cell_len

    if cell_len(text) <= width:
        return [text]
    lead = len(text) - len(text.lstrip(" "))
    body = text[lead:]
    label = LABEL.match(body)
    indent = lead + (len(label.group()) if label else HANGING)
    if indent > width // 2:
        indent = lead + HANGING
    head = label.group() if label else ""
    parts = GROUP_SEPARATORS.split(body[len(head) :])
    groups, seps = parts[0::2], ["", *parts[1::2]]
    lines = [" " * lead + head.rstrip(" ")]
    fresh = True  # the line holds its label only
    for sep, group in zip(seps, groups, strict=True):
        if not group:
            continue
        pieces = [group] if indent + cell_len(group) <= width else _words(group)
        for n, piece in enumerate(pieces):
            joiner = " " if fresh and head else (sep if n == 0 else " ")
            if not lines[-1].strip():
                lines[-1] += piece
            elif cell_len(lines[-1]) + cell_len(joiner) + cell_len(piece) <= width or (
                fresh and lead + HANGING + cell_len(piece) > width
            ):  # fits, or fits nowhere: after its label, folded
                lines[-1] += joiner + piece
            elif indent + cell_len(piece) > width >= lead + HANGING + cell_len(piece):
                lines.append(" " * (lead + HANGING) + piece)
            else:
                lines.append(" " * indent + piece)
            fresh = False
    return [line for line in lines if line.strip()]


def print_wrapped(c: Console, lines: Iterable[str]) -> None:
    """Each of ``lines`` wrapped by ``hanging`` at the console's width, printed as is."""
    from rich.text import Text

    for line in lines:
        for part in hanging(line, c.width):
            c.print(Text(part), overflow="fold", soft_wrap=False)
