"""The model registry: names -> builders, with descriptions and defaults for forms.

Like timm's ``@register_model`` / ``create_model``: each named model is one registration whose
``defaults`` are data (ModelConfig field values); ``create_model`` lays the user's ModelConfig
over them and calls the builder. Fields a model does not accept are refused by name. The
entries live in ``MODELS``, an ``engine.registry.Registry``; ``engine.models.build`` builds the
model a whole RunConfig describes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, overload

import torch
from torch import nn

from engine.config import ModelConfig
from engine.errors import ConfigError
from engine.registry import Registry

# builder(resolved config, in_chans, num_classes, input_size) -> model
Builder = Callable[[ModelConfig, int, int, int], nn.Module]

# The architecture fields: None in a ModelConfig means "the named model's default".
ARCH_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(ModelConfig) if f.name != "name" and f.default is None
)
# Honoured by every model unless its registration says otherwise.
COMMON_FIELDS: tuple[str, ...] = ("drop_rate", "act", "norm", "skip")
# Any model has a classifier to keep training and a backbone to freeze or slow down.
HEAD_FIELDS: tuple[str, ...] = ("freeze_backbone", "backbone_lr_scale")
# Only models with published ImageNet weights (torchvision's ResNets and VGG-16s).
TRANSFER_FIELDS: tuple[str, ...] = ("pretrained", "weights_path")

_FIELD_ORDER = [f.name for f in fields(ModelConfig)]
_FIELD_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in fields(ModelConfig) if f.default is not dataclasses.MISSING
}


@dataclass(frozen=True)
class ModelInfo:
    """What forms and ``resnet-tui models list`` show about one registered model."""

    name: str
    description: str
    family: str
    fields: tuple[str, ...]  # ModelConfig field names this model accepts (name excluded)
    # Its own value for each architecture field it accepts. None where the value follows from
    # something else: stem_type None = "imagenet" for inputs >= 64 px, "cifar" below;
    # stem_width None = the first stage's channels; pool_size None = global average pool.
    defaults: dict[str, Any]


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: what is shown about it, and how it is built."""

    info: ModelInfo
    builder: Builder


MODELS: Registry[ModelEntry] = Registry("model.name", "model", "see `resnet-tui models list`")


@overload
def register_model(
    name: str,
    description: str,
    family: str,
    defaults: dict[str, Any],
    builder: Builder,
    fields: Sequence[str] | None = None,
) -> Builder: ...


@overload
def register_model(
    name: str,
    description: str,
    family: str,
    defaults: dict[str, Any],
    builder: None = None,
    fields: Sequence[str] | None = None,
) -> Callable[[Builder], Builder]: ...


def register_model(
    name: str,
    description: str,
    family: str,
    defaults: dict[str, Any],
    builder: Builder | None = None,
    fields: Sequence[str] | None = None,
) -> Builder | Callable[[Builder], Builder]:
    """Register ``builder`` under ``name``; without a builder, return a decorator.

    ``defaults`` holds the model's value for each architecture field it accepts;
    ``fields`` defaults to those keys plus the common fields (drop_rate, act, norm, skip)
    and the head fields (freeze_backbone, backbone_lr_scale).
    """
    unknown = [k for k in [*defaults, *(fields or ())] if k not in _FIELD_ORDER or k == "name"]
    if unknown:
        raise ValueError(f"register_model({name!r}): not ModelConfig fields: {unknown}")
    accepted = set(fields) if fields is not None else {*defaults, *COMMON_FIELDS, *HEAD_FIELDS}
    accepted |= set(defaults)
    info = ModelInfo(
        name=name,
        description=description,
        family=family,
        fields=tuple(f for f in _FIELD_ORDER if f in accepted),
        defaults=dict(defaults),
    )

    def add(fn: Builder) -> Builder:
        MODELS.register(name, ModelEntry(info, fn))
        return fn

    return add if builder is None else add(builder)


def list_models() -> list[ModelInfo]:
    """Every registered model, in registration order."""
    return [entry.info for entry in MODELS.list()]


def model_info(name: str) -> ModelInfo:
    return _entry(name).info


def applicable_fields(name: str) -> tuple[str, ...]:
    """The ModelConfig fields the named model accepts, for forms."""
    return _entry(name).info.fields


def _entry(name: str) -> ModelEntry:
    return MODELS.get(name)


