"""The run store: a folder of runs with a TinyDB index, shared safely between processes.

::

    runs/
      index.json        TinyDB: one small document per run (no curves)
      index.json.lock   the inter-process lock every index write holds
      <run-id>/
        config.toml     the resolved config
        run.json        a copy of the run's index document, replaced on every update
        metrics.jsonl   one JSON object per line, append-only
        train.log, best.pt, last.pt, confusion.json   written by the trainer

Safety rules, in short:

- Every read-modify-write of ``index.json`` holds ``index.json.lock`` (``filelock``) for its
  whole duration and reads the file afresh (TinyDB is opened per operation), so no process
  works from a stale copy.
- ``index.json`` is TinyDB's JSON with one document per line. ``update`` (once per epoch per
  run) rewrites only its document's line and copies the others' bytes, so its cost does not
  grow with the number of runs; inserts, removals and anything unexpected go through TinyDB.
- Every write of ``index.json``, ``run.json``, ``config.toml`` and a truncated
  ``metrics.jsonl`` goes to a temporary file in the same folder, is fsynced, then renamed over
  the old one (``os.replace`` is atomic): readers take no lock and always see a whole file.
- Metrics lines are appended with one ``os.write`` on an ``O_APPEND`` descriptor, so lines of
  concurrent writers never interleave; a torn last line (a killed writer) is skipped by readers.
- A damaged index is rebuilt from the run folders' ``run.json`` files; the damaged file is kept.
- A trainer takes its run with ``claim`` (check the status and set it running in one locked
  step), so two resumes of one run cannot both train it; the temporary files of writers that
  were killed mid-write are removed when a trainer starts (``remove_stale_temp_files``).

This module must stay cheap to import (the CLI's ``runs list`` and the TUI use it): it imports
no torch, and ``filelock``, ``tomllib`` and ``engine.config`` only where they are needed.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from tinydb import TinyDB, where
from tinydb.storages import Storage

from engine.errors import DiskFullError, StoreError
from engine.faults import fault_point

if TYPE_CHECKING:
    from filelock import BaseFileLock
    from tinydb.table import Table

STATUSES = ("queued", "running", "stopped", "finished", "crashed", "failed", "diverged")
ACTIVE = ("queued", "running")
TERMINAL = tuple(s for s in STATUSES if s not in ACTIVE)

RUNS_ENV = "RESNET_TUI_RUNS"
DEFAULT_ROOT = "runs"
INDEX_FILE = "index.json"
LOCK_FILE = "index.json.lock"
# Files inside a run folder: the store writes the first three, the trainer the others.
CONFIG_FILE = "config.toml"
RUN_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"
LOG_FILE = "train.log"
BEST_CHECKPOINT = "best.pt"
LAST_CHECKPOINT = "last.pt"
CONFUSION_FILE = "confusion.json"

LOCK_TIMEOUT_S = 30.0
_TABLE = "runs"
_SLUG_MAX = 32
# <YYYYmmdd-HHMMSS>-<slug>-<4 hex>; the slug is [a-z0-9] words joined by single dashes.
RUN_ID_RE = re.compile(r"[0-9]{8}-[0-9]{6}-[a-z0-9]+(?:-[a-z0-9]+)*-[0-9a-f]{4}")


class _IndexUnreadable(Exception):
    """index.json exists but does not hold a valid runs index (internal: triggers a rebuild)."""


# ---------------------------------------------------------------- small helpers


def now_iso() -> str:
    """The local time with its UTC offset, to the second: the format of every time field."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def default_root() -> Path:
    return Path(os.environ.get(RUNS_ENV) or DEFAULT_ROOT)


