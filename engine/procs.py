"""Process identity and control, shared by the run store, the sweep driver and the runner.

A run (or a sweep) records the process that owns it as ``pid``, ``host`` and ``pid_start``
(the start time the kernel gave that pid). Everything that asks "is its owner still alive?",
"stop it", "start one that outlives me" or "let only one process do this" lives here, once:

- ``this_host``, ``process_start_time``: the identity to record;
- ``pid_alive``, ``is_alive(owner)``: liveness with the start-time guard, so a pid recycled
  by an unrelated process is not mistaken for the owner (a zombie counts as gone);
- ``signal_stop(owner, what)``: SIGTERM, refused with a message for another host's or a gone
  process (and never sent to a recycled pid);
- ``spawn_detached``: a child in its own session that survives the caller, its terminal and
  SSH, reaped by a daemon thread so a long-lived parent (the console) keeps no zombies;
- ``StopFlag``: SIGINT/SIGTERM handling for a loop that stops gracefully;
- ``owner_lock``: the inter-process lock (``filelock``) with the store's timeout and messages.

No torch here, and nothing from the store: the store imports this module.
"""

from __future__ import annotations

import functools
import os
import signal
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import StoreError

if TYPE_CHECKING:
    import subprocess

    from filelock import BaseFileLock

LOCK_TIMEOUT_S = 30.0
# filelock polls a contended lock; the store's readers hold it (shared) for milliseconds.
LOCK_POLL_S = 0.005


# ---------------------------------------------------------------- identity and liveness


@functools.cache
def this_host() -> str:
    import socket  # deferred: only owners that have a pid need it

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


def pid_exists(pid: int) -> bool:
    """Whether the kernel knows ``pid`` (signal 0); no start-time check."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def pid_alive(pid: int, pid_start: int | None) -> bool:
    """Whether local process ``pid`` runs and is the one that started at ``pid_start`` (when
    given): a zombie is gone, a different start time is a recycled pid."""
    try:
        stat = _process_stat(pid)
    except (OSError, ValueError, IndexError):  # /proc hides it or cannot be parsed
        return pid_exists(pid)
    if stat is None:
        # No /proc entry: on Linux the process is gone; without /proc, ask the kernel.
        return False if os.path.isdir("/proc/self") else pid_exists(pid)
    state, start = stat
    if state == "Z":  # killed but not yet reaped by its parent: gone
        return False
    return pid_start is None or start == pid_start


def owner_identity(pid: int) -> dict[str, Any]:
    """The fields to record with ``pid`` (a process of this host): host and pid_start."""
    return {"host": this_host(), "pid_start": process_start_time(pid)}


def is_alive(owner: Mapping[str, Any]) -> bool:
    """Whether the process recorded in ``owner`` (a run or sweep document: ``pid``, ``host``,
    ``pid_start``) still runs. An owner on another host counts as alive, since this host
    cannot tell; an owner with no pid is not alive."""
    pid = owner.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    host = owner.get("host")
    if host and host != this_host():
        return True
    pid_start = owner.get("pid_start")
    return pid_alive(pid, pid_start if isinstance(pid_start, int) else None)


def signal_stop(owner: Mapping[str, Any], what: str, resume_hint: str = "") -> None:
    """SIGTERM the owner's process (it stops gracefully), or raise StoreError: it runs on
    another host, or it is gone. ``what`` names the owner in messages ("run ID", "sweep lr");
    ``resume_hint`` is added to the "is gone" message ("resume it with ...")."""
    pid = owner.get("pid")
    host = owner.get("host")
    if host and host != this_host():
        raise StoreError(f"{what} runs on {host}; stop it there")
    gone = f"{what}: its process {pid} is gone (crashed)" + (
        f"; {resume_hint}" if resume_hint else ""
    )
    if not is_alive(owner):  # never signal a pid that now belongs to someone else
        raise StoreError(gone)
    try:
        os.kill(int(pid), signal.SIGTERM)  # type: ignore[arg-type]  # is_alive checked it
    except ProcessLookupError as exc:
        raise StoreError(gone) from exc


# ---------------------------------------------------------------- starting and stopping


def spawn_detached(
    command: list[str], log_path: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``command`` in its own session (no controlling terminal, stdin from /dev/null),
    stdout and stderr appended to ``log_path``: it survives the caller, its terminal and SSH.

    A daemon thread waits for the child, so a parent that lives on (the console) does not
    collect zombies; ``Popen.poll()``/``wait()`` still work."""
    import subprocess  # deferred: the store imports this module, and it starts nothing

    with open(log_path, "ab") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            cwd=os.getcwd(),
            env=env,
        )
    threading.Thread(target=process.wait, name=f"reap-{process.pid}", daemon=True).start()
    return process


class StopFlag:
    """Set by SIGINT/SIGTERM (or by a caller); a loop checks it (``stop()``) after every step.

    ``count`` says how many stop requests arrived: a driver can stop gracefully on the first
    and leave at once on the second. SIGHUP is ignored once installed, so a dropped SSH link
    never stops the process.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self.count = 0

    def __call__(self) -> bool:
        return self.count > 0 or self.event.is_set()

    def request(self, *_: Any) -> None:
        """Ask for a stop (also the signal handler)."""
        self.count += 1
        self.event.set()

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self.request)
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, signal.SIG_IGN)


# ---------------------------------------------------------------- the inter-process lock

_held = threading.local()  # lock paths this thread holds through owner_lock, with a depth


def holds_lock(path: str | os.PathLike[str]) -> bool:
    """Whether this thread holds ``owner_lock(path)`` (a reader that takes a shared lock on the
    same file must not wait for itself)."""
    return getattr(_held, "depth", {}).get(os.path.abspath(path), 0) > 0


class OwnerLock:
    """An exclusive inter-process lock on ``path`` (``filelock``: ``flock`` where the file
    system has it), reentrant within a thread; failures are StoreErrors that say what to do.

    ``what`` names what is locked in messages ("the run store runs/"). ``busy`` replaces the
    timeout message (a sweep that is already running says so)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        what: str,
        timeout: float = LOCK_TIMEOUT_S,
        busy: str = "",
    ) -> None:
        self.path = Path(path)
        self.what = what
        self.timeout = timeout
        self.busy = busy
        self._lock: BaseFileLock | None = None

    def acquire(self) -> None:
        from filelock import FileLock, Timeout  # deferred: readers never lock

        if self._lock is None:
            self._lock = FileLock(self.path, timeout=self.timeout)
        try:
            self._lock.acquire(poll_interval=LOCK_POLL_S)
        except Timeout as e:
            raise StoreError(
                self.busy
                or f"{self.what} stayed locked for {self.timeout:.0f} s ({self.path.name}); "
                "another resnet-tui process may be stuck"
            ) from e
        except OSError as e:
            raise StoreError(f"cannot lock {self.path}: {e.strerror or e}") from e
        depth = _held.__dict__.setdefault("depth", {})
        key = os.path.abspath(self.path)
        depth[key] = depth.get(key, 0) + 1

    def release(self) -> None:
        depth = _held.__dict__.setdefault("depth", {})
        key = os.path.abspath(self.path)
        depth[key] = max(0, depth.get(key, 0) - 1)
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> OwnerLock:
        self.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def owner_lock(
    path: str | os.PathLike[str], what: str, timeout: float = LOCK_TIMEOUT_S, busy: str = ""
) -> OwnerLock:
    """An ``OwnerLock`` on ``path``: ``with owner_lock(p, "sweep lr"): ...``."""
    return OwnerLock(path, what, timeout, busy)
