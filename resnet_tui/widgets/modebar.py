"""The top line: the console's views with their keys (click one to switch), current one marked."""

from __future__ import annotations

from textual.widgets import Static

# (mode, title, key): the order of the keys 1..7.
VIEWS: tuple[tuple[str, str, str], ...] = (
    ("launch", "Launch", "1"),
    ("presets", "Presets", "2"),
    ("monitor", "Monitor", "3"),
    ("runs", "Runs", "4"),
    ("best", "Best", "5"),
    ("compare", "Compare", "6"),
    ("sweeps", "Sweeps", "7"),
)


class ModeBar(Static):
    """`resnet-tui  1 Launch  2 Presets ...` with the current view in reverse video."""

    def __init__(self, current: str, extra: str = "") -> None:
        super().__init__(self._markup(current, extra), id="modebar", markup=True)
        self.current = current

    @staticmethod
    def _markup(current: str, extra: str) -> str:
        parts = ["[b]resnet-tui[/b] "]
        for mode, title, key in VIEWS:
            label = f" {key} {title} "
            if mode == current:
                parts.append(f"[reverse b]{label}[/]")
            else:
                parts.append(f"[@click=app.switch_mode('{mode}')]{label}[/]")
        if extra:
            parts.append(f" [dim]{extra}[/]")
        return "".join(parts)
