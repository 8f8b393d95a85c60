"""The user's marks in the console, driven with Pilot over the real fixture store: N (the note
dialog: ctrl+s saves, escape cancels), t (the tag field: ``a b -c``), A (archive/restore), p
(pin/unpin), h (archived runs shown or hidden, in every view), and what the detail and the
palette show. Refusals are the CLI's words.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Label, Static, TextArea
from tui_fixtures import Notes, build_store, make_app, screen_text, settle, sync, wait_for
from typer.testing import CliRunner

from engine import api
from resnet_tui.app import ResnetApp
from resnet_tui.cli import app as cli_app
from resnet_tui.palette import console_commands
from resnet_tui.screens.detail import RunDetailScreen
from resnet_tui.screens.marks import NoteScreen, TagsScreen

QUICK = "20250312-180000-digits-quick-0001"
LR05 = "20250312-190000-digits-lr05-0002"
CRASH = "20250313-150000-digits-crash-0005"
LIVE = "20250314-170000-digits-live-0007"

pytestmark = pytest.mark.slow  # Pilot: keys, dialogs and several polls of the store


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture store, built once (a second each time); each test changes a copy."""
    root = tmp_path_factory.mktemp("marks") / "runs"
    build_store(root)
    return root


@pytest.fixture
def fixture_runs(built: Path, tmp_path: Path) -> Path:
    shutil.copytree(built, tmp_path / "runs")
    return tmp_path / "runs"


def table_ids(app: ResnetApp) -> list[str]:
    table = app.screen.query_one("#runs-table", DataTable)
    return [str(table.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(table.row_count)]


def info(app: ResnetApp) -> str:
    return str(app.screen.query_one("#runs-info", Label).render())


async def on_run(pilot: Any, run_id: str) -> None:
    """Put the Runs view's cursor on a run."""
    table = pilot.app.screen.query_one("#runs-table", DataTable)
    table.move_cursor(row=table.get_row_index(run_id))
    await settle(pilot)


async def seen(pilot: Any, until: Any, what: str) -> None:
    """Wait for the console to show a change of the store (the follower polls)."""
    await wait_for(pilot, until, 15, what)
    await settle(pilot)


@pytest.mark.slow  # many keys, several polls of the store
@sync
async def test_n_opens_the_note_dialog_ctrl_s_saves_escape_cancels(fixture_runs: Path) -> None:
    store = api.open_store(fixture_runs)
    api.note_run(store, QUICK, "old note")
    app = make_app(fixture_runs, start_mode="runs")
    notes = Notes()
    async with app.run_test(size=(100, 30), message_hook=notes.hook) as pilot:
        await settle(pilot)
        await on_run(pilot, QUICK)
        await pilot.press("N")
        await settle(pilot)
        assert isinstance(app.screen, NoteScreen)
        area = app.screen.query_one("#note-text", TextArea)
        assert area.text == "old note" and app.focused is area
        await pilot.press(*" kept", "enter", *"second line", "ctrl+s")
        await settle(pilot, lambda: bool(notes.titled("noted")), what="the note saved")
        assert not isinstance(app.screen, NoteScreen)
        assert api.get_run(store, QUICK).note == "old note kept\nsecond line"
        assert notes.titled("noted") == [
            f"saved the note of run {QUICK} (digits-quick) (2 lines, 25 characters)"
        ]
        await seen(pilot, lambda: app.state.runs_by_id[QUICK].note.endswith("line"), "the note")

        await pilot.press("N")  # escape: nothing changes, even after typing
        await settle(pilot)
        await pilot.press(*"discarded", "escape")
        await settle(pilot)
        assert not isinstance(app.screen, NoteScreen)
        assert api.get_run(store, QUICK).note == "old note kept\nsecond line"

        await pilot.press("N")  # emptied: the note is removed
        await settle(pilot)
        app.screen.query_one("#note-text", TextArea).clear()
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: len(notes.titled("noted")) == 2, what="the note cleared")
        assert api.get_run(store, QUICK).note == ""
        assert notes.titled("noted")[-1] == f"cleared the note of run {QUICK} (digits-quick)"


