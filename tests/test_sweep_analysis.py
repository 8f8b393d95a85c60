"""Sweep analysis: parallel coordinates of a sweep's trials (normalised axes, the objective
last) and parameter importance (Optuna's seeded fANOVA), through the engine API, the CLI
(``sweeps show NAME --importance``) and the console (``a`` in the Sweeps view).

The sweeps are real store records: run folders and sweep documents as the engine writes them
(``tui_fixtures.add_run`` / ``sweep_document``), here a grid whose val accuracy is a function
of the learning rate alone.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len
from textual.pilot import Pilot
from textual.widgets import Static
from tui_fixtures import (
    FIXED_NOW,
    SWEEP_GRID,
    SWEEP_SEARCH,
    add_run,
    build_experiment_store,
    curves,
    make_app,
    screen_text,
    settle,
    sync,
    wait_for,
)
from typer.testing import CliRunner

from engine import api
from engine.api import compute
from engine.fsio import atomic_write
from engine.presets import resolve
from engine.store import RunStore
from resnet_tui.cli import app as cli_app
from resnet_tui.palette import console_commands
from resnet_tui.screens.sweep_analysis import SweepAnalysisScreen
from resnet_tui.screens.sweeps import SweepsScreen
from resnet_tui.widgets.parallel_plot import ParallelPlot

runner = CliRunner()
SWEEP = "lr-decides"
LRS = (0.001, 0.01, 0.1, 1.0)
ACCURACY = {0.001: 0.62, 0.01: 0.81, 0.1: 0.95, 1.0: 0.40}  # the lr alone decides
NAMES = ("sgd", "adam")
PARAMS = [
    {"key": "optim.lr", "kind": "grid", "values": list(LRS)},
    {"key": "optim.name", "kind": "grid", "values": list(NAMES)},
    {"key": "train.epochs", "kind": "grid", "values": [12]},  # one value: no share
]


def sweep_document(
    name: str, params: list[dict[str, Any]], trials: int, mode: str = "grid"
) -> dict[str, Any]:
    """A finished sweep's document, as ``engine.sweep.study.create_sweep`` writes it."""
    return {
        "id": name,
        "name": name,
        "kind": "sweep",
        "mode": mode,
        "preset": "digits-quick",
        "spec": {
            "name": name,
            "preset": "digits-quick",
            "sets": [],
            "mode": mode,
            "params": params,
            "trials": trials,
            "prune": False,
            "prune_startup": 3,
            "seed": 0,
            "base": {},
        },
        "storage": f"runs/sweeps/{name}.journal",
        "status": "finished",
        "pid": None,
        "host": None,
        "created": FIXED_NOW.isoformat(timespec="seconds"),
        "started": None,
        "finished": None,
        "message": f"{trials} trials done",
    }


def add_sweep(
    root: Path,
    name: str,
    points: list[tuple[dict[str, Any], float, str]],
    params: list[dict[str, Any]] = PARAMS,
    mode: str = "grid",
) -> RunStore:
    """A sweep over ``params`` whose trials are ``(point, val acc, status)``."""
    store = RunStore(root)
    digits, _ = resolve("digits-quick")
    (root / "sweeps").mkdir(parents=True, exist_ok=True)
    doc = sweep_document(name, params, len(points), mode)
    atomic_write(root / "sweeps" / f"{name}.json", json.dumps(doc).encode("utf-8"))
    for number, (point, acc, status) in enumerate(points):
        created = FIXED_NOW - timedelta(hours=2) + timedelta(minutes=number)
        seed = int(1000 * point["optim.lr"])  # the same curve for the same lr: acc is lr's alone
        add_run(
            store,
            f"{created:%Y%m%d-%H%M%S}-{name}-t{number}-{number:04x}",
            digits.replace(point),
            name=f"{name}-t{number}",
            preset="digits-quick",
            status="stopped" if status == "pruned" else status,
            created=created,
            records=curves(12 if status == "finished" else 3, seed, acc),
            test_acc=acc if status == "finished" else None,
            extra={"sweep": {"name": name, "trial": number, "params": point,
                             "pruned": status == "pruned"}},
        )  # fmt: skip
    store.rebuild_index()
    return RunStore(root)


