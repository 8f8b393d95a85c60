"""The command line: real training on digits, the run tables, detach/stop/resume."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import REPO
from typer.testing import CliRunner

from engine.store import RunStore
from resnet_tui.cli import app

torch.set_num_threads(1)
runner = CliRunner()


def cli(*args: str, input: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), input=input)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with two finished digits runs that differ in lr."""
    runs = tmp_path_factory.mktemp("cli") / "runs"
    for name, lr in (("first", "0.1"), ("second", "0.05")):
        code, out = cli(
            "--runs-dir",
            str(runs),
            "train",
            "digits-quick",
            "--set",
            "train.epochs=2",
            "--set",
            f"optim.lr={lr}",
            "--name",
            name,
        )
        assert code == 0, out
        assert "test acc" in out and "best val acc" in out
    return runs


def test_runs_list_and_json(trained: Path) -> None:
    code, out = cli("--runs-dir", str(trained), "runs", "list", "--json")
    assert code == 0
    rows = json.loads(out)
    assert sorted(r["name"] for r in rows) == ["first", "second"]
    assert all(r["status"] == "finished" and r["epoch"] == "2/2" for r in rows)
    code, out = cli("--runs-dir", str(trained), "runs", "list")
    assert code == 0 and "first" in out and "finished" in out


def test_runs_list_prints_the_newest_50_unless_asked_and_filters_by_status(
    tmp_path: Path,
) -> None:
    from tui_fixtures import build_big_store

    store = build_big_store(tmp_path / "runs", runs=60, epochs=2)
    newest = store.list_runs()[0]["id"]
    store.set_status(newest, "stopped", "stopped by a test")
    args = ["--runs-dir", str(tmp_path / "runs"), "runs", "list"]
    code, out = cli(*args)

    def names(out: str) -> int:  # rows: each starts with the run's name (bulk-0000)
        return len(re.findall(r"^bulk-\d{4} ", out, re.MULTILINE))

    assert code == 0 and names(out) == 50
    assert "the newest 50 of 60 runs; --all or --limit N for more" in out
    code, out = cli(*args, "--all")
    assert code == 0 and names(out) == 60 and "the newest" not in out
    code, out = cli(*args, "--limit", "3", "--json")
    assert code == 0 and len(json.loads(out)) == 3
    code, out = cli(*args, "--json")
    assert code == 0 and len(json.loads(out)) == 60  # scripts get every run
    code, out = cli(*args, "--status", "stopped", "--json")
    assert [r["id"] for r in json.loads(out)] == [newest]
    code, out = cli(*args, "--status", "crashed")
    assert code == 0 and "no crashed runs in" in out
    code, out = cli(*args, "--status", "done")
    assert code == 2 and "--status done: not a run status; one of queued" in out
    code, out = cli(*args, "--limit", "0")
    assert code == 2 and "--limit: must be at least 1" in out


def test_runs_best_is_the_seed_000_table(trained: Path) -> None:
    code, out = cli("--runs-dir", str(trained), "runs", "best", "--json")
    assert code == 0
    rows = {r["run"]: r for r in json.loads(out)}
    store = RunStore(trained)
    for name, row in rows.items():
        epochs = [m for m in store.read_metrics(store.resolve(name))[0] if m["kind"] == "epoch"]
        assert 1 <= row["best_epoch"] <= 2
        # every column from the best epoch (the kept checkpoint's), never mixed (issue 10)
        best = next(m for m in epochs if m["epoch"] == row["best_epoch"])
        for key in ("train_loss", "val_loss", "train_acc", "val_acc"):
            assert row[key] == best[key], key
        assert row["max_val_acc"] == max(m["val_acc"] for m in epochs)
    code, out = cli("--runs-dir", str(trained), "runs", "best")
    assert "Best Stats Per Model" in out and "best" in out and "epoch" in out
    # the highest val accuracy of any epoch is a column of its own, labelled so: a number,
    # so shown at every width (tests/test_cli_tables.py checks every table at 80 and 60)
    for width in (60, 80, 120):
        args = ["--runs-dir", str(trained), "runs", "best"]
        result = runner.invoke(app, args, env={"COLUMNS": str(width)})
        assert result.exit_code == 0, result.output
        assert "max" in result.output and "…" not in result.output, (width, result.output)
        # the model gives way first, and the table says so
        assert ("resnet-digits" in result.output) is (width >= 80), (width, result.output)
        assert ("left out at 60 columns: model;" in result.output) is (width == 60)


