"""The Launch form's data preview: a row per class, its training samples as the model sees them
(plain), then the same samples through the form's augmentations, in half-blocks (or Sixel /
Kitty graphics where the terminal has them: ``widgets.picture``).

The grids come from the engine's helper process (``EngineHelper.preview``: the trainer's own
data pipeline); this widget only lays them out. Tiles are brought to a side that fits the
panel's width (``tile_side``): digits' 8 px stay 8 px at 80 columns.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from engine import api
from resnet_tui.widgets.picture import fit, picture

PER_CLASS = 4  # samples per class in the panel (two strips of 4 fit 80 columns at 8 px)
GAP = 1


def tile_side(width: int, label_width: int, native: int, per_class: int = PER_CLASS) -> int:
    """The side (pixels = columns) of a tile so that two strips of ``per_class`` tiles and the
    class labels fit ``width`` columns; never more than twice the native side, at least 4."""
    room = (width - label_width - 4) // (2 * per_class) - GAP
    return max(4, min(room, 2 * native if native <= 16 else native))


class DataPreview(Vertical):
    """Plain and augmented samples per class; ``show`` draws a pair of grids."""

    DEFAULT_CSS = """
    DataPreview { height: 1fr; padding: 0 1; }
    DataPreview #preview-head { height: auto; color: $text-muted; }
    DataPreview #preview-rows { height: 1fr; }
    DataPreview .preview-row { height: auto; width: auto; margin: 0 0 1 0; }
    DataPreview .preview-label { width: auto; padding: 0 1 0 0; }
    DataPreview .preview-sep { width: 3; color: $text-muted; }
    DataPreview .preview-mixed { height: auto; color: $text-muted; padding: 0 0 0 2; }
    """

    def compose(self) -> ComposeResult:
        yield Static(Text("data preview: drawing…", style="dim"), id="preview-head")
        yield VerticalScroll(id="preview-rows")

    def say(self, text: str, error: bool = False) -> None:
        """A line instead of the pictures (waiting, or why there are none)."""
        self.query_one("#preview-head", Static).update(Text(text, style="red" if error else "dim"))
        self.query_one("#preview-rows", VerticalScroll).remove_children()

    def show(self, plain: api.PictureGrid, augmented: api.PictureGrid) -> None:
        head = Text()
        head.append(plain.title, style="bold")
        head.append("\nleft: plain (what evaluation sees) · right: ")
        notes = [n.removeprefix("augmented: ") for n in augmented.notes]
        head.append(" · ".join(notes) or "augmented")
        self.query_one("#preview-head", Static).update(head)
        rows = self.query_one("#preview-rows", VerticalScroll)
        rows.remove_children()
        label_width = max((len(r.label) for r in plain.rows), default=0) + 1
        h, w = plain.tile_size
        side = tile_side(self.size.width or 78, label_width, max(h, w, 1))
        widgets: list[Widget] = []
        for row, mixed in zip(plain.rows, augmented.rows, strict=True):
            line = Horizontal(
                Static(Text(row.label.ljust(label_width - 1)), classes="preview-label"),
                *_tiles(row.tiles, side),
                Static(" │ ", classes="preview-sep"),
                *_tiles(mixed.tiles, side),
                classes="preview-row",
            )
            widgets.append(line)
            captions = " ".join(t.caption for t in mixed.tiles if t.caption)
            if captions:
                widgets.append(Static(Text(f"mixed in: {captions}"), classes="preview-mixed"))
        rows.mount_all(widgets)


def _tiles(tiles: tuple[api.Tile, ...], side: int) -> list[Widget]:
    """One picture widget for a row's tiles, ``side`` pixels each, ``GAP`` apart."""
    from PIL import Image

    if not tiles:
        return []
    fitted = [fit(t.image(), side) for t in tiles]
    height = max(f.height for f in fitted)
    width = sum(f.width for f in fitted) + GAP * (len(fitted) - 1)
    strip = Image.new("RGB", (width, height))
    x = 0
    for f in fitted:
        strip.paste(f, (x, 0))
        x += f.width + GAP
    return [picture(strip, classes="preview-strip")]
