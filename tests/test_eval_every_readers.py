"""Epoch lines without val keys (the epochs ``train.eval_every`` skips) read everywhere: the
tables, the best stats, the charts' series, the time split, the query language and alerts'
variables show the evaluated epochs and '-' (never 0 or NaN) for the others."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from engine import api
from resnet_tui.cli import app
from resnet_tui.progress import epoch_line
from resnet_tui.widgets.sparks import metric_series

EVALUATED = (2, 4, 5)


def _lines() -> list[dict[str, Any]]:
    lines = []
    for e in range(1, 6):
        line: dict[str, Any] = {
            "kind": "epoch",
            "epoch": e,
            "train_loss": 1.0 / e,
            "train_acc": 0.5 + e / 20,
            "lr": 0.1,
            "seconds": 2.0,
            "wall_s": 2.0,
            "step_s": 1.5,
            "data_s": 0.1,
        }
        if e in EVALUATED:
            line.update(val_loss=1.2 / e, val_acc=0.4 + e / 10, eval_s=0.25)
        lines.append(line)
    return lines


def _store(tmp_path: Path) -> tuple[api.RunStore, str]:
    store = api.open_store(tmp_path / "runs")
    plan = api.plan_run(api.RunRequest("digits-quick", ("train.eval_every=2", "train.epochs=5")))
    record = api.create_run(store, plan)
    lines = _lines()
    for line in lines:
        store.append_metrics(record.id, line)
    best = lines[3]  # epoch 4
    store.set_status(
        record.id,
        "finished",
        "trained 5 epochs",
        epoch=5,
        best={**{k: best[k] for k in ("train_loss", "train_acc", "val_loss", "val_acc")},
              "best_epoch": 4},
        test={"test_loss": 0.3, "test_acc": 0.91},
    )  # fmt: skip
    return store, record.id


def test_readers_show_only_the_evaluated_epochs(tmp_path: Path) -> None:
    store, run_id = _store(tmp_path)
    epochs = api.read_metrics(store, run_id).epochs
    xs, ys = metric_series(epochs, "val_acc")
    assert xs == [2.0, 4.0, 5.0] and ys == pytest.approx([0.6, 0.8, 0.9])
    assert metric_series(epochs, "train_acc")[0] == [1.0, 2.0, 3.0, 4.0, 5.0]
    row = api.best_stats_row(api.get_run(store, run_id), epochs)
    assert (row["best_epoch"], row["val_acc"]) == (4, pytest.approx(0.8))
    assert row["max_val_acc"] == pytest.approx(0.9)
    split = api.time_split(epochs)
    assert split is not None  # eval_s absent on two steady epochs: counted as no eval time
    query = api.parse_query("best.val_acc>75%")
    assert query.matches(api.get_run(store, run_id))
    assert "| val not evaluated (train.eval_every) |" in epoch_line(epochs[0])  # as train.log
    assert "val loss 0.6000 acc 60.00%" in epoch_line(epochs[1])


def test_runs_show_prints_a_dash_for_skipped_val_at_80_columns(tmp_path: Path) -> None:
    store, run_id = _store(tmp_path)
    result = CliRunner().invoke(
        app, ["--runs-dir", str(store.root), "runs", "show", run_id], env={"COLUMNS": "80"}
    )
    assert result.exit_code == 0, result.output
    rows = {}
    for line in result.output.splitlines():
        cells = line.replace("│", " ").split()
        if cells and cells[0].isdigit() and len(cells) >= 6:
            rows[int(cells[0])] = cells
    assert sorted(rows) == [1, 2, 3, 4, 5], result.output
    for e, cells in rows.items():
        if e in EVALUATED:
            assert "-" not in cells[1:5] and f"{100 * (0.4 + e / 10):.2f}%" in cells, cells
        else:
            assert cells[3] == "-" and cells[4] == "-", cells  # val loss, val acc
    assert not re.search(r"\bnan\b", result.output.lower())  # "provenance" is fine
