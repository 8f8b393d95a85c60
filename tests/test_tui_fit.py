"""The numbers that matter stay on screen at 80x24: a run's best val and test accuracy in the
Runs and Best views (long names are shortened first, from the middle); Compare's list tells
runs apart by names shortened from the middle, and its stats fit four runs at 120 columns;
no status word is cut anywhere."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Static
from textual.widgets.data_table import ColumnKey
from tui_fixtures import (
    FIXED_NOW,
    add_run,
    build_experiment_store,
    curves,
    make_app,
    screen_text,
    settle,
    sync,
)

from engine.presets import resolve
from engine.store import RunStore
from resnet_tui.app import ResnetApp
from resnet_tui.screens.detail import RunDetailScreen
from resnet_tui.widgets import format as fmt
from resnet_tui.widgets.names import distinct, shorten

# Names as sweeps and long experiments make them: one start, different ends.
LONG = (
    "digits-quick-lr-grid-5",
    "digits-quick-lr-grid-6",
    "cifar10-resnet50d-se-warm-restarts-nesterov-7",
    "cifar10-resnet50d-se-warm-restarts-nesterov-8",
)


@pytest.fixture
def long_names(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    build_experiment_store(root)
    store = RunStore(root)
    digits, _ = resolve("digits-quick")
    for i, name in enumerate(LONG):
        add_run(
            store,
            f"20250314-17{30 + i}00-long-{0xD0 + i:04x}",
            digits,
            name=name,
            preset="digits-quick",
            status="finished",
            created=FIXED_NOW - timedelta(minutes=20 - i),
            records=curves(12, 60 + i, 0.9 + i / 100),
            test_acc=0.9 + i / 100 - 0.004,
        )
    store.rebuild_index()
    return root


def _lines(app: ResnetApp) -> list[str]:
    return screen_text(app).splitlines()


def _row_line(lines: list[str], shown_name: str) -> str:
    found = [line for line in lines if f" {shown_name} " in line]
    assert found, f"{shown_name!r} not on screen"
    return found[0]


def test_a_name_is_shortened_from_the_middle_and_names_stay_distinct() -> None:
    assert shorten("digits-quick-lr-grid-5", 19) == "digits-qu…lr-grid-5"
    assert shorten("short", 19) == "short"
    names = ["digits-lr-search-t3", "digits-lr-search-t4", "ab-xyz-1", "ab-qrs-1"]
    for width in range(4, 20):
        shown = distinct(names, width)
        assert all(len(s) <= width for s in shown)
        assert len(set(shown)) == len(names) or width < 6, (width, shown)


@sync
async def test_the_runs_view_keeps_every_accuracy_on_screen(long_names: Path) -> None:
    app = make_app(long_names, start_mode="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        lines = _lines(app)
        table = app.screen.query_one("#runs-table", DataTable)
        shown = 0
        for row in range(table.row_count):
            run_id = str(table.coordinate_to_cell_key((row, 0)).row_key.value)
            run = app.state.runs_by_id[run_id]
            name = str(table.get_cell(run_id, "name"))
            if not any(f" {name} " in line for line in lines):
                continue  # below the fold
            line = _row_line(lines, name)
            assert len(line.rstrip()) <= 80
            for value in (fmt.best_val_acc(run), fmt.test_acc(run)):
                if value is not None:
                    assert fmt.pct(value) in line, (line, run.name)
            if run.name != name:
                head, tail = name.split("…")  # shortened from the middle: both ends kept
                assert run.name.startswith(head) and run.name.endswith(tail) and tail
            shown += 1
        assert shown >= 15
        assert any("…" in str(table.get_cell(r.id, "name")) for r in app.state.runs)


@sync
async def test_the_best_view_keeps_val_and_test_on_screen(long_names: Path) -> None:
    app = make_app(long_names, start_mode="best")
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one("#best-table", DataTable)
        await settle(pilot, lambda: table.row_count > 0, what="the best-stats rows")
        lines = _lines(app)
        assert any("val acc" in line and "test acc" in line for line in lines)
        rows = {row["id"]: row for row in app.screen.rows}  # type: ignore[attr-defined]
        for long in LONG[:2]:
            run = next(r for r in app.state.runs if r.name == long)
            line = _row_line(lines, str(table.get_cell(run.id, "run")))
            assert fmt.pct(rows[run.id]["val_acc"]) in line
            assert fmt.pct(rows[run.id]["test_acc"]) in line


async def _compare(pilot: Any, names: tuple[str, ...]) -> None:
    app = pilot.app
    await settle(pilot)
    app.state.selection.update(r.id for r in app.state.runs if r.name in names)
    app.switch_mode("compare")
    await settle(pilot)
    await pilot.press("s")  # the stats
    await settle(pilot)


@sync
async def test_compare_tells_runs_apart_and_fits_four_at_120_columns(long_names: Path) -> None:
    app = make_app(long_names, start_mode="runs")
    async with app.run_test(size=(120, 36)) as pilot:
        await _compare(pilot, LONG)
        picker = app.screen.query_one("#compare-list", DataTable)
        labels = [str(picker.get_cell(r.id, "name")) for r in app.state.runs]
        assert len(set(labels)) == len(labels)  # as many names as runs
        lines = _lines(app)
        status = next(line for line in lines if "│ status" in line)
        assert status.count("✓ finished") == 4
        header = next(line for line in lines if "│ metric" in line)
        stats = app.screen.query_one("#compare-metrics-table", DataTable)
        for run in (r for r in app.state.runs if r.name in LONG):
            label = stats.columns[ColumnKey(run.id)].label.plain
            assert label in header and run.name.endswith(label.split("…")[-1])


@sync
async def test_compare_with_no_runs_says_how_to_pick_them(long_names: Path) -> None:
    app = make_app(long_names, start_mode="compare")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        hint = app.screen.query_one("#compare-hint", Static)
        assert hint.display and hint.region.width > 0
        text = str(hint.render())
        assert "space on a run in the list on the left picks it" in text
        assert "Runs view, 4" in text
        app.state.selection.update(r.id for r in app.state.runs[:2])
        app.screen.refresh_view()  # type: ignore[attr-defined]
        await settle(pilot)
        assert not hint.display


# ---------------------------------------------------------------- no status word cut

STATUS = re.compile(r"([▶■✓✗↯✂]) ?([a-z]*)")
WORDS = {"queued", "running", "stopped", "finished", "crashed", "failed", "diverged"}
WORDS |= {"unreadable", "pruned"}


def _cut_statuses(app: ResnetApp) -> list[str]:
    return [
        line
        for line in _lines(app)
        for glyph, word in STATUS.findall(line)
        if word and word not in WORDS
    ]


@pytest.mark.slow  # walks every view at two sizes
@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
@sync
async def test_no_status_word_is_cut_in_any_view(long_names: Path, size: tuple[int, int]) -> None:
    app = make_app(long_names, start_mode="runs")
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        app.state.selection.update(r.id for r in app.state.runs[:3])
        for mode in ("runs", "monitor", "best", "compare", "sweeps"):
            app.switch_mode(mode)
            await settle(pilot)
            await pilot.pause(0.3)
            await settle(pilot)
            if mode == "compare":
                await pilot.press("s")
                await settle(pilot)
            assert not _cut_statuses(app), (mode, _cut_statuses(app))
        run = next(r for r in app.state.runs if r.ablation is not None)
        app.push_screen(RunDetailScreen(run.id))
        await settle(pilot)
        for tab in ("a", "s"):
            await pilot.press(tab)
            await settle(pilot)
            assert not _cut_statuses(app), (tab, _cut_statuses(app))
