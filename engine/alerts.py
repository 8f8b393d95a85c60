"""Alerts: the user's command run when a run ends (``alerts.command`` in the settings).

Who runs it: the process that ended the run. A trainer runs it when its run finishes, fails,
diverges or stops (``engine.runner``); a run whose trainer was killed outright cannot report
itself, so the process that records the crash (``RunStore.mark_crashed``, once, under the
store's lock: a console, a sweep driver, ``resnet-tui alerts check``) runs it for that run.
So the command runs once per run end, with or without a console open.

How: a detached watcher (``python -m engine.alerts``) runs the command through ``/bin/sh``
with the run's id, name, status and accuracies in ``RESNET_TUI_*`` variables, and kills it
after ``alerts.timeout_s``. The trainer only starts the watcher and goes on: a slow, failing
or missing command never blocks or ends it. Every result goes to ``alerts.log`` in the store,
a failure to the run's ``train.log`` too; nothing is ever raised.

Torch-free.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from engine.errors import UserError
from engine.procs import spawn_detached
from engine.settings import load_settings
from engine.store import LOG_FILE, RunStore

ALERTS_LOG = "alerts.log"
# The ends that alert; "stopped" (the user asked) alerts without the bell (the console's choice).
ENDS = ("finished", "failed", "crashed", "diverged", "stopped")
ENV_PREFIX = "RESNET_TUI_"


def hook_env(store: RunStore, doc: dict[str, Any]) -> dict[str, str]:
    """The variables the command gets: the run's id, name, status, best val accuracy and test
    accuracy (fractions, empty when unknown), its message and the store's folder."""
    best = doc.get("best") or {}
    test = doc.get("test") or {}
    return {
        "RESNET_TUI_RUN_ID": str(doc.get("id", "")),
        "RESNET_TUI_RUN_NAME": str(doc.get("name", "")),
        "RESNET_TUI_STATUS": str(doc.get("status", "")),
        "RESNET_TUI_ACC": _number(best.get("val_acc")),
        "RESNET_TUI_TEST_ACC": _number(test.get("test_acc")),
        "RESNET_TUI_EPOCH": _number(doc.get("epoch")),
        "RESNET_TUI_MESSAGE": str(doc.get("message", ""))[:2000],
        "RESNET_TUI_STORE": str(Path(store.root).absolute()),
    }


def announce(
    store: RunStore, doc: dict[str, Any], log: Callable[[str], None] | None = None
) -> None:
    """Start the user's alert command for run ``doc`` (as it ended), if one is set.

    Never raises: an unreadable settings file or a command that cannot be started is written
    to alerts.log and to ``log`` (the run's train.log)."""
    try:
        if doc.get("status") not in ENDS:
            return
        try:
            command = load_settings().alerts
        except UserError as exc:
            _record(store, doc, f"no alert command run: {exc}", log)
            return
        if not command.command.strip():
            return
        env = {**os.environ, **hook_env(store, doc)}
        watcher = [
            sys.executable,
            "-m",
            "engine.alerts",
            "--timeout",
            str(command.timeout_s),
            "--run-log",
            str(store.run_dir(str(doc["id"])) / LOG_FILE),
            "--",
            command.command,
        ]
        spawn_detached(watcher, Path(store.root) / ALERTS_LOG, env=env)
    except Exception as exc:  # an alert is never worth a run
        _record(store, doc, f"could not start the alert command: {exc}", log)


def mark_crashed(store: RunStore, run_id: str) -> bool:
    """Record the crash of run ``run_id`` if its trainer is gone, and, when this call is the
    one that recorded it, run the alert command. True when it did."""
    marked: list[dict[str, Any]] = []
    store.mark_crashed(run_id, then=marked.append)
    for doc in marked:
        RunLogLine(store, run_id)(f"crashed: {doc.get('message', '')}")
        announce(store, doc, RunLogLine(store, run_id))
    return bool(marked)


