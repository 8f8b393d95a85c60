"""The augmentations, as data: what each one reads from ``[augment]`` and how it is switched on.

``engine.data.augment`` applies them to batches (torch); this registry only describes them, so
it imports no torch and the console's form can group the augment fields by it: a switch per
augmentation, turning its ``switches`` keys to the values given here (off: their defaults),
with its ``params`` enabled only while it is on. Entries are in the order the pipeline
applies them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.config.sections import AugmentConfig, field_info
from engine.registry import Registry


@dataclass(frozen=True)
class AugmentationInfo:
    name: str
    description: str
    keys: tuple[str, ...]  # the augment.* config keys it reads
    title: str = ""  # the switch's label in forms (default: the name)
    # key -> value that turns the augmentation on (a form's switch sets these; off = default).
    # Empty: nothing to switch (normalisation always happens, in one of its modes).
    switches: Mapping[str, Any] = field(default_factory=dict)
    params: tuple[str, ...] = ()  # keys that only matter while it is on

    @property
    def label(self) -> str:
        return self.title or self.name

    def off_values(self) -> dict[str, Any]:
        """What switching it off sets: each switch key's default."""
        return {k: field_info(f"augment.{k}").default for k in self.switches}


AUGMENTATIONS: Registry[AugmentationInfo] = Registry("augment", "augmentation")


def _add(info: AugmentationInfo) -> None:
    keys = {*info.keys, *info.switches, *info.params}
    unknown = keys - set(AugmentConfig.__dataclass_fields__)
    if unknown or not {*info.switches, *info.params} <= set(info.keys):
        raise ValueError(f"augmentation {info.name!r}: keys {sorted(keys)} do not fit")
    AUGMENTATIONS.register(info.name, info)


for _info in (
    AugmentationInfo(
        "randaugment",
        "RandAugment: ops per image drawn from geometric and colour ops, at one magnitude",
        ("randaugment_ops", "randaugment_magnitude"),
        switches={"randaugment_ops": 2},
        params=("randaugment_magnitude",),
    ),
    AugmentationInfo(
        "crop",
        "random crop after zero padding (4 for CIFAR)",
        ("crop_padding",),
        title="random crop",
        switches={"crop_padding": 4},
    ),
    AugmentationInfo(
        "hflip",
        "horizontal flip of half the images",
        ("hflip",),
        title="horizontal flip",
        switches={"hflip": True},
    ),
    AugmentationInfo(
        "rotation",
        "random rotation within +-degrees",
        ("rotation",),
        switches={"rotation": 15.0},
    ),
    AugmentationInfo(
        "resize",
        "resize the short side, then center-crop (transfer learning: 256 / 224); also at eval",
        ("resize", "crop_size"),
        title="resize + crop",
        switches={"resize": 256, "crop_size": 224},
    ),
    AugmentationInfo(
        "normalize", "per-channel normalisation: dataset, imagenet or none", ("normalize",)
    ),
    AugmentationInfo(
        "cutout",
        "square holes set to the mean (seed 001: 3 holes of length 4)",
        ("cutout_holes", "cutout_length"),
        switches={"cutout_holes": 3, "cutout_length": 4},
    ),
    AugmentationInfo(
        "mixup",
        "blend pairs of images and their labels (seed 003)",
        ("mixup_alpha", "mix_prob"),
        switches={"mixup_alpha": 1.0},
    ),
    AugmentationInfo(
        "cutmix",
        "paste a box from a partner image, mix the labels by its area",
        ("cutmix_alpha", "mix_prob"),
        switches={"cutmix_alpha": 1.0},
    ),
    AugmentationInfo(
        "noise",
        "gaussian noise added after normalisation (seed 000: std 0.2)",
        ("noise_std",),
        title="gaussian noise",
        switches={"noise_std": 0.2},
    ),
    AugmentationInfo(
        "label_smoothing",
        "soft targets, applied by the loss",
        ("label_smoothing",),
        title="label smoothing",
        switches={"label_smoothing": 0.1},
    ),
):
    _add(_info)


def list_augmentations() -> list[AugmentationInfo]:
    return AUGMENTATIONS.list()
