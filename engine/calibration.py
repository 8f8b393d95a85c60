"""Calibration of a run's test predictions: expected calibration error and reliability bins.

The standard definition (Guo et al. 2017, "On Calibration of Modern Neural Networks"): the
top-1 confidences are put in ``BINS`` equal-width bins of (0, 1] (bin i holds
``i/B < confidence <= (i+1)/B``); ECE is the sum over bins of
``|accuracy(bin) - mean confidence(bin)| * count(bin) / n``. Numpy only, loaded by
``calibrate`` (the console reads the records without it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy.typing as npt

BINS = 15


@dataclass(frozen=True)
class Bin:
    """One reliability bin: its confidence range, how many samples, their mean confidence and
    their accuracy (both None for an empty bin)."""

    lo: float
    hi: float
    count: int
    confidence: float | None
    accuracy: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "lo": self.lo,
            "hi": self.hi,
            "count": self.count,
            "confidence": self.confidence,
            "accuracy": self.accuracy,
        }


@dataclass(frozen=True)
class Calibration:
    ece: float  # a fraction, like the accuracies (0.012 is 1.2%)
    bins: tuple[Bin, ...]
    samples: int

    def to_json(self) -> dict[str, Any]:
        return {
            "ece": self.ece,
            "samples": self.samples,
            "bins": [b.to_json() for b in self.bins],
        }


def calibrate(confidence: npt.ArrayLike, correct: npt.ArrayLike, bins: int = BINS) -> Calibration:
    """ECE and the reliability bins of top-1 ``confidence`` (in [0, 1]) against ``correct``."""
    import numpy as np

    conf = np.asarray(confidence, dtype=np.float64).reshape(-1)
    right = np.asarray(correct, dtype=bool).reshape(-1)
    if conf.shape != right.shape:
        raise ValueError(f"{conf.shape[0]} confidences for {right.shape[0]} outcomes")
    edges = np.linspace(0.0, 1.0, bins + 1)
    # bin i holds (edges[i], edges[i+1]]; a confidence of exactly 0 goes in the first
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    conf_sum = np.bincount(which, weights=conf, minlength=bins)
    right_sum = np.bincount(which, weights=right.astype(np.float64), minlength=bins)
    n = conf.shape[0]
    out: list[Bin] = []
    ece = 0.0
    for i in range(bins):
        c = int(count[i])
        mean_conf = float(conf_sum[i] / c) if c else None
        acc = float(right_sum[i] / c) if c else None
        if c:
            ece += abs(float(right_sum[i]) - float(conf_sum[i])) / n
        out.append(Bin(float(edges[i]), float(edges[i + 1]), c, mean_conf, acc))
    return Calibration(ece=ece, bins=tuple(out), samples=n)
