"""A run's kept test predictions through the engine API: its mistakes, the flips between two
runs and its calibration.

Torch-free (numpy only, loaded on first use), so the console calls these in a thread. The
refusals are ``UserError``s whose words the CLI and the console both show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.calibration import Calibration
from engine.errors import UserError, nearest
from engine.records import RunRecord
from engine.store import ACTIVE, RunStore

if TYPE_CHECKING:
    from engine.predictions_file import Predictions

CLASSES_LISTED = 100  # an unknown class name lists the run's classes, up to this many


@dataclass(frozen=True)
class Mistake:
    """One test sample the run got wrong: its index in the test split, the true and the
    predicted class, the prediction's probability and the top 5 classes with theirs."""

    index: int
    true: str
    pred: str
    confidence: float
    top5: list[tuple[str, float]]

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "true": self.true,
            "pred": self.pred,
            "confidence": self.confidence,
            "top5": [[name, p] for name, p in self.top5],
        }


@dataclass(frozen=True)
class Flips:
    """The test samples two runs disagree on being right about (indices in the test split)."""

    a_right_b_wrong: list[int]
    b_right_a_wrong: list[int]
    both_wrong: int
    both_right: int

    def to_json(self) -> dict[str, Any]:
        return {
            "a_right_b_wrong": self.a_right_b_wrong,
            "b_right_a_wrong": self.b_right_a_wrong,
            "both_wrong": self.both_wrong,
            "both_right": self.both_right,
        }


def _no_predictions(record: RunRecord, config: Path) -> str:
    name = record.name
    if record.status in ACTIVE:
        return (
            f"run {name} has not been tested yet: its test predictions are kept when its "
            "training ends"
        )
    if record.is_stacked:
        return f"run {name} is a stacked ensemble: its test predictions are not kept"
    if record.status in ("stopped", "crashed", "incomplete"):
        return (
            f"run {name} is {record.status} and was not tested: resume it "
            f"(resnet-tui train --resume {name}) and its test predictions are kept when it ends"
        )
    if record.test is None:
        why = "has no test split" if record.status == "finished" else f"is {record.status}"
        return f"run {name} {why}, so it has no test predictions"
    again = f"train it again to get them (resnet-tui train {config})"
    log = config.with_name("train.log")
    if record.test.ece is not None:  # the test pass collected them: the file went missing
        return (
            f"run {name}'s test predictions file is missing: it could not be written or was "
            f"removed (see {log}); {again}"
        )
    if record.provenance:  # tested by a version that keeps them, which kept none
        return f"run {name}'s test pass kept no predictions (see {log}); {again}"
    return f"run {name} was tested before test predictions were kept with runs: {again}"


def _load(store: RunStore, ref: str) -> tuple[RunRecord, Predictions]:
    from engine.predictions_file import PREDICTIONS_FILE, read_predictions

    record = RunRecord.from_json(store.get(store.resolve(ref)))
    path = store.run_dir(record.id) / PREDICTIONS_FILE
    try:
        return record, read_predictions(path)
    except FileNotFoundError:
        raise UserError(_no_predictions(record, path.with_name("config.toml"))) from None
    except ValueError as e:
        raise UserError(
            f"run {record.name}'s kept test predictions are unusable: {e}; train it again to "
            "write them anew"
        ) from None
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}") from None


def read_predictions(store: RunStore, ref: str) -> Predictions:
    """Every test sample's prediction of run ``ref`` (a UserError says why there are none)."""
    return _load(store, ref)[1]


def _class_id(record: RunRecord, p: Predictions, role: str, name: str) -> int:
    if name in p.classes:
        return p.classes.index(name)
    folded = [c.casefold() for c in p.classes]
    if folded.count(name.casefold()) == 1:
        return folded.index(name.casefold())
    shown = ", ".join(p.classes[:CLASSES_LISTED]) + (
        f", ... ({len(p.classes)} in all)" if len(p.classes) > CLASSES_LISTED else ""
    )
    raise UserError(
        f"{role} class '{name}' is not one of run {record.name}'s classes"
        f"{nearest(name, p.classes)}: {shown}"
    )


def mistakes(
    store: RunStore, ref: str, true: str | None = None, pred: str | None = None
) -> list[Mistake]:
    """Run ``ref``'s wrong test predictions, most confident first (ties: by index), only
    those of true class ``true`` and/or predicted class ``pred`` when given."""
    import numpy as np

    record, p = _load(store, ref)
    keep = ~p.correct
    if true is not None:
        keep &= p.label == _class_id(record, p, "true", true)
    if pred is not None:
        keep &= p.pred == _class_id(record, p, "predicted", pred)
    rows = np.flatnonzero(keep)
    rows = rows[np.lexsort((p.index[rows], -p.confidence[rows]))]
    names = p.classes
    return [
        Mistake(
            index=int(p.index[r]),
            true=names[int(p.label[r])],
            pred=names[int(p.pred[r])],
            confidence=round(float(p.confidence[r]), 4),
            top5=[
                (names[int(c)], round(float(q), 4))
                for c, q in zip(p.top5[r], p.top5_prob[r], strict=True)
            ],
        )
        for r in rows
    ]


def _split_of(record: RunRecord, p: Predictions) -> str:
    data = record.config.get("data")
    data = data if isinstance(data, Mapping) else {}
    return f"{data.get('name', '?')}, {len(p)} test images"


def flips(store: RunStore, a_ref: str, b_ref: str) -> Flips:
    """The test samples run ``a_ref`` gets right and ``b_ref`` wrong, and back (indices in the
    test split); refused when the two runs did not test the same split, or are one run."""
    import numpy as np

    a, pa = _load(store, a_ref)
    b, pb = _load(store, b_ref)
    if a.id == b.id:
        raise UserError(
            f"run {a.name} is compared with itself: flips compare two different runs tested "
            "on the same data"
        )
    same = (
        pa.classes == pb.classes
        and np.array_equal(pa.index, pb.index)
        and np.array_equal(pa.label, pb.label)
    )
    if not same:
        why = f"{a.name}: {_split_of(a, pa)}; {b.name}: {_split_of(b, pb)}"
        if len(pa) == len(pb) and pa.classes == pb.classes:
            why += ", with different labels (another data.split_seed or data.test_fraction?)"
        raise UserError(
            f"runs {a.name} and {b.name} did not test the same test split ({why}): flips "
            "compare two runs tested on the same data"
        )
    ra, rb = pa.correct, pb.correct
    return Flips(
        a_right_b_wrong=[int(i) for i in pa.index[ra & ~rb]],
        b_right_a_wrong=[int(i) for i in pa.index[rb & ~ra]],
        both_wrong=int((~ra & ~rb).sum()),
        both_right=int((ra & rb).sum()),
    )


def read_calibration(store: RunStore, run_id: str) -> tuple[Calibration | None, str]:
    """(run ``run_id``'s calibration on its test split, "") or (None, why there is none)."""
    from engine.calibration import calibrate

    try:
        _, p = _load(store, run_id)
    except UserError as e:
        return None, str(e)
    return calibrate(p.confidence, p.correct), ""
