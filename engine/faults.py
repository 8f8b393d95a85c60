"""Fault injection for the reliability tests: ``RESNET_TUI_FAULT="ACTION:POINT:N[,...]"``.

The trainer and the store call ``fault_point(name)`` at the moments where a crash or a full
disk would hurt most. With the variable unset (always, outside tests) a point costs one
environment lookup; the points sit on write paths and at epoch starts (inside the step loop
only progress.json's, about once a second). With it set, the N-th time (1-based, counted per
process) this process reaches POINT, it does ACTION; ``N+`` means the N-th time and every
time after.

Actions:
  kill     SIGKILL this process (kill -9, the OOM killer, a power cut: nothing runs after)
  enospc   raise OSError(ENOSPC), as a full disk does
  oom      raise torch.OutOfMemoryError("CUDA out of memory ..."), as a too-large batch does
  sigint   send this process SIGINT (Ctrl-C at exactly that moment); sigterm likewise
  nan      only at ``epoch``: the trainer fills a weight with NaN, so the loss diverges

Points (each name is entered in the order listed within one write):
  checkpoint, checkpoint-rename, checkpoint-done
      save_checkpoint: before the temp file is written / written and fsynced but not yet
      renamed over best.pt or last.pt / renamed
  index, index-rename, index-done        a write of index.json (the store's atomic_write)
  runjson, runjson-rename, runjson-done  a write of a run's run.json
  rewrite, rewrite-rename, rewrite-done  metrics.jsonl rewritten (resume drops lines)
  confusion, confusion-rename, confusion-done   confusion.json at the end of a run
  metrics, metrics-done                  a metrics.jsonl line: before / after its append
  sysmon, sysmon-done                    a system sample's line (engine.sysmon's thread)
  progress, progress-rename, progress-done
      progress.json, the live position in the epoch (about once a second, inside the step
      loop: the one point there)
  epoch                                  the trainer starts an epoch

Example: ``RESNET_TUI_FAULT=kill:checkpoint-rename:2 resnet-tui train ...`` dies with the
second checkpoint written to its temporary file but not renamed.
"""

from __future__ import annotations

import errno
import functools
import os
import signal
import sys

ENV = "RESNET_TUI_FAULT"
ACTIONS = ("kill", "enospc", "oom", "sigint", "sigterm", "nan")
_counts: dict[str, int] = {}


@functools.lru_cache(maxsize=8)
def parse(spec: str) -> tuple[tuple[str, str, int, bool], ...]:
    """``"kill:index:3,enospc:checkpoint:2+"`` -> ((action, point, n, and_after), ...)."""
    plan = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        action, _, rest = item.partition(":")
        point, _, count = rest.rpartition(":")
        and_after = count.endswith("+")
        count = count.rstrip("+")
        if action not in ACTIONS or not point or not count.isdigit() or int(count) < 1:
            raise ValueError(
                f"{ENV}: '{item}' is not ACTION:POINT:N (actions: {', '.join(ACTIONS)}; "
                "N from 1, N+ for every time from the N-th)"
            )
        plan.append((action, point, int(count), and_after))
    return tuple(plan)


def reset() -> None:
    """Forget how often each point was reached (for tests that run several runs in one process)."""
    _counts.clear()


def fault_point(point: str) -> str | None:
    """Count one arrival at ``point`` and do the planned action, if any.

    Returns the action for actions the caller carries out itself (``nan``), else None.
    """
    spec = os.environ.get(ENV)
    if not spec:
        return None
    n = _counts[point] = _counts.get(point, 0) + 1
    for action, where, count, and_after in parse(spec):
        if where == point and (n == count or (and_after and n > count)):
            return _act(action, point, n)
    return None


def _act(action: str, point: str, n: int) -> str | None:
    where = f"injected by {ENV} at {point} #{n}"
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "enospc":
        raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} ({where})")
    elif action == "oom":
        message = f"CUDA out of memory. Tried to allocate 2.00 GiB ({where})"
        torch = sys.modules.get("torch")
        error = getattr(torch, "OutOfMemoryError", None) if torch is not None else None
        raise (error or RuntimeError)(message)
    elif action in ("sigint", "sigterm"):
        os.kill(os.getpid(), signal.SIGINT if action == "sigint" else signal.SIGTERM)
    return action if action == "nan" else None
