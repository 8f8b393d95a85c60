"""The run store's index at scale: slots written in place, appends, unique names, readers that
never see a torn line, old stores. Real files and real processes, no mocks of the store."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO
from test_store import _config, _old_dump, _tree, _write_old_store
from tinydb import TinyDB

from engine.errors import StoreError
from engine.store import INDEX_FILE, NAMES_DIR, RUN_FILE, RunStore
from engine.store.indexfile import READ_WAIT_S


def _line_span(raw: bytes, run_id: str) -> tuple[int, int]:
    """Where the index line of ``run_id`` starts and ends (its newline) in ``raw``."""
    start = raw.index(b'":{"id":"' + run_id.encode() + b'",')
    start = raw.rindex(b"\n", 0, start) + 1
    return start, raw.index(b"\n", start)


def _python(code: str, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.update(kwargs.pop("env", {}))
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=REPO, env=env, text=True, **kwargs
    )


# ---------------------------------------------------------------- one line per write


def test_an_update_writes_only_its_own_line(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    ids = [store.create_run(_config(), name=f"r{i}")["id"] for i in range(5)]
    before = store.index_path.read_bytes()
    inode = store.index_path.stat().st_ino
    start, end = _line_span(before, ids[2])
    store.update(ids[2], epoch=7, best={"val_acc": 0.97, "best_epoch": 7}, last={"lr": 0.1})
    after = store.index_path.read_bytes()
    assert store.index_path.stat().st_ino == inode  # written in place, not replaced
    assert len(after) == len(before)
    assert after[:start] == before[:start] and after[end:] == before[end:]  # every other byte
    assert after[start:end] != before[start:end]
    assert RunStore(runs_dir).get(ids[2])["epoch"] == 7
    # A create appends: the bytes of the runs already there stay as they were.
    new = store.create_run(_config(), name="r5")["id"]
    appended = store.index_path.read_bytes()
    assert store.index_path.stat().st_ino == inode
    assert appended[: len(after) - 4] == after[:-4] and appended.endswith(b"\n}}\n")
    assert [d["id"] for d in RunStore(runs_dir).list_runs()] == [new, *reversed(ids)]


def test_every_write_changes_what_a_follower_watches(runs_dir: Path) -> None:
    """The console's follower re-reads the index when (inode, mtime, size) changes: writes in
    place must change the mtime every time, even several within one clock tick."""
    store = RunStore(runs_dir)
    run_id = store.create_run(_config())["id"]

    def stamp() -> tuple[int, int, int]:
        st = store.index_path.stat()
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    stamps = [stamp()]
    for epoch in range(1, 30):
        store.update(run_id, epoch=epoch % 2)  # same size every time
        stamps.append(stamp())
    stamps.append(stamp() if store.create_run(_config()) else stamp())
    assert len(set(stamps)) == len(stamps)
    assert len({ino for ino, _, _ in stamps}) == 1  # all in place


def test_a_document_that_outgrows_its_slot_moves(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    ids = [store.create_run(_config())["id"] for _ in range(3)]
    inode = store.index_path.stat().st_ino
    store.update(ids[1], message="x" * 5000)  # far beyond its headroom: the file is rewritten
    assert store.index_path.stat().st_ino != inode
    inode = store.index_path.stat().st_ino
    store.update(ids[1], message="y" * 5000)  # its new slot has room again
    assert store.index_path.stat().st_ino == inode
    fresh = RunStore(runs_dir)
    assert [fresh.get(i)["message"][:1] for i in ids] == ["", "y", ""]
    assert fresh.warnings == []


def test_tinydb_reads_the_padded_index(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    ids = [store.create_run(_config(), name=f"t{i}")["id"] for i in range(3)]
    store.update(ids[0], epoch=4)
    raw = store.index_path.read_bytes()
    assert raw.splitlines()[1].endswith(b" ,")  # a line padded to its slot
    with TinyDB(str(store.index_path)) as db:  # what a user does: TinyDB's JSONStorage
        docs = db.table("runs").all()
    assert [d["id"] for d in docs] == ids and docs[0]["epoch"] == 4
    assert [dict(d) for d in docs] == [store.get(i) for i in ids]
    assert store.index_path.read_bytes() == raw  # reading wrote nothing


def test_an_index_of_the_previous_version_opens_updates_and_resumes(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    ids = [store.create_run(_config(), name=f"old{i}")["id"] for i in range(3)]
    store.update(ids[0], status="stopped", epoch=2)
    docs = _write_old_store(store, rename={ids[2]: "old1"})  # a duplicate name, as it allowed
    old_bytes = _old_dump(docs)
    assert store.index_path.read_bytes() == old_bytes
    old = RunStore(runs_dir)
    assert [d["id"] for d in old.list_runs()] == list(reversed(ids))
    assert old.get(ids[0])["epoch"] == 2 and old.warnings == []
    # An update that keeps the document's length fits its unpadded line: written in place.
    inode = store.index_path.stat().st_ino
    old.update(ids[1], epoch=0)
    assert store.index_path.stat().st_ino == inode
    # The resume's claim grows the document: the file is rewritten, in the slot layout.
    claimed = old.claim(ids[0], lambda doc: {"status": "running", "pid": os.getpid()})
    assert claimed["status"] == "running" and claimed["epoch"] == 2
    assert store.index_path.read_bytes().splitlines()[1].endswith(b" ,")
    assert old.update(ids[0], epoch=3)["epoch"] == 3
    fresh = RunStore(runs_dir)
    assert fresh.get(ids[0])["status"] == "running" and fresh.warnings == []
    # Names: the markers are made from that index; its duplicate stays ambiguous.
    assert not (runs_dir / NAMES_DIR).exists()
    again = fresh.create_run(_config(), name="old1")
    assert again["name"] == "old1-2" and again["name_taken"] == "old1"
    assert (runs_dir / NAMES_DIR).is_dir()
    with pytest.raises(StoreError, match="'old1' matches 2 runs"):
        fresh.resolve("old1")
    assert fresh.resolve("old1-2") == again["id"]


def test_a_failed_append_leaves_the_index_as_it_was(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RunStore(runs_dir)
    run_id = store.create_run(_config(), name="first")["id"]
    before = _tree(runs_dir)
    real_pwrite = os.pwrite
    calls = []

    def half_then_full(fd: int, data: Any, offset: int) -> int:
        calls.append(len(data))
        if len(calls) > 1:  # putting the old bytes back allocates nothing: it works
            return real_pwrite(fd, data, offset)
        real_pwrite(fd, bytes(data[: len(data) // 2]), offset)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "pwrite", half_then_full)
    with pytest.raises(StoreError, match="could not write .*index.json.*No space left"):
        store.create_run(_config(), name="second")
    monkeypatch.undo()
    assert _tree(runs_dir) == before  # the tail and size back, no folder, no name marker
    fresh = RunStore(runs_dir)
    assert [d["id"] for d in fresh.list_runs()] == [run_id] and fresh.warnings == []
    assert fresh.create_run(_config(), name="second")["name"] == "second"


def test_a_torn_line_is_rebuilt_from_the_run_folders(runs_dir: Path) -> None:
    """What a power cut in the middle of a write may leave: half a line."""
    store = RunStore(runs_dir)
    ids = [store.create_run(_config())["id"] for _ in range(3)]
    store.update(ids[2], epoch=5)
    raw = store.index_path.read_bytes()
    start, end = _line_span(raw, ids[2])
    torn = raw[: start + (end - start) // 2] + b"\n}}\n"
    store.index_path.write_bytes(torn)
    fresh = RunStore(runs_dir)
    assert sorted(d["id"] for d in fresh.list_runs()) == sorted(ids)
    assert fresh.get(ids[2])["epoch"] == 5  # from its run.json
    assert len(fresh.warnings) == 1 and "index.json was unreadable" in fresh.warnings[0]
    kept = [p for p in runs_dir.iterdir() if p.name.startswith(f"{INDEX_FILE}.corrupt-")]
    assert [p.read_bytes() for p in kept] == [torn]


_OPERATION = """
import sys
from engine.config import RunConfig
from engine.store import RunStore
store, op, run_id = RunStore(sys.argv[1]), sys.argv[2], sys.argv[3]
if op == "create":
    store.create_run(RunConfig().to_dict(), name="made")
