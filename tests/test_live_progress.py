"""Live to the step: the trainer's progress file, the Monitor that shows it for runs started
anywhere, and the Monitor following the newest running run unless the user pinned one."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import REPO
from textual.widgets import Static
from tui_fixtures import FIXED_NOW, build_store, iso, make_app, screen_text, settle, sync, wait_for

from engine.store import RunStore
from engine.store.progress import PROGRESS_FILE, Progress, ProgressWriter, read_progress
from resnet_tui.screens.monitor import Live, progress_text

LIVE = "20250314-170000-digits-live-0007"  # running, epoch 5 of 20, in tui_fixtures


def _progress(**changes: object) -> Progress:
    base = dict(
        epoch=6,
        epochs=20,
        step=40,
        steps=80,
        images=40 * 128,
        epoch_seconds=4.0,
        run_seconds=64.0,
        time=1_000_000.0,
        phase="train",
    )
    base.update(changes)
    return Progress(**base)  # type: ignore[arg-type]


def _write(folder: Path, progress: Progress) -> None:
    (folder / PROGRESS_FILE).write_text(json.dumps(progress.__dict__))


# ---------------------------------------------------------------- the trainer's side


def test_the_writer_writes_about_once_a_second_and_at_each_epochs_last_step(
    tmp_path: Path,
) -> None:
    warnings: list[str] = []
    writer = ProgressWriter(tmp_path, epochs=3, processes=2, warn=warnings.append, every=3600)
    writer.step(1, 1, 10, images=32, seconds=0.1, run_seconds=5.0)
    first = read_progress(tmp_path)
    assert first is not None and (first.step, first.phase) == (1, "train")
    assert first.images == 64  # both processes of a DDP run
    for step in range(2, 10):
        writer.step(1, step, 10, images=32 * step, seconds=0.1 * step, run_seconds=5.0)
    assert read_progress(tmp_path) == first  # throttled
    writer.step(1, 10, 10, images=320, seconds=1.0, run_seconds=6.0)
    last = read_progress(tmp_path)
    assert last is not None and (last.step, last.steps, last.phase) == (10, 10, "eval")
    assert last.images_per_s == pytest.approx(640.0)
    assert warnings == []
    every = ProgressWriter(tmp_path, epochs=3, processes=1, warn=warnings.append, every=0.0)
    every.step(2, 3, 10, images=96, seconds=0.3, run_seconds=7.0)
    again = read_progress(tmp_path)
    assert again is not None and (again.epoch, again.step) == (2, 3)


def test_a_progress_that_cannot_be_written_warns_once_and_never_stops(tmp_path: Path) -> None:
    warnings: list[str] = []
    gone = tmp_path / "deleted-run"
    writer = ProgressWriter(gone, epochs=3, processes=1, warn=warnings.append, every=0.0)
    for step in range(1, 4):
        writer.step(1, step, 3, images=step, seconds=0.1, run_seconds=1.0)
    assert len(warnings) == 1 and "training goes on" in warnings[0]


@pytest.mark.parametrize(
    "content",
    ["", "{", "[]", '{"epoch": 1}', '{"epoch": "x", "epochs": 1, "step": 1, "steps": 1}'],
)
def test_a_damaged_progress_file_reads_as_none(tmp_path: Path, content: str) -> None:
    (tmp_path / PROGRESS_FILE).write_text(content)
    assert read_progress(tmp_path) is None
    assert read_progress(tmp_path / "missing") is None


# ---------------------------------------------------------------- what the Monitor computes


def _epoch_lines(n: int, gap: float) -> list[dict[str, object]]:
    start = FIXED_NOW - timedelta(seconds=gap * n)
    return [
        {
            "kind": "epoch",
            "epoch": i,
            "seconds": gap / 2,
            "time": iso(start + timedelta(seconds=gap * i)),
        }
        for i in range(1, n + 1)
    ]


def test_the_etas_come_from_the_step_position_and_the_epochs_wall_time(tmp_path: Path) -> None:
    store = build_store(tmp_path / "runs")
    run = next(r for r in store.list_records() if r.id == LIVE)  # running, 5 of 20 epochs done
    epochs = _epoch_lines(5, gap=10.0)  # 10 s an epoch, wall clock
    progress = _progress()  # 0.1 s a step, 40 of 80 done, written 1 s before "now"
    live = Live.of(run, epochs, progress, now=progress.time + 1.0)  # type: ignore[arg-type]
    assert live.epoch_left == pytest.approx(8.0 - 5.0)
    assert live.run_left == pytest.approx(3.0 + 14 * 10.0)
    assert live.stalled is None
    text = progress_text(run, epochs, 20, progress, progress.time + 1.0, 64.0).plain  # type: ignore[arg-type]
    assert "epoch 5/20" in text and "ETA 2:23" in text and "elapsed 1:04" in text
    assert "step 40/80" in text and "1,280 img/s" in text and "epoch ETA 0:03" in text
    # the evaluation after the last step
    evaluating = progress_text(run, epochs, 20, _progress(step=80, phase="eval"), 0.0).plain  # type: ignore[arg-type]
    assert "step 80/80" in evaluating and "evaluating epoch 6" in evaluating
    # a position from an epoch that is over is not shown as the current one
    stale = progress_text(run, epochs, 20, _progress(epoch=5), progress.time).plain  # type: ignore[arg-type]
    assert "step" not in stale and "epoch 6 starting" in stale
    # no step for a long while: said
    stuck = Live.of(run, epochs, progress, now=progress.time + 60.0)  # type: ignore[arg-type]
    assert stuck.stalled == pytest.approx(60.0) and stuck.epoch_left == 0.0


# ---------------------------------------------------------------- the Monitor, live


@pytest.fixture
def fixture_runs(tmp_path: Path) -> Path:
    build_store(tmp_path / "runs")
    return tmp_path / "runs"


@sync
async def test_the_monitor_shows_the_step_inside_the_epoch(fixture_runs: Path) -> None:
    folder = fixture_runs / LIVE
    _write(folder, _progress(time=time.time()))
    app = make_app(fixture_runs, start_mode="monitor")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: "step 40/80" in screen_text(app), 15, "step 40/80")
        text = screen_text(app)
        assert "1,280 img/s" in text and "epoch ETA" in text and "following the newest" in text
        _write(folder, _progress(step=72, images=72 * 128, epoch_seconds=7.2, time=time.time()))
        started = time.monotonic()
        await wait_for(pilot, lambda: "step 72/80" in screen_text(app), 15, "step 72/80")
        assert time.monotonic() - started < 2.5  # the follower reads it about once a second


@sync
async def test_the_monitor_follows_the_newest_running_run_unless_one_is_pinned(
    fixture_runs: Path,
) -> None:
    store = RunStore(fixture_runs)
    config = store.get(LIVE)["config"]
    app = make_app(fixture_runs, start_mode="monitor")

    def shown() -> str:
        return str(app.screen.query_one("#monitor-run", Static).render())

    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.screen.selected == LIVE  # type: ignore[attr-defined]
        newer = store.create_run(config, name="started-elsewhere")["id"]
        store.update(newer, status="running")
        started = time.monotonic()
        await wait_for(pilot, lambda: "started-elsewhere" in shown(), 15, "the new run")
        assert time.monotonic() - started < 2.5
        assert "following the newest running run" in shown()
        await pilot.press("down")  # the user picks another run: pinned
        await settle(pilot)
        pinned = app.screen.selected  # type: ignore[attr-defined]
        assert pinned != newer and "pinned here" in shown()
        newest = store.create_run(config, name="started-later")["id"]
        store.update(newest, status="running")
        await wait_for(pilot, lambda: newest in app.state.runs_by_id, 15, "the newest run")
        await settle(pilot)
        assert app.screen.selected == pinned  # type: ignore[attr-defined]
        await pilot.press("f")  # follow again
        await wait_for(pilot, lambda: "started-later" in shown(), 15, "following again")


# ---------------------------------------------------------------- in a real terminal


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_a_run_started_in_another_shell_shows_its_steps_in_the_monitor(tmp_path: Path) -> None:
    """The console in tmux at 80x24 on the Monitor; a run started from another process (the
    CLI, detached): its steps and an ETA are on screen within 5 s of the trainer's first
    step, and the run itself within 2 s of being created."""
    runs = tmp_path / "runs"
    session = f"live-{os.getpid()}"
    console = f"{sys.executable} -m resnet_tui --runs-dir {runs}"
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", console],
        check=True,
        cwd=REPO,
    )

    def pane() -> str:
        return subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True
        ).stdout

    try:
        deadline = time.monotonic() + 60
        while "Monitor" not in pane() and time.monotonic() < deadline:
            time.sleep(0.2)
        subprocess.run(["tmux", "send-keys", "-t", session, "3"], check=True)
        launch = subprocess.Popen(
            [sys.executable, "-m", "resnet_tui", "--runs-dir", str(runs), "train"]
            + ["digits-quick", "--name", "from-another-shell", "--detach"]
            + ["--set", "data.batch_size=4", "--set", "train.epochs=4"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        created = seen_run = seen_steps = first_step = None
        folder: Path | None = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and seen_steps is None:
            text = pane()
            now = time.time()
            if folder is None:  # config.toml: written once, when the run is created
                folder = next((c.parent for c in runs.glob("*/config.toml")), None)
                if folder is not None:
                    created = (folder / "config.toml").stat().st_mtime
            if seen_run is None and "from-another-shell" in text:
                seen_run = now
            if folder is not None and first_step is None and (folder / PROGRESS_FILE).exists():
                first_step = (folder / PROGRESS_FILE).stat().st_mtime
            if re.search(r"step \d+/\d+", text) and re.search(r"ETA \d+:\d\d", text):
                seen_steps = now
            time.sleep(0.1)
        out, err = launch.communicate(timeout=60)
        assert launch.returncode == 0, err
        assert created is not None and seen_run is not None, pane()
        assert seen_steps is not None and first_step is not None, pane()
        assert seen_run - created < 2.0, (seen_run - created, pane())
        assert seen_steps - first_step < 5.0, (seen_steps - first_step, pane())
        print(
            f"run listed {seen_run - created:.2f} s after it was created; steps and ETA "
            f"shown {seen_steps - first_step:.2f} s after the first step was written"
        )
        text = pane()
        assert "img/s" in text and "following the newest running run" in text
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        from tui_fixtures import kill_trainers

        kill_trainers(runs)


@sync
async def test_a_run_launched_here_is_shown_but_not_pinned(fixture_runs: Path) -> None:
    """After a launch the Monitor shows the new run, and still follows a newer one started
    anywhere else (a newcomer saw it stay on the launched run, pinned)."""
    store = RunStore(fixture_runs)
    config = store.get(LIVE)["config"]
    app = make_app(fixture_runs, start_mode="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        launched = store.create_run(config, name="launched-here")["id"]
        store.update(launched, status="running")
        app.state.monitor_focus = launched  # what actions.launched does
        await pilot.press("3")
        await wait_for(pilot, lambda: app.screen.selected == launched, 15, "the launched run")  # type: ignore[attr-defined]
        assert not app.screen.pinned  # type: ignore[attr-defined]
        elsewhere = store.create_run(config, name="from-the-cli")["id"]
        store.update(elsewhere, status="running")
        await wait_for(pilot, lambda: app.screen.selected == elsewhere, 15, "the CLI's run")  # type: ignore[attr-defined]
