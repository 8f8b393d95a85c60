"""Optimizer and learning-rate schedule registries.

Each entry carries a one-line description and the config keys it reads, so forms can show
them (timm's optim factory does the same). Schedules are pure functions of training progress
(plus a small state for reduce-on-plateau), so a resumed run follows the same curve.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from engine.config import OptimConfig, ScheduleConfig
from engine.errors import ConfigError, nearest


@dataclass(frozen=True)
class OptimizerInfo:
    name: str
    description: str
    keys: tuple[str, ...]  # optim.* keys this optimizer reads
    build: Callable[[list[dict[str, Any]], OptimConfig], torch.optim.Optimizer]


_OPTIMIZERS: dict[str, OptimizerInfo] = {}


def register_optimizer(
    name: str, description: str, keys: tuple[str, ...]
) -> Callable[[Callable[..., torch.optim.Optimizer]], Callable[..., torch.optim.Optimizer]]:
    def wrap(fn: Callable[..., torch.optim.Optimizer]) -> Callable[..., torch.optim.Optimizer]:
        _OPTIMIZERS[name] = OptimizerInfo(name, description, ("lr", "weight_decay", *keys), fn)
        return fn

    return wrap


@register_optimizer(
    "sgd", "SGD with momentum, optionally Nesterov (seeds 001, 003, 004)", ("momentum", "nesterov")
)
def _sgd(groups: list[dict[str, Any]], c: OptimConfig) -> torch.optim.Optimizer:
    return torch.optim.SGD(groups, lr=c.lr, momentum=c.momentum, nesterov=c.nesterov)


@register_optimizer("adam", "Adam (seed 004's grid search winner)", ("beta1", "beta2", "eps"))
def _adam(groups: list[dict[str, Any]], c: OptimConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(groups, lr=c.lr, betas=(c.beta1, c.beta2), eps=c.eps)


@register_optimizer("adamw", "Adam with decoupled weight decay", ("beta1", "beta2", "eps"))
def _adamw(groups: list[dict[str, Any]], c: OptimConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(groups, lr=c.lr, betas=(c.beta1, c.beta2), eps=c.eps)


@register_optimizer("adadelta", "Adadelta (seed 003's ResNet-24, lr 0.1)", ("rho", "eps"))
def _adadelta(groups: list[dict[str, Any]], c: OptimConfig) -> torch.optim.Optimizer:
    return torch.optim.Adadelta(groups, lr=c.lr, rho=c.rho, eps=max(c.eps, 1e-6))


@register_optimizer("adagrad", "Adagrad", ("eps",))
def _adagrad(groups: list[dict[str, Any]], c: OptimConfig) -> torch.optim.Optimizer:
    return torch.optim.Adagrad(groups, lr=c.lr, eps=c.eps)


@register_optimizer("rmsprop", "RMSprop", ("momentum", "eps"))
def _rmsprop(groups: list[dict[str, Any]], c: OptimConfig) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(groups, lr=c.lr, momentum=c.momentum, eps=c.eps)


@register_optimizer("adamax", "Adamax (Adam with the infinity norm)", ("beta1", "beta2", "eps"))
def _adamax(groups: list[dict[str, Any]], c: OptimConfig) -> torch.optim.Optimizer:
    return torch.optim.Adamax(groups, lr=c.lr, betas=(c.beta1, c.beta2), eps=c.eps)


@register_optimizer("nadam", "NAdam (Adam with Nesterov momentum)", ("beta1", "beta2", "eps"))
def _nadam(groups: list[dict[str, Any]], c: OptimConfig) -> torch.optim.Optimizer:
    return torch.optim.NAdam(groups, lr=c.lr, betas=(c.beta1, c.beta2), eps=c.eps)


def list_optimizers() -> list[OptimizerInfo]:
    return list(_OPTIMIZERS.values())


def optimizer_info(name: str) -> OptimizerInfo:
    if name not in _OPTIMIZERS:
        raise ConfigError(
            f"optim.name: unknown optimizer '{name}'{nearest(name, _OPTIMIZERS)}; "
            f"choices: {', '.join(_OPTIMIZERS)}",
            "optim.name",
        )
    return _OPTIMIZERS[name]


def param_groups(
    named: Iterable[tuple[str, nn.Parameter]], c: OptimConfig, lr_scale: Callable[[str], float]
) -> list[dict[str, Any]]:
    """Split parameters by weight decay (norm and bias exempt unless asked) and lr scale."""
    groups: dict[tuple[bool, float], list[nn.Parameter]] = {}
    for name, param in named:
        if not param.requires_grad:
            continue
        decay = c.decay_norm_and_bias or param.ndim > 1
        groups.setdefault((decay, lr_scale(name)), []).append(param)
    return [
        {
            "params": params,
            "weight_decay": c.weight_decay if decay else 0.0,
            "lr": c.lr * scale,
            "lr_scale": scale,
        }
        for (decay, scale), params in groups.items()
    ]


def build_optimizer(
    model: nn.Module, c: OptimConfig, lr_scale: Callable[[str], float] | None = None
) -> torch.optim.Optimizer:
    info = optimizer_info(c.name)
    groups = param_groups(model.named_parameters(), c, lr_scale or (lambda _name: 1.0))
    if not groups:
        raise ConfigError("the model has no trainable parameters (is everything frozen?)")
    return info.build(groups, c)


# ---------------------------------------------------------------- schedules


@dataclass(frozen=True)
class ScheduleInfo:
    name: str
    description: str
    keys: tuple[str, ...]  # schedule.* keys it reads


SCHEDULES: dict[str, ScheduleInfo] = {
    s.name: s
    for s in (
        ScheduleInfo("constant", "constant learning rate", ()),
        ScheduleInfo(
            "step",
            "multiply by gamma every step_size epochs (seed 003: 0.1 every 100)",
            ("step_size", "gamma"),
        ),
        ScheduleInfo(
            "multistep", "multiply by gamma at each milestone epoch", ("milestones", "gamma")
        ),
        ScheduleInfo("cosine", "cosine annealing from lr to min_lr over the run", ("min_lr",)),
        ScheduleInfo(
            "cosine-restarts",
            "cosine with warm restarts every restart_period epochs or iterations "
            "(seed 001: every 50 iterations)",
            ("restart_period", "restart_mult", "per_iteration", "min_lr"),
        ),
        ScheduleInfo(
            "onecycle", "one-cycle: warm up to lr over pct_start, then anneal", ("pct_start",)
        ),
        ScheduleInfo(
            "triangle",
            "linear ramp from lr/5 to lr over pct_start, then linearly down to min_lr (airbench)",
            ("pct_start", "min_lr"),
        ),
        ScheduleInfo(
            "plateau",
            "reduce by gamma when val loss stalls for plateau_patience epochs",
            ("gamma", "plateau_patience", "min_lr"),
        ),
    )
}


def list_schedules() -> list[ScheduleInfo]:
    return list(SCHEDULES.values())


def schedule_info(name: str) -> ScheduleInfo:
    if name not in SCHEDULES:
        raise ConfigError(
            f"schedule.name: unknown schedule '{name}'{nearest(name, SCHEDULES)}; "
            f"choices: {', '.join(SCHEDULES)}",
            "schedule.name",
        )
    return SCHEDULES[name]


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
        schedule_info(c.name)
        self.optimizer, self.c, self.base_lr = optimizer, c, base_lr
        self.epochs, self.steps = epochs, max(1, steps_per_epoch)
        self.plateau_scale, self.plateau_best, self.plateau_bad = 1.0, math.inf, 0

    def factor(self, epoch: int, step: int) -> float:
        """The lr multiplier at ``step`` of 0-based ``epoch``."""
        c = self.c
        t = epoch + step / self.steps  # progress in epochs
        if c.warmup_epochs > 0 and t < c.warmup_epochs:
            return (t + 1 / self.steps) / c.warmup_epochs
        floor = c.min_lr / self.base_lr
        if c.name == "constant":
            return 1.0
        if c.name == "step":
            return float(c.gamma ** (epoch // c.step_size))
        if c.name == "multistep":
            return float(c.gamma ** sum(epoch >= m for m in c.milestones))
        if c.name == "plateau":
            return max(self.plateau_scale, floor)
        span = max(self.epochs - c.warmup_epochs, 1e-9)
        u = (
            (t - c.warmup_epochs)
            if c.per_iteration or c.name in ("onecycle", "triangle")
            else epoch - c.warmup_epochs
        )
        if c.name == "cosine":
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(u / span, 1.0)))
        if c.name == "cosine-restarts":
            pos = (u * self.steps) if c.per_iteration else u  # in iterations or epochs
            period = float(c.restart_period)
            while pos >= period:
                pos -= period
                period *= c.restart_mult
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * pos / period))
        frac = min(u / span, 1.0)
        if c.name == "triangle":
            if frac < c.pct_start:
                return 0.2 + 0.8 * frac / c.pct_start
            return 1.0 + (floor - 1.0) * (frac - c.pct_start) / max(1 - c.pct_start, 1e-9)
        # onecycle, as torch.optim.lr_scheduler.OneCycleLR with cosine annealing
        start, end = 1 / 25, 1 / 25 / 1e4
        if frac < c.pct_start:
            return start + (1 - start) * 0.5 * (1 - math.cos(math.pi * frac / c.pct_start))
        rest = (frac - c.pct_start) / max(1 - c.pct_start, 1e-9)
        return end + (1 - end) * 0.5 * (1 + math.cos(math.pi * rest))

    def apply(self, epoch: int, step: int) -> float:
        lr = self.base_lr * self.factor(epoch, step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        return lr

    def end_epoch(self, val_loss: float) -> None:
        """Reduce-on-plateau bookkeeping (torch's ReduceLROnPlateau rule, relative threshold)."""
        if self.c.name != "plateau":
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
