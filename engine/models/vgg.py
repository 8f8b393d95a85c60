"""Seed 004's transfer backbones: torchvision's VGG-16 and VGG-16-BN.

The modules and their parameter names are torchvision's own, so its ImageNet state dicts load
as they are; only the last linear layer (``classifier.6``) is new for the dataset's classes.
VGG's five 2x2 max-pools need inputs of at least 32x32; its adaptive pool makes any larger
size work (224 is what the ImageNet weights saw).
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor, nn
from torchvision.models import vgg as tv_vgg

from engine.config import ModelConfig
from engine.errors import ConfigError
from engine.models.registry import HEAD_FIELDS, TRANSFER_FIELDS, register_model

MIN_INPUT = 32  # 2 ** 5 max-pools


class VGG(tv_vgg.VGG):
    """torchvision's VGG with timm's ``get_classifier`` (the last linear layer) and
    ``forward_features`` / ``forward_head``, like the ResNets."""

    def __init__(self, features: nn.Module, num_classes: int, input_size: int) -> None:
        super().__init__(features, num_classes=num_classes)
        self.feature_map_size = input_size // 2**5  # each 2x2 max-pool floors
        self.num_features = 512

    def get_classifier(self) -> nn.Module:
        return self.classifier[-1]

    def forward_features(self, x: Tensor) -> Tensor:
        return self.features(x)  # type: ignore[no-any-return]

    def forward_head(self, x: Tensor) -> Tensor:
        return self.classifier(torch.flatten(self.avgpool(x), 1))  # type: ignore[no-any-return]

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def build_vgg(
    cfg: ModelConfig,
    in_chans: int,
    num_classes: int,
    input_size: int,
    *,
    arch: str,
    batch_norm: bool,
) -> VGG:
    if input_size < MIN_INPUT:
        raise ConfigError(
            f"model.name: {cfg.name} needs inputs of at least {MIN_INPUT}x{MIN_INPUT} (five 2x2 "
            f"max-pools), got {input_size}x{input_size}; set augment.resize (224 for the "
            "ImageNet weights) or pick a ResNet",
            "model.name",
        )
    features = tv_vgg.make_layers(tv_vgg.cfgs["D"], batch_norm=batch_norm)
    if in_chans != 3:
        features[0] = nn.Conv2d(in_chans, 64, kernel_size=3, padding=1)
    model = VGG(features, num_classes, input_size)
    if cfg.pretrained:
        from engine.models.transfer import load_imagenet_weights

        load_imagenet_weights(model, arch, cfg.weights_path, in_chans, "features.0.weight")
    return model


# No act/norm/skip fields: VGG has no residuals, and its norm is the choice between the two
# names. Its classifier keeps torchvision's dropout 0.5.
for _name, _arch, _bn in (("vgg16", "vgg16", False), ("vgg16-bn", "vgg16_bn", True)):
    register_model(
        _name,
        f"torchvision's {_arch} (13 conv + 3 FC{', batch norm' if _bn else ''}); ImageNet "
        "weights with model.pretrained (seed 004), inputs >= 32 px (224 for ImageNet weights)",
        "vgg",
        {},
        partial(build_vgg, arch=_arch, batch_norm=_bn),
        (*HEAD_FIELDS, *TRANSFER_FIELDS),
    )
