"""Runs set against a baseline: every config key (flattened ``section.key``), what was recorded
about where and from what each run came (its provenance: preset, host, device, parameters,
times, what the trainer made of the data, and a ``provenance`` mapping where a record has one),
and its final metrics (the best epoch's numbers, the test result, the time it trained), each
with the difference of every run from the baseline's value where both are numbers.

The baseline is the first run given: ``baseline_first`` puts the first pinned run there (a
pinned run is the baseline in Compare), else keeps the order. ``runs diff A B``, Compare and
the HTML report read the same ``RunDiff``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from engine.config import RunConfig
from engine.metrics import best_stats_row
from engine.provenance import compared
from engine.records import RunRecord

CONFIG = "config"
PROVENANCE = "provenance"
METRICS = "metrics"
SECTIONS = (CONFIG, PROVENANCE, METRICS)

# The final metrics, in this order: (key, best_stats_row's key or a record field).
METRIC_KEYS = (
    "status",
    "epochs_done",
    "best_epoch",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "max_val_acc",
    "test_loss",
    "test_acc",
    "test_ece",
    "elapsed_s",
)
PROVENANCE_KEYS = ("preset", "model", "dataset", "params", "device", "host", "created", "finished")


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"optim": {"lr": 0.1}}`` -> ``{"optim.lr": 0.1}``, nested mappings at any depth."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


@cache
def _default_config() -> dict[str, Any]:
    """Every config key at its default, as JSON stores it (lists, not tuples)."""
    flat: dict[str, Any] = json.loads(json.dumps(flatten(RunConfig().to_dict())))
    return flat


def flat_config(record: RunRecord) -> dict[str, Any]:
    """The run's config as stored, ``section.key``, a key it was saved without at its
    default (as the run would load it). Not checked again: a store of 10,000 runs exports in
    a second, and a key an older version had stays as it was recorded."""
    if not record.config:  # a half-written run: nothing to say, not the defaults
        return {}
    return {**_default_config(), **flatten(record.config)}


def provenance(record: RunRecord) -> dict[str, Any]:
    """Where the run came from, as recorded: its preset, model, data, size, device, host and
    times, what the trainer made of the data (``data.*``), and a ``provenance`` mapping when
    the record has one (``provenance.*``). A field never recorded is left out."""
    out: dict[str, Any] = {}
    for key in PROVENANCE_KEYS:
        value = getattr(record, key)
        if value not in (None, ""):
            out[key] = value
    out.update(flatten(record.data, "data."))
    # what the code and the machine were (engine.provenance): commit, versions, GPUs, host;
    # a field never recorded (a run created before provenance was) is left out
    recorded = compared(dict(record.provenance))
    out.update({f"provenance.{k}": v for k, v in recorded.items() if v is not None})
    return out


def final_metrics(record: RunRecord, epochs: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The run's status, epochs done, its best epoch's numbers (every one from that epoch),
    the highest val accuracy of any epoch (from ``epochs``, the run's epoch lines, when
    given), its test loss and accuracy and the seconds it trained."""
    row = best_stats_row(record, epochs)
    values = {
        "status": record.status,
        "epochs_done": record.epoch,
        "test_loss": record.test.loss if record.test else None,
        "test_ece": record.test.ece if record.test else None,
        "elapsed_s": record.elapsed_s,
        **{k: row[k] for k in METRIC_KEYS if k in row},
    }
    return {k: values[k] for k in METRIC_KEYS if values.get(k) is not None}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _delta(base: Any, value: Any) -> float | None:
    """``value - base`` when both are numbers (an int when both are: parameters, epochs)."""
    low, high = _number(base), _number(value)
    if low is None or high is None:
        return None
    if type(base) is int and type(value) is int:
        return value - base
    return high - low


@dataclass(frozen=True)
class DiffRow:
    """One key across the runs: its value in each (None: the run has none), and each run's
    difference from the baseline (the first run) where both are numbers, else None."""

    section: str  # config | provenance | metrics
    key: str
    values: tuple[Any, ...]
    deltas: tuple[float | None, ...]

    @property
    def differs(self) -> bool:
        first = self.values[0]
        return any(v != first for v in self.values[1:])

    def to_json(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "key": self.key,
            "values": list(self.values),
            "deltas": list(self.deltas),
            "differs": self.differs,
        }


@dataclass(frozen=True)
class RunDiff:
    """Runs set against the first of them, the baseline: a row per key of each section."""

    runs: tuple[RunRecord, ...]
    rows: tuple[DiffRow, ...]

    @property
    def baseline(self) -> RunRecord:
        return self.runs[0]

    def section(self, name: str, differing_only: bool = False) -> list[DiffRow]:
        return [r for r in self.rows if r.section == name and (r.differs or not differing_only)]

    def differing(self) -> list[DiffRow]:
        return [r for r in self.rows if r.differs]

    def to_json(self, differing_only: bool = True) -> dict[str, Any]:
        return {
            "baseline": self.baseline.id,
            "runs": [{"id": r.id, "name": r.name} for r in self.runs],
            **{
                section: [row.to_json() for row in self.section(section, differing_only)]
                for section in SECTIONS
            },
        }


def _rows(section: str, flats: list[dict[str, Any]]) -> list[DiffRow]:
    keys = list(dict.fromkeys(k for flat in flats for k in flat))
    rows = []
    for key in keys:
        values = tuple(flat.get(key) for flat in flats)
        deltas = tuple(None if i == 0 else _delta(values[0], v) for i, v in enumerate(values))
        rows.append(DiffRow(section, key, values, deltas))
    return rows


def diff_runs(
    runs: Sequence[RunRecord], epochs: Mapping[str, Sequence[Mapping[str, Any]]] | None = None
) -> RunDiff:
    """The runs' config, provenance and final metrics, each against the first run (the
    baseline). ``epochs``: each run's epoch lines by id, for the highest val accuracy of any
    epoch (without them, the metrics are the record's own)."""
    if not runs:
        raise ValueError("diff_runs needs at least one run")
    lines = epochs or {}
    rows = [
        *_rows(CONFIG, [flat_config(r) for r in runs]),
        *_rows(PROVENANCE, [provenance(r) for r in runs]),
        *_rows(METRICS, [final_metrics(r, lines.get(r.id, ())) for r in runs]),
    ]
    return RunDiff(tuple(runs), tuple(rows))


def baseline_first(runs: Sequence[RunRecord]) -> list[RunRecord]:
    """The runs with the baseline first: the first pinned one, else the first given; the
    others keep their order."""
    runs = list(runs)
    if not runs:
        return []
    pinned = next((i for i, r in enumerate(runs) if r.pinned), 0)
    return [runs[pinned], *runs[:pinned], *runs[pinned + 1 :]]