def slugify(text: str, max_len: int = _SLUG_MAX) -> str:
    """'ResNet-50 D (SE)' -> 'resnet-50-d-se': lowercase [a-z0-9] words joined by dashes."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:max_len].strip("-")


@functools.cache
def this_host() -> str:
    import socket  # deferred: only runs that have a pid need it

    return socket.gethostname()


def _process_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks since boot) from /proc/<pid>/stat; None: no such process.

    Raises OSError other than FileNotFoundError when /proc cannot say (not Linux).
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    rest = data[data.rindex(b")") + 2 :].split()
    return rest[0].decode("ascii", "replace"), int(rest[19])  # fields 3 and 22


def process_start_time(pid: int) -> int | None:
    """The start time of a live local process (field 22 of /proc/<pid>/stat), or None."""
    try:
        stat = _process_stat(pid)
    except (OSError, ValueError, IndexError):
        return None
    return stat[1] if stat else None


def _kill0(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _pid_alive(pid: int, pid_start: int | None) -> bool:
    try:
        stat = _process_stat(pid)
    except (OSError, ValueError, IndexError):  # /proc hides it or cannot be parsed
        return _kill0(pid)
    if stat is None:
        # No /proc entry: on Linux the process is gone; without /proc, ask the kernel.
        return False if os.path.isdir("/proc/self") else _kill0(pid)
    state, start = stat
    if state == "Z":  # killed but not yet reaped by its parent: gone
        return False
    # A different start time means the pid was recycled by an unrelated process.
    return pid_start is None or start == pid_start


def _write_error(path: Path, error: OSError) -> StoreError:
    hint = ""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        hint = " (the disk is full: free some space and retry)"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = " (check the permissions of the runs folder, or move it with RESNET_TUI_RUNS)"
    reason = error.strerror or str(error)
    message = f"could not write {path}: {reason}{hint}; {path.name} was left as it was"
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(message, str(path))
    return StoreError(message)


def _read_error(path: Path, error: OSError) -> StoreError:
    """An unreadable store file (a runs folder that is a file, no permission, an I/O error)."""
    return StoreError(
        f"cannot read {path}: {error.strerror or error}; check --runs-dir / RESNET_TUI_RUNS "
        "and the folder's permissions"
    )


# Fault-injection names of the files written with atomic_write (see engine.faults).
_WRITE_POINTS = {"index.json": "index", "run.json": "runjson", "metrics.jsonl": "rewrite"}
# Temporary files a killed writer leaves behind: ".<name>.<pid>.<hex>.tmp" (atomic_write)
# and ".<name>.tmp-<pid>" (checkpoints).
_TEMP_RE = re.compile(r"\.(?:.+)\.(?:(?P<a>[0-9]+)\.[0-9a-f]+\.tmp|tmp-(?P<b>[0-9]+))")


def atomic_write(path: Path, *chunks: bytes | memoryview) -> None:
    """Replace ``path`` with the ``chunks`` joined, all at once: a temp file in the same folder,
    fsync, rename.

    Created with the user's umask. On failure the old file is untouched, the temp file is
    removed, and a StoreError says what went wrong. (The folder itself is not fsynced: after a
    power cut the file may be the previous version, never a partial one.)
    """
    point = _WRITE_POINTS.get(path.name) or path.stem
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        fault_point(point)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        try:
            for chunk in chunks:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        fault_point(point + "-rename")
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _write_error(path, e) from e
    fault_point(point + "-done")


def remove_stale_temp_files(folder: Path) -> list[str]:
    """Remove the temporary files that writers killed mid-write left in ``folder`` (only those
    whose writer process is gone: a live writer's file is about to be renamed)."""
    removed: list[str] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_RE.fullmatch(entry.name)
        if not match or not entry.is_file(follow_symlinks=False):
            continue
        pid = int(match.group("a") or match.group("b"))
        if pid != os.getpid() and _kill0(pid):
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed.append(entry.name)
    return removed


def _created_from_id(run_id: str) -> str | None:
    try:
        stamp = datetime.strptime(run_id[:15], "%Y%m%d-%H%M%S")
    except ValueError:
        return None
    return stamp.astimezone().isoformat(timespec="seconds")


def _id_slug(run_id: str) -> str:
    return run_id[16:-5]


def _sort_time(doc: dict[str, Any]) -> float:
    try:
        return datetime.fromisoformat(str(doc.get("created"))).timestamp()
    except ValueError:
        return 0.0


def _to_json(value: Any) -> bytes:
    try:
        text = json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise StoreError(f"cannot store {e}: run fields must be plain JSON values") from e
    return text.encode("utf-8")


def _check_index(data: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(data, dict):
        raise _IndexUnreadable(f"expected a JSON object, found {type(data).__name__}")
    table = data.get(_TABLE, {})
    if not isinstance(table, dict):
        raise _IndexUnreadable(f"'{_TABLE}' is not a table")
    for key, doc in table.items():
        if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
            raise _IndexUnreadable(f"document {key} has no run id")
    return data


def _dump_index(data: dict[str, dict[str, Any]]) -> bytes:
    """TinyDB's JSON with one document per line, so one document can be edited in place::

    {"runs":{
    "1":{"id":"20250101-120000-resnet-digits-1a2b",...},
    "2":{...}
    }}
    """
    # The runs table goes last: with any other table the file does not start with
    # _LINE_HEAD, and edit_line leaves it to TinyDB.
    tables = sorted(data.items(), key=lambda item: item[0] == _TABLE)
    out = [b"{"]
    for i, (name, table) in enumerate(tables):
        out.append((b"," if i else b"") + _to_json(name) + b":{")
        lines = [_to_json(str(key)) + b":" + _to_json(doc) for key, doc in table.items()]
        if lines:
            out.append(b"\n" + b",\n".join(lines))
        out.append(b"\n}")
    out.append(b"}\n")
    return b"".join(out)


_LINE_HEAD = b'{"' + _TABLE.encode() + b'":{\n'
_LINE_TAIL = b"\n}}\n"
_DOC_KEY_RE = re.compile(rb'"[0-9]+":')


class _IndexStorage(Storage):
    """TinyDB storage for index.json: whole-file reads, atomic whole-file writes.

    One instance lives for one store operation (TinyDB is opened afresh each time), so its
    memory of the last read or write never outlives the lock that makes it valid.
    """

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self._data: dict[str, dict[str, Any]] | None = None

    def read(self) -> dict[str, dict[str, Any]] | None:
        if self._data is not None:
            return self._data
        try:
            raw = self.path.read_bytes()  # one open: a rename under us cannot mix two files
        except FileNotFoundError:
            return None
        except OSError as e:
            raise _read_error(self.path, e) from e
        if len(raw) < 64 and not raw.strip():  # empty (no copy of a big file to check)
            return None
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
            raise _IndexUnreadable(str(e)) from e
        self._data = _check_index(data)
        return self._data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        self._data = None  # TinyDB mutated what read() returned: forget it unless the write lands
        atomic_write(self.path, _dump_index(data))
        self._data = data

    def edit_line(
        self, run_id: str, change: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any] | None:
        """Apply ``change`` to one run's document by rewriting only its line; the rest of the
        file is copied byte for byte, so the cost does not grow with the number of runs.

        Returns the new document, or None when the file is not in the expected shape (written
        by something else, truncated, no such run): the caller then goes through TinyDB, which
        reads everything and repairs what needs repairing. Call with the lock held.
        """
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise _read_error(self.path, e) from e
        if not raw.startswith(_LINE_HEAD) or not raw.endswith(_LINE_TAIL):
            return None
        # Its line is '"<doc id>":{"id":"<run id>",...' (the id comes first in every document).
        # Search from the end: the runs that are written to are the recent ones.
        needle = b'":{"id":' + _to_json(run_id) + b","
        found = raw.rfind(needle)
        while found >= 0:
            start = raw.rfind(b"\n", 0, found) + 1
            key = raw[start : found + 2]  # '"<doc id>":'
            if _DOC_KEY_RE.fullmatch(key):
                break
            found = raw.rfind(needle, 0, found)  # the id inside another field: look further
        else:
            return None
        end = raw.index(b"\n", found)
        comma = raw[end - 1 : end] == b","
        try:
            doc = json.loads(raw[found + 2 : end - 1 if comma else end])
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(doc, dict) or doc.get("id") != run_id:
            return None
        change(doc)
        view = memoryview(raw)  # no copies of the other documents' bytes
        new_line = key + _to_json(doc) + (b"," if comma else b"")
        atomic_write(self.path, view[:start], new_line, view[end:])
        self._data = None
        return doc


# ---------------------------------------------------------------- metrics files


_Parsed = tuple[list[dict[str, Any]], int, list[str]]  # records, bytes used, warnings


class MetricsBatch(NamedTuple):
    records: list[dict[str, Any]]
    reset: bool  # the file was rewritten or removed: drop what you had, ``records`` start over


def _parse_lines(data: bytes, base: int, source: str) -> _Parsed:
    """Complete JSON lines of ``data`` (read from byte ``base``): (records, bytes used, warnings).

    An unterminated tail (a line still being written, or torn by a kill) is not used, so the
    next read starts at it again; a terminated line that is not a JSON object is skipped.
    """
    used = data.rfind(b"\n") + 1
    records: list[dict[str, Any]] = []
    problems: list[str] = []
    pos = 0
    for line in data[:used].split(b"\n")[:-1]:
        start, pos = pos, pos + len(line) + 1
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            record = None
        if isinstance(record, dict):
            records.append(record)
        else:
            problems.append(f"{source}: line at byte {base + start} is not a JSON object; skipped")
    return records, used, problems


def _read_from(fd: int, offset: int, size: int) -> bytes:
    chunks = []
    while offset < size:
        chunk = os.pread(fd, size - offset, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


class MetricsReader:
    """Follows one run's metrics.jsonl: each ``poll()`` returns the records appended since.

    Rewrites are noticed by the file's identity (device, inode) and size: ``truncate_metrics``
    replaces the file (new inode) and a shorter file means it was rewritten; then ``poll()``
    reads from the start and says ``reset=True`` so the caller replaces its curves.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.offset = 0
        self.warnings: list[str] = []
        self._identity: tuple[int, int] | None = None

    def poll(self) -> MetricsBatch:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            reset = self._identity is not None or self.offset > 0
            self._identity, self.offset = None, 0
            return MetricsBatch([], reset)
        try:
            st = os.fstat(fd)
            identity = (st.st_dev, st.st_ino)
            replaced = self._identity is not None and identity != self._identity
            reset = replaced or st.st_size < self.offset
            if reset:
                self.offset = 0
            self._identity = identity
            data = _read_from(fd, self.offset, st.st_size)
        finally:
            os.close(fd)
        records, used, problems = _parse_lines(data, self.offset, str(self.path))
        self.offset += used
        self.warnings.extend(problems)
        return MetricsBatch(records, reset)


# ---------------------------------------------------------------- the store


class RunStore:
    """All runs under one folder. Every method is safe to call from several processes at once."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root: Path = Path(root) if root is not None else default_root()
        # Problems found and repaired (or skipped) while reading, for the CLI and TUI to show.
        self.warnings: list[str] = []
        self._lock_obj: BaseFileLock | None = None

    def __repr__(self) -> str:
        return f"RunStore({str(self.root)!r})"

    @property
    def index_path(self) -> Path:
        return self.root / INDEX_FILE

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
        from filelock import FileLock, Timeout  # deferred: readers never lock

        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create the runs folder {self.root}: {e.strerror or e}") from e
        if self._lock_obj is None:
            self._lock_obj = FileLock(self.root / LOCK_FILE, timeout=LOCK_TIMEOUT_S)
        try:
            self._lock_obj.acquire()
        except Timeout as e:
            raise StoreError(
                f"the run store {self.root} stayed locked for {LOCK_TIMEOUT_S:.0f} s "
                f"({LOCK_FILE}); another resnet-tui process may be stuck"
            ) from e
        except OSError as e:
            raise StoreError(f"cannot lock {self.root / LOCK_FILE}: {e.strerror or e}") from e
        try:
            yield
        finally:
            self._lock_obj.release()

    def _open_db(self) -> TinyDB:
        return TinyDB(str(self.index_path), storage=_IndexStorage)

    @contextlib.contextmanager
    def _locked_table(self) -> Iterator[Table]:
        """The runs table for one read-modify-write, under the lock, repaired first if damaged."""
        with self._lock():
            db = self._open_db()
            try:
                try:
                    data = db.storage.read()
                except _IndexUnreadable as e:
                    self._rebuild_locked(f"was unreadable ({e})")
                    db = self._open_db()
                else:
                    if data is None and self._has_run_folders():
                        self._rebuild_locked("was missing or empty")
                        db = self._open_db()
                yield db.table(_TABLE)
            finally:
                db.close()

    def _read_docs(self) -> list[dict[str, Any]]:
        """Every stored document, as stored (no lock: index.json is only ever replaced whole)."""
        try:
            docs = self._read_docs_once()
        except _IndexUnreadable:
            return self._recover()
        if docs is None:
            return self._recover() if self._has_run_folders() else []
        return docs

    def _read_docs_once(self) -> list[dict[str, Any]] | None:
        """The documents, None when there is no index; raises _IndexUnreadable."""
        db = self._open_db()
        try:
            if db.storage.read() is None:
                return None
            return [dict(doc) for doc in db.table(_TABLE).all()]
        finally:
            db.close()

    def _recover(self) -> list[dict[str, Any]]:
        with self._lock():
            # Another process may have repaired it while we waited for the lock.
            try:
                docs = self._read_docs_once()
            except _IndexUnreadable as e:
                return self._rebuild_locked(f"was unreadable ({e})")
            if docs is not None:
                return docs
            if not self._has_run_folders():
                return []
            return self._rebuild_locked("was missing or empty")

    def remove_stale_temp_files(self) -> list[str]:
        """Remove what writers killed mid-write left behind, in the store's folder and in every
        run folder (only files of processes that are gone); returns their paths."""
        removed = [str(self.root / name) for name in remove_stale_temp_files(self.root)]
        try:
            with os.scandir(self.root) as entries:
                folders = [e.path for e in entries if RUN_ID_RE.fullmatch(e.name) and e.is_dir()]
        except OSError:
            return removed
        for folder in folders:
            removed += [os.path.join(folder, n) for n in remove_stale_temp_files(Path(folder))]
        return removed

    def _has_run_folders(self) -> bool:
        try:
            with os.scandir(self.root) as entries:
                return any(RUN_ID_RE.fullmatch(e.name) and e.is_dir() for e in entries)
        except OSError:
            return False

    # ------------------------------------------------------------ rebuilding the index

    def rebuild_index(self) -> list[dict[str, Any]]:
        """Rebuild index.json from the run folders (also adopts folders the index lacks)."""
        with self._lock():
            return self._rebuild_locked("was rebuilt on request", keep_as="old")

    def _rebuild_locked(self, reason: str, keep_as: str = "corrupt") -> list[dict[str, Any]]:
        """Write a new index from the run folders; the previous file is kept as
        ``index.json.<keep_as>-<timestamp>`` (never deleted). Call with the lock held."""
        docs = []
        with contextlib.suppress(FileNotFoundError):
            with os.scandir(self.root) as entries:
                for entry in entries:
                    if RUN_ID_RE.fullmatch(entry.name) and entry.is_dir():
                        docs.append(self._doc_from_folder(entry.name))
        docs.sort(key=lambda d: (_sort_time(d), d["id"]))
        kept = None
        if self.index_path.exists() and self.index_path.stat().st_size > 0:
            kept = self._keep_previous_index(keep_as)
        data = {_TABLE: {str(i): doc for i, doc in enumerate(docs, start=1)}}
        _IndexStorage(str(self.index_path)).write(data)
        message = f"index.json {reason}; rebuilt from {len(docs)} run folders"
        if kept is not None:
            message += f", the previous file kept as {kept}"
        self.warnings.append(message)
        return [dict(doc) for doc in docs]

    def _keep_previous_index(self, keep_as: str) -> Path:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        kept = self.root / f"{INDEX_FILE}.{keep_as}-{stamp}"
        n = 1
        while kept.exists():
            n += 1
            kept = self.root / f"{INDEX_FILE}.{keep_as}-{stamp}-{n}"
        try:
            # A second name for the same bytes: index.json never disappears, even for a moment.
            os.link(self.index_path, kept)
        except OSError:
            shutil.copy2(self.index_path, kept)
        return kept

    def _doc_from_folder(self, run_id: str) -> dict[str, Any]:
        folder = self.root / run_id
        problem = "no run.json"
        try:
            doc = json.loads((folder / RUN_FILE).read_bytes())
            if isinstance(doc, dict):
                doc["id"] = run_id  # the folder name is the truth
                return {**_blank_doc(run_id), **doc}
            problem = "run.json is not a JSON object"
        except FileNotFoundError:
            pass
        except (OSError, ValueError, UnicodeDecodeError) as e:
            problem = f"run.json is unreadable ({e})"
        config = _read_config(folder / CONFIG_FILE)
        doc = _blank_doc(run_id)
        if config is None:
            doc["message"] = f"unreadable run folder: {problem} and no readable {CONFIG_FILE}"
            return doc
        doc.update(
            config=config,
            epochs=config.get("train", {}).get("epochs"),
            model=config.get("model", {}).get("name"),
            dataset=config.get("data", {}).get("name"),
            message=f"recovered from {CONFIG_FILE}: {problem}; its progress is unknown",
        )
        return doc

    # ------------------------------------------------------------ liveness

    def is_alive(self, doc: dict[str, Any]) -> bool:
        """Whether the run's process still runs: its pid exists on this host, with the same
        start time when one was recorded (a recycled pid is not the run). A run of another host
        counts as alive, since this host cannot tell; a run with no pid is not alive."""
        pid = doc.get("pid")
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
            return False
        host = doc.get("host")
        if host and host != this_host():
            return True
        pid_start = doc.get("pid_start")
        return _pid_alive(pid, pid_start if isinstance(pid_start, int) else None)

    @staticmethod
    def process_identity(pid: int) -> dict[str, Any]:
        """The fields that tell this process apart from a later one given the same pid
        (``update`` fills them in by itself when it is given a ``pid``)."""
        return {"pid_start": process_start_time(pid)}

    def _is_dead(self, doc: dict[str, Any]) -> bool:
        """Active with a pid whose process is gone: what readers report as crashed."""
        return doc.get("status") in ACTIVE and doc.get("pid") is not None and not self.is_alive(doc)

    def _crash_fields(self, doc: dict[str, Any]) -> dict[str, Any]:
        return {
            "status": "crashed",
            "message": (
                f"process {doc.get('pid')} is gone (last epoch {doc.get('epoch', 0)}); "
                f"resume with `resnet-tui train --resume {doc['id']}`"
            ),
        }

    def _derive(self, doc: dict[str, Any]) -> dict[str, Any]:
        return {**doc, **self._crash_fields(doc)} if self._is_dead(doc) else doc

    # ------------------------------------------------------------ reading

    def list_runs(self) -> list[dict[str, Any]]:
        """Every run, newest first; runs whose process is gone are reported as crashed."""
        docs = self._read_docs()
        docs.reverse()  # the index keeps insertion order: the stable sort keeps it for ties
        docs.sort(key=_sort_time, reverse=True)
        return [self._derive(doc) for doc in docs]

    def get(self, run_id: str) -> dict[str, Any]:
        for doc in self._read_docs():
            if doc["id"] == run_id:
                return self._derive(doc)
        raise self._unknown(run_id)

    def resolve(self, ref: str) -> str:
        """A run id from an exact id, a unique id prefix, or a unique name."""
        ref = ref.strip()
        docs = self._read_docs()
        if any(d["id"] == ref for d in docs):
            return ref
        matches = [d for d in docs if ref and (d["id"].startswith(ref) or d.get("name") == ref)]
        if len(matches) == 1:
            return str(matches[0]["id"])
        if not matches:
            named = sorted(
                str(d.get("name")) for d in docs if str(d.get("name", "")).startswith(ref)
            )
            if ref and named:
                shown = ", ".join(named[:10]) + (
                    f" and {len(named) - 10} more" if len(named) > 10 else ""
                )
                raise StoreError(
                    f"no run with id or name '{ref}' in {self.root}; names that start with it: "
                    f"{shown}; give a whole name or the start of an id"
                )
            raise self._unknown(ref)
        matches.sort(key=lambda d: (_sort_time(d), d["id"]), reverse=True)
        shown = ", ".join(f"{d['id']} ({d.get('name', '')})" for d in matches[:10])
        more = f" and {len(matches) - 10} more" if len(matches) > 10 else ""
        raise StoreError(
            f"'{ref}' matches {len(matches)} runs in {self.root}: {shown}{more}; "
            "give more of the id"
        )

    def _unknown(self, ref: str) -> StoreError:
        return StoreError(f"no run '{ref}' in {self.root}; see `resnet-tui runs list`")

    # ------------------------------------------------------------ writing

    def create_run(
        self,
        config: dict[str, Any],
        *,
        name: str = "",
        preset: str = "",
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Allocate an id, create the folder with config.toml and run.json, index it (queued)."""
        from engine.config import to_toml  # deferred: stdlib only, but not needed by readers

        extra = dict(extra or {})
        if "id" in extra:
            raise StoreError("extra fields cannot set a run's id")
        if "status" in extra:
            _check_status(extra["status"])
        # A pid given here (the process that will train the run) makes the run show as
        # crashed should that process die before training starts.
        _add_identity(extra)
        model = str(config.get("model", {}).get("name", ""))
        slug = slugify(name) or slugify(preset) or slugify(model) or "run"
        toml = to_toml(config).encode("utf-8")
        with self._locked_table() as table:
            now = datetime.now().astimezone()
            run_id, folder = self._make_folder(now.strftime("%Y%m%d-%H%M%S"), slug)
            try:
                doc = {
                    **_blank_doc(run_id),
                    "name": name or slug,
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
                run_json = _to_json(doc)
                atomic_write(folder / CONFIG_FILE, toml)
                atomic_write(folder / RUN_FILE, run_json)
                table.insert(doc)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)  # nothing points at it yet
                raise
        return doc

    def _make_folder(self, stamp: str, slug: str) -> tuple[str, Path]:
        for _ in range(100):
            run_id = f"{stamp}-{slug}-{os.urandom(2).hex()}"
            folder = self.run_dir(run_id)
            try:
                folder.mkdir()  # atomic: fails if the id is taken
            except FileExistsError:
                continue
            except OSError as e:
                raise _write_error(folder, e) from e
            return run_id, folder
        raise StoreError(f"could not allocate a free run id in {self.root}")

    def _modify(self, run_id: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Apply ``change`` to one document under the lock; rewrite index.json, then run.json.

        The usual case edits the document's own line of index.json (cheap whatever the number
        of runs); anything unexpected falls back to TinyDB's read-all, write-all update.
        """
        folder = self.run_dir(run_id)

        def checked(doc: Any) -> None:  # a dict; TinyDB types it as a MutableMapping
            if not folder.is_dir():
                raise StoreError(
                    f"the folder of run {run_id} is missing from {self.root}; "
                    f"delete the run with `resnet-tui runs rm {run_id}`"
                )
            change(doc)
            result.clear()
            result.update(doc)

        result: dict[str, Any] = {}
        with self._lock():
            if _IndexStorage(str(self.index_path)).edit_line(run_id, checked) is None:
                with self._locked_table() as table:
                    if not table.update(checked, where("id") == run_id):
                        raise self._unknown(run_id)
            atomic_write(folder / RUN_FILE, _to_json(result))
        return result

    def update(self, run_id: str, **fields: Any) -> dict[str, Any]:
        """Set fields of a run (locked read-modify-write); returns the document as stored.

        Setting ``pid`` also records ``pid_start`` (to tell a recycled pid apart) and ``host``
        unless they are given: the process that reports its pid runs on this host.
        """
        if "id" in fields:
            raise StoreError("a run's id cannot be changed")
        if "status" in fields:
            _check_status(fields["status"])
        _add_identity(fields)
        _to_json(fields)  # refuse values JSON cannot hold before touching anything
        return self._modify(run_id, lambda doc: doc.update(fields))

    def set_status(
        self, run_id: str, status: str, message: str = "", **fields: Any
    ) -> dict[str, Any]:
        """Move a run to ``status``: running sets ``started`` (first time), terminal states set
        ``finished``, queued/running clear it."""
        _check_status(status)
        fields = {"status": status, "message": message, **fields}
        if status in TERMINAL:
            fields.setdefault("finished", now_iso())
        else:
            fields.setdefault("finished", None)
        started = now_iso() if status == "running" and "started" not in fields else None
        _add_identity(fields)
        _to_json(fields)

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
                _check_status(fields["status"])
            _add_identity(fields)
            _to_json(fields)
            doc.update(fields)

        return self._modify(run_id, change)

    def mark_crashed(self, run_id: str) -> dict[str, Any]:
        """Persist the derived "crashed" status of a run whose process is gone; a run that is
        alive or not active is returned unchanged."""

        def change(doc: dict[str, Any]) -> None:
            if self._is_dead(doc):
                doc.update(self._crash_fields(doc), finished=now_iso())

        return self._modify(run_id, change)

    def delete(self, run_id: str) -> None:
        """Remove a run's document and folder; refused while its process is alive."""
        folder = self.run_dir(run_id)
        with self._locked_table() as table:
            docs = table.search(where("id") == run_id)
            if not docs:
                raise self._unknown(run_id)
            doc = dict(docs[0])
            if doc.get("status") in ACTIVE and self.is_alive(doc):
                raise StoreError(
                    f"run {run_id} is {doc['status']} (pid {doc.get('pid')} on "
                    f"{doc.get('host')}); stop it first"
                )
            table.remove(where("id") == run_id)
            if folder.is_dir():
                # Rename first (atomic) so nobody sees a half-deleted run; dot names are ignored.
                trash = self.root / f".deleted-{run_id}-{os.urandom(2).hex()}"
                try:
                    os.replace(folder, trash)
                except OSError:
                    trash = folder
                if trash.is_symlink():  # remove the link, never what it points to
                    with contextlib.suppress(OSError):
                        trash.unlink()
                else:
                    shutil.rmtree(trash, ignore_errors=True)

    # ------------------------------------------------------------ metrics

    def append_metrics(self, run_id: str, record: dict[str, Any]) -> None:
        """Append one JSON line: a single write on an O_APPEND descriptor, then fsync."""
        if not isinstance(record, dict):
            raise StoreError(f"a metrics record must be a dict, got {type(record).__name__}")
        line = _to_json(record) + b"\n"
        path = self.metrics_path(run_id)
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except FileNotFoundError as e:
            raise StoreError(f"run {run_id} has no folder in {self.root}") from e
        except OSError as e:
            raise _write_error(path, e) from e
        try:
            fault_point("metrics")
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # a torn last line (killed writer) stays a line of its own
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(errno.ENOSPC, f"short write ({written} of {len(line)} bytes)")
            os.fsync(fd)
        except OSError as e:
            raise _write_error(path, e) from e
        finally:
            os.close(fd)
        fault_point("metrics-done")

    def read_metrics(self, run_id: str, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Records of the complete lines from byte ``offset``, and the offset to read from next.

        A returned offset smaller than the one given means the file was rewritten (shorter than
        ``offset``) and was read from the start: drop what you had. A rewrite that is not
        shorter cannot be seen this way; ``MetricsReader`` (``metrics_reader``) also tracks the
        file's identity and is what followers should use. Skipped lines go to ``warnings``.
        """
        path = self.metrics_path(run_id)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return [], 0
        try:
            size = os.fstat(fd).st_size
            if size < offset:
                offset = 0
            data = _read_from(fd, offset, size)
        finally:
            os.close(fd)
        records, used, problems = _parse_lines(data, offset, f"{run_id}/{METRICS_FILE}")
        self.warnings.extend(p for p in problems if p not in self.warnings)
        return records, offset + used

    def metrics_reader(self, run_id: str) -> MetricsReader:
        return MetricsReader(self.metrics_path(run_id))

    def truncate_metrics(
        self, run_id: str, keep_through_epoch: int, keep_steps_through: int = 0
    ) -> None:
        """Rewrite metrics.jsonl keeping the lines of epochs <= ``keep_through_epoch`` (step
        lines too; lines without an epoch are kept; damaged lines are dropped), and the step
        lines of the next epoch up to step ``keep_steps_through`` (a run stopped inside that
        epoch continues after them). For resume: call it before the trainer appends again.
        Atomic: readers see the old or the new file."""
        path = self.metrics_path(run_id)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as e:
            raise _read_error(path, e) from e

        def keep(r: dict[str, Any]) -> bool:
            epoch = r.get("epoch")
            if not isinstance(epoch, int | float) or epoch <= keep_through_epoch:
                return True
            step = r.get("step")
            return (
                r.get("kind") == "step"
                and epoch == keep_through_epoch + 1
                and isinstance(step, int | float)
                and step <= keep_steps_through
            )

        records, _, _ = _parse_lines(data, 0, str(path))
        kept = [r for r in records if keep(r)]
        atomic_write(path, b"".join(_to_json(r) + b"\n" for r in kept))


def _add_identity(fields: dict[str, Any]) -> None:
    """A reported pid belongs to this host (unless ``host`` says otherwise) and gets its start
    time, so that a recycled pid is not mistaken for the run."""
    pid = fields.get("pid")
    if pid is None:
        return
    if fields.setdefault("host", this_host()) == this_host():
        fields.setdefault("pid_start", process_start_time(int(pid)))
    else:
        fields.setdefault("pid_start", None)


def _check_status(status: Any) -> None:
    if status not in STATUSES:
        raise StoreError(f"unknown run status {status!r}; one of {', '.join(STATUSES)}")


def _blank_doc(run_id: str) -> dict[str, Any]:
    """Every field a run document has, at its 'unknown' value (used by rebuilds)."""
    return {
        "id": run_id,
        "name": _id_slug(run_id),
        "preset": "",
        "config": {},
        "status": "failed",
        "pid": None,
        "host": None,
        "device": None,
        "created": _created_from_id(run_id),
        "started": None,
        "finished": None,
        "params": None,
        "epoch": 0,
        "epochs": None,
        "model": None,
        "dataset": None,
        "best": {},
        "test": {},
        "message": "",
    }


def _read_config(path: Path) -> dict[str, Any] | None:
    """A run's config.toml as a full config dict (defaults filled in when it still validates)."""
    import tomllib

    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    try:
        from engine.config import from_dict

        return from_dict(raw).to_dict()
    except Exception:  # an older or hand-edited config: keep what it says
        return raw
