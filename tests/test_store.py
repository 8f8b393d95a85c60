"""The run store: a real TinyDB file, real processes, real signals; no mocks of the store."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO
from tinydb import TinyDB

from engine import api
from engine.config import RunConfig, from_dict
from engine.errors import StoreError
from engine.store import (
    CONFIG_FILE,
    INDEX_FILE,
    METRICS_FILE,
    NAMES_DIR,
    RUN_FILE,
    STATUSES,
    MetricsReader,
    RunStore,
    _IndexStorage,  # the line edit itself: tests check it is really taken
)


def _config(**overrides: Any) -> dict[str, Any]:
    return RunConfig().replace(overrides).to_dict()


def _index(store: RunStore) -> dict[str, Any]:
    return json.loads(store.index_path.read_bytes())


def _python(code: str, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], cwd=REPO, env=env, text=True, **kwargs
    )


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _old_dump(docs: list[dict[str, Any]]) -> bytes:
    """index.json as the store wrote it before slots (4e3af94's ``_dump_index``): one document
    per line, no padding, the comma right after the document."""
    lines = [
        json.dumps(str(i), separators=(",", ":")).encode()
        + b":"
        + json.dumps(doc, separators=(",", ":")).encode()
        for i, doc in enumerate(docs, start=1)
    ]
    return b'{"runs":{' + (b"\n" + b",\n".join(lines) if lines else b"") + b"\n}}\n"


def _write_old_store(store: RunStore, rename: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Turn ``store`` into one as the previous version left it: the old index layout, no name
    markers; ``rename`` gives runs names (duplicates included) as that version allowed."""
    docs = [dict(d) for d in reversed(store.list_runs())]
    for doc in docs:
        if doc["id"] in (rename or {}):
            doc["name"] = (rename or {})[doc["id"]]
            (store.run_dir(doc["id"]) / RUN_FILE).write_bytes(json.dumps(doc).encode())
    store.index_path.write_bytes(_old_dump(docs))
    shutil.rmtree(store.root / NAMES_DIR)
    return docs


# ---------------------------------------------------------------- basic operations


def test_default_root_comes_from_the_environment(runs_dir: Path) -> None:
    store = RunStore()
    assert store.root == runs_dir
    assert store.list_runs() == []
    assert not runs_dir.exists()  # reading creates nothing


def test_create_get_update_list(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    config = _config(**{"train.epochs": 12, "model.name": "resnet-digits"})
    first = store.create_run(config, preset="digits-quick")
    second = store.create_run(config, name="My Run #2", extra={"sweep": "lr"})

    assert first["id"].split("-")[2:-1] == ["digits", "quick"]
    assert first["name"] == "digits-quick"
    assert second["name"] == "My Run #2" and "-my-run-2-" in second["id"]
    assert second["sweep"] == "lr"
    assert first["status"] == "queued" and first["pid"] is None and first["epoch"] == 0
    assert (first["epochs"], first["model"], first["dataset"]) == (12, "resnet-digits", "digits")
    assert first["best"] == {} and first["test"] == {} and first["message"] == ""

    folder = store.run_dir(first["id"])
    assert from_dict(tomllib.loads((folder / CONFIG_FILE).read_text())).to_dict() == config
    assert json.loads((folder / RUN_FILE).read_bytes()) == first
    assert store.get(first["id"]) == first

    updated = store.update(first["id"], epoch=3, best={"val_acc": 0.9}, device="cpu")
    assert updated["epoch"] == 3 and updated["best"] == {"val_acc": 0.9}
    assert store.get(first["id"]) == updated
    assert json.loads((folder / RUN_FILE).read_bytes()) == updated  # run.json follows

    assert [d["id"] for d in store.list_runs()] == [second["id"], first["id"]]  # newest first
    assert store.warnings == []


def test_set_status_times_and_validation(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    run_id = store.create_run(_config())["id"]
    running = store.set_status(run_id, "running", pid=os.getpid())
    assert running["started"] and running["finished"] is None
    assert running["pid_start"] is not None  # recorded with the pid
    done = store.set_status(run_id, "finished", "done in 3 epochs", test={"test_acc": 0.97})
    assert done["finished"] and done["message"] == "done in 3 epochs"
    assert done["started"] == running["started"]
    with pytest.raises(StoreError, match="unknown run status 'done'"):
        store.set_status(run_id, "done")
    with pytest.raises(StoreError, match="unknown run status"):
        store.update(run_id, status="bogus")
    with pytest.raises(StoreError, match="plain JSON"):
        store.update(run_id, best={"when": object()})
    with pytest.raises(StoreError, match="id cannot be changed"):
        store.update(run_id, id="x")
    assert store.get(run_id) == done  # refused updates changed nothing
    assert done["status"] in STATUSES


def test_resolve(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    a = store.create_run(_config(), name="alpha")["id"]
    b = store.create_run(_config(), name="twin")["id"]
    c = store.create_run(_config(), name="twin")["id"]
    assert store.resolve(a) == a
    assert store.resolve(a[:-3]) == a  # a unique prefix
    assert store.resolve("alpha") == a
    assert store.resolve("twin") == b and store.resolve("twin-2") == c  # names are unique
    # A name that is also the start of other runs' ids is that run: a whole name wins.
    store.rename(a, a[:9])
    assert store.resolve(a[:9]) == a and a[:9] != a
    store.rename(a, "alpha")
    # A store written before names were unique may hold a name twice: it stays ambiguous.
    _write_old_store(store, rename={c: "twin"})
    with pytest.raises(StoreError) as ambiguous:
        store.resolve("twin")
    assert b in str(ambiguous.value) and c in str(ambiguous.value)
    with pytest.raises(StoreError, match=r"no run 'nope' in .*runs list"):
        store.resolve("nope")
    with pytest.raises(StoreError, match=r"names that start with it: twin, twin; give a whole"):
        store.resolve("tw")
    with pytest.raises(StoreError, match="no run"):
        store.get("20990101-000000-missing-abcd")


def test_delete(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    keep = store.create_run(_config())["id"]
    run_id = store.create_run(_config())["id"]
    store.append_metrics(run_id, {"epoch": 1})
    store.set_status(run_id, "running", pid=os.getpid())  # this test process: alive
    with pytest.raises(StoreError, match="stop it first"):
        store.delete(run_id)
    assert store.run_dir(run_id).is_dir()
    store.set_status(run_id, "stopped")
    store.delete(run_id)
    assert not store.run_dir(run_id).exists()
    assert [d["id"] for d in store.list_runs()] == [keep]
    assert sorted(p.name for p in runs_dir.iterdir() if p.is_dir()) == [NAMES_DIR, keep]
    with pytest.raises(StoreError, match="no run"):
        store.delete(run_id)


@pytest.mark.parametrize(
    "bad", ["../x", "/etc", "a/b", "..", "", "20250101-120000-x-1a2b/../../etc", "X" * 300]
)
def test_run_ids_never_escape_the_store(runs_dir: Path, bad: str) -> None:
    store = RunStore(runs_dir)
    real = store.create_run(_config())["id"]
    before = _tree(runs_dir.parent)
    with pytest.raises(StoreError, match="not a run id"):
        store.run_dir(bad)
    for action in (
        lambda: store.update(bad, epoch=1),
        lambda: store.set_status(bad, "failed"),
        lambda: store.delete(bad),
        lambda: store.append_metrics(bad, {"epoch": 1}),
        lambda: store.read_metrics(bad),
        lambda: store.truncate_metrics(bad, 0),
        lambda: store.get(bad),
    ):
        with pytest.raises(StoreError):
            action()
    assert _tree(runs_dir.parent) == before
    assert store.get(real)["id"] == real


def test_files_follow_the_umask(runs_dir: Path) -> None:
    old = os.umask(0o027)  # neither mkstemp's 0o600 nor a chmod 0o666 gives 0o640
    try:
        store = RunStore(runs_dir)
        run_id = store.create_run(_config())["id"]
        store.update(run_id, epoch=1)
        store.append_metrics(run_id, {"epoch": 1})
        store.truncate_metrics(run_id, 1)
    finally:
        os.umask(old)
    folder = store.run_dir(run_id)
    for path in (
        store.index_path,
        runs_dir / "index.json.lock",
        folder / CONFIG_FILE,
        folder / RUN_FILE,
        folder / METRICS_FILE,
    ):
        assert path.stat().st_mode & 0o777 == 0o640, path


def test_the_index_is_a_tinydb_file_with_one_document_per_line(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    first = store.create_run(_config())["id"]
    # A field holding another run's id must not be mistaken for that run's document.
    second = store.create_run(_config(), extra={"resumed_from": first})["id"]
    store.update(second, epoch=4)
    store.update(first, epoch=9, note="line\nbreak")
    lines = store.index_path.read_bytes().splitlines()
    assert len(lines) == 4 and lines[1].startswith(b'"1":{"id":"' + first.encode())
    with TinyDB(store.index_path, access_mode="r") as db:  # TinyDB's own storage reads it
        by_id = {d["id"]: d for d in db.table("runs").all()}
    assert by_id[first]["epoch"] == 9 and by_id[first]["note"] == "line\nbreak"
    assert by_id[second]["epoch"] == 4 and by_id[second]["resumed_from"] == first


def test_updates_edit_one_line_of_the_index(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    first = store.create_run(_config())["id"]
    second = store.create_run(_config())["id"]
    # The first run's id appears inside the second run's line (searched first): not its line.
    store.update(second, parent={"id": first, "x": 1})
    storage = _IndexStorage(str(store.index_path))
    for run_id in (first, second):
        doc = storage.edit_line(run_id, lambda d: d.update(epoch=5))
        assert doc is not None and doc["id"] == run_id
    assert storage.edit_line("20990101-000000-none-0000", lambda d: None) is None
    assert [store.get(i)["epoch"] for i in (first, second)] == [5, 5]
    assert store.get(second)["parent"] == {"id": first, "x": 1}
    assert "parent" not in store.get(first)
    # Another table in the file: the line edit steps aside and TinyDB does the update.
    TinyDB(str(store.index_path), storage=_IndexStorage).table("other").insert({"id": first})
    assert storage.edit_line(first, lambda d: None) is None
    assert store.update(first, epoch=6)["epoch"] == 6
    assert store.get(first)["epoch"] == 6 and store.warnings == []


def test_an_index_in_another_layout_is_still_updated(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    ids = [store.create_run(_config())["id"] for _ in range(2)]
    # As TinyDB's JSONStorage writes it: one line, default separators, keys in another order.
    data = _index(store)
    data["runs"]["2"] = dict(reversed(list(data["runs"]["2"].items())))
    store.index_path.write_text(json.dumps(data))
    store.update(ids[1], epoch=3)
    store.update(ids[0], epoch=2)
    assert [store.get(i)["epoch"] for i in ids] == [2, 3]
    assert store.warnings == []


def test_records_are_made_once_per_version_of_their_line(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    ids = [store.create_run(_config(), name=f"r{i}")["id"] for i in range(3)]
    first = {r.id: r for r in store.list_records()}
    again = {r.id: r for r in store.list_records()}
    assert all(again[i] is first[i] for i in ids)  # nothing changed: the same records
    store.update(ids[1], epoch=4)
    third = {r.id: r for r in store.list_records()}
    assert third[ids[1]] is not first[ids[1]] and third[ids[1]].epoch == 4
    assert third[ids[0]] is first[ids[0]] and third[ids[2]] is first[ids[2]]
    assert [r.id for r in store.list_records()] == [d["id"] for d in store.list_runs()]


def test_the_newest_runs_are_read_from_the_end_of_the_index(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    ids = [store.create_run(_config(), name=f"r{i}")["id"] for i in range(5)]
    found = RunStore(runs_dir).newest_records(2)
    assert found is not None
    records, total = found
    assert total == 5 and [r.id for r in records] == ids[:2:-1]  # newest first
    # An index in another layout (as TinyDB writes it) is not read by lines: None.
    store.index_path.write_text(json.dumps(_index(store)))
    assert RunStore(runs_dir).newest_records(2) is None
    newest, total = api.newest_runs(RunStore(runs_dir), 2)  # the API reads it whole then
    assert total == 5 and [r.id for r in newest] == ids[:2:-1]


# ---------------------------------------------------------------- several processes at once

_WRITER = """
import sys
from engine.config import RunConfig
from engine.store import RunStore
root, worker, n_runs, n_updates, shared = sys.argv[1:6]
store = RunStore(root)
ids = [store.create_run(RunConfig().to_dict(), name=f"w{worker}-r{r}")["id"]
       for r in range(int(n_runs))]
for i in range(1, int(n_updates) + 1):
    for run_id in ids:
        store.update(run_id, epoch=i, **{f"u{i}": int(worker)})
        store.append_metrics(run_id, {"epoch": i, "worker": int(worker)})
    store.append_metrics(shared, {"epoch": i, "worker": int(worker)})
print(" ".join(ids))
"""

_READER = """
import json, sys
from pathlib import Path
from engine.store import RunStore, MetricsReader
root, shared, stop = sys.argv[1], sys.argv[2], Path(sys.argv[3])
store = RunStore(root)
follower = MetricsReader(store.metrics_path(shared))
reads, seen_runs, epochs, lines = 0, 0, {}, 0
while not stop.exists():
    runs = store.list_runs()
    json.loads(store.index_bytes())  # the file itself is valid JSON at every (locked) read
    assert not store.warnings, store.warnings
    assert len(runs) >= seen_runs, "a run disappeared"
    seen_runs = len(runs)
    for doc in runs:
        assert doc["status"] == "queued", doc
        assert doc["epoch"] >= epochs.get(doc["id"], 0), "an update went missing"
        epochs[doc["id"]] = doc["epoch"]
    batch = follower.poll()
    assert not batch.reset and not follower.warnings, follower.warnings
    lines += len(batch.records)
    reads += 1
print(reads, lines)
"""


def test_concurrent_writers_and_a_reader(runs_dir: Path, tmp_path: Path) -> None:
    n_workers, n_runs, n_updates = 4, 3, 25
    store = RunStore(runs_dir)
    shared = store.create_run(_config(), name="shared")["id"]
    stop = tmp_path / "stop"
    reader = _python(
        _READER, str(runs_dir), shared, str(stop), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    writers = [
        _python(
            _WRITER,
            str(runs_dir),
            str(w),
            str(n_runs),
            str(n_updates),
            shared,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for w in range(n_workers)
    ]
    outputs = [w.communicate(timeout=120) for w in writers]
    stop.touch()
    reader_out, reader_err = reader.communicate(timeout=60)
    for writer, (_, err) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0, err
    assert reader.returncode == 0, reader_err
    reads, _ = map(int, reader_out.split())
    assert reads > 5  # the reader really read while the writers wrote

    ids = {w: out.split() for w, (out, _) in enumerate(outputs)}
    docs = {d["id"]: d for d in store.list_runs()}
    assert len(docs) == 1 + n_workers * n_runs
    for worker, run_ids in ids.items():
        for run_id in run_ids:
            doc = docs[run_id]
            assert doc["epoch"] == n_updates
            assert all(doc[f"u{i}"] == worker for i in range(1, n_updates + 1))  # none lost
            records, _ = store.read_metrics(run_id)
            assert [r["epoch"] for r in records] == list(range(1, n_updates + 1))
    records, _ = store.read_metrics(shared)
    pairs = [(r["worker"], r["epoch"]) for r in records]
    assert sorted(pairs) == [(w, i) for w in range(n_workers) for i in range(1, n_updates + 1)]
    assert store.warnings == []
    assert not list(runs_dir.rglob("*.tmp"))


# ---------------------------------------------------------------- liveness


_SELF_REGISTER = """
import os, sys, time
from engine.store import RunStore
store = RunStore(sys.argv[1])
store.set_status(sys.argv[2], "running", pid=os.getpid(), device="cpu")
store.update(sys.argv[2], epoch=3)
print("ready", flush=True)
time.sleep(120)
"""


def test_a_killed_run_is_listed_as_crashed(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    run_id = store.create_run(_config())["id"]
    proc = _python(_SELF_REGISTER, str(runs_dir), run_id, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        doc = store.get(run_id)
        assert doc["status"] == "running" and doc["pid"] == proc.pid
        assert store.is_alive(doc)
        os.kill(proc.pid, signal.SIGKILL)
        # Not reaped yet (a zombie) already counts as gone.
        deadline = time.monotonic() + 10
        while store.get(run_id)["status"] != "crashed" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert store.get(run_id)["status"] == "crashed"
    finally:
        proc.kill()
        proc.wait()
    listed = next(d for d in store.list_runs() if d["id"] == run_id)
    assert listed["status"] == "crashed"
    assert listed["message"] == (
        f"process {proc.pid} is gone (last epoch 3); "
        f"resume with `resnet-tui train --resume {run_id}`"
    )
    # Derived on read: the index still says running until someone persists it.
    assert _index(store)["runs"]["1"]["status"] == "running"
    store.mark_crashed(run_id)
    stored = _index(store)["runs"]["1"]
    assert stored["status"] == "crashed" and stored["finished"]
    store.delete(run_id)  # a crashed run may be deleted


def test_is_alive_rules(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    me = store.process_identity(os.getpid())
    assert store.is_alive({"pid": os.getpid(), **me})
    # The same pid with another start time is a recycled pid, not the run.
    assert not store.is_alive({"pid": os.getpid(), "pid_start": me["pid_start"] + 1})
    assert not store.is_alive({"pid": None})
    assert store.is_alive({"pid": 1234567, "host": "another-box"})  # cannot tell: alive
    run_id = store.create_run(_config())["id"]
    store.update(run_id, status="running", pid=os.getpid(), pid_start=me["pid_start"] + 1)
    assert store.get(run_id)["status"] == "crashed"
    store.update(run_id, pid_start=me["pid_start"])
    assert store.get(run_id)["status"] == "running"
    assert store.mark_crashed(run_id)["status"] == "running"  # alive: unchanged


# ---------------------------------------------------------------- damaged index


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_index_is_rebuilt_from_the_run_folders(runs_dir: Path, damage: str) -> None:
    store = RunStore(runs_dir)
    ids = [store.create_run(_config(), name=f"run{i}")["id"] for i in range(3)]
    store.update(ids[1], epoch=7, best={"val_acc": 0.93})
    good = store.index_path.read_bytes()
    bad = good[: len(good) // 2] if damage == "truncated" else b"\x00\xffnot json {"
    store.index_path.write_bytes(bad)
    # A half-written folder (nothing in it) and one with only its config.
    (runs_dir / "20240101-000000-half-0001").mkdir()
    config_only = runs_dir / "20240101-000001-cfg-0002"
    config_only.mkdir()
    (config_only / CONFIG_FILE).write_text('[model]\nname = "resnet-24"\n')

    fresh = RunStore(runs_dir)
    runs = {d["id"]: d for d in fresh.list_runs()}
    assert set(runs) == {*ids, "20240101-000000-half-0001", "20240101-000001-cfg-0002"}
    assert runs[ids[1]]["epoch"] == 7 and runs[ids[1]]["best"] == {"val_acc": 0.93}
    assert runs[ids[0]]["name"] == "run0"
    half = runs["20240101-000000-half-0001"]
    assert half["status"] == "failed" and "unreadable run folder" in half["message"]
    recovered = runs["20240101-000001-cfg-0002"]
    assert recovered["model"] == "resnet-24" and recovered["config"]["train"]["epochs"] == 30
    assert len(fresh.warnings) == 1
    warning = fresh.warnings[0]
    assert "index.json was unreadable" in warning and "rebuilt from 5 run folders" in warning
    kept = [p for p in runs_dir.iterdir() if p.name.startswith(f"{INDEX_FILE}.corrupt-")]
    assert len(kept) == 1 and kept[0].read_bytes() == bad and str(kept[0]) in warning
    # The rebuilt index is a real one: a second store reads it without repairs.
    again = RunStore(runs_dir)
    assert {d["id"] for d in again.list_runs()} == set(runs) and again.warnings == []
    assert again.get(ids[2])["name"] == "run2"


def test_writers_repair_a_damaged_index_too(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    run_id = store.create_run(_config())["id"]
    store.index_path.write_bytes(b'{"runs": {"1": {"id": ')
    assert store.update(run_id, epoch=2)["epoch"] == 2
    assert RunStore(runs_dir).get(run_id)["epoch"] == 2
    assert len(store.warnings) == 1


def test_a_missing_index_is_rebuilt(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    run_id = store.create_run(_config())["id"]
    store.index_path.unlink()
    assert [d["id"] for d in store.list_runs()] == [run_id]
    assert "index.json was missing" in store.warnings[0]


# ---------------------------------------------------------------- failing writes


def _no_space(*args: Any, **kwargs: Any) -> Any:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_failed_rename_leaves_the_index_intact(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RunStore(runs_dir)
    run_id = store.create_run(_config())["id"]
    store.update(run_id, epoch=1)
    before = store.index_path.read_bytes()
    monkeypatch.setattr(os, "replace", _no_space)
    with pytest.raises(StoreError, match=r"No space left on device \(the disk is full"):
        store.update(run_id, epoch=2)
    monkeypatch.undo()
    assert store.index_path.read_bytes() == before
    assert store.get(run_id)["epoch"] == 1
    assert not list(runs_dir.rglob("*.tmp"))


def test_a_write_failing_midway_leaves_everything_intact(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RunStore(runs_dir)
    run_id = store.create_run(_config())["id"]
    before = _tree(runs_dir)
    real_write = os.write

    def half_then_full(fd: int, data: Any) -> int:
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(StoreError, match="could not write .*No space left"):
        store.update(run_id, epoch=5)
    with pytest.raises(StoreError, match="No space left"):
        store.create_run(_config(), name="never")
    monkeypatch.undo()
    assert _tree(runs_dir) == before  # no new folder, no temp file, nothing changed
    assert json.loads(store.index_path.read_bytes())["runs"]["1"]["epoch"] == 0
    assert [d["id"] for d in store.list_runs()] == [run_id]


# ---------------------------------------------------------------- metrics


def test_metrics_skip_a_torn_last_line(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    run_id = store.create_run(_config())["id"]
    store.append_metrics(run_id, {"epoch": 1, "loss": 1.0})
    store.append_metrics(run_id, {"epoch": 2, "loss": 0.5})
    path = store.metrics_path(run_id)
    with open(path, "ab") as fh:
        fh.write(b'{"epoch": 3, "lo')  # a writer killed mid-line
    records, offset = store.read_metrics(run_id)
    assert [r["epoch"] for r in records] == [1, 2]
    assert offset == path.stat().st_size - len(b'{"epoch": 3, "lo')
    assert store.read_metrics(run_id, offset) == ([], offset)  # the tail is not consumed
    # The next append still lands on a line of its own; the torn line is skipped with a warning.
    store.append_metrics(run_id, {"epoch": 3, "loss": 0.25})
    records, offset = store.read_metrics(run_id, offset)
    assert records == [{"epoch": 3, "loss": 0.25}] and offset == path.stat().st_size
    assert len(store.warnings) == 1 and "not a JSON object" in store.warnings[0]
    everything, _ = store.read_metrics(run_id)
    assert [r["epoch"] for r in everything] == [1, 2, 3]


def test_truncate_metrics_and_followers(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    run_id = store.create_run(_config())["id"]
    lines: list[dict[str, Any]] = [
        {"kind": "step", "epoch": 1, "step": 5},
        {"kind": "epoch", "epoch": 1},
        {"kind": "step", "epoch": 2, "step": 10},
        {"kind": "epoch", "epoch": 2},
        {"note": "no epoch"},
        {"kind": "step", "epoch": 3, "step": 15},
        {"kind": "epoch", "epoch": 3},
    ]
    for record in lines:
        store.append_metrics(run_id, record)
    follower = store.metrics_reader(run_id)
    assert isinstance(follower, MetricsReader)
    assert follower.poll() == (lines, False)
    _, old_offset = store.read_metrics(run_id)

    store.truncate_metrics(run_id, 2)
    kept = lines[:5]
    assert store.read_metrics(run_id)[0] == kept
    batch = follower.poll()
    assert batch.reset and batch.records == kept  # replaced file: start over
    records, offset = store.read_metrics(run_id, old_offset)
    assert offset < old_offset and records == kept  # shorter than the offset: start over

    store.append_metrics(run_id, {"kind": "epoch", "epoch": 3})
    assert follower.poll() == ([{"kind": "epoch", "epoch": 3}], False)
    store.truncate_metrics(run_id, 0)
    assert store.read_metrics(run_id)[0] == [{"note": "no epoch"}]


def test_a_metrics_follower_before_the_file_exists(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    run_id = store.create_run(_config())["id"]
    follower = store.metrics_reader(run_id)
    assert follower.poll() == ([], False)
    assert store.read_metrics(run_id) == ([], 0)
    store.append_metrics(run_id, {"epoch": 1})
    assert follower.poll() == ([{"epoch": 1}], False)
    store.truncate_metrics(run_id, 5)  # keeps everything, but is a new file
    assert follower.poll() == ([{"epoch": 1}], True)
