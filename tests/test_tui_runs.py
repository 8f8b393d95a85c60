"""The Runs view over more runs than it builds rows for (ROW_LIMIT, made small here): it shows
the first rows of the whole store's order, says how many it holds back, and ``m`` adds the
rest; sorting, filtering and selection keep working over every run.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from textual.widgets import DataTable, Label
from tui_fixtures import build_store, make_app, screen_text, settle, sync

from engine.store import RunStore
from resnet_tui.follow import PollResult
from resnet_tui.screens import runs as runs_view

LIMIT = 3


@pytest.fixture
def fixture_runs(tmp_path: Path) -> Path:
    build_store(tmp_path / "runs")
    return tmp_path / "runs"


@pytest.fixture(autouse=True)
def small_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runs_view, "ROW_LIMIT", LIMIT)
    monkeypatch.setattr(runs_view, "CHUNK_ROWS", 2)  # m adds the rest in several steps


def _table_ids(app: object) -> list[str]:
    table = app.screen.query_one("#runs-table", DataTable)  # type: ignore[attr-defined]
    return [str(table.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(table.row_count)]


def _info(app: object) -> str:
    return str(app.screen.query_one("#runs-info", Label).render())  # type: ignore[attr-defined]


@sync
async def test_the_table_holds_the_first_rows_and_m_shows_all(fixture_runs: Path) -> None:
    docs = RunStore(fixture_runs).list_runs()  # newest first, as the view sorts by default
    total = len(docs)
    assert total > LIMIT + 2
    app = make_app(fixture_runs, start_mode="runs")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert _table_ids(app) == [d["id"] for d in docs[:LIMIT]]
        assert _info(app) == f"showing {LIMIT} of {total} runs"
        assert "Show all" in screen_text(app)

        # Sorting covers every run, not only the rows in the table.
        await pilot.press("s")  # started -> name, ascending
        await settle(pilot)
        names = sorted(str(d.get("name") or d["id"]).lower() for d in docs)
        shown = [app.state.runs_by_id[i] for i in _table_ids(app)]
        assert [(d.name or d.id).lower() for d in shown] == names[:LIMIT]

        # Selection works on the rows shown, and says so in the info line.
        await pilot.press("space")
        await settle(pilot)
        assert len(app.state.selection) == 1
        assert _info(app) == f"showing {LIMIT} of {total} runs · 1 selected"

        await pilot.press("m")
        await settle(pilot, lambda: len(_table_ids(app)) == total, what="every row")
        shown = [app.state.runs_by_id[i] for i in _table_ids(app)]
        assert [(d.name or d.id).lower() for d in shown] == names
        assert _info(app) == f"{total} runs · 1 selected · sort name ↑"
        assert "Show all" not in screen_text(app)


@sync
async def test_a_filter_counts_its_matches_and_holds_back_the_rest(fixture_runs: Path) -> None:
    docs = RunStore(fixture_runs).list_runs()
    digits = [d for d in docs if "digits" in str(d.get("dataset"))]
    assert len(digits) > LIMIT
    app = make_app(fixture_runs, start_mode="runs")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"digits", "enter")
        await settle(pilot)
        assert _table_ids(app) == [d["id"] for d in digits[:LIMIT]]
        assert _info(app) == f"showing {LIMIT} of {len(digits)} matches"
        await pilot.press("m")
        await settle(pilot, lambda: len(_table_ids(app)) == len(digits), what="every match")
        assert _table_ids(app) == [d["id"] for d in digits]
        assert _info(app).startswith(f"{len(digits)} of {len(docs)} runs")


@sync
async def test_a_big_store_shows_its_newest_runs_first_then_every_run(fixture_runs: Path) -> None:
    docs = RunStore(fixture_runs).list_runs()
    app = make_app(fixture_runs, start_mode="runs")
    app.follower.big_store, app.follower.first_screen = 5, 2  # 8 runs: "big"
    gate = threading.Event()
    poll = app.follower.poll
    polls: list[int | None] = []

    def gated_poll() -> PollResult:
        if polls:
            gate.wait(30)  # the second poll (every run) waits until the first screen is checked
        result = poll()
        polls.append(result.total)
        return result

    app.follower.poll = gated_poll  # type: ignore[method-assign]
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        assert _table_ids(app) == [d["id"] for d in docs[:2]]
        assert _info(app) == f"newest 2 of {len(docs)} runs; reading…"
        gate.set()
        await settle(pilot, lambda: app.state.runs_total is None, what="every run")
        assert _table_ids(app) == [d["id"] for d in docs[:LIMIT]]
        assert _info(app) == f"showing {LIMIT} of {len(docs)} runs"
    assert polls[:2] == [len(docs), None]
