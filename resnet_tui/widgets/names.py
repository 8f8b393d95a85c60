"""Run names that fit a column: shortened from the middle, and still telling runs apart.

Runs of one experiment share the start of their names and differ at the end
(``digits-quick-lr-grid-5``, ``-grid-6``), so a name cut at its end loses what matters; one cut
in the middle keeps both ends (``digits-quick…grid-5``). Where several names are shown side by
side, ``distinct`` moves the cut until the shortened names differ as the full ones do.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from rich.cells import cell_len

ELLIPSIS = "…"


def _cut(name: str, head: int, tail: int) -> str:
    return name[:head] + ELLIPSIS + (name[len(name) - tail :] if tail else "")


def shorten(name: str, width: int, tail: int | None = None) -> str:
    """``name`` in at most ``width`` cells: its start, an ellipsis, its end (``tail``
    characters of it; by default half of what fits, the odd one to the end)."""
    if cell_len(name) <= width or len(name) <= width:
        return name
    if width <= 1:
        return ELLIPSIS[:width]
    keep = width - 1
    tail = (keep + 1) // 2 if tail is None else max(0, min(tail, keep))
    return _cut(name, keep - tail, tail)


def distinct(names: Sequence[str], width: int) -> list[str]:
    """Each name shortened to ``width``; names that would read the same are cut elsewhere
    (keeping more of their end, then more of their start) until they differ."""
    shown = [shorten(n, width) for n in names]
    groups: dict[str, set[str]] = defaultdict(set)
    for name, short in zip(names, shown, strict=True):
        groups[short].add(name)
    if width <= 1:
        return shown
    keep = width - 1
    for short, members in groups.items():
        if len(members) < 2:
            continue
        ordered = sorted(members)
        splits = sorted(range(keep + 1), key=lambda t: (abs(t - (keep + 1) // 2), -t))
        for tail in splits:
            cut = {n: shorten(n, width, tail) for n in ordered}
            if len(set(cut.values())) == len(ordered):
                pairs = zip(names, shown, strict=True)
                shown = [cut.get(n, s) if s == short else s for n, s in pairs]
                break
    return shown