def resolve(cfg: ModelConfig) -> ModelConfig:
    """``cfg`` with every architecture field left at None replaced by the model's default.

    Refuses a field set away from its default that the model does not accept. Per-stage lists
    taken from the defaults follow the user's stage count when they are uniform
    (kernel sizes, dilation flags), and are refused, with a hint, when they are not.
    """
    info = model_info(cfg.name)
    for key in _FIELD_ORDER[1:]:
        value = getattr(cfg, key)
        if key not in info.fields and value != _FIELD_DEFAULTS[key]:
            accepted = ", ".join(info.fields) or "none"
            raise ConfigError(
                f"model.{key}: '{cfg.name}' does not accept model.{key} "
                f"(it accepts: {accepted}); leave it unset for this model",
                f"model.{key}",
            )
    values: dict[str, Any] = {
        k: info.defaults.get(k) for k in ARCH_FIELDS if getattr(cfg, k) is None
    }
    stage_keys = ("layers", "channels", "kernel_sizes", "skip_kernel_sizes")
    user_stages = [k for k in stage_keys if getattr(cfg, k) is not None]
    if user_stages:
        n = len(getattr(cfg, user_stages[0]))
        for key in (*stage_keys, "dilation"):
            default = values.get(key)
            if default is None:
                continue
            want = n - 1 if key == "dilation" else n
            if len(default) == want:
                continue
            if len(set(default)) <= 1 and (default or key == "dilation"):
                fill = default[0] if default else False
                values[key] = [fill] * want
            else:
                raise ConfigError(
                    f"model.{key}: {cfg.name}'s default {key} {default} is for "
                    f"{len(default) + (key == 'dilation')} stages but model.{user_stages[0]} "
                    f"gives {n}; set model.{key} too",
                    f"model.{key}",
                )
    return dataclasses.replace(cfg, **values)


def create_model(cfg: ModelConfig, in_chans: int, num_classes: int, input_size: int) -> nn.Module:
    """Build the model ``cfg`` names for ``in_chans`` x ``input_size`` x ``input_size`` input.

    Raises ConfigError (with the dotted key) for anything the user can fix.
    """
    if in_chans < 1 or num_classes < 1 or input_size < 1:
        raise ValueError(
            f"create_model: in_chans, num_classes and input_size must be at least 1, "
            f"got {in_chans}, {num_classes}, {input_size}"
        )
    entry = _entry(cfg.name)
    if cfg.weights_path and not cfg.pretrained:
        raise ConfigError(
            "model.weights_path: set model.pretrained = true to load weights from it",
            "model.weights_path",
        )
    model = entry.builder(resolve(cfg), in_chans, num_classes, input_size)
    if cfg.freeze_backbone:
        classifier = {id(p) for p in get_classifier(model).parameters()}
        for param in model.parameters():
            param.requires_grad_(id(param) in classifier)
    elif cfg.backbone_lr_scale != 1.0:
        # The trainer builds its optimizer's param groups with ``model.lr_scale(name)``; a
        # model's own per-parameter scales (airbench's norm biases) are kept and multiplied.
        own = getattr(model, "lr_scale", None)
        scale = BackboneLrScale(classifier_param_names(model), cfg.backbone_lr_scale, own)
        setattr(model, "lr_scale", scale)  # noqa: B010  (nn.Module types attributes as tensors)
    return model


@dataclass(frozen=True)
class BackboneLrScale:
    """``lr_scale(param_name)``: 1 for the classifier's parameters, ``scale`` for the rest."""

    head: frozenset[str]
    scale: float
    base: Callable[[str], float] | None = None  # the model's own lr_scale, if it has one

    def __call__(self, name: str) -> float:
        for wrapper in ("_orig_mod.", "module."):  # torch.compile's and DDP's name prefixes
            name = name.removeprefix(wrapper)
        own = self.base(name) if self.base is not None else 1.0
        return own * (1.0 if name in self.head else self.scale)


def classifier_param_names(model: nn.Module) -> frozenset[str]:
    """The ``named_parameters`` names of the model's classifier."""
    head = {id(p) for p in get_classifier(model).parameters()}
    return frozenset(name for name, p in model.named_parameters() if id(p) in head)


def backbone_norms_eval(model: nn.Module) -> None:
    """Put the batch norms outside the classifier in eval mode (call after ``model.train()``).

    A frozen backbone is a fixed feature extractor: its weights do not train, and neither may
    its BatchNorm running statistics drift with the new dataset's batches.
    """
    head = {id(m) for m in get_classifier(model).modules()}
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and id(module) not in head:
            module.eval()


def get_classifier(model: nn.Module) -> nn.Module:
    """The model's final classifier (what stays trainable with freeze_backbone), timm-style."""
    getter = getattr(model, "get_classifier", None)
    if getter is None:
        raise TypeError(f"{type(model).__name__} has no get_classifier()")
    head = getter()
    if not isinstance(head, nn.Module):
        raise TypeError(f"{type(model).__name__}.get_classifier() returned {head!r}")
    return head


def count_params(model: nn.Module, trainable_only: bool = True) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def summary(model: nn.Module, in_chans: int, input_size: int) -> str:
    """A torchinfo layer table ending with the Total/Trainable/Non-trainable params lines."""
    import torchinfo  # only here: nothing else in the engine needs it

    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    stats = torchinfo.summary(
        model,
        input_size=(1, in_chans, input_size, input_size),
        col_names=("output_size", "num_params"),
        col_width=18,  # 40 + 2 x 18: the table fits 80 columns
        device=device,
        mode="eval",
        verbose=0,
    )
    text = str(stats)
    # torchinfo prints mult-adds and memory sizes after the param lines: keep its table, then
    # the mult-adds and the three param lines, counted here so they agree with count_params.
    table = text[: text.index("Total params:")].rstrip("\n")
    total = count_params(model, trainable_only=False)
    trainable = count_params(model)
    lines = [
        table,
        f"Total mult-adds (M): {stats.total_mult_adds / 1e6:,.2f}",
        f"Total params: {total:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {total - trainable:,}",
    ]
    return "\n".join(lines)
