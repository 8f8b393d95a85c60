"""The trainer end to end on the embedded digits: real processes, the real store."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import REPO

from engine.checkpoint import load_checkpoint
from engine.config import RunConfig
from engine.errors import CheckpointError, StoreError
from engine.events import StepDone
from engine.presets import resolve
from engine.records import EPOCH_TIMES
from engine.runner import execute
from engine.store import RunStore
from engine.store.progress import read_progress

pytestmark = pytest.mark.slow  # real training: `make test` runs it, `make test-fast` does not

torch.set_num_threads(1)

TINY = ["train.epochs=3", "data.batch_size=64"]


def _new_run(store: RunStore, sets: list[str], name: str = "") -> str:
    config, preset = resolve("digits-quick", sets)
    return str(store.create_run(config.to_dict(), name=name, preset=preset)["id"])


def _epochs(store: RunStore, run_id: str) -> list[dict[str, Any]]:
    return [m for m in store.read_metrics(run_id)[0] if m.get("kind") == "epoch"]


def test_a_run_trains_and_records_everything(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    run_id = _new_run(store, TINY)
    events: list[Any] = []
    doc = execute(store, run_id, events.append)
    assert doc["status"] == "finished"
    epochs = _epochs(store, run_id)
    assert [m["epoch"] for m in epochs] == [1, 2, 3]
    for m in epochs:
        assert {
            "train_loss",
            "train_acc",
            "val_loss",
            "val_acc",
            "lr",
            "seconds",
            "images_per_s",
        } <= set(m)
    for m in epochs:  # where the epoch's wall time went: the parts add up to it
        parts = ("data_s", "step_s", "eval_s", "store_s", "checkpoint_s", "other_s")
        assert all(m[k] >= 0 for k in parts)
        assert sum(m[k] for k in parts) == pytest.approx(m["wall_s"], abs=1e-6)
        assert m["step_s"] + m["data_s"] == pytest.approx(m["seconds"])
        assert m["eval_s"] > 0
    # epoch N's store write and checkpoint are paid before epoch N+1: counted in its line
    assert epochs[0]["checkpoint_s"] == 0 and epochs[0]["store_s"] == 0
    assert all(m["checkpoint_s"] > 0 and m["store_s"] > 0 for m in epochs[1:])
    best_epoch = int(doc["best"]["best_epoch"])
    assert doc["best"]["val_loss"] == min(m["val_loss"] for m in epochs)  # monitor: val_loss
    assert doc["best"]["val_acc"] == epochs[best_epoch - 1]["val_acc"]
    assert 0.5 < doc["test"]["test_acc"] <= 1.0  # 3 epochs already learn the digits
    assert doc["params"] > 10_000 and doc["device"] == "cpu"
    folder = store.run_dir(run_id)
    confusion = json.loads((folder / "confusion.json").read_text())
    assert confusion["classes"] == [str(i) for i in range(10)]
    test_matrix = torch.tensor(confusion["test"]["matrix"])
    assert test_matrix.shape == (10, 10)
    n_test = int(test_matrix.sum())
    assert 355 <= n_test <= 365  # 20% of 1,797 digits
    assert float(test_matrix.diag().sum()) / n_test == pytest.approx(doc["test"]["test_acc"])
    assert set(confusion["per_class_acc"]) == set(confusion["classes"])
    for name in ("best.pt", "last.pt"):
        state = load_checkpoint(folder / name)  # weights_only=True inside
        assert state["config"] == doc["config"] and state["classes"] == confusion["classes"]
    assert load_checkpoint(folder / "last.pt")["epoch"] == 3
    log = (folder / "train.log").read_text()
    assert "epoch 3/3" in log and "test_acc" in log
    # the live position: every step says how far the epoch is, by the host's clock
    steps = [e for e in events if isinstance(e, StepDone)]
    assert [e.images for e in steps[:3]] == [64, 128, 192]
    assert all(
        b.seconds >= a.seconds for a, b in zip(steps, steps[1:], strict=False) if a.epoch == b.epoch
    )
    progress = read_progress(folder)  # the last one: evaluation of the last epoch
    assert progress is not None
    assert (progress.epoch, progress.epochs, progress.phase) == (3, 3, "eval")
    assert progress.step == progress.steps == steps[-1].steps
    assert progress.images == progress.steps * 64  # drop_last: whole batches
    assert 0 < progress.epoch_seconds <= progress.run_seconds <= doc["elapsed_s"]
    assert abs(progress.time - time.time()) < 600


def test_early_stopping_keeps_the_best_epoch(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    # an lr so small nothing changes: val_acc never improves after epoch 1
    run_id = _new_run(
        store,
        [
            "train.epochs=20",
            "train.patience=2",
            "train.monitor=val_acc",
            "optim.lr=1e-12",
            "schedule.name=constant",
        ],
    )
    doc = execute(store, run_id)
    epochs = _epochs(store, run_id)
    best_epoch = int(doc["best"]["best_epoch"])
    stop = best_epoch + 2
    assert doc["status"] == "finished"
    assert f"early stopping at epoch {stop}" in doc["message"]
    assert len(epochs) == stop < 20
    assert doc["best"]["val_acc"] == max(m["val_acc"] for m in epochs)
    assert all(m["val_acc"] <= doc["best"]["val_acc"] for m in epochs[best_epoch:])


def test_a_diverging_run_stops_as_diverged(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    run_id = _new_run(
        store, ["train.epochs=5", "optim.lr=1e12", "schedule.name=constant", "optim.momentum=0.99"]
    )
    doc = execute(store, run_id)
    assert doc["status"] == "diverged"
    assert "lower optim.lr" in doc["message"]
    with pytest.raises(StoreError, match="diverged"):
        execute(store, run_id)


@pytest.mark.parametrize(
    "sets",
    [
        [
            "augment.crop_padding=2",
            "augment.hflip=true",
            "augment.rotation=10",
            "augment.cutout_holes=2",
            "augment.cutout_length=2",
            "augment.noise_std=0.2",
            "augment.randaugment_ops=2",
            "augment.label_smoothing=0.1",
        ],
        ["augment.mixup_alpha=0.4"],
        ["augment.cutmix_alpha=1.0", "augment.mix_prob=0.5"],
        ["train.ema=true", "optim.grad_clip=1.0", "optim.name=adamw", "optim.lr=0.003"],
        [
            "train.amp=bf16",
            "schedule.name=cosine-restarts",
            "schedule.per_iteration=true",
            "schedule.restart_period=5",
        ],
        ["model.name=resnet18", "augment.normalize=none", "schedule.name=plateau"],
    ],
    ids=["augment", "mixup", "cutmix", "ema-clip-adamw", "bf16-restarts", "resnet18"],
)
def test_feature_combinations_train_one_epoch(runs_dir: Path, sets: list[str]) -> None:
    store = RunStore(runs_dir)
    run_id = _new_run(store, ["train.epochs=1", "data.batch_size=128", *sets])
    doc = execute(store, run_id)
    assert doc["status"] == "finished", doc["message"]
    assert doc["test"]["test_acc"] > 0.1  # above chance after one epoch


def _train_cmd(runs_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "resnet_tui", "--runs-dir", str(runs_dir), "train", *args]


def _env() -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))


def _final(store: RunStore, run_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    drop = {*EPOCH_TIMES, "time"}
    epochs = [{k: v for k, v in m.items() if k not in drop} for m in _epochs(store, run_id)]
    doc = store.get(run_id)
    return epochs, {"best": doc["best"], "test": doc["test"], "status": doc["status"]}


def _wait_for(predicate: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


SHORT = ["--set", "train.epochs=3", "--set", "data.batch_size=16", "--set", "train.log_every=5"]


def test_kill_and_resume_equals_an_uninterrupted_run(runs_dir: Path) -> None:
    """SIGKILL mid-run, then --resume: the same metrics as a run never interrupted."""
    store = RunStore(runs_dir)
    subprocess.run(
        _train_cmd(runs_dir, "digits-quick", *SHORT, "--name", "whole", "--quiet"),
        check=True,
        env=_env(),
        capture_output=True,
    )
    whole = store.resolve("whole")
    proc = subprocess.Popen(
        _train_cmd(runs_dir, "digits-quick", *SHORT, "--name", "cut", "--quiet"), env=_env()
    )
    _wait_for(lambda: any(r["id"] for r in store.list_runs() if r["name"] == "cut"))
    cut = store.resolve("cut")
    # kill in the middle of epoch 2 (a step line of epoch 2 has been written)
    _wait_for(lambda: any(m.get("epoch") == 2 for m in store.read_metrics(cut)[0]))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert store.get(cut)["status"] == "crashed"
    resumed = subprocess.run(
        _train_cmd(runs_dir, "--resume", "cut", "--quiet"),
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert _final(store, cut) == _final(store, whole)


def test_sigterm_stops_gracefully_mid_epoch_and_resume_matches(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    subprocess.run(
        _train_cmd(runs_dir, "digits-quick", *SHORT, "--name", "whole", "--quiet"),
        check=True,
        env=_env(),
        capture_output=True,
    )
    proc = subprocess.Popen(
        _train_cmd(runs_dir, "digits-quick", *SHORT, "--name", "stopped", "--quiet"), env=_env()
    )
    _wait_for(lambda: any(r["name"] == "stopped" for r in store.list_runs()))
    run_id = store.resolve("stopped")
    _wait_for(
        lambda: any(
            m.get("kind") == "step" and m["epoch"] == 2 and m["step"] == 10
            for m in store.read_metrics(run_id)[0]
        )
    )
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    doc = store.get(run_id)
    assert doc["status"] == "stopped" and "epoch 2" in doc["message"]
    state = load_checkpoint(store.run_dir(run_id) / "last.pt")
    assert state["epoch"] == 1 and state["position"]["step"] >= 10
    first_session = doc["elapsed_s"]
    assert 0 < first_session < 120
    time.sleep(3)  # stopped for a while: the run's duration must not count it
    subprocess.run(_train_cmd(runs_dir, "--resume", run_id, "--quiet"), check=True, env=_env())
    assert _final(store, run_id) == _final(store, store.resolve("whole"))
    doc = store.get(run_id)
    assert doc["elapsed_before"] == first_session
    wall = dt.datetime.fromisoformat(doc["finished"]) - dt.datetime.fromisoformat(doc["started"])
    assert first_session < doc["elapsed_s"] < wall.total_seconds() - 2.5
    # the resumed epoch's time split counts its first session in every part and adds up
    lines = _epochs(store, run_id)
    resumed = [m for m in lines if "resumed_s" in m]
    assert [m["epoch"] for m in resumed] == [2] and resumed[0]["resumed_s"] > 0
    parts = ("data_s", "step_s", "eval_s", "store_s", "checkpoint_s", "other_s")
    for m in lines:
        assert sum(m[k] for k in parts) == pytest.approx(m["wall_s"], abs=1e-6), m
        assert m["other_s"] < 0.5 * m["wall_s"], m  # not the clamp hiding a gap


def test_resume_refuses_a_finished_run_and_falls_back_from_a_corrupt_checkpoint(
    runs_dir: Path,
) -> None:
    store = RunStore(runs_dir)
    run_id = _new_run(store, ["train.epochs=2"])
    execute(store, run_id)
    with pytest.raises(StoreError, match="already finished"):
        execute(store, run_id)
    # a crashed run whose last.pt is garbage resumes from best.pt
    store.update(run_id, status="stopped")
    folder = store.run_dir(run_id)
    (folder / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(folder / "last.pt")
    doc = execute(store, run_id)
    assert doc["status"] == "finished"
    assert "resuming from best.pt" in (folder / "train.log").read_text()


def test_checkpoint_from_another_config_is_refused(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    run_id = _new_run(store, ["train.epochs=1"])
    execute(store, run_id)
    other = RunConfig().replace({"train.epochs": 7})
    from engine.trainer import Trainer

    with pytest.raises(CheckpointError, match="different config"):
        Trainer(other).resume_from(store.run_dir(run_id) / "last.pt")


def test_evaluation_every_n_epochs_skips_val_on_the_others(runs_dir: Path) -> None:
    """train.eval_every=2 over 5 epochs: val on epochs 2, 4 and 5 (the last) only; the other
    lines have no val keys (not 0, not NaN); only evaluated epochs can be the best; patience
    counts epochs since the best, checked when val runs."""
    store = RunStore(runs_dir)
    run_id = _new_run(store, ["train.epochs=5", "data.batch_size=64", "train.eval_every=2"])
    doc = execute(store, run_id)
    assert doc["status"] == "finished", doc["message"]
    epochs = _epochs(store, run_id)
    evaluated = [m["epoch"] for m in epochs if "val_loss" in m]
    assert evaluated == [2, 4, 5]
    for m in epochs:
        has = {k for k in ("val_loss", "val_acc", "eval_s") if k in m}
        assert has == (set() if m["epoch"] in (1, 3) else {"val_loss", "val_acc", "eval_s"})
    assert doc["best"]["best_epoch"] in (2, 4, 5)
    assert doc["test"]["test_acc"] > 0.5
    # patience: an lr so small nothing improves after the first evaluation (epoch 3 of 3):
    # patience 2 stops at the first evaluation 2+ epochs after the best
    stopped = _new_run(
        store,
        [
            "train.epochs=20",
            "data.batch_size=64",
            "train.eval_every=3",
            "train.patience=2",
            "train.monitor=val_acc",
            "optim.lr=1e-12",
            "schedule.name=constant",
        ],
    )
    doc = execute(store, stopped)
    best = int(doc["best"]["best_epoch"])
    assert best % 3 == 0
    assert (
        f"early stopping at epoch {best + 3}: no improvement of val_acc for 3 epochs"
        in (doc["message"])
    )
    assert [m["epoch"] for m in _epochs(store, stopped) if "val_acc" in m] == list(
        range(3, best + 4, 3)
    )
