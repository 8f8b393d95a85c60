"""Behaviour of the console's views, driven with Textual's Pilot over real run stores.

Nothing is mocked: the store is a real folder, the model questions go to the real helper
process. Training itself is in test_tui_training.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Input, Select, Sparkline, Static, TabbedContent
from tui_fixtures import Notes, build_store, iso, make_app, screen_text, settle, sync, wait_for
from typer.testing import CliRunner

from engine import api
from engine.store import RunStore
from resnet_tui.app import ResnetApp
from resnet_tui.cli import app as cli_app
from resnet_tui.follow import PollResult
from resnet_tui.screens.compare import CompareScreen
from resnet_tui.screens.detail import RunDetailScreen
from resnet_tui.screens.dialogs import ConfirmScreen, SavePresetScreen
from resnet_tui.screens.launch import LaunchScreen
from resnet_tui.state import LaunchRequest
from resnet_tui.widgets.config_form import ConfigForm, FieldRow

LIVE = "20250314-170000-digits-live-0007"

QUICK = "20250312-180000-digits-quick-0001"
LR05 = "20250312-190000-digits-lr05-0002"

pytestmark = pytest.mark.slow  # Pilot: the console end to end, view by view


@pytest.fixture
def fixture_runs(tmp_path: Path) -> Path:
    build_store(tmp_path / "runs")
    return tmp_path / "runs"


def _note(app: ResnetApp, key: str) -> tuple[str, bool]:
    """(the note next to a field, whether its row is marked invalid)."""
    section, name = key.split(".")
    row = app.screen.query_one(f"#row-{section}-{name}", FieldRow)
    return str(row.query_one(".field-note", Static).render()), row.has_class("-invalid")


async def _type_into(pilot: Any, key: str, text: str) -> None:
    """Focus a field of the Launch form and replace its text by typing."""
    form = pilot.app.screen.query_one(ConfigForm)
    form.focus_field(key)
    await settle(pilot)
    focused = pilot.app.focused
    assert isinstance(focused, Input) and focused.id == "f-" + key.replace(".", "-"), focused
    await pilot.press("end", "ctrl+u", *text)
    await settle(pilot)


def _launch_message(app: ResnetApp) -> str:
    return str(app.screen.query_one("#launch-message", Static).render())


# ---------------------------------------------------------------- the Launch form


@pytest.mark.slow
@pytest.mark.parametrize("size", [(120, 36), (80, 24)])
@sync
async def test_negative_lr_blocks_launch_and_names_the_field(
    runs_dir: Path, size: tuple[int, int]
) -> None:
    app = make_app(runs_dir, start_mode="launch")
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await _type_into(pilot, "optim.lr", "-1")
        note, invalid = _note(app, "optim.lr")
        assert invalid and "must be greater than 0" in note
        assert "Optimizer ✗1" in screen_text(app)
        await pilot.press("ctrl+l")
        await settle(pilot)
        message = _launch_message(app)
        assert "not launched" in message and "optim.lr" in message, message
        assert app.focused is not None and app.focused.id == "f-optim-lr"
    assert RunStore(runs_dir).list_runs() == []


@pytest.mark.slow
@sync
async def test_layers_and_channels_of_different_lengths_block_launch(runs_dir: Path) -> None:
    app = make_app(runs_dir, start_mode="launch")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await _type_into(pilot, "model.layers", "1, 1")
        await _type_into(pilot, "model.channels", "16, 32, 64")
        note, invalid = _note(app, "model.layers")
        assert invalid and "one entry per stage" in note, note
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert "model.layers" in _launch_message(app)
        # Fixing it makes the form valid again.
        await _type_into(pilot, "model.channels", "16, 32")
        assert not _note(app, "model.layers")[1]
        assert app.screen.query_one(ConfigForm).result.ok
    assert RunStore(runs_dir).list_runs() == []


@pytest.mark.slow
@sync
async def test_architecture_error_from_the_model_builder_shows_at_its_field(runs_dir: Path) -> None:
    """Four kernel sizes for a three-stage model: only create_model can tell, naming
    model.channels (whose default has three entries)."""
    app = make_app(runs_dir, start_mode="launch")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(
            pilot, lambda: app.state.registries is not None, timeout=90, what="the registries"
        )
        await _type_into(pilot, "model.kernel_sizes", "3, 3, 3, 3")
        screen = app.screen
        assert isinstance(screen, LaunchScreen)
        await wait_for(
            pilot,
            lambda: "model.channels" in screen.form.external_errors,
            60,
            "the model builder's answer",
        )
        note, invalid = _note(app, "model.channels")
        assert invalid and "set model.channels too" in note, note
        await pilot.press("ctrl+l")
        await settle(pilot)
        await wait_for(
            pilot, lambda: "not launched" in _launch_message(app), 60, "the launch to be refused"
        )
        assert "model.channels" in _launch_message(app)
    assert RunStore(runs_dir).list_runs() == []


@pytest.mark.slow
@sync
async def test_a_refused_launch_shows_its_whole_message_at_its_field(runs_dir: Path) -> None:
    """A missing image folder: the refusal (several lines at 80 columns) is shown whole, its
    field (data.root, on the Data tab) is marked and focused, and nothing is stored."""
    notes = Notes()
    app = make_app(runs_dir, start_mode="runs")
    async with app.run_test(size=(80, 24), message_hook=notes.hook) as pilot:
        await settle(pilot)
        config = api.RunConfig().replace(
            {"data.name": "imagefolder", "data.root": "/nonexistent", "train.epochs": 1}
        )
        app.request_launch(LaunchRequest(config, "digits-quick", "no-folder"))
        await settle(pilot, lambda: app.state.registries is not None, 90, "the registries")
        await pilot.press("ctrl+l")
        await wait_for(
            pilot, lambda: "not launched" in _launch_message(app), 90, "the launch to be refused"
        )
        await settle(pilot)
        whole = notes.titled("not launched")
        assert whole and "Point data.root at it" in whole[-1], whole
        note, invalid = _note(app, "data.root")
        assert invalid and "does not exist" in note
        assert app.screen.query_one("#form-tabs", TabbedContent).active == "tab-data"
    assert RunStore(runs_dir).list_runs() == []


@pytest.mark.slow
@sync
async def test_parameter_count_and_fields_follow_the_architecture(runs_dir: Path) -> None:
    app = make_app(runs_dir, start_mode="launch")
    async with app.run_test(size=(120, 36)) as pilot:

        def params() -> str:
            return str(app.screen.query_one("#launch-params", Static).render())

        await settle(
            pilot,
            lambda: "308,074" in params(),
            timeout=90,
            what="the digits model's parameter count",
        )
        # Seed 003's ResNet-24 on CIFAR-10: 4,935,242 parameters (its Table 1).
        form = app.screen.query_one(ConfigForm)
        app.screen.query_one("#f-model-name", Select).value = "resnet24"
        await pilot.pause()
        await pilot.press("ctrl+n")  # the Data tab
        await settle(pilot)
        app.screen.query_one("#f-data-name", Select).value = "cifar10"
        await settle(
            pilot, lambda: "4,935,242" in params(), timeout=60, what="ResNet-24's parameter count"
        )
        assert form.value("model.name") == "resnet24"
        # The baseline CNN takes no ResNet fields: its form hides them.
        await pilot.press("ctrl+b")
        await settle(pilot)
        layers = app.screen.query_one("#row-model-layers")
        assert layers.display
        app.screen.query_one("#f-model-name", Select).value = "baseline-cnn"
        await settle(pilot)
        assert not layers.display
        assert app.screen.query_one("#row-model-drop_rate").display


@pytest.mark.slow
@sync
async def test_augmentation_switch_sets_its_parameters(runs_dir: Path) -> None:
    app = make_app(runs_dir, start_mode="launch")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        form = app.screen.query_one(ConfigForm)
        await pilot.press("ctrl+n", "ctrl+n")  # Augment
        await settle(pilot)
        holes = app.screen.query_one("#f-augment-cutout_holes", Input)
        assert holes.disabled and form.value("augment.cutout_holes") == 0
        await pilot.click("#aug-cutout")
        await settle(pilot)
        assert not holes.disabled
        assert form.value("augment.cutout_holes") == 3
        assert form.value("augment.cutout_length") == 4
        assert form.result.config is not None and form.result.config.augment.cutout_holes == 3
        await pilot.click("#aug-cutout")
        await settle(pilot)
        assert holes.disabled and form.value("augment.cutout_holes") == 0


@pytest.mark.slow
@sync
async def test_save_the_form_as_a_preset(runs_dir: Path, tmp_path: Path) -> None:
    app = make_app(runs_dir, start_mode="launch")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await _type_into(pilot, "model.drop_rate", "0.25")
        await pilot.press("escape", "ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, SavePresetScreen)
        await pilot.press(*"Bad Name", "enter", *"my test", "enter")
        await settle(pilot)
        assert "lower-case" in str(app.screen.query_one("#preset-error", Static).render())
        name_input = app.screen.query_one("#preset-name", Input)
        name_input.value = "digits-dropout"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, LaunchScreen)
    saved = tmp_path / "user-presets" / "digits-dropout.toml"
    text = saved.read_text()
    assert 'description = "my test"' in text and "drop_rate = 0.25" in text


@sync
async def test_presets_edit_loads_the_form(runs_dir: Path) -> None:
    app = make_app(runs_dir, start_mode="presets")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        row = [str(k.value) for k in table.rows].index("cifar10-resnet24-mixup")
        table.move_cursor(row=row)
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, LaunchScreen)
        form = app.screen.form
        assert form.value("model.name") == "resnet24"
        assert form.value("optim.name") == "adadelta"
        assert form.value("augment.mixup_alpha") == 1.0
        assert str(app.screen.query_one("#launch-preset", Select).value) == "cifar10-resnet24-mixup"


# ---------------------------------------------------------------- runs, detail, compare, best


@sync
async def test_runs_table_sorts_filters_and_shows_derived_status(fixture_runs: Path) -> None:
    store = RunStore(fixture_runs)
    # A run marked running whose process is gone shows as crashed.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store.update("20250314-170000-digits-live-0007", pid=dead.pid)
    app = make_app(fixture_runs, start_mode="runs")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#runs-table", DataTable)
        assert table.row_count == 8
        status = table.get_cell("20250314-170000-digits-live-0007", "status")
        assert "crashed" in str(status)
        assert "unreadable" in str(table.get_cell("20250314-171500-half-written-0008", "status"))
        await pilot.press("slash", *"cifar", "enter")
        await settle(pilot)
        assert table.row_count == 2
        # Sort by best val accuracy (s from "started", the last: name, status, epochs,
        # best val), highest first.
        await pilot.press(*["s"] * 4)
        await settle(pilot)
        assert app.screen.sort_key == "best_val"  # type: ignore[attr-defined]
        first = str(table.coordinate_to_cell_key(Coordinate(0, 0)).row_key.value)
        assert first == "20250313-080000-resnet24-mixup-0003"
        await pilot.press("S")
        await settle(pilot)
        assert (
            str(table.coordinate_to_cell_key(Coordinate(0, 0)).row_key.value)
            == "20250313-120000-resnet18-basic-0004"
        )
        await pilot.click("#runs-table", offset=(7, 0))  # the "name" header
        await settle(pilot)
        assert app.screen.sort_key == "name"  # type: ignore[attr-defined]
        assert (
            str(table.coordinate_to_cell_key(Coordinate(0, 0)).row_key.value)
            == "20250313-120000-resnet18-basic-0004"
        )


@sync
async def test_a_run_that_changes_then_a_sort_reorders_without_losing_a_row(
    fixture_runs: Path,
) -> None:
    """Found by a newcomer's trial: a row whose cells changed (a live run's epoch) made the
    next sort fail with a KeyError, which quit the console."""
    store = RunStore(fixture_runs)
    live = "20250314-170000-digits-live-0007"
    app = make_app(fixture_runs, start_mode="runs")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#runs-table", DataTable)
        epochs = app.state.runs_by_id[live].epoch + 1
        store.update(live, epoch=epochs, pid=os.getpid())  # alive: it stays "running"
        app.follower.invalidate()
        await settle(
            pilot,
            lambda: f"{epochs}/" in str(table.get_cell(live, "epochs")),
            what="the changed row",
        )
        order = [str(k.value) for k in table.rows]
        for _ in range(8):  # every sortable column, then back
            await pilot.press("s")
            await settle(pilot)
            assert sorted(str(k.value) for k in table.rows) == sorted(order)
        await pilot.press("S")
        await settle(pilot)
        assert app.is_running and table.row_count == len(order)


@sync
async def test_run_detail_confusion_and_summary(fixture_runs: Path) -> None:
    app = make_app(fixture_runs, start_mode="runs")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#runs-table", DataTable)
        table.move_cursor(row=table.get_row_index("20250313-080000-resnet24-mixup-0003"))
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RunDetailScreen)
        await pilot.press("m")
        await settle(pilot)
        text = screen_text(app)
        for name in ("airplane", "automobile", "truck"):
            assert name in text
        assert "rows true, columns predicted" in text
        await pilot.press("s")
        await settle(
            pilot,
            lambda: (
                "Trainable params" in str(app.screen.query_one("#detail-summary", Static).render())
            ),
            timeout=90,
            what="the layer summary",
        )
        summary = str(app.screen.query_one("#detail-summary", Static).render())
        assert "Trainable params: 4,935,242" in summary
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, RunDetailScreen)


@sync
async def test_compare_two_runs(fixture_runs: Path) -> None:
    app = make_app(fixture_runs, start_mode="runs")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#runs-table", DataTable)
        for run in (QUICK, LR05):
            table.move_cursor(row=table.get_row_index(run))
            await pilot.press("space")
        await pilot.press("c")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        await pilot.press("f")
        await settle(pilot)
        config = screen.query_one("#compare-config-table", DataTable)
        keys = [str(k.value) for k in config.rows]
        # the differing config keys, then the provenance that differs (tests/test_tui_compare)
        assert keys[:2] == ["augment.hflip", "optim.lr"]
        assert [str(c) for c in config.get_row("optim.lr")[1:]] == ["0.1", "0.05"]
        await pilot.press("s")
        await settle(pilot)
        metrics = screen.query_one("#compare-metrics-table", DataTable)
        assert [str(c.value) for c in metrics.columns][1:] == [QUICK, LR05]  # baseline first
        assert "96.94%" in str(metrics.get_row("test acc"))
        curves = screen._docs_shown
        assert {d.id for d in curves} == {QUICK, LR05}


@sync
async def test_best_stats_export(fixture_runs: Path) -> None:
    app = make_app(fixture_runs, start_mode="runs")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#runs-table", DataTable)
        for run in (QUICK, LR05):
            table.move_cursor(row=table.get_row_index(run))
            await pilot.press("space")
        await pilot.press("b")
        best = app.screen
        await settle(
            pilot,
            lambda: best.query_one("#best-table", DataTable).row_count == 2,
            what="two best-stats rows",
        )
        await pilot.press("c", "m")
        await settle(pilot)
    csv_files = list(fixture_runs.glob("best-stats-*.csv"))
    md_files = list(fixture_runs.glob("best-stats-*.md"))
    assert len(csv_files) == 1 and len(md_files) == 1
    lines = csv_files[0].read_text().splitlines()
    assert lines[0] == (
        "run,model,train_loss,val_loss,train_acc,val_acc,best_epoch,test_acc,max_val_acc"
    )
    assert {line.split(",")[0] for line in lines[1:]} == {"digits-quick", "digits-lr05"}
    assert "| digits-quick |" in md_files[0].read_text()


@sync
async def test_rename_from_the_runs_view_refuses_what_the_cli_refuses(fixture_runs: Path) -> None:
    store = RunStore(fixture_runs)
    taken = store.get(LIVE)["name"]
    cli = CliRunner().invoke(
        cli_app, ["--runs-dir", str(fixture_runs), "runs", "rename", QUICK, taken]
    )
    assert cli.exit_code != 0 and "error: " in cli.output
    refusal = cli.output.strip().removeprefix("error: ")
    app = make_app(fixture_runs, start_mode="runs")
    notes = Notes()
    async with app.run_test(size=(80, 24), message_hook=notes.hook) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#runs-table", DataTable)
        table.move_cursor(row=table.get_row_index(QUICK))
        await pilot.press("n")
        await settle(pilot)
        await pilot.press("ctrl+u", *taken, "enter")
        await settle(pilot, lambda: bool(notes.titled("not renamed")), what="the refusal")
        assert notes.titled("not renamed") == [refusal]
        assert store.get(QUICK)["name"] != taken
        await pilot.press("n")
        await settle(pilot)
        await pilot.press("ctrl+u", *"quick-renamed", "enter")
        await settle(pilot, lambda: bool(notes.titled("renamed")), what="the rename")
        assert store.get(QUICK)["name"] == "quick-renamed"
        await wait_for(
            pilot, lambda: app.state.runs_by_id[QUICK].name == "quick-renamed", 15, "the table"
        )


@sync
async def test_delete_asks_and_refuses_a_running_run(fixture_runs: Path) -> None:
    store = RunStore(fixture_runs)
    live = "20250314-170000-digits-live-0007"
    store.update(live, pid=os.getpid())  # this process is alive: the run is running
    app = make_app(fixture_runs, start_mode="runs")
    notes = Notes()
    async with app.run_test(size=(120, 36), message_hook=notes.hook) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#runs-table", DataTable)
        table.move_cursor(row=table.get_row_index(live))
        await pilot.press("d")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert notes.saying("stop it first")
        table.move_cursor(row=table.get_row_index(QUICK))
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert QUICK in {d["id"] for d in store.list_runs()}
        await pilot.press("d")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot, lambda: QUICK not in app.state.runs_by_id, what="the deleted run to go")
        assert table.row_count == 7
    assert QUICK not in {d["id"] for d in store.list_runs()}
    assert not (fixture_runs / QUICK).exists()


@sync
async def test_store_warnings_become_notifications(fixture_runs: Path) -> None:
    (fixture_runs / "index.json").write_text("{ torn", encoding="utf-8")
    with open(fixture_runs / QUICK / "metrics.jsonl", "a", encoding="utf-8") as fh:
        fh.write("not json\n")
    app = make_app(fixture_runs, start_mode="runs")
    notes = Notes()
    async with app.run_test(size=(120, 36), message_hook=notes.hook) as pilot:
        await settle(pilot)
        assert len(app.state.runs) == 8  # rebuilt from the run folders
        assert notes.saying("rebuilt")
        app.push_screen(RunDetailScreen(QUICK))
        await settle(
            pilot,
            lambda: notes.saying("not a JSON object"),
            what="the skipped-line warning",
        )
        screen = app.screen
        assert isinstance(screen, RunDetailScreen) and len(screen._epochs) == 12


@sync
async def test_monitor_follows_appended_epochs(fixture_runs: Path) -> None:
    """A line appended to metrics.jsonl reaches the sparklines within about a second."""
    store = RunStore(fixture_runs)
    live = "20250314-170000-digits-live-0007"
    app = make_app(fixture_runs, start_mode="monitor")
    async with app.run_test(size=(80, 24)) as pilot:
        spark = app.screen.query_one("#spark-val_acc", Sparkline)
        await settle(pilot, lambda: len(spark.data or []) == 5, what="five epochs")
        record = json.loads((fixture_runs / live / "metrics.jsonl").read_text().splitlines()[-1])
        store.append_metrics(live, {**record, "epoch": 6, "val_acc": 0.99})
        store.update(live, epoch=6)
        await wait_for(pilot, lambda: len(spark.data or []) == 6, 15, "the sixth epoch")
        assert spark.data is not None and spark.data[-1] == 0.99
        assert "epoch 6/20" in screen_text(app)


@sync
async def test_the_monitor_selects_a_launched_run_once_it_is_listed(fixture_runs: Path) -> None:
    """After a launch the Monitor opens on the new run, even when the console's list of runs
    does not have it yet (the Monitor never shown before, the follower's poll still to come)."""
    app = make_app(fixture_runs, start_mode="runs")
    gate = threading.Event()
    poll = app.follower.poll

    def gated_poll() -> PollResult:
        gate.wait(30)  # the follower reads the store only when the test opens the gate
        return poll()

    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        app.follower.poll = gated_poll  # type: ignore[method-assign]
        config = RunStore(fixture_runs).get(LIVE)["config"]
        new = RunStore(fixture_runs).create_run(config, name="just-launched")["id"]
        app.state.monitor_focus = new  # what actions.launched does
        await pilot.press("3")  # the Monitor
        await pilot.pause()
        assert new not in app.state.runs_by_id  # not read yet
        gate.set()
        await wait_for(pilot, lambda: new in app.state.runs_by_id, 15, "the new run")
        await settle(pilot)
        assert app.screen.selected == new  # type: ignore[attr-defined]
        assert "just-launched" in str(app.screen.query_one("#monitor-run", Static).render())


@sync
async def test_welcome_on_an_empty_store_offers_the_default_preset(runs_dir: Path) -> None:
    app = make_app(runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.current_mode == "welcome"
        text = screen_text(app)
        assert "digits-quick" in text and "enter" in text


@sync
async def test_every_footer_key_is_in_the_command_palette(fixture_runs: Path) -> None:
    app = make_app(fixture_runs, start_mode="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        for description in (
            "Open",
            "Select",
            "Filter",
            "Sort",
            "Compare",
            "Best",
            "Stop",
            "Resume",
            "Delete",
        ):
            assert description in titles
        text = screen_text(app)
        for key in ("Open", "Resume", "Delete", "Edit"):  # the footer wraps at 80 columns
            assert key in text


@pytest.mark.slow
def test_the_console_process_never_imports_torch(tmp_path: Path) -> None:
    """Models are asked to the helper process: the console stays small and starts fast."""
    build_store(tmp_path / "runs")
    code = f"""
import asyncio, sys
sys.path.insert(0, {str(REPO / "tests")!r})
from tui_fixtures import make_app, settle
async def main():
    app = make_app({str(tmp_path / "runs")!r}, start_mode="launch")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, lambda: app.state.registries is not None, timeout=90)
        await settle(pilot, lambda: "308,074" in str(
            app.screen.query_one("#launch-params").render()), timeout=90)
        for key in "43":
            await pilot.press(key)
            await settle(pilot)
asyncio.run(main())
print("torch" in sys.modules, "textual_plotext" in sys.modules)
"""
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ["False", "False"], out.stdout


def test_a_runs_duration_counts_its_sessions_not_the_time_it_was_stopped() -> None:
    from datetime import UTC, datetime

    from engine.api import RunRecord
    from resnet_tui.widgets.format import run_seconds

    def record(doc: dict[str, object]) -> RunRecord:
        return RunRecord.from_json({"id": "20260101-120000-r-0001", "name": "r", **doc})

    now = datetime(2026, 1, 2, 12, 0, 0, tzinfo=UTC)
    resumed = {
        "status": "running",
        "started": "2026-01-01T12:00:00+00:00",  # a day ago: stopped most of it
        "session_started": "2026-01-02T11:59:00+00:00",
        "elapsed_before": 30.0,
    }
    assert run_seconds(record(resumed), now) == 90.0  # 30 s before + this session's 60 s
    done = {**resumed, "status": "finished", "elapsed_s": 95.5, "finished": iso(now)}
    assert run_seconds(record(done), now) == 95.5
    old = {"status": "finished", "started": "2026-01-02T11:00:00+00:00", "finished": iso(now)}
    assert run_seconds(record(old), now) == 3600.0  # recorded before sessions were: wall time
