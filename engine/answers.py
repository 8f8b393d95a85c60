"""What the engine computes on request, as typed answers: the checks before a run
(``RunCheck``) and a model's layer summary (``ModelSummary``). Both travel as JSON between
the console and its helper process."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunCheck:
    """What the checks before a run found: the model's size and the data's shape."""

    params: int  # trainable parameters
    total_params: int
    channels: int
    image_size: int  # the side of the images the model sees (after resize/crop)
    num_classes: int
    dataset: str
    train_images: int
    device: str
    warnings: tuple[str, ...] = ()  # what is allowed but probably not meant

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunCheck:
        fields = {k: v for k, v in data.items() if k in _FIELDS[cls.__name__]}
        return cls(**{**fields, "warnings": tuple(fields.get("warnings") or ())})


@dataclass(frozen=True)
class ModelSummary:
    """A model's layer table (torchinfo) for the input it would see, and its size."""

    text: str
    params: int
    total_params: int
    channels: int
    size: int
    num_classes: int
    dataset: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelSummary:
        return cls(**{k: v for k, v in data.items() if k in _FIELDS[cls.__name__]})


_FIELDS = {
    cls.__name__: {f.name for f in dataclasses.fields(cls)} for cls in (RunCheck, ModelSummary)
}
