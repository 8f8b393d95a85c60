"""What the model sees: grids of training samples per class, before and after the run's
augmentations, and the test images of a run by index (the mistakes gallery).

Built from the trainer's own pipeline: ``load_dataset`` (the same splits, the same images) and
``BatchAugment`` (``eval`` for the plain grid, ``train`` on the whole grid as one batch for the
augmented one, so mixup and cutmix mix tiles of the grid and the captions say with what and by
how much). The normalisation is undone for display (``engine.pictures.to_display``).

Runs on the CPU: a preview must not take a GPU from a trainer. The last dataset read is kept
(the Launch form redraws the preview as augmentation fields change; the data stays the same).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence

import torch
from torch import Tensor

from engine.config import DataConfig, RunConfig
from engine.data import BatchAugment, DataBundle, load_dataset
from engine.errors import UserError
from engine.pictures import GridRow, PictureGrid, Tile

PER_CLASS = 6  # tiles per class in a preview, unless asked
MAX_PER_CLASS = 32

_cache_lock = threading.Lock()
_cache: tuple[DataConfig, DataBundle] | None = None


def _bundle(cfg: DataConfig) -> DataBundle:
    """``load_dataset(cfg, "cpu")``, the last one kept."""
    global _cache
    with _cache_lock:
        if _cache is not None and _cache[0] == cfg:
            return _cache[1]
        if _cache is not None:
            _cache[1].close()
            _cache = None
        bundle = load_dataset(cfg, "cpu")
        _cache = (cfg, bundle)
        return bundle


def _take(source: object, indices: Sequence[int]) -> tuple[Tensor, Tensor]:
    """uint8 images [N, C, H, W] and labels of ``indices`` of a split (in memory or files)."""
    index = torch.as_tensor(list(indices), dtype=torch.long)
    images = getattr(source, "images", None)
    if isinstance(images, Tensor):
        targets: Tensor = source.targets  # type: ignore[attr-defined]
        return images[index.to(images.device)].cpu(), targets[index.to(targets.device)].cpu()
    # a LoaderSource: decode just these few files
    dataset = source.dataset  # type: ignore[attr-defined]
    items = [dataset[i] for i in index.tolist()]
    if not items:
        raise UserError("no images to show")
    return torch.stack([x for x, _ in items]), torch.as_tensor([int(y) for _, y in items])


def to_display(x: Tensor, mean: Sequence[float], std: Sequence[float]) -> list[Tile]:
    """Normalised float images [B, C, H, W] (what the model sees) as display tiles: the
    normalisation undone (``x * std + mean``), clipped to 0..1, one channel as grey, more
    than three as their first three."""
    x = x.detach().float().cpu()
    c = x.shape[1]
    m = torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1)
    x = (x * s + m).clamp(0.0, 1.0)
    x = x[:, :3] if c >= 3 else x[:, :1].expand(-1, 3, -1, -1)
    pixels = (x * 255.0 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    h, w = pixels.shape[1:3]
    return [Tile(int(w), int(h), bytes(p.numpy().tobytes())) for p in pixels]


def _choose(labels: Tensor, classes: int, per_class: int, seed: int) -> list[list[int]]:
    """``per_class`` indices of each class, drawn with ``seed`` (the same seed, the same
    samples: the plain and augmented grids show the same images)."""
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    chosen: list[list[int]] = [[] for _ in range(classes)]
    for i in order.tolist():
        y = int(labels[i])
        if 0 <= y < classes and len(chosen[y]) < per_class:
            chosen[y].append(i)
    return chosen


def _augment_notes(config: RunConfig) -> list[str]:
    a = config.augment
    on = []
    if a.randaugment_ops:
        on.append(f"RandAugment {a.randaugment_ops} ops, magnitude {a.randaugment_magnitude}")
    if a.crop_padding:
        on.append(f"crop (padding {a.crop_padding})")
    if a.hflip:
        on.append("flip")
    if a.rotation:
        on.append(f"rotation ±{a.rotation:g}°")
    if a.resize or a.crop_size:
        on.append(f"resize {a.resize} / center crop {a.crop_size}")
    if a.cutout_holes and a.cutout_length:
        on.append(f"cutout {a.cutout_holes}x{a.cutout_length}")
    if a.mixup_alpha:
        on.append(f"mixup alpha {a.mixup_alpha:g}")
    if a.cutmix_alpha:
        on.append(f"cutmix alpha {a.cutmix_alpha:g}")
    if a.noise_std:
        on.append(f"noise std {a.noise_std:g}")
    return on


def preview_grid(
    config: RunConfig, augmented: bool = False, seed: int = 0, per_class: int = PER_CLASS
) -> PictureGrid:
    """``per_class`` training images of each class (a row each) as the model sees them: at
    its input size and channels, plain (``augment.eval``) or through the run's augmentations
    (``augment.train``, the whole grid as one batch). Raises the DataError ``load_dataset``
    raises for missing data."""
    per_class = max(1, min(int(per_class), MAX_PER_CLASS))
    bundle = _bundle(config.data)
    classes = list(bundle.classes)
    chosen = _choose(bundle.train.labels(), len(classes), per_class, seed)
    flat = [i for row in chosen for i in row]
    if not flat:
        raise UserError(f"the training split of {config.data.name} has no images to show")
    images, labels = _take(bundle.train, flat)
    augment = BatchAugment(config.augment, bundle.mean, bundle.std, len(classes))
    c, h, w = images.shape[1:]
    notes: list[str] = []
    partners: list[int] | None = None
    lam = 1.0
    if augmented:
        generator = torch.Generator().manual_seed(seed)
        batch = augment.train(images, labels, generator)
        x = batch.x
        lam = batch.lam
        on = _augment_notes(config)
        notes.append("augmented: " + (", ".join(on) if on else "no augmentation is on"))
        if lam < 1.0:
            partners = batch.y_b.tolist()
            notes.append(
                f"mixed: each keeps {lam:.0%} of itself; a caption names the class mixed in"
            )
        elif config.augment.mixup_alpha or config.augment.cutmix_alpha:
            notes.append(f"this draw is not mixed (augment.mix_prob {config.augment.mix_prob:g})")
    else:
        x = augment.eval(images)
        notes.append("plain: no augmentation (what evaluation sees)")
    mean, std = augment.norm_stats(x.shape[1])
    pixels = to_display(x, mean, std)
    side = x.shape[-1]
    title = (
        f"{config.data.name}: {per_class} per class, {c}x{side}x{x.shape[-2]}"
        f"{'' if (h, w) == tuple(x.shape[-2:]) else f' (from {h}x{w})'}, seed {seed}"
    )
    rows: list[GridRow] = []
    k = 0
    for cls, row in enumerate(chosen):
        tiles = []
        for i in row:
            caption = ""
            if partners is not None:
                caption = f"+{classes[partners[k]]}"
            tiles.append(dataclasses.replace(pixels[k], caption=caption, index=i))
            k += 1
        rows.append(GridRow(classes[cls], tuple(tiles)))
    return PictureGrid(title, tuple(rows), tuple(notes))


def split_tiles(config: RunConfig, split: str, indices: Sequence[int]) -> list[Tile]:
    """The images at ``indices`` of a split (``test``, ``val``, ``train``) as evaluation sees
    them (``augment.eval``), each with its index; its classes come with ``split_classes``."""
    bundle = _bundle(config.data)
    source = {"train": bundle.train, "val": bundle.val, "test": bundle.test}.get(split)
    if source is None:
        raise UserError(f"no {split!r} split: use test, val or train")
    size = len(source)  # type: ignore[arg-type]
    bad = [i for i in indices if not 0 <= int(i) < size]
    if bad:
        raise UserError(
            f"image {bad[0]} is not in the {split} split of {config.data.name} "
            f"({size} images): the run's data changed since it ran?"
        )
    if not indices:
        return []
    images, _ = _take(source, indices)
    augment = BatchAugment(config.augment, bundle.mean, bundle.std, len(bundle.classes))
    x = augment.eval(images)
    mean, std = augment.norm_stats(x.shape[1])
    tiles = to_display(x, mean, std)
    return [dataclasses.replace(t, index=int(i)) for t, i in zip(tiles, indices, strict=True)]
