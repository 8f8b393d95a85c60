"""One model builder: the model a whole RunConfig describes, for the images it will see.

A model depends on more than ``[model]``: its input channels come from the dataset, its input
size from the dataset's image size after ``augment.resize`` / ``augment.crop_size``, its
classifier from the number of classes. Every place that builds a model for a config (the
trainer, the checks before a run, stacking, ablations, ``models summary``, the console's live
parameter count) asks ``build_model``, so they cannot disagree about any of those.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from engine.config import RunConfig
from engine.data import DatasetInfo, dataset_info
from engine.data.augment import output_size
from engine.models.registry import create_model

# Built for when the class count is not known before loading (an image folder not yet read):
# the backbone and its count are right; only the classifier's output size is provisional.
PROVISIONAL_CLASSES = 2


@dataclass(frozen=True)
class BuiltModel:
    """The model and the input it was built for: ``in_chans`` x ``input_size`` x
    ``input_size`` images of ``num_classes`` classes."""

    model: nn.Module
    in_chans: int
    input_size: int
    num_classes: int


def model_input(config: RunConfig, info: DatasetInfo) -> tuple[int, int]:
    """(channels, side) of the images the model sees: the dataset's, after resize and crop."""
    return info.channels, output_size(config.augment, info.image_size)


def build_model(
    config: RunConfig, info: DatasetInfo | None = None, *, num_classes: int | None = None
) -> BuiltModel:
    """Build the model ``config`` names for the data it trains on.

    ``info`` is what ``engine.data.dataset_info(config.data)`` says (looked up when not
    given); ``num_classes`` overrides its class count (the trainer passes the loaded class
    list's length). A count still unknown (0) builds for ``PROVISIONAL_CLASSES``. Raises
    ConfigError, with the dotted key, for an architecture the input cannot take.
    """
    info = info if info is not None else dataset_info(config.data)
    in_chans, size = model_input(config, info)
    classes = num_classes if num_classes is not None else info.num_classes
    classes = classes if classes >= 1 else PROVISIONAL_CLASSES
    model = create_model(config.model, in_chans, classes, size)
    return BuiltModel(model, in_chans, size, classes)
