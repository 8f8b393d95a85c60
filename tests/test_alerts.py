"""Alerts when a run ends: the user's settings file, the alert command (run by the process
that ended the run, detached, its failures logged), and the console's toast and bell."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from tui_fixtures import Notes, build_store, make_app, settle, sync, wait_for
from typer.testing import CliRunner

from engine import api
from engine.alerts import ALERTS_LOG, run_command
from engine.presets import resolve
from engine.settings import load_settings, set_setting
from engine.store import RunStore
from resnet_tui.alerts import RunAlerts
from resnet_tui.cli import app as cli_app
from resnet_tui.follow import StoreFollower

runner = CliRunner()
LIVE = "20250314-170000-digits-live-0007"  # the fixture store's running run


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(cli_app, list(args))
    return result.exit_code, result.output


def settings_file() -> Path:
    return Path(os.environ["RESNET_TUI_CONFIG"])  # the test's own (conftest)


def hook_script(tmp_path: Path, exit_code: int = 0) -> Path:
    """A real alert command: appends the RESNET_TUI_* variables it got to seen.txt, one run a
    line, then exits ``exit_code``."""
    script = tmp_path / "hook.sh"
    script.write_text(
        "#!/bin/sh\n"
        'out="$(dirname "$0")/seen.txt"\n'
        'printf "%s|%s|%s|%s|%s|%s\\n" "$RESNET_TUI_RUN_ID" "$RESNET_TUI_RUN_NAME" '
        '"$RESNET_TUI_STATUS" "$RESNET_TUI_ACC" "$RESNET_TUI_TEST_ACC" "$RESNET_TUI_STORE" '
        '>> "$out"\n'
        f'echo "hook says bye" >&2\nexit {exit_code}\n',
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script


def wait_until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)
    return result


def seen(tmp_path: Path) -> list[list[str]]:
    path = tmp_path / "seen.txt"
    if not path.exists():
        return []
    return [line.split("|") for line in path.read_text(encoding="utf-8").splitlines()]


def alerts_log(store: RunStore) -> str:
    path = store.root / ALERTS_LOG
    return path.read_text(encoding="utf-8") if path.exists() else ""


def new_run(store: RunStore, name: str, sets: list[str] | None = None) -> str:
    config, preset = resolve("digits-quick", sets or ["train.epochs=1"])
    return str(store.create_run(config.to_dict(), name=name, preset=preset)["id"])


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def crashed_run(store: RunStore, name: str) -> str:
    """A run marked running whose trainer is gone (killed outright): readers show it crashed."""
    run_id = new_run(store, name)
    store.set_status(run_id, "running", pid=dead_pid(), best={"val_acc": 0.8125})
    return run_id


# ---------------------------------------------------------------- settings


def test_settings_default_without_a_file_and_set_writes_them(tmp_path: Path) -> None:
    assert not settings_file().exists()
    assert load_settings().alerts == api.Settings().alerts
    assert load_settings().alerts.bell is True
    code, out = cli("settings", "set", "alerts.bell", "false")
    assert code == 0, out
    assert "alerts.bell = false" in out
    code, out = cli("settings", "set", "alerts.command", 'notify-send "$RESNET_TUI_RUN_NAME"')
    assert code == 0, out
    again = load_settings()
    assert again.alerts.bell is False
    assert again.alerts.command == 'notify-send "$RESNET_TUI_RUN_NAME"'
    code, out = cli("settings", "show")
    assert code == 0, out
    assert "alerts.bell" in out and "false" in out
    assert 'notify-send "$RESNET_TUI_RUN_NAME"' in out  # whole, never cut
    assert str(settings_file()) in out.replace("\n", "")
    code, out = cli("settings", "show", "--json")
    assert code == 0 and '"alerts.timeout_s": 30' in out


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[alerts\nbell = true\n", "is not valid TOML"),
        ("[alerts]\nbel = false\n", "unknown setting 'alerts.bel'; did you mean alerts.bell?"),
        ("[alerts]\nbell = 'no'\n", "alerts.bell must be true or false, not 'no'"),
        ("[alerts]\ntimeout_s = 0\n", "alerts.timeout_s must be a whole number from 1 to 3600"),
        ("alerts = 3\n", "'alerts' must be a [section]"),
    ],
)
def test_a_bad_settings_file_is_one_clear_line_and_left_as_it_was(text: str, says: str) -> None:
    settings_file().write_text(text, encoding="utf-8")
    for args in (("settings", "show"), ("settings", "set", "alerts.bell", "true")):
        code, out = cli(*args)
        assert code == 2, out
        lines = out.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), out
        assert says in out and str(settings_file()) in out
        assert "Traceback" not in out
    assert settings_file().read_text(encoding="utf-8") == text  # never rewritten


def test_a_bad_value_on_the_command_line_is_refused() -> None:
    code, out = cli("settings", "set", "alerts.bell", "maybe")
    assert code == 2 and out.strip() == "error: alerts.bell must be true or false, not 'maybe'"
    code, out = cli("settings", "set", "alerts.sound", "true")
    assert code == 2 and "unknown setting 'alerts.sound'" in out
    assert not settings_file().exists()
    with pytest.raises(api.SettingsError, match="whole number"):
        set_setting("alerts.timeout_s", "soon")


# ---------------------------------------------------------------- the alert command


def test_a_crash_recorded_once_runs_the_command_once(tmp_path: Path) -> None:
    """A trainer killed outright cannot run the command; whoever records the crash does, once."""
    store = RunStore(tmp_path / "runs")
    run_id = crashed_run(store, "killed-run")
    set_setting("alerts.command", f"{hook_script(tmp_path)} extra-arg")
    assert api.get_run(store, run_id).status == "crashed"  # derived: the store says running
    assert api.record_crashes(store, api.list_runs(store)) == [run_id]
    assert api.record_crashes(store, api.list_runs(store)) == []  # recorded: no second alert
    assert store.mark_crashed(run_id, then=lambda doc: pytest.fail("marked twice"))
    rows = wait_until(lambda: seen(tmp_path), 15, "the alert command")
    assert rows == [[run_id, "killed-run", "crashed", "0.8125", "", str(store.root.absolute())]]
    wait_until(lambda: "ok" in alerts_log(store), 10, "alerts.log")
    assert store.get(run_id)["status"] == "crashed" and store.get(run_id)["finished"]
    time.sleep(0.3)
    assert len(seen(tmp_path)) == 1


def test_the_consoles_follower_records_a_crash_it_sees(tmp_path: Path) -> None:
    """No trainer can alert for a run killed outright: the console's follower does, once."""
    store = RunStore(tmp_path / "runs")
    run_id = crashed_run(store, "seen-by-console")
    set_setting("alerts.command", str(hook_script(tmp_path)))
    follower = StoreFollower(RunStore(tmp_path / "runs"))
    first = follower.poll().runs
    assert first is not None and first[0].status == "crashed"
    assert store.get(run_id)["finished"]  # recorded in the store, not only shown
    follower.poll()
    rows = wait_until(lambda: seen(tmp_path), 15, "the alert command")
    assert [row[:3] for row in rows] == [[run_id, "seen-by-console", "crashed"]]