def grid_points() -> list[tuple[dict[str, Any], float, str]]:
    points = [
        ({"optim.lr": lr, "optim.name": opt, "train.epochs": 12}, ACCURACY[lr], "finished")
        for lr in LRS
        for opt in NAMES
    ]
    points.append(({"optim.lr": 0.1, "optim.name": "sgd", "train.epochs": 12}, 0.5, "pruned"))
    return points


@pytest.fixture(scope="module")
def grid_store(tmp_path_factory: pytest.TempPathFactory) -> RunStore:
    """Read only by the tests (made once)."""
    return add_sweep(tmp_path_factory.mktemp("grid") / "runs", SWEEP, grid_points())


# ---------------------------------------------------------------- parallel coordinates


def test_parallel_coordinates_normalise_every_axis(grid_store: RunStore) -> None:
    data = api.sweep_parallel(grid_store, SWEEP)
    lr, name, epochs, objective = data.axes
    assert (lr.key, lr.kind, lr.low, lr.high, lr.log) == ("optim.lr", "numeric", 0.001, 1.0, True)
    assert (name.kind, name.levels) == ("categorical", ("sgd", "adam"))
    assert (epochs.kind, epochs.low, epochs.high) == ("numeric", 12.0, 12.0)
    assert objective.kind == "objective"
    assert len(data.lines) == 8  # the finished trials; the pruned one is left out, named
    assert [(t.trial, t.status) for t in data.left_out] == [(8, "pruned")]
    finals = {line.params["optim.lr"]: line.objective for line in data.lines}
    assert objective.low == min(finals.values()) and objective.high == max(finals.values())
    for line in data.lines:
        assert all(0.0 <= y <= 1.0 for y in line.ys)
        # four decades, log-scaled: one step of a third per decade
        assert line.ys[0] == pytest.approx(LRS.index(line.params["optim.lr"]) / 3)
        assert line.ys[1] == NAMES.index(line.params["optim.name"])  # levels at 0 and 1
        assert line.ys[2] == 0.5  # one value: the middle
        span = objective.high - objective.low
        assert line.ys[3] == pytest.approx((line.objective - objective.low) / span)
    assert [line.objective for line in data.lines] == sorted(finals[lr] for lr in LRS for _ in "ab")
    best = data.best
    assert best is not None and best.params["optim.lr"] == 0.1 and best.ys[3] == 1.0


def test_a_linear_range_and_a_narrow_one() -> None:
    """A float range that is not log and spans less than two decades stays linear; the
    objective's axis runs from the worst to the best trial."""
    params = [{"key": "optim.momentum", "kind": "float", "low": 0.5, "high": 0.99, "log": False}]
    rows = [
        {"trial": i, "run": f"r{i}", "status": "finished", "params": {"optim.momentum": m},
         "val_acc": acc}
        for i, (m, acc) in enumerate(((0.5, 0.8), (0.7, 0.9), (0.9, 0.85)))
    ]  # fmt: skip
    data = api.parallel_coordinates(params, rows)
    axis = data.axes[0]
    assert (axis.low, axis.high, axis.log) == (0.5, 0.9, False)
    by_trial = {line.trial: line.ys for line in data.lines}
    assert by_trial[1] == pytest.approx((0.5, 1.0))
    assert by_trial[2] == pytest.approx((1.0, 0.5))
    assert api.log_axis({}, [0.001, 0.1]) and not api.log_axis({}, [0.002, 0.1])


# ---------------------------------------------------------------- importance


def test_the_key_that_decides_gets_the_importance(grid_store: RunStore) -> None:
    found = compute.sweep_importance(grid_store, SWEEP)
    assert found.message == "" and found.source == "runs" and found.trials == 8
    shares = {p.key: p.importance for p in found.params}
    assert [p.key for p in found.params] == ["optim.lr", "optim.name", "train.epochs"]
    assert shares["optim.lr"] is not None and shares["optim.lr"] > 0.9
    assert shares["optim.name"] is not None and shares["optim.name"] < 0.05
    assert shares["train.epochs"] is None  # one value: no share, listed last
    assert [(t.trial, t.status) for t in found.left_out] == [(8, "pruned")]
    assert compute.sweep_importance(grid_store, SWEEP) == found  # seeded: the same numbers
    assert api.Importance.from_json(json.loads(json.dumps(found.to_json()))) == found