@pytest.mark.slow  # a 10,001-character note typed into the store, then refused
@sync
async def test_a_note_too_long_is_refused_with_the_clis_words(fixture_runs: Path) -> None:
    text = "x" * 10_001
    cli = CliRunner().invoke(
        cli_app, ["--runs-dir", str(fixture_runs), "runs", "note", QUICK, text]
    )
    assert cli.exit_code == 2
    refusal = cli.stderr.strip().removeprefix("error: ")
    app = make_app(fixture_runs, start_mode="runs")
    notes = Notes()
    async with app.run_test(size=(100, 30), message_hook=notes.hook) as pilot:
        await settle(pilot)
        await on_run(pilot, QUICK)
        await pilot.press("N")
        await settle(pilot)
        app.screen.query_one("#note-text", TextArea).load_text(text)
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: bool(notes.titled("note not saved")), what="the refusal")
        assert notes.titled("note not saved") == [refusal]
        assert api.get_run(api.open_store(fixture_runs), QUICK).note == ""


@pytest.mark.slow  # many keys, several polls of the store
@sync
async def test_t_adds_and_removes_tags_and_refuses_a_bad_one(fixture_runs: Path) -> None:
    store = api.open_store(fixture_runs)
    api.tag_run(store, QUICK, ["old"])
    cli = CliRunner().invoke(
        cli_app, ["--runs-dir", str(fixture_runs), "runs", "tag", QUICK, "ok", "bad!"]
    )
    refusal = cli.stderr.strip().removeprefix("error: ")
    assert cli.exit_code == 2 and refusal.startswith("'bad!' is not a tag")
    app = make_app(fixture_runs, start_mode="runs")
    notes = Notes()
    async with app.run_test(size=(120, 30), message_hook=notes.hook) as pilot:
        await settle(pilot)
        await on_run(pilot, QUICK)
        await pilot.press("t")
        await settle(pilot)
        assert isinstance(app.screen, TagsScreen)
        assert "its tags: old" in str(app.screen.query_one(".dialog-message", Static).render())
        await pilot.press(*"baseline paper:fig3 -old", "enter")
        await settle(pilot, lambda: bool(notes.titled("tagged")), what="the tags")
        assert api.get_run(store, QUICK).tags == ("baseline", "paper:fig3")
        assert notes.titled("tagged") == [
            f"run {QUICK} (digits-quick): tagged baseline, paper:fig3; untagged old; "
            "its tags: baseline paper:fig3"
        ]
        await seen(pilot, lambda: app.state.runs_by_id[QUICK].tags, "the tags")
        cell = app.screen.query_one("#runs-table", DataTable).get_cell(QUICK, "tags")
        assert str(cell) == "baseline paper:fig3"

        await pilot.press("t")  # a bad tag: nothing is written, not even the good one
        await settle(pilot)
        await pilot.press(*"ok bad!", "enter")
        await settle(pilot, lambda: bool(notes.titled("not tagged")), what="the refusal")
        assert notes.titled("not tagged") == [refusal]
        assert api.get_run(store, QUICK).tags == ("baseline", "paper:fig3")

        await pilot.press("t", *"x", "escape")  # escape: nothing
        await settle(pilot)
        assert not isinstance(app.screen, TagsScreen)
        assert api.get_run(store, QUICK).tags == ("baseline", "paper:fig3")


