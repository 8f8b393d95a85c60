"""The console's multi-run experiments: stacking from the Runs table (a real ``resnet-tui stack``
process), the Stacking and Ablation tabs of the run detail, and the Sweeps view.

The stacked run is made from two real one-epoch digits runs, trained once per test process;
everything else reads the experiment fixtures of ``tui_fixtures.add_experiments`` (files as
engine.stacking, engine.ablation and engine.sweep write them).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static, TabbedContent, TextArea
from tui_fixtures import (
    ABLATION_BASE,
    ABLATION_GROUP,
    STACKED,
    SWEEP_GRID,
    SWEEP_SEARCH,
    Notes,
    build_experiment_store,
    build_store,
    make_app,
    screen_text,
    settle,
    sync,
    wait_for,
)

from engine import api
from engine.store import RunStore
from resnet_tui.app import ResnetApp
from resnet_tui.screens.detail import RunDetailScreen
from resnet_tui.screens.dialogs import NameRunScreen
from resnet_tui.screens.experiment_forms import SweepFormScreen
from resnet_tui.screens.sweeps import SweepsScreen
from resnet_tui.widgets.charts import CurvePlot
from resnet_tui.widgets.param_plot import ParamPlot

QUICK = "20250312-180000-digits-quick-0001"
STOPPED = "20250313-120000-resnet18-basic-0004"
NO_RELU = "20250313-201000-digits-ablate-no-relu-00b2"
STACK_TIMEOUT = 150.0


@pytest.fixture
def experiment_runs(tmp_path: Path) -> Path:
    build_experiment_store(tmp_path / "runs")
    return tmp_path / "runs"


@pytest.fixture(scope="module")
def trained_pair(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two finished one-epoch digits runs (best.pt and all), trained side by side."""
    runs = tmp_path_factory.mktemp("pair") / "runs"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    train = [sys.executable, "-m", "resnet_tui", "--runs-dir", str(runs), "train", "digits-quick"]
    trainers = [
        subprocess.Popen(
            [*train, "--set", "train.epochs=1", "--set", f"train.seed={seed}", "--name", name],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            cwd=REPO,
        )
        for seed, name in ((1, "member-a"), (2, "member-b"))
    ]
    for trainer in trainers:
        _, err = trainer.communicate(timeout=STACK_TIMEOUT)
        assert trainer.returncode == 0, err.decode()[-2000:]
    return runs


def _select(pilot: Pilot[Any], run_ids: list[str]) -> Any:
    async def select() -> None:
        table = pilot.app.screen.query_one("#runs-table", DataTable)
        for run_id in run_ids:
            table.move_cursor(row=table.get_row_index(run_id))
            await pilot.press("space")
        await settle(pilot)

    return select()


def _plain(app: ResnetApp, selector: str, width: int = 118) -> str:
    """What a Static shows, as plain text (spacing kept, unlike the screenshot's)."""
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(app.screen.query_one(selector, Static).content)
    return console.export_text()


# ---------------------------------------------------------------- stacking from the Runs table


