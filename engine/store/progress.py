"""A run's live position inside its epoch: ``progress.json`` in the run's folder.

The trainer's process replaces it about once a second while it trains (and at the last step
of each epoch, when evaluation starts), so any console, whoever started the run, can show the
steps done, the images per second and an ETA without waiting for the epoch to end. It is a
hint, not history: written without fsync, never read to resume (the checkpoint's position is
what resumes), and metrics.jsonl is left exactly as the fault-injection suite expects it.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engine.fsio import atomic_write, to_json

PROGRESS_FILE = "progress.json"
EVERY_S = 1.0  # the least time between two writes (the last step of an epoch always writes)


@dataclass(frozen=True)
class Progress:
    """Where a training process was at ``time`` (seconds since the Unix epoch)."""

    epoch: int  # 1-based, the epoch being trained
    epochs: int  # the run's total
    step: int  # steps done in this epoch
    steps: int  # steps in an epoch
    images: int  # training images seen in this epoch (all processes of a DDP run)
    epoch_seconds: float  # spent training this epoch so far
    run_seconds: float  # spent training the run so far, over all its sessions
    time: float
    phase: str = "train"  # "eval": the epoch's steps are done, evaluation runs

    @property
    def images_per_s(self) -> float | None:
        return self.images / self.epoch_seconds if self.epoch_seconds > 0 else None

    @property
    def seconds_per_step(self) -> float | None:
        return self.epoch_seconds / self.step if self.step > 0 else None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Progress | None:
        """The progress in ``data``; None when a field is missing or of the wrong type."""
        try:
            return cls(
                epoch=int(data["epoch"]),
                epochs=int(data["epochs"]),
                step=int(data["step"]),
                steps=int(data["steps"]),
                images=int(data["images"]),
                epoch_seconds=float(data["epoch_seconds"]),
                run_seconds=float(data["run_seconds"]),
                time=float(data["time"]),
                phase=str(data.get("phase", "train")),
            )
        except (KeyError, TypeError, ValueError):
            return None


def write_progress(run_dir: Path, progress: Progress) -> None:
    """Replace the run's progress file (atomic, no fsync: a hint). A StoreError if it fails."""
    atomic_write(run_dir / PROGRESS_FILE, to_json(asdict(progress)), sync=False)


def read_progress(run_dir: Path) -> Progress | None:
    """The run's last written progress; None when there is none or it cannot be read."""
    try:
        data = json.loads((run_dir / PROGRESS_FILE).read_bytes())
    except (OSError, ValueError):
        return None
    return Progress.from_dict(data) if isinstance(data, dict) else None


class ProgressWriter:
    """Writes a run's progress from its step events: at most every ``EVERY_S`` seconds, and
    at the last step of each epoch. A write that fails (a full disk) is reported once through
    ``warn`` and never stops the training."""

    def __init__(
        self, run_dir: Path, epochs: int, processes: int, warn: Any, every: float = EVERY_S
    ) -> None:
        self.run_dir, self.epochs, self.processes, self.warn = run_dir, epochs, processes, warn
        self.every = every
        self._last = float("-inf")
        self._failed = False

    def step(
        self, epoch: int, step: int, steps: int, images: int, seconds: float, run_seconds: float
    ) -> None:
        now = time.monotonic()
        last_step = step >= steps
        if not last_step and now - self._last < self.every:
            return
        self._last = now
        progress = Progress(
            epoch=epoch,
            epochs=self.epochs,
            step=step,
            steps=steps,
            images=images * self.processes,
            epoch_seconds=round(seconds, 3),
            run_seconds=round(run_seconds, 3),
            time=round(time.time(), 3),
            phase="eval" if last_step else "train",
        )
        try:
            write_progress(self.run_dir, progress)
        except Exception as exc:  # a hint: never worth a run
            if not self._failed:
                self._failed = True
                self.warn(f"cannot write the live progress (training goes on): {exc}")
