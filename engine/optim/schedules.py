"""The trainer's learning-rate schedule: ``engine.lr_schedule``'s curve, written into an
optimizer's param groups, plus reduce-on-plateau's state.

The registry, the curves and the warmup are torch-free in ``engine.lr_schedule`` (the previews
draw from the same ``lr_factor``); this module re-exports them for the trainer's imports.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from engine.config import ScheduleConfig
from engine.lr_schedule import (
    ALWAYS_SCHEDULE,
    SCHEDULES,
    Progress,
    ScheduleInfo,
    list_schedules,
    lr_factor,
    schedule_info,
)

if TYPE_CHECKING:
    import torch

__all__ = [
    "ALWAYS_SCHEDULE",
    "SCHEDULES",
    "LRSchedule",
    "Progress",
    "ScheduleInfo",
    "list_schedules",
    "schedule_info",
]


class LRSchedule:
    """Sets each param group's lr from (epoch, step) progress; warmup applies to every kind."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        c: ScheduleConfig,
        base_lr: float,
        epochs: int,
        steps_per_epoch: int,
    ) -> None:
        self.info = schedule_info(c.name)
        self.optimizer, self.c, self.base_lr = optimizer, c, base_lr
        self.epochs, self.steps = epochs, max(1, steps_per_epoch)
        self.plateau_scale, self.plateau_best, self.plateau_bad = 1.0, math.inf, 0

    def factor(self, epoch: int, step: int) -> float:
        """The lr multiplier at ``step`` of 0-based ``epoch``."""
        return lr_factor(
            self.c, self.base_lr, self.epochs, self.steps, epoch, step, self.plateau_scale
        )

    def apply(self, epoch: int, step: int) -> float:
        lr = self.base_lr * self.factor(epoch, step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        return lr

    def end_epoch(self, val_loss: float) -> None:
        """Reduce-on-plateau bookkeeping (torch's ReduceLROnPlateau rule, relative threshold)."""
        if not self.info.reads_val_loss:
            return
        if val_loss < self.plateau_best * (1 - 1e-4):
            self.plateau_best, self.plateau_bad = val_loss, 0
        else:
            self.plateau_bad += 1
            if self.plateau_bad > self.c.plateau_patience:
                self.plateau_scale *= self.c.gamma
                self.plateau_bad = 0

    def state_dict(self) -> dict[str, float]:
        return {"scale": self.plateau_scale, "best": self.plateau_best, "bad": self.plateau_bad}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.plateau_scale = float(state["scale"])
        self.plateau_best = float(state["best"])
        self.plateau_bad = int(state["bad"])