@pytest.mark.slow  # many keys, several polls of the store
@sync
async def test_archived_runs_are_hidden_everywhere_until_h(fixture_runs: Path) -> None:
    store = api.open_store(fixture_runs)
    app = make_app(fixture_runs, start_mode="runs")
    notes = Notes()
    async with app.run_test(size=(120, 30), message_hook=notes.hook) as pilot:
        await settle(pilot)
        total = len(table_ids(app))
        await on_run(pilot, LR05)
        app.state.selection.update({LR05, QUICK})
        await pilot.press("A")
        await settle(pilot, lambda: bool(notes.titled("archived")), what="the archive")
        assert api.get_run(store, LR05).archived
        assert (fixture_runs / LR05).is_dir()
        await seen(pilot, lambda: LR05 not in table_ids(app), "the run hidden")
        assert len(table_ids(app)) == total - 1
        assert info(app).startswith(f"{total - 1} runs (+1 archived)")
        assert app.state.selection == {QUICK}  # a hidden run is not selected behind your back

        # Best, Compare's picker and the palette list no archived run either.
        await pilot.press("5")
        await settle(pilot)
        assert "digits-lr05" not in screen_text(app) and "digits-quick" in screen_text(app)
        await pilot.press("6")
        await settle(pilot)
        picker = app.screen.query_one("#compare-list", DataTable)
        assert LR05 not in [str(k.value) for k in picker.rows] and QUICK in [
            str(k.value) for k in picker.rows
        ]
        titles = [c.title for c in console_commands(app)]
        assert "Open run digits-lr05" not in titles and "Restore run digits-lr05" in titles
        assert "Show archived runs" in titles

        await pilot.press("4", "h")  # shown, marked, in every view
        await settle(pilot)
        assert LR05 in table_ids(app) and len(table_ids(app)) == total
        assert info(app).startswith(f"{total} runs (1 archived)")
        sel = app.screen.query_one("#runs-table", DataTable).get_cell(LR05, "sel")
        assert "⊟" in str(sel)
        await pilot.press("6")
        await settle(pilot)
        picker = app.screen.query_one("#compare-list", DataTable)
        assert LR05 in [str(k.value) for k in picker.rows]
        assert "Hide archived runs" in [c.title for c in console_commands(app)]

        await pilot.press("4")
        await settle(pilot)
        await on_run(pilot, LR05)
        await pilot.press("A")  # restores it
        await settle(pilot, lambda: bool(notes.titled("restored")), what="the restore")
        assert not api.get_run(store, LR05).archived
        assert notes.titled("restored") == [
            f"restored run {LR05} (digits-lr05): it shows in lists and views again"
        ]
        await pilot.press("h")  # hidden again: the restored run stays
        await seen(pilot, lambda: not app.state.runs_by_id[LR05].archived, "the restore")
        assert LR05 in table_ids(app) and info(app).startswith(f"{total} runs ·")


@sync
async def test_the_archive_notice_names_the_key_and_the_palette_restores(
    fixture_runs: Path,
) -> None:
    app = make_app(fixture_runs, start_mode="runs")
    notes = Notes()
    async with app.run_test(size=(100, 30), message_hook=notes.hook) as pilot:
        await settle(pilot)
        await on_run(pilot, CRASH)
        await pilot.press("A")
        await settle(pilot, lambda: bool(notes.titled("archived")), what="the archive")
        assert notes.titled("archived") == [
            f"archived run {CRASH} (digits-crash): hidden from lists and views, kept in the "
            "store; restore it with h, then A on it in the Runs view (4)"
        ]
        # The palette restores it without showing archived runs first.
        await seen(pilot, lambda: app.state.runs_by_id[CRASH].archived, "the archive")
        restore = [c for c in console_commands(app) if c.title == "Restore run digits-crash"]
        assert len(restore) == 1
        restore[0].run()
        await settle(pilot, lambda: bool(notes.titled("restored")), what="the restore")
        assert not api.get_run(api.open_store(fixture_runs), CRASH).archived
        await seen(pilot, lambda: CRASH in table_ids(app), "the restored run")


@sync
async def test_p_pins_a_run_on_top_whatever_the_sort(fixture_runs: Path) -> None:
    store = api.open_store(fixture_runs)
    app = make_app(fixture_runs, start_mode="runs")
    notes = Notes()
    async with app.run_test(size=(120, 30), message_hook=notes.hook) as pilot:
        await settle(pilot)
        newest_first = table_ids(app)
        assert newest_first[-1] == QUICK  # the oldest
        await on_run(pilot, QUICK)
        await pilot.press("p")
        await settle(pilot, lambda: bool(notes.titled("pinned")), what="the pin")
        assert api.get_run(store, QUICK).pinned
        await seen(pilot, lambda: table_ids(app)[0] == QUICK, "the pinned run on top")
        assert table_ids(app) == [QUICK, *newest_first[:-1]]
        assert "⚑" in str(app.screen.query_one("#runs-table", DataTable).get_cell(QUICK, "sel"))
        assert app.screen.query_one("#runs-table", DataTable).cursor_row == 0  # it follows

        for _ in range(3):  # sorted by name, by status, by epochs: still on top
            await pilot.press("s")
            await settle(pilot)
            assert table_ids(app)[0] == QUICK
        await pilot.press("S")
        await settle(pilot)
        assert table_ids(app)[0] == QUICK

        # the Best view and Compare's run list put it on top too, marked
        app.switch_mode("best")
        await settle(pilot)
        best = app.screen.query_one(DataTable)
        await seen(pilot, lambda: best.row_count > 0, "the best table")
        first = best.coordinate_to_cell_key(Coordinate(0, 0)).row_key.value
        assert first == QUICK and str(best.get_cell_at(Coordinate(0, 0))).startswith("⚑ ")
        app.switch_mode("compare")
        await settle(pilot)
        picker = app.screen.query_one("#compare-list", DataTable)
        assert picker.coordinate_to_cell_key(Coordinate(0, 0)).row_key.value == QUICK
        assert "⚑" in str(picker.get_cell_at(Coordinate(0, 1)))
        app.switch_mode("runs")
        await settle(pilot)

        await pilot.press("p")  # the cursor is on it: unpinned, back in its place
        await settle(pilot, lambda: bool(notes.titled("unpinned")), what="the unpin")
        assert not api.get_run(store, QUICK).pinned
        await seen(pilot, lambda: not app.state.runs_by_id[QUICK].pinned, "the unpin")
        assert "Unpin run digits-quick" not in [c.title for c in console_commands(app)]


