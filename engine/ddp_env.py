"""How a process knows that it is one rank of a run that torchrun started, torch-free.

The launcher (``engine.launch``) sets ``RESNET_TUI_LAUNCHER_PID`` for its workers; with
torchrun's ``RANK`` beside it, a process is a rank (``in_worker``). Rank 0 owns the run in the
store and may take it over from its launcher (``may_claim``). The run's lifecycle checks, the
trainer and the worker entry point all ask these questions, and none of them needs torch.
"""

from __future__ import annotations

import os
from typing import Any

from engine.errors import ConfigError

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


# ---------------------------------------------------------------- the shape of a run


def check_global_batch(batch_size: int, world: int) -> None:
    """data.batch_size is the global batch: it must split evenly over the processes."""
    if batch_size % world:
        raise ConfigError(
            f"data.batch_size: {batch_size} is the global batch and must split evenly over "
            f"the {world} processes; use a multiple of {world}",
            "data.batch_size",
        )


def check_topology(nnodes: int, rdzv_endpoint: str) -> None:
    """Refuse a machine count or rendezvous endpoint that cannot work (before a run exists)."""
    if nnodes < 1:
        raise ConfigError(f"--nnodes: must be at least 1, got {nnodes}")
    if rdzv_endpoint:
        host, _, port = rdzv_endpoint.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(
                f"--rdzv-endpoint '{rdzv_endpoint}': expected HOST:PORT, e.g. node0:29500"
            )
    elif nnodes > 1:
        raise ConfigError(
            f"--nnodes {nnodes}: the machines meet at a rendezvous; give --rdzv-endpoint "
            "HOST:PORT (a host every machine reaches, a free port)"
        )