elif op == "update":
    store.update(run_id, epoch=7)
elif op == "grow":
    store.update(run_id, message="x" * 5000)
elif op == "rename":
    store.rename(run_id, "renamed")
elif op == "delete":
    store.delete(run_id)
"""


@pytest.mark.parametrize("op", ["create", "update", "grow", "rename", "delete"])
@pytest.mark.parametrize("point", ["index", "index-rename", "index-done", "runjson-done"])
def test_a_writer_killed_at_an_index_write_point(runs_dir: Path, op: str, point: str) -> None:
    store = RunStore(runs_dir)
    ids = [store.create_run(_config(), name=f"k{i}")["id"] for i in range(3)]
    target = ids[1]
    before = {d["id"]: d for d in store.list_runs()}
    done = _python(
        _OPERATION,
        str(runs_dir),
        op,
        target,
        env={"RESNET_TUI_FAULT": f"kill:{point}:1"},
        capture_output=True,
    )
    # In-place writes (create, update, rename) never pass index-rename; delete writes no run.json.
    in_place = point == "index-rename" and op in ("create", "update", "rename")
    reached = not in_place and not (point == "runjson-done" and op == "delete")
    assert done.returncode == (-9 if reached else 0), done.stderr
    json.loads(store.index_path.read_bytes())  # never torn
    fresh = RunStore(runs_dir)
    after = {d["id"]: d for d in fresh.list_runs()}
    assert fresh.warnings == []
    for run_id in ids:  # the others are untouched
        if run_id != target:
            assert after[run_id] == before[run_id]
    if op == "delete":
        assert target not in after or after[target] == before[target]
    elif op == "create":
        assert len(after) in (3, 4)
    else:  # the run is as it was or as it was asked to become
        changed = {k for k in after[target] if after[target][k] != before[target].get(k)}
        assert changed <= {"epoch", "message", "name"}
    # The store goes on: what the writer left is cleaned up, and the same write succeeds.
    fresh.remove_stale_temp_files()
    assert not list(runs_dir.rglob("*.tmp"))
    if op in ("update", "grow", "rename"):
        redo = {"epoch": 8, "message": "z" * 5000, "name": "renamed-again"}
        assert fresh.update(target, **redo)["name"] == "renamed-again"
        assert RunStore(runs_dir).get(target) == fresh.get(target)


# ---------------------------------------------------------------- names


def test_names_are_unique_and_the_caller_is_told(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    first = store.create_run(_config(), preset="digits-quick")
    second = store.create_run(_config(), preset="digits-quick")  # the default name: same rule
    third = store.create_run(_config(), name="digits-quick")
    assert [d["name"] for d in (first, second, third)] == [
        "digits-quick",
        "digits-quick-2",
        "digits-quick-3",
    ]
    assert "name_taken" not in first
    assert second["name_taken"] == third["name_taken"] == "digits-quick"
    stored = json.loads((store.run_dir(second["id"]) / RUN_FILE).read_bytes())
    assert "name_taken" not in stored and "name_taken" not in store.get(second["id"])
    assert "-digits-quick-2-" in second["id"]
    assert store.resolve("digits-quick-2") == second["id"]


def test_rename(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    a = store.create_run(_config(), name="alpha")["id"]
    b = store.create_run(_config(), name="beta")["id"]
    renamed = store.rename(a, "gamma")
    assert renamed["name"] == "gamma" and store.resolve("gamma") == a
    assert json.loads((store.run_dir(a) / RUN_FILE).read_bytes())["name"] == "gamma"
    before = _tree(runs_dir)
    with pytest.raises(StoreError, match=f"the name 'beta' is taken by run {b}"):
        store.rename(a, "beta")
    with pytest.raises(StoreError, match="cannot be empty"):
        store.rename(a, "  ")
    with pytest.raises(StoreError, match="the name 'gamma' is taken"):
        store.update(b, name="gamma")  # update goes through the same rule
    assert _tree(runs_dir) == before  # refused: nothing written
    assert store.rename(a, "gamma")["name"] == "gamma"  # its own name: fine
    # The old name is free again; so is a deleted run's.
    assert store.create_run(_config(), name="alpha")["name"] == "alpha"
    store.delete(b)
    assert store.create_run(_config(), name="beta")["name"] == "beta"


def test_rebuild_index_keeps_names_consistent(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    ids = [store.create_run(_config(), name=n)["id"] for n in ("one", "two")]
    store.rename(ids[1], "three")
    (runs_dir / NAMES_DIR / "junk").write_text("{}")
    store.rebuild_index()
    assert len(list((runs_dir / NAMES_DIR).iterdir())) == 2  # one, three: junk went
    assert not (runs_dir / NAMES_DIR / "junk").exists()
    assert store.create_run(_config(), name="three")["name"] == "three-2"
    assert store.create_run(_config(), name="two")["name"] == "two"
    # Deleting every run leaves the store as bare as a new one.
    for doc in store.list_runs():
        store.delete(doc["id"])
    assert sorted(p.name for p in runs_dir.iterdir() if not p.name.startswith(INDEX_FILE)) == []


_SAME_NAME = """
import sys
from engine.config import RunConfig
from engine.store import RunStore
store = RunStore(sys.argv[1])
print(" ".join(store.create_run(RunConfig().to_dict(), name="same")["name"] for _ in range(5)))
"""


def test_processes_creating_runs_of_one_name_get_different_names(runs_dir: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _SAME_NAME, str(runs_dir)],
            cwd=REPO,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    names = [n for out, _ in outputs for n in out.split()]
    assert sorted(names) == sorted(["same", *(f"same-{i}" for i in range(2, 16))])
    assert sorted(d["name"] for d in RunStore(runs_dir).list_runs()) == sorted(names)


# ---------------------------------------------------------------- readers


def test_readers_wait_for_a_writer_in_the_middle_of_a_line(runs_dir: Path) -> None:
    """A writer holds the lock while its line is half written: a reader in another thread
    waits for it (the shared lock) and sees the whole line, never the torn one."""
    store = RunStore(runs_dir)
    ids = [store.create_run(_config())["id"] for _ in range(3)]
    raw = store.index_path.read_bytes()
    start, end = _line_span(raw, ids[1])
    writer = RunStore(runs_dir)
    holding = threading.Event()

    def tear_then_mend() -> None:
        with writer._lock():
            with open(store.index_path, "r+b") as fh:
                fh.seek(start + 10)
                fh.write(b"#" * 20)  # a torn line
                fh.flush()
                holding.set()
                time.sleep(0.3)
                fh.seek(start)
                fh.write(raw[start:end])  # mended
                fh.flush()

    thread = threading.Thread(target=tear_then_mend)
    thread.start()
    assert holding.wait(10)
    reader = RunStore(runs_dir)
    docs = reader.list_runs()
    thread.join()
    assert [d["id"] for d in docs] == list(reversed(ids)) and reader.warnings == []
    assert not [p for p in runs_dir.iterdir() if ".corrupt-" in p.name]


def test_a_thread_holding_the_lock_reads_without_waiting_for_itself(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    run_id = store.create_run(_config())["id"]
    with store._lock():
        start = time.monotonic()
        assert [d["id"] for d in store.list_runs()] == [run_id]
        assert store.get(run_id)["id"] == run_id
        assert RunStore(runs_dir).resolve(run_id) == run_id  # another store object, same thread
        assert time.monotonic() - start < READ_WAIT_S / 2


def test_list_runs_parses_only_the_lines_that_changed(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    ids = [store.create_run(_config())["id"] for _ in range(3)]
    first = {d["id"]: d for d in store.list_runs()}
    RunStore(runs_dir).update(ids[1], epoch=2)  # another process's write, as a trainer's
    second = {d["id"]: d for d in store.list_runs()}
    assert second[ids[1]]["epoch"] == 2
    assert second[ids[1]]["config"] is not first[ids[1]]["config"]  # parsed again
    for run_id in (ids[0], ids[2]):
        assert second[run_id]["config"] is first[run_id]["config"]  # reused
        assert second[run_id] is not first[run_id]  # but each call gets its own dicts
    second[ids[0]]["status"] = "changed by the caller"
    assert store.list_runs()[-1]["status"] == "queued"
