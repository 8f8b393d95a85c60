"""The kept test predictions (predictions.npz): the file, the calibration figure checked by
hand, the mistakes and flips of the engine API and the CLI, on fixture files and on real
digits runs (those tests are slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from engine import api
from engine.calibration import BINS, calibrate
from engine.predictions import rank_indices
from engine.predictions_file import (
    PREDICTIONS_FILE,
    from_arrays,
    read_predictions,
    write_predictions,
)
from engine.presets import resolve
from engine.store import RunStore
from resnet_tui.cli import app

runner = CliRunner()
CLASSES = ("cat", "dog", "owl")


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


# ---------------------------------------------------------------- calibration, by hand


def test_ece_matches_a_hand_computation() -> None:
    """15 bins of width 1/15. By hand:
    bin 14 (0.933, 1]: 0.96 0.94 0.98, right right wrong: conf 0.96, acc 2/3 -> |2/3-0.96|*3/7
    bin 13 (0.867, 0.933]: 0.91 right: |1-0.91|*1/7
    bin 8 (0.533, 0.6]: 0.59 0.56, right wrong: conf 0.575, acc 0.5 -> |0.5-0.575|*2/7
    bin 3 (0.2, 0.267]: 0.25 wrong: |0-0.25|*1/7
    ECE = (0.88 + 0.09 + 0.15 + 0.25) / 7 = 1.37 / 7 = 0.195714..."""
    conf = [0.96, 0.94, 0.98, 0.91, 0.59, 0.56, 0.25]
    right = [True, True, False, True, True, False, False]
    cal = calibrate(conf, right)
    assert cal.ece == pytest.approx(1.37 / 7, abs=1e-12)
    assert len(cal.bins) == BINS == 15 and cal.samples == 7
    counts = {i: b.count for i, b in enumerate(cal.bins) if b.count}
    assert counts == {3: 1, 8: 2, 13: 1, 14: 3}
    top = cal.bins[14]
    assert top.confidence == pytest.approx(0.96) and top.accuracy == pytest.approx(2 / 3)
    assert cal.bins[8].confidence == pytest.approx(0.575) and cal.bins[8].accuracy == 0.5
    assert cal.bins[0].confidence is None and cal.bins[0].accuracy is None
    assert cal.bins[14].hi == 1.0 and cal.bins[0].lo == 0.0
    # perfectly calibrated: 0.75 confident, right 3 times in 4
    assert calibrate([0.75] * 4, [True, True, True, False]).ece == pytest.approx(0.0)
    # the ends of (0, 1]: 1.0 in the last bin, 0 in the first
    edges = calibrate([1.0, 0.0], [True, False])
    assert edges.bins[14].count == 1 and edges.bins[0].count == 1 and edges.ece == 0.0
    assert json.loads(json.dumps(cal.to_json()))["ece"] == pytest.approx(1.37 / 7)


# ---------------------------------------------------------------- the file


def _predictions(labels: list[int], top: list[list[int]], probs: list[list[float]]):  # type: ignore[no-untyped-def]
    return from_arrays(np.arange(len(labels)), labels, top, probs, CLASSES, epoch=2)


FIXTURE_LABELS = [0, 1, 2, 0, 1, 2]
FIXTURE_TOP = [[0, 1, 2], [0, 1, 2], [2, 0, 1], [1, 0, 2], [2, 1, 0], [0, 2, 1]]
FIXTURE_PROB = [
    [0.9, 0.05, 0.05],
    [0.6, 0.3, 0.1],  # a dog taken for a cat at 0.6
    [0.8, 0.1, 0.1],
    [0.7, 0.2, 0.1],  # a cat taken for a dog at 0.7
    [0.55, 0.25, 0.2],  # a dog taken for an owl at 0.55
    [0.95, 0.04, 0.01],  # an owl taken for a cat at 0.95
]


def test_the_file_round_trips_sorted_by_index(tmp_path: Path) -> None:
    shuffled = [3, 0, 2, 1]  # a gathered DDP pass comes in rank order
    p = from_arrays(
        shuffled, [1, 0, 2, 1], [[1, 0], [0, 1], [2, 1], [0, 1]], [[0.7, 0.3]] * 4, CLASSES
    )
    assert p.index.tolist() == [0, 1, 2, 3] and p.label.tolist() == [0, 1, 2, 1]
    assert p.pred.tolist() == [0, 0, 2, 1]
    path = tmp_path / PREDICTIONS_FILE
    write_predictions(path, p)
    back = read_predictions(path)
    assert back.classes == CLASSES and back.index.tolist() == [0, 1, 2, 3]
    assert back.pred.tolist() == [0, 0, 2, 1] and back.top5.tolist() == p.top5.tolist()
    assert (back.top5_prob == p.top5_prob).all()  # float32 on disk, as computed
    assert not [f for f in tmp_path.iterdir() if f.name != PREDICTIONS_FILE]  # no temp left
    path.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"predictions.npz cannot be read \("):
        read_predictions(path)


@pytest.mark.parametrize(("n", "batch", "world"), [(10, 4, 1), (10, 4, 3), (7, 2, 4), (5, 8, 2)])
def test_ranks_indices_cover_the_split_once(n: int, batch: int, world: int) -> None:
    parts = [rank_indices(n, batch, (r, world) if world > 1 else None) for r in range(world)]
    assert sorted(np.concatenate(parts).tolist()) == list(range(n))


# ---------------------------------------------------------------- the API on a fixture store


def _run(store: RunStore, name: str, status: str = "finished", **config_sets: str) -> str:
    sets = [f"{k}={v}" for k, v in config_sets.items()]
    config = resolve("digits-quick", ["train.epochs=1", *sets])[0].to_dict()
    run_id = str(store.create_run(config, name=name, preset="digits-quick")["id"])
    store.set_status(run_id, status, status, test={"test_loss": 1.0, "test_acc": 0.5})
    return run_id


def _with_predictions(store: RunStore, name: str, p=None) -> str:  # type: ignore[no-untyped-def]
    run_id = _run(store, name)
    p = p or _predictions(FIXTURE_LABELS, FIXTURE_TOP, FIXTURE_PROB)
    write_predictions(store.run_dir(run_id) / PREDICTIONS_FILE, p)
    return run_id


def test_mistakes_most_confident_first_and_filtered(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    _with_predictions(store, "a")
    found = api.mistakes(store, "a")
    assert [m.index for m in found] == [5, 3, 1, 4]
    assert [(m.true, m.pred) for m in found] == [
        ("owl", "cat"),
        ("cat", "dog"),
        ("dog", "cat"),
        ("dog", "owl"),
    ]
    assert found[0].confidence == pytest.approx(0.95, abs=1e-3)
    assert [name for name, _ in found[0].top5] == ["cat", "owl", "dog"]
    assert [m.index for m in api.mistakes(store, "a", true="dog")] == [1, 4]
    assert [m.index for m in api.mistakes(store, "a", pred="Cat")] == [5, 1]  # any case
    assert [m.index for m in api.mistakes(store, "a", true="dog", pred="owl")] == [4]
    with pytest.raises(api.UserError) as err:
        api.mistakes(store, "a", true="dgo")
    assert str(err.value) == (
        "true class 'dgo' is not one of run a's classes (did you mean 'dog'?): cat, dog, owl"
    )


def test_runs_without_predictions_say_why(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    old = _run(store, "old")
    _run(store, "halfway", status="stopped")
    with pytest.raises(api.UserError) as err:
        api.mistakes(store, "old")
    message = str(err.value)
    assert "run old was tested before test predictions were kept" in message
    assert str(store.run_dir(old) / "config.toml") in message
    assert (store.run_dir(old) / "config.toml").is_file()
    with pytest.raises(api.UserError) as err:
        api.flips(store, "halfway", "old")
    assert str(err.value) == (
        "run halfway is stopped and was not tested: resume it (resnet-tui train --resume "
        "halfway) and its test predictions are kept when it ends"
    )
    _run(store, "live", status="running")
    with pytest.raises(api.UserError, match="run live has not been tested yet"):
        api.mistakes(store, "live")
    assert api.read_calibration(store, "old")[0] is None
    (store.run_dir(old) / PREDICTIONS_FILE).write_bytes(b"PK\x03\x04 broken")
    unusable = "run old's kept test predictions are unusable: predictions.npz cannot be read"
    with pytest.raises(api.UserError, match=unusable):
        api.mistakes(store, "old")


def test_a_new_run_whose_file_is_missing_says_so_not_that_it_is_old(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    lost = _run(store, "lost")  # tested here (an ECE), but its file could not be written
    store.set_status(
        lost, "finished", "", test={"test_loss": 1.0, "test_acc": 0.5, "test_ece": 0.1}
    )
    log = store.run_dir(lost) / "train.log"
    with pytest.raises(api.UserError) as err:
        api.mistakes(store, "lost")
    assert str(err.value).startswith(
        f"run lost's test predictions file is missing: it could not be written or was removed "
        f"(see {log}); train it again to get them (resnet-tui train "
    )
    gathered = _run(store, "gathered")  # a new run (provenance) whose test kept no file
    store.update(gathered, provenance={"version": "0.1.0"})
    with pytest.raises(api.UserError) as err:
        api.mistakes(store, "gathered")
    assert str(err.value).startswith("run gathered's test pass kept no predictions (see ")
    assert "before test predictions were kept" not in str(err.value)


def test_flips_count_both_ways_and_refuse_another_split(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    _with_predictions(store, "a")
    # b gets 1 and 5 right (a does not), gets 0 wrong (a does not); both wrong on 3 and 4
    top_b = [row[:] for row in FIXTURE_TOP]
    top_b[0], top_b[1], top_b[5] = [1, 0, 2], [1, 0, 2], [2, 0, 1]
    _with_predictions(store, "b", _predictions(FIXTURE_LABELS, top_b, FIXTURE_PROB))
    flips = api.flips(store, "a", "b")
    assert flips.a_right_b_wrong == [0] and flips.b_right_a_wrong == [1, 5]
    assert flips.both_wrong == 2 and flips.both_right == 1
    back = api.flips(store, "b", "a")
    assert back.a_right_b_wrong == [1, 5] and back.b_right_a_wrong == [0]
    other = _predictions([0, 1, 2, 0], FIXTURE_TOP[:4], FIXTURE_PROB[:4])
    _with_predictions(store, "c", other)
    with pytest.raises(api.UserError) as err:
        api.flips(store, "a", "c")
    assert str(err.value) == (
        "runs a and c did not test the same test split (a: digits, 6 test images; c: digits, "
        "4 test images): flips compare two runs tested on the same data"
    )
    code, out = cli("--runs-dir", str(runs_dir), "runs", "flips", "a", "c")
    assert code == 2 and out.strip() == "error: " + str(err.value)


def test_cli_mistakes_table_at_80_columns_and_json(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    _with_predictions(store, "a")
    code, out = cli("--runs-dir", str(runs_dir), "runs", "mistakes", "a", "--limit", "3")
    assert code == 0, out
    assert "run a: 4 wrong test predictions, most confident first" in out
    assert "(3 of 4 shown: --limit N for more, --json for all)" in out
    assert all(len(line) <= 80 for line in out.splitlines())
    assert "95.00%" in out and "owl" in out
    code, out = cli("--runs-dir", str(runs_dir), "runs", "mistakes", "a", "--json")
    data = json.loads(out)
    assert data["count"] == 4 and [m["index"] for m in data["mistakes"]] == [5, 3, 1, 4]
    code, out = cli("--runs-dir", str(runs_dir), "runs", "mistakes", "a", "--true", "fish")
    assert code == 2 and "true class 'fish' is not one of run a's classes" in out
    code, out = cli("--runs-dir", str(runs_dir), "runs", "mistakes", "a", "--true", "owl")
    assert code == 0 and "run a: 1 wrong test prediction of class owl" in out


# ---------------------------------------------------------------- real digits runs


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two finished digits runs (2 epochs, different learning rates) trained by the CLI."""
    runs = tmp_path_factory.mktemp("predictions") / "runs"
    for name, lr in (("first", "0.1"), ("second", "0.02")):
        code, out = cli(
            "--runs-dir", str(runs), "train", "digits-quick", "--set", "train.epochs=2",
            "--set", f"optim.lr={lr}", "--name", name, "--quiet",
        )  # fmt: skip
        assert code == 0, out
    return runs


