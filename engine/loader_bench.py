"""Seed 003's Table 2: how long one epoch of data loading takes for each ``num_workers``.

Image folders go through the DataLoader whose workers decode and resize the files
(``engine.data.time_loader_epoch``): that is the path the workers speed up.

In-memory datasets (digits, CIFAR, MNIST, SVHN) train without a DataLoader: their batches are
slices of one uint8 tensor on the device, augmented there, so they need no workers. Timing
that path for each worker count would print the same number N times; instead the table times
the path seed 003 measured, torchvision's per-image PIL transforms (the config's crop, flip,
rotation and resize, then ToTensor + Normalize) through a DataLoader with N workers, and
adds one row for the on-device path (batches + the same augmentation) to compare with.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from engine.config import RunConfig
from engine.errors import ConfigError

DATALOADER = "dataloader"  # image files decoded by DataLoader workers
PIL_DATALOADER = "pil-dataloader"  # an in-memory dataset through per-image PIL transforms
ON_DEVICE = "on-device"  # the in-memory fast path: batch slices augmented on the device


@dataclass(frozen=True)
class LoaderTiming:
    path: str  # DATALOADER | PIL_DATALOADER | ON_DEVICE
    workers: int  # 0 for ON_DEVICE
    seconds: float  # one epoch of the train split, worker start-up included
    images: int
    images_per_s: float


def planned(in_memory: bool, workers: Sequence[int]) -> list[tuple[str, int]]:
    """The (path, workers) rows ``bench_loader`` measures, in order, before it measures them."""
    if not in_memory:
        return [(DATALOADER, n) for n in workers]
    return [(PIL_DATALOADER, n) for n in workers] + [(ON_DEVICE, 0)]


def parse_workers(text: str) -> list[int]:
    """``"0,2,4,8"`` -> [0, 2, 4, 8]; refuses anything that is not a count."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or any(v < 0 for v in values):
        raise ConfigError(
            f"--workers {text!r}: expected comma-separated worker counts, e.g. 0,2,4,8",
            "data.num_workers",
        )
    return list(dict.fromkeys(values))


class _PILDataset(Dataset[tuple[Tensor, int]]):
    """Images held as one uint8 tensor, served one by one as PIL images through transforms."""

    def __init__(self, images: Tensor, labels: Tensor, transform: Any) -> None:
        self.images, self.labels, self.transform = images, labels.tolist(), transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        from torchvision.transforms.v2 import functional as TF

        image = TF.to_pil_image(self.images[index])
        return self.transform(image), self.labels[index]


def pil_transform(config: RunConfig, mean: Sequence[float], std: Sequence[float]) -> Any:
    """The config's augmentation as torchvision per-image transforms (what seed 003 used)."""
    from torchvision.transforms import v2

    a = config.augment
    steps: list[Any] = []
    if a.crop_padding:
        steps.append(v2.RandomCrop(config_image_size(config), padding=a.crop_padding))
    if a.hflip:
        steps.append(v2.RandomHorizontalFlip())
    if a.rotation:
        steps.append(v2.RandomRotation(a.rotation))
    if a.resize:
        steps.append(v2.Resize(a.resize))
    if a.crop_size:
        steps.append(v2.CenterCrop(a.crop_size))
    steps += [v2.PILToTensor(), v2.ToDtype(torch.float32, scale=True)]
    if a.normalize != "none":
        from engine.data import IMAGENET_MEAN, IMAGENET_STD

        m, s = (IMAGENET_MEAN, IMAGENET_STD) if a.normalize == "imagenet" else (mean, std)
        steps.append(v2.Normalize(list(m), list(s)))
    return v2.Compose(steps)


def config_image_size(config: RunConfig) -> int:
    from engine.data import dataset_info

    return dataset_info(config.data).image_size


