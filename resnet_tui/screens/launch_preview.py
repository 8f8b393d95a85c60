"""The Launch form's data preview (ctrl+g): the form's training samples per class, plain and
through its augmentations, instead of the form; ctrl+r draws other samples (a new seed), ctrl+o
writes both grids as PNG.

The pictures come from the engine's helper process (``EngineHelper.preview``), in a thread
worker, after the form's debounced check (``LaunchScreen._start_check``): a form that changes
while the preview is shown is drawn again once typing pauses; one that changes while it is
hidden is drawn when it is shown. A newer request makes an older answer stale (``seq``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.widget import Widget
from textual.widgets import Static

from engine import api
from engine.api.remote import HelperError
from resnet_tui.widgets.data_preview import PER_CLASS, DataPreview
from resnet_tui.wording import console_words

if TYPE_CHECKING:
    from resnet_tui.screens.base import ViewScreen

    _Base = ViewScreen
else:
    _Base = object


PREVIEW_HELP = (
    "ctrl+g: back to the form · ctrl+r: other samples · ctrl+o: both grids as PNG · "
    "resnet-tui data preview PRESET does the same"
)


@dataclass
class PreviewState:
    shown: bool = False
    seed: int = 0
    seq: int = 0
    request: api.RunRequest | None = None  # the form's last valid request
    drawn: tuple[str, int] | None = field(default=None)  # (request JSON, seed) on screen
    grids: tuple[api.PictureGrid, api.PictureGrid] | None = None  # plain, augmented
    focused: Widget | None = None  # the form's field that had the focus before the preview


class LaunchPreview(_Base):
    """What LaunchScreen adds for the preview (it owns ``preview: PreviewState``)."""

    preview: PreviewState

    def _preview_panel(self) -> DataPreview:
        return self.query_one("#launch-preview", DataPreview)

    def action_toggle_preview(self) -> None:
        state = self.preview
        state.shown = not state.shown
        self.query_one("#launch-form").display = not state.shown
        self._preview_panel().display = state.shown
        self.refresh_bindings()
        help_line = self.query_one("#launch-help", Static)
        if state.shown:
            state.focused = self.focused  # the field to come back to
            self.set_focus(None)  # a hidden field must not take the keys
            help_line.update(PREVIEW_HELP)
            self._draw_preview()
        else:
            help_line.update("")
            before, state.focused = state.focused, None
            if before is not None and before.is_attached:
                # once the form shows again (a hidden widget cannot take the focus)
                self.call_after_refresh(self.set_focus, before)

    def action_redraw_preview(self) -> None:
        self.preview.seed += 1
        self._draw_preview()

    def action_write_preview(self) -> None:
        """The plain and the augmented grid as two PNGs in the current folder."""
        grids = self.preview.grids
        if grids is None:
            self.notify("the pictures are not drawn yet", severity="warning")
            return
        preset = re.sub(r"[^A-Za-z0-9._-]+", "_", getattr(self, "preset", "") or "form")
        seed = self.preview.seed
        written = []
        try:
            for grid, kind in zip(grids, ("plain", "augmented"), strict=True):
                written.append(api.save_png(grid, Path(f"{preset}-{kind}-seed{seed}.png")))
        except api.UserError as exc:
            self.notify(str(exc), title="not written", severity="error", markup=False)
            return
        where = " and ".join(str(p.resolve()) for p in written)
        self.notify(f"wrote {where}", title="PNG written", markup=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("redraw_preview", "write_preview"):
            return self.preview.shown
        return True

    def _preview_changed(self, request: api.RunRequest) -> None:
        """The form's checked request (after the debounce): draw it if the preview shows."""
        self.preview.request = request
        if self.preview.shown:
            self._draw_preview()

    def _draw_preview(self) -> None:
        state = self.preview
        if state.request is None:
            self._preview_panel().say("data preview: fix the form first")
            return
        key = (str(state.request.to_json()), state.seed)
        if key == state.drawn:
            return
        state.seq += 1
        self._preview_panel().say(f"data preview: drawing (seed {state.seed})…")
        self._preview_worker(state.request, state.seed, state.seq, key)

    @work(thread=True, exclusive=True, group="launch-preview", exit_on_error=False)
    def _preview_worker(
        self, request: api.RunRequest, seed: int, seq: int, key: tuple[str, int]
    ) -> None:
        helper = self.rt.helper
        try:
            plain = helper.preview(request, False, seed, PER_CLASS)
            augmented = helper.preview(request, True, seed, PER_CLASS)
        except (HelperError, api.UserError) as exc:
            self.app.call_from_thread(self._preview_failed, exc, seq)
            return
        self.app.call_from_thread(self._preview_done, plain, augmented, seq, key)

    def _preview_done(
        self, plain: api.PictureGrid, augmented: api.PictureGrid, seq: int, key: tuple[str, int]
    ) -> None:
        if seq != self.preview.seq:
            return
        self.preview.drawn = key
        self.preview.grids = (plain, augmented)
        self._preview_panel().show(plain, augmented)

    def _preview_failed(self, exc: Exception, seq: int) -> None:
        if seq != self.preview.seq:
            return
        self.preview.drawn = None
        first = console_words(str(exc)).splitlines()[0] if str(exc) else type(exc).__name__
        self._preview_panel().say(f"✗ no preview: {first}", error=True)
