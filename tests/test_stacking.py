"""Stacked ensembles (seed 000) on the embedded digits: three small, different members."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from engine.checkpoint import load_checkpoint
from engine.errors import CheckpointError, ConfigError
from engine.presets import resolve
from engine.runner import execute
from engine.stacking.fit import average_init, contributions, stack_runs
from engine.stacking.plan import STACKING_FILE, StackError, read_stacking
from engine.store import RunStore
from resnet_tui.cli import app

torch.set_num_threads(1)
runner = CliRunner()
# the members are trained once per module: keep its tests on one xdist worker
pytestmark = [pytest.mark.xdist_group("stacking"), pytest.mark.slow]

# Different models, learning rates and lengths: diverse members, one clearly weak.
MEMBERS = (
    ("strong-a", ["train.epochs=2"]),
    ("strong-b", ["model.name=resnet-small", "train.epochs=2", "train.seed=1"]),
    ("weak", ["train.epochs=1", "optim.lr=0.01", "train.ema=true"]),  # evaluated as its EMA
)


@pytest.fixture(scope="module")
def members(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    runs = tmp_path_factory.mktemp("stacking") / "runs"
    store = RunStore(runs)
    docs = []
    for name, sets in MEMBERS:
        config, preset = resolve("digits-quick", [*sets, "train.device=cpu"])
        run_id = store.create_run(config.to_dict(), name=name, preset=preset)["id"]
        docs.append(execute(store, run_id))
        assert docs[-1]["status"] == "finished"
    return runs, docs


def cli(runs: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--runs-dir", str(runs), *args])
    return result.exit_code, result.output


def test_the_ensemble_beats_its_weakest_member(
    members: tuple[Path, list[dict[str, Any]]],
) -> None:
    runs, docs = members
    code, out = cli(runs, "stack", *(d["id"] for d in docs), "--name", "ensemble")
    assert code == 0, out
    assert "stacked ensemble" in out and "each member's share" in out
    store = RunStore(runs)
    doc = next(d for d in store.list_runs() if d["name"] == "ensemble")
    assert doc["status"] == "finished" and doc["model"] == "stacked"
    assert doc["stack"]["members"] == [d["id"] for d in docs] and doc["schema"] == 2
    assert doc["params"] == 3 * 10 * 10 + 10 and doc["classes"] == [str(i) for i in range(10)]
    member_test = [d["test"]["test_acc"] for d in docs]
    ensemble_test = doc["test"]["test_acc"]
    print(f"members test acc {member_test}, ensemble {ensemble_test}")
    assert ensemble_test > min(member_test)
    assert doc["best"]["val_acc"] >= min(d["best"]["val_acc"] for d in docs)

    folder = store.run_dir(doc["id"])
    report = read_stacking(store, doc["id"])
    assert json.loads((folder / STACKING_FILE).read_text()) == report
    assert [m["id"] for m in report["members"]] == doc["stack"]["members"]
    for row, member in zip(report["members"], docs, strict=True):
        # the members' accuracy is recomputed on the same splits: it matches their own runs
        assert row["test_acc"] == pytest.approx(member["test"]["test_acc"], abs=1e-6)
        assert row["val_acc"] == pytest.approx(member["best"]["val_acc"], abs=1e-6)
    assert report["ensemble"]["test_acc"] == ensemble_test
    shares = np.array(report["per_class"])  # members x classes
    assert shares.shape == (3, 10)
    np.testing.assert_allclose(shares.sum(0), 1.0, atol=1e-6)
    per_model = [m["contribution"] for m in report["members"]]
    np.testing.assert_allclose(per_model, shares.mean(1), atol=1e-6)
    assert sum(per_model) == pytest.approx(1.0)

    epochs = [m for m in store.read_metrics(doc["id"])[0] if m.get("kind") == "epoch"]
    assert len(epochs) == doc["epoch"] and {"train_loss", "val_loss", "val_acc"} <= set(epochs[0])
    confusion = json.loads((folder / "confusion.json").read_text())
    assert confusion["classes"] == doc["classes"] and len(confusion["test"]["matrix"]) == 10
    best = load_checkpoint(folder / "best.pt")
    assert best["model"]["weight"].shape == (10, 30) and best["members"] == doc["stack"]["members"]
    assert best["best_epoch"] == doc["best"]["best_epoch"]
    assert "stacking 3 runs" in (folder / "train.log").read_text()

    # `runs best` and `runs list` show the stacked run beside its members
    code, out = cli(runs, "runs", "best", "--json")
    assert code == 0 and "ensemble" in out


def test_contributions_follow_seed_000() -> None:
    k, c = 5, 30
    torch.manual_seed(0)
    weight = torch.rand(c, k * c) + 0.01  # positive, as seed 000's trained layer
    per_model, per_class = contributions(weight, k, c)
    # seed 000, verbatim: W = fc1.weight.T.reshape(5, 30, 30); stacked_w = W[:, i, i].T
    w = weight.numpy().T.reshape(k, c, c)
    stacked_w = w[:, np.arange(c), np.arange(c)].T
    net_weights = stacked_w / stacked_w.sum(axis=1)[:, None]
    net_contrib = net_weights.sum(axis=0) / net_weights.sum()
    np.testing.assert_allclose(per_model, net_contrib, rtol=1e-5)
    np.testing.assert_allclose(np.array(per_class), net_weights.T, rtol=1e-5)
    # a class with no positive weight is shared evenly instead of dividing by zero
    weight[3, 3::c] = -1.0
    _, per_class = contributions(weight, k, c)
    assert [row[3] for row in per_class] == pytest.approx([1 / k] * k)


def test_the_layer_starts_as_the_average_of_the_members() -> None:
    layer = torch.nn.Linear(3 * 4, 4)
    average_init(layer, 3, 4)
    logits = torch.randn(6, 3, 4)  # [N, K, C]
    with torch.no_grad():
        out = layer(logits.reshape(6, 12))
    torch.testing.assert_close(out, logits.mean(1))


def _fake_member(store: RunStore, like: dict[str, Any], **changes: Any) -> str:
    """A finished run document beside the real members, with some fields changed."""
    config = json.loads(json.dumps(like["config"]))
    for key, value in changes.pop("config", {}).items():
        section, name = key.split(".")
        config[section][name] = value
    run_id = store.create_run(config, name="fake")["id"]
    store.set_status(run_id, "finished", **{"classes": like["classes"], **changes})
    return str(run_id)


def test_refusals_leave_no_run(members: tuple[Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    runs, docs = members
    store = RunStore(runs)
    a, b = docs[0]["id"], docs[1]["id"]
    queued = store.create_run(docs[0]["config"], name="queued")["id"]
    no_checkpoint = _fake_member(store, docs[0])
    other_data = _fake_member(store, docs[0], config={"data.name": "mnist"})
    other_split = _fake_member(store, docs[0], config={"data.split_seed": 3})
    other_classes = _fake_member(store, docs[0], classes=["a", "b"])
    corrupt = _fake_member(store, docs[0])
    for run_id in (other_data, other_split, other_classes, corrupt):
        (store.run_dir(run_id) / "best.pt").write_bytes(b"not a checkpoint")
    before = {d["id"] for d in store.list_runs()}

    cases = [
        ([a], "at least 2"),
        ([a, queued], "is queued, not finished"),
        ([a, no_checkpoint], "has no best.pt"),
        ([a, other_data], "data.name 'digits' vs 'mnist'"),
        ([a, other_split], "data.split_seed"),
        ([a, other_classes], "different classes"),
        ([a, "strong-a"], "given twice"),
    ]
    for refs, message in cases:
        with pytest.raises(StackError, match=message):
            stack_runs(store, refs)
        code, out = cli(runs, "stack", *refs)
        assert code == 2 and message in out and "Traceback" not in out, out
    with pytest.raises(CheckpointError, match="corrupt"):
        stack_runs(store, [a, corrupt])
    with pytest.raises(ConfigError, match="takes its model and data split from its members"):
        stack_runs(store, [a, b], sets=["model.name=resnet18"])
    with pytest.raises(ConfigError, match="--set optim.lr"):
        stack_runs(store, [a, b], sets=["optim.lr=-1"])
    assert {d["id"] for d in store.list_runs()} == before


def test_a_stacked_run_is_not_a_member(members: tuple[Path, list[dict[str, Any]]]) -> None:
    runs, docs = members
    store = RunStore(runs)
    result = stack_runs(store, [docs[0]["id"], docs[2]["id"]], sets=["train.epochs=3"])
    assert result.status == "finished" and store.get(result.run_id)["epoch"] <= 3
    with pytest.raises(StackError, match="itself a stacked ensemble"):
        stack_runs(store, [docs[1]["id"], result.run_id])
