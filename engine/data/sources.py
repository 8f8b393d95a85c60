"""Where batches come from: one uint8 tensor on the device, or a DataLoader over image files.

Both yield ``(x uint8 [B, C, H, W], y int64 [B])`` on the device, so augmentation and the
train loop never know which one they read. Shuffling draws one permutation per call from the
caller's generator: the same generator state gives the same order, on any device.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler


def indexed_device(
    device: torch.device | str, current: Callable[[], int] | None = None
) -> torch.device:
    """``cuda`` as ``cuda:N`` (``current()``, default the current GPU's index). Tensors always
    report an indexed device, and ``torch.device("cuda") != torch.device("cuda:0")``: a device
    kept without its index makes every "is it there already?" test answer no."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", (current or torch.cuda.current_device)())
    return device


STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def ignore_stop_signals(worker_id: int = 0) -> None:
    """A DataLoader worker's start: it leaves the job's process group. Ctrl+C, ``timeout``,
    systemd and batch schedulers signal the whole group, and the signal is for the trainer
    (it finishes its step, writes the checkpoint and ends ``stopped``); a worker that died of
    it first would end the run with "DataLoader worker is killed by signal". A SIGTERM sent
    to the worker itself (its loader's shutdown, multiprocessing at exit) still ends it, and
    a worker whose trainer is gone exits by itself (torch watches the parent)."""
    for number in STOP_SIGNALS:
        signal.signal(number, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # a group signal held back: gone
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def workers_started_deaf() -> Iterator[None]:
    """Hold stop signals back while DataLoader workers are forked (they inherit the block
    and ignore the signals once started); a signal that arrives meanwhile reaches the
    trainer right after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


@runtime_checkable
class BatchSource(Protocol):
    def __len__(self) -> int: ...

    def num_batches(self, batch_size: int, drop_last: bool = False) -> int: ...

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        shard: tuple[int, int] | None = None,
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """Batches of ``batch_size`` in the generator's order; with ``shard=(rank, world)``
        only that rank's contiguous slice of each batch (a distributed run: every rank draws
        the same order, ``batch_size`` is the global batch; empty slices are skipped)."""
        ...

    def labels(self) -> Tensor:
        """Every label, int64 on the host, in the unshuffled order."""
        ...


def count_batches(n: int, batch_size: int, drop_last: bool) -> int:
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    return n // batch_size if drop_last else math.ceil(n / batch_size)


def shard_bounds(n: int, shard: tuple[int, int] | None) -> tuple[int, int]:
    """[lo, hi) of rank's slice of ``n`` items split over ``world`` ranks as evenly as
    ``Tensor.tensor_split`` splits them (the first ``n % world`` ranks get one more)."""
    if shard is None:
        return 0, n
    rank, world = shard
    base, extra = divmod(n, world)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


def draw_order(n: int, shuffle: bool, generator: torch.Generator | None) -> Tensor:
    """The visiting order, drawn on the generator's own device (CPU unless given otherwise)."""
    if not shuffle:
        return torch.arange(n)
    device = generator.device if generator is not None else torch.device("cpu")
    return torch.randperm(n, generator=generator, device=device)


class TensorSource:
    """The fast path: the whole split is one uint8 tensor; a batch is an index into it.

    ``images`` may live on the device (the default) or in host memory (``data.on_device=no``),
    in which case each batch is gathered on the host and copied over (pinned, for CUDA).
    """

    def __init__(self, images: Tensor, targets: Tensor, device: torch.device) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(
                f"images must be uint8 [N, C, H, W], got {images.dtype} {images.shape}"
            )
        if len(images) != len(targets):
            raise ValueError(f"{len(images)} images but {len(targets)} labels")
        self.device = indexed_device(device)
        self.images = images
        self.targets = targets.long()

    def __len__(self) -> int:
        return len(self.images)

    def num_batches(self, batch_size: int, drop_last: bool = False) -> int:
        return count_batches(len(self), batch_size, drop_last)

    def labels(self) -> Tensor:
        return self.targets.cpu()

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        shard: tuple[int, int] | None = None,
    ) -> Iterator[tuple[Tensor, Tensor]]:
        count = self.num_batches(batch_size, drop_last)
        order = (
            draw_order(len(self), shuffle, generator).to(self.images.device) if shuffle else None
        )
        for i in range(count):
            start = i * batch_size
            lo, hi = shard_bounds(min(batch_size, len(self) - start), shard)
            if lo == hi:
                continue
            if order is None:  # a slice is a view: no copy at all
                x = self.images[start + lo : start + hi]
                y = self.targets[start + lo : start + hi]
            else:
                index = order[start + lo : start + hi]
                x, y = self.images[index], self.targets[index]
            if x.device != self.device:  # (self.device has its index: engine.trainer.indexed)
                pinned = self.device.type == "cuda" and x.device.type == "cpu"
                x = (x.pin_memory() if pinned else x).to(self.device, non_blocking=pinned)
                y = (y.pin_memory() if pinned else y).to(self.device, non_blocking=pinned)
            yield x, y