def test_a_command_that_leaves_a_child_running_is_done_when_it_exits(tmp_path: Path) -> None:
    """A sound player or notifier started in the background keeps the command's output open:
    the command still counts as done, and well, when it exits 0."""
    flag = tmp_path / "child-ran"
    start = time.monotonic()
    assert run_command(f"(sleep 2; touch {flag}) & exit 0", timeout_s=1) is None
    assert time.monotonic() - start < 1  # not waiting for the child's end
    assert run_command("echo why; exit 4", timeout_s=5) == "exited with status 4: why"
    deadline = time.monotonic() + 10
    while not flag.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert flag.exists()  # the child was left alone to finish


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("exit 3", "exited with status 3"),
        ("no-such-alert-program-xyz --now", "exited with status 127 (command not found)"),
        pytest.param(
            "sleep 20",
            "timed out after 1 s (alerts.timeout_s) and was killed",
            marks=pytest.mark.slow,  # waits the shortest timeout, 1 s
        ),
    ],
)
def test_a_failing_command_is_logged_never_fatal(tmp_path: Path, command: str, says: str) -> None:
    store = RunStore(tmp_path / "runs")
    run_id = crashed_run(store, "doomed")
    set_setting("alerts.command", command)
    set_setting("alerts.timeout_s", "1")
    started = time.monotonic()
    assert api.record_crashes(store, api.list_runs(store)) == [run_id]
    assert time.monotonic() - started < 1  # the command runs detached: no wait here
    log = wait_until(lambda: alerts_log(store) if says in alerts_log(store) else "", 15, says)
    assert f"run {run_id} crashed: alert command `{command}` {says}" in log
    train_log = (store.run_dir(run_id) / "train.log").read_text(encoding="utf-8")
    assert f"alert command `{command}` {says}" in train_log
    assert store.get(run_id)["status"] == "crashed"


