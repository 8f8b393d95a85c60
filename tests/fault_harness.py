"""Trainer processes for the fault-injection tests, started cheaply.

A trainer started as ``resnet-tui train`` spends 2-3 s importing torch before it trains for
about as long; twenty kill/resume cycles that way would not fit a test run. Here a
multiprocessing *forkserver* imports the engine once, and each trainer is a fork of it: a
real, separate process that runs exactly what ``resnet-tui train --resume RUN --quiet`` runs
(``engine.runner.execute``), can be SIGKILLed at any moment, and starts in milliseconds.
The tests still drive some runs through the real CLI (the first start and the last resume).

This module is imported by the forkserver, so it imports no pytest.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from engine.records import EPOCH_TIMES

PRELOAD = [
    "engine.runner",
    "engine.trainer",
    "engine.store",
    "engine.data",
    "sklearn.datasets",  # the digits loader imports it on first use (seconds)
    "fault_harness",
]
FAILED_EXIT = 3  # the trainer ended with a user error (a failed run), as the CLI's exit 2

_context: ForkServerContext | None = None


def context() -> ForkServerContext:
    global _context
    if _context is None:
        ctx = multiprocessing.get_context("forkserver")
        assert isinstance(ctx, ForkServerContext)
        ctx.set_forkserver_preload(PRELOAD)
        _context = ctx
    return _context


def _train(runs_dir: str, run_id: str, fault: str | None, threads: int, umask: int | None) -> None:
    if umask is not None:
        os.umask(umask)
    os.environ.pop("RESNET_TUI_FAULT", None)
    if fault:
        os.environ["RESNET_TUI_FAULT"] = fault
    import torch

    from engine import faults
    from engine.errors import UserError
    from engine.runner import execute
    from engine.store import RunStore

    torch.set_num_threads(threads)
    faults.reset()
    try:
        execute(RunStore(runs_dir), run_id)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(FAILED_EXIT)


def start_trainer(
    runs_dir: Path | str,
    run_id: str,
    fault: str | None = None,
    threads: int = 1,
    umask: int | None = None,
) -> BaseProcess:
    """Start a trainer for ``run_id`` and record its pid as ``launch_detached`` does."""
    from engine.lifecycle import record_launch
    from engine.store import RunStore

    proc = context().Process(target=_train, args=(str(runs_dir), run_id, fault, threads, umask))
    proc.start()
    assert proc.pid is not None
    record_launch(RunStore(runs_dir), run_id, proc.pid)
    return proc


def kill(proc: BaseProcess) -> None:
    if proc.pid is not None and proc.is_alive():
        os.kill(proc.pid, signal.SIGKILL)


def warm_up() -> None:
    """Start the forkserver (the one slow import) before anything is timed."""
    proc = context().Process(target=_noop)
    proc.start()
    proc.join(120)


def _noop() -> None:
    pass


def epoch_lines(store: Any, run_id: str) -> list[dict[str, Any]]:
    return [m for m in store.read_metrics(run_id)[0] if m.get("kind") == "epoch"]


def comparable(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Metrics lines without the fields that measure time."""
    drop = {*EPOCH_TIMES, "time"}
    return [{k: v for k, v in m.items() if k not in drop} for m in records]
