"""The command palette holds every action of the console, whichever view is shown: go to each
view, launch, train a preset, stop, resume, stack, compare, sweep, ablate, open a run or a
sweep by name; and a command asks what its key asks."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from textual.command import CommandPalette
from textual.widgets import Input
from tui_fixtures import SWEEP_GRID, build_experiment_store, make_app, settle, sync

from engine.store import RunStore
from resnet_tui.app import ResnetApp
from resnet_tui.palette import ConsoleCommands
from resnet_tui.screens.detail import RunDetailScreen
from resnet_tui.screens.dialogs import ConfirmScreen, NameRunScreen
from resnet_tui.screens.experiment_forms import AblationFormScreen, SweepFormScreen
from resnet_tui.widgets.modebar import VIEWS

LIVE = "20250314-170000-digits-live-0007"
LR05 = "20250312-190000-digits-lr05-0002"


@pytest.fixture
def experiment_runs(tmp_path: Path) -> Path:
    build_experiment_store(tmp_path / "runs")
    return tmp_path / "runs"


async def _titles(app: ResnetApp, query: str) -> list[str]:
    provider = ConsoleCommands(app.screen)
    await provider.startup()
    return [str(hit.text) async for hit in provider.search(query)]


@sync
async def test_every_action_is_a_command_in_every_view(experiment_runs: Path) -> None:
    app = make_app(experiment_runs, start_mode="best")  # a view with few keys of its own
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        expected = [
            *(f"Go to {title}" for _, title, _ in VIEWS),
            "Launch a run: the Launch form",
            "Train preset digits-quick",
            "Stop run digits-live",
            "Resume run resnet18-basic",  # stopped
            "Resume run digits-crash",  # crashed
            "Stack the selected runs",
            "Compare the selected runs",
            "Sweep a preset",
            "Ablate a preset",
            "Open run digits-lr05",
            f"Open sweep {SWEEP_GRID}",
        ]
        for title in expected:
            assert title in await _titles(app, title), title
        assert "Stop run digits-quick" not in await _titles(app, "stop run digits-quick")
        # The view's own keys are there too (Textual's provider), once.
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Export CSV" in titles and not any(t.startswith("Go to") for t in titles)
        assert titles.count("Quit") == 1, titles  # the q key's and Textual's own: one command


@pytest.mark.slow  # every command's question
@sync
async def test_a_command_asks_what_its_key_asks(experiment_runs: Path) -> None:
    stand_in = subprocess.Popen(["sleep", "120"], start_new_session=True)
    try:
        RunStore(experiment_runs).update(LIVE, pid=stand_in.pid)  # a trainer stood in for
        app = make_app(experiment_runs, start_mode="best")
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)

            async def run(query: str) -> None:
                await pilot.press("ctrl+p")
                await settle(pilot)
                assert isinstance(app.screen, CommandPalette)
                app.screen.query_one(Input).value = query  # as typed (test_tui_keys types)
                await settle(pilot)  # the palette's search is a worker
                await pilot.press("enter")
                await settle(pilot)

            await run("stop run digits-live")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")
            await settle(pilot)
            assert stand_in.poll() is None  # still running: the answer was no
            await run("train preset digits-quick")
            assert isinstance(app.screen, NameRunScreen)
            await pilot.press("escape")
            await run("sweep a preset")
            assert isinstance(app.screen, SweepFormScreen)
            await pilot.press("escape")
            await run("ablate a preset")
            assert isinstance(app.screen, AblationFormScreen)
            await pilot.press("escape")
            await run("open run digits-lr05")
            screen = app.screen
            assert isinstance(screen, RunDetailScreen) and screen.run_id == LR05
            await pilot.press("escape")
            await run("go to sweeps")
            assert app.current_mode == "sweeps"
    finally:
        stand_in.kill()
        stand_in.wait()