def bench_loader(
    config: RunConfig,
    workers: Sequence[int],
    device: torch.device | str = "cpu",
    on_timing: Callable[[LoaderTiming], None] | None = None,
    on_loaded: Callable[[int], None] | None = None,
) -> list[LoaderTiming]:
    """One timed epoch of ``config``'s train split per worker count (see the module doc).

    The rows come in ``planned``'s order. ``on_loaded(train_images)`` is called once the data
    is read, before the first timing; ``on_timing(row)`` as soon as each row is measured.
    """
    from engine.data import dataset_info, load_dataset, time_loader_epoch

    device = torch.device(device)
    info = dataset_info(config.data)
    batch = config.data.batch_size
    rows: list[LoaderTiming] = []

    def measured(row: LoaderTiming) -> None:
        rows.append(row)
        if on_timing is not None:
            on_timing(row)

    if not info.in_memory:
        data = dataclasses.replace(config.data, on_device="no")
        count = len(load_dataset(dataclasses.replace(data, num_workers=0), "cpu").train)
        if on_loaded is not None:
            on_loaded(count)
        for n in workers:
            seconds = time_loader_epoch(data, n, device)
            measured(LoaderTiming(DATALOADER, n, seconds, count, count / seconds))
        return rows

    from engine.data import BatchAugment, TensorSource

    bundle = load_dataset(dataclasses.replace(config.data, on_device="no"), "cpu")
    train = bundle.train
    assert isinstance(train, TensorSource)  # in-memory datasets load as one tensor
    images, labels = train.images, train.labels()
    count = len(labels)
    transform = pil_transform(config, bundle.mean, bundle.std)
    dataset = _PILDataset(images, labels, transform)
    if on_loaded is not None:
        on_loaded(count)
    for n in workers:
        generator = torch.Generator().manual_seed(0)
        start = time.perf_counter()
        loader = DataLoader(
            dataset,
            batch_size=batch,
            shuffle=True,
            num_workers=n,
            generator=generator,
            pin_memory=device.type == "cuda",
        )
        last = None
        for x, _ in loader:
            last = x.to(device, non_blocking=True)
        _sync(last)
        seconds = time.perf_counter() - start
        measured(LoaderTiming(PIL_DATALOADER, n, seconds, count, count / seconds))

    on_device = load_dataset(config.data, device)
    augment = BatchAugment(config.augment, on_device.mean, on_device.std, len(on_device.classes))
    order = torch.Generator().manual_seed(0)
    aug = torch.Generator(device=device).manual_seed(0)
    start = time.perf_counter()
    out = None
    host = device.type != "cpu"  # as the trainer: batch-level mixing draws stay on the host
    for step, (xb, yb) in enumerate(on_device.train.batches(batch, shuffle=True, generator=order)):
        out = augment.train(xb, yb, aug, step if host else None).x
    _sync(out)
    seconds = time.perf_counter() - start
    measured(LoaderTiming(ON_DEVICE, 0, seconds, count, count / seconds))
    return rows


def stream(
    config: RunConfig,
    preset: str,
    workers: Sequence[int],
    emit: Callable[[dict[str, Any]], None],
) -> list[LoaderTiming]:
    """``bench_loader`` as JSON objects for a reader that shows them as they come: first
    ``{"setup": {...}}`` (the dataset, the device, the rows planned), then one row per
    measurement (numbers as numbers; ``workers`` None for the on-device row). Both the CLI's
    ``bench loader --jsonl`` and ``python -m engine.worker bench-loader`` print these."""
    from engine.data import dataset_info
    from engine.device import pick_device

    info = dataset_info(config.data)
    device = pick_device(config.train.device)

    def loaded(train_images: int) -> None:
        rows = [
            {"path": path, "workers": None if path == ON_DEVICE else n}
            for path, n in planned(info.in_memory, workers)
        ]
        setup = {
            "preset": preset,
            "dataset": info.name,
            "in_memory": info.in_memory,
            "device": str(device),
            "batch_size": config.data.batch_size,
            "train_images": train_images,
            "workers": list(workers),
            "rows": rows,
        }
        emit({"setup": setup})

    def timed(r: LoaderTiming) -> None:
        emit(
            {
                "path": r.path,
                "workers": None if r.path == ON_DEVICE else r.workers,
                "seconds": round(r.seconds, 6),
                "images": r.images,
                "images_per_s": round(r.images_per_s, 3),
            }
        )

    # Asking for more workers than torch suggests for this machine is what the table is for:
    # its "This DataLoader will create N worker processes" (a UserWarning, like the other
    # library notes on the way) would bury the rows. Every front-end reads the rows only.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return bench_loader(config, workers, device, on_timing=timed, on_loaded=loaded)


def _sync(x: Tensor | None) -> None:
    if x is not None and x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
