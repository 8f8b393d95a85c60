"""A sweep's trials analysed: parallel coordinates (one polyline per finished trial over the
swept keys, each normalised to [0, 1], the objective as the last axis) and the inputs of
parameter importance, whose result types live here too.

Torch-, optuna- and numpy-free: the console draws parallel coordinates from the runs it holds.
The importance itself (Optuna's fANOVA) is ``engine.sweep.importance``'s: the CLI runs it in
its own process, the console asks its helper process.

Only finished trials with a val accuracy take part; the others (pruned, failed, diverged,
still training) are listed as left out, with their status.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

LOG_SPAN = 100.0  # numbers spanning two decades or more are placed on a log scale
OBJECTIVE_KEY = "val_acc"


def show_value(value: Any) -> str:
    """A swept value as a label: floats to 4 significant digits, booleans as the CLI takes
    them (true/false)."""
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def log_axis(param: Mapping[str, Any], values: Sequence[float]) -> bool:
    """Log scale when the sweep sampled on one, or when the values are positive and span two
    decades or more."""
    if param.get("log"):
        return True
    return len(values) > 1 and all(v > 0 for v in values) and max(values) / min(values) >= LOG_SPAN


# ---------------------------------------------------------------- the records


@dataclass(frozen=True)
class LeftOut:
    """A trial that takes no part: why (its status, or what it lacks)."""

    trial: int | None
    run: str | None
    status: str

    def to_json(self) -> dict[str, Any]:
        return {"trial": self.trial, "run": self.run, "status": self.status}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> LeftOut:
        trial = doc.get("trial")
        return cls(
            trial if isinstance(trial, int) else None,
            str(doc["run"]) if doc.get("run") is not None else None,
            str(doc.get("status") or "?"),
        )


@dataclass(frozen=True)
class Axis:
    """One vertical axis: a swept key (numeric or categorical) or the objective (last).

    A numeric axis runs from ``low`` (0) to ``high`` (1) over the lines' values, on a log
    scale when ``log``; a categorical one places its ``levels`` evenly from 0 to 1 (one level:
    0.5). The objective axis runs from the worst to the best val accuracy (fractions)."""

    key: str
    kind: str  # "numeric" | "categorical" | "objective"
    low: float | None = None
    high: float | None = None
    log: bool = False
    levels: tuple[str, ...] = ()

    def position(self, value: Any) -> float | None:
        """Where ``value`` sits on this axis, in [0, 1]; None when it has no place."""
        if self.kind == "categorical":
            label = show_value(value)
            if label not in self.levels:
                return None
            index = self.levels.index(label)
            return 0.5 if len(self.levels) == 1 else index / (len(self.levels) - 1)
        number = _number(value)
        if number is None or self.low is None or self.high is None:
            return None
        low, high = self.low, self.high
        if self.log:
            if number <= 0:
                return None
            number, low, high = math.log10(number), math.log10(low), math.log10(high)
        if high <= low:
            return 0.5
        return min(1.0, max(0.0, (number - low) / (high - low)))

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "low": self.low,
            "high": self.high,
            "log": self.log,
            "levels": list(self.levels),
        }


@dataclass(frozen=True)
class TrialLine:
    """One finished trial across the axes: ``ys`` (one per axis, the objective last)."""

    trial: int | None
    run: str
    objective: float
    params: Mapping[str, Any]
    ys: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "trial": self.trial,
            "run": self.run,
            "objective": self.objective,
            "params": dict(self.params),
            "ys": list(self.ys),
        }


@dataclass(frozen=True)
class ParallelCoordinates:
    """The axes (swept keys in the sweep's order, then the objective), one line per finished
    trial (best last, so that it is drawn on top), and the trials left out."""

    axes: tuple[Axis, ...]
    lines: tuple[TrialLine, ...]
    left_out: tuple[LeftOut, ...]

    @property
    def best(self) -> TrialLine | None:
        return self.lines[-1] if self.lines else None

    def to_json(self) -> dict[str, Any]:
        return {
            "axes": [a.to_json() for a in self.axes],
            "lines": [line.to_json() for line in self.lines],
            "left_out": [t.to_json() for t in self.left_out],
        }


@dataclass(frozen=True)
class ParamImportance:
    """How much of the variance of the objective one swept key explains (fANOVA), as a
    fraction of the whole (they add up to 1); None for a key that took one value only."""

    key: str
    importance: float | None

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "importance": self.importance}


@dataclass(frozen=True)
class Importance:
    """A sweep's parameter importance: the keys, most important first (keys that took one
    value last, without a number); ``message`` says why there are no numbers, when so.
    ``source``: "runs" (the trial runs of this store) or "study" (the Optuna study, with the
    trials of every machine)."""

    sweep: str
    trials: int  # the finished trials used
    params: tuple[ParamImportance, ...]
    left_out: tuple[LeftOut, ...]
    message: str = ""
    source: str = "runs"
    method: str = "fanova"
    objective: str = OBJECTIVE_KEY

    def to_json(self) -> dict[str, Any]:
        return {
            "sweep": self.sweep,
            "objective": self.objective,
            "method": self.method,
            "source": self.source,
            "trials": self.trials,
            "params": [p.to_json() for p in self.params],
            "left_out": [t.to_json() for t in self.left_out],
            "message": self.message,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Importance:
        params = tuple(
            ParamImportance(
                str(p["key"]),
                float(p["importance"]) if p.get("importance") is not None else None,
            )
            for p in doc.get("params") or []
        )
        return cls(
            sweep=str(doc.get("sweep") or ""),
            trials=int(doc.get("trials") or 0),
            params=params,
            left_out=tuple(LeftOut.from_json(t) for t in doc.get("left_out") or []),
            message=str(doc.get("message") or ""),
            source=str(doc.get("source") or "runs"),
            method=str(doc.get("method") or "fanova"),
            objective=str(doc.get("objective") or OBJECTIVE_KEY),
        )


# ---------------------------------------------------------------- which trials take part


@dataclass(frozen=True)
class Scored:
    """A finished trial with a val accuracy: its swept values and its objective."""

    trial: int | None
    run: str
    params: Mapping[str, Any]
    value: float


def split_trials(
    keys: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> tuple[list[Scored], list[LeftOut]]:
    """(the finished trials with a val accuracy and every swept key, the rest), from
    ``report.rows_from_runs`` rows."""
    scored, left = [], []
    for row in rows:
        params = row.get("params") or {}
        value = row.get("val_acc")
        status = str(row.get("status") or "?")
        if status != "finished":
            left.append(LeftOut(row.get("trial"), row.get("run"), status))
        elif not isinstance(value, int | float):
            left.append(LeftOut(row.get("trial"), row.get("run"), "no val accuracy"))
        elif any(k not in params for k in keys):
            missing = next(k for k in keys if k not in params)
            left.append(LeftOut(row.get("trial"), row.get("run"), f"no {missing}"))
        else:
            scored.append(Scored(row.get("trial"), str(row.get("run")), params, float(value)))
    return scored, left


def _distinct(values: Sequence[Any]) -> list[Any]:
    seen: dict[str, Any] = {}
    for v in values:
        seen.setdefault(json.dumps(v, sort_keys=True, default=str), v)
    return list(seen.values())


def _axis(param: Mapping[str, Any], values: Sequence[Any]) -> Axis:
    key = str(param["key"])
    declared = list(param.get("values") or [])
    numbers = [_number(v) for v in [*declared, *values]]
    numeric = param.get("kind") in ("float", "int") or (
        bool(numbers) and all(n is not None for n in numbers)
    )
    if numeric:
        seen = [n for n in (_number(v) for v in values) if n is not None]
        if not seen:
            return Axis(key, "numeric")
        return Axis(key, "numeric", min(seen), max(seen), log_axis(param, seen))
    labels = [show_value(v) for v in _distinct([*declared, *values])]
    return Axis(key, "categorical", levels=tuple(labels))


def parallel_coordinates(
    params: Sequence[Mapping[str, Any]], rows: Sequence[Mapping[str, Any]]
) -> ParallelCoordinates:
    """The sweep's finished trials over its swept keys (``params``: the spec's
    ``[{"key", "kind", "values" | "low"/"high"/"log"}]``) and the objective, from
    ``report.rows_from_runs`` rows. Lines are ordered worst to best."""
    keys = [str(p["key"]) for p in params]
    scored, left = split_trials(keys, rows)
    axes = [_axis(p, [s.params[p["key"]] for s in scored]) for p in params]
    values = [s.value for s in scored]
    axes.append(
        Axis(
            OBJECTIVE_KEY,
            "objective",
            min(values) if values else None,
            max(values) if values else None,
        )
    )
    lines = []
    for s in sorted(scored, key=lambda s: (s.value, -(s.trial or 0))):
        ys = [axis.position(s.params[axis.key]) for axis in axes[:-1]]
        ys.append(axes[-1].position(s.value))
        lines.append(
            TrialLine(s.trial, s.run, s.value, dict(s.params), tuple(y or 0.0 for y in ys))
        )
    return ParallelCoordinates(tuple(axes), tuple(lines), tuple(left))


# ---------------------------------------------------------------- importance's inputs


MIN_TRIALS = 2


def importance_refusal(name: str, keys: Sequence[str], scored: Sequence[Scored]) -> str:
    """Why importance cannot be computed over these trials ("" when it can)."""
    if len(scored) < MIN_TRIALS:
        return (
            f"sweep {name}: parameter importance needs at least {MIN_TRIALS} finished trials "
            f"with a val accuracy, and it has {len(scored)}; look again when more have finished"
        )
    if not varying_keys(keys, scored):
        return (
            f"sweep {name}: every swept key took one value over its {len(scored)} finished "
            f"trials, so none of them explains a difference in val accuracy"
        )
    if len({s.value for s in scored}) == 1:
        return (
            f"sweep {name}: its {len(scored)} finished trials all reached val acc "
            f"{100 * scored[0].value:.2f}%, so no swept key explains a difference"
        )
    return ""


def varying_keys(keys: Sequence[str], scored: Sequence[Scored]) -> list[str]:
    """The swept keys that took two values or more among ``scored``."""
    return [k for k in keys if len(_distinct([s.params[k] for s in scored])) > 1]
