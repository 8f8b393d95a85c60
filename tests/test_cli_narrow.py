"""The CLI at 80 columns and narrower, as a newcomer met it: the top-5 pairs of ``runs
mistakes`` and the ``key value`` pairs of ``runs show`` never split, continuation lines
indented under their label; and the one-line refusals met on the way (a run flipped against
itself, a gallery asked for as .jpg). Fixture stores here; a real trained run only in the
slow test."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from engine import api
from engine.predictions_file import PREDICTIONS_FILE, from_arrays, write_predictions
from engine.presets import resolve
from engine.store import RunStore
from resnet_tui.cli import app
from resnet_tui.commands._lines import hanging
from resnet_tui.commands._table import value_text

runner = CliRunner()
CLASSES = ("retriever", "tabby-cat", "owl", "fox", "axolotl")
# long class names, as an image folder's can be
LONG = tuple(f"class-{n}" for n in ("golden-retriever", "tabby-cat", "owl", "fox", "axolotl"))
LABELS = [0, 1, 2]
TOP = [[1, 0, 2, 3, 4], [2, 1, 0, 4, 3], [0, 2, 1, 3, 4]]
PROBS = [
    [0.8847, 0.1148, 0.0003, 0.0001, 0.0001],
    [0.5, 0.3, 0.1, 0.06, 0.04],
    [0.6, 0.3, 0.05, 0.03, 0.02],
]


def cli(runs: Path, width: int, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--runs-dir", str(runs), *args], env={"COLUMNS": str(width)})
    return result.exit_code, result.output


def run_with_predictions(store: RunStore, name: str, classes: tuple[str, ...] = CLASSES) -> str:
    config = resolve("digits-quick", ["train.epochs=1"])[0].to_dict()
    run_id = str(store.create_run(config, name=name, preset="digits-quick")["id"])
    store.set_status(run_id, "finished", "finished", test={"test_loss": 1.0, "test_acc": 0.5})
    p = from_arrays(np.arange(3), LABELS, TOP, PROBS, classes, epoch=1)
    write_predictions(store.run_dir(run_id) / PREDICTIONS_FILE, p)
    return run_id


def shown_pairs(line: str) -> list[str]:
    return re.findall(r"[a-z][\w-]* \d+\.\d\d%", line.replace("\u00a0", " "))


@pytest.mark.parametrize("width", [80, 100, 60])
def test_mistakes_top5_pairs_never_split(runs_dir: Path, width: int) -> None:
    store = RunStore(runs_dir)
    run_with_predictions(store, "a")
    code, out = cli(runs_dir, width, "runs", "mistakes", "a")
    assert code == 0, out
    lines = out.splitlines()
    assert all(cell_len(line) <= width for line in lines), out
    found = api.mistakes(store, "a")
    assert len(found) == 3
    for m in found:
        # the row: its index, both class names whole, the confidence, on one line
        row = [line for line in lines if re.match(rf"\s*{m.index}\s+{m.true}\s+{m.pred}\s", line)]
        if width >= 80:
            assert len(row) == 1, out
            pairs = shown_pairs(row[0])
            # the most likely pairs first, each whole; only the least likely give way
            expected = [f"{name} {p * 100:.2f}%" for name, p in m.top5]
            assert pairs == expected[: len(pairs)] and len(pairs) >= 1, out
    # no line holds a class name alone after the first columns (a pair split over lines)
    assert not [line for line in lines if re.fullmatch(r"\s*\d+\.\d\d%\s*", line)], out
    if width == 80:
        assert "(top 5: as many as fit at 80 columns; a wider terminal or --json" in out
    code, wide = cli(runs_dir, 250, "runs", "mistakes", "a")
    assert "as many as fit" not in wide and "axolotl 0.01%" in wide.replace("\u00a0", " ")


def test_long_class_names_stay_whole_and_the_top5_gives_way(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    run_with_predictions(store, "a", LONG)
    code, out = cli(runs_dir, 80, "runs", "mistakes", "a")
    assert code == 0 and all(cell_len(line) <= 80 for line in out.splitlines()), out
    assert re.search(r"0\s+class-golden-retriever\s+class-tabby-cat\s+88.47%", out), out
    assert "(left out at 80 columns: top 5; a wider terminal or --json shows them)" in out


def test_mistakes_as_blocks_wrap_between_pairs(runs_dir: Path) -> None:
    """Too narrow for the columns: each mistake a block, its pairs wrapped between pairs."""
    store = RunStore(runs_dir)
    run_with_predictions(store, "a", LONG)
    code, out = cli(runs_dir, 40, "runs", "mistakes", "a")
    assert code == 0, out
    text = out.replace("\u00a0", " ")
    assert all(cell_len(line) <= 40 for line in out.splitlines()), out
    assert "class-golden-retriever" in text and "class-tabby-cat" in text
    pairs = [pair for line in text.splitlines() for pair in shown_pairs(line)]
    assert pairs.count("class-axolotl 0.01%") >= 1 and "class-tabby-cat 88.47%" in pairs


def test_a_hanging_line_breaks_between_pairs_and_indents_under_its_label() -> None:
    best = (
        "best: train_loss 0.0133  train_acc 99.68%  val_loss 0.0353  val_acc 98.89%  best_epoch 12"
    )
    assert hanging(best, 80) == [
        "best: train_loss 0.0133  train_acc 99.68%  val_loss 0.0353  val_acc 98.89%",
        "      best_epoch 12",
    ]
    command = "  command: /v/bin/resnet-tui --runs-dir /tmp/fc-runs train digits-quick --name dq1"
    assert hanging(command, 60) == [
        "  command: /v/bin/resnet-tui --runs-dir /tmp/fc-runs train",
        "           digits-quick --name dq1",
    ]
    # an option stays with its value, a number with its unit
    assert hanging("  command: resnet-tui train --name dq1", 34) == [
        "  command: resnet-tui train",
        "           --name dq1",
    ]
    assert hanging("time: 0.89 s wall an epoch", 15) == [
        "time: 0.89 s",
        "      wall an",
        "      epoch",
    ]
    assert hanging("short", 80) == ["short"]
    assert hanging("x" * 90, 80) == ["x" * 90]  # a word wider than the line: folded when shown


@pytest.mark.slow
def test_a_real_runs_show_at_80_columns(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    train = [str(Path(sys.executable).parent / "resnet-tui"), "--runs-dir", str(runs), "train"]
    done = subprocess.run(
        [*train, "digits-quick", "--set", "train.epochs=2", "--name", "dq1", "--quiet"],
        capture_output=True,
        text=True,
        timeout=240,
    )  # a real process: its provenance keeps this command line
    assert done.returncode == 0, done.stderr
    for width in (80, 60):
        code, out = cli(runs, width, "runs", "show", "dq1")
        assert code == 0, out
        lines = out.splitlines()
        assert not [line for line in lines if cell_len(line) > width], out
        record = api.get_run(api.open_store(runs), "dq1")
        best = record.best.to_json() if record.best else {}
        for key in ("val_acc", "best_epoch", "train_loss"):  # each pair on one line
            value = value_text(key, best[key])
            assert any(f"{key} {value}" in line for line in lines), (key, out)
        assert any(f"test_acc {value_text('test_acc', record.test.acc)}" in line
                   for line in lines if record.test), out  # fmt: skip
        command = [i for i, line in enumerate(lines) if line.startswith("  command: ")]
        assert len(command) == 1, out
        after = lines[command[0] + 1]
        if not after.startswith("  changes") and not after.startswith("  preset"):
            assert after.startswith(" " * 11) and after.strip(), out  # under its label
        assert "--name dq1" in out  # an option with its value
        for label in ("time: ", "system: ", "provenance: ", "folder: "):
            assert any(line.startswith(label) for line in lines), (label, out)
        # every line that is not the table, a label or a continuation is indented
        assert not [line for line in lines if line.startswith("dq1") or line == "--name dq1"]


def test_flips_refuse_a_run_compared_with_itself(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    run_id = run_with_predictions(store, "dq1")
    words = (
        "run dq1 is compared with itself: flips compare two different runs tested on the same data"
    )
    with pytest.raises(api.UserError) as err:
        api.flips(store, "dq1", run_id)  # a name and the id of one run
    assert str(err.value) == words
    before = sorted(p.name for p in store.run_dir(run_id).iterdir())
    code, out = cli(runs_dir, 80, "runs", "flips", "dq1", "dq1")
    assert code == 2 and out.strip() == f"error: {words}", out
    assert sorted(p.name for p in store.run_dir(run_id).iterdir()) == before
    run_with_predictions(store, "other")
    code, out = cli(runs_dir, 80, "runs", "flips", "dq1", "other")
    assert code == 0 and "dq1 right, other wrong: 0" in out, out


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["runs", "mistakes", "a", "--out"], "--out"),
        (["data", "preview", "digits-quick", "--out"], "--out"),
        (["presets", "show", "digits-quick", "--lr-png"], "--lr-png"),
    ],
)
def test_a_picture_not_named_png_is_refused_in_one_line(
    runs_dir: Path, tmp_path: Path, args: list[str], option: str
) -> None:
    """The pictures are PNG data: a .jpg name is refused before any work, nothing written."""
    run_with_predictions(RunStore(runs_dir), "a")
    target = tmp_path / "m.jpg"
    code, out = cli(runs_dir, 80, *args, str(target))
    assert code == 2 and out.strip() == f"error: {option}: write a .png file (got m.jpg)", out
    assert not target.exists()
    # a .png name passes the check (then an unknown run or preset is the error: no work)
    unknown = [arg if arg not in ("a", "digits-quick") else "nosuch" for arg in args]
    code, out = cli(runs_dir, 80, *unknown, str(tmp_path / "M.PNG"))
    assert code == 2 and "nosuch" in out and "write a .png file" not in out, out


def test_a_plain_class_folder_is_refused_saying_what_to_do(runs_dir: Path, tmp_path: Path) -> None:
    """cat/ dog/ straight under the folder: the one line says where the images go."""
    root = tmp_path / "myimgs"
    for name in ("cat", "dog"):
        (root / name).mkdir(parents=True)
    code, out = cli(runs_dir, 80, "data", "inspect", str(root))
    assert code == 2 and len(out.strip().splitlines()) == 1, out
    assert out.strip() == (
        f"error: data.root: '{root}' has no train/ folder: put each class's images in "
        f"{root / 'train' / 'CLASS'}/ (it holds cat/, dog/: move them into train/; val/ and "
        "test/ are optional), see README 'Your own images'."
    )
    assert sorted(p.name for p in root.iterdir()) == ["cat", "dog"]  # nothing moved or made
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out = cli(runs_dir, 80, "data", "inspect", str(empty))
    assert code == 2 and out.strip() == (
        f"error: data.root: '{empty}' has no train/ folder: put each class's images in "
        f"{empty / 'train' / 'CLASS'}/ (and optionally val/ and test/), see README 'Your own "
        "images'."
    )
    assert "### Your own images" in (Path(__file__).parents[1] / "README.md").read_text()
