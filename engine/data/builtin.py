"""The datasets held in memory: scikit-learn's digits and the torchvision classics.

torchvision's own dataset classes parse the real on-disk formats. They are used through thin
subclasses that accept files which exist instead of re-checking their md5 on every load: a
download is still verified (the archive's md5), a corrupted file shows up as a read error, and
copies re-packed elsewhere (or written by tests) load.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torchvision import datasets as tvd

from engine.config import DataConfig
from engine.data.raw import ArraySplits
from engine.data.registry import register_dataset
from engine.errors import DataError

DOWNLOAD_TIMEOUT_S = 60.0  # per blocking network operation, while downloading
DIGIT_NAMES = tuple(str(d) for d in range(10))
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


# ---------------------------------------------------------------- digits (no download, ever)


@register_dataset(
    "digits",
    description="scikit-learn's bundled handwritten digits: 1,797 real 8x8 grey images, "
    "10 classes; no download. The test split is carved by data.test_fraction.",
    train_images=1_797,
    channels=1,
    image_size=8,
    num_classes=10,
    classes=DIGIT_NAMES,
    has_test_split=False,
)
def load_digits(cfg: DataConfig) -> ArraySplits:
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    # values are counts 0..16 of a 4x4 block; spread them over the uint8 range
    pixels = np.rint(np.asarray(bunch.images, dtype=np.float64) * (255.0 / 16.0))
    images = torch.from_numpy(pixels.astype(np.uint8)).unsqueeze(1).contiguous()
    labels = torch.from_numpy(np.asarray(bunch.target, dtype=np.int64))
    return ArraySplits(classes=list(DIGIT_NAMES), train_x=images, train_y=labels)


# ---------------------------------------------------------------- torchvision readers


class _CIFAR10(tvd.CIFAR10):
    train_list = [[name, None] for name, _ in tvd.CIFAR10.train_list]  # type: ignore[misc]
    test_list = [[name, None] for name, _ in tvd.CIFAR10.test_list]  # type: ignore[misc]
    meta = {**tvd.CIFAR10.meta, "md5": None}


class _CIFAR100(tvd.CIFAR100):
    train_list = [[name, None] for name, _ in tvd.CIFAR100.train_list]  # type: ignore[misc]
    test_list = [[name, None] for name, _ in tvd.CIFAR100.test_list]  # type: ignore[misc]
    meta = {**tvd.CIFAR100.meta, "md5": None}


class _SVHN(tvd.SVHN):
    def _check_integrity(self) -> bool:
        return os.path.isfile(os.path.join(self.root, self.filename))

    def download(self) -> None:
        # torchvision's SVHN re-downloads a present file whose md5 differs; keep what is there
        if not self._check_integrity():
            super().download()


# MNIST and Fashion-MNIST only check that the raw files exist: torchvision's classes as they are.


@dataclass(frozen=True)
class _Source:
    title: str  # for messages
    expected: str  # the files a user must provide, relative to data.root
    url: str  # where the download comes from
    open: Callable[[str, bool, bool], Any]  # (root, train, download) -> torchvision dataset
    to_arrays: Callable[[Any], tuple[torch.Tensor, torch.Tensor]]


def _hwc(ds: Any) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2).contiguous()
    return images, torch.as_tensor(ds.targets, dtype=torch.long)


def _grey(ds: Any) -> tuple[torch.Tensor, torch.Tensor]:
    return ds.data.unsqueeze(1).contiguous(), ds.targets.long()


def _svhn_arrays(ds: Any) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.from_numpy(np.ascontiguousarray(ds.data))
    return images, torch.from_numpy(np.asarray(ds.labels, dtype=np.int64))


SOURCES: dict[str, _Source] = {
    "cifar10": _Source(
        "CIFAR-10",
        "cifar-10-batches-py/ with data_batch_1..5, test_batch and batches.meta",
        tvd.CIFAR10.url,
        lambda root, train, dl: _CIFAR10(root, train=train, download=dl),
        _hwc,
    ),
    "cifar100": _Source(
        "CIFAR-100",
        "cifar-100-python/ with train, test and meta",
        tvd.CIFAR100.url,
        lambda root, train, dl: _CIFAR100(root, train=train, download=dl),
        _hwc,
    ),
    "mnist": _Source(
        "MNIST",
        "MNIST/raw/ with train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte",
        tvd.MNIST.mirrors[0],
        lambda root, train, dl: tvd.MNIST(root, train=train, download=dl),
        _grey,
    ),
    "fashion-mnist": _Source(
        "Fashion-MNIST",
        "FashionMNIST/raw/ with train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte",
        tvd.FashionMNIST.mirrors[0],
        lambda root, train, dl: tvd.FashionMNIST(root, train=train, download=dl),
        _grey,
    ),
    "svhn": _Source(
        "SVHN",
        "train_32x32.mat and test_32x32.mat",
        "http://ufldl.stanford.edu/housenumbers/",
        lambda root, train, dl: _SVHN(root, split="train" if train else "test", download=dl),
        _svhn_arrays,
    ),
}


def _first_missing(path: str) -> str | None:
    """The outermost folder of ``path`` that does not exist yet (None: it all exists)."""
    missing = None
    current = os.path.abspath(path)
    while not os.path.exists(current):
        missing = current
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return missing


def _remove_if_empty(top: str) -> None:
    """Remove the folder tree ``top`` if it holds no file (folders made for a download)."""
    try:
        if any(files for _, _, files in os.walk(top)):
            return
        shutil.rmtree(top)
    except OSError:
        pass


def _open(name: str, root: str, train: bool, download: bool) -> Any:
    """Open one split; every failure becomes a DataError that says what to put where."""
    src = SOURCES[name]
    where = os.path.abspath(root)
    expected = f"Expected: {src.expected}."
    remedy = "Put them there, point data.root at a folder that has them (--set data.root=PATH)"
    if download:
        remedy += ", or allow network access for the download."
    else:
        remedy += ", or allow the download (--set data.download=true, needs network)."
    try:
        return src.open(root, train, False)
    except RuntimeError as error:  # torchvision's "Dataset not found or corrupted"
        missing = "not found" in str(error).lower()
        if not missing:
            raise DataError(
                f"data.root: could not read {src.title} in '{where}': {error}"
            ) from error
        if not download:
            raise DataError(
                f"data.root: {src.title} not found in '{where}' (data.download is off). "
                f"{expected} {remedy}"
            ) from error
    except Exception as error:
        raise DataError(
            f"data.root: could not read {src.title} in '{where}' ({type(error).__name__}: "
            f"{error}); the files may be truncated or corrupt: delete them and download again. "
            f"{expected}"
        ) from error
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # urllib waits forever on a silent network
    created = _first_missing(root)
    try:
        os.makedirs(root, exist_ok=True)
        return src.open(root, train, True)
    except Exception as error:  # network, disk, torchvision: all mean "not downloaded"
        if created is not None:
            _remove_if_empty(created)  # a failed download leaves no empty folders behind
        reason = " ".join(f"{type(error).__name__}: {error}".split())
        reason = reason if len(reason) <= 400 else reason[:397] + "..."
        raise DataError(
            f"data.root: could not download {src.title} from {src.url} into '{where}' "
            f"({reason}). {expected} {remedy}"
        ) from error
    finally:
        socket.setdefaulttimeout(previous_timeout)


def load_torchvision(name: str, cfg: DataConfig) -> ArraySplits:
    train = _open(name, cfg.root, True, cfg.download)
    test = _open(name, cfg.root, False, cfg.download)  # a no-op when the files are there
    train_x, train_y = SOURCES[name].to_arrays(train)
    test_x, test_y = SOURCES[name].to_arrays(test)
    classes = [str(c) for c in getattr(train, "classes", None) or range(int(train_y.max()) + 1)]
    return ArraySplits(classes, train_x, train_y, test_x, test_y)


@register_dataset(
    "mnist",
    description="MNIST handwritten digits: 60,000 + 10,000 test 28x28 grey images (torchvision; "
    "read from data.root, downloaded when data.download allows).",
    train_images=60_000,
    channels=1,
    image_size=28,
    num_classes=10,
    classes=tvd.MNIST.classes,
)
def load_mnist(cfg: DataConfig) -> ArraySplits:
    return load_torchvision("mnist", cfg)


@register_dataset(
    "fashion-mnist",
    description="Fashion-MNIST clothing: 60,000 + 10,000 test 28x28 grey images (torchvision).",
    train_images=60_000,
    channels=1,
    image_size=28,
    num_classes=10,
    classes=FASHION_CLASSES,
)
def load_fashion_mnist(cfg: DataConfig) -> ArraySplits:
    return load_torchvision("fashion-mnist", cfg)


@register_dataset(
    "cifar10",
    description="CIFAR-10: 50,000 + 10,000 test 32x32 colour images, 10 classes (torchvision).",
    train_images=50_000,
    channels=3,
    image_size=32,
    num_classes=10,
    classes=CIFAR10_CLASSES,
)
def load_cifar10(cfg: DataConfig) -> ArraySplits:
    return load_torchvision("cifar10", cfg)


@register_dataset(
    "cifar100",
    description="CIFAR-100: 50,000 + 10,000 test 32x32 colour images, 100 classes (torchvision).",
    train_images=50_000,
    channels=3,
    image_size=32,
    num_classes=100,
)
def load_cifar100(cfg: DataConfig) -> ArraySplits:
    return load_torchvision("cifar100", cfg)


@register_dataset(
    "svhn",
    description="SVHN house-number digits: 73,257 + 26,032 test 32x32 colour images "
    "(torchvision; the 'extra' split is not used).",
    train_images=73_257,
    channels=3,
    image_size=32,
    num_classes=10,
    classes=DIGIT_NAMES,
)
def load_svhn(cfg: DataConfig) -> ArraySplits:
    return load_torchvision("svhn", cfg)
