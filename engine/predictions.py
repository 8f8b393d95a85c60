"""Collecting every test sample's prediction during the test pass (``engine.evaluation``).

Per batch only a softmax and a stable sort on the device, kept there; one copy to the host at the
end. Each rank of a distributed run evaluates its slice of every batch
(``engine.data.sources.shard_bounds``): the sample indices are rebuilt from the same bounds and
rank 0 gathers the slices (``engine.ddp.gather_to_main``) and sorts them back into the split's
order. The file and its reader are ``engine.predictions_file``'s (numpy only).
"""

from __future__ import annotations

import numpy as np
import torch

from engine import ddp
from engine.data.sources import count_batches, shard_bounds
from engine.predictions_file import TOP, Predictions, from_arrays


def rank_indices(n: int, batch_size: int, shard: tuple[int, int] | None) -> np.ndarray:
    """The split indices one rank sees, in its order, over an unshuffled pass of ``n``."""
    parts = []
    for i in range(count_batches(n, batch_size, False)):
        start = i * batch_size
        lo, hi = shard_bounds(min(batch_size, n - start), shard)
        parts.append(np.arange(start + lo, start + hi, dtype=np.int64))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


class Collector:
    """The top-k classes and probabilities of every sample of one pass, on the device."""

    def __init__(self, num_classes: int) -> None:
        self.k = min(TOP, num_classes)
        self.labels: list[torch.Tensor] = []
        self.top: list[torch.Tensor] = []
        self.prob: list[torch.Tensor] = []

    def add(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        # Classes ordered by a stable descending sort: among tied logits (bf16 on CUDA ties
        # often) the lower class comes first, so top-1 is ``argmax``'s pick, the confusion
        # matrix's (``engine.evaluation``); topk's order among ties is unspecified.
        scores = logits.float()
        top = scores.sort(dim=1, descending=True, stable=True).indices[:, : self.k]
        prob = scores.softmax(1).gather(1, top)
        self.labels.append(labels)
        self.top.append(top)
        self.prob.append(prob)

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self.labels:
            return np.zeros(0, np.int64), np.zeros((0, self.k), np.int64), np.zeros((0, self.k))
        return (
            torch.cat(self.labels).cpu().numpy(),
            torch.cat(self.top).cpu().numpy(),
            torch.cat(self.prob).cpu().numpy(),
        )

    def finish(
        self,
        n: int,
        batch_size: int,
        classes: list[str],
        epoch: int,
        dist: ddp.DistContext | None,
    ) -> Predictions | None:
        """Every sample's row, sorted by index, on rank 0 (None on the other ranks, and where
        the rows do not cover the split exactly once: better no file than a wrong one)."""
        labels, top, prob = self._arrays()
        shard = dist.shard if dist is not None else None
        index = rank_indices(n, batch_size, shard)
        mine = (index, labels, top, prob) if len(index) == len(labels) else None
        if dist is not None:
            gathered = ddp.gather_to_main(dist, mine)
            if gathered is None:
                return None
            if any(part is None for part in gathered):
                return None
            index, labels, top, prob = (np.concatenate(col) for col in zip(*gathered, strict=True))
        elif mine is None:
            return None
        if len(index) != n or not np.array_equal(np.sort(index), np.arange(n)):
            return None
        return from_arrays(index, labels, top, prob, classes, epoch)
