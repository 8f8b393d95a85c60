"""Checkpoints written off the training's critical path (``train.checkpoint_async``).

An epoch's state is copied to host memory (one device sync an epoch, the copy itself fast),
then serialised, fsynced and renamed into place by a background thread while the next epoch
trains. Writes happen one at a time and in order; the next checkpoint, a stop, the end of the
run or an error waits for the one in flight first, and a failed write is raised there, as a
synchronous write would have raised it one epoch earlier.

The kill/resume guarantee is the one of synchronous writes: an epoch's metrics line is
written before its checkpoint is started, a checkpoint file is replaced atomically, so a
process killed mid-write leaves the previous checkpoint whole, and the resume drops the lines
of the epochs after it and trains them again (``engine.runner``). What changes is only how
long that window lasts: up to one epoch instead of the write's own time.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import torch

from engine.checkpoint import save_checkpoint


def host_copy(value: Any) -> Any:
    """``value`` with every tensor copied to host memory and every container copied, so that
    training on can change nothing the background write reads."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: host_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [host_copy(v) for v in value]
    if isinstance(value, tuple):
        return tuple(host_copy(v) for v in value)
    return value


class CheckpointWriter:
    """Writes ``(state, path)`` jobs in order: in a background thread when ``background``,
    else at once in the caller's thread (the default off CUDA)."""

    def __init__(self, background: bool) -> None:
        self.background = background
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def write(self, state: dict[str, Any], paths: list[Path], now: bool = False) -> None:
        """Write ``state`` to each of ``paths``; ``now``: before returning (a stop)."""
        self.wait()
        if not self.background or now:
            for path in paths:
                save_checkpoint(state, path)
            return
        copy = host_copy(state)
        self._thread = threading.Thread(
            target=self._run, args=(copy, paths), name="checkpoint-writer", daemon=True
        )
        self._thread.start()

    def _run(self, state: dict[str, Any], paths: list[Path]) -> None:
        try:
            for path in paths:
                save_checkpoint(state, path)
        except BaseException as exc:  # raised in the training thread by wait()
            self._error = exc

    def wait(self) -> None:
        """Until the write in flight is on disk; its error, if it failed."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def close(self) -> None:
        """Wait for the write in flight, raising nothing (the caller is already failing)."""
        try:
            self.wait()
        except BaseException:
            pass
