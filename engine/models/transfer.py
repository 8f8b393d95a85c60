"""ImageNet weights for the torchvision-identical ResNets (seed 002's transfer learning)."""

from __future__ import annotations

import os

import torch
from torch import Tensor, nn

from engine.errors import ConfigError


def imagenet_state_dict(arch: str, weights_path: str) -> dict[str, Tensor]:
    """torchvision's ImageNet weights for ``arch``: from ``weights_path`` or its download cache."""
    if weights_path:
        path = os.path.expanduser(weights_path)
        if not os.path.isfile(path):
            raise ConfigError(
                f"model.weights_path: no file at '{weights_path}'", "model.weights_path"
            )
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a corrupt or foreign file: say so, no traceback
            raise ConfigError(
                f"model.weights_path: cannot read '{weights_path}' as a state dict: {exc}",
                "model.weights_path",
            ) from exc
        if isinstance(state, dict) and isinstance(state.get("model"), dict):
            state = state["model"]  # a checkpoint that wraps its state dict
        if not isinstance(state, dict):
            raise ConfigError(
                f"model.weights_path: '{weights_path}' holds no state dict", "model.weights_path"
            )
        return state
    from torchvision.models import get_model_weights

    try:
        return get_model_weights(arch).DEFAULT.get_state_dict(progress=False)  # type: ignore[attr-defined, no-any-return]
    except Exception as exc:  # no network, a proxy, a full disk
        raise ConfigError(
            f"model.pretrained: could not download torchvision's {arch} ImageNet weights "
            f"({exc}); download them elsewhere and set model.weights_path to the file",
            "model.pretrained",
        ) from exc


def adapt_input_conv(weight: Tensor, in_chans: int) -> Tensor:
    """RGB stem weights for ``in_chans`` channels, as timm: summed for 1, tiled and rescaled
    for more, so the stem's response to a grey image stays the same."""
    if in_chans == weight.shape[1]:
        return weight
    if in_chans == 1:
        return weight.sum(dim=1, keepdim=True)
    repeats = -(-in_chans // weight.shape[1])
    tiled = weight.repeat(1, repeats, 1, 1)[:, :in_chans]
    return tiled * (weight.shape[1] / in_chans)


def load_imagenet_weights(model: nn.Module, arch: str, weights_path: str, in_chans: int) -> None:
    """Load the ImageNet backbone into ``model``; the classifier is kept new unless it has
    ImageNet's 1000 outputs. Refuses weights that do not fit the configured architecture."""
    state = dict(imagenet_state_dict(arch, weights_path))
    if "conv1.weight" in state:
        state["conv1.weight"] = adapt_input_conv(state["conv1.weight"], in_chans)
    own = model.state_dict()
    for key in ("fc.weight", "fc.bias"):
        if key in state and key in own and state[key].shape != own[key].shape:
            state[key] = own[key]  # a new head for this dataset's classes
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1:2]
        raise ConfigError(
            f"model.pretrained: the ImageNet weights of {arch} do not fit this configuration "
            f"(leave the architecture fields and model.norm at their defaults): "
            f"{first[0].strip() if first else exc}",
            "model.pretrained",
        ) from exc