@pytest.mark.slow
def test_a_real_run_keeps_its_predictions_and_lists_its_mistakes(trained: Path) -> None:
    store = RunStore(trained)
    run_id = store.resolve("first")
    confusion = json.loads((store.run_dir(run_id) / "confusion.json").read_text())
    matrix = np.array(confusion["test"]["matrix"])
    off_diagonal = int(matrix.sum() - np.trace(matrix))
    p = api.read_predictions(store, "first")
    assert len(p) == matrix.sum() and p.index.tolist() == list(range(len(p)))
    assert p.classes == tuple(confusion["classes"]) and p.epoch == confusion["test"]["epoch"]
    rebuilt = np.zeros_like(matrix)
    np.add.at(rebuilt, (p.label, p.pred), 1)
    assert (rebuilt == matrix).all()  # the same pass as the confusion matrix
    code, out = cli("--runs-dir", str(trained), "runs", "mistakes", "first", "--json")
    assert code == 0, out
    listed = json.loads(out)["mistakes"]
    assert len(listed) == off_diagonal > 0
    assert [m["confidence"] for m in listed] == sorted(
        (m["confidence"] for m in listed), reverse=True
    )
    assert all(m["true"] != m["pred"] for m in listed)


@pytest.mark.slow
def test_a_real_runs_calibration_in_show_and_compare(trained: Path) -> None:
    store = RunStore(trained)
    p = api.read_predictions(store, "first")
    code, out = cli("--runs-dir", str(trained), "runs", "show", "first", "--json")
    assert code == 0, out
    shown = json.loads(out)
    cal = shown["calibration"]
    by_hand = calibrate(p.confidence, p.correct)
    assert cal["ece"] == pytest.approx(by_hand.ece) and len(cal["bins"]) == 15
    assert sum(b["count"] for b in cal["bins"]) == len(p)
    # the trainer's figure (stored in the record) is the file's
    assert shown["run"]["test"]["test_ece"] == pytest.approx(cal["ece"], abs=1e-6)
    code, out = cli("--runs-dir", str(trained), "runs", "show", "first")
    assert code == 0 and "test_ece" in out
    code, out = cli("--runs-dir", str(trained), "runs", "compare", "first", "second")
    assert code == 0 and "test ECE (15 bins)" in out
    code, out = cli("--runs-dir", str(trained), "runs", "diff", "first", "second")
    assert code == 0 and "test_ece" in out


