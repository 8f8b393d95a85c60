"""ImageNet weights for torchvision-identical backbones (seed 002's ResNet-18, seed 004's VGG-16).

``model.pretrained`` loads torchvision's ImageNet weights: from ``model.weights_path`` when set
(a file saved with ``torch.save(torchvision.models.resnet18(weights=...).state_dict(), path)``),
otherwise from torchvision's download cache, downloading where the network allows.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import pickle
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from engine.errors import ConfigError

# Rebuilding a trained model from its checkpoint needs the architecture, not ImageNet's weights:
# inside ``no_imagenet_weights()`` builders skip the load (no file read, no download).
_SKIP_WEIGHTS: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "skip_imagenet_weights", default=False
)


@contextlib.contextmanager
def no_imagenet_weights() -> Iterator[None]:
    """Build pretrained models without loading their ImageNet weights (a checkpoint follows)."""
    token = _SKIP_WEIGHTS.set(True)
    try:
        yield
    finally:
        _SKIP_WEIGHTS.reset(token)


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
                f"model.weights_path: cannot read '{weights_path}' as a state dict "
                f"({_load_failure(exc)}); "
                f"save one with torch.save(torchvision.models.{arch}(weights='DEFAULT')"
                ".state_dict(), PATH)",
                "model.weights_path",
            ) from exc
        if isinstance(state, dict) and isinstance(state.get("model"), dict):
            state = state["model"]  # a checkpoint that wraps its state dict
        if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
            raise ConfigError(
                f"model.weights_path: '{weights_path}' holds no state dict", "model.weights_path"
            )
        return state
    from torchvision.models import get_model_weights

    try:
        return get_model_weights(arch).DEFAULT.get_state_dict(progress=False)  # type: ignore[attr-defined, no-any-return]
    except Exception as exc:  # no network, a proxy, a full disk
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            f"model.pretrained: could not download torchvision's {arch} ImageNet weights "
            f"({reason}); download them where the network allows (torchvision.models."
            f"get_model_weights('{arch}').DEFAULT.get_state_dict() caches them under "
            "$TORCH_HOME) or save them to a file and set model.weights_path to it",
            "model.pretrained",
        ) from exc


def _load_failure(exc: Exception) -> str:
    """torch.load's reason, short: its messages run to several sentences of advice."""
    if isinstance(exc, pickle.UnpicklingError):
        return "not a torch.save file of tensors"
    text = str(exc).strip()
    first = text.split(". ", 1)[0].splitlines()[0] if text else type(exc).__name__
    return first.rstrip(".")


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


def _module_name(model: nn.Module, module: nn.Module) -> str:
    for name, candidate in model.named_modules():
        if candidate is module:
            return name
    raise ValueError("the classifier is not a submodule of the model")


def load_imagenet_weights(
    model: nn.Module,
    arch: str,
    weights_path: str,
    in_chans: int,
    stem_key: str = "conv1.weight",
) -> None:
    """Load the ImageNet backbone into ``model``; the classifier is kept new unless it has
    ImageNet's 1000 outputs. ``stem_key`` names the first conv's weight, adapted to
    ``in_chans``. Refuses weights that do not fit the configured architecture."""
    if _SKIP_WEIGHTS.get():
        return
    from engine.models.registry import get_classifier

    state = dict(imagenet_state_dict(arch, weights_path))
    if stem_key in state:
        state[stem_key] = adapt_input_conv(state[stem_key], in_chans)
    own = model.state_dict()
    head = _module_name(model, get_classifier(model))
    for key in [k for k in own if k.startswith(head + ".")]:
        if key in state and state[key].shape != own[key].shape:
            state[key] = own[key]  # a new head for this dataset's classes
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1:2]
        raise ConfigError(
            f"model.pretrained: the ImageNet weights of {arch} do not fit this configuration "
            f"(leave the architecture fields and model.norm at their defaults, and check that "
            f"model.weights_path holds {arch}'s weights): {first[0].strip() if first else exc}",
            "model.pretrained",
        ) from exc
