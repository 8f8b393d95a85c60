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
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
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


Font = ImageFont.ImageFont | ImageFont.FreeTypeFont

# TrueType fonts with the arrows and signs the captions use, tried in order (Pillow finds a bare
# file name under the system's font folders); Pillow's own default font last. Whatever glyph the
# chosen font still lacks is written with GLYPH_FALLBACKS, never as the font's missing-glyph box.
FONT_FILES = ("DejaVuSans.ttf", "DejaVuSansMono.ttf", "NotoSans-Regular.ttf", "FreeSans.ttf")
FONT_SIZE = 11
CAPTION_SIGNS = "→…≥·×"  # what the captions and notes write (mistakes: "#96 3→9 88%")
GLYPH_FALLBACKS = {
    "→": "->",
    "←": "<-",
    "↓": "v",
    "↑": "^",
    "…": "...",
    "≥": ">=",
    "≤": "<=",
    "≠": "!=",
    "·": ".",
    "×": "x",
    "—": "-",
    "–": "-",
    "▸": ">",
    "⏎": "enter",
    "Δ": "d",
}
_NOTDEF = "\U0010fffd"  # a private-use code point no font draws: its picture is the notdef box


def _glyph_pixels(font: Font, text: str) -> bytes:
    canvas = Image.new("L", (4 * FONT_SIZE + 16, 4 * FONT_SIZE + 16))
    try:
        ImageDraw.Draw(canvas).text((4, 4), text, fill=255, font=font)
    except (UnicodeEncodeError, ValueError):  # a bitmap font: Latin-1 only
        return b""
    return canvas.tobytes()


@lru_cache(maxsize=512)
def has_glyph(font: Font, char: str) -> bool:
    """Whether ``font`` draws ``char`` (ASCII and spaces always): not when drawing it fails, draws
    nothing, or draws the same pixels as a code point no font has (the missing-glyph box)."""
    if char.isascii() or char.isspace():
        return True
    pixels = _glyph_pixels(font, char)
    if not pixels or not any(pixels):
        return False
    return pixels != _glyph_pixels(font, _NOTDEF)


def drawable(text: str, font: Font) -> str:
    """``text`` with each character ``font`` cannot draw written in ASCII (→ as ->, … as ...;
    "?" for one without a fallback), so a picture never shows a missing-glyph box."""
    if text.isascii():
        return text
    text = unicodedata.normalize("NFC", text)
    return "".join(c if has_glyph(font, c) else GLYPH_FALLBACKS.get(c, "?") for c in text)


@lru_cache(maxsize=1)
def caption_font() -> Font:
    """The first of FONT_FILES that loads and draws every CAPTION_SIGNS glyph, else the first
    that loads, else Pillow's default font (``drawable`` covers what it lacks)."""
    loaded: list[Font] = []
    for name in FONT_FILES:
        try:
            font = ImageFont.truetype(name, FONT_SIZE)
        except OSError:
            continue
        if all(has_glyph(font, c) for c in CAPTION_SIGNS):
            return font
        loaded.append(font)
    return loaded[0] if loaded else ImageFont.load_default()


def _text_size(draw: ImageDraw.ImageDraw, text: str, font: Any) -> tuple[int, int]:
    if not text:
        return 0, 0
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return int(right - left), int(bottom - top)


def render_picture(
    grid: PictureGrid, min_side: int = PNG_MIN_SIDE, font: Font | None = None
) -> Image.Image:
    """The grid as one picture for sharing: the title and notes on top, each row's label on
    its left, each tile upscaled (nearest) to at least ``min_side`` pixels with its caption
    under it. Captions and labels are never cut: the columns widen to the longest. Text is
    drawn with ``font`` (``caption_font()``), glyphs it lacks in ASCII (``drawable``)."""
    font = font or caption_font()
    grid = _drawable_grid(grid, font)
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


def _drawable_grid(grid: PictureGrid, font: Font) -> PictureGrid:
    rows = tuple(
        replace(
            row,
            label=drawable(row.label, font),
            tiles=tuple(replace(t, caption=drawable(t.caption, font)) for t in row.tiles),
        )
        for row in grid.rows
    )
    notes = tuple(drawable(n, font) for n in grid.notes)
    return replace(grid, title=drawable(grid.title, font), notes=notes, rows=rows)


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
    "GLYPH_FALLBACKS",
    "GridRow",
    "PictureGrid",
    "Tile",
    "png_bytes",
    "caption_font",
    "drawable",
    "has_glyph",
    "render_picture",
    "save_image",
    "save_png",
    "scale_for",
    "strip",
]
