"""Tiny datasets written in their real on-disk formats, for tests that must not download.

Each writer produces the files exactly as the official archives lay them out, so the loaders
under test parse them with torchvision's own readers:

- ``write_cifar10`` / ``write_cifar100``: Python-2-style pickles (byte-string keys, as in the
  original archives) of dicts with ``data`` uint8 [N, 3072] (R, G, B planes, row-major) and
  ``labels`` / ``fine_labels``, plus the ``batches.meta`` / ``meta`` label names.
- ``write_mnist``: uncompressed IDX files in ``MNIST/raw`` (or ``FashionMNIST/raw``).
- ``write_svhn``: MATLAB ``.mat`` files with ``X`` [32, 32, 3, N] and ``y`` [N, 1] (10 for 0).
- ``write_imagefolder``: PNG files in ``train/<class>/`` (and ``test/``, ``val/``) via PIL.

Images are deterministic functions of (index, label), so tests can check pixels end to end.
"""

from __future__ import annotations

import os
import pickle
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

CIFAR10_NAMES = [
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
]


class _Py2Pickler(pickle._Pickler):  # type: ignore[name-defined,misc]
    """Writes ``str`` as Python 2 byte strings (SHORT_BINSTRING / BINSTRING), as the original
    CIFAR pickles do: ``encoding="latin1"`` reads them back as str, ``encoding="bytes"`` as
    bytes (the b"data" keys of the dataset's own snippet)."""

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def save_py2_bytes(self, obj: bytes) -> None:
        # numpy's pickled array data is a byte string too (Python 2 had no separate bytes)
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    def save_py2_str(self, obj: str) -> None:
        self.save_py2_bytes(obj.encode("latin1"))

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_bytes


def _dump_py2(obj: Any, path: Path) -> None:
    with open(path, "wb") as fh:
        _Py2Pickler(fh, protocol=2).dump(obj)


def image_pixels(index: int, label: int, size: int = 32, channels: int = 3) -> np.ndarray:
    """uint8 [size, size, channels]: a gradient whose level encodes the label, plus noise from
    the index (so every image differs and labels stay recoverable from the pixels)."""
    rng = np.random.default_rng(1000 * label + index)
    base = np.linspace(0, 1, size * size * channels).reshape(size, size, channels)
    level = 20 + 20 * label
    pixels = level + 60 * base + rng.integers(0, 16, size=(size, size, channels))
    return np.clip(pixels, 0, 255).astype(np.uint8)


def _cifar_rows(labels: Sequence[int], offset: int) -> np.ndarray:
    rows = [
        image_pixels(offset + i, y).transpose(2, 0, 1).reshape(-1) for i, y in enumerate(labels)
    ]
    return np.stack(rows).astype(np.uint8) if rows else np.zeros((0, 3072), np.uint8)


def _labels(n: int, num_classes: int, offset: int = 0) -> list[int]:
    return [(offset + i) % num_classes for i in range(n)]


