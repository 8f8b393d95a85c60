"""The named ResNets of the seeds, and building a ResNet from a ModelConfig.

``build_resnet`` checks a resolved ModelConfig against the input size (refusing, with the key
to change, what cannot be built) and builds the ``ResNet`` it describes (the network itself is
``engine.models.resnet_arch``). Every named model below is data: one registration.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from typing import Any

from engine.config import ModelConfig
from engine.errors import ConfigError, nearest
from engine.models.registry import (
    ARCH_FIELDS,
    COMMON_FIELDS,
    HEAD_FIELDS,
    TRANSFER_FIELDS,
    register_model,
)
from engine.models.resnet_arch import (
    BLOCKS,
    BasicBlock,
    Bottleneck,
    ResNet,
    SqueezeExcite,
    conv2d,
    halve,
    make_act,
    make_norm,
    stem_steps,
)

__all__ = [
    "BLOCKS",
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "SqueezeExcite",
    "arch",
    "build_resnet",
    "conv2d",
    "halve",
    "make_act",
    "make_norm",
    "seed003",
    "stem_steps",
]


# ---------------------------------------------------------------- from ModelConfig


def build_resnet(
    cfg: ModelConfig,
    in_chans: int,
    num_classes: int,
    input_size: int,
    *,
    stem_chs: Sequence[int] | None = None,
    stem_stride: int | None = None,
    stem_pool: str | None = None,
    shortcut_norm: bool = True,
    head_hidden: Sequence[int] = (),
    head_norm: bool = False,
    stem_type: str | None = None,
    weights: str | None = None,
) -> ResNet:
    """Check a resolved ModelConfig against the input size, then build the ResNet it describes.

    The keywords fix what a named model does not leave to the config (BaseNet's stem and head);
    ``weights`` names the torchvision model whose ImageNet weights ``model.pretrained`` loads.
    """
    assert cfg.block and cfg.layers and cfg.channels and cfg.kernel_sizes
    assert cfg.skip_kernel_sizes and cfg.dilation is not None and cfg.groups
    assert cfg.width_per_group and cfg.se_ratio is not None and cfg.avg_down is not None
    if cfg.block not in BLOCKS:
        raise ConfigError(
            f"model.block: unknown block '{cfg.block}'{nearest(cfg.block, BLOCKS)}; "
            f"use one of {', '.join(BLOCKS)}",
            "model.block",
        )
    block = BLOCKS[cfg.block]
    n = len(cfg.layers)
    for key in ("channels", "kernel_sizes", "skip_kernel_sizes"):
        if len(getattr(cfg, key)) != n:
            raise ConfigError(
                f"model.{key}: needs one entry per stage: {n} (model.layers is {cfg.layers}), "
                f"got {getattr(cfg, key)}",
                f"model.{key}",
            )
    if len(cfg.dilation) != n - 1:
        raise ConfigError(
            f"model.dilation: needs one flag per stage after the first ({n - 1} for {n} "
            f"stages), got {cfg.dilation}",
            "model.dilation",
        )

    stem_fixed = stem_type is not None
    stem_type = stem_type or cfg.stem_type
    stem_type = stem_type or ("imagenet" if input_size >= 64 or cfg.pretrained else "cifar")
    if stem_type not in ("cifar", "imagenet", "deep"):
        raise ConfigError(
            f"model.stem_type: unknown stem '{stem_type}'; use cifar, imagenet or deep",
            "model.stem_type",
        )
    if stem_stride is None and stem_pool is None and stem_type == "deep" and input_size < 64:
        stem_stride, stem_pool = 1, ""  # small images keep their resolution (seed 001, CIFAR)
    stem_stride = stem_stride or (1 if stem_type == "cifar" else 2)
    stem_pool = ("" if stem_type == "cifar" else "max3") if stem_pool is None else stem_pool
    stem_width = cfg.stem_width or cfg.channels[0]

    _check_widths(cfg, block, stem_type, stem_width)
    final = _check_map(cfg, input_size, stem_type, stem_stride, stem_pool, stem_fixed)
    if cfg.pool_size and cfg.pool_size > final:
        raise ConfigError(
            f"model.pool_size: {cfg.pool_size} is larger than the {final}x{final} feature map "
            f"left after the stages for {input_size}x{input_size} input; use {final} or less",
            "model.pool_size",
        )
    if cfg.pretrained and stem_type != "imagenet":
        raise ConfigError(
            f"model.stem_type: pretrained ImageNet weights need the 'imagenet' stem, "
            f"not '{stem_type}'; leave model.stem_type unset",
            "model.stem_type",
        )

    model = ResNet(
        block,
        cfg.layers,
        cfg.channels,
        cfg.kernel_sizes,
        cfg.skip_kernel_sizes,
        in_chans=in_chans,
        num_classes=num_classes,
        input_size=input_size,
        groups=cfg.groups,
        width_per_group=cfg.width_per_group,
        replace_stride_with_dilation=cfg.dilation,
        stem_type=stem_type,
        stem_width=stem_width,
        stem_chs=stem_chs,
        stem_stride=stem_stride,
        stem_pool=stem_pool,
        avg_down=cfg.avg_down,
        se_ratio=cfg.se_ratio,
        pool_size=cfg.pool_size,
        drop_rate=cfg.drop_rate,
        act=cfg.act,
        norm=cfg.norm,
        skip=cfg.skip,
        shortcut_norm=shortcut_norm,
        head_hidden=head_hidden,
        head_norm=head_norm,
    )
    if cfg.pretrained:
        if weights is None:
            raise ConfigError(
                f"model.pretrained: '{cfg.name}' has no published weights; "
                "resnet18/34/50/101/152, vgg16 and vgg16-bn have",
                "model.pretrained",
            )
        from engine.models.transfer import load_imagenet_weights

        load_imagenet_weights(model, weights, cfg.weights_path, in_chans)
    return model


def _check_widths(
    cfg: ModelConfig,
    block: type[BasicBlock | Bottleneck],
    stem_type: str,
    stem_width: int,
) -> None:
    assert cfg.channels and cfg.groups and cfg.width_per_group
    groups = cfg.groups
    if block is BasicBlock:
        if cfg.width_per_group != 64:
            raise ConfigError(
                f"model.width_per_group: basic blocks have no inner width, so it must stay 64 "
                f'(got {cfg.width_per_group}); use model.block = "bottleneck" or widen '
                "model.channels",
                "model.width_per_group",
            )
        inplanes = cfg.channels[0] if stem_type == "deep" else stem_width
        for i, c in enumerate(cfg.channels):
            for what, chs in (("input", inplanes), ("", c)):
                if chs % groups:
                    raise ConfigError(
                        f"model.groups: {groups} does not divide the {chs} "
                        f"{what + ' ' if what else ''}channels of stage {i + 1}; "
                        f"use a divisor of {chs}",
                        "model.groups",
                    )
            inplanes = c
    else:
        for i, c in enumerate(cfg.channels):
            if int(c * cfg.width_per_group / 64) < 1:
                raise ConfigError(
                    f"model.width_per_group: {cfg.width_per_group} leaves no channels per group "
                    f"in stage {i + 1} ({c} x {cfg.width_per_group} / 64 < 1); use at least "
                    f"{math.ceil(64 / c)}",
                    "model.width_per_group",
                )
    if cfg.se_ratio is not None and cfg.se_ratio < 0:
        key = "model.se_ratio"
        raise ConfigError(f"{key}: must be 0 or more, got {cfg.se_ratio}", key)


def _check_map(
    cfg: ModelConfig,
    input_size: int,
    stem_type: str,
    stem_stride: int,
    stem_pool: str,
    stem_fixed: bool,
) -> int:
    """The map size left after the stages; refuses a stride-2 step that meets a 1x1 map."""
    assert cfg.layers is not None and cfg.dilation is not None
    n = len(cfg.layers)
    size = input_size
    steps = [(how, "the stem") for how in stem_steps(stem_stride, stem_pool)]
    steps += [("conv", f"stage {i + 1}") for i in range(1, n) if not cfg.dilation[i - 1]]
    blocked = ""  # where a stride-2 step meets a 1x1 map
    for how, where in steps:
        if size < 2:
            blocked = where
            break
        size = halve(size, how)
    if not blocked:
        return size
    if stem_fixed:  # the named model's own stem (BaseNet): only a larger input helps
        raise ConfigError(
            f"model.name: {cfg.name} shrinks {input_size}x{input_size} input to 1x1 before "
            f"{blocked}, whose stride would take it below 1x1; use larger inputs or another model",
            "model.name",
        )
    if blocked != "the stem" and stem_stride == 1 and not stem_pool:
        raise ConfigError(
            f"model.dilation: the stages shrink {input_size}x{input_size} input to 1x1 before "
            f"{blocked}, whose stride would take it below 1x1; set model.dilation to keep the "
            f"resolution there (e.g. {[True] * (n - 1)}) or use fewer stages",
            "model.dilation",
        )
    raise ConfigError(
        f"model.stem_type: the '{stem_type}' stem and strided stages shrink {input_size}x"
        f"{input_size} input to 1x1 before {blocked}, whose stride would take it below 1x1; "
        'use model.stem_type = "cifar" for inputs this small (or set model.dilation)',
        "model.stem_type",
    )


# ---------------------------------------------------------------- the named models

RESNET_FIELDS = (*ARCH_FIELDS, *COMMON_FIELDS, *HEAD_FIELDS)


def arch(**overrides: Any) -> dict[str, Any]:
    """A full set of architecture defaults: torchvision's ResNet-18 with ``overrides``; the
    per-stage kernel sizes and dilation flags follow the number of stages."""
    n = len(overrides.get("layers", [2, 2, 2, 2]))
    return {
        "block": "basic",
        "layers": [2, 2, 2, 2],
        "channels": [64, 128, 256, 512],
        "kernel_sizes": [3] * n,
        "skip_kernel_sizes": [1] * n,
        "pool_size": None,
        "groups": 1,
        "width_per_group": 64,
        "dilation": [False] * (n - 1),
        "stem_type": None,
        "stem_width": None,
        "avg_down": False,
        "se_ratio": 0.0,
        **overrides,
    }


def seed003(layers: list[int], channels: list[int], **overrides: Any) -> dict[str, Any]:
    """Seed 003's N/B/C/F/K/P family: CIFAR stem of C_1 channels, F = 3, K = 1, P = 4."""
    return arch(layers=layers, channels=channels, stem_type="cifar", pool_size=4, **overrides)


# Seed 000: torchvision depths; ResNeXt, wide and dilated ResNet-18 need Bottleneck blocks
# (torchvision's BasicBlock refuses groups, width_per_group and dilation).
_AUTO = "; ImageNet stem for inputs >= 64 px, CIFAR stem below"
for _name, _layers, _block in (
    ("resnet18", [2, 2, 2, 2], "basic"),
    ("resnet34", [3, 4, 6, 3], "basic"),
    ("resnet50", [3, 4, 6, 3], "bottleneck"),
    ("resnet101", [3, 4, 23, 3], "bottleneck"),
    ("resnet152", [3, 8, 36, 3], "bottleneck"),
):
    register_model(
        _name,
        f"torchvision's {_name} ({_block} blocks {','.join(map(str, _layers))})" + _AUTO,
        "resnet",
        arch(block=_block, layers=_layers),
        partial(build_resnet, weights=_name),  # model.pretrained loads its ImageNet weights
        (*RESNET_FIELDS, *TRANSFER_FIELDS),
    )
register_model(
    "resnet18-bottleneck",
    "ResNet-18 depth with bottleneck blocks (seed 000)" + _AUTO,
    "resnet",
    arch(block="bottleneck"),
    build_resnet,
)
register_model(
    "resnext18",
    "ResNeXt-18: bottleneck blocks, 32 groups x 4 channels (seed 000)" + _AUTO,
    "resnet",
    arch(block="bottleneck", groups=32, width_per_group=4),
    build_resnet,
)
register_model(
    "wide-resnet18",
    "Wide ResNet-18: bottleneck blocks twice as wide inside (width_per_group 128, seed 000)"
    + _AUTO,
    "resnet",
    arch(block="bottleneck", width_per_group=128),
    build_resnet,
)
register_model(
    "resnet18-dilated",
    "ResNet-18 bottleneck with dilation instead of stride in stages 3-4 (seed 000)" + _AUTO,
    "resnet",
    arch(block="bottleneck", dilation=[False, True, True]),
    build_resnet,
)

# Seed 001: ResNet-D (timm's resnet50d: deep 3x3 stem of width 32, avg-pool shortcuts), + SE.
_D = "deep 3x3 stem (stride 1, no max-pool below 64 px), avg-pool shortcuts"
_resnet50d = arch(block="bottleneck", layers=[3, 4, 6, 3], stem_type="deep", stem_width=32)
_resnet50d["avg_down"] = True
register_model("resnet50d", f"ResNet-50-D: {_D} (seed 001)", "resnet-d", _resnet50d, build_resnet)
register_model(
    "resnet50d-se",
    f"ResNet-50-D + squeeze-excitation 0.25 in every block: {_D} (seed 001)",
    "resnet-d",
    {**_resnet50d, "se_ratio": 0.25},
    build_resnet,
)

# Seed 003, Table 1 (parameter counts for 32x32x3 input and 10 classes are pinned in tests).
for _name, _layers, _channels in (
    ("resnet10-1", [1, 2, 1], [64, 128, 256]),
    ("resnet10-2", [1, 1, 1, 1], [64, 128, 256, 512]),
    ("resnet12", [2, 1, 1, 1], [64, 128, 256, 512]),
    ("resnet16", [2, 1, 2, 2], [64, 128, 256, 256]),
    ("resnet20", [3, 3, 3], [64, 128, 256]),
    ("resnet24", [3, 3, 2, 3], [64, 128, 128, 256]),
    ("resnet32", [4, 4, 4, 3], [32, 64, 128, 256]),
    ("resnet48", [8, 5, 5, 5], [64, 128, 128, 128]),
    ("resnet86", [10, 8, 10, 14], [16, 32, 64, 128]),
):
    register_model(
        _name,
        f"seed 003: B={','.join(map(str, _layers))} C={','.join(map(str, _channels))} "
        "F=3 K=1 P=4, CIFAR stem" + (" (its best, 94.8% on CIFAR-10)" * (_name == "resnet24")),
        "resnet-cifar",
        seed003(_layers, _channels),
        build_resnet,
    )

# Seed 004's small ResNet: 3 stages of 2 blocks, 16/32/64 channels, 3x3 conv + BN shortcuts.
# Its AvgPool2d covered the whole 8x8 map of 32x32 input: global pooling is the same there and
# also fits other sizes.
register_model(
    "resnet-small",
    "seed 004: 3 stages x 2 basic blocks, 16/32/64 channels, 3x3 shortcuts, CIFAR stem",
    "resnet-cifar",
    arch(layers=[2, 2, 2], channels=[16, 32, 64], skip_kernel_sizes=[3, 3, 3], stem_type="cifar"),
    build_resnet,
)

# The embedded default: 8x8 one-channel digits. One block per stage keeps it fast on a CPU;
# three stages take the map 8 -> 4 -> 2 and global pooling reads it out.
register_model(
    "resnet-digits",
    "small fast ResNet for 8x8 digits: 1 basic block per stage, 32/64/128 channels",
    "resnet-cifar",
    arch(layers=[1, 1, 1], channels=[32, 64, 128], stem_type="cifar"),
    build_resnet,
)

# Seed 002's BaseNet: three 3x3 conv+BN+ReLU (64, 128, 256) and a 2x2 max-pool as the stem,
# ResBlocks 256, 256->512 /2, 512->1024 /2 whose shortcut is a plain 1x1 conv (its table lists
# no norm there), global pool, FC 1024->128, FC 128->classes, BatchNorm1d(classes).
register_model(
    "basenet",
    "seed 002: BaseNet stem 64/128/256 + max-pool, ResBlocks 256/512/1024, FC 128, BN1d",
    "basenet",
    {
        k: v
        for k, v in arch(layers=[1, 1, 1], channels=[256, 512, 1024]).items()
        if k not in ("stem_type", "stem_width")
    },
    partial(
        build_resnet,
        stem_type="deep",
        stem_chs=(64, 128),
        stem_stride=1,
        stem_pool="max2",
        shortcut_norm=False,
        head_hidden=(128,),
        head_norm=True,
    ),
    tuple(f for f in RESNET_FIELDS if f not in ("stem_type", "stem_width")),
)
