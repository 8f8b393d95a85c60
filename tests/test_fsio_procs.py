"""engine.fsio (the one atomic writer) and engine.procs (process identity and control)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from engine import procs
from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.errors import CheckpointError, DiskFullError, StoreError
from engine.fsio import TEMP_RE, atomic_write, remove_stale_temp_files, write_atomically

# ---------------------------------------------------------------- fsio


def test_atomic_write_replaces_whole_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    atomic_write(path, b"old")
    atomic_write(path, b"n", memoryview(b"ew"))
    assert path.read_bytes() == b"new"

    def fail(fd: int) -> None:
        os.write(fd, b"half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(OSError):  # the raw form passes the error on as it is
        write_atomically(path, fail)
    assert path.read_bytes() == b"new" and sorted(os.listdir(tmp_path)) == ["doc.json"]


def test_a_failed_atomic_write_names_the_file_and_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "run.json"
    monkeypatch.setenv("RESNET_TUI_FAULT", "enospc:runjson:1")
    with pytest.raises(DiskFullError, match=r"could not write .*run.json.*free some space"):
        atomic_write(path, b"x")
    assert list(tmp_path.iterdir()) == []


def test_checkpoints_use_the_one_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint({"format_version": 1, "model": {"w": torch.ones(2)}}, path)
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(2))
    seen: list[str] = []
    real_replace = os.replace

    def watch(src: Any, dst: Any) -> None:
        seen.append(Path(src).name)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", watch)
    save_checkpoint({"format_version": 1, "model": {"w": torch.zeros(2)}}, path)
    assert len(seen) == 1 and TEMP_RE.fullmatch(seen[0])  # fsio's temp-name scheme
    monkeypatch.undo()
    monkeypatch.setenv("RESNET_TUI_FAULT", "enospc:checkpoint-rename:1")
    with pytest.raises(DiskFullError, match="the previous last.pt is intact"):
        save_checkpoint({"format_version": 1, "model": {"w": torch.full((2,), 5.0)}}, path)
    assert isinstance(DiskFullError("x"), CheckpointError)
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.zeros(2))
    assert sorted(os.listdir(tmp_path)) == ["last.pt"]


def test_stale_temp_files_of_gone_writers_are_removed(tmp_path: Path) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    dead = int(gone.stdout)
    live = os.getppid()  # alive for as long as this test runs
    names = {
        f".run.json.{dead}.0a1b2c3d.tmp": False,  # fsio's scheme, writer gone: removed
        f".last.pt.tmp-{dead}": False,  # the older checkpoint scheme: removed too
        f".index.json.{live}.0a1b2c3d.tmp": True,  # a live writer's: kept
        "run.json": True,
        ".hidden": True,
    }
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    removed = remove_stale_temp_files(tmp_path)
    assert sorted(removed) == sorted(n for n, keep in names.items() if not keep)
    assert sorted(os.listdir(tmp_path)) == sorted(n for n, keep in names.items() if keep)


# ---------------------------------------------------------------- procs


def test_is_alive_for_any_owner_record() -> None:
    me = {"pid": os.getpid(), "pid_start": procs.process_start_time(os.getpid())}
    assert procs.is_alive(me) and procs.is_alive({**me, "host": procs.this_host()})
    assert not procs.is_alive({**me, "pid_start": me["pid_start"] + 1})  # a recycled pid
    assert not procs.is_alive({"pid": None}) and not procs.is_alive({"pid": True})
    assert procs.is_alive({"pid": 1234567, "host": "another-box"})  # cannot tell: alive
    assert procs.owner_identity(os.getpid()) == {
        "host": procs.this_host(),
        "pid_start": me["pid_start"],
    }


def test_signal_stop_checks_host_and_liveness() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        owner = {"pid": child.pid, **procs.owner_identity(child.pid)}
        with pytest.raises(StoreError, match="run x runs on elsewhere; stop it there"):
            procs.signal_stop({**owner, "host": "elsewhere"}, "run x")
        recycled = {**owner, "pid_start": owner["pid_start"] + 1}
        with pytest.raises(StoreError, match=r"run x: its process \d+ is gone \(crashed\); try"):
            procs.signal_stop(recycled, "run x", "try")
        assert child.poll() is None  # a recycled pid is never signalled
        procs.signal_stop(owner, "run x")
        assert child.wait(10) == -signal.SIGTERM
        with pytest.raises(StoreError, match="is gone"):
            procs.signal_stop(owner, "run x")
    finally:
        child.kill()
        child.wait()


def test_spawn_detached_leaves_no_zombie(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    process = procs.spawn_detached([sys.executable, "-c", "print('hello')"], log)
    assert os.getsid(process.pid) == process.pid  # its own session
    deadline = time.monotonic() + 20
    while os.path.exists(f"/proc/{process.pid}") and time.monotonic() < deadline:
        time.sleep(0.02)  # a zombie keeps its /proc entry until it is reaped
    assert not os.path.exists(f"/proc/{process.pid}")
    assert log.read_text() == "hello\n" and process.returncode == 0


def test_stop_flag_counts_requests() -> None:
    stop = procs.StopFlag()
    assert not stop()
    stop.request()
    stop.request(signal.SIGTERM, None)  # as a signal handler
    assert stop() and stop.count == 2 and stop.event.is_set()


def test_owner_lock_times_out_with_a_message(tmp_path: Path) -> None:
    path = tmp_path / "thing.lock"
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with procs.owner_lock(path, "the thing"):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(10)
        assert not procs.holds_lock(path)  # another thread holds it
        with pytest.raises(StoreError, match=r"the thing stayed locked for 0 s \(thing.lock\)"):
            procs.owner_lock(path, "the thing", timeout=0.1).acquire()
        with pytest.raises(StoreError, match="sweep lr is already running"):
            procs.owner_lock(path, "x", timeout=0, busy="sweep lr is already running").acquire()
    finally:
        release.set()
        thread.join()
    with procs.owner_lock(path, "the thing") as lock:
        assert procs.holds_lock(path)
        with lock:  # reentrant in its thread
            assert procs.holds_lock(path)
        assert procs.holds_lock(path)
    assert not procs.holds_lock(path)