def write_cifar10(
    root: str | os.PathLike[str], n_train_per_batch: int = 20, n_test: int = 20
) -> Path:
    """Write ``root/cifar-10-batches-py`` with data_batch_1..5, test_batch and batches.meta."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for b in range(1, 6):
        offset = (b - 1) * n_train_per_batch
        labels = _labels(n_train_per_batch, 10, offset)
        _dump_py2(
            {
                "batch_label": f"training batch {b} of 5",
                "labels": labels,
                "data": _cifar_rows(labels, offset),
                "filenames": [f"img_{offset + i}.png" for i in range(len(labels))],
            },
            folder / f"data_batch_{b}",
        )
    labels = _labels(n_test, 10)
    _dump_py2(
        {
            "batch_label": "testing batch 1 of 1",
            "labels": labels,
            "data": _cifar_rows(labels, 10_000),
            "filenames": [f"test_{i}.png" for i in range(n_test)],
        },
        folder / "test_batch",
    )
    _dump_py2(
        {"num_cases_per_batch": n_train_per_batch, "label_names": CIFAR10_NAMES, "num_vis": 3072},
        folder / "batches.meta",
    )
    return folder


def write_cifar100(root: str | os.PathLike[str], n_train: int = 200, n_test: int = 100) -> Path:
    """Write ``root/cifar-100-python`` with train, test and meta."""
    folder = Path(root) / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    fine_names = [f"class_{i:02d}" for i in range(100)]
    coarse_names = [f"super_{i:02d}" for i in range(20)]
    for name, n, offset in (("train", n_train, 0), ("test", n_test, 10_000)):
        fine = _labels(n, 100, offset)
        # the image generator encodes a label in the level; keep it in range for 100 classes
        data = _cifar_rows([y % 10 for y in fine], offset)
        _dump_py2(
            {
                "filenames": [f"{name}_{i}.png" for i in range(n)],
                "batch_label": f"{name} batch 1 of 1",
                "fine_labels": fine,
                "coarse_labels": [y // 5 for y in fine],
                "data": data,
            },
            folder / name,
        )
    _dump_py2({"fine_label_names": fine_names, "coarse_label_names": coarse_names}, folder / "meta")
    return folder


def _write_idx(path: Path, array: np.ndarray) -> None:
    """IDX: big-endian magic (0, 0, type 0x08 = ubyte, ndim), the dims, then the bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_mnist(
    root: str | os.PathLike[str], n_train: int = 60, n_test: int = 20, folder: str = "MNIST"
) -> Path:
    """Write ``root/<folder>/raw`` with the four uncompressed IDX files (folder="FashionMNIST"
    for Fashion-MNIST)."""
    raw = Path(root) / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, n, offset in (("train", n_train, 0), ("t10k", n_test, 10_000)):
        labels = _labels(n, 10, offset)
        images = np.stack(
            [image_pixels(offset + i, y, 28, 1)[..., 0] for i, y in enumerate(labels)]
        )
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.asarray(labels, dtype=np.uint8))
    return raw


def write_svhn(root: str | os.PathLike[str], n_train: int = 40, n_test: int = 20) -> Path:
    """Write ``root/train_32x32.mat`` and ``root/test_32x32.mat`` (digit 0 stored as label 10)."""
    from scipy.io import savemat

    folder = Path(root)
    folder.mkdir(parents=True, exist_ok=True)
    for name, n, offset in (("train", n_train, 0), ("test", n_test, 10_000)):
        labels = _labels(n, 10, offset)
        images = np.stack([image_pixels(offset + i, y) for i, y in enumerate(labels)], axis=-1)
        stored = np.asarray([[y if y else 10] for y in labels], dtype=np.uint8)
        savemat(folder / f"{name}_32x32.mat", {"X": images, "y": stored})
    return folder


def write_imagefolder(
    root: str | os.PathLike[str],
    classes: Sequence[str] = ("cat", "dog", "fox"),
    n_per_class: int = 4,
    size: int | tuple[int, int] = 40,
    splits: Sequence[str] = ("train", "test"),
    mode: str = "RGB",
) -> Path:
    """Write PNGs to ``root/<split>/<class>/<i>.png`` for each split; ``size`` is (width, height)
    or one side. Returns ``root``."""
    from PIL import Image

    width, height = (size, size) if isinstance(size, int) else size
    base = Path(root)
    for s, split in enumerate(splits):
        for label, name in enumerate(classes):
            folder = base / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n_per_class):
                pixels = image_pixels(100 * s + i, label, max(width, height))[:height, :width]
                image = Image.fromarray(pixels, "RGB")
                image.convert(mode).save(folder / f"{i:03d}.png")
    return base


def store_snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file's bytes and every folder of a run store, by path (lock files left out: their
    bytes are always empty), to check that a refused request changed nothing."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
        if not p.name.endswith(".lock")
    }
