"""What costs is confirmed first: enter on a preset asks once (the run's name, data and
device) before training; x asks before stopping a run or a sweep, naming it (y or enter
stops, n or escape does not), in every view that stops one.

A run's trainer is stood in for by a ``sleep`` process: the stop's SIGTERM reaches it, and
nothing trains.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static
from tui_fixtures import (
    SWEEP_GRID,
    Notes,
    build_experiment_store,
    build_store,
    kill_trainers,
    make_app,
    settle,
    sync,
    wait_for,
)

from engine.store import RunStore
from resnet_tui.screens.dialogs import ConfirmScreen, NameRunScreen

LIVE = "20250314-170000-digits-live-0007"

pytestmark = pytest.mark.slow  # Pilot: every view asks before it stops or deletes


@pytest.fixture
def stand_in() -> Iterator[subprocess.Popen[bytes]]:
    """A process that plays a trainer: alive until signalled."""
    process = subprocess.Popen(["sleep", "120"], start_new_session=True)
    yield process
    process.kill()
    process.wait()


def _dialog_text(app: object) -> str:
    screen = app.screen  # type: ignore[attr-defined]
    return " ".join(str(s.render()) for s in screen.query(".dialog-message").results(Static))


def _alive(process: subprocess.Popen[bytes]) -> bool:
    try:
        process.wait(timeout=0.2)
    except subprocess.TimeoutExpired:
        return True
    return False


@sync
async def test_enter_on_a_preset_asks_with_name_data_and_device(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    app = make_app(runs, start_mode="presets")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#presets-table", DataTable)
        table.move_cursor(row=table.get_row_index("digits-quick"))
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, NameRunScreen)
        text = _dialog_text(app)
        assert "data digits" in text and "device auto" in text and "12 epochs" in text
        assert app.screen.query_one("#run-name", Input).value == "digits-quick"
        await pilot.press("escape")
        await settle(pilot)
        assert app.current_mode == "presets" and not isinstance(app.screen, NameRunScreen)
    assert not runs.exists() or RunStore(runs).list_runs() == []  # nothing was launched


@pytest.mark.slow
@sync
async def test_the_preset_question_launches_under_the_name_typed(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    app = make_app(runs, start_mode="presets", clock=None)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            table = app.screen.query_one("#presets-table", DataTable)
            table.move_cursor(row=table.get_row_index("digits-quick"))
            await pilot.press("enter")
            await settle(pilot)
            await pilot.press("ctrl+u", *"asked-once", "enter")
            await wait_for(pilot, lambda: app.current_mode == "monitor", 90, "the launch")
            (doc,) = RunStore(runs).list_runs()
            assert doc["name"] == "asked-once" and doc["preset"] == "digits-quick"
    finally:
        kill_trainers(runs)


@pytest.mark.parametrize("where", ["runs", "monitor"])
@sync
async def test_x_asks_before_stopping_a_run(
    tmp_path: Path, stand_in: subprocess.Popen[bytes], where: str
) -> None:
    runs = tmp_path / "runs"
    store = build_store(runs)
    store.update(LIVE, pid=stand_in.pid)
    app = make_app(runs, start_mode=where)
    notes = Notes()
    async with app.run_test(size=(80, 24), message_hook=notes.hook) as pilot:
        await settle(pilot)
        if where == "runs":
            table = app.screen.query_one("#runs-table", DataTable)
            table.move_cursor(row=table.get_row_index(LIVE))
        for cancel in ("n", "escape"):
            await pilot.press("x")
            await settle(pilot)
            assert isinstance(app.screen, ConfirmScreen)
            assert "Stop run digits-live" in _dialog_text(app) and LIVE in _dialog_text(app)
            await pilot.press(cancel)
            await settle(pilot)
            assert not isinstance(app.screen, ConfirmScreen)
        assert _alive(stand_in) and not notes.titled("stopping")
        await pilot.press("x")
        await settle(pilot)
        await pilot.press("enter")  # the default answer of a stop is yes
        await wait_for(pilot, lambda: notes.titled("stopping"), 10, "the stop")
        assert not _alive(stand_in)  # it got the SIGTERM


@sync
async def test_x_on_a_run_that_is_not_running_says_why_without_asking(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    build_store(runs)
    app = make_app(runs, start_mode="runs")
    notes = Notes()
    async with app.run_test(size=(80, 24), message_hook=notes.hook) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#runs-table", DataTable)
        table.move_cursor(row=table.get_row_index("20250312-180000-digits-quick-0001"))
        await pilot.press("x")
        await wait_for(pilot, lambda: notes.titled("not stopped"), 10, "the refusal")
        assert not isinstance(app.screen, ConfirmScreen)
        assert "finished, not running" in notes.titled("not stopped")[0]


@sync
async def test_x_asks_before_stopping_a_sweep(
    tmp_path: Path, stand_in: subprocess.Popen[bytes]
) -> None:
    runs = tmp_path / "runs"
    build_experiment_store(runs)
    path = runs / "sweeps" / f"{SWEEP_GRID}.json"
    doc = json.loads(path.read_text())
    doc.update(status="running", pid=stand_in.pid, finished=None)
    path.write_text(json.dumps(doc))
    app = make_app(runs, start_mode="sweeps")
    notes = Notes()
    async with app.run_test(size=(80, 24), message_hook=notes.hook) as pilot:
        await settle(pilot)
        app.screen.selected = SWEEP_GRID  # type: ignore[attr-defined]
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert f"Stop sweep {SWEEP_GRID}" in _dialog_text(app)
        await pilot.press("n")
        await settle(pilot)
        assert _alive(stand_in)
        await pilot.press("x")
        await settle(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: notes.titled("stopping"), 10, "the stop")
        assert not _alive(stand_in)
