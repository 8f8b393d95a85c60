"""RunStore: the runs under one folder, safe to share between processes.

Paths, the lock, liveness, resolve, and the writes (create, update, claim, rename, delete),
built on the index file (``engine.store.indexfile``), the name markers (``.names``), the
metrics files (``.metrics``), the user's marks (``.marks``) and the rebuild from run folders
(``.recovery``). Every write holds the store's lock for its whole read-modify-write;
``run.json`` is written before the index line, so it is never older than the index.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinydb import TinyDB, where

from engine import procs
from engine.errors import StoreError
from engine.fsio import atomic_write, discard_folder, to_json, write_error
from engine.procs import OwnerLock, owner_lock, process_start_time, this_host
from engine.records import RunRecord
from engine.store import lookup, recovery
from engine.store.index import HEAD, TABLE, Entry, IndexUnreadable, gc_paused
from engine.store.indexfile import IndexFile, _IndexStorage
from engine.store.marks import StoreMarks
from engine.store.metrics import StoreMetrics
from engine.store.names import Names
from engine.store.schema import (
    ACTIVE,
    CONFIG_FILE,
    INDEX_FILE,
    LOCK_FILE,
    METRICS_FILE,
    RUN_FILE,
    RUN_ID_RE,
    TERMINAL,
    add_identity,
    as_crashed,
    blank_doc,
    check_name,
    check_status,
    default_root,
    now_iso,
    slugify,
)

if TYPE_CHECKING:
    from tinydb.table import Table


class RunStore(StoreMetrics, StoreMarks):
    """All runs under one folder. Every method is safe to call from several processes at once."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root: Path = Path(root) if root is not None else default_root()
        # Problems found and repaired (or skipped) while reading, for the CLI and TUI to show.
        self.warnings: list[str] = []
        self._lock_obj: OwnerLock | None = None
        self._index_obj: IndexFile | None = None
        self._records: dict[bytes, tuple[Entry, RunRecord]] = {}  # list_records' cache

    def __repr__(self) -> str:
        return f"RunStore({str(self.root)!r})"

    @property
    def index_path(self) -> Path:
        return self.root / INDEX_FILE

    @property
    def _index(self) -> IndexFile:
        """The index file with this store's caches (line offsets, parsed lines)."""
        if self._index_obj is None or self._index_obj.path != self.index_path:
            self._index_obj = IndexFile(self.index_path, self.root / LOCK_FILE)
        return self._index_obj

    @property
    def _names(self) -> Names:
        return Names(self.root)

    # ------------------------------------------------------------ paths

    def run_dir(self, run_id: str) -> Path:
        """The folder of a run; refuses anything that is not a run id (no path can escape)."""
        if not isinstance(run_id, str) or not RUN_ID_RE.fullmatch(run_id):
            raise StoreError(
                f"'{run_id}' is not a run id (like 20250101-120000-resnet-digits-1a2b); "
                "see `resnet-tui runs list`"
            )
        return self.root / run_id

    def metrics_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / METRICS_FILE

    # ------------------------------------------------------------ locking and index access

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create the runs folder {self.root}: {e.strerror or e}") from e
        if self._lock_obj is None or self._lock_obj.path != self.root / LOCK_FILE:
            self._lock_obj = owner_lock(self.root / LOCK_FILE, f"the run store {self.root}")
        with self._lock_obj:
            yield

    def _open_db(self) -> TinyDB:
        return TinyDB(str(self.index_path), storage=_IndexStorage)

    @contextlib.contextmanager
    def _locked_table(self) -> Iterator[Table]:
        """The runs table for one read-modify-write through TinyDB, under the lock, repaired
        first if damaged: the path for indexes not in the slot layout."""
        with self._lock():
            db = self._open_db()
            try:
                try:
                    data = db.storage.read()
                except IndexUnreadable as e:
                    self._rebuild_locked(f"was unreadable ({e})")
                    db = self._open_db()
                else:
                    if data is None and self._has_run_folders():
                        self._rebuild_locked("was missing or empty")
                        db = self._open_db()
                yield db.table(TABLE)
            finally:
                db.close()

    def _entries(self) -> list[Entry]:
        """Every stored document, as stored, in index order (repaired first if damaged)."""
        try:
            entries = self._index.entries()
        except IndexUnreadable:
            return self._recover()
        if entries is None:
            return self._recover() if self._has_run_folders() else []
        return entries

    def index_bytes(self) -> bytes | None:
        """index.json's bytes, read under the readers' shared lock, so never with a line half
        written (None when there is none): for tools that copy or check the raw file."""
        with self._index.reading():
            return self._index.read_bytes()

    def _read_docs(self) -> list[dict[str, Any]]:
        """The documents, shared with the parse cache: read them, never change them."""
        return [entry.doc for entry in self._entries()]

    def _recover(self) -> list[Entry]:
        with self._lock():
            # Another process may have repaired it while we waited for the lock (and a reader
            # that could not get the shared lock may simply have read a line mid-write).
            try:
                entries = self._index.entries()
            except IndexUnreadable as e:
                self._rebuild_locked(f"was unreadable ({e})")
            else:
                if entries is not None:
                    return entries
                if not self._has_run_folders():
                    return []
                self._rebuild_locked("was missing or empty")
            return self._index.entries() or []

    def remove_stale_temp_files(self) -> list[str]:
        """Remove what writers killed mid-write left behind, in the store's folder, its name
        markers and every run folder (only files of processes that are gone); their paths."""
        return recovery.remove_temp_files(self.root)

    def _has_run_folders(self) -> bool:
        return recovery.has_run_folders(self.root)

    # ------------------------------------------------------------ rebuilding the index

    def rebuild_index(self) -> list[dict[str, Any]]:
        """Rebuild index.json from the run folders (also adopts folders the index lacks), and
        the name markers from it."""
        with self._lock():
            docs = self._rebuild_locked("was rebuilt on request", keep_as="old")
            self._names.rebuild(docs)
            return docs

    def _rebuild_locked(self, reason: str, keep_as: str = "corrupt") -> list[dict[str, Any]]:
        """Write a new index from the run folders; the previous file is kept as
        ``index.json.<keep_as>-<timestamp>`` (never deleted). Call with the lock held."""
        docs = recovery.docs_from_folders(self.root)
        kept = None
        if self.index_path.exists() and self.index_path.stat().st_size > 0:
            kept = recovery.keep_previous_index(self.index_path, keep_as)
        self._index.write_all({TABLE: {str(i): doc for i, doc in enumerate(docs, start=1)}})
        message = f"index.json {reason}; rebuilt from {len(docs)} run folders"
        if kept is not None:
            message += f", the previous file kept as {kept}"
        self.warnings.append(message)
        return [dict(doc) for doc in docs]

    # ------------------------------------------------------------ liveness

    def is_alive(self, doc: dict[str, Any]) -> bool:
        """Whether the run's process still runs: its pid exists on this host, with the same
        start time when one was recorded (a recycled pid is not the run). A run of another host
        counts as alive, since this host cannot tell; a run with no pid is not alive."""
        return procs.is_alive(doc)

    @staticmethod
    def process_identity(pid: int) -> dict[str, Any]:
        """The fields that tell this process apart from a later one given the same pid
        (``update`` fills them in by itself when it is given a ``pid``)."""
        return {"pid_start": process_start_time(pid)}

    def _is_dead(self, doc: dict[str, Any]) -> bool:
        """Active with a pid whose process is gone: what readers report as crashed."""
        return _live(doc) and not self.is_alive(doc)

    def _derive(self, doc: dict[str, Any]) -> dict[str, Any]:
        return as_crashed(doc) if self._is_dead(doc) else doc

    # ------------------------------------------------------------ reading

    def list_runs(self) -> list[dict[str, Any]]:
        """Every run, newest first; runs whose process is gone are reported as crashed.

        Only the index lines that changed since this store's previous call are parsed again.
        The documents are fresh dicts; values nested in them (config, best, ...) are shared
        with the store's cache: read them, do not change them in place."""
        with gc_paused():  # thousands of new objects, none of them garbage
            docs = []
            for entry in self._newest_first():
                derived = self._derive(entry.doc) if _live(entry.doc) else entry.doc
                docs.append(dict(derived) if derived is entry.doc else derived)  # not the cache's
            return docs

    def list_records(self) -> list[RunRecord]:
        """``list_runs`` as typed records. A run's record is made once per version of its index
        line, so a store of 10,000 runs with one live run costs one new record per call (a live
        run's is made at every call: its status depends on its process)."""
        with gc_paused():
            records, made = [], {}
            for entry in self._newest_first():
                if _live(entry.doc):
                    records.append(RunRecord.from_json(self._derive(entry.doc)))
                    continue
                old = self._records.get(entry.key)
                record = old[1] if old and old[0] is entry else RunRecord.from_json(entry.doc)
                made[entry.key] = (entry, record)
                records.append(record)
            self._records = made
            return records

    def newest_records(self, n: int) -> tuple[list[RunRecord], int] | None:
        """The ``n`` runs added last (the newest), newest first, and how many runs the store
        holds, read without the others: a first screen of a big store. None when the index
        must be read whole for that (``list_records`` then does)."""
        tail = self._index.tail(n)
        if tail is None:
            return None
        entries, total = tail
        entries.reverse()
        entries.sort(key=lambda entry: entry.time, reverse=True)
        derived = [self._derive(e.doc) if _live(e.doc) else e.doc for e in entries]
        return [RunRecord.from_json(doc) for doc in derived], total

    def _newest_first(self) -> list[Entry]:
        entries = self._entries()
        entries.reverse()  # the index keeps insertion order: the stable sort keeps ties so
        entries.sort(key=lambda entry: entry.time, reverse=True)
        return entries

    def get(self, run_id: str) -> dict[str, Any]:
        """One run's document (derived as in ``list_runs``), read from its own index line."""
        doc = None
        if isinstance(run_id, str) and RUN_ID_RE.fullmatch(run_id):
            doc = self._index.find(run_id)
        if doc is None:
            doc = next((dict(d) for d in self._read_docs() if d["id"] == run_id), None)
        if doc is None:
            raise self._unknown(run_id)
        return self._derive(doc)

    def resolve(self, ref: str) -> str:
        """A run id from an exact id, a unique id prefix, or a unique name."""
        ref = ref.strip()
        if RUN_ID_RE.fullmatch(ref) and self._index.find(ref) is not None:
            return ref  # a whole id: its own line says so, no need to read every run
        return lookup.resolve(self._read_docs(), ref, self.root)

    def _unknown(self, ref: str) -> StoreError:
        return lookup.unknown(ref, self.root)

    # ------------------------------------------------------------ creating

    def create_run(
        self,
        config: dict[str, Any],
        *,
        name: str = "",
        preset: str = "",
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Allocate an id, create the folder with config.toml and run.json, index it (queued).

        The run's name (``name``, else the preset's, the model's or "run") is unique in the
        store: when another run holds it, the run is named ``NAME-2`` (``-3``, ...). Then, and
        only then, the returned document has ``name_taken``: the name that was asked for (it is
        not stored; callers tell the user).
        """
        from engine.config import to_toml  # deferred: stdlib only, but not needed by readers

        extra = dict(extra or {})
        if "id" in extra:
            raise StoreError("extra fields cannot set a run's id")
        if "status" in extra:
            check_status(extra["status"])
        name = str(extra.pop("name", "") or name)
        # A pid given here (the process that will train the run) makes the run show as
        # crashed should that process die before training starts.
        add_identity(extra)
        model = str(config.get("model", {}).get("name", ""))
        fallback = slugify(preset) or slugify(model) or "run"
        wanted = name or fallback
        toml = to_toml(config).encode("utf-8")
        with self._lock():
            in_slots = self._check_index_locked()
            self._ensure_names()
            given = self._names.unique(wanted)
            now = datetime.now().astimezone()
            run_id, folder = self._make_folder(
                now.strftime("%Y%m%d-%H%M%S"), slugify(given) or fallback
            )
            named = False
            try:
                doc = {
                    **blank_doc(run_id),
                    "name": given,
                    "preset": preset,
                    "config": config,
                    "status": "queued",
                    "host": this_host(),
                    "created": now.isoformat(timespec="seconds"),
                    "epochs": config.get("train", {}).get("epochs"),
                    "model": config.get("model", {}).get("name"),
                    "dataset": config.get("data", {}).get("name"),
                    "message": "",
                    **extra,
                }
                run_json = to_json(doc)
                atomic_write(folder / CONFIG_FILE, toml)
                atomic_write(folder / RUN_FILE, run_json)
                self._names.give(given, run_id, base=wanted)
                named = True
                self._insert(doc, in_slots)
            except BaseException:
                if named:
                    self._names.drop(given, run_id)
                shutil.rmtree(folder, ignore_errors=True)  # nothing points at it yet
                raise
        return doc if given == wanted else {**doc, "name_taken": wanted}

    def _check_index_locked(self) -> bool:
        """Whether the index is in the slot layout; if not, repair it now if it needs repair
        (before a new run folder exists, which a rebuild would adopt)."""
        with self._index.opened(os.O_RDONLY) as handle:
            if handle is not None:
                return True
        with self._locked_table():
            pass
        return False

    def _insert(self, doc: dict[str, Any], in_slots: bool) -> None:
        if in_slots:
            with self._index.opened() as handle:
                if handle is not None and self._index.append(handle, doc):
                    return
        db = self._open_db()  # no repair here: the index was checked under this lock
        try:
            db.table(TABLE).insert(doc)
        finally:
            db.close()

    def _ensure_names(self) -> None:
        """Name markers for a store made before they existed (once). Call with the lock held."""
        names = self._names
        if not names.complete:
            names.rebuild(self._read_docs())

    def _make_folder(self, stamp: str, slug: str) -> tuple[str, Path]:
        for _ in range(100):
            run_id = f"{stamp}-{slug}-{os.urandom(2).hex()}"
            folder = self.run_dir(run_id)
            try:
                folder.mkdir()  # atomic: fails if the id is taken
            except FileExistsError:
                continue
            except OSError as e:
                raise write_error(folder, e) from e
            return run_id, folder
        raise StoreError(f"could not allocate a free run id in {self.root}")

    # ------------------------------------------------------------ changing

    def _modify(self, run_id: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Apply ``change`` to one document under the lock; write run.json, then the index.

        The usual case reads and writes the document's own line of index.json (its cost does
        not grow with the number of runs); an index in another layout goes through TinyDB.
        A change of name must keep names unique (else StoreError, nothing written)."""
        folder = self.run_dir(run_id)

        def changed(doc: dict[str, Any]) -> tuple[str, str]:
            if not folder.is_dir():
                raise StoreError(
                    f"the folder of run {run_id} is missing from {self.root}; "
                    f"delete the run with `resnet-tui runs rm {run_id}`"
                )
            old = str(doc.get("name", ""))
            change(doc)
            return old, str(doc.get("name", ""))

        with self._lock():
            with self._index.opened() as handle:
                found = None if handle is None else self._index.locate(handle, run_id)
                if handle is not None and found is not None:
                    slot, doc = found
                    names = changed(doc)
                    self._write_doc(doc, names, lambda: self._index.put(handle, slot, doc))
                    return doc
            with self._locked_table() as table:
                stored = table.search(where("id") == run_id)
                if not stored:
                    raise self._unknown(run_id)
                doc = dict(stored[0])
                names = changed(doc)

                def replace(old: Any) -> None:
                    old.clear()
                    old.update(doc)

                self._write_doc(
                    doc, names, lambda: table.update(replace, doc_ids=[stored[0].doc_id])
                )
                return doc

    def _write_doc(
        self, doc: dict[str, Any], names: tuple[str, str], write_index: Callable[[], Any]
    ) -> None:
        """run.json, then the index; a new name is claimed first and the old one let go after."""
        run_id = str(doc["id"])
        old, new = names
        renamed = new != old
        if renamed:
            self._ensure_names()
            holder = self._names.owner(new)
            if holder is not None and holder != run_id:
                raise StoreError(
                    f"the name '{new}' is taken by run {holder} in {self.root}; choose another "
                    "name (names are unique in a store)"
                )
            self._names.give(new, run_id)
        try:
            atomic_write(self.run_dir(run_id) / RUN_FILE, to_json(doc))
            write_index()
        except BaseException:
            if renamed:
                self._names.drop(new, run_id)
            raise
        if renamed:
            self._names.drop(old, run_id)

    def update(self, run_id: str, **fields: Any) -> dict[str, Any]:
        """Set fields of a run (locked read-modify-write); returns the document as stored.

        Setting ``pid`` also records ``pid_start`` (to tell a recycled pid apart) and ``host``
        unless they are given: the process that reports its pid runs on this host.
        """
        if "id" in fields:
            raise StoreError("a run's id cannot be changed")
        if "status" in fields:
            check_status(fields["status"])
        if "name" in fields:
            check_name(fields["name"])
        add_identity(fields)
        to_json(fields)  # refuse values JSON cannot hold before touching anything
        return self._modify(run_id, lambda doc: doc.update(fields))

    def rename(self, run_id: str, name: str) -> dict[str, Any]:
        """Give a run another name; refused (StoreError) when another run of the store has it."""
        return self.update(run_id, name=check_name(name))

    def set_status(
        self, run_id: str, status: str, message: str = "", **fields: Any
    ) -> dict[str, Any]:
        """Move a run to ``status``: running sets ``started`` (first time), terminal states set
        ``finished``, queued/running clear it."""
        check_status(status)
        fields = {"status": status, "message": message, **fields}
        if status in TERMINAL:
            fields.setdefault("finished", now_iso())
        else:
            fields.setdefault("finished", None)
        started = now_iso() if status == "running" and "started" not in fields else None
        add_identity(fields)
        to_json(fields)

        def change(doc: dict[str, Any]) -> None:
            doc.update(fields)
            if started is not None and not doc.get("started"):
                doc["started"] = started

        return self._modify(run_id, change)

    def claim(
        self, run_id: str, take: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any]:
        """Check and change a run in one locked step, so that of two processes claiming the
        same run (two resumes, two launches) exactly one wins.

        ``take`` gets a copy of the document as readers see it (a dead process's run shows as
        crashed), raises to refuse, or returns the fields to set (a ``pid`` gets its identity
        as in ``update``). Returns the document as stored.
        """

        def change(doc: dict[str, Any]) -> None:
            fields = dict(take(dict(self._derive(doc))))
            if "id" in fields:
                raise StoreError("a run's id cannot be changed")
            if "status" in fields:
                check_status(fields["status"])
            add_identity(fields)
            to_json(fields)
            doc.update(fields)

        return self._modify(run_id, change)

    def mark_crashed(
        self, run_id: str, then: Callable[[dict[str, Any]], Any] | None = None
    ) -> dict[str, Any]:
        """Persist the derived "crashed" status of a run whose process is gone (``then`` gets
        the document if this call did: once per crash); others are returned unchanged."""
        marked: list[dict[str, Any]] = []

        def change(doc: dict[str, Any]) -> None:
            if self._is_dead(doc):
                doc.update(as_crashed(doc), finished=now_iso())
                marked.append(doc)

        doc = self._modify(run_id, change)
        if marked and then is not None:
            then(doc)
        return doc

    def delete(self, run_id: str) -> None:
        """Remove a run's document, name and folder; refused while its process is alive."""
        folder = self.run_dir(run_id)
        with self._lock():
            doc, left = self._remove_doc(run_id)
            if left:
                self._names.drop(str(doc.get("name", "")), run_id)
            else:
                self._names.clear()
            if folder.is_dir():
                discard_folder(folder, self.root / f".deleted-{run_id}-{os.urandom(2).hex()}")

    def _remove_doc(self, run_id: str) -> tuple[dict[str, Any], bool]:
        """Take a run out of the index: (its document, whether other runs are left)."""
        with self._index.opened() as handle:
            found = None if handle is None else self._index.locate(handle, run_id)
            if handle is not None and found is not None:
                slot, doc = found
                self._refuse_if_alive(doc)
                if self._index.remove(handle, slot):
                    return doc, slot.comma or slot.offset > len(HEAD)
        with self._locked_table() as table:
            docs = table.search(where("id") == run_id)
            if not docs:
                raise self._unknown(run_id)
            doc = dict(docs[0])
            self._refuse_if_alive(doc)
            table.remove(where("id") == run_id)
            return doc, len(table) > 0

    def _refuse_if_alive(self, doc: dict[str, Any]) -> None:
        if doc.get("status") in ACTIVE and self.is_alive(doc):
            raise StoreError(
                f"run {doc['id']} is {doc['status']} (pid {doc.get('pid')} on "
                f"{doc.get('host')}); stop it first"
            )


def _live(doc: dict[str, Any]) -> bool:
    """Active with a pid: what it is depends on whether that process still runs."""
    return doc.get("status") in ACTIVE and doc.get("pid") is not None
