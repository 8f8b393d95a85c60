"""The Launch form's data preview (ctrl+g) over the real helper process: drawn in half-blocks,
redrawn with another seed (ctrl+r) and when an augmentation field changes, refused in one
line when the form's data cannot be read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from textual.widgets import Static
from tui_fixtures import build_store, make_app, settle, sync, wait_for

from resnet_tui.screens.launch import LaunchScreen
from resnet_tui.widgets.config_form import ConfigForm
from resnet_tui.widgets.data_preview import DataPreview, tile_side

pytestmark = pytest.mark.slow  # waits on the console's helper process (torch)


def test_tile_side_fits_two_strips_in_the_width() -> None:
    assert tile_side(78, 2, 8) == 8  # digits at 80 columns: their own 8 px
    assert tile_side(160, 2, 8) == 16  # twice at most
    assert tile_side(78, 11, 32) == 6  # CIFAR reduced at 80 columns
    assert tile_side(10, 2, 8) == 4  # never below 4


@sync
async def test_preview_redraws_on_ctrl_r_and_on_a_changed_augmentation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    build_store(tmp_path / "runs")
    app = make_app(tmp_path / "runs", start_mode="launch")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, lambda: app.state.registries is not None, timeout=90)
        screen = app.screen
        assert isinstance(screen, LaunchScreen)
        assert not screen.check_action("redraw_preview", ())  # no pictures shown: no ctrl+r
        await pilot.press("ctrl+g")
        panel = screen.query_one(DataPreview)
        assert panel.display and not screen.query_one(ConfigForm).display

        def drawn_with(seed: int) -> Any:
            return lambda: screen.preview.drawn is not None and screen.preview.drawn[1] == seed

        await wait_for(pilot, drawn_with(0), 90, "the first preview")
        strips = list(panel.query(".preview-strip"))
        assert len(strips) == 20  # plain and augmented, ten classes
        first = strips[1].image  # type: ignore[attr-defined]
        await pilot.press("ctrl+r")
        await wait_for(pilot, drawn_with(1), 30, "the preview of seed 1")
        again = list(panel.query(".preview-strip"))
        assert again[1].image.tobytes() != first.tobytes()  # type: ignore[attr-defined]
        assert "seed 1" in str(panel.query_one("#preview-head", Static).render())
        await pilot.press("ctrl+o")  # both grids as PNG, in the current folder
        await pilot.pause()
        for kind in ("plain", "augmented"):
            with Image.open(f"digits-quick-{kind}-seed1.png") as image:
                assert image.format == "PNG" and image.height > 10 * 64

        # back to the form, a change of augmentation, back to the pictures: drawn again
        await pilot.press("ctrl+g")
        form = screen.query_one(ConfigForm)
        assert form.display and not panel.display
        drawn = screen.preview.drawn
        form.set_value("augment.mixup_alpha", 1.0)  # mixup switched on (its row's toggle)
        form.revalidate("augment.mixup_alpha")
        await settle(pilot)
        await pilot.press("ctrl+g")
        await wait_for(
            pilot,
            lambda: screen.preview.drawn not in (None, drawn),
            30,
            "the preview of the changed form",
        )
        head = str(panel.query_one("#preview-head", Static).render())
        assert "mixup alpha 1" in head
        assert panel.query(".preview-mixed")  # the classes mixed in, under each row


@sync
async def test_preview_of_missing_data_says_why_in_one_line(tmp_path: Path) -> None:
    build_store(tmp_path / "runs")
    app = make_app(tmp_path / "runs", start_mode="launch")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, lambda: app.state.registries is not None, timeout=90)
        screen = app.screen
        assert isinstance(screen, LaunchScreen)
        form = screen.query_one(ConfigForm)
        form.set_value("data.name", "imagefolder")
        form.set_value("data.root", str(tmp_path / "nowhere"))
        form.revalidate("data.root")
        await settle(pilot)
        await pilot.press("ctrl+g")
        head = screen.query_one(DataPreview).query_one("#preview-head", Static)
        await wait_for(pilot, lambda: "✗ no preview" in str(head.render()), 60, "the refusal")
        assert "nowhere" in str(head.render())
        assert len(str(head.render()).splitlines()) == 1


@sync
async def test_back_from_the_pictures_the_focus_returns_to_its_field(tmp_path: Path) -> None:
    build_store(tmp_path / "runs")
    app = make_app(tmp_path / "runs", start_mode="launch")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, lambda: app.state.registries is not None, timeout=90)
        screen = app.screen
        assert isinstance(screen, LaunchScreen)
        form = screen.query_one(ConfigForm)
        form.focus_field("optim.lr")
        await settle(pilot)
        assert form.key_of_focused() == "optim.lr"
        field = app.focused
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert app.focused is None  # the hidden form's field lets go of the keys
        await pilot.press("ctrl+g")
        await settle(pilot)
        assert app.focused is field and form.key_of_focused() == "optim.lr"
