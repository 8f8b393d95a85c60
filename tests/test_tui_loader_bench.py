"""The loader benchmark: ``bench loader --jsonl`` streams its rows, and the console's Loader
benchmark screen shows them live from a real ``resnet-tui bench loader`` process, marks the
fastest worker count, shows a user error as its one line, and kills the process on escape.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static
from tui_fixtures import make_app, screen_text, sync, wait_for
from typer.testing import CliRunner

from resnet_tui.app import ResnetApp
from resnet_tui.cli import app as cli_app
from resnet_tui.screens.loader_bench import LoaderBenchScreen, open_loader_bench

BENCH_TIMEOUT = 180.0  # one torch start-up and a few digits epochs, on a busy 2-core box
runner = CliRunner()


def _text(app: ResnetApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).content)


def _group_alive(pgid: int) -> list[int]:
    """The processes (not zombies) of process group ``pgid``: the bench and its workers."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":  # fields: state, ppid, pgrp, ...
            alive.append(int(entry.name))
    return alive


def test_jsonl_streams_the_setup_then_one_row_per_worker_count(runs_dir: Path) -> None:
    args = ["--runs-dir", str(runs_dir), "bench", "loader", "digits-quick", "--workers", "0,1"]
    result = runner.invoke(cli_app, [*args, "--jsonl", "--set", "data.batch_size=64"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]  # each one JSON object
    setup, rows = lines[0]["setup"], lines[1:]
    assert setup["preset"] == "digits-quick" and setup["dataset"] == "digits"
    assert setup["in_memory"] is True and setup["device"] == "cpu"
    assert setup["batch_size"] == 64 and setup["workers"] == [0, 1]
    assert setup["rows"] == [
        {"path": "pil-dataloader", "workers": 0},
        {"path": "pil-dataloader", "workers": 1},
        {"path": "on-device", "workers": None},
    ]
    assert [{"path": r["path"], "workers": r["workers"]} for r in rows] == setup["rows"]
    for row in rows:
        assert row["images"] == setup["train_images"] > 1000
        assert row["seconds"] > 0
        assert (
            abs(row["images_per_s"] - row["images"] / row["seconds"]) < 0.01 * row["images_per_s"]
        )

    both = runner.invoke(cli_app, [*args, "--json", "--jsonl"])
    assert both.exit_code == 2 and "pick one" in both.output


@pytest.mark.slow
@sync
async def test_rows_arrive_live_and_the_fastest_is_applied(runs_dir: Path) -> None:
    app = make_app(runs_dir, start_mode="runs")
    applied: list[int] = []
    seen: set[str] = set()
    async with app.run_test(size=(100, 34)) as pilot:
        await pilot.pause()
        screen = open_loader_bench(
            app, "digits-quick", ["data.batch_size=64"], "quick", applied.append, workers="0,1"
        )
        assert isinstance(screen, LoaderBenchScreen)

        def done() -> bool:
            if screen.is_mounted:
                seen.add(_text(app, "#lb-status"))
            return screen.finished or bool(screen.error)

        await wait_for(pilot, done, BENCH_TIMEOUT, "the benchmark's rows")
        await pilot.pause()
        assert screen.error == ""
        assert any(s.startswith("starting the benchmark") for s in seen), seen
        assert any("timing " in s and " of 3" in s for s in seen), seen
        assert screen.setup is not None and screen.setup["batch_size"] == 64  # --set went along
        assert [(r["path"], r["workers"]) for r in screen.rows] == [
            ("pil-dataloader", 0),
            ("pil-dataloader", 1),
            ("on-device", None),
        ]
        table = screen.query_one("#lb-table", DataTable)
        assert table.row_count == 3
        cells = [[str(c) for c in table.get_row_at(i)] for i in range(3)]
        best = max(screen.rows[:2], key=lambda r: r["images_per_s"])["workers"]
        assert [row[0].endswith("◀") for row in cells] == [best == 0, best == 1, False]
        assert cells[best][1] == str(best) and cells[2][1] == "-"
        assert all(row[5].strip("█ ×0123456789,") == "" and "█" in row[5] for row in cells)
        advice = _text(app, "#lb-advice")
        assert f"fastest: num_workers={best} (" in advice
        assert f"→ set data.num_workers = {best}" in advice
        assert "digits is held in memory" in advice and "needs no workers" in advice
        assert _text(app, "#lb-status").startswith("done in ")
        assert "train images" in screen_text(app)

        await pilot.press("a")
        await pilot.pause()
        assert applied == [best]
        assert not isinstance(app.screen, LoaderBenchScreen)


@pytest.mark.slow  # waits on the helper process
@sync
async def test_a_bad_preset_shows_the_error_line(runs_dir: Path) -> None:
    app = make_app(runs_dir, start_mode="runs")
    async with app.run_test(size=(100, 34)) as pilot:
        await pilot.pause()
        screen = open_loader_bench(app, "no-such-preset")
        await wait_for(pilot, lambda: screen.error, BENCH_TIMEOUT, "the error")
        await pilot.pause()
        error = _text(app, "#lb-error")
        assert error.startswith("error: unknown preset 'no-such-preset'")
        assert "digits-quick" in error  # the CLI names the presets there are
        assert _text(app, "#lb-status") == "failed"
        assert screen.query_one("#lb-table", DataTable).row_count == 0
        assert "Traceback" not in screen_text(app)
        assert not screen.check_action("apply", ())  # no on_apply: no key for it
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, LoaderBenchScreen)


