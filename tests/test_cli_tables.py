"""Every CLI table at 80 columns (and at 60): identifiers and numbers whole, never an ellipsis,
no line wider than the terminal; accuracy in percent with the console's digits.

The store is the console's fixture store (``tui_fixtures``: runs of every status, a stack, an
ablation group, two sweeps) plus runs made here through the engine API with a long name and
config values of many significant digits. What each table must show is read back through the
engine API, then looked for in the real CLI's output.
"""

from __future__ import annotations

import re
from itertools import takewhile
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len
from tui_fixtures import ABLATION_GROUP, STACKED, SWEEP_GRID, SWEEP_SEARCH, build_experiment_store
from typer.testing import CliRunner

from engine import api
from resnet_tui.cli import app
from resnet_tui.widgets import format as units

runner = CliRunner()
WIDTHS = (80, 60)
LONG_NAME = "cifar10-resnet50d-se-long-name-for-narrow-terminals"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> api.RunStore:
    root = tmp_path_factory.mktemp("tables") / "runs"
    build_experiment_store(root)
    s = api.open_store(root)
    for name, sets in (
        (LONG_NAME, ("optim.lr=1e-5", "optim.weight_decay=1e-6", "train.epochs=2")),
        ("small-lr-twin", ("optim.lr=0.1", "optim.weight_decay=0.0005", "train.epochs=2")),
    ):
        record = api.create_run(s, api.plan_run(api.RunRequest("digits-quick", sets, name=name)))
        lines = [
            {"kind": "epoch", "epoch": e, "train_loss": 0.5 / e, "train_acc": 0.9 + e / 100,
             "val_loss": 0.6 / e, "val_acc": 0.8833 + e / 1000, "lr": 1e-5, "seconds": 3.5}
            for e in (1, 2)
        ]  # fmt: skip
        for line in lines:
            s.append_metrics(record.id, line)
        s.set_status(
            record.id,
            "finished",
            "trained 2 epochs",
            epoch=2,
            best={**{k: lines[1][k] for k in ("train_loss", "train_acc", "val_loss")},
                  "val_acc": lines[1]["val_acc"], "best_epoch": 2},
            test={"test_loss": 0.2, "test_acc": 0.9051},
        )  # fmt: skip
    return s