def test_an_unreadable_settings_file_is_logged_by_the_trainer_side(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs")
    run_id = crashed_run(store, "bad-settings")
    settings_file().write_text("[alerts]\ncommand = 3\n", encoding="utf-8")
    assert api.record_crashes(store, api.list_runs(store)) == [run_id]
    assert "no alert command run: the settings file" in alerts_log(store)
    assert "alerts.command must be text" in alerts_log(store)
    assert store.get(run_id)["status"] == "crashed"


def test_alerts_try_and_check_from_the_cli(tmp_path: Path) -> None:
    store = RunStore(os.environ["RESNET_TUI_RUNS"])
    code, out = cli("alerts", "check")
    assert code == 0 and "no new crashes" in out
    run_id = crashed_run(store, "try-me")
    code, out = cli("alerts", "try", "try-me")
    assert code == 2 and "no alert command is set" in out
    set_setting("alerts.command", str(hook_script(tmp_path)))
    code, out = cli("alerts", "try", "try-me")
    assert code == 0 and "ok" in out, out
    assert seen(tmp_path)[0][:3] == [run_id, "try-me", "crashed"]  # as readers see it
    assert store.get(run_id)["finished"] is None  # trying records nothing
    set_setting("alerts.command", "echo broken >&2; exit 4")
    code, out = cli("alerts", "try", "try-me")
    assert code == 1 and out.strip().endswith("exited with status 4: broken"), out
    set_setting("alerts.command", str(hook_script(tmp_path)))
    code, out = cli("alerts", "check")
    assert code == 0 and f"{run_id} crashed" in out
    wait_until(lambda: len(seen(tmp_path)) == 2, 15, "the alert of the crash")
    assert seen(tmp_path)[1][2] == "crashed"


@pytest.mark.slow  # real training
def test_a_real_run_runs_the_command_when_it_finishes(tmp_path: Path) -> None:
    from engine.runner import execute

    store = RunStore(tmp_path / "runs")
    set_setting("alerts.command", str(hook_script(tmp_path, exit_code=1)))
    run_id = new_run(store, "real-digits")
    doc = execute(store, run_id)
    assert doc["status"] == "finished"
    rows = wait_until(lambda: seen(tmp_path), 30, "the alert command")
    assert rows == [
        [
            run_id,
            "real-digits",
            "finished",
            str(round(doc["best"]["val_acc"], 6)),
            str(round(doc["test"]["test_acc"], 6)),
            str(store.root.absolute()),
        ]
    ]
    says = "exited with status 1: hook says bye"
    wait_until(lambda: says in alerts_log(store), 15, "the failure in alerts.log")
    assert says in (store.run_dir(run_id) / "train.log").read_text(encoding="utf-8")
    assert store.get(run_id)["status"] == "finished"  # the failing command changed nothing


# ---------------------------------------------------------------- the console


def record(run_id: str, status: str, name: str = "") -> api.RunRecord:
    return api.RunRecord.from_json({"id": run_id, "name": name or run_id, "status": status})


def test_run_alerts_see_ends_not_runs_that_had_ended() -> None:
    shown: list[tuple[str, dict[str, Any]]] = []
    bells: list[int] = []
    alerts = RunAlerts(lambda m, **kw: shown.append((m, kw)), lambda: bells.append(1))
    a, b, c = "20250101-000000-a-0001", "20250101-000000-b-0002", "20250101-000000-c-0003"
    alerts.update([record(a, "running"), record(b, "finished")])  # the console opens
    assert shown == [] and bells == []
    alerts.update([record(a, "running"), record(b, "finished"), record(c, "failed")])
    assert [m for m, _ in shown] == [f"{c} failed"]  # started and ended between two polls
    assert shown[0][1]["severity"] == "error" and bells == [1]
    alerts.update([record(a, "stopped"), record(b, "finished"), record(c, "failed")])
    assert [m for m, _ in shown][1:] == [f"{a} stopped"] and bells == [1]  # asked: no bell
    # a big store's first read is partial: the older runs it adds later alert nothing
    partial = RunAlerts(lambda m, **kw: shown.append((m, kw)), lambda: bells.append(1))
    partial.update([record(a, "running")], complete=False)
    partial.update([record(a, "running"), record(b, "finished")])
    assert len(shown) == 2
    set_setting("alerts.toast", "false")  # read when a run ends: no restart needed
    partial.update([record(a, "diverged"), record(b, "finished")])
    assert len(shown) == 2 and bells == [1, 1]  # no toast; the bell still rings


@sync
@pytest.mark.slow  # Pilot: two views, several polls of the store
async def test_the_console_toasts_and_rings_when_a_run_ends_in_any_view(tmp_path: Path) -> None:
    store = build_store(tmp_path / "runs")
    app = make_app(tmp_path / "runs", start_mode="best", poll_interval=0.2)
    bells: list[str] = []
    notes = Notes()
    async with app.run_test(size=(80, 24), message_hook=notes.hook) as pilot:
        app.bell = lambda: bells.append(app.screen.id or type(app.screen).__name__)  # type: ignore[method-assign]
        await settle(pilot)
        assert notes.titled("run ended") == [] and bells == []  # the ended runs were ended
        store.set_status(LIVE, "finished", "trained", best={"val_acc": 0.9722})
        await wait_for(pilot, lambda: notes.titled("run ended"), 10, "the toast")
        assert notes.titled("run ended") == ["digits-live finished: best val 97.22%"]
        assert len(bells) == 1
        set_setting("alerts.bell", "false")
        app.switch_mode("compare")
        other = new_run(store, "queued-then-failed")  # seen queued or not: it alerts
        store.set_status(other, "failed", "no data")
        await wait_for(pilot, lambda: len(notes.titled("run ended")) == 2, 10, "the 2nd toast")
        assert notes.titled("run ended")[1] == "queued-then-failed failed"
        assert len(bells) == 1  # the bell is off
