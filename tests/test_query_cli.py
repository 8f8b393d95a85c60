"""``runs list|best --where EXPR`` on the console's fixture store (tests/tui_fixtures.py): the
runs the query lets through, composed with --status and --limit, and a bad query refused in
one ``error: --where:`` line naming the column, exit 2, before the store is read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tui_fixtures import build_store
from typer.testing import CliRunner

from engine import api
from resnet_tui.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def fixture_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("where") / "runs"
    store = build_store(root)
    api.tag_run(store, "resnet24-mixup", ["paper", "baseline"])
    api.tag_run(store, "digits-quick", ["baseline"])
    return root


def run(root: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--runs-dir", str(root), "runs", *args])
    return result.exit_code, result.stdout, result.stderr


def listed(root: Path, *args: str) -> list[str]:
    code, out, err = run(root, "list", "--json", *args)
    assert code == 0, err
    return [row["name"] for row in json.loads(out)]


def records(root: Path) -> list[api.RunRecord]:
    return api.list_runs(api.open_store(root))


def test_where_lets_through_exactly_the_matching_runs(fixture_runs: Path) -> None:
    everything = listed(fixture_runs)
    assert len(everything) == 8
    assert listed(fixture_runs, "--where", "model=resnet24") == ["resnet24-mixup"]
    assert listed(fixture_runs, "--where", "optim.lr=0.05") == ["digits-lr05"]
    assert listed(fixture_runs, "-w", "tag:baseline") == ["resnet24-mixup", "digits-quick"]
    assert listed(fixture_runs, "--where", "tag:paper or model=resnet18") == [
        "resnet18-basic",
        "resnet24-mixup",
    ]
    # The same runs as the records' own numbers say (newest first, as `runs list` orders).
    good = [
        r.name
        for r in records(fixture_runs)
        if r.best and r.best.val_acc is not None and r.best.val_acc > 0.9 and r.dataset == "digits"
    ]
    assert 0 < len(good) < len(everything)
    assert listed(fixture_runs, "--where", "best.val_acc>90% and dataset=digits") == good
    # != keeps the runs without the value (the unreadable folder has no best epoch).
    no_best = [r.name for r in records(fixture_runs) if r.best is None]
    assert no_best
    kept = listed(fixture_runs, "--where", "best.val_acc!=0.5")
    assert set(no_best) <= set(kept) and len(kept) == len(everything)
    # Plain words: what the console's filter always searched.
    assert listed(fixture_runs, "--where", "cifar10") == ["resnet18-basic", "resnet24-mixup"]


def test_where_composes_with_status_and_limit(fixture_runs: Path) -> None:
    digits = listed(fixture_runs, "--where", "dataset=digits")
    finished = listed(fixture_runs, "--status", "finished", "--where", "dataset=digits")
    assert finished == ["digits-lr05", "digits-quick"]
    assert listed(fixture_runs, "--where", "dataset=digits", "--limit", "2") == digits[:2]
    code, out, _ = run(fixture_runs, "list", "--where", "status!=finished", "--limit", "2")
    assert code == 0 and "the newest 2 of 5 runs" in out


def test_where_in_the_table_and_when_nothing_matches(fixture_runs: Path) -> None:
    code, out, _ = run(fixture_runs, "list", "--where", "tag:paper")
    assert code == 0
    assert "resnet24-mixup" in out and "digits-quick" not in out
    code, out, _ = run(fixture_runs, "list", "--where", "model=vgg16")
    assert code == 0 and "match --where model=vgg16" in out


def test_runs_best_takes_where(fixture_runs: Path) -> None:
    code, out, err = run(fixture_runs, "best", "--json", "--where", "dataset=cifar10")
    assert code == 0, err
    assert sorted(row["run"] for row in json.loads(out)) == ["resnet18-basic", "resnet24-mixup"]
    code, out, _ = run(fixture_runs, "best", "--where", "tag:paper")
    assert code == 0 and "resnet24-mixup" in out and "digits-lr05" not in out
    code, out, _ = run(fixture_runs, "best", "--where", "best.val_acc>99.9%")
    assert code == 0 and "no run matching --where" in out


@pytest.mark.parametrize(
    ("command", "where", "line"),
    [
        ("list", "modle=resnet24", "unknown field 'modle' at column 1 (did you mean 'model'?)"),
        ("list", "best.val_acc>", "expected a value after '>' at column 14 (the end)"),
        ("best", "model=resnet24 and (tag:a", "expected ')' at column 26 (the end)"),
        ("best", "best.val_acc>high", "expected a number for best.val_acc at column 14"),
    ],
)
def test_a_bad_where_is_one_line_naming_the_column_exit_2(
    fixture_runs: Path, command: str, where: str, line: str
) -> None:
    code, out, err = run(fixture_runs, command, "--where", where)
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --where: " + line), err
    assert "Traceback" not in err


def test_a_bad_where_is_refused_before_the_store_is_read(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    result = runner.invoke(app, ["--runs-dir", str(missing), "runs", "list", "--where", "model>"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --where: expected a value after '>' at column 7")
    assert not missing.exists()


def test_the_help_of_where_says_what_to_type() -> None:
    result = runner.invoke(app, ["runs", "list", "--help"], terminal_width=100)
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for words in ("--where", "EXPR", "best.val_acc>90%", "tag:NAME", "name~GLOB", "and/or/not"):
        assert words in text
