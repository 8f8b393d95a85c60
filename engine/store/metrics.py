"""metrics.jsonl: one JSON object per line, appended by the trainer, followed by readers.

- A line is appended with one ``os.write`` on an ``O_APPEND`` descriptor, then fsynced, so
  the lines of concurrent writers never interleave.
- A torn last line (a writer killed mid-line) is not used by readers (the next read starts at
  it again); once a newer line follows it, it is skipped with a warning. An append after a
  torn line starts on a line of its own.
- A resume drops the lines of the epochs it will train again by rewriting the file atomically
  (``truncate``): readers see the old file or the new one, and ``MetricsReader`` notices the
  replacement by the file's identity.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any, NamedTuple

from engine.errors import StoreError
from engine.faults import fault_point
from engine.fsio import atomic_write, read_error, to_json, write_error
from engine.store.schema import METRICS_FILE

_Parsed = tuple[list[dict[str, Any]], int, list[str]]  # records, bytes used, warnings


class MetricsBatch(NamedTuple):
    records: list[dict[str, Any]]
    reset: bool  # the file was rewritten or removed: drop what you had, ``records`` start over


def parse_lines(data: bytes, base: int, source: str) -> _Parsed:
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


def read_from(fd: int, offset: int, size: int) -> bytes:
    chunks = []
    while offset < size:
        chunk = os.pread(fd, size - offset, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def append(path: Path, record: dict[str, Any], point: str = "metrics") -> None:
    """Append one JSON line: a single write on an O_APPEND descriptor, then fsync.

    ``point``: the fault-injection point of the write (the system sampler's lines have their
    own, ``sysmon``, so they never shift the count of the trainer's ``metrics`` writes).
    Raises FileNotFoundError when the run's folder is gone (the caller names the run), a
    StoreError for anything else."""
    if not isinstance(record, dict):
        raise StoreError(f"a metrics record must be a dict, got {type(record).__name__}")
    line = to_json(record) + b"\n"
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except FileNotFoundError:
        raise
    except OSError as e:
        raise write_error(path, e) from e
    try:
        fault_point(point)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # a torn last line (killed writer) stays a line of its own
        written = os.write(fd, line)
        if written != len(line):
            raise OSError(errno.ENOSPC, f"short write ({written} of {len(line)} bytes)")
        os.fsync(fd)
    except OSError as e:
        raise write_error(path, e) from e
    finally:
        os.close(fd)
    fault_point(f"{point}-done")


def read(path: Path, offset: int, source: str) -> _Parsed:
    """Records of the complete lines from byte ``offset`` (from 0 when the file is now shorter
    than ``offset``): (records, the offset to read from next, warnings)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return [], 0, []
    try:
        size = os.fstat(fd).st_size
        if size < offset:
            offset = 0
        data = read_from(fd, offset, size)
    finally:
        os.close(fd)
    records, used, problems = parse_lines(data, offset, source)
    return records, offset + used, problems


def truncate(path: Path, keep_through_epoch: int, keep_steps_through: int = 0) -> None:
    """Rewrite the file keeping the lines of epochs <= ``keep_through_epoch`` (step lines too;
    lines without an epoch are kept; damaged lines are dropped), and the step lines of the next
    epoch up to step ``keep_steps_through``. Atomic: readers see the old or the new file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    except OSError as e:
        raise read_error(path, e) from e

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

    records, _, _ = parse_lines(data, 0, str(path))
    kept = [r for r in records if keep(r)]
    atomic_write(path, b"".join(to_json(r) + b"\n" for r in kept))


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
            data = read_from(fd, self.offset, st.st_size)
        finally:
            os.close(fd)
        records, used, problems = parse_lines(data, self.offset, str(self.path))
        self.offset += used
        self.warnings.extend(problems)
        return MetricsBatch(records, reset)


class StoreMetrics:
    """RunStore's metrics methods (a mixin: RunStore provides ``root``, ``warnings`` and
    ``metrics_path``)."""

    root: Path
    warnings: list[str]

    def metrics_path(self, run_id: str) -> Path:
        raise NotImplementedError

    def append_metrics(self, run_id: str, record: dict[str, Any], point: str = "metrics") -> None:
        """Append one JSON line: a single write on an O_APPEND descriptor, then fsync."""
        path = self.metrics_path(run_id)
        try:
            append(path, record, point)
        except FileNotFoundError as e:
            raise StoreError(f"run {run_id} has no folder in {self.root}") from e

    def read_metrics(self, run_id: str, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Records of the complete lines from byte ``offset``, and the offset to read from next.

        A returned offset smaller than the one given means the file was rewritten (shorter than
        ``offset``) and was read from the start: drop what you had. A rewrite that is not
        shorter cannot be seen this way; ``MetricsReader`` (``metrics_reader``) also tracks the
        file's identity and is what followers should use. Skipped lines go to ``warnings``.
        """
        path = self.metrics_path(run_id)
        records, offset, problems = read(path, offset, f"{run_id}/{METRICS_FILE}")
        self.warnings.extend(p for p in problems if p not in self.warnings)
        return records, offset

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
        truncate(self.metrics_path(run_id), keep_through_epoch, keep_steps_through)