def test_too_few_finished_trials_is_a_message_not_an_error(tmp_path: Path) -> None:
    points = grid_points()[:2]
    points[1] = (points[1][0], 0.7, "failed")
    store = add_sweep(tmp_path / "runs", "early", points)
    found = compute.sweep_importance(store, "early")
    assert found.message == (
        "sweep early: parameter importance needs at least 2 finished trials with a val "
        "accuracy, and it has 1; look again when more have finished"
    )
    assert found.trials == 1 and all(p.importance is None for p in found.params)
    assert [(t.trial, t.status) for t in found.left_out] == [(1, "failed")]


def test_keys_that_took_one_value_explain_nothing(tmp_path: Path) -> None:
    points = [
        ({"optim.lr": 0.1, "optim.name": "sgd", "train.epochs": 12}, acc, "finished")
        for acc in (0.9, 0.8)
    ]
    store = add_sweep(tmp_path / "runs", "flat", points)
    found = compute.sweep_importance(store, "flat")
    assert "every swept key took one value over its 2 finished trials" in found.message
    assert all(p.importance is None for p in found.params)


def test_a_value_outside_the_declared_grid_still_counts(tmp_path: Path) -> None:
    """A sweep document edited by hand (its grid no longer lists a value a trial ran with):
    that key is taken over the values the trials took."""
    declared = [{"key": "optim.lr", "kind": "grid", "values": [0.001, 0.01]}]
    points = [({"optim.lr": lr}, ACCURACY[lr], "finished") for lr in (0.001, 0.01, 0.1)]
    store = add_sweep(tmp_path / "runs", "edited", points, declared)
    found = compute.sweep_importance(store, "edited")
    assert (found.message, found.trials) == ("", 3)
    assert [(p.key, p.importance) for p in found.params] == [("optim.lr", 1.0)]
    data = api.sweep_parallel(store, "edited")
    assert data.axes[0].low == 0.001 and data.axes[0].high == 0.1


def test_a_search_reads_its_study_with_every_machines_trials(tmp_path: Path) -> None:
    """A search whose Optuna study is stored: its complete trials count, those another
    machine ran too (they have no run in this store); a grid, or a study that is gone, falls
    back to the trial runs (and no journal file is made)."""
    import optuna

    from engine.sweep.docs import default_storage
    from engine.sweep.study import distributions, open_study

    search = [{"key": "optim.lr", "kind": "float", "low": 1e-4, "high": 1.0, "log": True}]
    points = [({"optim.lr": lr}, acc, "finished") for lr, acc in ((0.001, 0.6), (0.1, 0.9))]
    store = add_sweep(tmp_path / "runs", "search", points, search, "search")
    journal = Path(default_storage(store, "search"))
    assert compute.sweep_importance(store, "search").source == "runs"
    assert not journal.exists()
    spec = api.SweepSpec.from_dict(dict(api.get_sweep(store, "search").spec))
    study = open_study(spec, str(journal))
    dists = distributions(spec)
    for lr, acc, state in (
        (0.0003, 0.62, "complete"),
        (0.002, 0.9, "complete"),
        (0.02, 0.955, "complete"),
        (0.15, 0.97, "complete"),
        (0.05, 0.96, "complete"),  # another machine's
        (0.6, None, "pruned"),
    ):
        study.add_trial(
            optuna.trial.create_trial(
                params={"optim.lr": lr},
                distributions=dists,
                value=acc,
                state=optuna.trial.TrialState[state.upper()],
            )
        )
    found = compute.sweep_importance(store, "search")
    assert (found.source, found.trials, found.message) == ("study", 5, "")
    assert [(p.key, p.importance) for p in found.params] == [("optim.lr", 1.0)]
    assert [(t.trial, t.status) for t in found.left_out] == [(5, "pruned")]


# ---------------------------------------------------------------- the CLI


