"""Datasets by name, split and placed on the device; batch augmentation on the device.

Usage: ``dataset_info(cfg.data)`` says what a config will load without reading pixels;
``load_dataset(cfg.data, device)`` returns a ``DataBundle`` whose ``train``/``val``/``test``
sources yield uint8 batches on the device (``source.batches(128, shuffle=True,
generator=g)``); ``BatchAugment(cfg.augment, bundle.mean, bundle.std, num_classes)`` turns
each into a normalised float ``MixedBatch`` (``.train(x, y, device_generator)``) or, for
evaluation, a normalised tensor (``.eval(x)``).
"""

from engine.data import builtin as _builtin  # noqa: F401  (registers the datasets)
from engine.data import folder as _folder  # noqa: F401
from engine.data.augment import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    AugmentationInfo,
    BatchAugment,
    MixedBatch,
    list_augmentations,
)
from engine.data.load import DataBundle, data_stats, load_dataset, time_loader_epoch
from engine.data.randaugment import RANDAUGMENT_OPS
from engine.data.registry import DatasetInfo, dataset_info, list_datasets, register_dataset
from engine.data.sources import BatchSource, LoaderSource, TensorSource

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "RANDAUGMENT_OPS",
    "AugmentationInfo",
    "BatchAugment",
    "BatchSource",
    "DataBundle",
    "DatasetInfo",
    "LoaderSource",
    "MixedBatch",
    "TensorSource",
    "data_stats",
    "dataset_info",
    "list_augmentations",
    "list_datasets",
    "load_dataset",
    "register_dataset",
    "time_loader_epoch",
]