@pytest.mark.slow
@sync
async def test_stacking_from_the_runs_table_creates_a_stacked_run(
    trained_pair: Path, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(trained_pair, runs)
    store = RunStore(runs)
    docs = sorted(store.list_runs(), key=lambda d: (str(d["created"]), d["id"]))
    members = [d["id"] for d in docs]  # oldest first: the order the console stacks them in
    first, second = (d["name"] for d in docs)  # the pair trains side by side: either is first
    app = make_app(runs, start_mode="runs", clock=None)
    notes = Notes()
    async with app.run_test(size=(120, 36), message_hook=notes.hook) as pilot:
        await settle(pilot)
        await _select(pilot, members)
        await pilot.press("k")  # asks first, with the members and an editable name
        await settle(pilot)
        assert isinstance(app.screen, NameRunScreen)
        message = str(app.screen.query_one(".dialog-message", Static).content)
        assert {first, second} == {"member-a", "member-b"}
        assert f"m1  {first}" in message and f"m2  {second}" in message
        name_input = app.screen.query_one("#run-name", Input)
        assert name_input.value == f"stacked-{first}-{second}"
        name_input.value = "pair"
        await pilot.press("enter")
        await wait_for(pilot, lambda: notes.titled("stacking"), 10, "the stacking notice")

        def stacked() -> api.RunRecord | None:
            return next((d for d in app.state.runs if d.model == "stacked"), None)

        # The stacked run is recorded at once (queued), then trains in its own worker.
        await wait_for(pilot, stacked, 10, "the stacked run in the Runs view")
        queued = stacked()
        assert queued is not None and queued.id in notes.titled("stacking")[0]
        await wait_for(
            pilot,
            lambda: (r := stacked()) is not None and r.status == "finished",
            STACK_TIMEOUT,
            "the stack to end",
        )
        doc = stacked()
        assert doc is not None and doc.stack is not None, doc
        assert list(doc.stack.members) == members and doc.name == "pair"
        table = app.screen.query_one("#runs-table", DataTable)
        assert "stacked" in str(table.get_cell(doc.id, "model"))
        # Its detail has the Stacking tab, filled from stacking.json.
        table.move_cursor(row=table.get_row_index(doc.id))
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("k")
        await settle(pilot, lambda: "member-a" in _plain(app, "#stacking-report"))
        text = _plain(app, "#stacking-report")
        assert "member-a" in text and "member-b" in text and "stacked ensemble" in text
        assert "each member's share of each class" in text
    report = json.loads((runs / doc.id / "stacking.json").read_text())
    assert [m["id"] for m in report["members"]] == members
    assert not (runs / "stacks").exists()  # no CLI process and no log to dig the result from


@sync
async def test_a_refused_stack_shows_the_engine_message_and_creates_nothing(
    tmp_path: Path,
) -> None:
    store = build_store(tmp_path / "runs")
    (tmp_path / "runs" / QUICK / "best.pt").write_bytes(b"")  # it passes; the stopped run not
    before = {d["id"] for d in store.list_runs()}
    app = make_app(tmp_path / "runs", start_mode="runs")
    notes = Notes()
    async with app.run_test(size=(120, 36), message_hook=notes.hook) as pilot:
        await settle(pilot)
        await _select(pilot, [QUICK])
        await pilot.press("k")  # one run: refused here, no process
        await settle(pilot)
        assert notes.saying("two or more finished runs")
        assert not notes.titled("stacking")
        await _select(pilot, [STOPPED])
        assert screen_text(app).count("●") == 2  # the marks are drawn (one row redrawn each)
        await pilot.press("k", "escape")  # the question, cancelled: nothing starts
        await settle(pilot)
        assert not notes.titled("stacking") and not isinstance(app.screen, NameRunScreen)
        await pilot.press("k", "enter")
        await wait_for(pilot, lambda: notes.titled("not stacked"), 60, "the refusal")
        message = notes.titled("not stacked")[0]
        assert STOPPED in message and "is stopped, not finished" in message, message
        assert not message.startswith("error:")
        await settle(pilot)
        assert {d.id for d in app.state.runs} == before
    assert {d["id"] for d in RunStore(tmp_path / "runs").list_runs()} == before


# ---------------------------------------------------------------- run detail tabs


@sync
async def test_stacking_tab_renders_the_members_and_contributions(experiment_runs: Path) -> None:
    app = make_app(experiment_runs, start_mode="runs")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        app.push_screen(RunDetailScreen(QUICK))
        await settle(pilot)
        text = screen_text(app)
        assert "Stacking" not in text and "Ablation" not in text  # neither tab nor key
        await pilot.press("escape")
        app.push_screen(RunDetailScreen(STACKED))
        await settle(pilot)
        await pilot.press("k")
        await settle(pilot)
        assert app.screen.query_one(TabbedContent).active == "stacking"
        text = " ".join(_plain(app, "#stacking-report").split())
        for expected in (
            "m1 digits-quick resnet-digits 95.79% 96.94% 48.2%",
            "m2 digits-lr05 resnet-digits 93.59% 94.71% 51.8%",
            "ens stacked ensemble stacked 98.33% 97.77%",
            "+0.83 points of test accuracy over its best member",
            "m1 digits-quick 58 41 52 49 73 50 36 55 61 7 48.20%",
            "m2 digits-lr05 42 59 48 51 27 50 64 45 39 93 51.80%",
            "≥80%",
        ):
            assert expected in text, expected


@sync
async def test_ablation_tab_shows_the_group_against_its_base(experiment_runs: Path) -> None:
    store = RunStore(experiment_runs)
    base, no_relu = store.get(ABLATION_BASE), store.get(NO_RELU)
    drop = 100 * (no_relu["best"]["val_acc"] - base["best"]["val_acc"])
    app = make_app(experiment_runs, start_mode="runs")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        app.push_screen(RunDetailScreen(NO_RELU))
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert app.screen.query_one(TabbedContent).active == "ablation"
        text = _plain(app, "#ablation-report")
        assert ABLATION_GROUP in text
        assert "(base)" in text and "→ relu" in text and "bn" in text
        assert f"{drop:+.2f}" in text and drop < 0


# ---------------------------------------------------------------- the Sweeps view


def _trial_ids(screen: SweepsScreen) -> list[str]:
    return [str(k.value) for k in screen.query_one("#sweep-trials", DataTable).rows]


@pytest.mark.slow
@sync
async def test_sweeps_view_lists_sweeps_trials_and_the_best_trial(experiment_runs: Path) -> None:
    app = make_app(experiment_runs, start_mode="runs")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("7")
        await settle(pilot, lambda: app.screen.query_one("#sweeps-list", DataTable).row_count)
        screen = app.screen
        assert isinstance(screen, SweepsScreen)
        listing = screen.query_one("#sweeps-list", DataTable)
        assert [str(k.value) for k in listing.rows] == [SWEEP_GRID, SWEEP_SEARCH]
        assert str(listing.get_cell(SWEEP_GRID, "done")) == "5/6"
        trials = _trial_ids(screen)
        assert len(trials) == 6
        text = _plain(app, "#sweep-info")
        assert "best: trial 2 (optim.name=sgd, optim.lr=0.1)" in text
        assert "pruned" in text and "5 finished, 1 pruned of 6" in text
        # Accuracy against each swept key: optimizer as bars, learning rate as a log scatter.
        await pilot.press("p")
        await settle(pilot)
        plots = list(screen.query(ParamPlot))
        data = [plot._data for plot in plots]
        assert [d.key for d in data if d] == ["optim.name", "optim.lr"]
        assert data[0] is not None and data[0].categorical and data[0].labels == ("adam", "sgd")
        assert data[1] is not None and not data[1].categorical and data[1].log_x
        assert len(data[1].xs) == 6  # the pruned trial has a val accuracy too
        # h: the optimisation history, each trial and the best so far (finished trials)
        await pilot.press("h")
        await settle(pilot)
        history = screen.query_one("#sweep-history", CurvePlot)
        trial, best = history._series
        assert trial.scatter and list(trial.xs) == [0, 1, 2, 3, 4, 5]
        rows = {r["trial"]: r for r in screen._trial_rows}
        finished = [100 * rows[t]["val_acc"] for t in range(6) if rows[t]["status"] == "finished"]
        running = [max(finished[: i + 1]) for i in range(5)] + [max(finished)]
        assert sorted(set(best.ys)) == sorted(set(running))  # a step at each new best
        assert list(best.ys) == sorted(best.ys) and best.xs[-1] == 5
        assert best.ys[-1] == 100 * rows[2]["val_acc"]  # the best trial; trial 5 was pruned
        # The search sweep: one numeric key.
        await pilot.press("down")
        await settle(pilot)
        assert len(_trial_ids(screen)) == 5
        assert [p._data.key for p in screen.query(ParamPlot) if p._data] == ["optim.lr"]
        assert "1 diverged, 4 finished of 5" in _plain(app, "#sweep-info")
        # enter goes to the trials, enter again opens one; b opens the best trial.
        await pilot.press("up", "enter")
        await settle(pilot)
        assert app.focused is screen.query_one("#sweep-trials", DataTable)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RunDetailScreen) and app.screen.run_id == trials[0]
        await pilot.press("escape", "b")
        await settle(pilot)
        assert isinstance(app.screen, RunDetailScreen) and app.screen.run_id == trials[2]
        header = _plain(app, "#detail-header")
        assert f"sweep {SWEEP_GRID} · trial 2: optim.name=sgd, optim.lr=0.1" in header
        # n: a new sweep, its form filled from the selected sweep's request
        await pilot.press("escape", "n")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, SweepFormScreen)
        assert form.query_one("#sweep-lines", TextArea).text == (
            "optim.name=sgd,adam\noptim.lr=0.001,0.01,0.1"
        )
        assert form.query_one("#sweep-sets", Input).value == "train.epochs=12"
        await settle(pilot, lambda: "6 trials of digits-quick" in _plain(app, "#form-preview"))
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
        # c: the scored trials, best first, in the Compare view
        await pilot.press("c")
        await settle(pilot)
        assert app.current_mode == "compare" and app.state.selection == set(trials)
        await pilot.press("7")
        await settle(pilot)
        # d: the question says what goes; s deletes the sweep, its trials stay as runs
        grid_trials = [
            d.id for d in app.state.runs if d.sweep is not None and d.sweep.name == SWEEP_GRID
        ]
        screen.query_one("#sweeps-list", DataTable).focus()
        await pilot.press("d")
        await settle(pilot)
        assert f"Its {len(grid_trials)} trial runs stay" in screen_text(app)
        await pilot.press("s")
        await settle(
            pilot,
            lambda: [str(k.value) for k in listing.rows] == [SWEEP_SEARCH],
            what="the sweep to go",
        )
        assert not (experiment_runs / "sweeps" / f"{SWEEP_GRID}.json").exists()
        await settle(
            pilot,
            lambda: all(
                (link := app.state.runs_by_id[r].sweep) is not None and link.former == SWEEP_GRID
                for r in grid_trials
            ),
            what="the trials, kept as runs",
        )


