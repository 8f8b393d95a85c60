"""The exponential moving average of a model's weights (seed 001), and the plain model inside
the wrappers that torch.compile and DistributedDataParallel put around it."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel


class EMA:
    """An exponential moving average of the weights (and a copy of the buffers), evaluated and
    checkpointed in place of the model. The decay warms up as min(decay, (1+n)/(10+n)) so a
    short run is not dominated by the initial weights."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.module = copy.deepcopy(unwrap(model)).eval().requires_grad_(False)
        self.decay = decay
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        source = unwrap(model)
        ema_params: list[torch.Tensor] = list(self.module.parameters())
        params = [p.detach() for p in source.parameters()]
        torch._foreach_lerp_(ema_params, params, 1 - d)
        for ema_buffer, buffer in zip(self.module.buffers(), source.buffers(), strict=True):
            ema_buffer.copy_(buffer)

    def state_dict(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside ``torch.compile`` and DistributedDataParallel wrappers."""
    model = getattr(model, "_orig_mod", model)
    return model.module if isinstance(model, DistributedDataParallel) else model
