"""What a training run reports while it runs: plain dataclass events, torch-free.

``Trainer.fit`` emits them through one callback; ``engine.runner`` turns them into store writes
and the front-ends render them (the CLI's progress bar). They hold only plain values, so a
module that renders them never has to import torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# What an epoch line says in place of val's numbers when train.eval_every skipped it: the run's
# train.log and the CLI's progress line alike.
VAL_SKIPPED = "val not evaluated (train.eval_every)"


@dataclass(frozen=True)
class FitStarted:
    epochs: int
    start_epoch: int  # epochs already done (resume)
    steps_per_epoch: int
    params: int
    device: str
    classes: list[str]
    train_size: int
    val_size: int
    data_notes: tuple[str, ...] = ()  # what was made of the user's images (size, path, skips)


@dataclass(frozen=True)
class StepDone:
    epoch: int  # 1-based
    step: int  # 1-based within the epoch
    steps: int
    loss: float | None = None  # only every train.log_every steps (reading it syncs the device)
    lr: float | None = None
    images: int = 0  # training images this process has seen in this epoch
    seconds: float = 0.0  # spent training this epoch so far (a host clock: no device sync)


@dataclass(frozen=True)
class EpochDone:
    epoch: int  # 1-based
    metrics: dict[str, float]
    best_epoch: int
    improved: bool


@dataclass(frozen=True)
class FitDone:
    status: str  # "finished" | "stopped" | "diverged"
    message: str
    epoch: int
    best: dict[str, float] = field(default_factory=dict)
    test: dict[str, float] = field(default_factory=dict)
    confusion: dict[str, Any] = field(default_factory=dict)
    # the test pass's engine.predictions_file.Predictions (rank 0; None without a test pass)
    predictions: Any = None


Event = FitStarted | StepDone | EpochDone | FitDone
Callback = Callable[[Event], None]
