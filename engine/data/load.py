"""``load_dataset``: splits, statistics and batch sources for one ``DataConfig``."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset, Subset

from engine.config import DataConfig
from engine.data.raw import ArraySplits, FolderSplits
from engine.data.registry import DatasetInfo, dataset_info, get_spec
from engine.data.sources import BatchSource, LoaderSource, TensorSource, decode_all
from engine.data.splits import channel_stats, split_indices

STATS_SAMPLE = 1024  # image folders read from disk: mean/std from this many train images


@dataclass
class DataBundle:
    info: DatasetInfo
    classes: list[str]
    mean: tuple[float, ...]  # per-channel train mean on the 0..1 scale
    std: tuple[float, ...]
    train: BatchSource
    val: BatchSource  # carved from train by data.val_fraction (may be empty when it is 0)
    test: BatchSource | None  # the official test split; carved when the dataset has none
    notes: list[str] = dataclasses.field(default_factory=list)  # for the run's log
    report: dict[str, Any] = dataclasses.field(default_factory=dict)  # for the run's record

    def close(self) -> None:
        """Stop what reads the files (DataLoader workers); in-memory splits hold none."""
        for source in (self.train, self.val, self.test):
            close = getattr(source, "close", None)
            if callable(close):
                close()


def load_dataset(cfg: DataConfig, device: torch.device | str) -> DataBundle:
    """Read ``cfg``'s dataset, split it reproducibly, and place it for ``device``.

    Raises ConfigError for an unknown name and DataError for missing or unreadable files.
    """
    device = torch.device(device)
    info = dataset_info(cfg)
    raw = get_spec(cfg.name).load(cfg)
    if isinstance(raw, ArraySplits):
        bundle = _from_arrays(raw, cfg, device, info)
    else:
        bundle = _from_folders(raw, cfg, device, info)
    bundle.info = dataclasses.replace(
        bundle.info, classes=tuple(bundle.classes), num_classes=len(bundle.classes)
    )
    bundle.notes, bundle.report = list(raw.notes), dict(raw.report)
    return bundle


def _from_arrays(
    raw: ArraySplits, cfg: DataConfig, device: torch.device, info: DatasetInfo
) -> DataBundle:
    x, y = raw.train_x, raw.train_y
    carve = []  # what the dataset does not bring itself is carved from train, stratified
    if raw.test_x is None or raw.test_y is None:
        carve.append(cfg.test_fraction)
    if raw.val_x is None or raw.val_y is None:
        carve.append(cfg.val_fraction)
    parts, train_idx = split_indices(y, carve, cfg.split_seed)
    carved = iter(parts)
    if raw.test_x is None or raw.test_y is None:
        test_idx = next(carved)
        test_x, test_y = x[test_idx], y[test_idx]
    else:
        test_x, test_y = raw.test_x, raw.test_y
    if raw.val_x is None or raw.val_y is None:
        val_idx = next(carved)
        val_x, val_y = x[val_idx], y[val_idx]
    else:
        val_x, val_y = raw.val_x, raw.val_y
    # on_device "no" keeps the uint8 tensors in host memory and copies each batch over
    place = torch.device("cpu") if cfg.on_device == "no" else device

    def source(images: Tensor, labels: Tensor) -> TensorSource:
        return TensorSource(images.to(place), labels.to(place), device)

    train = source(x[train_idx], y[train_idx])
    mean, std = channel_stats(train.images)
    return DataBundle(
        info=info,
        classes=list(raw.classes),
        mean=mean,
        std=std,
        train=train,
        val=source(val_x, val_y),
        test=source(test_x, test_y),
    )


def _from_folders(
    raw: FolderSplits, cfg: DataConfig, device: torch.device, info: DatasetInfo
) -> DataBundle:
    targets = torch.as_tensor(raw.train_targets, dtype=torch.long)
    has_val = raw.val is not None and raw.val_targets is not None
    has_test = raw.test is not None and raw.test_targets is not None
    # what the folder does not bring itself is carved from train, stratified (as for arrays)
    carve = ([] if has_test else [cfg.test_fraction]) + ([] if has_val else [cfg.val_fraction])
    parts, train_idx = split_indices(targets, carve, cfg.split_seed)
    carved = iter(parts)

    def part(index: Tensor) -> tuple[Dataset[tuple[Tensor, int]], list[int]]:
        return Subset(raw.train, index.tolist()), targets[index].tolist()

    test_part = (raw.test, raw.test_targets) if has_test else part(next(carved))
    val_ds, val_targets = (raw.val, raw.val_targets) if has_val else part(next(carved))
    train_ds, train_targets = part(train_idx)
    shape = (info.channels, raw.image_size, raw.image_size)
    workers = cfg.num_workers

    in_memory = cfg.on_device == "yes"  # decode every image once, then hold one tensor

    def source(ds: Dataset[tuple[Tensor, int]], labels: list[int]) -> BatchSource:
        if in_memory:
            return TensorSource(*decode_all(ds, shape, device, workers), device)
        return LoaderSource(ds, labels, device, workers)

    train = source(train_ds, train_targets)
    if isinstance(train, TensorSource):
        mean, std = channel_stats(train.images)
    else:  # a stratified sample: reading every file twice would double the start-up time
        (sample,), _ = split_indices(
            torch.as_tensor(train_targets, dtype=torch.long),
            [min(1.0, STATS_SAMPLE / max(1, len(train_targets)))],
            cfg.split_seed,
        )
        images, _ = decode_all(Subset(train_ds, sample.tolist()), shape, device, workers)
        mean, std = channel_stats(images)
    test = source(*test_part)  # type: ignore[arg-type]
    return DataBundle(
        info=info,
        classes=list(raw.classes),
        mean=mean,
        std=std,
        train=train,
        val=source(val_ds, val_targets),  # type: ignore[arg-type]
        test=test,
    )


def data_stats(images: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel (mean, std) of uint8 [N, C, H, W] images on the 0..1 scale."""
    return channel_stats(images)


def time_loader_epoch(
    cfg: DataConfig, num_workers: int, device: torch.device | str = "cpu"
) -> float:
    """Seconds to read one epoch of ``cfg``'s train split with ``num_workers`` loader workers
    (worker start-up included; in-memory datasets ignore the workers). For bench/."""
    bundle = load_dataset(dataclasses.replace(cfg, num_workers=num_workers), device)
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    last = None
    for x, _ in bundle.train.batches(cfg.batch_size, shuffle=True, generator=generator):
        last = x
    if last is not None and last.device.type == "cuda":
        torch.cuda.synchronize(last.device)
    return time.perf_counter() - start
