"""The dataset registry: each dataset is a name, a description, its shape, and a load function.

Modelled on torchvision's ``models/_api.py``: a decorator registers a loader under a name, the UI
fills its choices from ``list_datasets()``, and ``dataset_info(cfg)`` answers "what will this
config load" without reading any pixels. The specs live in ``DATASETS``, an
``engine.registry.Registry``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from engine.config import DataConfig
from engine.registry import Registry

if TYPE_CHECKING:
    from engine.data.raw import RawSplits


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    description: str
    channels: int
    image_size: int  # square side of the images the loader yields
    num_classes: int  # 0 when only known after looking at the files (image folders)
    classes: tuple[str, ...] | None  # None when only known after loading
    has_test_split: bool  # an official test split; without one the test split is carved
    in_memory: bool  # the whole dataset is held as one uint8 tensor (no DataLoader)
    train_images: int = 0  # its published train split's size, before carving (0: unknown)


LoadFn = Callable[[DataConfig], "RawSplits"]
DescribeFn = Callable[[DataConfig, DatasetInfo], DatasetInfo]
F = TypeVar("F", bound=LoadFn)


@dataclass(frozen=True)
class DatasetSpec:
    info: DatasetInfo  # static defaults, shown in lists
    load: LoadFn  # reads the files (and downloads when allowed) into RawSplits
    describe: DescribeFn | None = None  # config-dependent info (image folders scan their root)


DATASETS: Registry[DatasetSpec] = Registry("data.name", "dataset")


def register_dataset(
    name: str,
    *,
    description: str,
    channels: int,
    image_size: int,
    num_classes: int,
    classes: Sequence[str] | None = None,
    has_test_split: bool = True,
    in_memory: bool = True,
    train_images: int = 0,
    describe: DescribeFn | None = None,
) -> Callable[[F], F]:
    """Register ``load(cfg) -> RawSplits`` under ``name``; used as a decorator."""

    def wrapper(load: F) -> F:
        info = DatasetInfo(
            name=name,
            description=description,
            channels=channels,
            image_size=image_size,
            num_classes=num_classes,
            classes=tuple(classes) if classes is not None else None,
            has_test_split=has_test_split,
            in_memory=in_memory,
            train_images=train_images,
        )
        DATASETS.register(name, DatasetSpec(info=info, load=load, describe=describe))
        return load

    return wrapper


def list_datasets() -> list[DatasetInfo]:
    """Every registered dataset with its static description, in registration order."""
    return [spec.info for spec in DATASETS.list()]


def get_spec(name: str) -> DatasetSpec:
    return DATASETS.get(name)


def dataset_info(cfg: DataConfig) -> DatasetInfo:
    """What ``cfg`` will load: cheap, reads no pixels (image folders list their class folders)."""
    spec = get_spec(cfg.name)
    info = spec.info
    if spec.describe is not None:
        info = spec.describe(cfg, info)
    if cfg.on_device == "yes" and not info.in_memory:
        info = dataclasses.replace(info, in_memory=True)
    return info
