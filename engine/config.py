"""Typed, frozen run configuration, its validation, and the TOML round trip.

A run is fully described by a ``RunConfig``: six sections of plain values. Presets and
``--set section.key=value`` overrides are partial dictionaries laid over the defaults by
``resolve``; anything unknown, mistyped or out of range is refused with a ``ConfigError``
that names the key and, for unknown keys, the nearest valid one.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields
from typing import Any

from engine.errors import ConfigError, nearest


@dataclass(frozen=True)
class ModelConfig:
    name: str = "resnet-digits"  # a name from engine.models.list_models()
    # Everything below left at None takes the named model's own default.
    block: str | None = None  # "basic" | "bottleneck"
    layers: list[int] | None = None  # B_i: blocks per stage (seed 003)
    channels: list[int] | None = None  # C_i: output channels per stage
    kernel_sizes: list[int] | None = None  # F_i: conv kernel per stage
    skip_kernel_sizes: list[int] | None = None  # K_i: shortcut conv kernel per stage
    pool_size: int | None = None  # P: final average-pool kernel (0: global average pool)
    groups: int | None = None  # ResNeXt cardinality
    width_per_group: int | None = None  # 64 = plain ResNet; 128 = wide ResNet
    dilation: list[bool] | None = None  # replace stride with dilation, per stage after the first
    stem_type: str | None = None  # "cifar" (3x3) | "imagenet" (7x7 + max-pool) | "deep" (ResNet-D)
    stem_width: int | None = None  # channels of the stem (64 or 128 in seed 001)
    avg_down: bool | None = None  # ResNet-D avg-pool shortcut on downsampling blocks
    se_ratio: float | None = None  # squeeze-excitation reduction ratio (0.25 in seed 001), 0 = off
    drop_rate: float = 0.0  # dropout before the classifier
    act: str = "relu"  # "relu" | "none" (seed 002's ablation)
    norm: str = "batch"  # "batch" | "none"
    skip: bool = True  # False removes the residual connections (ablation)
    pretrained: bool = False  # transfer backbones: start from ImageNet weights
    weights_path: str = ""  # a local weights file instead of downloading
    freeze_backbone: bool = False  # fixed feature extractor: only the new classifier trains
    backbone_lr_scale: float = 1.0  # lr multiplier for the backbone when fine-tuning


@dataclass(frozen=True)
class DataConfig:
    name: str = "digits"  # a name from engine.data.list_datasets()
    root: str = "data"  # where torchvision datasets / the image folder live
    download: bool = True  # download torchvision datasets where the network allows
    val_fraction: float = 0.1  # carved from train with split_seed
    test_fraction: float = 0.2  # only for datasets without a test split (digits)
    split_seed: int = 0
    batch_size: int = 128  # the global batch: split evenly over train.devices processes
    eval_batch_size: int = 512
    num_workers: int = 2  # image folders only: the in-memory path needs none
    image_size: int = 0  # image folders: resize to this square size (0 = keep / 224 for transfer)
    on_device: str = "auto"  # "auto" | "yes" | "no": keep the dataset on the device as uint8


@dataclass(frozen=True)
class AugmentConfig:
    crop_padding: int = 0  # random crop with this zero padding (4 for CIFAR); 0 = off
    hflip: bool = False
    rotation: float = 0.0  # max degrees either way; 0 = off
    resize: int = 0  # resize the short side then center-crop to crop_size (transfer: 256/224)
    crop_size: int = 0
    cutout_holes: int = 0  # seed 001: 3 holes of length 4
    cutout_length: int = 0
    noise_std: float = 0.0  # gaussian input noise (seed 000: 0.2)
    mixup_alpha: float = 0.0  # seed 003
    cutmix_alpha: float = 0.0
    mix_prob: float = 1.0  # probability a batch is mixed when mixup/cutmix is on
    randaugment_ops: int = 0  # RandAugment: ops per image (0 = off)
    randaugment_magnitude: int = 9  # 0..30
    label_smoothing: float = 0.0
    normalize: str = "dataset"  # "dataset" | "imagenet" | "none"


@dataclass(frozen=True)
class OptimConfig:
    name: str = "sgd"  # a name from engine.optim.list_optimizers()
    lr: float = 0.1
    momentum: float = 0.9  # sgd, rmsprop
    nesterov: bool = False
    weight_decay: float = 5e-4
    decay_norm_and_bias: bool = False  # False exempts norm and bias parameters from decay
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    rho: float = 0.9  # adadelta
    grad_clip: float = 0.0  # max global grad norm; 0 = off


@dataclass(frozen=True)
class ScheduleConfig:
    name: str = "cosine"  # a name from engine.optim.list_schedules()
    warmup_epochs: float = 0.0  # linear warmup before the schedule
    min_lr: float = 0.0
    step_size: int = 30  # step: epochs between decays (seed 003: 100)
    gamma: float = 0.1
    milestones: list[int] = field(default_factory=list)  # multistep
    restart_period: int = 10  # warm restarts: T_0, in epochs or iterations
    restart_mult: int = 1  # T_mult
    per_iteration: bool = False  # step the schedule every iteration (seed 001: restart every 50)
    plateau_patience: int = 5
    pct_start: float = 0.3  # one-cycle


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    patience: int = (
        0  # early stopping: epochs without improvement of monitor; 0 = off (seed 000: 7)
    )
    monitor: str = "val_loss"  # "val_loss" | "val_acc": picks the best epoch and drives patience
    ema: bool = False  # evaluate and checkpoint an EMA of the weights (seed 001)
    ema_decay: float = 0.999
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"  # "auto" (cuda > mps > cpu) | "cpu" | "cuda" | "cuda:1" | "mps"
    # Processes per machine for one run (DistributedDataParallel under torchrun): one per GPU
    # (NCCL), or CPU processes over gloo. data.batch_size stays the global batch, split evenly
    # over all processes, so a config trains the same on any number of them (docs/SCALE.md).
    devices: int = 1
    amp: str = "auto"  # "auto" (bf16 on CUDA) | "off" | "bf16" | "fp16"
    channels_last: str = "auto"  # "auto" (on CUDA) | "on" | "off"
    compile: bool = False
    log_every: int = 0  # steps between sparse step lines in metrics.jsonl; 0 = epochs only
    tta: str = "none"  # test-time augmentation at evaluation: "none" | "flip" | "flip-translate"
    threads: int = 0  # torch CPU threads; 0 = torch's default


SECTIONS: dict[str, type] = {
    "model": ModelConfig,
    "data": DataConfig,
    "augment": AugmentConfig,
    "optim": OptimConfig,
    "schedule": ScheduleConfig,
    "train": TrainConfig,
}


@dataclass(frozen=True)
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}

    def replace(self, overrides: dict[str, Any]) -> RunConfig:
        """A new config with ``{"section.key": value}`` or nested overrides applied and checked."""
        return from_dict(deep_merge(self.to_dict(), nest(overrides)))


# ---------------------------------------------------------------- types and parsing


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def describe_type(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(describe_type(a) for a in args) + " (or unset)"
    if origin is list:
        return f"a list of {describe_type(typing.get_args(tp)[0])}s"
    return {int: "an integer", float: "a number", bool: "true/false", str: "a string"}.get(
        tp, str(tp)
    )


def coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``; ints widen to floats, nothing else."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return coerce(value, inner, key)
    if origin is list:
        (item,) = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            value = [value] if not isinstance(value, dict) else value
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected {describe_type(tp)}, got {value!r}", key)
        return [coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    ok = (
        (tp is bool and isinstance(value, bool))
        or (tp is int and isinstance(value, int) and not isinstance(value, bool))
        or (tp is float and isinstance(value, int | float) and not isinstance(value, bool))
        or (tp is str and isinstance(value, str))
    )
    if not ok:
        choices = CHOICES.get(key)
        one_of = f"; one of {', '.join(map(str, choices))}" if choices else ""
        raise ConfigError(
            f"{key}: expected {describe_type(tp)}, got {value!r} ({type(value).__name__})" + one_of,
            key,
        )
    if tp is float:
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{key}: expected a finite number, got {value}", key)
    return value


def from_dict(data: dict[str, Any]) -> RunConfig:
    """Build and validate a RunConfig from nested ``{section: {key: value}}`` data."""
    sections: dict[str, Any] = {}
    for section, values in data.items():
        if section not in SECTIONS:
            raise ConfigError(
                f"unknown section [{section}]{nearest(section, SECTIONS)}; "
                f"valid sections: {', '.join(SECTIONS)}",
                section,
            )
        if not isinstance(values, dict):
            raise ConfigError(f"[{section}] must be a table of key = value lines", section)
        cls = SECTIONS[section]
        hints = _field_types(cls)
        kwargs = {}
        for key, value in values.items():
            dotted = f"{section}.{key}"
            if key not in hints:
                raise ConfigError(f"unknown key '{dotted}'{suggest_key(section, key)}", dotted)
            kwargs[key] = coerce(value, hints[key], dotted)
        sections[section] = cls(**kwargs)
    config = RunConfig(**sections)
    validate(config)
    return config


def all_keys() -> list[str]:
    return [f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in fields(cls)]


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


def nest(flat: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"optim.lr": 0.1}`` -> ``{"optim": {"lr": 0.1}}``; nested input passes through."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in flat.items():
        if isinstance(value, dict):
            out.setdefault(key, {}).update(value)
            continue
        section, dot, name = key.partition(".")
        if not dot or not name:
            raise ConfigError(
                f"'{key}' is not of the form section.key (for example optim.lr); "
                f"sections: {', '.join(SECTIONS)}",
                key,
            )
        out.setdefault(section, {})[name] = value
    return out


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``section.key=value`` from the command line.

    The value is read as a TOML value (``0.1``, ``true``, ``[3, 3, 2, 3]``, ``"adam"``); bare
    words are strings and comma-separated items are lists (``model.layers=3,3,2,3``).
    """
    key, eq, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    if not eq or not key:
        raise ConfigError(f"--set '{text}': expected section.key=value, e.g. optim.lr=0.05", text)
    return key, parse_value(raw)


