"""Keys do what the focused field says, in the order they were typed: digits and q type into
a text field (they never switch views or quit), and a burst of keys (a fast typist, a key
repeat, a terminal over SSH delivering several at once) keeps its order, backspaces included.

``burst`` queues every key before the app handles the first one; ``Pilot.press`` waits for
the app after each key and would hide the reordering these tests are about.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.binding import Binding
from textual.widgets import Input, TextArea
from tui_fixtures import build_store, burst, make_app, settle, sync

from resnet_tui.app import ResnetApp
from resnet_tui.screens.experiment_forms import SweepFormScreen
from resnet_tui.widgets.config_form import ConfigForm

QUICK = "20250312-180000-digits-quick-0001"


@pytest.fixture
def fixture_runs(tmp_path: Path) -> Path:
    build_store(tmp_path / "runs")
    return tmp_path / "runs"


async def _focus_field(pilot: Any, key: str) -> Input:
    form = pilot.app.screen.query_one(ConfigForm)
    form.focus_field(key)
    await settle(pilot)
    focused = pilot.app.focused
    assert isinstance(focused, Input) and focused.id == "f-" + key.replace(".", "-"), focused
    return focused


@pytest.mark.slow  # a long burst of keys, paced
@sync
async def test_a_burst_with_backspaces_keeps_its_order_in_a_form_field(fixture_runs: Path) -> None:
    app = make_app(fixture_runs, start_mode="launch")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        epochs = await _focus_field(pilot, "train.epochs")
        assert epochs.value == "12"
        burst(app, "end", "backspace", "backspace", "1", "0")  # 12 -> 10, typed fast
        await settle(pilot)
        assert epochs.value == "10"
        assert app.screen.query_one(ConfigForm).value("train.epochs") == 10
        batch = await _focus_field(pilot, "data.batch_size")
        burst(app, "end", "ctrl+u", "6", "5", "backspace", "4")
        await settle(pilot)
        assert batch.value == "64"
        burst(app, "home", "9", "end", "1")  # cursor keys too
        await settle(pilot)
        assert batch.value == "9641"


@pytest.mark.slow  # a long burst of keys, paced
@sync
async def test_next_section_keys_in_a_burst_land_on_the_sections_first_field(
    fixture_runs: Path,
) -> None:
    """ctrl+n mounts a section the first time it is shown: the focus waits for its rows
    (it stayed in the field it left when the rows came after the focus was asked)."""
    app = make_app(fixture_runs, start_mode="launch")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.screen.query_one("#launch-name", Input).focus()
        await settle(pilot)
        burst(app, *["ctrl+n"] * 5)  # Model -> ... -> Training, none mounted yet
        await settle(pilot)
        assert app.focused is not None and app.focused.id == "f-train-epochs", app.focused
        burst(app, "ctrl+b", "ctrl+b")  # Optimizer, back past Schedule
        await settle(pilot)
        assert app.focused is not None and app.focused.id == "f-optim-name", app.focused


@sync
async def test_backspaces_in_a_burst_in_the_command_palette(fixture_runs: Path) -> None:
    app = make_app(fixture_runs, start_mode="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await settle(pilot)
        search = app.screen.query_one(Input)
        burst(app, "s", "t", "p", "backspace", "o", "p")
        await settle(pilot)
        assert search.value == "stop"
        burst(app, "backspace", "backspace", "a", "r", "t")
        await settle(pilot)
        assert search.value == "start"


def _typed(app: ResnetApp, field: Input | TextArea, before: str) -> str:
    value = field.value if isinstance(field, Input) else field.text
    assert value.startswith(before), (value, before)
    return value[len(before) :]


async def _types_into(pilot: Any, field: Input | TextArea, keys: str = "1q07") -> None:
    """The keys go into the field: no other view, no quitting, the same screen."""
    app = pilot.app
    assert isinstance(app, ResnetApp)
    field.focus()
    await settle(pilot)
    assert app.focused is field
    mode, screen = app.current_mode, app.screen
    before = field.value if isinstance(field, Input) else field.text
    if isinstance(field, TextArea):
        field.move_cursor(field.document.end)
    else:
        field.cursor_position = len(before)
    burst(app, *keys)
    await settle(pilot)
    assert app.is_running and app.current_mode == mode and app.screen is screen
    assert _typed(app, field, before) == keys


@pytest.mark.slow  # every kind of field (the bursts stay fast)
@sync
async def test_digits_and_q_type_into_every_kind_of_text_field(fixture_runs: Path) -> None:
    app = make_app(fixture_runs, start_mode="launch")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await _types_into(pilot, await _focus_field(pilot, "optim.lr"))
        await _types_into(pilot, app.screen.query_one("#launch-name", Input))
        await pilot.press("4")  # the Runs view (the field is left with escape first)
        await settle(pilot)
        await pilot.press("escape", "4")
        await settle(pilot)
        assert app.current_mode == "runs"
        await _types_into(pilot, app.screen.query_one("#runs-filter", Input), "q1")
        await pilot.press("ctrl+u", "escape", "n")  # every run again; n: the rename dialog
        await settle(pilot)
        await _types_into(pilot, app.screen.query_one("#run-name", Input))
        await pilot.press("escape")
        await settle(pilot)
        app.push_screen(SweepFormScreen("digits-quick"))
        await settle(pilot)
        form = app.screen
        for selector in ("#sweep-lines", "#sweep-parallel", "#sweep-sets", "#sweep-name"):
            await _types_into(pilot, form.query_one(selector))  # type: ignore[arg-type]


def test_the_view_keys_and_q_wait_for_the_focused_field() -> None:
    """A priority binding runs before the focused field sees the key: none of the keys a
    field types may be one."""
    typed = set("1234567890q")
    for binding in ResnetApp.BINDINGS:
        assert isinstance(binding, Binding)
        keys = set(binding.key.split(","))
        assert not (keys & typed and binding.priority), binding
