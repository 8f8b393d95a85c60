"""The console with real trainers: launch from the form, stop, resume, finish; and an SSH drop
in tmux that must not stop a run.

These start the real detached trainer (``resnet-tui train --resume RUN --quiet``) on the
embedded digits data, with few epochs and one CPU thread each.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input
from tui_fixtures import kill_trainers, make_app, screen_text, settle, sync, wait_for

from engine.presets import list_presets
from engine.store import RunStore
from resnet_tui.widgets.config_form import ConfigForm

pytestmark = pytest.mark.slow  # real training: `make test` runs it, `make test-fast` does not

TRAIN_TIMEOUT = 150.0


def _doc(store: RunStore) -> dict[str, Any] | None:
    runs = store.list_runs()
    return runs[0] if runs else None


async def _type_into(pilot: Any, key: str, text: str) -> None:
    form = pilot.app.screen.query_one(ConfigForm)
    form.focus_field(key)
    await settle(pilot)
    assert isinstance(pilot.app.focused, Input)
    await pilot.press("end", "ctrl+u", *text)
    await settle(pilot)


@sync
async def test_launch_from_the_form_then_stop_resume_and_finish(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    app = make_app(runs_dir, start_mode="launch", clock=None)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(
                pilot, lambda: app.state.registries is not None, timeout=90, what="the registries"
            )
            # 30 epochs of digits take about 10 s: the stop below lands while it trains
            await _type_into(pilot, "train.epochs", "30")
            await _type_into(pilot, "train.threads", "1")
            app.screen.query_one("#launch-name", Input).value = "from-the-form"
            await pilot.press("escape", "ctrl+l")
            await wait_for(pilot, lambda: app.current_mode == "monitor", 90, "the launch")
            doc = _doc(store)
            assert doc is not None and doc["name"] == "from-the-form"
            assert doc["config"]["train"]["epochs"] == 30
            run_id = doc["id"]

            def status() -> str:
                current = app.state.runs_by_id.get(run_id)
                return current.status if current is not None else "?"

            await wait_for(
                pilot,
                lambda: (r := app.state.runs_by_id.get(run_id)) is not None and r.epoch >= 1,
                TRAIN_TIMEOUT,
                "the first epoch",
            )
            assert "from-the-form" in screen_text(app)
            await pilot.press("x")  # the Monitor's selected run is the new one
            await settle(pilot)
            await pilot.press("y")  # x asks first
            await wait_for(pilot, lambda: status() == "stopped", 90, "the graceful stop")
            assert (runs_dir / run_id / "last.pt").exists()
            await pilot.press("r")
            await wait_for(pilot, lambda: status() == "running", 30, "the resume")
            await wait_for(
                pilot, lambda: status() == "finished", TRAIN_TIMEOUT, "the run to finish"
            )
            await pilot.press("4")
            await settle(pilot)
            table = app.screen.query_one("#runs-table", DataTable)
            assert "finished" in str(table.get_cell(run_id, "status"))
            assert "30/30" in str(table.get_cell(run_id, "epochs"))
    finally:
        kill_trainers(runs_dir)
    final = store.get(run_id)
    assert final["status"] == "finished" and final["test"]["test_acc"] > 0.1


# ---------------------------------------------------------------- the SSH drop, in tmux


class Tmux:
    """A private tmux server (its own socket) with one 80x24 session."""

    def __init__(self, name: str) -> None:
        self.socket = name

    def run(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=30,
        )
        return out.stdout

    def start(self, command: str, cwd: Path) -> None:
        self.run("new-session", "-d", "-s", "tui", "-x", "80", "-y", "24", "-c", str(cwd), command)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "tui", check=False)

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.run("send-keys", "-t", "tui", key)
            time.sleep(0.15)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} not on screen after {timeout:.0f} s:\n{self.screen()}")

    def kill(self) -> None:
        self.run("kill-server", check=False)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_ssh_drop_keeps_the_run_and_the_next_console_shows_it(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    presets = Path(os.environ["RESNET_TUI_PRESETS"])
    presets.mkdir(parents=True, exist_ok=True)
    (presets / "e2e-tiny.toml").write_text(
        'description = "digits, two epochs, one thread"\nextends = "digits-quick"\n\n'
        "[train]\nepochs = 2\nthreads = 1\n",
        encoding="utf-8",
    )
    names = [p.name for p in list_presets()]
    console = f"{Path(sys.executable).parent / 'resnet-tui'} --runs-dir {runs}"
    tmux = Tmux(f"resnet-tui-test-{os.getpid()}")
    store = RunStore(runs)
    try:
        tmux.start(console, tmp_path)
        tmux.wait_for("Welcome to resnet-tui")
        tmux.keys("2")
        tmux.wait_for("e2e-tiny")
        tmux.keys(*["Down"] * names.index("e2e-tiny"), "Enter")
        tmux.wait_for("Train preset e2e-tiny")  # asked once: the name, the data, the device
        tmux.keys("Enter")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (_doc(store) or {}).get("pid"):
            time.sleep(0.2)
        doc = _doc(store)
        assert doc is not None and doc["preset"] == "e2e-tiny", tmux.screen()
        tmux.kill()  # the SSH connection drops: the console gets SIGHUP and dies
        deadline = time.monotonic() + TRAIN_TIMEOUT
        while time.monotonic() < deadline and store.get(doc["id"])["status"] != "finished":
            time.sleep(0.5)
        assert store.get(doc["id"])["status"] == "finished", (
            runs / doc["id"] / "train.log"
        ).read_text()[-2000:]
        # A new console shows the finished run; enter opens it, m its confusion matrix.
        tmux.start(console, tmp_path)
        tmux.wait_for("finished")
        tmux.keys("Enter")
        tmux.wait_for(doc["id"])
        tmux.keys("m")
        screen = tmux.wait_for("rows true, columns predicted")
        assert "accuracy (test)" in screen
        assert "row share" in screen or " 9 " in screen
    finally:
        tmux.kill()
        kill_trainers(runs)
