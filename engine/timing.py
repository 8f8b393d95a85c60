"""Where an epoch's seconds go: the split of its wall time, read from the metrics lines.

The trainer writes, with every epoch line, the seconds spent waiting for data (``data_s``),
in training steps (``step_s``), in the validation pass (``eval_s``), writing the previous
line to the store (``store_s``) and the previous checkpoint (``checkpoint_s``), and the rest
(``other_s``) of the wall time since the previous line (``wall_s``; see
``EpochCosts``). The *fixed cost* is everything but steps and evaluation: the
share of an epoch a faster model or device would not shrink. Pure Python.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

# (key in the epoch line, label), in the order they are shown.
PARTS = (
    ("step_s", "steps"),
    ("eval_s", "eval"),
    ("data_s", "data"),
    ("checkpoint_s", "checkpoint"),
    ("store_s", "store"),
    ("other_s", "other"),
)
FIXED = ("data_s", "checkpoint_s", "store_s", "other_s")


@dataclass(frozen=True)
class TimeSplit:
    """The mean seconds per epoch of each part over ``epochs`` (1-based numbers)."""

    epochs: tuple[int, ...]
    wall_s: float
    parts: dict[str, float]  # key of PARTS -> mean seconds

    @property
    def fixed_s(self) -> float:
        return sum(self.parts[k] for k in FIXED)

    @property
    def fixed_share(self) -> float:
        return self.fixed_s / self.wall_s if self.wall_s > 0 else 0.0

    def share(self, key: str) -> float:
        return self.parts[key] / self.wall_s if self.wall_s > 0 else 0.0

    def describe(self) -> list[str]:
        """A headline and the parts, three to a line (each under 60 columns)::

        2.83 s an epoch (epochs 2-3), fixed cost 3.8% (all but steps and eval)
          steps 2.64 s 93% · eval 0.08 s 3% · data 0.01 s 0%
          checkpoint 0.06 s 2% · store 0.03 s 1% · other 0.00 s 0%
        """
        first, last = self.epochs[0], self.epochs[-1]
        which = f"epoch {first}" if first == last else f"epochs {first}-{last}"
        parts = [f"{label} {self.parts[key]:.2f} s {self.share(key):.0%}" for key, label in PARTS]
        return [
            f"{self.wall_s:.2f} s wall an epoch ({which}), {self.fixed_share:.1%} fixed "
            "(not steps or eval)",
            "  " + " · ".join(parts[:3]),
            "  " + " · ".join(parts[3:]),
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "epochs": list(self.epochs),
            "wall_s": self.wall_s,
            **self.parts,
            "fixed_s": self.fixed_s,
            "fixed_share": self.fixed_share,
        }


def _number(line: Mapping[str, Any], key: str) -> float | None:
    value = line.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def time_split(epochs: Sequence[Mapping[str, Any]], steady: bool = True) -> TimeSplit | None:
    """The mean split over the epoch lines that have one; ``steady`` leaves out the first
    epoch of the run when later ones exist (it pays for warm-up: kernels chosen, caches
    filled, the loader started). None for lines written before the split was recorded."""
    timed = [e for e in epochs if _number(e, "wall_s") is not None]
    if steady and len(timed) > 1 and timed[0].get("epoch") == 1:
        timed = timed[1:]
    if not timed:
        return None
    n = len(timed)
    parts = {key: sum(_number(e, key) or 0.0 for e in timed) / n for key, _ in PARTS}
    wall = sum(_number(e, "wall_s") or 0.0 for e in timed) / n
    numbers = tuple(int(e.get("epoch") or 0) for e in timed)
    return TimeSplit(numbers, wall, parts)


class EpochCosts:
    """The seconds of an epoch outside its steps and evaluation, for its metrics line
    (kept by ``Trainer.fit``).

    An epoch's line is written before its checkpoint (see ``fit``), so the store write and
    the checkpoint of epoch N are counted in line N+1. Each line's ``wall_s`` is the time
    since the previous line was made (since ``fit`` began, for the first), and
    ``other_s`` what is left of it after ``data_s``, ``step_s``, ``eval_s``, ``store_s``
    and ``checkpoint_s`` (the schedule, early-stopping checks, the loader's start). An epoch
    resumed mid-way counts the interrupted session's training (``resumed_s``) in
    ``data_s``, ``step_s`` and ``wall_s`` alike."""

    KEYS = ("store_s", "checkpoint_s")

    def __init__(self) -> None:
        self.carried = dict.fromkeys(self.KEYS, 0.0)
        self.mark = time.perf_counter()

    @contextlib.contextmanager
    def timing(self, key: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.carried[key] += time.perf_counter() - start

    def line(self, metrics: dict[str, float]) -> dict[str, float]:
        """This line's share: what the previous epoch left, the wall time since, the rest."""
        now = time.perf_counter()
        before = float(metrics.get("resumed_s", 0.0))  # a resumed epoch's earlier session
        out = {**self.carried, "wall_s": now - self.mark + before}
        counted = sum(out[k] for k in self.KEYS) + sum(
            float(metrics.get(k, 0.0)) for k in ("data_s", "step_s", "eval_s")
        )
        out["other_s"] = max(out["wall_s"] - counted, 0.0)
        self.carried = dict.fromkeys(self.KEYS, 0.0)
        self.mark = now
        return out


class WaitClock:
    """Seconds spent waiting on an iterator's next item (the data, for a training epoch)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def timed(self, items: Iterable[T]) -> Iterator[T]:
        it = iter(items)
        try:
            while True:
                start = time.perf_counter()
                try:
                    item = next(it)
                except StopIteration:
                    return
                finally:
                    self.seconds += time.perf_counter() - start
                yield item
        finally:
            close = getattr(it, "close", None)
            if close is not None:  # a generator's clean-up (loader workers) runs now
                close()