def cli(root: Path, width: int, *args: str) -> str:
    result = runner.invoke(cli_app, ["--runs-dir", str(root), *args], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    assert "…" not in result.output
    wide = [line for line in result.output.splitlines() if cell_len(line) > width]
    assert not wide, "\n".join(wide)
    return result.output


@pytest.mark.parametrize("width", (80, 60))
def test_sweeps_show_importance_prints_a_sorted_table(grid_store: RunStore, width: int) -> None:
    out = cli(grid_store.root, width, "sweeps", "show", SWEEP, "--importance")
    found = compute.sweep_importance(grid_store, SWEEP)
    table = out[out.index("parameter importance (fANOVA over its 8 finished trials)") :]
    rows = [line.split() for line in table.splitlines()[3:6]]
    assert [r[0] for r in rows] == ["optim.lr", "optim.name", "train.epochs"]
    assert rows[0][1] == f"{100 * (found.params[0].importance or 0):.1f}%"
    assert rows[0][2].startswith("█" * 18)  # the bar: 20 cells at 100%
    assert rows[2][1] == "-" and "one value" in table.splitlines()[5]
    assert "left out: trial 8 (pruned)" in table


def test_sweeps_show_importance_json_and_the_message(grid_store: RunStore, tmp_path: Path) -> None:
    out = cli(grid_store.root, 80, "sweeps", "show", SWEEP, "--importance", "--json")
    doc = json.loads(out)
    assert doc["importance"] == compute.sweep_importance(grid_store, SWEEP).to_json()
    assert doc["importance"]["params"][0]["key"] == "optim.lr"
    plain = cli(grid_store.root, 80, "sweeps", "show", SWEEP, "--json")
    assert "importance" not in json.loads(plain)
    early = add_sweep(tmp_path / "other", "early", grid_points()[:1])
    out = cli(early.root, 80, "sweeps", "show", "early", "--importance")
    assert "sweep early: parameter importance needs at least 2 finished trials" in out
    assert "Traceback" not in out


# ---------------------------------------------------------------- the console


@pytest.mark.slow
@sync
async def test_a_opens_the_analysis_of_the_selected_sweep(tmp_path: Path) -> None:
    build_experiment_store(tmp_path / "runs")
    app = make_app(tmp_path / "runs", start_mode="sweeps")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, lambda: app.screen.query_one("#sweeps-list").row_count)
        assert isinstance(app.screen, SweepsScreen) and app.screen.selected == SWEEP_GRID
        await pilot.press("a")
        screen = app.screen
        assert isinstance(screen, SweepAnalysisScreen)
        await wait_for(pilot, lambda: screen.importance is not None, 150, "the importance")
        await settle(pilot)
        assert screen.importance_problem == ""
        plot = screen.query_one(ParallelPlot)
        data = plot._data
        assert data is not None and [a.key for a in data.axes] == [
            "optim.name",
            "optim.lr",
            "val_acc",
        ]
        assert len(data.lines) == 5 and [t.status for t in data.left_out] == ["pruned"]
        text = screen_text(app)
        assert "parallel coordinates of 5 finished trials" in text
        assert "1 optim.name sgd|adam" in text and "2 optim.lr 0.001–0.1 (log)" in text
        found = compute.sweep_importance(app.store, SWEEP_GRID)
        assert screen.importance == found  # the helper's answer is the CLI's
        shown = str(screen.query_one("#analysis-importance", Static).content)
        for p in found.params:
            assert p.key in shown and f"{100 * (p.importance or 0):.1f}%" in shown
        await pilot.press("a")  # a again (or escape): back to the Sweeps view
        await settle(pilot)
        assert isinstance(app.screen, SweepsScreen)
        # the command palette offers the same for every sweep
        command = next(
            c for c in console_commands(app) if c.title == f"Analyse sweep {SWEEP_SEARCH}"
        )
        command.run()
        await settle(pilot)
        assert isinstance(app.screen, SweepAnalysisScreen)
        assert app.screen.sweep_name == SWEEP_SEARCH
        assert "parallel coordinates of 4 finished trials" in screen_text(app)


@pytest.mark.slow
@pytest.mark.parametrize("size", ((80, 24), (120, 36)))
def test_snapshot_sweep_analysis(
    snap_compare: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    monkeypatch.chdir(tmp_path)
    build_experiment_store(tmp_path / "runs")

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot, lambda: pilot.app.screen.query_one("#sweeps-list").row_count)
        await pilot.press("a")
        screen = pilot.app.screen
        assert isinstance(screen, SweepAnalysisScreen)
        await wait_for(pilot, lambda: screen.importance or screen.importance_problem, 150, "it")
        await settle(pilot)
        assert screen.importance_problem == ""

    app = make_app("runs", start_mode="sweeps")
    assert snap_compare(app, terminal_size=size, run_before=run_before)
