"""The checks a run must pass before it exists, that need torch: the registries, the model built
for the data, the data itself, the batch against the training split, the device, the disk.

``check_config`` is the single definition of "this config can train here". Every front-end
reaches it through ``engine.api.check_run`` (the console through its helper process, which
keeps torch out of the console), so the CLI and the console refuse the same requests with the
same words, before anything is written to the store.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from engine.answers import RunCheck
from engine.config import OWN_DATASETS, DataConfig, RunConfig
from engine.data import BatchAugment, dataset_info, load_dataset
from engine.device import pick_device
from engine.errors import ConfigError, PlanError, UserError
from engine.models import count_params, model_info
from engine.models.build import build_model
from engine.optim import optimizer_info, schedule_info
from engine.sweep.spec import SweepSpec

DISK_MARGIN_BYTES = 64 * 2**20


def check_names(config: RunConfig) -> None:
    """The registry names of a config: every unknown one at once (PlanError), else nothing."""
    problems: list[ConfigError] = []
    for check in (
        lambda: model_info(config.model.name),
        lambda: optimizer_info(config.optim.name),
        lambda: schedule_info(config.schedule.name),
        lambda: dataset_info(config.data),
        lambda: pick_device(config.train.device),
    ):
        try:
            check()
        except ConfigError as exc:
            problems.append(exc)
    if problems:
        raise PlanError(problems)


def check_sweep_names(spec: SweepSpec) -> None:
    """Refuse swept names the registries do not know (an unknown optimizer, model, ...)."""
    registries: dict[str, Callable[[Any], object]] = {
        "optim.name": optimizer_info,
        "schedule.name": schedule_info,
        "model.name": model_info,
        "data.name": lambda name: dataset_info(DataConfig(**{**spec.base["data"], "name": name})),
    }
    for p in spec.params:
        check = registries.get(p.key)
        if check is None:
            continue
        for value in p.values:
            try:
                check(value)
            except ConfigError as exc:
                flag = "--grid" if p.kind == "grid" else "--choice"
                raise ConfigError(f"{flag} {p.key}={value}: {exc}", p.key) from exc


def check_config(config: RunConfig, store_root: str | Path | None = None) -> RunCheck:
    """Refuse what only the registries, the data, the device or the disk can refuse (unknown
    names, an architecture that does not fit the images, missing data, a batch larger than the
    training split, a device this machine lacks, a disk too full for the checkpoints) before a
    run is created, so that a bad request leaves no trace in the store. Loads the dataset
    (downloading it if allowed)."""
    check_names(config)
    device = pick_device(config.train.device)
    info = dataset_info(config.data)
    built = build_model(config, info)
    model, size = built.model, built.input_size
    # Missing files (or a download that cannot happen) fail here, before the run exists;
    # a dataset that needs downloading is fetched now, in the foreground.
    # Your own images are not decoded here (the run decodes them once, and says so): the
    # header scan has counted and checked them, two images go through the model below.
    own = config.data.name in OWN_DATASETS
    data = dataclasses.replace(config.data, decode="stream", num_workers=0) if own else config.data
    bundle = load_dataset(data, "cpu")
    if bundle.train.num_batches(config.data.batch_size, True) < 1:
        raise ConfigError(
            f"data.batch_size: {config.data.batch_size} is larger than the {len(bundle.train)} "
            "training images; use a smaller batch",
            "data.batch_size",
        )
    # Two images through the augmentation and the model: what only shows on real batches.
    x, y = next(iter(bundle.train.batches(2, shuffle=False)))
    augment = BatchAugment(config.augment, bundle.mean, bundle.std, len(bundle.classes))
    augment.train(x, y, torch.Generator().manual_seed(0))
    sample = augment.eval(x)
    model.eval()
    try:
        with torch.no_grad():
            model(sample)
    except RuntimeError as exc:
        raise ConfigError(
            f"model.name: {config.model.name} does not fit the {info.channels}x{size}x{size} "
            f"images of {config.data.name} ({first_line(exc)})",
            "model.name",
        ) from exc
    total = count_params(model, trainable_only=False)
    if store_root is not None:
        check_disk(Path(store_root), total)
    return RunCheck(
        warnings=tuple(input_warnings(config, info.image_size, size)),
        params=count_params(model),
        total_params=total,
        channels=info.channels,
        image_size=size,
        num_classes=len(bundle.classes),
        dataset=info.name,
        train_images=len(bundle.train),
        device=str(device),
    )


UPSCALE_WARNING = 20  # the model's input has this many times the images' pixels, or more


def input_warnings(config: RunConfig, data_side: int, model_side: int) -> list[str]:
    """An input much larger than the data costs each step that much more for no more detail;
    only a pretrained backbone (ImageNet's 224) is a reason for it."""
    if not data_side or model_side <= data_side or config.model.pretrained:
        return []
    ratio = (model_side / data_side) ** 2
    if ratio < UPSCALE_WARNING:
        return []
    return [
        f"the model sees {model_side}x{model_side} inputs made from {data_side}x{data_side} "
        f"images: {ratio:.0f}x the pixels, so each step costs about that much more for no more "
        "detail; augment.resize=0 and augment.crop_size=0 keep the images' own size (a "
        "pretrained backbone, model.pretrained, is the reason to upscale)"
    ]


def checkpoint_bytes(total_params: int) -> int:
    """A generous estimate of what a run writes: best.pt and last.pt, each with the weights,
    up to two optimizer slots per weight and an EMA copy, plus the temporary file of a write."""
    return total_params * 4 * 4 * 3


def check_disk(store_root: Path, total_params: int) -> None:
    """Refuse a run whose checkpoints cannot fit on the disk of the run store."""
    folder = store_root
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the store may not exist yet: ask its nearest existing parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # the store's own write then reports the problem
    need = checkpoint_bytes(total_params) + DISK_MARGIN_BYTES
    if free < need:
        raise UserError(
            f"the disk of the run store {store_root} has {free / 2**20:,.0f} MiB free; a run of "
            f"this model writes up to {need / 2**20:,.0f} MiB of checkpoints: free some space "
            "or move the store (--runs-dir / RESNET_TUI_RUNS)"
        )


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line[:300]
