"""Reproducible stratified splits and per-channel statistics of uint8 image tensors."""

from __future__ import annotations

import torch
from torch import Tensor


def stratified_order(labels: Tensor, generator: torch.Generator) -> Tensor:
    """A random order of ``range(len(labels))`` whose every prefix is (nearly) class-balanced.

    Each sample gets the key (rank within its class + 0.5) / class size after a random shuffle;
    sorting by that key interleaves the classes, so the first k indices are a stratified sample
    of exactly k items.
    """
    labels = labels.cpu()
    n = len(labels)
    if n == 0:
        return torch.zeros(0, dtype=torch.long)
    perm = torch.randperm(n, generator=generator)
    shuffled = labels[perm]
    by_class = torch.argsort(shuffled, stable=True)
    counts = torch.bincount(shuffled)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty(n, dtype=torch.long)
    rank[by_class] = torch.arange(n) - starts[shuffled[by_class]]
    key = (rank.double() + 0.5) / counts[shuffled].double()
    return perm[torch.argsort(key, stable=True)]


def split_indices(labels: Tensor, fractions: list[float], seed: int) -> tuple[list[Tensor], Tensor]:
    """Carve stratified parts of ``round(f * len(labels))`` items each; returns (parts, rest).

    Every index list is sorted, so the parts keep the dataset's own order. The same labels and
    seed give the same split on any machine.
    """
    generator = torch.Generator().manual_seed(seed)
    order = stratified_order(labels, generator)
    n = len(labels)
    parts: list[Tensor] = []
    start = 0
    for fraction in fractions:
        count = min(int(round(fraction * n)), n - start)
        parts.append(order[start : start + count].sort().values)
        start += count
    return parts, order[start:].sort().values


def channel_stats(images: Tensor, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 [N, C, H, W] images on the 0..1 scale."""
    channels = images.shape[1]
    if len(images) == 0:
        return (0.0,) * channels, (1.0,) * channels
    # float32 sums per chunk, float64 totals on the host (MPS has no float64)
    total = torch.zeros(channels, dtype=torch.float64)
    total_sq = torch.zeros(channels, dtype=torch.float64)
    for start in range(0, len(images), chunk):
        part = images[start : start + chunk].float().div_(255.0)
        total += part.sum(dim=(0, 2, 3)).double().cpu()
        total_sq += part.square().sum(dim=(0, 2, 3)).double().cpu()
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    std = (total_sq / count - mean.square()).clamp_min(0).sqrt().clamp_min(1e-6)
    return tuple(mean.tolist()), tuple(std.tolist())
