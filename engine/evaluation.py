"""Evaluation of a trainer's model over a whole split, and the test pass that ends a run.

Kept apart from ``engine.trainer``'s loop: ``evaluate`` runs every epoch on the validation split,
``finish`` once at the end, on the kept (best) checkpoint's weights.
"""

from __future__ import annotations

import dataclasses
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from engine import ddp
from engine.calibration import calibrate
from engine.checkpoint import load_checkpoint
from engine.config import RunConfig
from engine.data import DataBundle
from engine.data.augment import BatchAugment
from engine.ema import EMA, unwrap
from engine.errors import CheckpointError
from engine.events import FitDone
from engine.predictions import Collector


class Trainer(Protocol):
    """What evaluation reads of ``engine.trainer.Trainer`` (which imports this module)."""

    config: RunConfig
    bundle: DataBundle
    classes: list[str]
    device: torch.device
    channels_last: bool
    augment: BatchAugment
    dist: ddp.DistContext | None
    model: nn.Module
    ema: EMA | None
    epoch: int
    best: dict[str, float]
    best_epoch: int

    @property
    def eval_model(self) -> nn.Module: ...

    def evaluate(
        self, source: Any, model: nn.Module | None = None, keep: bool = False
    ) -> dict[str, Any]: ...

    def _shard(self) -> dict[str, Any]: ...

    def _autocast(self) -> AbstractContextManager[Any]: ...

    def _sum_over_ranks(
        self, loss_sum: torch.Tensor, correct: torch.Tensor, seen: int
    ) -> tuple[torch.Tensor, torch.Tensor, int]: ...


@torch.no_grad()
def evaluate(
    trainer: Trainer, source: Any, model: nn.Module | None = None, keep: bool = False
) -> dict[str, Any]:
    """Loss, accuracy and the confusion matrix (rows: true class) over a whole split; with
    ``keep``, also every sample's prediction (``predictions``: on rank 0, None elsewhere)."""
    t = trainer
    model = model or t.eval_model
    model.eval()
    k = len(t.classes)
    loss_sum = torch.zeros((), device=t.device)
    confusion = torch.zeros(k * k, device=t.device, dtype=torch.long)
    seen = 0
    kept = Collector(k) if keep else None
    batch_size = t.config.data.eval_batch_size
    for xb, yb in source.batches(batch_size, shuffle=False, generator=None, **t._shard()):
        x = t.augment.eval(xb)
        if t.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with t._autocast():
            logits = tta(t.config.train.tta, model, x)
        loss_sum += F.cross_entropy(logits.float(), yb, reduction="sum")
        confusion += torch.bincount(yb * k + logits.argmax(1), minlength=k * k)
        seen += yb.shape[0]
        if kept is not None:
            kept.add(logits, yb)
    if t.dist is not None:  # each rank evaluated its shard: add them up
        loss_sum, _, seen = t._sum_over_ranks(loss_sum, torch.zeros(()), seen)
        ddp.all_reduce_tensor(t.dist, confusion)
    matrix = confusion.view(k, k).cpu()
    out = {
        "loss": float(loss_sum) / max(seen, 1),
        "acc": float(matrix.diag().sum()) / max(seen, 1),
        "confusion": matrix.tolist(),
    }
    if kept is not None:
        out["predictions"] = kept.finish(len(source), batch_size, t.classes, t.epoch, t.dist)
    return out


def tta(mode: str, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Test-time augmentation (airbench): average over mirrored and 1-pixel shifted views."""
    if mode == "none":
        return model(x)
    logits = 0.5 * (model(x) + model(x.flip(-1)))
    if mode == "flip-translate":
        h, w = x.shape[-2:]
        padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
        shifted = [padded[..., :h, :w], padded[..., 2 : h + 2, 2 : w + 2]]
        moved = sum(0.5 * (model(v) + model(v.flip(-1))) for v in shifted) / 2
        logits = 0.5 * logits + 0.5 * moved
    return logits


def finish(trainer: Trainer, done: FitDone, checkpoint_dir: Path | None) -> FitDone:
    """Test the best checkpoint (restored into the model) and report the confusion matrices."""
    t = trainer
    confusion: dict[str, Any] = {"classes": t.classes}
    best_path = checkpoint_dir / "best.pt" if checkpoint_dir else None
    tested, message = t.best_epoch, done.message
    if best_path is not None and best_path.exists():
        try:
            state = load_checkpoint(best_path)
        except CheckpointError as exc:  # damaged since it was written: do not fail the run
            tested = t.epoch
            message += f"; {exc}, so the weights of epoch {t.epoch} were tested instead"
        else:
            unwrap(t.model).load_state_dict(state["model"])
            if t.ema is not None and "ema" in state:
                t.ema.load_state_dict(state["ema"])
    if t.dist is not None:  # only rank 0 has best.pt: all ranks test its weights
        ddp.broadcast_module(t.dist, unwrap(t.model))
        if t.ema is not None:
            ddp.broadcast_module(t.dist, t.ema.module)
    if t.best_epoch:
        val = t.evaluate(t.bundle.val)
        confusion["val"] = {"epoch": tested, "matrix": val["confusion"]}
    test: dict[str, float] = {}
    kept = None
    if t.bundle.test is not None and t.best_epoch:
        result = t.evaluate(t.bundle.test, keep=True)
        test = {"test_loss": result["loss"], "test_acc": result["acc"]}
        kept = result["predictions"]
        if kept is not None:
            kept = dataclasses.replace(kept, epoch=tested)
            test["test_ece"] = calibrate(kept.confidence, kept.correct).ece
        confusion["test"] = {"epoch": tested, "matrix": result["confusion"]}
        matrix = torch.tensor(result["confusion"], dtype=torch.float)
        per_class = (matrix.diag() / matrix.sum(1).clamp(min=1)).tolist()
        confusion["per_class_acc"] = dict(zip(t.classes, per_class, strict=True))
    best = dict(t.best, best_epoch=t.best_epoch)
    return FitDone(done.status, message, done.epoch, best, test, confusion, kept)
