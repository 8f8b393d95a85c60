"""index.json on disk: reads that never see a torn line, and writes that touch one line.

Writers hold the store's exclusive lock (``index.json.lock``, ``filelock``: an ``flock`` on
that file) and, in the slot layout (``engine.store.index``):

- **update** a run: its line is found through a per-store cache of line offsets (checked
  against the line's first bytes, ``"N":{"id":"<run id>",``) or by searching from the end of
  the file, where recent runs are; the new document is written over its slot with one
  ``pwrite`` and fsynced. Nothing else in the file is written. A document that outgrew its
  slot moves: the whole file is rewritten atomically (temp file, fsync, rename) with a new
  slot for that line and every other byte copied.
- **append** a run: the tail ``\\n}}\\n`` is overwritten by ``,\\n<new line>\\n}}\\n``; the new
  document id is the last line's plus one, so the file is never parsed. A failed write puts
  the old tail and size back.
- **remove** a run: the whole file is rewritten without its line (rare).

Readers take a *shared* ``flock`` on the same lock file, so they never read while a writer is
in the middle of a ``pwrite``; the wait is bounded (a stuck writer does not stall a reader
forever), after which the bytes are read anyway and validated: a torn line fails to parse and
the store then re-reads under the exclusive lock (and rebuilds only if the file really is
damaged). A thread that holds the exclusive lock reads without the shared one (it would wait
for itself). Fault points: ``index`` before a write, ``index-done`` after it; whole-file
rewrites also pass ``index-rename`` (``engine.fsio``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from tinydb.storages import Storage

from engine.faults import fault_point
from engine.fsio import atomic_write, read_error, to_json, write_error
from engine.procs import holds_lock
from engine.store.index import (
    EMPTY,
    HEAD,
    KEY_RE,
    TABLE,
    TAIL,
    Entry,
    doc_line,
    dump_index,
    id_first,
    parse_line,
    parse_lines,
    parse_tail,
    parse_whole,
    split_line,
)
from engine.store.schema import sort_time

READ_WAIT_S = 1.0  # how long a reader waits for a writer before reading anyway
_SCAN_CHUNK = 1 << 20


class Slot(NamedTuple):
    """A run's line in index.json: where it starts and its bytes (without the newline)."""

    offset: int
    line: bytes

    @property
    def key(self) -> bytes:
        return self.line[: self.line.index(b":")]

    @property
    def comma(self) -> bool:
        return split_line(self.line)[1]

    @property
    def capacity(self) -> int:
        """How many bytes the document line may take (the comma keeps its place)."""
        return len(self.line) - (1 if self.comma else 0)


class Handle(NamedTuple):
    fd: int
    size: int


