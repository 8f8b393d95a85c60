"""The Runs view's filter bar speaks the query language of ``runs list --where``: a valid
query filters the table; while the text does not parse, the error (the same words as the CLI's)
shows under the bar and the table keeps the last filter that did; plain words still search."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Label
from tui_fixtures import build_store, make_app, screen_text, settle, sync

from engine import api
from resnet_tui.app import ResnetApp

pytestmark = pytest.mark.slow  # Pilot: the console types queries into the filter bar


@pytest.fixture
def fixture_runs(tmp_path: Path) -> Path:
    build_store(tmp_path / "runs")
    return tmp_path / "runs"


def _names(app: ResnetApp) -> list[str]:
    table = app.screen.query_one("#runs-table", DataTable)
    ids = [str(table.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(table.row_count)]
    return [app.state.runs_by_id[i].name for i in ids]


def _error(app: ResnetApp) -> Label | None:
    label = app.screen.query_one("#runs-filter-error", Label)
    return label if label.display else None


def _expected(app: ResnetApp, text: str) -> list[str]:
    query = api.parse_query(text)
    return sorted(r.name for r in app.state.runs if query.matches(r))


@sync
async def test_the_filter_bar_takes_a_query_and_shows_a_bad_one_inline(
    fixture_runs: Path,
) -> None:
    app = make_app(fixture_runs, start_mode="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        everything = _names(app)
        assert len(everything) == 8
        bar = app.screen.query_one("#runs-filter", Input)
        assert "words or best.val_acc>90%" in str(bar.placeholder)

        # Typed key by key: the table follows each text that parses.
        await pilot.press("slash", *"model=resnet24")
        await settle(pilot)
        assert _names(app) == ["resnet24-mixup"]
        assert _error(app) is None

        # An open parenthesis (pasted): the error under the bar, the last good filter's rows.
        bar.value = "model=resnet24 or ("
        await settle(pilot)
        error = _error(app)
        assert error is not None
        message = "expected a field, a word or '(' after '(' at column 20 (the end)"
        assert str(error.render()) == message
        assert bar.has_class("-invalid")
        assert _names(app) == ["resnet24-mixup"]
        assert "at column 20 (the end)" in " ".join(screen_text(app).split())

        bar.value = "model=resnet24 or (dataset=digits and best.val_acc>90%"
        await settle(pilot)
        error = _error(app)
        assert error is not None and "to close the '(' at column 19" in str(error.render())
        assert _names(app) == ["resnet24-mixup"]
        await pilot.press("end", ")")
        await settle(pilot)
        assert _error(app) is None and not bar.has_class("-invalid")
        wanted = "model=resnet24 or (dataset=digits and best.val_acc>90%)"
        assert bar.value == wanted
        assert sorted(_names(app)) == _expected(app, wanted)
        assert "resnet24-mixup" in _names(app) and 2 < len(_names(app)) < 8

        # A long error wraps whole at 80 columns; the table still holds the last good rows.
        shown = _names(app)
        bar.value = "status=finsihed"
        await settle(pilot)
        error = _error(app)
        assert error is not None
        assert "did you mean 'finished'?" in str(error.render())
        assert _names(app) == shown
        text = " ".join(screen_text(app).split())
        assert "column 8" in text and "crashed, failed, diverged" in text

        # Plain words still mean what they did; an empty bar shows every run.
        bar.value = "digits crash"
        await settle(pilot)
        assert _error(app) is None
        assert _names(app) == ["digits-crash"]
        bar.value = ""
        await settle(pilot)
        assert _names(app) == everything


@sync
async def test_a_filter_about_archived_runs_shows_them_only_while_it_says_so(
    fixture_runs: Path,
) -> None:
    store = api.open_store(fixture_runs)
    api.archive_run(store, "digits-lr05")
    app = make_app(fixture_runs, start_mode="runs")
    async with app.run_test(size=(100, 24)) as pilot:
        await settle(pilot)
        assert "digits-lr05" not in _names(app)
        bar = app.screen.query_one("#runs-filter", Input)
        bar.value = "archived=true"
        await settle(pilot)
        assert _names(app) == ["digits-lr05"]
        assert not app.state.show_archived  # the other views still hide it
        bar.value = "digits"
        await settle(pilot)
        assert "digits-lr05" not in _names(app) and "digits-quick" in _names(app)
