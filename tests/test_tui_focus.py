"""The focused field is unmistakable without colour, and a checkbox's state reads by its glyph.

Each check renders a widget's lines (Textual's line API) and drops every colour, keeping
the characters and the bold / reverse / underline attributes: what a monochrome terminal
shows (a 16-colour one shows at least that). A field focused must differ from the same field
unfocused there; a ticked checkbox from an unticked one in its characters alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Select, TextArea
from tui_fixtures import build_store, make_app, settle, sync

from resnet_tui.screens.experiment_forms import AblationFormScreen, SweepFormScreen
from resnet_tui.widgets.config_form import ConfigForm, FieldRow

Cell = tuple[str, bool, bool, bool]  # text, bold, reverse, underline


@pytest.fixture
def fixture_runs(tmp_path: Path) -> Path:
    build_store(tmp_path / "runs")
    return tmp_path / "runs"


def monochrome(widget: Widget) -> list[Cell]:
    """What the widget and its descendants draw, without colours."""
    cells: list[Cell] = []
    for node in [widget, *widget.query("*")]:
        if not node.display or not node.size.height:
            continue
        for y in range(node.size.height):
            for segment in node.render_line(y):
                style = segment.style
                cells.append(
                    (
                        segment.text,
                        bool(style and style.bold),
                        bool(style and style.reverse),
                        bool(style and style.underline),
                    )
                )
    return cells


def text_only(cells: list[Cell]) -> str:
    return "".join(c[0] for c in cells)


async def _focused_and_not(pilot: Any, widget: Widget, shown: Widget | None = None) -> None:
    """``shown`` (the widget, or the row it sits in) differs, colours aside, between the
    widget focused and not."""
    shown = shown or widget
    widget.focus()
    await settle(pilot)
    assert pilot.app.focused is widget
    focused = monochrome(shown)
    pilot.app.set_focus(None)
    await settle(pilot)
    assert monochrome(shown) != focused, f"{widget!r}: focus shows only as a colour"


@pytest.mark.slow  # every kind of field, drawn
@sync
async def test_the_focused_form_field_is_marked_without_colour(fixture_runs: Path) -> None:
    app = make_app(fixture_runs, start_mode="launch")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        form = app.screen.query_one(ConfigForm)
        for key in ("train.epochs", "train.monitor", "train.ema", "augment.hflip"):
            form.focus_field(key)
            await settle(pilot)
            section, name = key.split(".")
            row = app.screen.query_one(f"#row-{section}-{name}", FieldRow)
            label = row.query_one(".field-label")
            assert text_only(monochrome(label)).startswith("▶ " + row.label_text)
            await _focused_and_not(pilot, row.widget, row)
            assert not text_only(monochrome(label)).startswith("▶")
        for field in (
            app.screen.query_one("#launch-name", Input),
            app.screen.query_one("#launch-preset", Select),
        ):
            await _focused_and_not(pilot, field)
        app.push_screen(SweepFormScreen("digits-quick"))
        await settle(pilot)
        for kind in (Select, Input, TextArea):  # one of each kind
            field = next(f for f in app.screen.query(kind).results() if not f.disabled)
            await _focused_and_not(pilot, field)
        app.pop_screen()
        app.push_screen(AblationFormScreen("digits-quick"))
        await settle(pilot)
        for box in app.screen.query(Checkbox).results():
            await _focused_and_not(pilot, box)


@pytest.mark.slow  # a long burst of keys, paced
@sync
async def test_a_checkbox_reads_by_its_glyph(fixture_runs: Path) -> None:
    app = make_app(fixture_runs, start_mode="launch")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(AblationFormScreen("digits-quick"))
        await settle(pilot)
        boxes = list(app.screen.query(Checkbox).results())
        assert boxes
        for box in boxes:
            before = text_only(monochrome(box))
            box.value = not box.value
            await settle(pilot)
            assert text_only(monochrome(box)) != before, box
        app.pop_screen()
        await settle(pilot)
        launch = app.screen.query_one(ConfigForm)
        launch.focus_field("train.ema")
        await settle(pilot)
        toggle = app.screen.query_one("#f-train-ema", Checkbox)
        before = text_only(monochrome(toggle))
        toggle.value = not toggle.value
        await settle(pilot)
        after = text_only(monochrome(toggle))
        assert after != before and {"X", " "} == {after[1], before[1]}
