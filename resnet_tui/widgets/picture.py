"""Pictures in the terminal, through textual-image: Kitty graphics or Sixel where the terminal
has them, coloured half-blocks (``▀``, two pixels a cell) everywhere else.

textual-image picks its renderer by asking the terminal, and it can ask only before Textual
starts (Textual's input thread would take the answer). So:

- ``picture_mode()`` is ``halfcell`` under tmux, in the browser console (textual-serve's web
  driver), when stdout is no terminal (tests) or when ``RESNET_TUI_PICTURES=halfcell``;
  ``auto`` otherwise.
- ``probe_terminal()`` runs before the console starts (``resnet-tui`` with no command): in
  ``auto`` mode it lets textual-image ask the terminal, once.
- Everywhere else textual-image is imported with a stdout that is no terminal, so it asks
  nothing (a query written into a running console would show as garbage).

``picture(image)`` is a widget of the image's own size in pixels: one pixel a column, two a
row, so half-blocks draw each pixel once (no resampling). ``fit`` brings tiles to a side.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator
from typing import Any

from PIL import Image
from textual.widget import Widget

MODE_ENV = "RESNET_TUI_PICTURES"
MODES = ("auto", "halfcell")


def picture_mode() -> str:
    """``halfcell`` or ``auto`` (see the module's docstring)."""
    asked = os.environ.get(MODE_ENV, "").strip().lower()
    if asked in MODES:
        return asked
    if os.environ.get("TMUX") or "web_driver" in os.environ.get("TEXTUAL_DRIVER", ""):
        return "halfcell"
    stdout = sys.__stdout__
    if stdout is None or not stdout.isatty():
        return "halfcell"
    return "auto"


def probe_terminal() -> None:
    """Let textual-image ask the terminal what it draws (Sixel, Kitty graphics), before
    Textual starts; nothing in ``halfcell`` mode."""
    if picture_mode() == "auto" and "textual_image.widget" not in sys.modules:
        try:
            import textual_image.widget  # noqa: F401  (its import asks the terminal, once)
        except Exception:  # a terminal that reports no size (0 columns): half-blocks then
            sys.modules.pop("textual_image.widget", None)


@contextlib.contextmanager
def _no_terminal() -> Iterator[None]:
    """textual-image asks the terminal at import when stdout is one: make it not one."""
    saved = sys.__stdout__
    sys.__stdout__ = io.StringIO()  # type: ignore[misc, assignment]
    try:
        yield
    finally:
        sys.__stdout__ = saved  # type: ignore[misc]


def image_class() -> type[Any]:
    """The textual-image widget class for this terminal."""
    probed = "textual_image.widget" in sys.modules
    if picture_mode() == "auto" and probed:
        from textual_image.widget import Image as AutoImage

        return AutoImage
    with _no_terminal():
        from textual_image.widget import HalfcellImage
    return HalfcellImage


def _even(image: Image.Image) -> Image.Image:
    """A half-block is two pixels tall: an odd height gets a row of background."""
    image = image.convert("RGB")
    if image.height % 2:
        padded = Image.new("RGB", (image.width, image.height + 1))
        padded.paste(image, (0, 0))
        image = padded
    return image


def halfcell_renderable(image: Image.Image) -> Any:
    """A Rich renderable of ``image`` in half-blocks, one pixel a column (the CLI's)."""
    with _no_terminal():
        from textual_image.renderable.halfcell import Image as Halfcell
    image = _even(image)
    return Halfcell(image, width=image.width, height=image.height // 2)


def picture(image: Image.Image, *, id: str | None = None, classes: str = "") -> Widget:
    """A widget showing ``image`` at one pixel a column and two a row."""
    image = _even(image)
    widget: Any = image_class()(image, id=id, classes=f"picture {classes}".strip())
    widget.styles.width = image.width
    widget.styles.height = image.height // 2
    widget.styles.min_width = image.width
    return widget  # type: ignore[no-any-return]


def fit(image: Image.Image, side: int) -> Image.Image:
    """``image`` with its longer side brought to about ``side`` pixels: enlarged by a whole
    factor (nearest: small images stay sharp), or reduced (averaging)."""
    longest = max(image.width, image.height)
    if longest == side or longest == 0:
        return image
    if longest < side:
        factor = max(1, side // longest)
        return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
    scale = side / longest
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BOX)
