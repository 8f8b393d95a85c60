"""Snapshots of every view over the fixture run store (pytest-textual-snapshot).

Regenerate with ``pytest tests/test_tui_snapshots.py --snapshot-update`` and look at the SVGs
in tests/__snapshots__/ before committing them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Sparkline
from tui_fixtures import build_store, make_app, settle

from resnet_tui.app import ResnetApp
from resnet_tui.screens.detail import RunDetailScreen

pytestmark = pytest.mark.slow  # whole screens drawn and compared (make test runs them)


@pytest.fixture
def store_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # paths on screen are relative: "runs"
    build_store(tmp_path / "runs")
    return "runs"


def _app(runs: str, mode: str | None = None) -> ResnetApp:
    return make_app(runs, start_mode=mode)


async def _settled(pilot: Pilot[Any]) -> None:
    await settle(pilot)


def test_welcome(snap_compare: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert snap_compare(_app("runs"), terminal_size=(80, 24), run_before=_settled)


def test_runs(snap_compare: Any, store_dir: str) -> None:
    assert snap_compare(_app(store_dir, "runs"), terminal_size=(120, 24), run_before=_settled)


def test_runs_80x24_sorted_and_filtered(snap_compare: Any, store_dir: str) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("s", "s", "s", "s")  # sort by best val, descending
        await pilot.press("slash", *"digits", "enter")
        await settle(pilot)

    assert snap_compare(_app(store_dir, "runs"), terminal_size=(80, 24), run_before=run_before)


def test_monitor(snap_compare: Any, store_dir: str) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        def sparks_filled() -> bool:
            spark = pilot.app.screen.query_one("#spark-val_acc", Sparkline)
            return bool(spark.data)

        await settle(pilot, sparks_filled, what="the monitor's sparklines")

    assert snap_compare(_app(store_dir, "monitor"), terminal_size=(80, 24), run_before=run_before)


def _detail(tab: str, run: str = "20250312-180000-digits-quick-0001") -> Any:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        pilot.app.push_screen(RunDetailScreen(run))
        await settle(pilot)
        if tab:
            await pilot.press(tab)

        def drawn() -> bool:
            screen = pilot.app.screen
            return isinstance(screen, RunDetailScreen) and bool(screen._epochs)

        await settle(pilot, drawn, what="the run's curves")

    return run_before


def test_detail_curves(snap_compare: Any, store_dir: str) -> None:
    assert snap_compare(_app(store_dir, "runs"), terminal_size=(120, 36), run_before=_detail(""))


def test_detail_confusion_80x24(snap_compare: Any, store_dir: str) -> None:
    assert snap_compare(_app(store_dir, "runs"), terminal_size=(80, 24), run_before=_detail("m"))


def test_detail_confusion_cifar(snap_compare: Any, store_dir: str) -> None:
    run = "20250313-080000-resnet24-mixup-0003"
    assert snap_compare(
        _app(store_dir, "runs"), terminal_size=(120, 36), run_before=_detail("m", run)
    )


def test_detail_config(snap_compare: Any, store_dir: str) -> None:
    assert snap_compare(_app(store_dir, "runs"), terminal_size=(80, 24), run_before=_detail("f"))


def test_detail_unreadable_run(snap_compare: Any, store_dir: str) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        pilot.app.push_screen(RunDetailScreen("20250314-171500-half-written-0008"))
        await settle(pilot)

    assert snap_compare(_app(store_dir, "runs"), terminal_size=(80, 24), run_before=run_before)


def test_presets(snap_compare: Any, store_dir: str) -> None:
    assert snap_compare(_app(store_dir, "presets"), terminal_size=(80, 24), run_before=_settled)


def test_best_stats(snap_compare: Any, store_dir: str) -> None:
    def has_rows(app: ResnetApp) -> Any:
        return lambda: app.screen.query_one("#best-table", DataTable).row_count > 0

    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, ResnetApp)
        await settle(pilot, has_rows(app), what="the best-stats rows")

    assert snap_compare(_app(store_dir, "best"), terminal_size=(100, 24), run_before=run_before)


def _compare(tab: str) -> Any:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, ResnetApp)
        await settle(pilot)
        # picked in this order: the first is Compare's baseline
        app.state.selection.update(
            ["20250312-180000-digits-quick-0001", "20250312-190000-digits-lr05-0002"]
        )
        app.switch_mode("compare")
        await settle(pilot)
        if tab:
            await pilot.press(tab)
            await settle(pilot)

    return run_before


def test_compare_curves(snap_compare: Any, store_dir: str) -> None:
    assert snap_compare(_app(store_dir, "runs"), terminal_size=(100, 30), run_before=_compare(""))


def test_compare_config(snap_compare: Any, store_dir: str) -> None:
    assert snap_compare(_app(store_dir, "runs"), terminal_size=(80, 24), run_before=_compare("f"))


def _counted(app: ResnetApp) -> Any:
    """The registries are in and the form's parameter count is shown."""
    return lambda: (
        app.state.registries is not None
        and "params 308,074" in str(app.screen.query_one("#launch-params").render())
    )