@pytest.mark.slow
def test_real_flips_add_up_to_the_test_split(trained: Path) -> None:
    store = RunStore(trained)
    a, b = api.read_predictions(store, "first"), api.read_predictions(store, "second")
    flips = api.flips(store, "first", "second")
    n = len(a)
    assert (
        len(flips.a_right_b_wrong)
        + len(flips.b_right_a_wrong)
        + flips.both_wrong
        + (flips.both_right)
        == n
    )
    assert len(flips.a_right_b_wrong) - len(flips.b_right_a_wrong) == int(a.correct.sum()) - int(
        b.correct.sum()
    )
    assert all(a.correct[i] and not b.correct[i] for i in flips.a_right_b_wrong)
    code, out = cli("--runs-dir", str(trained), "runs", "flips", "first", "second", "--json")
    assert code == 0 and json.loads(out)["b_right_a_wrong"] == flips.b_right_a_wrong
    code, out = cli("--runs-dir", str(trained), "runs", "flips", "first", "second")
    assert f"first right, second wrong: {len(flips.a_right_b_wrong)}" in out


def test_the_ece_is_a_run_field_of_queries_and_exports(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    for name, ece in (("sharp", 0.012), ("vague", 0.2)):
        run_id = _run(store, name)
        store.update(run_id, test={"test_loss": 0.1, "test_acc": 0.97, "test_ece": ece})
    runs = api.list_runs(store)
    query = api.parse_query("test.ece<5%")
    assert [r.name for r in runs if query.matches(r)] == ["sharp"]
    assert {api.export_row(r)["test_ece"] for r in runs} == {0.012, 0.2}


def test_top1_is_argmax_among_tied_logits() -> None:
    import torch

    from engine.predictions import Collector

    # exact ties, as bf16 logits on CUDA often give: top-1 must be the confusion matrix's
    # argmax (the first maximal class), whatever order topk would have given
    rows = [[1.0, 3.0, 3.0, 0.0, 3.0, -1.0], [2.0] * 6, [0.0, 0.0, 0.0, 0.0, 0.5, 0.5]]
    rows += [[float(c % 3) for c in range(j, j + 6)] for j in range(6)]
    logits = torch.tensor(rows * 40, dtype=torch.bfloat16)
    collector = Collector(num_classes=6)
    collector.add(logits, torch.zeros(len(logits), dtype=torch.long))
    p = collector.finish(len(logits), len(logits), [str(c) for c in range(6)], 1, None)
    assert p is not None
    assert p.pred.tolist() == logits.argmax(1).tolist()
    assert (np.diff(p.top5_prob, axis=1) <= 0).all()  # most probable first
    softmax = logits.float().softmax(1).numpy()
    assert np.allclose(np.take_along_axis(softmax, p.top5, axis=1), p.top5_prob)
    assert p.top5[1].tolist() == [0, 1, 2, 3, 4]  # ties keep the lower class first
