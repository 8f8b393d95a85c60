"""Pictures of images: grids of tiles with captions and row labels, as typed data and as PNG.

Torch- and numpy-free (Pillow only): the console lays out what its helper process sent, the CLI
writes the PNG. The tiles come from ``engine.preview`` (torch), already display pixels: the
normalisation the model sees undone, grey as RGB.

A ``PictureGrid`` crosses the helper's JSON lines as ``to_json`` (each tile's RGB bytes in
base64): a digits grid is a few kB, a CIFAR one a few hundred.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from engine.fsio import atomic_write

PNG_MIN_SIDE = 64  # tiles in a PNG are upscaled (nearest) to at least this many pixels a side


@dataclass(frozen=True)
class Tile:
    """One picture: display pixels (RGB bytes, row by row) and what to write under it."""

    width: int
    height: int
    rgb: bytes  # width * height * 3
    caption: str = ""
    index: int | None = None  # its place in its split, when it is one image of a split

    def image(self) -> Image.Image:
        return Image.frombytes("RGB", (self.width, self.height), self.rgb)

    def to_json(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "rgb": base64.b64encode(self.rgb).decode("ascii"),
            "caption": self.caption,
            "index": self.index,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tile:
        index = data.get("index")
        return cls(
            int(data["width"]),
            int(data["height"]),
            base64.b64decode(data["rgb"]),
            str(data.get("caption") or ""),
            None if index is None else int(index),
        )


@dataclass(frozen=True)
class GridRow:
    """A row of tiles under one label (a class name)."""

    label: str
    tiles: tuple[Tile, ...]

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "tiles": [t.to_json() for t in self.tiles]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GridRow:
        return cls(str(data["label"]), tuple(Tile.from_json(t) for t in data["tiles"]))


@dataclass(frozen=True)
class PictureGrid:
    """Rows of tiles with a title and notes (how the pictures were made)."""

    title: str
    rows: tuple[GridRow, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def tile_size(self) -> tuple[int, int]:
        """(height, width) of the first tile; (0, 0) for an empty grid."""
        for row in self.rows:
            for tile in row.tiles:
                return tile.height, tile.width
        return 0, 0

    @property
    def columns(self) -> int:
        return max((len(r.tiles) for r in self.rows), default=0)

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "rows": [r.to_json() for r in self.rows],
            "notes": list(self.notes),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PictureGrid:
        return cls(
            str(data["title"]),
            tuple(GridRow.from_json(r) for r in data["rows"]),
            tuple(str(n) for n in data.get("notes") or ()),
        )


# ---------------------------------------------------------------- layout


def scale_for(side: int, min_side: int = PNG_MIN_SIDE) -> int:
    """The integer factor that brings a tile of ``side`` pixels to at least ``min_side``."""
    return max(1, -(-min_side // max(1, side)))


def strip(tiles: Sequence[Tile], gap: int = 1, background: int = 0) -> Image.Image:
    """Tiles side by side, ``gap`` pixels apart, no captions: a row as the console draws it."""
    if not tiles:
        return Image.new("RGB", (1, 1), (background,) * 3)
    h = max(t.height for t in tiles)
    w = sum(t.width for t in tiles) + gap * (len(tiles) - 1)
    out = Image.new("RGB", (w, h), (background,) * 3)
    x = 0
    for tile in tiles:
        out.paste(tile.image(), (x, 0))
        x += tile.width + gap
    return out


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default()


def _text_size(draw: ImageDraw.ImageDraw, text: str, font: Any) -> tuple[int, int]:
    if not text:
        return 0, 0
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return int(right - left), int(bottom - top)


def render_picture(grid: PictureGrid, min_side: int = PNG_MIN_SIDE) -> Image.Image:
    """The grid as one picture for sharing: the title and notes on top, each row's label on
    its left, each tile upscaled (nearest) to at least ``min_side`` pixels with its caption
    under it. Captions and labels are never cut: the columns widen to the longest."""
    font = _font()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    th, tw = grid.tile_size
    factor = scale_for(max(th, tw, 1), min_side)
    tile_h, tile_w = th * factor, tw * factor
    pad = 6
    line_h = max(_text_size(probe, "Ag", font)[1], 10) + 4
    captions = [t.caption for r in grid.rows for t in r.tiles]
    caption_w = max((_text_size(probe, c, font)[0] for c in captions), default=0)
    cell_w = max(tile_w, caption_w) + pad
    cell_h = tile_h + (line_h if any(captions) else 0) + pad
    label_w = max((_text_size(probe, r.label, font)[0] for r in grid.rows), default=0)
    label_w = label_w + 2 * pad if label_w else pad
    header = [grid.title, *grid.notes] if grid.title else list(grid.notes)
    header_w = max((_text_size(probe, h, font)[0] for h in header), default=0)
    width = max(label_w + cell_w * max(grid.columns, 1) + pad, header_w + 2 * pad)
    top = pad + line_h * len(header) + (pad if header else 0)
    height = top + cell_h * max(len(grid.rows), 1) + pad
    out = Image.new("RGB", (width, height), (24, 24, 24))
    draw = ImageDraw.Draw(out)
    for i, text in enumerate(header):
        fill = (235, 235, 235) if i == 0 and grid.title else (170, 170, 170)
        draw.text((pad, pad + i * line_h), text, fill=fill, font=font)
    for r, row in enumerate(grid.rows):
        y = top + r * cell_h
        draw.text((pad, y + tile_h // 2 - line_h // 2), row.label, fill=(235, 235, 235), font=font)
        for c, tile in enumerate(row.tiles):
            x = label_w + c * cell_w
            picture = tile.image()
            if factor > 1:
                size = (tile.width * factor, tile.height * factor)
                picture = picture.resize(size, Image.Resampling.NEAREST)
            out.paste(picture, (x, y))
            if tile.caption:
                draw.text((x, y + tile_h + 2), tile.caption, fill=(200, 200, 200), font=font)
    return out


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(grid: PictureGrid, path: str | Path) -> Path:
    """Write ``render_picture(grid)`` to ``path`` as PNG, all at once (a failed write leaves the old
    file). A StoreError says what went wrong (the folder missing, the disk full)."""
    return save_image(render_picture(grid), path)


def save_image(image: Image.Image, path: str | Path) -> Path:
    """Write any picture (the lr curve's too) to ``path`` as PNG, as ``save_png`` does: all at
    once, a StoreError ("could not write PATH: why ...") when it cannot."""
    target = Path(path)
    atomic_write(target, png_bytes(image), point="picture")
    return target


__all__ = [
    "GridRow",
    "PictureGrid",
    "Tile",
    "png_bytes",
    "render_picture",
    "save_image",
    "save_png",
    "scale_for",
    "strip",
]
