"""How a process knows that it is one rank of a run that torchrun started, torch-free.

The launcher (``engine.launch``) sets ``RESNET_TUI_LAUNCHER_PID`` for its workers; with
torchrun's ``RANK`` beside it, a process is a rank (``in_worker``). Rank 0 owns the run in the
store and may take it over from its launcher (``may_claim``). The run's lifecycle checks, the
trainer and the worker entry point all ask these questions, and none of them needs torch.
"""

from __future__ import annotations

import os
from typing import Any

# Set by the launcher for its workers: its pid (the run's pid until rank 0 starts), which also
# tells a worker that it is a rank of a launch, and the number of machines.
LAUNCHER_ENV = "RESNET_TUI_LAUNCHER_PID"
NNODES_ENV = "RESNET_TUI_NNODES"


def in_worker() -> bool:
    """Whether this process is a rank started by ``launch`` (torchrun's environment is set)."""
    return bool(os.environ.get(LAUNCHER_ENV)) and "RANK" in os.environ


def launcher_pid() -> int | None:
    value = os.environ.get(LAUNCHER_ENV, "")
    return int(value) if value.isdigit() else None


def may_claim(doc: dict[str, Any]) -> bool:
    """Whether this rank 0 may take over run ``doc`` although another pid is recorded on it:
    its own launcher's pid, or, on several machines, any launcher's while the run is queued
    (rank 0 may land on any machine; the one that created the run recorded its pid)."""
    if not in_worker():
        return False
    if doc.get("pid") is not None and doc.get("pid") == launcher_pid():
        return True
    return os.environ.get(NNODES_ENV, "1") != "1" and doc.get("status") == "queued"


def rank() -> int:
    """This worker's global rank (0 outside a distributed run)."""
    return int(os.environ.get("RANK", "0")) if in_worker() else 0
