"""Tables computed from the store: best stats per run, config differences. Pure Python.

"Best" has one meaning everywhere (engine/records.py): the epoch of the run's kept checkpoint,
chosen by ``train.monitor``, with every column of a row from that same epoch. Seed 000's
notebook took the best of each curve separately, which mixes epochs; where a table wants the
highest val accuracy of any epoch, it is a column of its own, ``max_val_acc``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.config import RunConfig
from engine.records import RunRecord, max_over_epochs, stats_at


def best_stats_row(
    run: RunRecord | Mapping[str, Any], epochs: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Seed 000's "Best Stats Per Model" row of a run: the train/val loss and accuracy of its
    best epoch (all from that one epoch), the best epoch, the test accuracy, the epochs done
    and, labelled apart, the highest val accuracy of any epoch."""
    record = run if isinstance(run, RunRecord) else RunRecord.from_json(run)
    best = record.best
    at = stats_at(epochs, best.epoch) if best is not None and best.epoch else None
    row = at or best  # the epoch's own line; the record's copy when the lines are gone
    return {
        "run": record.name or record.id,
        "id": record.id,
        "model": record.model,
        "train_loss": row.train_loss if row else None,
        "val_loss": row.val_loss if row else None,
        "train_acc": row.train_acc if row else None,
        "val_acc": row.val_acc if row else None,
        "best_epoch": best.epoch if best else None,
        "test_acc": record.test.acc if record.test else None,
        "test_ece": record.test.ece if record.test else None,
        "epochs": len(epochs),
        "max_val_acc": max_over_epochs(epochs, "val_acc"),
    }


def config_differences(configs: list[RunConfig]) -> dict[str, list[Any]]:
    """``{"optim.lr": [0.1, 0.05], ...}`` for every key whose value is not the same in all."""
    flats = [{f"{s}.{k}": v for s, d in c.to_dict().items() for k, v in d.items()} for c in configs]
    keys = list(flats[0]) if flats else []
    return {
        key: [f[key] for f in flats] for key in keys if any(f[key] != flats[0][key] for f in flats)
    }


def to_csv(rows: list[dict[str, Any]], columns: list[str] | tuple[str, ...]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def to_markdown(rows: list[dict[str, Any]], columns: list[str] | tuple[str, ...]) -> str:
    """A Markdown table; a float to 6 decimals (a tiny one, 1e-07, to 6 significant digits,
    never 0.000000), a ``|`` or a line break in a value escaped so that the row stays one."""

    def cell(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.6f}" if v == 0 or abs(v) >= 1e-3 else f"{v:.6g}"
        return str(v).replace("|", "\\|").replace("\n", "<br>")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"
