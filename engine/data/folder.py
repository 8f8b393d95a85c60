"""Kaggle-style image folders through torchvision's ImageFolder.

Layout: ``data.root/train/<class>/<images>``, optional ``val/`` and ``test/`` beside it with
(a subset of) the same class folders. Images are decoded in DataLoader workers and resized
(short side) + center-cropped to ``data.image_size`` as uint8, so their batches match the
in-memory datasets' and the same device-side augmentation applies.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from torchvision.datasets import ImageFolder
from torchvision.transforms import v2

from engine.config import DataConfig
from engine.data.raw import FolderSplits
from engine.data.registry import DatasetInfo, register_dataset
from engine.errors import DataError

DEFAULT_IMAGE_SIZE = 224  # data.image_size = 0: the size ImageNet-pretrained backbones expect
LAYOUT = "train/<class>/<image files>, with optional val/ and test/ holding the same class folders"


def image_size(cfg: DataConfig) -> int:
    return cfg.image_size or DEFAULT_IMAGE_SIZE


def fixed_size_transform(size: int) -> v2.Compose:
    """Decoded PIL image -> uint8 [3, size, size]: short side to ``size``, then the center."""
    return v2.Compose([v2.Resize(size), v2.CenterCrop(size), v2.PILToTensor()])


def _class_folders(path: str) -> list[str]:
    return sorted(e.name for e in os.scandir(path) if e.is_dir() and not e.name.startswith("."))


def folder_layout(cfg: DataConfig) -> tuple[list[str], dict[str, str]]:
    """(train classes, {split: path}) after checking the layout; reads no image."""
    root = os.path.abspath(cfg.root)
    if not os.path.isdir(root):
        raise DataError(
            f"data.root: image folder '{root}' does not exist. Expected {LAYOUT}. "
            "Point data.root at it (--set data.root=PATH)."
        )
    train = os.path.join(root, "train")
    if not os.path.isdir(train):
        raise DataError(f"data.root: '{root}' has no train/ folder. Expected {LAYOUT}.")
    classes = _class_folders(train)
    if not classes:
        raise DataError(
            f"data.root: '{train}' holds no class folders; put each class's images in "
            "train/<class name>/."
        )
    paths = {"train": train}
    for split in ("val", "test"):
        path = os.path.join(root, split)
        if not os.path.isdir(path):
            continue
        found = _class_folders(path)
        if not found:
            raise DataError(
                f"data.root: '{path}' has no class folders: {split} images need labels, so put "
                f"them in {split}/<class name>/ (or rename the folder so it is not read)."
            )
        extra = sorted(set(found) - set(classes))
        if extra:
            raise DataError(
                f"data.root: '{path}' has class folders that train/ lacks: {', '.join(extra)}. "
                f"Every {split}/ class must also be a train/ class."
            )
        paths[split] = path
    return classes, paths


def describe_folder(cfg: DataConfig, info: DatasetInfo) -> DatasetInfo:
    classes, paths = folder_layout(cfg)
    return dataclasses.replace(
        info,
        image_size=image_size(cfg),
        num_classes=len(classes),
        classes=tuple(classes),
        has_test_split="test" in paths,
    )


class _ImageFolder(ImageFolder):
    """ImageFolder that can be told the class list (val/ and test/ use train/'s indices)."""

    def __init__(self, root: str, classes: list[str] | None, transform: Any) -> None:
        self._given = classes
        super().__init__(root, transform=transform, allow_empty=classes is not None)

    def find_classes(self, directory: Any) -> tuple[list[str], dict[str, int]]:
        if self._given is None:
            return super().find_classes(directory)
        return list(self._given), {name: i for i, name in enumerate(self._given)}


def _read(path: str, classes: list[str] | None, size: int) -> _ImageFolder:
    try:
        return _ImageFolder(path, classes, fixed_size_transform(size))
    except (FileNotFoundError, OSError) as error:
        raise DataError(f"data.root: cannot read the images in '{path}': {error}") from error


@register_dataset(
    "imagefolder",
    description="Your own images, Kaggle style: data.root/" + LAYOUT + ". Decoded by DataLoader "
    f"workers, resized and center-cropped to data.image_size (0 = {DEFAULT_IMAGE_SIZE}, "
    "the size of ImageNet-pretrained backbones).",
    channels=3,
    image_size=DEFAULT_IMAGE_SIZE,
    num_classes=0,
    has_test_split=False,
    in_memory=False,
    describe=describe_folder,
)
def load_imagefolder(cfg: DataConfig) -> FolderSplits:
    classes, paths = folder_layout(cfg)
    size = image_size(cfg)
    train = _read(paths["train"], None, size)
    splits = FolderSplits(classes, size, train, list(train.targets))
    if "val" in paths:
        val = _read(paths["val"], classes, size)
        splits.val, splits.val_targets = val, list(val.targets)
    if "test" in paths:
        test = _read(paths["test"], classes, size)
        splits.test, splits.test_targets = test, list(test.targets)
    return splits
