"""Sweeps and ablations started, stopped and resumed from the console, with real processes.

The forms run ``resnet-tui sweep ... --detach`` / ``resnet-tui ablate ... --detach`` (the
real CLI, in a subprocess); the sweep process and the ablation queue then start the real
detached trainers on the embedded digits data, two epochs each.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Checkbox, DataTable, Input, Select, Static, TextArea
from tui_fixtures import kill_trainers, make_app, screen_text, settle, sync, wait_for

from engine.store import RunStore
from engine.sweep.docs import get_sweep
from engine.sweep.report import read_sweeps
from resnet_tui.screens.experiment_forms import AblationFormScreen, SweepFormScreen

pytestmark = pytest.mark.slow  # real training: `make test` runs it, `make test-fast` does not

TRAIN_TIMEOUT = 420.0  # two 20-epoch digits runs on a loaded 2-core machine


def _kill_sweeps(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    docs, _ = read_sweeps(store)
    for doc in docs:
        if doc.get("status") == "running" and isinstance(doc.get("pid"), int):
            try:
                os.kill(doc["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass
    kill_trainers(runs_dir)


def _preview(app: Any) -> str:
    return str(app.screen.query_one("#form-preview", Static).render())


async def _fill_sweep(pilot: Any, lines: str, sets: str = "", mode: str = "grid") -> None:
    screen = pilot.app.screen
    assert isinstance(screen, SweepFormScreen)
    screen.query_one("#sweep-mode", Select).value = mode
    await settle(pilot)
    screen.query_one("#sweep-lines", TextArea).load_text(lines)
    screen.query_one("#sweep-sets", Input).value = sets
    await settle(pilot)


@sync
async def test_the_sweep_form_previews_and_a_refused_request_records_nothing(
    runs_dir: Path,
) -> None:
    app = make_app(runs_dir, start_mode="sweeps", clock=None)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        assert "Press n to start one" in screen_text(app)
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, SweepFormScreen)
        await _fill_sweep(pilot, "optim.lr=0.01,0.1,0.3\noptim.momentum=0.8,0.9")
        await settle(pilot, lambda: "6 trials" in _preview(app), what="the grid preview")
        assert "optim.lr in {0.01, 0.1, 0.3}" in _preview(app)
        await _fill_sweep(pilot, "optim.lr=0.01\noptim.lr=0.1")
        await settle(pilot, lambda: "swept twice" in _preview(app), what="the refusal")
        await _fill_sweep(pilot, "optim.lr=0.0001:0.1:log\noptim.name=sgd,adam", mode="search")
        await settle(pilot, lambda: "8 trials" in _preview(app), what="the search preview")
        assert "(float, log)" in _preview(app)
        # only the CLI can check the optimizer registry (it needs torch): its error line
        # comes back into the form, which stays open
        await _fill_sweep(pilot, "optim.name=sgd,nosuchopt", sets="train.epochs=1")
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: "nosuchopt" in _preview(app), 120, "the CLI's refusal")
        assert isinstance(app.screen, SweepFormScreen)
        assert "unknown optimizer" in _preview(app)
        assert "Traceback" not in _preview(app)
        await pilot.press("escape")
        await settle(pilot)
        assert app.current_mode == "sweeps" and not isinstance(app.screen, SweepFormScreen)
    assert read_sweeps(RunStore(runs_dir)) == ([], [])
    assert RunStore(runs_dir).list_runs() == []


@sync
async def test_a_sweep_started_stopped_and_resumed_from_the_console(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    app = make_app(runs_dir, start_mode="sweeps", clock=None)
    try:
        async with app.run_test(size=(100, 40)) as pilot:
            await settle(pilot)
            await pilot.press("n")
            await settle(pilot)
            await _fill_sweep(pilot, "optim.lr=0.05,0.1", sets="train.epochs=2")
            await settle(pilot, lambda: "2 trials" in _preview(app), what="the preview")
            await pilot.press("ctrl+s")
            await wait_for(
                pilot, lambda: not isinstance(app.screen, SweepFormScreen), 120, "the start"
            )
            await settle(pilot)
            assert app.current_mode == "sweeps"
            sweeps, _ = read_sweeps(store)
            assert len(sweeps) == 1
            name = sweeps[0]["name"]
            assert app.screen.selected == name  # type: ignore[attr-defined]

            def status() -> str:
                return str(get_sweep(store, name)["status"])

            def trials(state: str) -> int:
                docs = [d for d in store.list_runs() if (d.get("sweep") or {}).get("name") == name]
                return sum(1 for d in docs if d["status"] == state)

            await wait_for(pilot, lambda: trials("running") >= 1, 120, "a trial to start")
            await pilot.press("x")
            await settle(pilot)
            await pilot.press("y")
            await wait_for(pilot, lambda: status() == "stopped", 120, "the sweep to stop")
            assert trials("finished") < 2
            await pilot.press("r")
            await wait_for(pilot, lambda: status() == "running", 60, "the resume")
            await wait_for(pilot, lambda: status() == "finished", TRAIN_TIMEOUT, "the end")
            await wait_for(pilot, lambda: "2 finished" in screen_text(app), 30, "the view")
    finally:
        _kill_sweeps(runs_dir)
    assert trials("finished") == 2


@sync
async def test_an_ablation_started_compared_stopped_and_resumed_from_the_console(
    runs_dir: Path,
) -> None:
    store = RunStore(runs_dir)
    app = make_app(runs_dir, start_mode="presets", clock=None)
    try:
        async with app.run_test(size=(100, 40)) as pilot:
            await settle(pilot)
            await pilot.press("a")  # on the first preset; the form can pick another
            await settle(pilot)
            form = app.screen
            assert isinstance(form, AblationFormScreen)
            form.query_one("#form-preset", Select).value = "digits-quick"
            form.query_one("#remove-bn", Checkbox).value = False
            # enough epochs that the stop below lands while the base run trains
            form.query_one("#ablate-sets", Input).value = "train.epochs=20"
            await settle(pilot)
            assert "2 runs of digits-quick" in _preview(app)
            form.query_one("#remove-relu", Checkbox).value = False
            await settle(pilot)
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert "tick at least one component" in _preview(app)
            form.query_one("#remove-relu", Checkbox).value = True
            await pilot.press("ctrl+s")
            await wait_for(
                pilot, lambda: not isinstance(app.screen, AblationFormScreen), 120, "the start"
            )
            await settle(pilot)
            assert app.current_mode == "compare"
            docs = store.list_runs()
            assert sorted(d["ablation"]["removed"] for d in docs) == ["base", "relu"]
            assert app.state.selection == {d["id"] for d in docs}
            base = next(d["id"] for d in docs if d["ablation"]["removed"] == "base")
            other = next(d["id"] for d in docs if d["ablation"]["removed"] == "relu")

            def status(run_id: str) -> str:
                return str(store.get(run_id)["status"])

            await wait_for(pilot, lambda: status(base) == "running", 120, "the base run")
            await pilot.press("4")  # the Runs view: x stops the running run, and the queue
            await settle(pilot)
            table = app.screen.query_one("#runs-table", DataTable)
            table.move_cursor(row=table.get_row_index(base))
            await settle(pilot)
            assert store.get(base)["epoch"] < 20, "the base run ended before the stop"
            await pilot.press("x")
            await settle(pilot)
            await pilot.press("y")  # x asks first
            await wait_for(pilot, lambda: status(base) == "stopped", 120, "the stop")
            await wait_for(pilot, lambda: status(other) == "stopped", 60, "the queue to stop")
            await pilot.press("6")  # the Compare view holds the group's runs
            await settle(pilot)
            picker = app.screen.query_one("#compare-list", DataTable)
            marks = [str(picker.get_cell(run_id, "sel")) for run_id in (base, other)]
            assert marks == ["[x]", "[x]"]
            await pilot.press("4", "enter")  # the base run's detail: g resumes the ablation
            await settle(pilot)
            await pilot.press("g")
            await wait_for(pilot, lambda: status(other) == "finished", TRAIN_TIMEOUT, "the end")
    finally:
        kill_trainers(runs_dir)
    assert status(base) == "finished" and status(other) == "finished"
    assert store.get(base)["test"]["test_acc"] > 0.5
