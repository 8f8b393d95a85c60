"""The kept test predictions in the console: the run detail's ECE and reliability diagram,
Compare's ECE row and its flips between two runs, driven with Pilot over the fixture store
(whose two digits runs get predictions that agree with their confusion matrices)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static
from tui_fixtures import add_predictions, build_store, make_app, screen_text, settle, sync

from engine import api
from resnet_tui.app import ResnetApp
from resnet_tui.screens.compare import CompareScreen
from resnet_tui.screens.detail import RunDetailScreen
from resnet_tui.widgets import format as fmt

QUICK = "20250312-180000-digits-quick-0001"
LR05 = "20250312-190000-digits-lr05-0002"
CRASHED = "20250313-150000-digits-crash-0005"

pytestmark = pytest.mark.slow  # Pilot: the console reads the files in its workers


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    store = build_store(tmp_path / "runs")
    add_predictions(store, QUICK, 1)
    add_predictions(store, LR05, 2)
    return tmp_path / "runs"


def _plain(static: Static) -> str:
    return str(static.render())


@sync
async def test_the_detail_shows_the_ece_and_the_reliability_bins(store_dir: Path) -> None:
    cal, _ = api.read_calibration(api.open_store(store_dir), QUICK)
    assert cal is not None
    app = make_app(store_dir, start_mode="runs")
    async with app.run_test(size=(120, 36)) as pilot:
        assert isinstance(app, ResnetApp)
        await settle(pilot)
        app.push_screen(RunDetailScreen(QUICK))
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        screen = app.screen
        header = _plain(screen.query_one("#detail-header", Static))
        assert f"ECE {fmt.pct(cal.ece)}" in header
        widget = screen.query_one("#detail-calibration", Static)
        assert widget.display
        text = _plain(widget)
        assert "calibration (test)" in text and f"ECE {fmt.pct(cal.ece)}" in text
        lines = [line for line in text.splitlines() if "┃" in line and "%" in line]
        assert len(lines) == sum(1 for b in cal.bins if b.count)  # one bar per non-empty bin
        top = [b for b in cal.bins if b.count][-1]
        assert lines[-1].split()[1] == fmt.pct(top.accuracy)
        assert lines[-1].rstrip().endswith(f"{top.count:,}")


@sync
async def test_page_keys_reach_the_last_reliability_bin_at_80x24(store_dir: Path) -> None:
    cal, _ = api.read_calibration(api.open_store(store_dir), QUICK)
    assert cal is not None
    top = [b for b in cal.bins if b.count][-1]
    app = make_app(store_dir, start_mode="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app, ResnetApp)
        await settle(pilot)
        app.push_screen(RunDetailScreen(QUICK))
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        screen = app.screen
        matrix = screen.query_one("#matrix")
        assert app.focused is matrix  # its cell cursor takes the arrows

        def last_bin_shown() -> bool:
            lines = [line.strip() for line in screen_text(app).splitlines()]
            return any(
                line.startswith(f"{100 * top.confidence:3.0f}% {fmt.pct(top.accuracy)}".strip())
                and f" {top.count:,}" in line
                for line in lines
            )

        assert not last_bin_shown()  # under the fold of 24 lines
        for _ in range(4):
            await pilot.press("pagedown")  # the matrix has the focus: the pane still scrolls
        await settle(pilot)
        assert last_bin_shown()
        await pilot.press("c")  # another tab: the hidden matrix lets go of the keys
        await settle(pilot)
        assert app.focused is not matrix and not matrix.has_focus


@sync
async def test_a_run_without_predictions_shows_no_diagram(store_dir: Path) -> None:
    app = make_app(store_dir, start_mode="runs")
    async with app.run_test(size=(120, 36)) as pilot:
        assert isinstance(app, ResnetApp)
        await settle(pilot)
        app.push_screen(RunDetailScreen(CRASHED))
        await settle(pilot)
        screen = app.screen
        assert not screen.query_one("#detail-calibration", Static).display
        assert "ECE" not in _plain(screen.query_one("#detail-header", Static))


async def _compare(pilot: Pilot[Any], picks: tuple[str, ...]) -> CompareScreen:
    app = pilot.app
    assert isinstance(app, ResnetApp)
    await settle(pilot)
    app.state.selection.update(picks)
    app.switch_mode("compare")
    await settle(pilot)
    await pilot.press("s")
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, CompareScreen)
    return screen


@sync
async def test_compare_counts_the_flips_and_shows_the_ece(store_dir: Path) -> None:
    store = api.open_store(store_dir)
    flips = api.flips(store, QUICK, LR05)
    quick, lr05 = api.get_run(store, QUICK), api.get_run(store, LR05)
    assert quick.test is not None and lr05.test is not None
    app = make_app(store_dir, start_mode="runs")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await _compare(pilot, (QUICK, LR05))
        text = _plain(screen.query_one("#compare-flips", Static))
        assert (
            f"digits-quick right, digits-lr05 wrong: {len(flips.a_right_b_wrong)}" in text
            and f"digits-lr05 right, digits-quick wrong: {len(flips.b_right_a_wrong)}" in text
        )
        assert flips.a_right_b_wrong or flips.b_right_a_wrong  # something to count
        table = screen.query_one("#compare-metrics-table", DataTable)
        row = [str(c) for c in table.get_row("test ECE")]
        assert row[1] == fmt.pct(quick.test.ece)
        assert row[2].startswith(fmt.pct(lr05.test.ece))
        assert row[2].endswith(fmt.points(lr05.test.ece - quick.test.ece))  # type: ignore[operator]


@sync
async def test_compare_says_why_there_are_no_flips(store_dir: Path) -> None:
    cifar = "20250313-080000-resnet24-mixup-0003"  # tested, predictions never kept
    app = make_app(store_dir, start_mode="runs")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await _compare(pilot, (QUICK, cifar))
        text = _plain(screen.query_one("#compare-flips", Static))
        assert text.startswith("flips: run resnet24-mixup was tested before test predictions")