def parse_value(raw: str) -> Any:
    if "," in raw and not raw.startswith(("[", '"', "'")):
        return [parse_value(part.strip()) for part in raw.split(",") if part.strip()]
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


# ---------------------------------------------------------------- validation

CHOICES: dict[str, tuple[str, ...]] = {
    "model.block": ("basic", "bottleneck"),
    "model.stem_type": ("cifar", "imagenet", "deep"),
    "model.act": ("relu", "none"),
    "model.norm": ("batch", "none"),
    "data.on_device": ("auto", "yes", "no"),
    "augment.normalize": ("dataset", "imagenet", "none"),
    "train.amp": ("auto", "off", "bf16", "fp16"),
    "train.monitor": ("val_loss", "val_acc"),
    "train.tta": ("none", "flip", "flip-translate"),
    "train.channels_last": ("auto", "on", "off"),
}


def _check(cond: bool, key: str, message: str) -> None:
    if not cond:
        raise ConfigError(f"{key}: {message}", key)


def validate(c: RunConfig) -> None:
    """Range and consistency checks that need no registry (those live with the registries)."""
    flat = {f"{s}.{k}": v for s, d in c.to_dict().items() for k, v in d.items()}
    for key, allowed in CHOICES.items():
        value = flat[key]
        if value is not None and value not in allowed:
            raise ConfigError(
                f"{key}: '{value}' is not one of {', '.join(allowed)}"
                f"{nearest(str(value), allowed)}",
                key,
            )
    for key in ("data.batch_size", "data.eval_batch_size", "train.epochs", "train.devices"):
        _check(flat[key] >= 1, key, f"must be at least 1, got {flat[key]}")
    for key in (
        "data.num_workers",
        "train.patience",
        "train.log_every",
        "train.threads",
        "augment.crop_padding",
        "augment.resize",
        "augment.crop_size",
        "augment.cutout_holes",
        "augment.cutout_length",
        "augment.randaugment_ops",
        "data.image_size",
        "schedule.plateau_patience",
    ):
        _check(flat[key] >= 0, key, f"must be 0 or more, got {flat[key]}")
    _check(c.optim.lr > 0, "optim.lr", f"must be greater than 0, got {c.optim.lr}")
    for key in (
        "optim.weight_decay",
        "optim.grad_clip",
        "optim.momentum",
        "optim.eps",
        "schedule.min_lr",
        "schedule.warmup_epochs",
        "augment.rotation",
        "augment.noise_std",
        "augment.mixup_alpha",
        "augment.cutmix_alpha",
        "model.backbone_lr_scale",
    ):
        _check(flat[key] >= 0, key, f"must be 0 or more, got {flat[key]}")
    for key in (
        "data.val_fraction",
        "data.test_fraction",
        "augment.mix_prob",
        "augment.label_smoothing",
        "model.drop_rate",
        "optim.beta1",
        "optim.beta2",
        "optim.rho",
        "train.ema_decay",
        "schedule.pct_start",
        "schedule.gamma",
    ):
        _check(
            0.0 <= flat[key] <= 1.0, key, f"is a probability/fraction in [0, 1], got {flat[key]}"
        )
    _check(c.data.val_fraction < 1, "data.val_fraction", "must leave some training data (< 1)")
    _check(
        c.data.val_fraction + c.data.test_fraction < 1,
        "data.test_fraction",
        "val_fraction + test_fraction must be below 1",
    )
    _check(c.optim.momentum < 1, "optim.momentum", f"must be below 1, got {c.optim.momentum}")
    _check(
        not c.optim.nesterov or c.optim.momentum > 0,
        "optim.nesterov",
        "Nesterov momentum needs optim.momentum > 0",
    )
    _check(
        0 <= c.augment.randaugment_magnitude <= 30,
        "augment.randaugment_magnitude",
        f"must be in 0..30, got {c.augment.randaugment_magnitude}",
    )
    _check(
        (c.augment.cutout_holes == 0) == (c.augment.cutout_length == 0)
        or c.augment.cutout_holes == 0,
        "augment.cutout_length",
        "cutout needs both cutout_holes and cutout_length above 0",
    )
    _check(c.schedule.step_size >= 1, "schedule.step_size", "must be at least 1")
    _check(c.schedule.restart_period >= 1, "schedule.restart_period", "must be at least 1")
    _check(c.schedule.restart_mult >= 1, "schedule.restart_mult", "must be at least 1")
    _check(
        c.schedule.warmup_epochs < c.train.epochs,
        "schedule.warmup_epochs",
        f"must be shorter than train.epochs ({c.train.epochs})",
    )
    _check(
        list(c.schedule.milestones) == sorted(set(c.schedule.milestones)),
        "schedule.milestones",
        "must be strictly increasing epochs",
    )
    m = c.model
    lists = {k: getattr(m, k) for k in ("layers", "channels", "kernel_sizes", "skip_kernel_sizes")}
    given = {k: v for k, v in lists.items() if v is not None}
    if len({len(v) for v in given.values()}) > 1:
        raise ConfigError(
            "model.layers/channels/kernel_sizes/skip_kernel_sizes (B/C/F/K) must have one entry "
            "per stage, got lengths " + ", ".join(f"{k}={len(v)}" for k, v in given.items()),
            "model." + next(iter(given)),
        )
    for key, values in given.items():
        _check(len(values) >= 1, f"model.{key}", "needs at least one stage")
        _check(
            all(v >= 1 for v in values), f"model.{key}", f"entries must be at least 1, got {values}"
        )
    for key in ("kernel_sizes", "skip_kernel_sizes"):
        values = given.get(key) or []
        _check(
            all(v % 2 == 1 for v in values),
            f"model.{key}",
            f"kernel sizes must be odd so the feature map keeps its size, got {values}",
        )
    _check(
        m.pool_size is None or m.pool_size >= 0,
        "model.pool_size",
        f"must be 0 (global pool) or more, got {m.pool_size}",
    )
    for key in ("groups", "width_per_group", "stem_width"):
        value = getattr(m, key)
        _check(value is None or value >= 1, f"model.{key}", f"must be at least 1, got {value}")
    _check(
        m.se_ratio is None or 0 <= m.se_ratio <= 1,
        "model.se_ratio",
        f"is a ratio in [0, 1], got {m.se_ratio}",
    )


# ---------------------------------------------------------------- TOML out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def to_toml(data: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    """Write ``{section: {key: value}}`` as TOML; None values are left out (they mean default)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in (header or {}).items() if v is not None]
    for section, values in data.items():
        body = [f"{k} = {_toml_value(v)}" for k, v in values.items() if v is not None]
        if body:
            lines += ["", f"[{section}]", *body]
    return "\n".join(lines).lstrip("\n") + "\n"


def diff(base: RunConfig, other: RunConfig) -> dict[str, dict[str, Any]]:
    """The keys of ``other`` that differ from ``base``, nested by section."""
    a, b = base.to_dict(), other.to_dict()
    out: dict[str, dict[str, Any]] = {}
    for section in SECTIONS:
        for key, value in b[section].items():
            if a[section][key] != value:
                out.setdefault(section, {})[key] = value
    return out


def section_fields(section: str) -> list[dataclasses.Field[Any]]:
    """The fields of one section, for forms."""
    return list(fields(SECTIONS[section]))