def record_crashes(store: RunStore, runs: Iterable[Any]) -> list[str]:
    """Record the crash of every run in ``runs`` (records or documents) that readers show as
    crashed while the store still says it is active; returns the ids this call recorded.
    Best effort: a store that cannot be written leaves them shown as crashed, as before."""
    done = []
    for run in runs:
        status = run.get("status") if isinstance(run, dict) else run.status
        finished = run.get("finished") if isinstance(run, dict) else run.finished
        run_id = str(run["id"] if isinstance(run, dict) else run.id)
        if status != "crashed" or finished:  # a recorded crash has its finish time
            continue
        try:
            if mark_crashed(store, run_id):
                done.append(run_id)
        except (UserError, OSError):
            continue
    return done


def try_command(store: RunStore, ref: str) -> tuple[str, str | None]:
    """Run the alert command now, in this process, for run ``ref`` (an id or a name) as it
    stands (a user trying their command): (the command, None or what went wrong)."""
    alerts = load_settings().alerts
    if not alerts.command.strip():
        raise UserError(
            "no alert command is set; set one with "
            "`resnet-tui settings set alerts.command 'notify-send \"$RESNET_TUI_RUN_NAME\"'`"
        )
    doc = store.get(store.resolve(ref))
    env = {**os.environ, **hook_env(store, doc)}
    return alerts.command, run_command(alerts.command, alerts.timeout_s, env)


class RunLogLine:
    """Appends a timestamped line to a run's train.log (as the trainer writes it)."""

    def __init__(self, store: RunStore, run_id: str) -> None:
        self.path = store.run_dir(run_id) / LOG_FILE

    def __call__(self, line: str) -> None:
        _append(self.path, f"{dt.datetime.now():%H:%M:%S} {line}")


def _record(
    store: RunStore, doc: dict[str, Any], line: str, log: Callable[[str], None] | None
) -> None:
    _append(Path(store.root) / ALERTS_LOG, f"{_stamp()} run {doc.get('id')}: {line}")
    if log is not None:
        log(line)


def _append(path: Path, line: str) -> None:
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
    except OSError:
        pass


def _stamp() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    return str(round(value, 6)) if isinstance(value, float) else str(value)


# ---------------------------------------------------------------- the watcher process


def run_command(command: str, timeout_s: float, env: dict[str, str] | None = None) -> str | None:
    """Run ``command`` through /bin/sh in a session of its own; None when it exited 0, else
    what went wrong (its exit status or timeout, and the last lines it printed)."""
    # Its output goes to a file, not a pipe: a command that exits while something it started
    # in the background (a sound player, a notifier that forks) still holds its output is done
    # when the command is, not when that child closes the pipe.
    with tempfile.TemporaryFile() as output:
        try:
            process = subprocess.Popen(
                ["/bin/sh", "-c", command],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
        except OSError as exc:
            return f"could not start /bin/sh: {exc.strerror or exc}"
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # the command and what it started
            except OSError:
                process.kill()
            process.wait()
            return f"timed out after {timeout_s:g} s (alerts.timeout_s) and was killed"
        if process.returncode == 0:
            return None
        output.seek(0)
        out = output.read()
    tail = " | ".join(out.decode("utf-8", "replace").strip().splitlines()[-3:])[:500]
    code = process.returncode
    what = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
    if code == 127:
        what += " (command not found)"
    return what + (f": {tail}" if tail else "")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.alerts", description=__doc__)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--run-log", default="")
    parser.add_argument("command")
    args = parser.parse_args(argv)
    run = f"run {os.environ.get('RESNET_TUI_RUN_ID', '?')} {os.environ.get('RESNET_TUI_STATUS')}"
    problem = run_command(args.command, args.timeout)
    if problem is None:
        print(f"{_stamp()} {run}: alert command ok: {args.command}", flush=True)
        return 0
    line = f"alert command `{args.command}` {problem}"
    print(f"{_stamp()} {run}: {line}", flush=True)  # stdout is alerts.log
    if args.run_log:
        _append(Path(args.run_log), f"{dt.datetime.now():%H:%M:%S} {line}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