@pytest.mark.slow
@sync
async def test_a_new_sweep_and_new_trials_show_up(tmp_path: Path) -> None:
    build_store(tmp_path / "runs")
    app = make_app(tmp_path / "runs", start_mode="sweeps")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "no sweeps in" in _plain(app, "#sweep-info")
        more = tmp_path / "more"
        build_experiment_store(more)
        shutil.copytree(more / "sweeps", tmp_path / "runs" / "sweeps")
        listing = app.screen.query_one("#sweeps-list", DataTable)
        await wait_for(pilot, lambda: listing.row_count == 2, 10, "the new sweeps")
        assert len(_trial_ids(app.screen)) == 0  # their trials are in another store
        store = RunStore(tmp_path / "runs")
        for folder in sorted(more.glob(f"*-{SWEEP_GRID}-t*")):
            shutil.copytree(folder, tmp_path / "runs" / folder.name)
        store.rebuild_index()
        await wait_for(pilot, lambda: len(_trial_ids(app.screen)) == 6, 10, "the trials")
        assert str(listing.get_cell(SWEEP_GRID, "done")) == "5/6"


@pytest.mark.slow
def test_the_experiment_views_never_import_torch_or_optuna(tmp_path: Path) -> None:
    build_experiment_store(tmp_path / "runs")
    code = f"""
import asyncio, sys
sys.path.insert(0, {str(REPO / "tests")!r})
from tui_fixtures import make_app, settle, STACKED, ABLATION_BASE
from resnet_tui.screens.detail import RunDetailScreen
async def main():
    app = make_app({str(tmp_path / "runs")!r}, start_mode="sweeps")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        await pilot.press("a")  # the analysis: its importance comes from the helper
        await settle(pilot)
        assert app.screen.importance is not None, app.screen.importance_problem
        await pilot.press("escape")
        await settle(pilot)
        for run, key in ((STACKED, "k"), (ABLATION_BASE, "a")):
            app.push_screen(RunDetailScreen(run))
            await settle(pilot)
            await pilot.press(key)
            await settle(pilot)
asyncio.run(main())
# the engine API tabulates the views (torch-free); the makers must not load
print(sorted(m for m in sys.modules
             if m in ("torch", "optuna", "engine.stacking.fit", "engine.models", "engine.trainer")))
"""
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


