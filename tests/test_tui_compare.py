"""Compare's baseline and its differences-only toggle (issue 14), driven with Pilot over the
fixture store: the baseline is the first pinned run among the compared ones, else the first
picked; it is the first column and is named "baseline"; ``d`` turns config, provenance and
final metrics between only what differs and everything; the stats carry each run's
difference from the baseline (points for accuracies)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static, TabbedContent
from tui_fixtures import build_store, make_app, settle, sync

from engine import api
from resnet_tui.app import ResnetApp
from resnet_tui.screens.compare import CompareScreen

QUICK = "20250312-180000-digits-quick-0001"  # test acc 96.94%
LR05 = "20250312-190000-digits-lr05-0002"  # test acc 94.71%, optim.lr 0.05, hflip

pytestmark = pytest.mark.slow  # Pilot: the console drives Compare through several polls


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    build_store(tmp_path / "runs")
    return tmp_path / "runs"


async def _compare(pilot: Pilot[Any], picks: tuple[str, ...], tab: str = "s") -> CompareScreen:
    app = pilot.app
    assert isinstance(app, ResnetApp)
    await settle(pilot)
    for run_id in picks:  # in this order, as space in the Runs view would
        app.state.selection.add(run_id)
    app.switch_mode("compare")
    await settle(pilot)
    await pilot.press(tab)
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, CompareScreen)
    return screen


def _columns(table: DataTable[Any]) -> list[str]:
    return [str(c.value) for c in table.columns][1:]


def _row(table: DataTable[Any], key: str) -> list[str]:
    return [str(cell) for cell in table.get_row(key)]


def _plain(static: Static) -> str:
    return str(static.render())


@sync
async def test_a_pinned_run_is_the_baseline_wherever_it_was_picked(store_dir: Path) -> None:
    api.pin_run(api.open_store(store_dir), LR05)
    app = make_app(store_dir, start_mode="runs")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await _compare(pilot, (QUICK, LR05))
        metrics = screen.query_one("#compare-metrics-table", DataTable)
        assert _columns(metrics) == [LR05, QUICK]
        assert "baseline: digits-lr05 (pinned)" in _plain(
            screen.query_one("#compare-metrics-note", Static)
        )
        assert _row(metrics, "best val acc")[2].endswith("+2.20 pp")


@sync
async def test_the_first_picked_is_the_baseline_and_d_shows_differing_or_all(
    store_dir: Path,
) -> None:
    app = make_app(store_dir, start_mode="runs")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await _compare(pilot, (QUICK, LR05), tab="f")
        config = screen.query_one("#compare-config-table", DataTable)
        metrics = screen.query_one("#compare-metrics-table", DataTable)
        assert _columns(metrics) == [QUICK, LR05]  # the baseline first, then as picked
        note = _plain(screen.query_one("#compare-metrics-note", Static))
        assert "baseline: digits-quick (first picked)" in note
        test_acc = _row(metrics, "test acc")
        assert test_acc[1] == "96.94%"  # the baseline: no difference
        assert test_acc[2] == "94.71% -2.23 pp"
        differing = [str(k.value) for k in config.rows]
        assert differing == [
            "augment.hflip",
            "optim.lr",
            "provenance",
            "provenance:created",
            "provenance:finished",
        ]
        assert _row(config, "optim.lr")[1:] == ["0.1", "0.05"]
        shown_metrics = [str(k.value) for k in metrics.rows]
        # equal in both (12 epochs, the same size, best epoch 12) is left out; status stays
        assert "params" not in shown_metrics and "best epoch" not in shown_metrics
        assert {"status", "best val acc", "test acc", "test loss"} <= set(shown_metrics)

        await pilot.press("d")
        await settle(pilot)
        assert screen.query_one(TabbedContent).active == "compare-config"
        everything = [str(k.value) for k in config.rows]
        assert len(everything) > 60 and set(differing) <= set(everything)
        assert "model.name" in everything and "provenance:params" in everything
        assert _row(config, "model.name")[0].strip() == "model.name"  # no ≠: the same
        assert _row(config, "optim.lr")[0].startswith("≠")
        all_metrics = [str(k.value) for k in metrics.rows]
        assert {"params", "best epoch", "epochs"} <= set(all_metrics)
        assert _row(metrics, "params")[1:] == ["308.1k", "308.1k +0"]
        assert "d: differing only" in _plain(screen.query_one("#compare-config-note", Static))

        await pilot.press("d")
        await settle(pilot)
        assert [str(k.value) for k in config.rows] == differing
        assert [str(k.value) for k in metrics.rows] == shown_metrics
