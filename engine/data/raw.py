"""What a dataset's load function returns, before splitting and placing on a device."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor
from torch.utils.data import Dataset


@dataclass
class ArraySplits:
    """A dataset small enough to hold as uint8 tensors on the host."""

    classes: list[str]
    train_x: Tensor  # uint8 [N, C, H, W]
    train_y: Tensor  # int64 [N]
    test_x: Tensor | None = None  # None: no official test split, one is carved from train
    test_y: Tensor | None = None
    val_x: Tensor | None = None  # None: val is carved from train (data.val_fraction)
    val_y: Tensor | None = None
    notes: list[str] = field(default_factory=list)  # for the run's log
    report: dict[str, Any] = field(default_factory=dict)  # for the run's record


@dataclass
class FolderSplits:
    """An image-folder dataset: items are (uint8 [C, S, S] tensor, class index)."""

    classes: list[str]
    image_size: int
    train: Dataset[tuple[Tensor, int]]
    train_targets: list[int]
    val: Dataset[tuple[Tensor, int]] | None = None  # its own val/ folder, else carved
    val_targets: list[int] | None = None
    test: Dataset[tuple[Tensor, int]] | None = None
    test_targets: list[int] | None = None
    notes: list[str] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)


RawSplits = ArraySplits | FolderSplits