@pytest.mark.slow
@sync
async def test_rerun_and_escape_kill_the_running_process_group(runs_dir: Path) -> None:
    app = make_app(runs_dir, start_mode="runs")
    async with app.run_test(size=(100, 34)) as pilot:
        await pilot.pause()
        screen = open_loader_bench(app, "digits-quick", workers="0,2,3,4")
        await wait_for(pilot, lambda: screen.pid, 60, "the bench process")
        first = screen.pid
        assert first is not None and _group_alive(first)
        command = Path(f"/proc/{first}/cmdline").read_bytes().split(b"\0")
        # the engine's own bench process (JSON lines), never the CLI
        assert command[2:3] == [b"engine.worker"] and b"bench-loader" in command
        assert b"digits-quick" in command and b"resnet_tui" not in command

        await pilot.press("r")  # a new process; the old one (and its group) is killed
        await wait_for(pilot, lambda: screen.pid not in (None, first), 60, "the new process")
        second = screen.pid
        assert second is not None
        await wait_for(pilot, lambda: not _group_alive(first), 15, "the first bench to die")

        # escape while DataLoader workers run: they go with the bench at once (left alone,
        # an orphaned torch worker notices its parent is gone only within 5 s)
        await wait_for(
            pilot, lambda: len(_group_alive(second)) > 1, BENCH_TIMEOUT, "the loader workers"
        )
        assert screen.running and not screen.finished
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, LoaderBenchScreen)
        await wait_for(pilot, lambda: not _group_alive(second), 10, "the bench group to die")
        await wait_for(pilot, lambda: _reaped(second), 15, "the bench to be reaped")


def _reaped(pid: int) -> bool:
    """Gone from the process table (killed and waited for, not left a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.slow
@sync
async def test_the_launch_form_times_its_own_loader_and_takes_the_fastest(
    runs_dir: Path,
) -> None:
    from resnet_tui.screens.launch import LaunchScreen
    from resnet_tui.widgets.config_form import ConfigForm

    app = make_app(runs_dir, start_mode="launch")
    async with app.run_test(size=(100, 34)) as pilot:
        await pilot.pause()
        launch = app.screen
        assert isinstance(launch, LaunchScreen)
        form = launch.query_one(ConfigForm)
        form.set_value("data.batch_size", 48)  # the form's config, not the preset's, is timed
        form.set_value("data.num_workers", 7)
        form.revalidate("data.batch_size")
        launch.bench_workers = "0,1"
        await pilot.press("ctrl+t")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, LoaderBenchScreen)
        target = Path(screen.target)
        assert target.exists() and target.suffix == ".toml"
        await wait_for(
            pilot, lambda: screen.finished or bool(screen.error), BENCH_TIMEOUT, "the rows"
        )
        assert screen.error == ""
        assert screen.setup is not None and screen.setup["batch_size"] == 48
        best = max(screen.rows[:2], key=lambda r: r["images_per_s"])["workers"]
        await pilot.press("a")
        await pilot.pause()
        assert app.screen is launch
        assert form.value("data.num_workers") == best
        assert not target.exists()  # the form's config file is removed when the bench closes
