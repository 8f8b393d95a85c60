"""The one atomic writer, and the file-error messages of the store and the checkpoints.

Every file that a reader may open while it is being replaced (``index.json`` when it is
rewritten whole, ``run.json``, ``config.toml``, a rewritten ``metrics.jsonl``, sweep and
ablation documents, checkpoints) is written the same way: a temporary file in the same
folder, fsync, then ``os.replace`` over the old one (atomic), so a reader sees the old file
or the new one and a crash leaves the old one intact. One temp-name scheme,
``.<name>.<pid>.<hex>.tmp``, so that ``remove_stale_temp_files`` can tell what a killed
writer left behind (and whether that writer is gone).

Fault points (engine.faults): each write passes ``POINT``, ``POINT-rename`` and
``POINT-done``; POINT is ``index``, ``runjson`` or ``rewrite`` for the store's files, the
file's stem otherwise, or what the caller names (``checkpoint``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.errors import DiskFullError, StoreError
from engine.faults import fault_point
from engine.procs import pid_exists

# Fault-injection names of the store's files (see engine.faults).
_WRITE_POINTS = {"index.json": "index", "run.json": "runjson", "metrics.jsonl": "rewrite"}
# Temporary files a killed writer leaves behind: ".<name>.<pid>.<hex>.tmp" (this module), and
# ".<name>.tmp-<pid>" (checkpoints written before this module existed).
TEMP_RE = re.compile(r"\.(?:.+)\.(?:(?P<a>[0-9]+)\.[0-9a-f]+\.tmp|tmp-(?P<b>[0-9]+))")


def to_json(value: Any) -> bytes:
    """Compact JSON bytes; a value JSON cannot hold is a StoreError."""
    try:
        text = json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise StoreError(f"cannot store {e}: run fields must be plain JSON values") from e
    return text.encode("utf-8")


def write_error(path: Path, error: OSError) -> StoreError:
    """The message for a failed write of ``path``: a full disk is a DiskFullError."""
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


def read_error(path: Path, error: OSError) -> StoreError:
    """An unreadable store file (a runs folder that is a file, no permission, an I/O error)."""
    return StoreError(
        f"cannot read {path}: {error.strerror or error}; check --runs-dir / RESNET_TUI_RUNS "
        "and the folder's permissions"
    )


def write_point(path: Path) -> str:
    """The fault-point name of a write of ``path``."""
    return _WRITE_POINTS.get(path.name) or path.stem


def write_atomically(
    path: Path, write: Callable[[int], None], point: str | None = None, sync: bool = True
) -> None:
    """Replace ``path`` with what ``write(fd)`` writes to a fresh temporary file, all at once:
    write, fsync, rename.

    The temp file is created with the user's umask in ``path``'s folder. Whatever fails
    (``write`` raising anything, fsync, the rename) removes the temp file, leaves ``path`` as
    it was and propagates the exception unchanged: callers choose the message (``atomic_write``
    a StoreError, checkpoints a CheckpointError). (The folder itself is not fsynced: after a
    power cut the file may be the previous version, never a partial one.) ``sync=False``
    skips the fsync, for files that are hints (a kill still never leaves a partial file; a
    power cut may).
    """
    point = point or write_point(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        fault_point(point)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        try:
            write(fd)
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        fault_point(point + "-rename")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fault_point(point + "-done")


def write_all(fd: int, *chunks: bytes | memoryview) -> None:
    """Write every byte of ``chunks`` to ``fd`` (``os.write`` may write less than asked)."""
    for chunk in chunks:
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view) :]


def atomic_write(
    path: Path, *chunks: bytes | memoryview, point: str | None = None, sync: bool = True
) -> None:
    """Replace ``path`` with the ``chunks`` joined, all at once (``write_atomically``).

    On failure the old file is untouched, the temp file is removed, and a StoreError says what
    went wrong (a DiskFullError for a full disk)."""
    try:
        write_atomically(path, lambda fd: write_all(fd, *chunks), point, sync)
    except OSError as e:
        raise write_error(path, e) from e


def remove_stale_temp_files(folder: Path) -> list[str]:
    """Remove the temporary files that writers killed mid-write left in ``folder`` (only those
    whose writer process is gone: a live writer's file is about to be renamed)."""
    removed: list[str] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = TEMP_RE.fullmatch(entry.name)
        if not match or not entry.is_file(follow_symlinks=False):
            continue
        pid = int(match.group("a") or match.group("b"))
        if pid != os.getpid() and pid_exists(pid):
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed.append(entry.name)
    return removed


def discard_folder(folder: Path, trash: Path) -> None:
    """Delete ``folder``: renamed to ``trash`` first (atomic, so nobody sees it half deleted;
    a dot name is ignored by readers), then removed. A symlink is unlinked, never followed."""
    try:
        os.replace(folder, trash)
    except OSError:
        trash = folder
    if trash.is_symlink():
        with contextlib.suppress(OSError):
            trash.unlink()
    else:
        shutil.rmtree(trash, ignore_errors=True)