def test_runs_show_and_compare(trained: Path) -> None:
    code, out = cli("--runs-dir", str(trained), "runs", "show", "first")
    assert code == 0 and "status finished" in out and "test:" in out
    code, out = cli("--runs-dir", str(trained), "runs", "compare", "first", "second", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["config_differences"] == {"optim.lr": [0.1, 0.05]}
    assert len(data["stats"]) == 2 and all(row["max_val_acc"] for row in data["stats"])
    code, out = cli("--runs-dir", str(trained), "runs", "compare", "first", "second")
    assert code == 0 and "optim.lr" in out and "max val acc (any epoch)" in out


def test_presets_and_models_commands() -> None:
    code, out = cli("presets", "list", "--json")
    assert code == 0 and "digits-quick" in {p["name"] for p in json.loads(out)}
    code, out = cli("presets", "show", "cifar10-resnet24-mixup", "--set", "train.epochs=5")
    assert code == 0 and "epochs = 5" in out and 'name = "adadelta"' in out
    code, out = cli("models", "list", "--json")
    assert code == 0 and {"resnet24", "resnet50d", "basenet"} <= {
        m["name"] for m in json.loads(out)
    }
    code, out = cli("models", "summary", "resnet24")
    assert code == 0
    assert out.strip().splitlines()[-2:] != []
    assert "Trainable params: 4,935,242" in out
    assert max(len(line) for line in out.splitlines()) <= 80  # torchinfo's table fits too
    code, out = cli("models", "summary", "resnet24", "--set", "model.channels=32,64,128,256")
    assert code == 0 and "Trainable params: 4,935,242" not in out


def test_rm_asks_and_deletes(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    code, out = cli(
        "--runs-dir",
        str(runs),
        "train",
        "digits-quick",
        "--set",
        "train.epochs=1",
        "--name",
        "gone",
    )
    assert code == 0, out
    code, out = cli("--runs-dir", str(runs), "runs", "rm", "gone", input="n\n")
    assert code == 1 and len(RunStore(runs).list_runs()) == 1
    code, out = cli("--runs-dir", str(runs), "runs", "rm", "gone", input="y\n")
    assert code == 0 and RunStore(runs).list_runs() == []


# The bad-input catalogue (one-line errors that change nothing) is tests/test_bad_input.py.


@pytest.mark.parametrize(
    "command",
    [
        ["train", "digits-quick"],
        ["presets", "show", "digits-quick"],
        ["bench", "loader", "digits-quick"],
    ],
)
def test_several_mistakes_are_one_error_line_each_and_change_nothing(
    tmp_path: Path, command: list[str]
) -> None:
    from fixtures import store_snapshot

    runs = tmp_path / "runs"
    RunStore(runs)
    before = store_snapshot(runs)
    sets = ["optim.lrr=1", "optim.lr=-1", "data.batch_size=0"]
    result = runner.invoke(
        app, ["--runs-dir", str(runs), *command, *(a for s in sets for a in ("--set", s))]
    )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("error: ") for line in lines), lines
    assert "unknown key 'optim.lrr' (did you mean 'optim.lr'?)" in result.output
    assert "optim.lr: must be greater than 0" in result.output
    assert "data.batch_size: must be at least 1" in result.output
    assert "Traceback" not in result.output
    assert store_snapshot(runs) == before


@pytest.mark.parametrize(
    "command",
    [["train"], ["presets", "show"], ["bench", "loader"], ["ablate"], ["sweep", "--search", "2"]],
)
def test_a_preset_file_with_several_mistakes_says_each_on_a_line_of_its_own(
    tmp_path: Path, command: list[str]
) -> None:
    from fixtures import store_snapshot

    preset = tmp_path / "three-mistakes.toml"
    preset.write_text(
        'description = "three mistakes"\n[optim]\nlrr = 0.1\nlr = -1\n[data]\nbatch_size = 0\n',
        encoding="utf-8",
    )
    runs = tmp_path / "runs"
    RunStore(runs)
    before = store_snapshot(runs)
    args = [*command, str(preset)]
    if command[0] == "sweep":
        args += ["--range", "optim.lr=0.01:0.1"]
    result = runner.invoke(app, ["--runs-dir", str(runs), *args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith(f"error: {preset}: ") for line in lines), lines
    assert "unknown key 'optim.lrr' (did you mean 'optim.lr'?)" in result.output
    assert "optim.lr: must be greater than 0" in result.output
    assert "data.batch_size: must be at least 1" in result.output
    assert store_snapshot(runs) == before


def every_command(command: Any, path: list[str]) -> list[list[str]]:
    """The path of ``command`` and of every command below it."""
    paths = [path]
    for name, sub in getattr(command, "commands", {}).items():
        paths += every_command(sub, [*path, name])
    return paths


def test_every_help_fits_80_columns_and_names_what_to_type_not_python_types() -> None:
    import typer

    paths = every_command(typer.main.get_command(app), [])
    assert len(paths) > 20 and ["runs", "compare"] in paths
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"})
        assert result.exit_code == 0, (path, result.output)
        for line in result.output.splitlines():
            assert len(line) <= 80, (path, line)
            # Typer's own placeholders: <str>, <int>, <list[str]>, <int range>, {NAME}
            assert not re.search(r"<[a-z][^>]*>|\{[A-Z]", line), (path, line)
    out = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "80"}).output
    assert "--set KEY=VALUE" in out and "[PRESET]" in out and "--resume RUN" in out
    out = runner.invoke(app, ["runs", "compare", "--help"], env={"COLUMNS": "80"}).output
    assert "compare [OPTIONS] RUN..." in out


