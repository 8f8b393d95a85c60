"""The learning-rate schedule registry: each entry carries its own curve.

A schedule is a pure function of training progress (plus a small state for reduce-on-plateau),
so a resumed run follows the same curve. Each ``ScheduleInfo`` holds its ``factor``: the lr
multiplier at a point of ``Progress`` after warmup; ``LRSchedule`` adds the linear warmup that
every schedule shares and writes the lr into the optimizer's param groups.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.config import ScheduleConfig
from engine.registry import Registry

if TYPE_CHECKING:
    import torch

# Keys every schedule reads: its name and the warmup before it.
ALWAYS_SCHEDULE: tuple[str, ...] = ("name", "warmup_epochs")


@dataclass(frozen=True)
class Progress:
    """Where training is: ``step`` of 0-based ``epoch``, with what a curve needs to know."""

    epoch: int
    step: int
    steps: int  # steps per epoch, at least 1
    epochs: int  # the run's length
    base_lr: float
    plateau_scale: float = 1.0  # reduce-on-plateau's running multiplier

    @property
    def t(self) -> float:
        """Progress in epochs (fractional within an epoch)."""
        return self.epoch + self.step / self.steps


FactorFn = Callable[[ScheduleConfig, Progress], float]


@dataclass(frozen=True)
class ScheduleInfo:
    name: str
    description: str
    keys: tuple[str, ...]  # schedule.* keys it reads
    factor: FactorFn  # the lr multiplier after warmup
    always: tuple[str, ...] = ALWAYS_SCHEDULE  # schedule.* keys shown whatever the schedule
    reads_val_loss: bool = False  # fed each epoch's val loss (reduce on plateau)

    @property
    def shown_keys(self) -> tuple[str, ...]:
        """Every schedule.* key that matters with this schedule, for forms."""
        return (*self.always, *(k for k in self.keys if k not in self.always))


SCHEDULES: Registry[ScheduleInfo] = Registry("schedule.name", "schedule")


def _floor(c: ScheduleConfig, p: Progress) -> float:
    return c.min_lr / p.base_lr


def _span(c: ScheduleConfig, p: Progress) -> float:
    """The epochs after warmup."""
    return max(p.epochs - c.warmup_epochs, 1e-9)


def _since_warmup(c: ScheduleConfig, p: Progress, continuous: bool) -> float:
    """Epochs since warmup ended: fractional when the curve moves every step."""
    return (p.t - c.warmup_epochs) if continuous else p.epoch - c.warmup_epochs


def _constant(c: ScheduleConfig, p: Progress) -> float:
    return 1.0


def _step(c: ScheduleConfig, p: Progress) -> float:
    return float(c.gamma ** (p.epoch // c.step_size))


def _multistep(c: ScheduleConfig, p: Progress) -> float:
    return float(c.gamma ** sum(p.epoch >= m for m in c.milestones))


def _cosine(c: ScheduleConfig, p: Progress) -> float:
    floor, u = _floor(c, p), _since_warmup(c, p, c.per_iteration)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(u / _span(c, p), 1.0)))


def _cosine_restarts(c: ScheduleConfig, p: Progress) -> float:
    floor, u = _floor(c, p), _since_warmup(c, p, c.per_iteration)
    pos = (u * p.steps) if c.per_iteration else u  # in iterations or epochs
    period = float(c.restart_period)
    while pos >= period:
        pos -= period
        period *= c.restart_mult
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * pos / period))


def _onecycle(c: ScheduleConfig, p: Progress) -> float:
    """As torch.optim.lr_scheduler.OneCycleLR with cosine annealing."""
    frac = min(_since_warmup(c, p, True) / _span(c, p), 1.0)
    start, end = 1 / 25, 1 / 25 / 1e4
    if frac < c.pct_start:
        return start + (1 - start) * 0.5 * (1 - math.cos(math.pi * frac / c.pct_start))
    rest = (frac - c.pct_start) / max(1 - c.pct_start, 1e-9)
    return end + (1 - end) * 0.5 * (1 + math.cos(math.pi * rest))


def _triangle(c: ScheduleConfig, p: Progress) -> float:
    floor, frac = _floor(c, p), min(_since_warmup(c, p, True) / _span(c, p), 1.0)
    if frac < c.pct_start:
        return 0.2 + 0.8 * frac / c.pct_start
    return 1.0 + (floor - 1.0) * (frac - c.pct_start) / max(1 - c.pct_start, 1e-9)


def _plateau(c: ScheduleConfig, p: Progress) -> float:
    return max(p.plateau_scale, _floor(c, p))


for _info in (
    ScheduleInfo("constant", "constant learning rate", (), _constant),
    ScheduleInfo(
        "step",
        "multiply by gamma every step_size epochs (seed 003: 0.1 every 100)",
        ("step_size", "gamma"),
        _step,
    ),
    ScheduleInfo(
        "multistep",
        "multiply by gamma at each milestone epoch",
        ("milestones", "gamma"),
        _multistep,
    ),
    ScheduleInfo("cosine", "cosine annealing from lr to min_lr over the run", ("min_lr",), _cosine),
    ScheduleInfo(
        "cosine-restarts",
        "cosine with warm restarts every restart_period epochs or iterations "
        "(seed 001: every 50 iterations)",
        ("restart_period", "restart_mult", "per_iteration", "min_lr"),
        _cosine_restarts,
    ),
    ScheduleInfo(
        "onecycle",
        "one-cycle: warm up to lr over pct_start, then anneal",
        ("pct_start",),
        _onecycle,
    ),
    ScheduleInfo(
        "triangle",
        "linear ramp from lr/5 to lr over pct_start, then linearly down to min_lr (airbench)",
        ("pct_start", "min_lr"),
        _triangle,
    ),
    ScheduleInfo(
        "plateau",
        "reduce by gamma when val loss stalls for plateau_patience epochs",
        ("gamma", "plateau_patience", "min_lr"),
        _plateau,
        reads_val_loss=True,
    ),
):
    SCHEDULES.register(_info.name, _info)


def list_schedules() -> list[ScheduleInfo]:
    return SCHEDULES.list()


def schedule_info(name: str) -> ScheduleInfo:
    return SCHEDULES.get(name)


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
        c = self.c
        t = epoch + step / self.steps  # progress in epochs
        if c.warmup_epochs > 0 and t < c.warmup_epochs:
            return (t + 1 / self.steps) / c.warmup_epochs
        progress = Progress(epoch, step, self.steps, self.epochs, self.base_lr, self.plateau_scale)
        return self.info.factor(c, progress)

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
