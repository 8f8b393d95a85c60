"""Fault injection: kills at every write point and at random moments, a dead terminal, many
writers on one store, a full disk, corrupt files, training faults, Ctrl-C.

Trainers are real processes. Most are forks of a forkserver that imported the engine once
(tests/fault_harness.py) so that dozens of kill/resume cycles fit in a test run; the first
and the last of some runs go through the real ``resnet-tui`` command. Faults at exact moments
come from the engine's own hook, ``RESNET_TUI_FAULT`` (engine/faults.py).

``--soak`` (or RESNET_TUI_SOAK=1, or =N for N times) runs the random ones longer.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import pty
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fault_harness as fh
import numpy as np
import pytest
import torch
from conftest import REPO
from fixtures import write_cifar10, write_imagefolder
from typer.testing import CliRunner

from engine import api
from engine.checkpoint import load_checkpoint
from engine.errors import CheckpointError
from engine.presets import resolve
from engine.store import RunStore
from engine.store.progress import read_progress
from resnet_tui.cli import app

pytestmark = pytest.mark.slow  # real training: `make test` runs it, `make test-fast` does not

torch.set_num_threads(1)

# A tiny digits run (a narrow resnet-digits: 0.5 s of training) with step lines.
SMALL = "model.channels=8,16,32"
TINY = ["train.epochs=3", "data.batch_size=64", "train.log_every=5", SMALL]
SEED = int(os.environ.get("RESNET_TUI_FAULT_SEED", "20250611"))
POINTS = (
    "checkpoint",
    "checkpoint-rename",
    "checkpoint-done",
    "index",
    "index-rename",
    "index-done",
    "runjson",
    "runjson-rename",
    "runjson-done",
    "metrics",
    "metrics-done",
    "rewrite",
    "rewrite-rename",
    "rewrite-done",
    "confusion",
    "confusion-rename",
    "confusion-done",
    "predictions",
    "predictions-rename",
    "predictions-done",
    "progress",
    "progress-rename",
    "progress-done",
    "epoch",
)
# How many times one trainer process reaches each point in a tiny run (at most): random
# kills draw their count from here.
REACHED = {
    "checkpoint": 6,
    "index": 5,
    "runjson": 5,
    "metrics": 12,
    "rewrite": 1,
    "confusion": 1,
    "predictions": 1,
    "progress": 3,  # each epoch's last step at least (and about once a second)
    "epoch": 3,
}


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    env.pop("RESNET_TUI_FAULT", None)
    return env


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def _new_run(store: RunStore, sets: list[str] = TINY, name: str = "") -> str:
    config, preset = resolve("digits-quick", sets)
    return str(store.create_run(config.to_dict(), name=name, preset=preset)["id"])


def _final(store: RunStore, run_id: str) -> dict[str, Any]:
    doc = store.get(run_id)
    records = store.read_metrics(run_id)[0]
    return {
        "epochs": fh.comparable([m for m in records if m.get("kind") == "epoch"]),
        "steps": [m for m in records if m.get("kind") == "step"],
        "best": doc["best"],
        "test": doc["test"],
        "status": doc["status"],
    }


def _join(proc: Any, timeout: float = 180) -> int:
    proc.join(timeout)
    if proc.is_alive():
        fh.kill(proc)
        proc.join(10)
        raise AssertionError(f"trainer {proc.pid} did not end within {timeout} s")
    return int(proc.exitcode)


def _train(runs: Path, run_id: str, fault: str | None = None) -> int:
    return _join(fh.start_trainer(runs, run_id, fault))


def _wait_for(predicate: Callable[[], Any], timeout: float = 180, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.05)


def _temp_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob(".*tmp*"))


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The tiny run, never interrupted: what every killed-and-resumed run must end up equal to."""
    fh.warm_up()
    runs = tmp_path_factory.mktemp("baseline") / "runs"
    store = RunStore(runs)
    run_id = _new_run(store)
    assert _train(runs, run_id) == 0
    final = _final(store, run_id)
    assert final["status"] == "finished" and len(final["epochs"]) == 3
    return final


# ---------------------------------------------------------------- 1. kill -9


