"""The optimizer registry: each entry a description, the keys it reads, and its builder.

Like timm's optim factory, an entry carries its own behaviour (``build``) and what a form
shows about it (``description``, ``keys``, and ``always``: the keys every optimizer reads).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from engine.config import OptimConfig
from engine.errors import ConfigError
from engine.registry import Registry

# Keys that every optimizer reads: its name, the lr and weight decay of its param groups, the
# decay exemption that forms those groups, and the trainer's gradient clipping.
ALWAYS_OPTIM: tuple[str, ...] = ("name", "lr", "weight_decay", "decay_norm_and_bias", "grad_clip")

BuildFn = Callable[[list[dict[str, Any]], OptimConfig], torch.optim.Optimizer]


@dataclass(frozen=True)
class OptimizerInfo:
    name: str
    description: str
    keys: tuple[str, ...]  # optim.* keys this optimizer reads
    build: BuildFn
    always: tuple[str, ...] = ALWAYS_OPTIM  # optim.* keys shown whatever the optimizer

    @property
    def shown_keys(self) -> tuple[str, ...]:
        """Every optim.* key that matters with this optimizer, for forms."""
        return (*self.always, *(k for k in self.keys if k not in self.always))


OPTIMIZERS: Registry[OptimizerInfo] = Registry("optim.name", "optimizer")


def register_optimizer(
    name: str, description: str, keys: tuple[str, ...]
) -> Callable[[BuildFn], BuildFn]:
    """Register the decorated ``build(param_groups, config)`` under ``name``; ``keys`` are the
    optim.* keys it reads besides lr and weight_decay."""

    def wrap(fn: BuildFn) -> BuildFn:
        OPTIMIZERS.register(
            name, OptimizerInfo(name, description, ("lr", "weight_decay", *keys), fn)
        )
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
    return OPTIMIZERS.list()


def optimizer_info(name: str) -> OptimizerInfo:
    return OPTIMIZERS.get(name)


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