class _PlannedBatches(Sampler[list[int]]):
    """A batch sampler whose plan is set before each pass; it runs in the main process, so a
    persistent DataLoader can serve any batch size and order without being rebuilt."""

    def __init__(self) -> None:
        self.plan: list[list[int]] = []

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.plan)

    def __len__(self) -> int:
        return len(self.plan)


class LoaderSource:
    """Image files through torchvision + a DataLoader: decoding and resizing run in workers.

    The dataset's items must already be fixed-size uint8 tensors (the image-folder loader's
    transform decodes, resizes and center-crops), so batches look exactly like TensorSource's.
    One pass at a time: a new ``batches`` call replans the loader's shared batch sampler.
    """

    def __init__(
        self,
        dataset: Dataset[tuple[Tensor, int]],
        targets: Sequence[int],
        device: torch.device,
        num_workers: int = 0,
    ) -> None:
        self.dataset = dataset
        self.targets = torch.as_tensor(list(targets), dtype=torch.long)
        self.device = indexed_device(device)
        self.num_workers = num_workers
        self._plan = _PlannedBatches()
        self._pin = self.device.type == "cuda" and torch.cuda.is_available()
        self._loader: DataLoader[tuple[Tensor, int]] | None = None

    def __len__(self) -> int:
        return len(self.targets)

    def num_batches(self, batch_size: int, drop_last: bool = False) -> int:
        return count_batches(len(self), batch_size, drop_last)

    def labels(self) -> Tensor:
        return self.targets.clone()

    def loader(self) -> DataLoader[tuple[Tensor, int]]:
        if self._loader is None:
            self._loader = DataLoader(
                self.dataset,
                batch_sampler=self._plan,
                num_workers=self.num_workers,
                pin_memory=self._pin,
                persistent_workers=self.num_workers > 0,
                worker_init_fn=ignore_stop_signals,
            )
        return self._loader

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        shard: tuple[int, int] | None = None,
    ) -> Iterator[tuple[Tensor, Tensor]]:
        count = self.num_batches(batch_size, drop_last)
        order = draw_order(len(self), shuffle, generator).cpu().tolist()
        plan = [order[i * batch_size : (i + 1) * batch_size] for i in range(count)]
        if shard is not None:
            plan = [batch[slice(*shard_bounds(len(batch), shard))] for batch in plan]
        self._plan.plan = [batch for batch in plan if batch]
        with workers_started_deaf():
            batches = iter(self.loader())
        for x, y in batches:
            yield (
                x.to(self.device, non_blocking=self._pin),
                y.to(self.device, non_blocking=self._pin),
            )

    def close(self) -> None:
        """Stop the persistent workers now, the way their loader stops them (a message, then
        join): at interpreter exit multiprocessing would kill them instead, and torch reports
        a killed worker with a traceback. A pass left half-read (a stopped run) holds the
        iterator alive, so garbage collection would not do it either."""
        loader, self._loader = self._loader, None
        iterator = getattr(loader, "_iterator", None)  # torch's own: stable since 1.7
        shutdown = getattr(iterator, "_shutdown_workers", None)
        if callable(shutdown):
            shutdown()


def decode_all(
    dataset: Dataset[tuple[Tensor, int]],
    shape: tuple[int, int, int],
    device: torch.device,
    num_workers: int = 0,
    batch_size: int = 256,
) -> tuple[Tensor, Tensor]:
    """Every item of a fixed-size uint8 dataset as one [N, *shape] tensor (and labels) on device."""
    loader: DataLoader[tuple[Tensor, int]] = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        worker_init_fn=ignore_stop_signals,
    )
    images, labels = (
        [torch.empty((0, *shape), dtype=torch.uint8)],
        [torch.empty(0, dtype=torch.long)],
    )
    with workers_started_deaf():
        batches = iter(loader)
    for x, y in batches:
        images.append(x)
        labels.append(y.long())
    return torch.cat(images).to(device), torch.cat(labels).to(device)