def _pread(fd: int, size: int, offset: int) -> bytes:
    chunks = []
    while size > 0:
        chunk = os.pread(fd, size, offset)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _pwrite(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        if written <= 0:
            raise OSError(errno.ENOSPC, f"short write ({len(data) - len(view)} of {len(data)})")
        view, offset = view[written:], offset + written


def _touch(fd: int) -> None:
    """Give the file a modification time later than any it had: the kernel's is coarse (a
    clock tick), and a follower that watches (inode, mtime, size) must see every in-place
    write, even two within one tick of the same size."""
    st = os.fstat(fd)
    os.utime(fd, ns=(st.st_atime_ns, max(time.time_ns(), st.st_mtime_ns + 1)))


class IndexFile:
    """index.json of one store. One instance per RunStore: its caches (line offsets, parsed
    lines) belong to that store object and are only ever hints, checked before use."""

    def __init__(self, path: Path, lock_path: Path | None = None) -> None:
        self.path = Path(path)
        self.lock_path = lock_path or self.path.with_name(self.path.name + ".lock")
        self._offsets: dict[str, tuple[int, int]] = {}  # run id -> (offset, line length)
        self._parsed: dict[bytes, Entry] = {}  # line bytes -> parsed document

    # ------------------------------------------------------------ reading

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Hold a shared lock on the store's lock file while reading (module docstring)."""
        fd = None if holds_lock(self.lock_path) else self._shared_lock()
        try:
            yield
        finally:
            if fd is not None:
                os.close(fd)  # closing drops the flock

    def _shared_lock(self) -> int | None:
        try:
            fd = os.open(self.lock_path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:  # never locked yet (readers create nothing), or unreadable
            return None
        deadline = time.monotonic() + READ_WAIT_S
        delay = 0.0005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return fd
            except OSError as e:
                busy = e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
                if not busy or time.monotonic() > deadline:
                    os.close(fd)
                    return None
            time.sleep(delay)
            delay = min(delay * 2, 0.01)

    def read_bytes(self) -> bytes | None:
        """The whole file (call inside ``reading``); None when there is none."""
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise read_error(self.path, e) from e

    def entries(self) -> list[Entry] | None:
        """Every run's document in file order; None when there is no index (or it is empty).
        Raises IndexUnreadable for a damaged file."""
        with self.reading():
            raw = self.read_bytes()
        if raw is None:
            return None
        parsed = parse_lines(raw, self._parsed)
        if parsed is not None:
            return parsed
        data = parse_whole(raw)
        if data is None:
            return None
        return (
            [Entry(to_json(str(key)), doc, sort_time(doc)) for key, doc in data[TABLE].items()]
            if TABLE in data
            else []
        )

    def tail(self, n: int) -> tuple[list[Entry], int] | None:
        """The last ``n`` lines' documents and the number of lines (``parse_tail``); None when
        there is no index or it must be read whole."""
        with self.reading():
            raw = self.read_bytes()
        return None if raw is None else parse_tail(raw, n)

    def find(self, run_id: str) -> dict[str, Any] | None:
        """One run's document read from its own line; None when the file is not in the slot
        layout or has no line for it (the caller then reads the whole index)."""
        with self.reading(), self.opened(os.O_RDONLY) as handle:
            if handle is None:
                return None
            found = self.locate(handle, run_id)
            return None if found is None else found[1]

    # ------------------------------------------------------------ locating a line

    @contextlib.contextmanager
    def opened(self, flags: int = os.O_RDWR) -> Iterator[Handle | None]:
        """The file open, when it is in the slot layout (else None)."""
        try:
            fd = os.open(self.path, flags | os.O_CLOEXEC)
        except FileNotFoundError:
            yield None
            return
        except OSError as e:
            raise read_error(self.path, e) from e
        try:
            size = os.fstat(fd).st_size
            ok = (
                size >= len(EMPTY)
                and _pread(fd, len(HEAD), 0) == HEAD
                and _pread(fd, len(TAIL), size - len(TAIL)) == TAIL
            )
            yield Handle(fd, size) if ok else None
        finally:
            os.close(fd)

    def locate(self, handle: Handle, run_id: str) -> tuple[Slot, dict[str, Any]] | None:
        """A run's slot and document: from the offset cache when it still holds, else by a
        search from the end (which refills the cache with every line it passes)."""
        cached = self._offsets.get(run_id)
        if cached is not None:
            found = self._check(handle, run_id, *cached)
            if found is not None:
                return found
        return self._scan(handle, run_id)

    def _check(
        self, handle: Handle, run_id: str, offset: int, length: int
    ) -> tuple[Slot, dict[str, Any]] | None:
        end = offset + length
        if offset < len(HEAD) or end > handle.size - len(TAIL):
            return None
        data = _pread(handle.fd, length + 2, offset - 1)
        line = data[1:-1]
        if data[:1] != b"\n" or data[-1:] != b"\n" or b"\n" in line:
            return None
        at = line.find(b'":{"id":', 0, 24)
        needle = b'":{"id":' + to_json(run_id) + b","
        if at < 0 or not KEY_RE.fullmatch(line[: at + 1]) or not line.startswith(needle, at):
            return None
        entry = parse_line(split_line(line)[0])
        if entry is None or entry.doc.get("id") != run_id:
            return None
        return Slot(offset, line), entry.doc

    def _scan(self, handle: Handle, run_id: str) -> tuple[Slot, dict[str, Any]] | None:
        """Search the run's line from the end of the file, a chunk at a time (``bytes.rfind``:
        the recent runs, which are written to, are found first)."""
        needle = b'":{"id":' + to_json(run_id) + b","
        first_line = len(HEAD)
        end = handle.size - len(TAIL)  # where the last line's newline is
        chunk = _SCAN_CHUNK
        while end > first_line:
            start = max(first_line, end - chunk)
            data = _pread(handle.fd, end - start, start)
            skip = 0
            if start > first_line:  # the chunk's first line may have begun earlier
                newline = data.find(b"\n")
                if newline < 0:
                    chunk *= 2  # a line longer than the chunk
                    continue
                skip = newline + 1
            found = data.rfind(needle, skip)
            while found >= 0:
                line_start = data.rfind(b"\n", skip, found) + 1 or skip
                if KEY_RE.fullmatch(data[line_start : found + 1]):  # at the line's start
                    line_end = data.find(b"\n", found)
                    length = (len(data) if line_end < 0 else line_end) - line_start
                    return self._check(handle, run_id, start + line_start, length)
                found = data.rfind(needle, skip, found)  # the id inside another field
            end = start + skip - 1 if skip else start
        return None

    # ------------------------------------------------------------ writing (lock held)

    def put(self, handle: Handle, slot: Slot, doc: dict[str, Any]) -> None:
        """Write ``doc`` over its slot (or move it, when it no longer fits)."""
        new = slot.key + b":" + to_json(id_first(doc))
        if len(new) > slot.capacity:
            self._move(handle, slot, doc)
            return
        try:
            fault_point("index")
            try:
                _pwrite(handle.fd, new.ljust(slot.capacity), slot.offset)
                _touch(handle.fd)
                os.fsync(handle.fd)
            except BaseException:
                with contextlib.suppress(OSError):  # put the old line back
                    _pwrite(handle.fd, slot.line[: slot.capacity], slot.offset)
                raise
        except OSError as e:
            raise write_error(self.path, e) from e
        self._offsets[str(doc["id"])] = (slot.offset, len(slot.line))
        fault_point("index-done")

    def _move(self, handle: Handle, slot: Slot, doc: dict[str, Any]) -> None:
        raw = memoryview(_pread(handle.fd, handle.size, 0))
        line = doc_line(slot.key, doc) + (b"," if slot.comma else b"")
        end = slot.offset + len(slot.line)
        atomic_write(self.path, raw[: slot.offset], line, raw[end:])
        self._offsets.clear()

    def append(self, handle: Handle, doc: dict[str, Any]) -> bool:
        """Add ``doc`` as the last line, with the next document id; False (nothing written)
        when the last line does not say its id."""
        if handle.size == len(EMPTY):
            number, offset, lead = 1, len(HEAD), b""
        else:
            last = self._last_number(handle)
            if last is None:
                return False
            number, offset, lead = last + 1, handle.size - len(TAIL), b",\n"
        key = b'"%d"' % number
        data = lead + doc_line(key, doc) + TAIL
        old = _pread(handle.fd, handle.size - offset, offset)
        try:
            fault_point("index")
            try:
                _pwrite(handle.fd, data, offset)
                _touch(handle.fd)
                os.fsync(handle.fd)
            except BaseException:
                with contextlib.suppress(OSError):  # the old size and tail back
                    os.ftruncate(handle.fd, handle.size)
                with contextlib.suppress(OSError):
                    _pwrite(handle.fd, old, offset)
                    os.fsync(handle.fd)
                raise
        except OSError as e:
            raise write_error(self.path, e) from e
        self._offsets[str(doc["id"])] = (offset + len(lead), len(data) - len(lead) - len(TAIL))
        fault_point("index-done")
        return True

    def _last_number(self, handle: Handle) -> int | None:
        end = handle.size - len(TAIL)
        size = 4096
        while True:
            start = max(len(HEAD), end - size)
            data = _pread(handle.fd, end - start, start)
            newline = data.rfind(b"\n")
            if newline >= 0 or start == len(HEAD):
                line = data[newline + 1 :]
                key = line[: line.find(b":")]
                return int(key[1:-1]) if KEY_RE.fullmatch(key) else None
            size *= 4

    def remove(self, handle: Handle, slot: Slot) -> bool:
        """Rewrite the whole file without ``slot``'s line; False (nothing written) when the
        line before it does not end with its comma."""
        raw = memoryview(_pread(handle.fd, handle.size, 0))
        end = slot.offset + len(slot.line)
        if not slot.comma:  # the last line: the previous one loses its comma
            if slot.offset == len(HEAD):
                chunks: tuple[bytes | memoryview, ...] = (EMPTY,)
            else:  # "...,\n<slot>": the comma ends the previous line
                comma = slot.offset - 2
                if raw[comma] != ord(","):
                    return False
                chunks = (raw[:comma], b" ", raw[end:])
        else:
            chunks = (raw[: slot.offset], raw[end + 1 :])
        atomic_write(self.path, *chunks)
        self._offsets.clear()
        return True

    def write_all(self, data: dict[str, dict[str, Any]]) -> None:
        """Replace the whole index (rebuilds, other layouts)."""
        atomic_write(self.path, dump_index(data))
        self._offsets.clear()


class _IndexStorage(Storage):
    """TinyDB storage for index.json: whole-file reads, atomic whole-file writes in the slot
    layout. The store uses it where the in-place writers step aside (another layout, another
    table, a damaged file); one instance lives for one locked operation.
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
            raise read_error(self.path, e) from e
        self._data = parse_whole(raw)
        return self._data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        self._data = None  # TinyDB mutated what read() returned: forget it unless the write lands
        atomic_write(self.path, dump_index(data))
        self._data = data

    def edit_line(
        self, run_id: str, change: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any] | None:
        """Apply ``change`` to one run's document in its own slot; None when the file is not
        in the slot layout or has no such run. Call with the lock held."""
        index = IndexFile(self.path)
        with index.opened() as handle:
            found = None if handle is None else index.locate(handle, run_id)
            if handle is None or found is None:
                return None
            slot, doc = found
            change(doc)
            index.put(handle, slot, doc)
            return doc