def test_launch_form(snap_compare: Any, store_dir: str) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, ResnetApp)
        await settle(pilot, _counted(app), timeout=90, what="the registries and the param count")

    assert snap_compare(_app(store_dir, "launch"), terminal_size=(80, 24), run_before=run_before)


def test_launch_data_preview_80x24(snap_compare: Any, store_dir: str) -> None:
    """ctrl+g: the form's digits per class in half-blocks, plain then augmented."""

    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, ResnetApp)
        await settle(pilot, _counted(app), timeout=90, what="the registries and the param count")
        await pilot.press("ctrl+g")
        screen: Any = app.screen
        await settle(pilot, lambda: screen.preview.drawn is not None, what="the preview")

    assert snap_compare(_app(store_dir, "launch"), terminal_size=(80, 24), run_before=run_before)


def test_compare_stats_four_runs_120x36(snap_compare: Any, store_dir: str) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, ResnetApp)
        await settle(pilot)
        app.state.selection.update(r.id for r in app.state.runs[:4])
        app.switch_mode("compare")
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)

    assert snap_compare(_app(store_dir, "runs"), terminal_size=(120, 36), run_before=run_before)


def test_preset_asks_before_training_80x24(snap_compare: Any, store_dir: str) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("enter")  # the first preset
        await settle(pilot)

    assert snap_compare(_app(store_dir, "presets"), terminal_size=(80, 24), run_before=run_before)


def test_stop_asks_80x24(snap_compare: Any, store_dir: str) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, ResnetApp)
        await settle(pilot)
        live = "20250314-170000-digits-live-0007"
        table = app.screen.query_one("#runs-table", DataTable)
        table.move_cursor(row=table.get_row_index(live))
        await pilot.press("x")
        await settle(pilot)

    assert snap_compare(_app(store_dir, "runs"), terminal_size=(80, 24), run_before=run_before)


def test_sweep_form_80x24(snap_compare: Any, store_dir: str) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("w")
        await settle(pilot)

    assert snap_compare(_app(store_dir, "presets"), terminal_size=(80, 24), run_before=run_before)


@pytest.mark.slow  # waits on the helper's model check
def test_launch_form_lr_curve_80x24(snap_compare: Any, store_dir: str) -> None:
    """ctrl+y: the lr over the run under the form, which keeps rows of its own."""

    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, ResnetApp)
        await settle(pilot, _counted(app), timeout=90, what="the registries and the param count")
        await pilot.press("ctrl+y")
        await settle(pilot)

    assert snap_compare(_app(store_dir, "launch"), terminal_size=(80, 24), run_before=run_before)


def test_launch_form_focused_field_80x24(snap_compare: Any, store_dir: str) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, ResnetApp)
        await settle(pilot, _counted(app), timeout=90, what="the param count")
        await pilot.press("ctrl+n", "ctrl+n", "ctrl+n", "ctrl+n", "ctrl+n")  # Training
        await settle(pilot)
        await pilot.press("tab")  # epochs -> patience
        await settle(pilot)

    assert snap_compare(_app(store_dir, "launch"), terminal_size=(80, 24), run_before=run_before)
