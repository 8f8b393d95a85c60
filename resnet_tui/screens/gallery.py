"""A gallery of a run's test images: the mistakes of one confusion cell (Enter on a cell of the
run detail's matrix), or the samples one run gets right and another wrong (Compare's flips).

The list comes from the store (``api.mistakes``, ``api.flips``: torch-free, in a thread); the
images from the engine's helper process (``EngineHelper.sample_images``: the run's own test
split as its evaluation saw it); the captions and titles from ``engine.gallery``, which also
words ``runs mistakes --out``: the console and the PNG show the same gallery. ``w`` writes it
as PNG in the current folder.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from engine import api
from engine.api.remote import HelperError
from resnet_tui.screens.base import ViewScreen
from resnet_tui.state import Console
from resnet_tui.widgets.picture import fit, picture
from resnet_tui.wording import console_words

Loader = Callable[[Console], api.PictureGrid]


def display_side(native: int) -> int:
    """Small images enlarged by a whole factor to about 16 px (digits' 8 become 16), large
    ones reduced to 32."""
    if native <= 16:
        return native * max(1, 16 // max(1, native))
    return 32


def mistakes_loader(run_id: str, true: str | None, pred: str | None) -> Loader:
    """The gallery of run ``run_id``'s mistakes of (true, pred), most confident first."""

    def load(rt: Console) -> api.PictureGrid:
        record = api.get_run(rt.store, run_id)
        found = api.mistakes(rt.store, record.id, true=true, pred=pred)
        shown = found[: api.GALLERY_LIMIT]
        tiles = (
            rt.helper.sample_images(rt.store.root, record.id, [m.index for m in shown])
            if shown
            else []
        )
        return api.mistakes_grid(record.name, found, tiles, true, pred)

    return load


def flips_loader(right_id: str, wrong_id: str) -> Loader:
    """The gallery of the test images run ``right_id`` gets right and ``wrong_id`` wrong."""

    def load(rt: Console) -> api.PictureGrid:
        right, wrong = api.get_run(rt.store, right_id), api.get_run(rt.store, wrong_id)
        flips = api.flips(rt.store, right.id, wrong.id)
        indices = flips.a_right_b_wrong[: api.GALLERY_LIMIT]
        tiles = rt.helper.sample_images(rt.store.root, right.id, indices) if indices else []
        truth, said = api.flip_labels(api.read_predictions(rt.store, wrong.id), indices)
        return api.flips_grid(right.name, wrong.name, flips.a_right_b_wrong, tiles, truth, said)

    return load


class GalleryScreen(ViewScreen):
    """Images with captions in a grid that fills the width; escape goes back."""

    BINDINGS = [
        Binding("escape,backspace", "back", "Back"),
        Binding("w", "write_png", "Write PNG"),
    ]
    DEFAULT_CSS = """
    GalleryScreen #gallery-title { height: auto; text-style: bold; padding: 0 1; }
    GalleryScreen #gallery-notes { height: auto; color: $text-muted; padding: 0 1; }
    GalleryScreen #gallery-scroll { height: 1fr; padding: 0 1; }
    GalleryScreen #gallery-grid { layout: grid; height: auto; grid-gutter: 1 2; }
    GalleryScreen .gallery-cell { height: auto; width: auto; }
    GalleryScreen .gallery-caption { height: auto; width: auto; }
    """

    def __init__(self, load: Loader, png_name: str, from_mode: str = "") -> None:
        super().__init__()
        self.load = load
        self.png_name = png_name
        self._from_mode = from_mode
        self.grid: api.PictureGrid | None = None

    @property
    def mode_name(self) -> str:
        if not self._from_mode:
            self._from_mode = self.app.current_mode
        return self._from_mode

    def compose_body(self) -> ComposeResult:
        yield Static(Text("reading the images…", style="dim"), id="gallery-title")
        yield Static("", id="gallery-notes")
        with VerticalScroll(id="gallery-scroll"):
            yield Container(id="gallery-grid")

    def on_mount(self) -> None:
        super().on_mount()
        self._load()

    @work(thread=True, exclusive=True, group="gallery", exit_on_error=False)
    def _load(self) -> None:
        try:
            grid = self.load(self.rt)
        except (api.UserError, HelperError) as exc:
            self.app.call_from_thread(self._failed, exc)
            return
        self.app.call_from_thread(self._show, grid)

    def _failed(self, exc: Exception) -> None:
        first = console_words(str(exc)).splitlines()[0] if str(exc) else type(exc).__name__
        self.query_one("#gallery-title", Static).update(Text(f"✗ {first}", style="red"))

    def _show(self, grid: api.PictureGrid) -> None:
        self.grid = grid
        self.query_one("#gallery-title", Static).update(Text(grid.title))
        self.query_one("#gallery-notes", Static).update(Text(" · ".join(grid.notes)))
        tiles = [t for row in grid.rows for t in row.tiles]
        h, w = grid.tile_size
        side = display_side(max(h, w, 1))
        cell_w = max([side, *(len(t.caption) for t in tiles)])
        columns = max(1, (self.app.size.width - 2) // (cell_w + 2))
        container = self.query_one("#gallery-grid", Container)
        container.styles.grid_size_columns = columns
        container.styles.grid_columns = str(cell_w)
        cells: list[Widget] = [
            Vertical(
                picture(fit(t.image(), side)),
                Static(Text(t.caption), classes="gallery-caption"),
                classes="gallery-cell",
            )
            for t in tiles
        ]
        container.remove_children()
        container.mount_all(cells)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_write_png(self) -> None:
        if self.grid is None:
            self.notify("the images are not read yet", severity="warning")
            return
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", self.png_name).strip("_") or "gallery"
        try:
            path = api.save_png(self.grid, Path(f"{name}.png"))
        except api.UserError as exc:
            self.notify(str(exc), title="not written", severity="error", markup=False)
            return
        self.notify(f"wrote {path.resolve()}", title="PNG written", markup=False)
