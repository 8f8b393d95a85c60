"""What a run's status allows, and the processes that train runs: start one detached, record its
pid, ask it to stop.

Every trainer process is ``python -m engine.worker ...`` (``worker_command``): detached runs,
torchrun's ranks, ablation queues, sweep drivers and stacks all start from the engine's own
entry point, never from a front-end. This module is torch-free: the console calls it in its
own process.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from engine.ddp_env import may_claim
from engine.errors import StoreError
from engine.procs import signal_stop, spawn_detached
from engine.store import LOG_FILE, RunStore

RESUMABLE = ("queued", "stopped", "crashed", "failed")
WORKER_MODULE = "engine.worker"


def worker_args(store_root: str | Path, *args: str) -> list[str]:
    """``engine.worker --store STORE ARGS``: what follows ``python -m`` (torchrun takes it too)."""
    return [WORKER_MODULE, "--store", str(store_root), *args]


def worker_command(store_root: str | Path, *args: str) -> list[str]:
    """The engine's worker as this interpreter runs it (no PATH lookup)."""
    return [sys.executable, "-m", *worker_args(store_root, *args)]


def resume_hint(run_id: str) -> str:
    return f"resume with `resnet-tui train --resume {run_id}`"


def refuse_unless_resumable(store: RunStore, doc: dict[str, Any]) -> None:
    """Raise StoreError unless ``doc`` (as readers see it) may be (re)started by this process."""
    run_id, status = doc["id"], doc["status"]
    if status == "finished":
        raise StoreError(
            f"run {run_id} already finished; start a new run from its config "
            f"(`resnet-tui train {store.run_dir(run_id) / 'config.toml'}`)"
        )
    if status == "diverged":
        raise StoreError(
            f"run {run_id} diverged; resuming would diverge again: start a new run "
            "with a lower optim.lr"
        )
    # launch_detached recorded our pid (or our torchrun launcher its own: engine.launch)
    launched_as_me = doc.get("pid") == os.getpid() or may_claim(doc)
    if not launched_as_me and (
        status == "running" or (status == "queued" and doc.get("pid") and store.is_alive(doc))
    ):
        raise StoreError(f"run {run_id} is running (pid {doc.get('pid')}); stop it first")
    if status not in RESUMABLE:
        raise StoreError(f"run {run_id} is {status} and cannot be resumed")


def check_resumable(store: RunStore, run_id: str) -> dict[str, Any]:
    doc = store.get(run_id)
    refuse_unless_resumable(store, doc)
    return doc


def launch_detached(
    store: RunStore,
    run_id: str,
    *,
    args: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> int:
    """Start ``python -m engine.worker run RUN`` in its own session, output to train.log.

    The child survives the parent's terminal closing (new session, no controlling tty,
    stdin from /dev/null), which is what keeps a run alive across a dropped SSH link.
    ``args`` are added to the worker's command (``--nnodes 2``); ``env`` replaces the child's
    environment (a sweep gives each trial its ``CUDA_VISIBLE_DEVICES``).
    """
    command = worker_command(store.root, "run", run_id, *(args or []))
    process = spawn_detached(command, store.run_dir(run_id) / LOG_FILE, env=env)
    record_launch(store, run_id, process.pid)
    return process.pid


def record_launch(store: RunStore, run_id: str, pid: int) -> None:
    """Record the pid of a trainer just started for ``run_id``, so that the run shows as
    crashed if that process dies before it reports itself. Refused (StoreError) when another
    live trainer took the run meanwhile: the new trainer then finds it taken and exits."""

    def take(doc: dict[str, Any]) -> dict[str, Any]:
        if doc.get("pid") == pid:
            return {}  # the trainer got there first
        if doc["status"] in ("running", "queued") and doc.get("pid") and store.is_alive(doc):
            raise StoreError(
                f"run {run_id} was started meanwhile by another process (pid {doc['pid']})"
            )
        # Keep the status readers saw: a crashed run still marked "running" would otherwise
        # look alive under the new pid, and its trainer would refuse to resume it.
        return {"pid": pid, "status": doc["status"], "message": doc.get("message", "")}

    store.claim(run_id, take)


def request_stop(store: RunStore, run_id: str) -> None:
    """Ask a running trainer to stop gracefully (SIGTERM: finish the step, checkpoint)."""
    doc = store.get(run_id)
    if doc["status"] not in ("running", "queued") or not doc.get("pid"):
        raise StoreError(f"run {run_id} is {doc['status']}, not running")
    signal_stop(doc, f"run {run_id}", f"resume it with `resnet-tui train --resume {run_id}`")
