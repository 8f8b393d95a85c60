"""A run's kept test predictions: ``predictions.npz`` in the run's folder, and its reader.

Written once, atomically, when a run's test pass ends (``engine.runner`` writes what
``engine.predictions`` collected); read by the mistakes list, the flips between two runs and
the calibration (``engine.api.predictions``). Numpy only, never torch: the console reads it in
its own process. One row per test sample, sorted by ``index`` (its place in the unshuffled test
split): its label, the predicted class and the top-5 classes with their probabilities
(float32: a digits run's file is 12 KB, CIFAR-10's 10,000 test images' 300 KB).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from engine.fsio import write_all, write_atomically, write_error

PREDICTIONS_FILE = "predictions.npz"
FORMAT = 1
TOP = 5  # classes kept per sample (fewer when the dataset has fewer)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, eq=False)
class Predictions:
    """The test pass of one run, one row per test sample (sorted by ``index``)."""

    index: IntArray  # (n,) place in the unshuffled test split
    label: IntArray  # (n,) true class id
    pred: IntArray  # (n,) predicted class id (argmax)
    top5: IntArray  # (n, k) class ids, most probable first (k = min(5, classes))
    top5_prob: FloatArray  # (n, k) their softmax probabilities
    classes: tuple[str, ...]
    epoch: int = 0  # the epoch whose weights were tested

    def __len__(self) -> int:
        return int(self.index.shape[0])

    @property
    def confidence(self) -> FloatArray:
        """The top-1 probability of each sample."""
        return self.top5_prob[:, 0]

    @property
    def correct(self) -> npt.NDArray[np.bool_]:
        return self.pred == self.label


def from_arrays(
    index: npt.ArrayLike,
    label: npt.ArrayLike,
    top5: npt.ArrayLike,
    top5_prob: npt.ArrayLike,
    classes: list[str] | tuple[str, ...],
    epoch: int = 0,
) -> Predictions:
    """Rows in any order (ranks' shards concatenated), sorted by index; pred is top5[:, 0]."""
    idx = np.asarray(index, dtype=np.int64).reshape(-1)
    order = np.argsort(idx, kind="stable")
    top = np.asarray(top5, dtype=np.int64).reshape(len(idx), -1)[order]
    return Predictions(
        index=idx[order],
        label=np.asarray(label, dtype=np.int64).reshape(-1)[order],
        pred=top[:, 0].copy(),
        top5=top,
        top5_prob=np.asarray(top5_prob, dtype=np.float32).reshape(len(idx), -1)[order],
        classes=tuple(classes),
        epoch=epoch,
    )


def write_predictions(path: Path, p: Predictions) -> None:
    """Replace ``path`` with ``p``, all at once (a StoreError says why it could not).

    Uncompressed and not fsynced: deflate and fsync were 95% of the cost (32 ms for CIFAR-10's
    10,000 samples on a busy machine, against 1 ms without; bench/bench_predictions.py), and the
    file is written once, when the run ends. A kill still never leaves a partial file (a
    temporary file renamed over); a power cut right then may leave it missing or empty, which
    readers report as unusable predictions, with the run's record and checkpoints intact."""
    small = len(p.classes) <= 256  # class ids in one byte where they fit
    ids = np.uint8 if small else np.int32
    buffer = io.BytesIO()
    np.savez(
        buffer,
        format=np.array(FORMAT),
        index=p.index.astype(np.int32),
        label=p.label.astype(ids),
        top5=p.top5.astype(ids),
        top5_prob=p.top5_prob.astype(np.float32),
        classes=np.array(p.classes, dtype=str),
        epoch=np.array(p.epoch),
    )
    try:
        write_atomically(path, lambda fd: write_all(fd, buffer.getbuffer()), sync=False)
    except OSError as e:
        raise write_error(path, e) from e


def read_predictions(path: Path) -> Predictions:
    """The predictions in ``path``; FileNotFoundError when there is none, ValueError ("NAME
    cannot be read (why)") for a damaged or foreign file."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if int(data["format"]) != FORMAT:
                raise ValueError(f"format {int(data['format'])}; this version reads {FORMAT}")
            top5 = data["top5"].astype(np.int64)
            if top5.ndim != 2 or top5.shape[1] < 1:
                raise ValueError(f"a top-5 array of shape {top5.shape}")
            p = Predictions(
                index=data["index"].astype(np.int64),
                label=data["label"].astype(np.int64),
                pred=top5[:, 0].copy(),
                top5=top5,
                top5_prob=data["top5_prob"].astype(np.float32),
                classes=tuple(str(c) for c in data["classes"]),
                epoch=int(data["epoch"]),
            )
    except FileNotFoundError:
        raise
    except (KeyError, ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"{path.name} cannot be read ({e})") from e
    n = len(p)
    if p.label.shape != (n,) or p.top5.shape[0] != n or p.top5.shape != p.top5_prob.shape:
        raise ValueError(f"{path.name} cannot be read (its arrays disagree in length)")
    k = len(p.classes)
    if n and (p.top5.min() < 0 or p.top5.max() >= k or p.label.min() < 0 or p.label.max() >= k):
        raise ValueError(f"{path.name} cannot be read (a class id outside its {k} classes)")
    return p