def cli(store: api.RunStore, width: int, *args: str) -> str:
    """The command's output at ``width`` columns, checked for what no table may do."""
    result = runner.invoke(app, ["--runs-dir", str(store.root), *args], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    assert "…" not in result.output, result.output
    wide = [line for line in result.output.splitlines() if cell_len(line) > width]
    assert not wide, f"lines wider than {width}:\n" + "\n".join(wide)
    return result.output


def assert_whole(out: str, expected: list[str]) -> None:
    """Each string appears on its own (not as part of a longer word or number)."""
    missing = [
        text
        for text in expected
        if not re.search(rf"(?<![\w.%-]){re.escape(text)}(?![\w.%-])", out)
    ]
    assert not missing, f"not shown whole: {missing}\n{out}"


def run_tokens(record: api.RunRecord) -> list[str]:
    best, test = record.best, record.test
    return [
        record.name,
        record.id,
        f"{record.epoch}/{record.epochs if record.epochs is not None else '?'}",
        units.pct(best.val_acc if best else None),
        units.pct(test.acc if test else None),
    ]


@pytest.mark.parametrize("width", WIDTHS)
def test_runs_list_shows_every_name_id_and_accuracy_whole(store: api.RunStore, width: int) -> None:
    out = cli(store, width, "runs", "list", "--all")
    records = api.list_runs(store)
    assert len(records) > 20
    assert_whole(out, [token for r in records for token in run_tokens(r)])
    assert "%" in out and "0.9" not in out  # accuracy in percent, not as a fraction


@pytest.mark.parametrize("width", WIDTHS)
def test_runs_best_and_show_show_every_number_whole(store: api.RunStore, width: int) -> None:
    out = cli(store, width, "runs", "best")
    rows = [
        api.best_stats_row(r, api.read_metrics(store, r.id).epochs)
        for r in api.list_runs(store)
        if r.epoch
    ]
    expected = []
    for row in rows:
        expected += [row["run"], units.number(row["train_loss"]), units.number(row["val_loss"])]
        expected += [units.pct(row[k]) for k in ("train_acc", "val_acc", "test_acc", "max_val_acc")]
    assert_whole(out, expected)
    out = cli(store, width, "runs", "show", LONG_NAME)
    epochs = api.read_metrics(store, api.resolve_run(store, LONG_NAME)).epochs
    assert_whole(out, [LONG_NAME, "1e-05", "3.5"])
    assert_whole(out, [units.pct(e["val_acc"]) for e in epochs] + ["90.51%"])


@pytest.mark.parametrize("width", WIDTHS)
def test_runs_compare_keeps_every_significant_digit(store: api.RunStore, width: int) -> None:
    out = cli(store, width, "runs", "compare", LONG_NAME, "small-lr-twin", "digits-quick")
    assert_whole(out, [LONG_NAME, "small-lr-twin", "digits-quick"])
    assert_whole(out, ["optim.lr", "1e-05", "0.1", "optim.weight_decay", "1e-06", "0.0005"])
    assert "0.0000 " not in out  # 1e-5 once printed as 0.0000
    assert_whole(out, ["88.53%", "90.51%", "max val acc (any epoch)"])


@pytest.mark.parametrize("width", WIDTHS)
def test_models_and_presets_list_show_every_name_whole(store: api.RunStore, width: int) -> None:
    from engine.api import compute

    out = cli(store, width, "models", "list")
    assert_whole(out, [m.name for m in compute.catalog().models])
    out = cli(store, width, "presets", "list")
    assert_whole(out, [p.name for p in api.list_presets()])


@pytest.mark.parametrize("width", WIDTHS)
def test_sweeps_list_and_show_show_every_trial_whole(store: api.RunStore, width: int) -> None:
    out = cli(store, width, "sweeps", "list")
    for row in api.list_sweeps(store):
        assert_whole(out, [row["name"], f"{row['finished']}/{row['planned']}"])
        assert_whole(out, [units.pct(row["best_val_acc"])])
    for name in (SWEEP_GRID, SWEEP_SEARCH):
        out = cli(store, width, "sweeps", "show", name)
        summary = api.sweep_summary(store, name)
        expected: list[str] = []
        for trial in summary["trials"]:
            expected += [str(trial["trial"]), units.pct(trial["val_acc"])]
            expected += [units.config_value(v) for v in trial["params"].values()]
        for by_value in summary["by_param"].values():
            expected += [units.pct(row["mean_val_acc"]) for row in by_value]
        assert_whole(out, expected)


@pytest.mark.parametrize("width", WIDTHS)
def test_ablations_show_accuracy_in_percent_and_differences_in_points(
    store: api.RunStore, width: int
) -> None:
    out = cli(store, width, "ablate", "--list")
    (group,) = api.list_ablations(store)
    assert_whole(out, [group["group"], group["preset"], units.pct(group["base_val_acc"])])
    out = cli(store, width, "ablate", "--show", ABLATION_GROUP)
    rows = api.ablation_table(store, ABLATION_GROUP)
    expected = []
    for row in rows:
        expected += [str(row["name"]), units.pct(row["val_acc"]), units.pct(row["test_acc"])]
        if row["ablation"] != "base":
            expected += [units.points(row["d_val_acc"]), units.points(row["d_test_acc"])]
    assert_whole(out, expected)
    assert " pp" in out


@pytest.mark.parametrize("width", WIDTHS)
def test_a_stacking_report_shows_every_member_whole(
    store: api.RunStore, width: int, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from resnet_tui.commands.experiments import print_stacking

    monkeypatch.setenv("COLUMNS", str(width))
    report = api.read_stack_report(store, STACKED)
    print_stacking(report)
    out = capsys.readouterr().out
    assert "…" not in out and all(cell_len(line) <= width for line in out.splitlines())
    expected = [str(m["name"]) for m in report.members]
    expected += [units.pct(m["test_acc"]) for m in report.members]
    expected += [units.pct(m["contribution"]) for m in report.members]
    assert_whole(out, [*expected, units.pct(report.ensemble["test_acc"])])


def test_runs_list_at_80_keeps_the_status_before_the_other_secondary_columns(
    tmp_path: Path,
) -> None:
    """Names of everyday length: name, id, status, epoch and both accuracies at 80 columns
    (the id goes under the name for the status to fit; at 120 all on one line)."""
    from tui_fixtures import build_store

    s = build_store(tmp_path / "runs")
    records = api.list_runs(s)
    for width, lines_per_run in ((80, 2), (120, 1)):
        out = cli(s, width, "runs", "list")
        assert_whole(out, [token for r in records for token in [*run_tokens(r), r.status]])
        lines = out.splitlines()
        rule = next(i for i, line in enumerate(lines) if set(line.strip()) == {"─"})
        rows = list(takewhile(lambda line: not line.startswith("(left out"), lines[rule + 1 :]))
        assert len(rows) == lines_per_run * len(records), out


def test_a_narrow_table_says_which_columns_it_left_out(store: api.RunStore) -> None:
    out = cli(store, 80, "runs", "list")
    note = re.search(r"\(left out at 80 columns: ([^;]*); a wider\s+terminal or --json", out)
    assert note is not None, out
    assert {"model", "dataset", "params", "started"} <= set(note[1].split(", "))
    out = cli(store, 250, "runs", "list")
    assert "left out" not in out and "resnet-digits" in out and "308,074" in out


def test_one_unit_for_accuracy_and_its_differences() -> None:
    assert units.pct(0.98333) == "98.33%"
    assert units.points(-0.012) == "-1.20 pp" and units.points(0.0333) == "+3.33 pp"
    assert units.config_value(1e-5) == "1e-05" and units.config_value(0.1) == "0.1"
    assert units.config_value([64, 128]) == "64,128" and units.config_value(True) == "true"
