"""The split of an epoch's time read from metrics lines (engine.timing), and `runs show`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from engine.store import RunStore
from engine.timing import time_split
from resnet_tui.cli import app


def run_cli(args: list[str], runs_dir: Path) -> Any:
    return CliRunner().invoke(app, ["--runs-dir", str(runs_dir), *args], env={"COLUMNS": "80"})


def _line(
    epoch: int, step: float, eval_: float, data: float, ckpt: float, store: float
) -> dict[str, Any]:
    wall = step + eval_ + data + ckpt + store + 0.1
    return {
        "kind": "epoch",
        "epoch": epoch,
        "seconds": step + data,
        "step_s": step,
        "eval_s": eval_,
        "data_s": data,
        "checkpoint_s": ckpt,
        "store_s": store,
        "other_s": 0.1,
        "wall_s": wall,
    }


LINES = [
    _line(1, 9.0, 1.0, 2.0, 0.0, 0.0),
    _line(2, 4.0, 1.0, 0.5, 0.3, 0.1),
    _line(3, 4.0, 1.0, 0.5, 0.5, 0.1),
]


def test_the_split_leaves_out_the_warm_up_epoch_and_adds_up() -> None:
    split = time_split(LINES)
    assert split is not None and split.epochs == (2, 3)
    assert split.wall_s == pytest.approx((6.0 + 6.2) / 2)
    assert split.parts["checkpoint_s"] == pytest.approx(0.4)
    # fixed cost: data 0.5 + checkpoint 0.4 + store 0.1 + other 0.1 over 6.1 s
    assert split.fixed_share == pytest.approx(1.1 / 6.1)
    assert sum(split.parts.values()) == pytest.approx(split.wall_s)
    head, *rest = split.describe()
    assert "6.10 s wall an epoch (epochs 2-3), 18.0% fixed (not steps or eval)" in head
    assert rest == [
        "  steps 4.00 s 66% · eval 1.00 s 16% · data 0.50 s 8%",
        "  checkpoint 0.40 s 7% · store 0.10 s 2% · other 0.10 s 2%",
    ]


def test_one_epoch_is_its_own_split_and_old_lines_have_none() -> None:
    one = time_split(LINES[:1])
    assert one is not None and one.epochs == (1,) and one.parts["step_s"] == 9.0
    assert time_split(LINES, steady=False).epochs == (1, 2, 3)  # type: ignore[union-attr]
    old = [
        {k: v for k, v in line.items() if k.endswith("loss") or k in ("epoch", "seconds")}
        for line in LINES
    ]
    assert time_split(old) is None


def test_runs_show_prints_the_split_within_80_columns(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    run_id = str(store.create_run({"data": {"name": "digits"}}, name="timed")["id"])
    for line in LINES:
        store.append_metrics(run_id, line)
    out = run_cli(["runs", "show", "timed"], runs_dir)
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("time: "))
    assert lines[at].startswith("time: 6.10 s wall an epoch (epochs 2-3), 18.0% fixed")
    assert lines[at + 2].startswith("  checkpoint 0.40 s 7%")
    assert max(len(line) for line in lines[at : at + 3]) <= 80
    shown = json.loads(run_cli(["runs", "show", "timed", "--json"], runs_dir).output)
    assert shown["time_split"]["epochs"] == [2, 3]
    assert shown["time_split"]["fixed_share"] == pytest.approx(1.1 / 6.1)