def test_quiet_prints_the_run_id_and_the_last_line_only(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    args = ["--runs-dir", str(runs), "train", "digits-quick", "--quiet", "--name", "hush"]
    result = runner.invoke(app, [*args, "--set", "train.epochs=1"])
    assert result.exit_code == 0, result.output
    record = RunStore(runs).get(RunStore(runs).resolve("hush"))
    lines = result.output.strip().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"run {record['id']} (hush) training; log: ")
    assert lines[1].startswith("finished: ") and lines[1].endswith(f"| run {record['id']}")
    assert "best val acc " in lines[1] and "%" in lines[1]


@pytest.mark.slow  # a real loader benchmark in a subprocess
@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity")
def test_bench_loader_prints_no_library_warnings(tmp_path: Path) -> None:
    """Two workers on one CPU: torch warns that it suggests at most one; the table does not
    want that note (nor any other library's)."""
    cpu = min(os.sched_getaffinity(0))
    result = subprocess.run(
        [sys.executable, "-m", "resnet_tui", "--runs-dir", str(tmp_path / "runs")]
        + ["bench", "loader", "digits-quick", "--workers", "2"],
        cwd=REPO,
        env=dict(os.environ, COLUMNS="80"),
        capture_output=True,
        text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
    )
    assert result.returncode == 0, result.stderr
    assert "pil-dataloader" in result.stdout
    assert result.stderr == "", result.stderr


def test_a_taken_name_gets_a_suffix_and_says_so_and_rename_keeps_names_unique(
    tmp_path: Path,
) -> None:
    from engine import api

    runs = tmp_path / "runs"
    store = api.open_store(runs)
    plan = api.plan_run(api.RunRequest("digits-quick", ("train.epochs=1",), name="taken"))
    first = api.create_run(store, plan)
    args = ["--runs-dir", str(runs)]
    result = runner.invoke(
        app, [*args, "train", "digits-quick", "--set", "train.epochs=1", "--name", "taken"]
    )
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == "note: a run named 'taken' exists; this run is 'taken-2'"
    second = api.get_run(store, "taken-2")
    assert second.status == "finished" and f"run {second.id}" in result.stdout
    code, out = cli(*args, "runs", "rename", "taken-2", "taken")
    assert code == 2 and out.startswith("error: the name 'taken' is taken by run " + first.id)
    assert len(out.strip().splitlines()) == 1
    code, out = cli(*args, "runs", "rename", second.id, "mine")
    assert code == 0 and "'taken-2' -> 'mine'" in out
    assert api.get_run(store, second.id).name == "mine"
    assert api.get_run(store, "taken").id == first.id


def test_help_is_fast_and_lists_the_commands() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "resnet_tui", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=dict(os.environ),
        check=True,
    ).stdout
    for command in ("train", "runs", "presets", "models"):
        assert command in out


@pytest.mark.slow
def test_detach_stop_and_resume_through_the_cli(tmp_path: Path) -> None:
    """--detach returns at once; `runs stop` stops it gracefully; --resume --detach finishes it."""
    import time

    runs = tmp_path / "runs"
    env = dict(os.environ, OMP_NUM_THREADS="1", RESNET_TUI_RUNS=str(runs))
    base = [sys.executable, "-m", "resnet_tui"]
    out = subprocess.run(
        [
            *base,
            "train",
            "digits-quick",
            "--name",
            "bg",
            "--detach",
            "--set",
            "train.epochs=30",
            "--set",
            "data.batch_size=16",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "training in the background" in out
    store = RunStore(runs)
    run_id = store.resolve("bg")

    def wait(pred: object, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not pred():  # type: ignore[operator]
            assert time.monotonic() < deadline, store.get(run_id)
            time.sleep(0.1)

    wait(lambda: store.get(run_id)["epoch"] >= 1)
    code, out = cli("--runs-dir", str(runs), "runs", "stop", "bg")
    assert code == 0, out
    wait(lambda: store.get(run_id)["status"] == "stopped")
    assert store.get(run_id)["epoch"] < 30
    code, out = cli("--runs-dir", str(runs), "runs", "rm", "bg", "--yes")
    assert code == 0  # a stopped run may be deleted; recreate to test resume instead
    subprocess.run(
        [*base, "train", "digits-quick", "--name", "bg2", "--detach", "--set", "train.epochs=2"],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
    )
    run_id = store.resolve("bg2")
    code, out = cli("--runs-dir", str(runs), "runs", "rm", "bg2", "--yes")
    if store.get(run_id)["status"] in ("running", "queued"):
        assert code == 2 and "stop it first" in out
    wait(lambda: store.get(run_id)["status"] == "finished")
    assert (store.run_dir(run_id) / "confusion.json").exists()
