"""Every run as one flat row of every column (``runs export``): identity, status, the user's
marks, provenance, the best epoch's and the test's numbers, its place in a sweep, an ablation
or a stack, and every config key flattened (``config.optim.lr``). CSV and Markdown through
``engine.metrics.to_csv``/``to_markdown`` (the Best view's exports); values whole, never cut.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from engine.errors import StoreError
from engine.records import RunRecord
from engine.report.diff import flat_config, flatten

# The columns every row has, in this order; then data.*, provenance.*, config.* as found.
FIXED_COLUMNS = (
    "id",
    "name",
    "status",
    "message",
    "preset",
    "model",
    "dataset",
    "params",
    "device",
    "host",
    "created",
    "started",
    "finished",
    "elapsed_s",
    "epoch",
    "epochs",
    "best_epoch",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "test_loss",
    "test_acc",
    "test_ece",
    "pinned",
    "archived",
    "tags",
    "note",
    "sweep",
    "trial",
    "ablation_group",
    "ablation_removed",
    "stack_members",
)


def export_row(record: RunRecord) -> dict[str, Any]:
    """One run, every column: the fixed ones, then ``data.*`` (what the trainer made of the
    data), ``provenance.*`` when recorded, and ``config.<section>.<key>``."""
    best, test = record.best, record.test
    sweep, ablation, stack = record.sweep, record.ablation, record.stack
    row: dict[str, Any] = {
        "id": record.id,
        "name": record.name,
        "status": record.status,
        "message": record.message,
        "preset": record.preset,
        "model": record.model,
        "dataset": record.dataset,
        "params": record.params,
        "device": record.device,
        "host": record.host,
        "created": record.created,
        "started": record.started,
        "finished": record.finished,
        "elapsed_s": record.elapsed_s,
        "epoch": record.epoch,
        "epochs": record.epochs,
        "best_epoch": best.epoch if best else None,
        "train_loss": best.train_loss if best else None,
        "train_acc": best.train_acc if best else None,
        "val_loss": best.val_loss if best else None,
        "val_acc": best.val_acc if best else None,
        "test_loss": test.loss if test else None,
        "test_acc": test.acc if test else None,
        "test_ece": test.ece if test else None,
        "pinned": record.pinned,
        "archived": record.archived,
        "tags": list(record.tags),
        "note": record.note,
        "sweep": (sweep.name or sweep.former) if sweep else None,
        "trial": sweep.trial if sweep else None,
        "ablation_group": ablation.group if ablation else None,
        "ablation_removed": ablation.removed if ablation else None,
        "stack_members": list(stack.members) if stack else None,
    }
    row.update(flatten(record.data, "data."))
    extra = getattr(record, "provenance", None)
    if isinstance(extra, Mapping):
        row.update(flatten(extra, "provenance."))
    row.update({f"config.{k}": v for k, v in flat_config(record).items()})
    return row


def export_columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every column of ``rows``: the fixed ones first, then each other one where first seen."""
    seen = dict.fromkeys(FIXED_COLUMNS)
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def text_cells(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows for CSV and Markdown: tags as words (``baseline paper:fig3``: a tag has no
    space), other lists and mappings as JSON text (``[3, 3, 2, 3]``), booleans as
    true/false; numbers and text as they are."""

    def cell(key: str, value: Any) -> Any:
        if key == "tags" and isinstance(value, list | tuple):
            return " ".join(map(str, value))
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list | tuple | Mapping):
            return json.dumps(value, default=str)
        return value

    return [{k: cell(k, v) for k, v in row.items()} for row in rows]


def require_metrics(record: RunRecord, epochs: Sequence[Mapping[str, Any]]) -> None:
    """Refuse (``StoreError``) a run with no epoch line: a report of it would be empty."""
    if not epochs:
        raise StoreError(
            f"run {record.name} ({record.id}) has no metrics yet: it has not finished an "
            "epoch; report it once it has, or leave it out"
        )
