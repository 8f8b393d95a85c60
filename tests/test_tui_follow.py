"""The store follower: what the console reads about once a second, and only what changed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tui_fixtures import build_store

from engine import api
from engine.api.remote import EngineHelper
from engine.store import RunStore
from resnet_tui.follow import StoreFollower

LIVE = "20250314-170000-digits-live-0007"


def test_first_poll_reads_everything_then_nothing_until_a_change(tmp_path: Path) -> None:
    build_store(tmp_path / "runs")
    follower = StoreFollower(RunStore(tmp_path / "runs"))
    first = follower.poll()
    assert first.runs is not None and len(first.runs) == 8
    assert not follower.poll()  # nothing changed: no runs, no metrics, no warnings
    RunStore(tmp_path / "runs").update(LIVE, epoch=6)
    again = follower.poll()
    assert again.runs is not None
    assert next(d for d in again.runs if d.id == LIVE).epoch == 6


def test_a_big_stores_first_poll_gives_its_newest_runs_then_every_run(tmp_path: Path) -> None:
    store = build_store(tmp_path / "runs")
    every = [r.id for r in api.list_runs(store)]  # 8 runs, newest first
    follower = StoreFollower(RunStore(tmp_path / "runs"), big_store=5, first_screen=3)
    first = follower.poll()
    assert first.runs is not None and first.total == 8
    assert [r.id for r in first.runs] == every[:3]
    second = follower.poll()
    assert second.runs is not None and second.total is None
    assert [r.id for r in second.runs] == every
    assert not follower.poll()
    small = StoreFollower(RunStore(tmp_path / "runs"), big_store=8, first_screen=3)
    whole = small.poll()  # not bigger than big_store: read whole at once
    assert whole.total is None and whole.runs is not None and len(whole.runs) == 8


def test_watched_metrics_are_tailed_and_reset_on_rewrite(tmp_path: Path) -> None:
    store = build_store(tmp_path / "runs")
    follower = StoreFollower(store)
    follower.poll()
    follower.watch({LIVE})
    state = follower.poll().metrics[LIVE]
    assert [r["epoch"] for r in state.epochs] == [1, 2, 3, 4, 5]
    assert LIVE not in follower.poll().metrics  # nothing new
    store.append_metrics(LIVE, {"kind": "step", "epoch": 6, "step": 10, "loss": 0.1})
    store.append_metrics(LIVE, {"kind": "epoch", "epoch": 6, "val_acc": 0.9})
    state = follower.poll().metrics[LIVE]
    assert [r["epoch"] for r in state.epochs] == [1, 2, 3, 4, 5, 6]
    assert len(state.steps) == 1
    store.truncate_metrics(LIVE, 3)  # a resume rewrites the file
    state = follower.poll().metrics[LIVE]
    assert [r["epoch"] for r in state.epochs] == [1, 2, 3]
    follower.watch(set())
    follower.poll()
    assert follower.metrics(LIVE) is None


def test_a_dead_trainer_turns_its_run_crashed_without_an_index_change(tmp_path: Path) -> None:
    store = build_store(tmp_path / "runs")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        store.update(LIVE, pid=child.pid)
        follower = StoreFollower(store)
        runs = follower.poll().runs
        assert runs is not None
        assert next(d for d in runs if d.id == LIVE).status == "running"
        assert not follower.poll()
    finally:
        child.kill()
        child.wait()
    runs = follower.poll().runs
    assert runs is not None
    assert next(d for d in runs if d.id == LIVE).status == "crashed"


def test_warnings_are_reported_once(tmp_path: Path) -> None:
    build_store(tmp_path / "runs")
    (tmp_path / "runs" / "index.json").write_text("[]", encoding="utf-8")
    follower = StoreFollower(RunStore(tmp_path / "runs"))
    first = follower.poll()
    assert first.runs is not None and len(first.runs) == 8
    assert any("rebuilt" in w for w in first.warnings)
    assert not follower.poll().warnings


def test_one_shot_reads_never_raise(tmp_path: Path) -> None:
    store = build_store(tmp_path / "runs")
    data, problem = api.read_confusion(store, "20250312-180000-digits-quick-0001")
    assert data is not None and data.classes[0] == "0" and not problem
    data, problem = api.read_confusion(store, LIVE)
    assert data is None and "no confusion matrix yet" in problem
    (tmp_path / "runs" / LIVE / "confusion.json").write_text("{torn", encoding="utf-8")
    assert "unreadable" in api.read_confusion(store, LIVE)[1]
    assert len(api.read_metrics(store, LIVE).epochs) == 5
    assert "epoch 5/20" in api.read_log(store, LIVE)
    os.remove(tmp_path / "runs" / LIVE / "train.log")
    assert api.read_log(store, LIVE) == "(no train.log yet)"


@pytest.mark.slow
def test_the_helper_answers_the_catalog_counts_and_keyed_errors() -> None:
    helper = EngineHelper()
    try:
        catalog = helper.catalog()
        names = {m.name for m in catalog.models}
        assert {"resnet-digits", "resnet24", "baseline-cnn"} <= names
        assert {d.name for d in catalog.datasets} >= {"digits", "cifar10"}
        cifar = api.RunRequest("cifar10-resnet24-mixup")
        assert helper.model_summary(cifar, layers=False).params == 4_935_242
        bad = api.RunRequest("cifar10-resnet24-mixup", sets=("model.kernel_sizes=3,3,3",))
        try:
            helper.model_summary(bad)
        except api.ConfigError as exc:  # resnet24 has four stages
            assert exc.key and exc.key.startswith("model.")
        else:
            raise AssertionError("a resnet24 with three kernel sizes was built")
    finally:
        helper.close()