class Campaign:
    """Kills one run after another and checks, after every kill, what must survive it."""

    def __init__(self, runs: Path, baseline: dict[str, Any], sets: list[str] = TINY) -> None:
        self.runs = runs
        self.store = RunStore(runs)
        self.baseline = baseline
        self.sets = sets
        self.kills = 0
        self.finished = 0
        self.log: list[str] = []
        self._next_run()

    def _next_run(self) -> None:
        self.run_id = _new_run(self.store, self.sets)
        self.covered = 0  # epochs the last checkpoint holds: their lines must never go

    def life(self, fault: str | None = None, delay: float | None = None) -> None:
        """One trainer process on the current run, killed by ``fault`` or after ``delay``."""
        proc = fh.start_trainer(self.runs, self.run_id, fault)
        if delay is not None:
            proc.join(delay)
            fh.kill(proc)
        code = _join(proc)
        what = fault or f"kill after {delay:.2f} s"
        if code == -signal.SIGKILL:
            self.kills += 1
            self.log.append(f"{what}: killed")
            if self.store.get(self.run_id)["status"] == "finished":  # killed after its end
                self.check_finished(self.run_id)
                self.finished += 1
                self._next_run()
            else:
                self.check_after_kill(what)
        else:
            assert code == 0, f"{what}: the trainer exited with {code}"
            self.log.append(f"{what}: finished")
            self.check_finished(self.run_id)
            self.finished += 1
            self._next_run()

    def check_after_kill(self, what: str) -> None:
        raw = self.store.index_path.read_bytes()
        json.loads(raw)  # the index always loads: never torn
        fresh = RunStore(self.runs)
        doc = fresh.get(self.run_id)
        assert fresh.warnings == [], (what, fresh.warnings)
        assert doc["status"] == "crashed", (what, doc["status"], doc["message"])
        assert f"train --resume {self.run_id}" in doc["message"]
        code, out = _cli("--runs-dir", str(self.runs), "runs", "list", "--json")
        assert code == 0 and "warning" not in out, out
        row = next(r for r in json.loads(out) if r["id"] == self.run_id)
        assert row["status"] == "crashed"
        records = self.store.read_metrics(self.run_id)[0]
        assert self.store.warnings == [], (what, self.store.warnings)
        epochs = [m for m in records if m.get("kind") == "epoch"]
        numbers = [m["epoch"] for m in epochs]
        assert numbers == list(range(1, len(numbers) + 1)), (what, numbers)  # no gap, no twin
        # each line is exactly the uninterrupted run's line
        assert fh.comparable(epochs) == self.baseline["epochs"][: len(epochs)], what
        steps = [(m["epoch"], m["step"]) for m in records if m.get("kind") == "step"]
        assert steps == sorted(set(steps)), (what, steps)
        expected = [(m["epoch"], m["step"]) for m in self.baseline["steps"]]
        assert steps == expected[: len(steps)], what
        folder = self.store.run_dir(self.run_id)
        if (folder / "last.pt").exists():
            checkpoint = load_checkpoint(folder / "last.pt")["epoch"]  # loads: never torn
            assert checkpoint >= self.covered, (what, checkpoint, self.covered)
            self.covered = checkpoint
        assert len(numbers) >= self.covered, (what, numbers, self.covered)  # nothing lost

    def check_finished(self, run_id: str) -> None:
        assert _final(self.store, run_id) == self.baseline
        folder = self.store.run_dir(run_id)
        matrix = json.loads((folder / "confusion.json").read_bytes())["test"]["matrix"]
        assert matrix
        kept = api.read_predictions(self.store, run_id)  # whole, and of the same test pass
        assert len(kept) == sum(map(sum, matrix)) and int(kept.correct.sum()) == sum(
            row[i] for i, row in enumerate(matrix)
        )
        for name in ("best.pt", "last.pt"):
            load_checkpoint(folder / name)

    def finish_with_the_cli(self) -> None:
        """The last resume through `resnet-tui train --resume` itself."""
        resumed = subprocess.run(
            [sys.executable, "-m", "resnet_tui", "--runs-dir", str(self.runs)]
            + ["train", "--resume", self.run_id, "--quiet"],
            env=_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert resumed.returncode == 0, resumed.stderr
        self.check_finished(self.run_id)
        self.finished += 1

    def finish(self) -> None:
        assert _train(self.runs, self.run_id) == 0
        self.check_finished(self.run_id)
        self.finished += 1

    def check_store(self) -> None:
        docs = RunStore(self.runs).list_runs()
        assert len(docs) == self.finished and {d["status"] for d in docs} == {"finished"}
        assert _temp_files(self.runs) == []  # what killed writers left was cleaned up


def test_kill_at_every_write_point(runs_dir: Path, baseline: dict[str, Any]) -> None:
    """SIGKILL at each named write point (before, mid and after each atomic write)."""
    campaign = Campaign(runs_dir, baseline)
    # The count picks a moment inside the run: index #1 is the claim, #2 the device, #3+ the
    # epochs; checkpoint #1/#2 are epoch 1's best.pt and last.pt; metrics #2 a step line.
    plan = {
        "checkpoint": 2,
        "checkpoint-rename": 3,
        "checkpoint-done": 2,
        "index": 1,
        "index-rename": 3,
        "index-done": 4,
        "runjson": 2,
        "runjson-rename": 3,
        "runjson-done": 1,
        "metrics": 4,
        "metrics-done": 8,
        "rewrite": 1,
        "rewrite-rename": 1,
        "rewrite-done": 1,
        "confusion": 1,
        "confusion-rename": 1,
        "confusion-done": 1,
        "predictions": 1,
        "predictions-rename": 1,
        "predictions-done": 1,
        "progress": 2,
        "progress-rename": 2,
        "progress-done": 3,
        "epoch": 2,
    }
    assert set(plan) == set(POINTS)
    for point, count in plan.items():
        campaign.life(f"kill:{point}:{count}")
    campaign.finish()
    campaign.check_store()
    print(f"write points: {campaign.kills} kills, {campaign.finished} runs finished")
    # Points that only a resumed or a finishing trainer reaches may let a life finish instead.
    assert campaign.kills >= 15, campaign.log


def test_kill_at_random_moments(runs_dir: Path, baseline: dict[str, Any], soak: int) -> None:
    """Random (point, count) kills and random wall-clock kills, from a seeded RNG; the last
    resume goes through the CLI."""
    rng = random.Random(SEED)
    campaign = Campaign(runs_dir, baseline)
    target = 20 * soak
    lives = 0
    while campaign.kills < target:
        lives += 1
        assert lives < 4 * target, campaign.log
        if rng.random() < 0.5:
            point = rng.choice(POINTS)
            count = rng.randint(1, REACHED[point.split("-")[0]])
            campaign.life(f"kill:{point}:{count}")
        else:
            campaign.life(delay=rng.uniform(0.05, 0.8))
    campaign.finish_with_the_cli()
    campaign.check_store()
    print(f"random (seed {SEED}): {campaign.kills} kills, {lives} lives, {campaign.finished} runs")


def test_kills_while_checkpoints_are_written_in_the_background(
    runs_dir: Path, baseline: dict[str, Any]
) -> None:
    """train.checkpoint_async=on (the default on CUDA): the checkpoint of epoch N is written
    while epoch N+1 trains. Kills inside that write, at the epoch's fault point and at random
    moments lose nothing, and every run ends equal to the synchronous baseline."""
    campaign = Campaign(runs_dir, baseline, [*TINY, "train.checkpoint_async=on"])
    for fault in (
        "kill:checkpoint:1",  # epoch 1's best.pt, in the writer thread, mid-epoch 2
        "kill:checkpoint-rename:2",
        "kill:checkpoint-done:3",
        "kill:epoch:2",  # epoch 2 begins: epoch 1's write may still be in flight
        "kill:metrics:4",
    ):
        campaign.life(fault)
    rng = random.Random(SEED + 1)
    for _ in range(6):
        campaign.life(delay=rng.uniform(0.3, 1.5))
    campaign.finish()
    campaign.check_store()
    assert campaign.kills >= 6, campaign.log


def test_kills_with_evaluation_every_other_epoch(runs_dir: Path) -> None:
    """train.eval_every=2: val runs on epochs 2 and 3 (the last) only. Kills before, inside and
    after the epochs it skips lose nothing, and every run ends equal to its own uninterrupted
    run (the same epoch lines without val keys on epoch 1, the same best and test)."""
    sets = [*TINY, "train.eval_every=2"]
    store = RunStore(runs_dir / "whole")
    whole = _new_run(store, sets)
    assert _train(runs_dir / "whole", whole) == 0
    baseline = _final(store, whole)
    assert [("val_loss" in m, "val_acc" in m) for m in baseline["epochs"]] == [
        (False, False),
        (True, True),
        (True, True),
    ]
    assert baseline["best"]["best_epoch"] in (2, 3)
    campaign = Campaign(runs_dir / "killed", baseline, sets)
    for fault in ("kill:epoch:2", "kill:checkpoint:1", "kill:metrics:4", "kill:index:4"):
        campaign.life(fault)
    rng = random.Random(SEED + 2)
    for _ in range(3):
        campaign.life(delay=rng.uniform(0.2, 1.2))
    campaign.finish()
    campaign.check_store()
    assert campaign.kills >= 4, campaign.log


# ---------------------------------------------------------------- 2. the UI dies


_LAUNCHER = """
import sys, time
from engine.lifecycle import launch_detached
from engine.store import RunStore
print("launched", launch_detached(RunStore(sys.argv[1]), sys.argv[2]), flush=True)
time.sleep(600)
"""


def _on_a_terminal(argv: list[str]) -> tuple[int, int]:
    """Run ``argv`` as the session leader of a new pseudo-terminal (an SSH login):
    (its pid, the pty master). Signals start at their defaults, as in a login shell (this
    test process may ignore SIGHUP: an earlier in-process run installed the trainer's
    handlers, and an ignored signal stays ignored across exec)."""
    pid, master = pty.fork()
    if pid == 0:
        for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        os.execve(argv[0], argv, _env())
    return pid, master


def _read_until(master: int, marker: bytes, timeout: float = 120) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while marker not in out or not out.split(marker, 1)[1].count(b"\n"):
        assert time.monotonic() < deadline, out
        try:
            out += os.read(master, 1024)
        except OSError:  # EIO: the other side is gone
            raise AssertionError(f"the terminal's process died: {out!r}") from None
    return out


def _drain(master: int) -> Callable[[], None]:
    """Keep reading a terminal so its process never blocks on a full buffer; returns the
    hang-up: the reader closes the master itself (closing an fd another thread reads from
    would not hang up until that read returns)."""
    import select

    stop = threading.Event()

    def read() -> None:
        try:
            while not stop.is_set():
                if select.select([master], [], [], 0.05)[0] and not os.read(master, 4096):
                    break
        except OSError:
            pass
        finally:
            os.close(master)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()

    def hang_up() -> None:
        stop.set()
        thread.join(10)

    return hang_up


def _wait_pid(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError(f"process {pid} did not end within {timeout} s")
        time.sleep(0.05)


EPOCHS = 10  # about 2 s of training: time to hang up mid-run


def test_training_survives_its_terminal_and_its_ui(runs_dir: Path) -> None:
    """Two runs over an SSH link that drops (the pty's master closes: SIGHUP, then EIO on
    every write): one launched detached by a UI, which then dies with its whole process
    group; one trained in the foreground by `resnet-tui train`, its progress bar on that
    terminal. Both trainers finish normally."""
    store = RunStore(runs_dir)
    sets = [f"train.epochs={EPOCHS}", "data.batch_size=64", SMALL]
    detached = _new_run(store, sets, "detached")
    launcher, launcher_tty = _on_a_terminal(
        [sys.executable, "-c", _LAUNCHER, str(runs_dir), detached]
    )
    trainer = int(_read_until(launcher_tty, b"launched").split(b"launched", 1)[1].split()[0])
    assert os.getsid(trainer) != os.getsid(launcher)  # the trainer has its own session
    _wait_for(lambda: store.get(detached)["epoch"] >= 1, what="an epoch of the detached run")
    at_hangup = store.get(detached)
    assert at_hangup["status"] == "running" and at_hangup["epoch"] < EPOCHS  # mid-run
    group = os.getpgid(launcher)
    os.close(launcher_tty)  # the link drops: the kernel hangs up the UI's session
    status = _wait_pid(launcher, 60)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGHUP
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)  # and anything left of the UI's process group

    foreground, foreground_tty = _on_a_terminal(
        [sys.executable, "-m", "resnet_tui", "--runs-dir", str(runs_dir), "train"]
        + ["digits-quick", *(f"--set={s}" for s in sets), "--name", "foreground"]
    )
    hang_up = _drain(foreground_tty)
    _wait_for(lambda: any(r["name"] == "foreground" for r in store.list_runs()), what="fg")
    runs = {detached: trainer, store.resolve("foreground"): foreground}
    _wait_for(lambda: store.get(store.resolve("foreground"))["epoch"] >= 1, what="fg epoch")
    at_hangup = store.get(store.resolve("foreground"))
    assert at_hangup["status"] == "running" and at_hangup["epoch"] < EPOCHS  # mid-run
    hang_up()  # this terminal goes away too: the trainer itself gets the hang-up
    _wait_pid(foreground, 300)  # it ignores SIGHUP; its output fails, its training does not
    for run_id, pid in runs.items():
        _wait_for(lambda r=run_id: store.get(r)["status"] != "running", 300, "the end")
        doc = store.get(run_id)
        assert doc["status"] == "finished", doc["message"]
        assert doc["pid"] == pid and doc["epoch"] == EPOCHS
        epochs = [m["epoch"] for m in fh.epoch_lines(store, run_id)]
        assert epochs == list(range(1, EPOCHS + 1))
    log = (store.run_dir(store.resolve("foreground")) / "train.log").read_text()
    assert "the display failed; training goes on" in log  # the terminal really was gone


# ---------------------------------------------------------------- 3. concurrency


def test_four_trainers_and_two_readers_share_one_store(runs_dir: Path) -> None:
    """4 trainers on one store for whole runs while `runs list --json` runs in a loop and a
    MetricsReader follows every run: each epoch recorded once, the index valid at every read,
    no reader error."""
    fh.warm_up()
    store = RunStore(runs_dir)
    # 8 epochs each: long enough that the readers (a `runs list` process costs ~0.4 s to start)
    # overlap the writers several times even on a busy machine
    epochs = 8
    run_ids = [_new_run(store, [*TINY, f"train.epochs={epochs}"], f"w{i}") for i in range(4)]
    done = threading.Event()
    problems: list[str] = []
    followed: dict[str, list[dict[str, Any]]] = {r: [] for r in run_ids}
    counts = {"list": 0, "poll": 0}

    def cli_reader() -> None:
        while not done.is_set():
            out = subprocess.run(
                [sys.executable, "-m", "resnet_tui", "--runs-dir", str(runs_dir)]
                + ["runs", "list", "--json"],
                env=_env(),
                capture_output=True,
                text=True,
                timeout=120,
            )
            if out.returncode != 0 or out.stderr:
                problems.append(f"runs list: {out.returncode} {out.stderr}")
            elif {r["id"] for r in json.loads(out.stdout)} != set(run_ids):
                problems.append(f"runs list lost runs: {out.stdout}")
            counts["list"] += 1
            done.wait(0.2)

    def follower() -> None:
        readers = {r: store.metrics_reader(r) for r in run_ids}
        while True:
            last = done.is_set()
            try:
                json.loads(store.index_bytes())  # read as readers do (lines written in place)
                reader_store = RunStore(runs_dir)
                if len(reader_store.list_runs()) != 4 or reader_store.warnings:
                    problems.append(f"index read: {reader_store.warnings}")
                for run_id, reader in readers.items():
                    batch = reader.poll()
                    if batch.reset:
                        followed[run_id].clear()
                    followed[run_id].extend(batch.records)
                    if reader.warnings:
                        problems.append(f"{run_id}: {reader.warnings}")
            except Exception as exc:  # any reader error fails the test
                problems.append(f"follower: {exc!r}")
            counts["poll"] += 1
            if last:
                return
            time.sleep(0.03)

    threads = [threading.Thread(target=cli_reader), threading.Thread(target=follower)]
    for thread in threads:
        thread.start()
    try:
        trainers = [fh.start_trainer(runs_dir, r) for r in run_ids]
        codes = [_join(p, 300) for p in trainers]
    finally:
        done.set()
        for thread in threads:
            thread.join(120)
    assert codes == [0, 0, 0, 0]
    assert problems == []
    assert counts["list"] >= 3 and counts["poll"] >= 20, counts
    for run_id in run_ids:
        doc = store.get(run_id)
        assert doc["status"] == "finished" and doc["epoch"] == epochs
        records = store.read_metrics(run_id)[0]
        assert [m["epoch"] for m in records if m["kind"] == "epoch"] == list(range(1, epochs + 1))
        steps = [(m["epoch"], m["step"]) for m in records if m["kind"] == "step"]
        assert steps == sorted(set(steps)) and len(steps) == epochs * 3
        assert followed[run_id] == records  # the follower saw each line once, in order
    assert _temp_files(runs_dir) == []


# ---------------------------------------------------------------- 4. disk full


@pytest.mark.parametrize(
    ("fault", "file"),
    [
        ("enospc:checkpoint-rename:3", ".pt"),  # epoch 2's best.pt, written but not renamed
        ("enospc:index:4", "index.json"),  # epoch 2's index update (written in place)
        ("enospc:metrics:8", "metrics.jsonl"),  # epoch 2's line
    ],
)
def test_a_full_disk_fails_clearly_and_resume_works(
    runs_dir: Path, baseline: dict[str, Any], fault: str, file: str
) -> None:
    fh.warm_up()
    store = RunStore(runs_dir)
    run_id = _new_run(store)
    assert _train(runs_dir, run_id, fault) == fh.FAILED_EXIT
    doc = store.get(run_id)
    assert doc["status"] == "failed"
    assert doc["message"].startswith("disk full while writing ") and file in doc["message"]
    assert doc["message"].endswith(
        f"free space and resume with `resnet-tui train --resume {run_id}`"
    )
    assert len(doc["message"].splitlines()) == 1
    folder = store.run_dir(run_id)
    assert load_checkpoint(folder / "last.pt")["epoch"] == 1  # the previous checkpoint: intact
    assert load_checkpoint(folder / "best.pt")["epoch"] in (1, 2)
    index = json.loads(store.index_path.read_bytes())  # loads
    assert index["runs"]["1"]["epoch"] in (1, 2)
    assert _temp_files(runs_dir) == []
    assert "disk full" in (folder / "train.log").read_text()
    # space is back: resume finishes the run exactly as if nothing had happened
    assert _train(runs_dir, run_id) == 0
    assert _final(store, run_id) == baseline


def test_a_disk_that_stays_full_leaves_a_resumable_crashed_run(
    runs_dir: Path, baseline: dict[str, Any]
) -> None:
    """Not even the failure can be recorded: the run shows as crashed, and resumes."""
    fh.warm_up()
    store = RunStore(runs_dir)
    run_id = _new_run(store)
    # from epoch 2 on, every write fails (index/run.json #4 and checkpoint #3 are epoch 2's)
    full = "enospc:index:4+,enospc:runjson:4+,enospc:checkpoint:3+,enospc:metrics:5+"
    assert _train(runs_dir, run_id, full) == fh.FAILED_EXIT
    doc = RunStore(runs_dir).get(run_id)
    assert doc["status"] == "crashed" and doc["epoch"] == 1
    assert load_checkpoint(store.run_dir(run_id) / "last.pt")["epoch"] == 1
    assert _train(runs_dir, run_id) == 0
    assert _final(store, run_id) == baseline


def test_a_live_progress_that_cannot_be_written_never_stops_a_run(
    runs_dir: Path, baseline: dict[str, Any]
) -> None:
    """progress.json is a hint for consoles: a full disk at every one of its writes is said
    once in the log and the run trains to the same end as if nothing had happened."""
    fh.warm_up()
    store = RunStore(runs_dir)
    run_id = _new_run(store)
    assert _train(runs_dir, run_id, "enospc:progress:1+") == 0
    assert _final(store, run_id) == baseline
    log = (store.run_dir(run_id) / "train.log").read_text()
    assert log.count("cannot write the live progress (training goes on)") == 1
    assert not (store.run_dir(run_id) / "progress.json").exists()
    assert _temp_files(runs_dir) == []


def test_a_predictions_file_that_cannot_be_written_costs_only_the_file(
    runs_dir: Path, baseline: dict[str, Any]
) -> None:
    """A full disk as predictions.npz is written (temp file written, not yet renamed): the
    run trained and tested, so it finishes with its results; train.log says so in one line,
    no partial file is left, and the commands say the file is missing."""
    fh.warm_up()
    store = RunStore(runs_dir)
    run_id = _new_run(store)
    assert _train(runs_dir, run_id, "enospc:predictions-rename:1") == 0
    assert _final(store, run_id) == baseline  # finished, with the same test results
    folder = store.run_dir(run_id)
    assert not (folder / "predictions.npz").exists() and _temp_files(runs_dir) == []
    assert (folder / "confusion.json").is_file()
    said = [line for line in (folder / "train.log").read_text().splitlines() if "npz" in line]
    assert len(said) == 1 and "No space left on device" in said[0], said
    with pytest.raises(api.UserError, match="test predictions file is missing"):
        api.mistakes(store, run_id)


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Any:
    """A real 4 MiB filesystem (needs root and mount rights; skipped elsewhere)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=755", "tmpfs", str(mount)],
        capture_output=True,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode(errors='replace')}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_really_full_disk(small_tmpfs: Path) -> None:
    """A run store on a 4 MiB tmpfs: the second 2.5 MB checkpoint does not fit."""
    fh.warm_up()
    runs = small_tmpfs / "runs"
    store = RunStore(runs)
    run_id = _new_run(store, ["train.epochs=3", "data.batch_size=64"])
    code = _train(runs, run_id)
    doc = RunStore(runs).get(run_id)
    assert code == fh.FAILED_EXIT
    if doc["status"] == "failed":
        assert doc["message"].startswith("disk full while writing ")
        assert "resume with" in doc["message"]
    else:  # the failure itself could not be written
        assert doc["status"] == "crashed"
    json.loads(store.index_path.read_bytes())
    if (store.run_dir(run_id) / "best.pt").exists():
        load_checkpoint(store.run_dir(run_id) / "best.pt")
    assert _temp_files(runs) == []
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_tmpfs)], check=True)
    assert _train(runs, run_id) == 0
    assert store.get(run_id)["status"] == "finished"
    assert [m["epoch"] for m in fh.epoch_lines(store, run_id)] == [1, 2, 3]


# ---------------------------------------------------------------- 5. corrupt files


@pytest.fixture(scope="module")
def trained_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with one finished and one stopped tiny run (stopped inside epoch 2)."""
    fh.warm_up()
    runs = tmp_path_factory.mktemp("trained") / "runs"
    store = RunStore(runs)
    done = _new_run(store, name="done")
    assert _train(runs, done) == 0
    stopped = _new_run(store, name="stopped")
    assert _train(runs, stopped, "sigterm:metrics:5") == 0
    assert store.get(stopped)["status"] == "stopped"
    return runs


@pytest.fixture
def corrupted(trained_store: Path, tmp_path: Path) -> tuple[Path, RunStore, str, str]:
    runs = tmp_path / "copy" / "runs"
    shutil.copytree(trained_store, runs)
    store = RunStore(runs)
    return runs, store, store.resolve("done"), store.resolve("stopped")


def _garbage(path: Path, how: str) -> None:
    data = path.read_bytes()
    path.write_bytes(
        {
            "truncated": data[: len(data) // 2],
            "garbage": os.urandom(64),
            "empty": b"",
            "not-an-index": b'{"runs": [1, 2, 3]}',
        }[how]
    )


@pytest.mark.parametrize("how", ["truncated", "garbage", "empty", "not-an-index"])
def test_a_damaged_index_is_rebuilt_and_the_cli_says_so(
    corrupted: tuple[Path, RunStore, str, str], how: str
) -> None:
    runs, store, done, stopped = corrupted
    expected = {d["id"]: d["status"] for d in store.list_runs()}
    _garbage(store.index_path, how)
    result = CliRunner().invoke(app, ["--runs-dir", str(runs), "runs", "list", "--json"])
    assert result.exit_code == 0
    assert {r["id"]: r["status"] for r in json.loads(result.stdout)} == expected
    assert "warning: index.json was" in result.stderr and "rebuilt from 2 run folders" in (
        result.stderr
    )
    again = CliRunner().invoke(app, ["--runs-dir", str(runs), "runs", "list", "--json"])
    assert again.stderr == ""  # repaired once, for good


def test_damaged_index_and_run_json_fall_back_to_config_toml(
    corrupted: tuple[Path, RunStore, str, str],
) -> None:
    runs, store, done, _ = corrupted
    _garbage(store.index_path, "garbage")
    _garbage(store.run_dir(done) / "run.json", "truncated")
    result = CliRunner().invoke(app, ["--runs-dir", str(runs), "runs", "show", done, "--json"])
    assert result.exit_code == 0, result.output
    assert "warning: index.json was unreadable" in result.stderr
    shown = json.loads(result.stdout)
    assert "recovered from config.toml" in shown["run"]["message"]
    assert shown["run"]["config"]["train"]["epochs"] == 3
    assert [m["epoch"] for m in shown["metrics"]] == [1, 2, 3]  # the curves survive


@pytest.mark.parametrize("damage", ["torn-middle-line", "binary-line", "torn-last-line"])
def test_damaged_metrics_lines_are_skipped_with_a_warning(
    corrupted: tuple[Path, RunStore, str, str], damage: str
) -> None:
    runs, store, done, _ = corrupted
    path = store.metrics_path(done)
    lines = path.read_bytes().splitlines(keepends=True)
    epoch2 = next(i for i, line in enumerate(lines) if b'"kind":"epoch","train_loss' in line)
    if damage == "torn-middle-line":
        lines.insert(epoch2, lines[epoch2][:25] + b"\n")
    elif damage == "binary-line":
        lines.insert(epoch2, b"\x00\xff\xfe garbage\n")
    else:
        lines.append(b'{"kind": "epoch", "epo')
    path.write_bytes(b"".join(lines))
    for command in (["runs", "show", done, "--json"], ["runs", "best", done, "--json"]):
        result = CliRunner().invoke(app, ["--runs-dir", str(runs), *command])
        assert result.exit_code == 0, result.output
        if damage != "torn-last-line":  # an unfinished last line is being written: no warning
            assert "warning:" in result.stderr and "not a JSON object; skipped" in result.stderr
    shown = CliRunner().invoke(app, ["--runs-dir", str(runs), "runs", "show", done, "--json"])
    assert [m["epoch"] for m in json.loads(shown.stdout)["metrics"]] == [1, 2, 3]


@pytest.mark.parametrize(
    ("broken", "how"),
    [("last.pt", "garbage"), ("last.pt", "truncated"), ("last.pt", "empty")],
)
def test_a_corrupt_checkpoint_falls_back_to_the_other(
    corrupted: tuple[Path, RunStore, str, str], baseline: dict[str, Any], broken: str, how: str
) -> None:
    runs, store, _, stopped = corrupted
    folder = store.run_dir(stopped)
    _garbage(folder / broken, how)
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(folder / broken)
    assert _train(runs, stopped) == 0
    assert _final(store, stopped) == baseline
    log = (folder / "train.log").read_text()
    assert f"cannot resume from {broken}" in log and "resuming from best.pt" in log


def test_corrupt_checkpoints_refuse_the_resume_through_the_cli(
    corrupted: tuple[Path, RunStore, str, str],
) -> None:
    runs, store, _, stopped = corrupted
    folder = store.run_dir(stopped)
    _garbage(folder / "last.pt", "garbage")
    _garbage(folder / "best.pt", "truncated")
    code, out = _cli("--runs-dir", str(runs), "train", "--resume", stopped, "--quiet")
    assert code == 2 and "Traceback" not in out
    errors = [line for line in out.strip().splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith("error: no usable checkpoint: "), out
    assert "last.pt is corrupt" in out and "best.pt is corrupt" in out
    assert "start a new one from" in out
    assert store.get(stopped)["status"] == "failed"


def test_a_corrupt_checkpoint_with_a_readable_fallback_resumes_through_the_cli(
    corrupted: tuple[Path, RunStore, str, str],
) -> None:
    runs, store, _, stopped = corrupted
    _garbage(store.run_dir(stopped) / "last.pt", "garbage")
    result = CliRunner().invoke(
        app, ["--runs-dir", str(runs), "train", "--resume", stopped, "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert "warning: checkpoint" in result.stderr and "resuming from best.pt" in result.stderr
    assert store.get(stopped)["status"] == "finished"


def test_a_corrupt_best_checkpoint_at_the_end_tests_the_last_weights(runs_dir: Path) -> None:
    """Killed after its last epoch, best.pt then damaged: the resume still finishes the run
    (testing the last weights, and saying so) instead of failing it for good."""
    fh.warm_up()
    store = RunStore(runs_dir)
    run_id = _new_run(store)
    assert _train(runs_dir, run_id, "kill:confusion:1") == -signal.SIGKILL
    _garbage(store.run_dir(run_id) / "best.pt", "truncated")
    assert _train(runs_dir, run_id) == 0
    doc = store.get(run_id)
    assert doc["status"] == "finished" and doc["test"]["test_acc"] > 0.3
    assert "best.pt is corrupt" in doc["message"] and "epoch 3 were tested" in doc["message"]


def test_a_run_whose_folder_vanished(corrupted: tuple[Path, RunStore, str, str]) -> None:
    runs, store, _, stopped = corrupted
    shutil.rmtree(store.run_dir(stopped))
    code, out = _cli("--runs-dir", str(runs), "train", "--resume", stopped)
    assert code == 2 and "folder of run" in out and f"runs rm {stopped}" in out
    code, out = _cli("--runs-dir", str(runs), "runs", "rm", stopped, "--yes")
    assert code == 0, out


# ---------------------------------------------------------------- 6. training faults


def test_nan_loss_stops_as_diverged_and_keeps_the_best_checkpoint(runs_dir: Path) -> None:
    fh.warm_up()
    store = RunStore(runs_dir)
    run_id = _new_run(store, ["train.epochs=4", "data.batch_size=64", SMALL])
    assert _train(runs_dir, run_id, "nan:epoch:3") == 0
    doc = store.get(run_id)
    assert doc["status"] == "diverged" and doc["epoch"] == 3
    assert "the loss became nan at epoch 3" in doc["message"]
    best_epoch = int(doc["best"]["best_epoch"])
    assert best_epoch in (1, 2)
    assert f"best checkpoint (epoch {best_epoch}) is kept" in doc["message"]
    epochs = fh.epoch_lines(store, run_id)
    assert [m["epoch"] for m in epochs] == [1, 2, 3]
    best = load_checkpoint(store.run_dir(run_id) / "best.pt")
    assert best["epoch"] == best["best_epoch"] == best_epoch
    assert best["best"]["val_acc"] == epochs[best_epoch - 1]["val_acc"] == doc["best"]["val_acc"]
    assert all(torch.isfinite(t).all() for t in best["model"].values() if t.is_floating_point())
    # tested with the best checkpoint, not with the NaN weights
    assert doc["test"]["test_acc"] > 0.3 and math.isfinite(doc["test"]["test_loss"])
    code, out = _cli("--runs-dir", str(runs_dir), "train", "--resume", run_id)
    assert code == 2 and "diverged" in out


def test_out_of_memory_says_use_a_smaller_batch(
    runs_dir: Path, baseline: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the CLI (in this process): one line, exit 2, status failed; resumable."""
    from engine import faults

    faults.reset()
    monkeypatch.setenv("RESNET_TUI_FAULT", "oom:epoch:2")
    code, out = _cli(
        "--runs-dir", str(runs_dir), "train", "digits-quick", *[f"--set={s}" for s in TINY]
    )
    monkeypatch.delenv("RESNET_TUI_FAULT")
    assert code == 2 and "Traceback" not in out
    message = out.strip().splitlines()[-1]
    assert message.startswith("error: the device ran out of memory at batch size 64")
    assert "--set data.batch_size=32" in message and "resume with" in message
    store = RunStore(runs_dir)
    (doc,) = store.list_runs()
    assert doc["status"] == "failed" and "ran out of memory" in doc["message"]
    assert _train(runs_dir, doc["id"]) == 0
    assert _final(store, doc["id"]) == baseline


@pytest.mark.parametrize("decode", ["stream", "once"])
def test_an_image_folder_deleted_during_training(
    runs_dir: Path, tmp_path: Path, decode: str
) -> None:
    """Streamed, the run fails naming the folder and resumes once it is back; decoded once
    into memory, the run does not need the files any more and finishes."""
    from engine.events import EpochDone
    from engine.runner import execute

    root = write_imagefolder(tmp_path / "images", n_per_class=8, size=16, splits=("train",))
    store = RunStore(runs_dir)
    run_id = _new_run(
        store,
        [
            "data.name=imagefolder",
            f"data.root={root}",
            f"data.decode={decode}",
            "data.image_size=16",
            "data.num_workers=1",
            "data.batch_size=4",
            "data.val_fraction=0.25",
            "train.epochs=3",
            SMALL,
        ],
    )
    away = tmp_path / "moved-away"

    def delete_after_epoch_1(event: Any) -> None:
        if isinstance(event, EpochDone) and event.epoch == 1:
            shutil.move(root / "train", away)

    if decode == "once":
        assert execute(store, run_id, delete_after_epoch_1)["status"] == "finished"
        assert [m["epoch"] for m in fh.epoch_lines(store, run_id)] == [1, 2, 3]
        return
    with pytest.raises(Exception, match="restore it and resume with"):
        execute(store, run_id, delete_after_epoch_1)
    doc = store.get(run_id)
    assert doc["status"] == "failed" and "could not be read during training" in doc["message"]
    assert str(root) in doc["message"]
    shutil.move(away, root / "train")
    assert execute(store, run_id)["status"] == "finished"
    assert [m["epoch"] for m in fh.epoch_lines(store, run_id)] == [1, 2, 3]


def test_cifar_files_missing_at_resume(runs_dir: Path, tmp_path: Path) -> None:
    fh.warm_up()
    data = tmp_path / "cifar"
    write_cifar10(data, n_train_per_batch=20, n_test=20)
    store = RunStore(runs_dir)
    run_id = _new_run(
        store,
        [
            "data.name=cifar10",
            f"data.root={data}",
            "data.download=false",
            "data.batch_size=16",
            "train.epochs=2",
            SMALL,
        ],
    )
    assert _train(runs_dir, run_id, "sigterm:epoch:2") == 0  # stopped inside epoch 2
    assert store.get(run_id)["status"] == "stopped"
    shutil.move(data, tmp_path / "elsewhere")
    assert _train(runs_dir, run_id) == fh.FAILED_EXIT
    doc = store.get(run_id)
    assert doc["status"] == "failed" and "data.root" in doc["message"]
    assert doc["message"].endswith(
        f"once the data is back, resume with `resnet-tui train --resume {run_id}`"
    )
    shutil.move(tmp_path / "elsewhere", data)
    assert _train(runs_dir, run_id) == 0
    assert store.get(run_id)["status"] == "finished"


# ---------------------------------------------------------------- 7. Ctrl-C


def test_ctrl_c_stops_gracefully_and_resume_completes(
    runs_dir: Path, baseline: dict[str, Any]
) -> None:
    """SIGINT to the foreground process group (Ctrl-C) of `resnet-tui train` mid-epoch."""
    store = RunStore(runs_dir)
    args = [f"--set={s}" for s in TINY]
    proc = subprocess.Popen(
        [sys.executable, "-m", "resnet_tui", "--runs-dir", str(runs_dir), "train"]
        + ["digits-quick", *args, "--name", "ctrl-c"],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a shell's foreground job
    )
    try:
        _wait_for(lambda: any(r["name"] == "ctrl-c" for r in store.list_runs()), what="the run")
        run_id = store.resolve("ctrl-c")
        _wait_for(
            lambda: any(
                m.get("kind") == "step" and m["epoch"] == 2 for m in store.read_metrics(run_id)[0]
            ),
            what="a step of epoch 2",
        )
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    doc = store.get(run_id)
    assert doc["status"] == "stopped" and "of epoch 2" in doc["message"], doc["message"]
    position = load_checkpoint(store.run_dir(run_id) / "last.pt")["position"]
    assert position["epoch"] == 1 and position["step"] >= 5
    assert "stopped" in out
    assert _train(runs_dir, run_id) == 0
    assert _final(store, run_id) == baseline  # every step line too, each once


# ---------------------------------------------------------------- 8. the whole job signalled


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small image folder (10 classes x 10 PNGs of 16x16)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("pictures")
    for label in range(10):
        folder = root / "train" / f"class-{label}"
        folder.mkdir(parents=True)
        for i in range(10):
            rng = np.random.default_rng(100 * label + i)
            pixels = rng.integers(0, 60, size=(16, 16, 3)).astype(np.uint8)
            pixels[label : label + 3] = 220
            Image.fromarray(pixels, "RGB").save(folder / f"{i:02d}.png")
    return root


_FOLDER_BASELINES: dict[str, dict[str, Any]] = {}  # data.decode -> the uninterrupted run


@pytest.mark.parametrize(
    ("path", "sig"),
    [("stream", signal.SIGTERM), ("stream", signal.SIGINT), ("once", signal.SIGTERM)],
)
def test_a_signal_to_the_whole_job_stops_a_folder_run_and_resume_matches(
    runs_dir: Path, pictures: Path, path: str, sig: signal.Signals
) -> None:
    """Ctrl+C, `timeout`, systemd and schedulers signal every process of the job, DataLoader
    workers included: the run still finishes its step, saves its position and ends stopped;
    resumed, it ends exactly as an uninterrupted run."""
    fh.warm_up()
    store = RunStore(runs_dir)
    sets = [
        "data.name=imagefolder",
        f"data.root={pictures}",
        f"data.decode={path}",
        "data.num_workers=2",
        "data.batch_size=4",
        "train.epochs=3",  # signalled inside epoch 2 (or, on a slow poll, 3)
        "train.log_every=5",
        SMALL,
    ]
    baseline = _FOLDER_BASELINES.get(path)
    if baseline is None:  # SIGTERM and SIGINT on one path share it (on one xdist worker)
        baseline_id = _new_run(store, sets, name="uninterrupted")
        assert _train(runs_dir, baseline_id) == 0
        baseline = _FOLDER_BASELINES[path] = _final(store, baseline_id)
    proc = subprocess.Popen(
        [sys.executable, "-m", "resnet_tui", "--runs-dir", str(runs_dir), "train"]
        + ["digits-quick", *(f"--set={s}" for s in sets), "--name", "signalled"],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # the job's own process group
    )
    try:
        _wait_for(lambda: any(r["name"] == "signalled" for r in store.list_runs()), what="run")
        run_id = store.resolve("signalled")

        def in_epoch_2() -> bool:
            progress = read_progress(store.run_dir(run_id))
            return progress is not None and progress.epoch == 2 and progress.step >= 5

        _wait_for(in_epoch_2, what="a step of epoch 2")
        os.killpg(proc.pid, sig)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "killed by signal" not in err, err
    doc = store.get(run_id)
    assert doc["status"] == "stopped", doc["message"]
    inside = re.match(r"stopped at step (\d+) of epoch (\d+)", doc["message"])
    if inside:  # the position inside the epoch is kept
        position = load_checkpoint(store.run_dir(run_id) / "last.pt")["position"]
        assert position["epoch"] + 1 == int(inside[2]) and position["step"] == int(inside[1])
    else:  # the signal came with an epoch's last steps or its evaluation
        assert re.match(r"stopped after epoch \d", doc["message"]), doc["message"]
    assert _train(runs_dir, run_id) == 0
    assert _final(store, run_id) == baseline