# ---------------------------------------------------------------- snapshots


@pytest.fixture
def snapshot_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    build_experiment_store(tmp_path / "runs")
    return "runs"


def _sweeps(keys: str) -> Any:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot, lambda: pilot.app.screen.query_one("#sweeps-list").row_count)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run_before


def test_snapshot_sweeps_trials(snap_compare: Any, snapshot_runs: str) -> None:
    app = make_app(snapshot_runs, start_mode="sweeps")
    assert snap_compare(app, terminal_size=(80, 24), run_before=_sweeps(""))


def test_snapshot_sweeps_plots(snap_compare: Any, snapshot_runs: str) -> None:
    app = make_app(snapshot_runs, start_mode="sweeps")
    assert snap_compare(app, terminal_size=(80, 24), run_before=_sweeps("p"))


def _detail(run_id: str, key: str) -> Any:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        pilot.app.push_screen(RunDetailScreen(run_id))
        await settle(pilot)
        await pilot.press(key)
        await settle(pilot)

    return run_before


@pytest.mark.slow  # a snapshot (make test-fast stays under 90 s)
def test_snapshot_stacking_tab(snap_compare: Any, snapshot_runs: str) -> None:
    app = make_app(snapshot_runs, start_mode="runs")
    assert snap_compare(app, terminal_size=(80, 24), run_before=_detail(STACKED, "k"))


@pytest.mark.slow  # a snapshot (make test-fast stays under 90 s)
def test_snapshot_ablation_tab(snap_compare: Any, snapshot_runs: str) -> None:
    app = make_app(snapshot_runs, start_mode="runs")
    assert snap_compare(app, terminal_size=(120, 36), run_before=_detail(NO_RELU, "a"))


def test_a_log_axis_always_has_labelled_ticks_inside_the_data() -> None:
    """plotext draws no tick outside the data: a search over less than two decades showed an
    empty axis (found by a newcomer's trial)."""
    from resnet_tui.widgets.param_plot import log_ticks

    assert log_ticks((0.002, 0.01, 0.05, 0.2)) == ([0.01, 0.1], ["1e-2", "1e-1"])
    ticks, labels = log_ticks((0.011, 0.05, 0.09))
    assert labels == ["0.011", "0.031", "0.09"] and ticks[0] == 0.011 and ticks[-1] == 0.09
    assert log_ticks((0.5, 2.0, 20.0)) == ([1.0, 10.0], ["1", "1e1"])
    assert log_ticks((0.01, 0.01)) == ([0.01], ["0.01"])