@pytest.mark.slow  # many keys, several polls of the store
@sync
async def test_the_detail_shows_the_marks_and_has_the_keys(fixture_runs: Path) -> None:
    store = api.open_store(fixture_runs)
    api.tag_run(store, QUICK, ["baseline", "paper:fig3"])
    api.note_run(store, QUICK, "lr 0.1 overshoots\nsecond\nthird")
    api.pin_run(store, QUICK)
    app = make_app(fixture_runs, start_mode="runs")
    notes = Notes()
    async with app.run_test(size=(100, 30), message_hook=notes.hook) as pilot:
        await settle(pilot)
        await on_run(pilot, QUICK)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RunDetailScreen)
        header = str(app.screen.query_one("#detail-header", Static).render())
        assert (
            "⚑ pinned · tags baseline paper:fig3 · note: lr 0.1 overshoots (+2 lines: N shows"
            in (" ".join(header.split()))
        )
        await pilot.press("t", *"-baseline", "enter")
        await settle(pilot, lambda: bool(notes.titled("tagged")), what="the tags")
        assert api.get_run(store, QUICK).tags == ("paper:fig3",)
        await pilot.press("N")
        await settle(pilot)
        assert isinstance(app.screen, NoteScreen)
        assert app.screen.query_one(TextArea).text == "lr 0.1 overshoots\nsecond\nthird"
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot, lambda: bool(notes.titled("unpinned")), what="the unpin")
        await pilot.press("A")
        await settle(pilot, lambda: bool(notes.titled("archived")), what="the archive")
        record = api.get_run(store, QUICK)
        assert not record.pinned and record.archived
        await seen(pilot, lambda: app.state.runs_by_id[QUICK].archived, "the archive")
        header = str(app.screen.query_one("#detail-header", Static).render())
        assert "⊟ archived (A restores it) · tags paper:fig3" in " ".join(header.split())


# ---------------------------------------------------------------- snapshots


def _marked_store(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # paths on screen are relative: "runs"
    shutil.copytree(built, tmp_path / "runs")
    store = api.open_store(tmp_path / "runs")
    api.pin_run(store, QUICK)
    api.tag_run(store, QUICK, ["baseline", "paper:fig3"])
    api.tag_run(store, LIVE, ["lr-sweep"])
    api.note_run(store, QUICK, "lr 0.1: the reference\nevery other run is compared with it")
    api.archive_run(store, CRASH)
    return "runs"


@pytest.mark.slow  # snapshots: the whole screen drawn and compared
def test_snapshot_runs_with_marks_and_archived_shown(
    snap_compare: Any, built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = _marked_store(built, tmp_path, monkeypatch)

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("h")
        await settle(pilot)
        pilot.app.clear_notifications()  # (the toast saying so would time out on a slow box)
        await settle(pilot)

    app = make_app(runs, start_mode="runs")
    assert snap_compare(app, terminal_size=(120, 24), run_before=run_before)


@pytest.mark.slow  # snapshots: the whole screen drawn and compared
def test_snapshot_note_dialog_80x24(
    snap_compare: Any, built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = _marked_store(built, tmp_path, monkeypatch)

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("N")  # the cursor is on the pinned run, on top
        await settle(pilot)

    app = make_app(runs, start_mode="runs")
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
