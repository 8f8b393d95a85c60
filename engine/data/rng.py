"""Random draws from a caller's generator, delivered on the data's device.

Drawing on the generator's own device keeps every draw reproducible from that generator alone,
whether the trainer hands a CUDA generator (no copies) or a CPU one (a small copy per draw).
"""

from __future__ import annotations

import torch
from torch import Tensor


def uniform(shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> Tensor:
    return torch.rand(shape, generator=generator, device=generator.device).to(device)


def randint(
    low: int, high: int, shape: tuple[int, ...], generator: torch.Generator, device: torch.device
) -> Tensor:
    """Integers in [low, high)."""
    return torch.randint(low, high, shape, generator=generator, device=generator.device).to(device)


def normal(
    shape: tuple[int, ...], generator: torch.Generator, device: torch.device, dtype: torch.dtype
) -> Tensor:
    return torch.randn(shape, generator=generator, device=generator.device, dtype=dtype).to(device)


def permutation(n: int, generator: torch.Generator, device: torch.device) -> Tensor:
    return torch.randperm(n, generator=generator, device=generator.device).to(device)
