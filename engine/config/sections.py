"""The six sections of a run configuration, each field with its help, range and choices.

A field's metadata (``meta(...)``) is the one place its rules live: validation, the CLI's
help, ``presets show``, the console's form and the catalog all read it through
``field_infos()``. Rules that tie several keys together live in ``engine.config.run``.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any

from engine.config.meta import FieldInfo, meta
from engine.errors import ConfigError, nearest

FRACTION = "a probability/fraction"  # the noun of the [0, 1] ranges in messages


@dataclass(frozen=True)
class ModelConfig:
    name: str = field(
        default="resnet-digits",
        metadata=meta("a name from engine.models.list_models()", registry="models"),
    )
    # Everything below left at None takes the named model's own default.
    block: str | None = field(
        default=None,
        metadata=meta(
            "residual block: two FxF convs (basic) or 1x1, FxF, 1x1 x4 (bottleneck)",
            choices=("basic", "bottleneck"),
        ),
    )
    layers: list[int] | None = field(
        default=None, metadata=meta("B_i: blocks per stage (seed 003)", min=1)
    )
    channels: list[int] | None = field(
        default=None, metadata=meta("C_i: output channels per stage", min=1)
    )
    kernel_sizes: list[int] | None = field(
        default=None, metadata=meta("F_i: conv kernel per stage", min=1)
    )
    skip_kernel_sizes: list[int] | None = field(
        default=None, metadata=meta("K_i: shortcut conv kernel per stage", min=1)
    )
    pool_size: int | None = field(
        default=None, metadata=meta("P: final average-pool kernel (0: global average pool)", min=0)
    )
    groups: int | None = field(default=None, metadata=meta("ResNeXt cardinality", min=1))
    width_per_group: int | None = field(
        default=None, metadata=meta("64 = plain ResNet; 128 = wide ResNet", min=1)
    )
    dilation: list[bool] | None = field(
        default=None, metadata=meta("replace stride with dilation, per stage after the first")
    )
    stem_type: str | None = field(
        default=None,
        metadata=meta(
            "cifar: 3x3; imagenet: 7x7/2 + max-pool; deep: ResNet-D's three 3x3",
            choices=("cifar", "imagenet", "deep"),
        ),
    )
    stem_width: int | None = field(
        default=None, metadata=meta("channels of the stem (64 or 128 in seed 001)", min=1)
    )
    avg_down: bool | None = field(
        default=None, metadata=meta("ResNet-D avg-pool shortcut on downsampling blocks")
    )
    se_ratio: float | None = field(
        default=None,
        metadata=meta(
            "squeeze-excitation reduction ratio (0.25 in seed 001), 0 = off",
            min=0,
            max=1,
            noun="a ratio",
        ),
    )
    drop_rate: float = field(
        default=0.0, metadata=meta("dropout before the classifier", min=0, max=1, noun=FRACTION)
    )
    act: str = field(
        default="relu",
        metadata=meta("activation; none: seed 002's ablation", choices=("relu", "none")),
    )
    norm: str = field(
        default="batch",
        metadata=meta("normalisation layers; none: seed 002's ablation", choices=("batch", "none")),
    )
    skip: bool = field(
        default=True, metadata=meta("False removes the residual connections (ablation)")
    )
    pretrained: bool = field(
        default=False, metadata=meta("transfer backbones: start from ImageNet weights")
    )
    weights_path: str = field(
        default="", metadata=meta("a local weights file instead of downloading")
    )
    freeze_backbone: bool = field(
        default=False, metadata=meta("fixed feature extractor: only the new classifier trains")
    )
    backbone_lr_scale: float = field(
        default=1.0, metadata=meta("lr multiplier for the backbone when fine-tuning", min=0)
    )


# data.name values that are the user's own images (engine.data.folder reads them)
OWN_DATASETS = ("imagefolder", "csv")


@dataclass(frozen=True)
class DataConfig:
    name: str = field(
        default="digits",
        metadata=meta("a name from engine.data.list_datasets()", registry="datasets"),
    )
    root: str = field(
        default="data", metadata=meta("where torchvision datasets / the image folder live")
    )
    download: bool = field(
        default=True, metadata=meta("download torchvision datasets where the network allows")
    )
    val_fraction: float = field(
        default=0.1, metadata=meta("carved from train with split_seed", min=0, max=1, noun=FRACTION)
    )
    test_fraction: float = field(
        default=0.2,
        metadata=meta(
            "only for datasets without a test split (digits)", min=0, max=1, noun=FRACTION
        ),
    )
    split_seed: int = field(default=0, metadata=meta("seed of the train/val/test split"))
    batch_size: int = field(
        default=128,
        metadata=meta("the global batch: split evenly over train.devices processes", min=1),
    )
    eval_batch_size: int = field(
        default=512, metadata=meta("batch size for evaluation (no gradients: can be larger)", min=1)
    )
    num_workers: int = field(
        default=2, metadata=meta("image folders only: the in-memory path needs none", min=0)
    )
    image_size: int = field(
        default=0,
        metadata=meta(
            "image folders: resize to this square size (0 = the images' own size)", min=0
        ),
    )
    csv: str = field(
        default="labels.csv",
        metadata=meta(
            "data.name=csv: the file,label[,split] table (in data.root unless absolute); "
            "files relative to data.root"
        ),
    )
    decode: str = field(
        default="auto",
        metadata=meta(
            "image folders: once = decode every file once (cached) and train from memory; "
            "stream = decode in DataLoader workers each epoch; auto = once when it fits "
            "data.memory_mb",
            choices=("auto", "once", "stream"),
        ),
    )
    memory_mb: int = field(
        default=0,
        metadata=meta(
            "image folders: the most a decoded folder may take (0 = a quarter of the memory "
            "it goes to)",
            min=0,
        ),
    )
    cache_dir: str = field(
        default="",
        metadata=meta(
            "image folders: where decoded folders are cached (empty = ~/.cache/resnet-tui)"
        ),
    )
    on_device: str = field(
        default="auto",
        metadata=meta(
            "the dataset as uint8 on the device: auto for in-memory sets, yes decodes image "
            "folders too, no keeps it in host memory",
            choices=("auto", "yes", "no"),
        ),
    )


@dataclass(frozen=True)
class AugmentConfig:
    crop_padding: int = field(
        default=0,
        metadata=meta("random crop with this zero padding (4 for CIFAR); 0 = off", min=0),
    )
    hflip: bool = field(default=False, metadata=meta("flip half the images left-right"))
    rotation: float = field(default=0.0, metadata=meta("max degrees either way; 0 = off", min=0))
    resize: int = field(
        default=0,
        metadata=meta(
            "resize the short side then center-crop to crop_size (transfer: 256/224)", min=0
        ),
    )
    crop_size: int = field(
        default=0, metadata=meta("side of the center crop after resize; 0 = no crop", min=0)
    )
    cutout_holes: int = field(default=0, metadata=meta("seed 001: 3 holes of length 4", min=0))
    cutout_length: int = field(
        default=0, metadata=meta("side of each cutout hole, in output pixels", min=0)
    )
    noise_std: float = field(
        default=0.0, metadata=meta("gaussian input noise (seed 000: 0.2)", min=0)
    )
    mixup_alpha: float = field(
        default=0.0, metadata=meta("mixup's Beta(alpha, alpha); 0 = off (seed 003: 1)", min=0)
    )
    cutmix_alpha: float = field(
        default=0.0, metadata=meta("cutmix's Beta(alpha, alpha); 0 = off", min=0)
    )
    mix_prob: float = field(
        default=1.0,
        metadata=meta(
            "probability a batch is mixed when mixup/cutmix is on", min=0, max=1, noun=FRACTION
        ),
    )
    randaugment_ops: int = field(
        default=0, metadata=meta("RandAugment: ops per image (0 = off)", min=0)
    )
    randaugment_magnitude: int = field(
        default=9, metadata=meta("strength of every RandAugment op, 0..30", min=0, max=30)
    )
    label_smoothing: float = field(
        default=0.0,
        metadata=meta(
            "target weight spread over the other classes; 0 = off", min=0, max=1, noun=FRACTION
        ),
    )
    normalize: str = field(
        default="dataset",
        metadata=meta(
            "per-channel mean/std: the dataset's, ImageNet's, or none",
            choices=("dataset", "imagenet", "none"),
        ),
    )


@dataclass(frozen=True)
class OptimConfig:
    name: str = field(
        default="sgd",
        metadata=meta("a name from engine.optim.list_optimizers()", registry="optimizers"),
    )
    lr: float = field(
        default=0.1, metadata=meta("the base learning rate", min=0, min_exclusive=True)
    )
    momentum: float = field(
        default=0.9, metadata=meta("sgd, rmsprop", min=0, max=1, max_exclusive=True)
    )
    nesterov: bool = field(
        default=False, metadata=meta("Nesterov momentum (needs momentum above 0)")
    )
    weight_decay: float = field(
        default=5e-4, metadata=meta("L2 penalty (decoupled for adamw)", min=0)
    )
    decay_norm_and_bias: bool = field(
        default=False, metadata=meta("False exempts norm and bias parameters from decay")
    )
    beta1: float = field(
        default=0.9, metadata=meta("first-moment decay (Adam family)", min=0, max=1, noun=FRACTION)
    )
    beta2: float = field(
        default=0.999,
        metadata=meta("second-moment decay (Adam family)", min=0, max=1, noun=FRACTION),
    )
    eps: float = field(
        default=1e-8, metadata=meta("added to the denominator for numerical stability", min=0)
    )
    rho: float = field(default=0.9, metadata=meta("adadelta", min=0, max=1, noun=FRACTION))
    grad_clip: float = field(default=0.0, metadata=meta("max global grad norm; 0 = off", min=0))


@dataclass(frozen=True)
class ScheduleConfig:
    name: str = field(
        default="cosine",
        metadata=meta("a name from engine.optim.list_schedules()", registry="schedules"),
    )
    warmup_epochs: float = field(
        default=0.0, metadata=meta("linear warmup before the schedule", min=0)
    )
    min_lr: float = field(default=0.0, metadata=meta("the lr the schedule anneals to", min=0))
    step_size: int = field(
        default=30, metadata=meta("step: epochs between decays (seed 003: 100)", min=1)
    )
    gamma: float = field(
        default=0.1, metadata=meta("the lr multiplier of each decay", min=0, max=1, noun=FRACTION)
    )
    milestones: list[int] = field(
        default_factory=list, metadata=meta("multistep: the epochs where the lr decays")
    )
    restart_period: int = field(
        default=10, metadata=meta("warm restarts: T_0, in epochs or iterations", min=1)
    )
    restart_mult: int = field(default=1, metadata=meta("T_mult", min=1))
    per_iteration: bool = field(
        default=False,
        metadata=meta("step the schedule every iteration (seed 001: restart every 50)"),
    )
    plateau_patience: int = field(
        default=5,
        metadata=meta(
            "plateau: val evaluations without improvement before a decay (epochs when "
            "train.eval_every = 1)",
            min=0,
        ),
    )
    pct_start: float = field(
        default=0.3,
        metadata=meta("one-cycle: fraction of the run spent rising", min=0, max=1, noun=FRACTION),
    )


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = field(default=30, metadata=meta("passes over the training split", min=1))
    patience: int = field(
        default=0,
        metadata=meta(
            "early stopping: epochs without improvement of monitor; 0 = off (seed 000: 7)", min=0
        ),
    )
    monitor: str = field(
        default="val_loss",
        metadata=meta(
            "the metric that picks the best epoch and drives patience",
            choices=("val_loss", "val_acc"),
        ),
    )
    eval_every: int = field(
        default=1,
        metadata=meta(
            "evaluate val every N epochs (and always the last); only evaluated epochs can be "
            "the best, feed reduce-on-plateau (its plateau_patience counts evaluations) and "
            "end patience",
            min=1,
        ),
    )
    ema: bool = field(
        default=False, metadata=meta("evaluate and checkpoint an EMA of the weights (seed 001)")
    )
    ema_decay: float = field(
        default=0.999,
        metadata=meta("weight of the old average at each EMA step", min=0, max=1, noun=FRACTION),
    )
    seed: int = field(default=0, metadata=meta("seed of the weights, batches and augmentation"))
    deterministic: bool = field(
        default=False, metadata=meta("torch's deterministic algorithms (slower on a GPU)")
    )
    device: str = field(
        default="auto",
        metadata=meta('"auto" (cuda > mps > cpu) | "cpu" | "cuda" | "cuda:1" | "mps"'),
    )
    devices: int = field(
        default=1,
        metadata=meta(
            "Processes per machine for one run (DistributedDataParallel under torchrun): one per "
            "GPU (NCCL), or CPU processes over gloo. data.batch_size stays the global batch, "
            "split evenly over all processes, so a config trains the same on any number of them "
            "(docs/SCALE.md).",
            min=1,
        ),
    )
    amp: str = field(
        default="auto",
        metadata=meta(
            "mixed precision (auto: bf16 on CUDA)",
            choices=("auto", "off", "bf16", "fp16"),
        ),
    )
    channels_last: str = field(
        default="auto",
        metadata=meta("channels-last memory format (auto: on CUDA)", choices=("auto", "on", "off")),
    )
    compile: bool = field(default=False, metadata=meta("torch.compile the model"))
    checkpoint_async: str = field(
        default="auto",
        metadata=meta(
            "write each epoch's checkpoint while the next epoch trains (auto: on CUDA)",
            choices=("auto", "on", "off"),
        ),
    )
    log_every: int = field(
        default=0,
        metadata=meta("steps between sparse step lines in metrics.jsonl; 0 = epochs only", min=0),
    )
    tta: str = field(
        default="none",
        metadata=meta(
            "test-time augmentation at evaluation",
            choices=("none", "flip", "flip-translate"),
        ),
    )
    threads: int = field(default=0, metadata=meta("torch CPU threads; 0 = torch's default", min=0))
    sample_s: float = field(
        default=5.0,
        metadata=meta(
            "seconds between samples of the machine's load (CPU, memory, GPU) in "
            "metrics.jsonl; 0 = off",
            min=0,
        ),
    )


SECTIONS: dict[str, type] = {
    "model": ModelConfig,
    "data": DataConfig,
    "augment": AugmentConfig,
    "optim": OptimConfig,
    "schedule": ScheduleConfig,
    "train": TrainConfig,
}


@cache
def field_infos() -> tuple[FieldInfo, ...]:
    """Every config key with its metadata, section by section in declaration order."""
    out = []
    for section, cls in SECTIONS.items():
        hints = typing.get_type_hints(cls)
        out += [FieldInfo.of(section, f, hints[f.name]) for f in fields(cls)]
    return tuple(out)


@cache
def _by_key() -> dict[str, FieldInfo]:
    return {info.key: info for info in field_infos()}


def field_info(key: str) -> FieldInfo:
    """The metadata of one dotted key ("optim.lr"); a ConfigError naming the nearest key."""
    info = _by_key().get(key)
    if info is None:
        section, _, name = key.partition(".")
        raise ConfigError(f"unknown key '{key}'{suggest_key(section, name)}", key)
    return info


def all_keys() -> list[str]:
    return [info.key for info in field_infos()]


def suggest_key(section: str, key: str) -> str:
    """' (did you mean 'optim.lr'?)': the same section first, then a key of that name anywhere."""
    dotted = f"{section}.{key}"
    by_name = {k.split(".", 1)[1]: k for k in all_keys()}
    if key in by_name:  # the right key in the wrong section
        return f" (did you mean '{by_name[key]}'?)"
    hint = nearest(dotted, [k for k in all_keys() if k.startswith(section + ".")])
    if hint:
        return hint
    match = difflib.get_close_matches(key, list(by_name), n=1, cutoff=0.6)
    return f" (did you mean '{by_name[match[0]]}'?)" if match else ""


def section_fields(section: str) -> list[dataclasses.Field[Any]]:
    """The dataclass fields of one section (``field_infos()`` has their metadata typed)."""
    return list(fields(SECTIONS[section]))


# Keys whose value is one of a fixed list of strings (registry names are checked elsewhere).
CHOICES: dict[str, tuple[str, ...]] = {
    info.key: info.choices for info in field_infos() if info.choices is not None
}
